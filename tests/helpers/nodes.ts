/** Real JSON-RPC backends on loopback: the pinned geth in --dev mode (rendered flags) and anvil. */
import * as path from "path";
import { renderGethUnit } from "../../components/geth";
import { runnableGeth } from "./rendered";
import { Proc, execStartArgs, freePort, gethBinary, rpc, startProc, tmpDir, waitFor } from "./proc";
import { ROOT } from "./pulumi";

export interface Node {
    proc: Proc;
    rpcPort: number;
    wsPort: number;
    /** Prometheus metrics port (geth only; 0 for anvil). */
    metricsPort: number;
    url: string;
    dir: string;
}

export async function startGethDev(): Promise<Node> {
    const dir = tmpDir("gethdev");
    const ports = { gethHttp: await freePort(), gethWs: await freePort(), gethAuthRpc: await freePort(), gethMetrics: await freePort() };
    const unit = renderGethUnit({ network: "dev", dataDir: dir, geth: runnableGeth("dev"), jwtPath: path.join(dir, "jwt"), ports });
    require("fs").writeFileSync(path.join(dir, "jwt"), require("crypto").randomBytes(32).toString("hex"));
    const proc = startProc(gethBinary(), execStartArgs(unit), path.join(dir, "geth.log"));
    const url = `http://127.0.0.1:${ports.gethHttp}`;
    await waitFor("geth", async () => ((await rpc(url, "eth_chainId")).status === 200 ? true : undefined));
    return { proc, rpcPort: ports.gethHttp, wsPort: ports.gethWs, metricsPort: ports.gethMetrics, url, dir };
}

/** anvil's linux-amd64 package (a direct dependency: the tests run on linux-amd64). */
export function anvilBinary(): string {
    return path.join(ROOT, "node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil");
}

export async function startAnvil(blockTime?: number): Promise<Node> {
    const dir = tmpDir("anvil");
    const port = await freePort();
    const args = ["--host", "127.0.0.1", "--port", String(port), "--silent"];
    if (blockTime) args.push("--block-time", String(blockTime));
    const proc = startProc(anvilBinary(), args, path.join(dir, "anvil.log"));
    const url = `http://127.0.0.1:${port}`;
    await waitFor("anvil", async () => ((await rpc(url, "eth_chainId")).status === 200 ? true : undefined));
    return { proc, rpcPort: port, wsPort: port, metricsPort: 0, url, dir };
}
