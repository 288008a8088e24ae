/**
 * The rendered Geth unit and JWT really work: the real pinned geth, started with exactly the flags the unit
 * carries (ports moved to free loopback ones), serves JSON-RPC, exposes metrics, and guards the engine API
 * with the JWT — accepting a token signed with the deployed secret and rejecting any other.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { renderGethUnit } from "../components/geth";
import { bundle } from "../components/remote";
import { ASSETS_DIR } from "../components/render";
import { runnableGeth } from "./helpers/rendered";
import { Proc, execStartArgs, freePort, gethBinary, rpc, startProc, tmpDir, waitFor } from "./helpers/proc";

import { execFileSync } from "child_process";

function b64url(data: Buffer | string): string {
    return Buffer.from(data).toString("base64url");
}

/** An engine-API token: HS256 over {iat}, keyed by the raw 32 bytes of the hex secret. */
function engineJwt(secretHex: string, iat = Math.floor(Date.now() / 1000)): string {
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64url(JSON.stringify({ iat }));
    const sig = crypto.createHmac("sha256", Buffer.from(secretHex, "hex")).update(`${head}.${body}`).digest();
    return `${head}.${body}.${b64url(sig)}`;
}

type GethPorts = { gethHttp: number; gethWs: number; gethAuthRpc: number; gethMetrics: number; gethP2p: number };

/** Free ports, the JWT file written from the same bundle the host unpacks, and the unit rendered for them. */
async function gethFixture(dir: string, network: "dev" | "mainnet", secret: string) {
    const ports: GethPorts = { gethHttp: await freePort(), gethWs: await freePort(), gethAuthRpc: await freePort(), gethMetrics: await freePort(), gethP2p: await freePort() };
    const jwtPath = path.join(dir, "jwt.hex");
    const input = bundle([{ path: jwtPath, content: secret, mode: "0640", owner: "root", group: "root" }]);
    execFileSync("bash", ["-c", `source ${path.join(ASSETS_DIR, "scripts", "prelude.sh")}; unpack_files`], { input });
    const unit = renderGethUnit({ network, dataDir: dir, geth: runnableGeth(network), jwtPath, ports });
    return { ports, jwtPath, unit };
}

/**
 * Waits for a started geth to answer `url` with `status`; a geth that exited says why (its log's last lines).
 * A minute: on a busy CI machine (the sandbox's guests booting beside it) a first start takes longer.
 */
async function gethAnswers(geth: Proc, what: string, url: string, status: number): Promise<void> {
    await waitFor(
        what,
        async () => {
            if (geth.child.exitCode !== null || geth.child.signalCode !== null) {
                throw new Error(`geth exited (${geth.child.exitCode ?? geth.child.signalCode}): ${geth.log().split("\n").slice(-15).join("\n")}`);
            }
            return (await rpc(url, "eth_chainId")).status === status ? true : undefined;
        },
        60000,
    );
}

describe("rendered geth unit against the real geth --dev", () => {
    let dir: string;
    let geth: Proc;
    let ports: GethPorts;
    const secret = crypto.randomBytes(32).toString("hex");

    beforeAll(async () => {
        dir = tmpDir("geth");
        const f = await gethFixture(dir, "dev", secret);
        ports = f.ports;
        const unit = f.unit;
        geth = startProc(gethBinary(), execStartArgs(unit), path.join(dir, "geth.log"));
        await gethAnswers(geth, "geth rpc", `http://127.0.0.1:${ports.gethHttp}`, 200);
    }, 120000);

    afterAll(async () => {
        await geth?.stop("SIGINT");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("answers eth_chainId on the loopback RPC port", async () => {
        const r = await rpc(`http://127.0.0.1:${ports.gethHttp}`, "eth_chainId");
        expect(r.body.result).toBe("0x539"); // 1337, geth's dev chain
    });

    it("refuses engine and admin methods on the public RPC", async () => {
        for (const m of ["engine_exchangeCapabilities", "admin_nodeInfo", "debug_chaindbProperty", "personal_listAccounts"]) {
            const r = await rpc(`http://127.0.0.1:${ports.gethHttp}`, m, [[]]);
            expect(r.body.error?.code).toBe(-32601);
        }
    });

    it("serves the metrics the alert rules use", async () => {
        const res = await fetch(`http://127.0.0.1:${ports.gethMetrics}/debug/metrics/prometheus`);
        const text = await res.text();
        for (const name of ["chain_head_block", "p2p_peers", "txpool_pending", "txpool_queued"]) {
            expect(text).toMatch(new RegExp(`^${name} `, "m"));
        }
    });

    it("advances its head (dev.period=1)", async () => {
        const url = `http://127.0.0.1:${ports.gethHttp}`;
        const first = parseInt((await rpc(url, "eth_blockNumber")).body.result, 16);
        await waitFor("next block", async () => (parseInt((await rpc(url, "eth_blockNumber")).body.result, 16) > first ? true : undefined), 10000);
    });
});

/**
 * `geth --dev` drives itself and serves no engine API, so the engine API is proven on a mainnet-rendered unit
 * whose network flags are swapped for a private chain (dev genesis, no discovery, no peers, no NAT probing):
 * every other flag, the authrpc and JWT ones included, is the unit's own.
 */
describe("rendered mainnet geth unit: JWT-guarded engine API", () => {
    let dir: string;
    let geth: Proc;
    let ports: GethPorts;
    const secret = crypto.randomBytes(32).toString("hex");

    beforeAll(async () => {
        dir = tmpDir("geth-engine");
        const f = await gethFixture(dir, "mainnet", secret);
        ports = f.ports;
        const { jwtPath, unit } = f;
        const args = execStartArgs(unit);
        expect(args).toContain(`--authrpc.jwtsecret=${jwtPath}`);
        const privateChain = args
            .filter((a) => a !== "--mainnet" && !a.startsWith("--maxpeers=") && !a.startsWith("--syncmode="))
            .concat(["--networkid=1337", "--nodiscover", "--maxpeers=0", "--nat=none"]);
        const bin = gethBinary();
        const genesis = execFileSync(bin, ["--dev", "dumpgenesis"], { stdio: ["ignore", "pipe", "ignore"] });
        fs.writeFileSync(path.join(dir, "genesis.json"), genesis);
        execFileSync(bin, ["init", `--datadir=${dir}/geth`, path.join(dir, "genesis.json")], { stdio: "ignore" });
        geth = startProc(bin, privateChain, path.join(dir, "geth.log"));
        await gethAnswers(geth, "geth authrpc", `http://127.0.0.1:${ports.gethAuthRpc}`, 401);
    }, 120000);

    afterAll(async () => {
        await geth?.stop("SIGINT");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("accepts an engine API call signed with the rendered JWT", async () => {
        const r = await rpc(`http://127.0.0.1:${ports.gethAuthRpc}`, "engine_exchangeCapabilities", [["engine_newPayloadV4"]], {
            authorization: `Bearer ${engineJwt(secret)}`,
        });
        expect(r.status).toBe(200);
        expect(Array.isArray(r.body.result)).toBe(true);
    });

    it("rejects an engine API call signed with a wrong secret, or unsigned (401)", async () => {
        const wrong = await rpc(`http://127.0.0.1:${ports.gethAuthRpc}`, "engine_exchangeCapabilities", [[]], {
            authorization: `Bearer ${engineJwt(crypto.randomBytes(32).toString("hex"))}`,
        });
        expect(wrong.status).toBe(401);
        const none = await rpc(`http://127.0.0.1:${ports.gethAuthRpc}`, "engine_exchangeCapabilities", [[]]);
        expect(none.status).toBe(401);
        const stale = await rpc(`http://127.0.0.1:${ports.gethAuthRpc}`, "engine_exchangeCapabilities", [[]], {
            authorization: `Bearer ${engineJwt(secret, Math.floor(Date.now() / 1000) - 3600)}`,
        });
        expect(stale.status).toBe(401);
    });
});
