/**
 * A one-node proof-of-stake devnet on loopback for the consensus tier: the interop validators' keys as an
 * operator holds them (EIP-2335 keystores exported from Prysm's own wallet), a genesis both layers agree on, Geth
 * behind the engine API, and private views of a host's /etc, /opt and /var in which the project's steps and CLI
 * run with the paths they have on a host. Everything listens on 127.0.0.1.
 */
import { SpawnSyncReturns, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CHAIN_ID, SLOTS_PER_EPOCH, chainConfig, operatorKeystores, writeGenesis } from "../../scripts/devnet-genesis";
import { Proc, startProc, waitFor } from "./proc";

export { SLOTS_PER_EPOCH, chainConfig, operatorKeystores };

export interface Chain {
    geth: Proc;
    rpcUrl: string;
    engineUrl: string;
    jwtFile: string;
    configFile: string;
    genesisState: string;
}

/**
 * Genesis for `validators` interop validators at `genesisTime` (both layers), and Geth serving it: JSON-RPC
 * and the engine API (behind a fresh JWT) on free loopback ports, P2P on loopback with no peers.
 */
export async function startChain(
    a: { dir: string; geth: string; prysmctl: string; validators: number; slotSeconds: number; genesisTime: number },
    ports: { http: number; engine: number; p2p: number },
): Promise<Chain> {
    const file = (name: string) => path.join(a.dir, name);
    writeGenesis({ ...a, dir: a.dir });
    execFileSync(a.geth, [`--datadir=${file("geth")}`, "init", file("genesis.json")], { stdio: "ignore" });
    fs.writeFileSync(file("jwt.hex"), crypto.randomBytes(32).toString("hex"), { mode: 0o600 });
    // --port would bind every interface; the listen address is config-file only.
    fs.writeFileSync(file("geth.toml"), `[Node.P2P]\nListenAddr = "127.0.0.1:${ports.p2p}"\nNoDiscovery = true\nMaxPeers = 0\n`);
    const geth = startProc(
        a.geth,
        [
            `--config=${file("geth.toml")}`,
            `--datadir=${file("geth")}`,
            `--networkid=${CHAIN_ID}`,
            // Every block comes from this chain's own beacon node: there is nothing to snap-sync from.
            "--syncmode=full",
            "--cache=256",
            "--ipcdisable",
            // No port mapping on the local network: this node is reachable on loopback only.
            "--nat=none",
            "--http",
            "--http.addr=127.0.0.1",
            `--http.port=${ports.http}`,
            "--authrpc.addr=127.0.0.1",
            `--authrpc.port=${ports.engine}`,
            `--authrpc.jwtsecret=${file("jwt.hex")}`,
        ],
        file("geth.log"),
    );
    return {
        geth,
        rpcUrl: `http://127.0.0.1:${ports.http}`,
        engineUrl: `http://127.0.0.1:${ports.engine}`,
        jwtFile: file("jwt.hex"),
        configFile: file("config.yaml"),
        genesisState: file("genesis.ssz"),
    };
}

/** The samples of metric `name` at a Prometheus endpoint, by their label set as written (`""` for none). */
export async function scrape(url: string, name: string): Promise<Map<string, number>> {
    const text = await (await fetch(url)).text();
    return new Map([...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => [m[1] ?? "", Number(m[2])]));
}

export const total = (samples: Map<string, number>): number => [...samples.values()].reduce((a, b) => a + b, 0);

/** What systemctl answers for a stopped unit: systemd is not PID 1 here, and the test runs the signer itself. */
const STOPPED_SYSTEMCTL = `#!/bin/sh
if [ "$1" = is-active ]; then echo inactive; exit 3; fi
`;

/**
 * A host's /etc, /opt and /var as a step sees them, in a mount namespace of its own: overlays whose writes land
 * in `dir`, so users, keystores, releases and data directories exist at their real paths there and nowhere
 * else. A held process keeps the namespace; commands enter it. Needs root, as the steps do.
 */
export class HostView {
    private constructor(
        private readonly holder: Proc,
        private readonly dir: string,
    ) {}

    static async open(dir: string): Promise<HostView> {
        if (process.getuid?.() !== 0) throw new Error("a host view needs root: a mount namespace, overlays and system users");
        fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
        fs.writeFileSync(path.join(dir, "bin", "systemctl"), STOPPED_SYSTEMCTL, { mode: 0o755 });
        // Longer than any run of the suite, and gone by itself should a run be killed.
        const holder = startProc("unshare", ["--mount", "--propagation", "private", "sleep", "1800"], path.join(dir, "holder.log"));
        // Nothing may be mounted before the holder is in its own namespace: the mounts would land on the host.
        await waitFor("the host view's mount namespace", async () => (fs.readlinkSync(`/proc/${holder.child.pid}/ns/mnt`) !== fs.readlinkSync("/proc/self/ns/mnt") ? true : undefined));
        const view = new HostView(holder, dir);
        for (const top of ["etc", "opt", "var"]) {
            const [upper, work] = [path.join(dir, top), path.join(dir, `${top}.work`)];
            fs.mkdirSync(upper);
            fs.mkdirSync(work);
            view.must("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=/${top},upperdir=${upper},workdir=${work}`, `/${top}`]);
        }
        return view;
    }

    private enter(cmd: string, args: string[]): string[] {
        return ["--target", String(this.holder.child.pid), "--mount", "--", cmd, ...args];
    }

    /** Runs a command inside the view as root, to completion. */
    run(cmd: string, args: string[], input = "", env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
        return spawnSync("nsenter", this.enter(cmd, args), {
            encoding: "utf8",
            input,
            timeout: 120000,
            env: { ...process.env, PATH: `${path.join(this.dir, "bin")}:${process.env.PATH}`, ...env },
        });
    }

    /** `run`, failing with the command's output unless it succeeds; its stdout. */
    must(cmd: string, args: string[], input = "", env: NodeJS.ProcessEnv = {}): string {
        const r = this.run(cmd, args, input, env);
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ").slice(0, 200)} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    /** Starts a long-running command inside the view as `user`, as a unit's `User=` would. */
    spawn(user: string, cmd: string, args: string[], logFile: string): Proc {
        return startProc("nsenter", this.enter("setpriv", [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", cmd, ...args]), logFile);
    }

    /** Ends the namespace once the processes spawned in it are stopped. */
    close(): Promise<void> {
        return this.holder.stop();
    }
}
