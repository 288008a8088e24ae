/**
 * The keeper (assets/keeper/ethnode-keeper) run for real, against stand-ins it cannot tell from a node: an
 * execution client's JSON-RPC whose head the test moves (or that hangs, or refuses), the gateway's detailed
 * /health with the other nodes' heads, systemd's MainPID, and the ethnode CLI's restart. Each case: what it did
 * (the restarts the CLI saw), what it said (one log line per decision) and what it exported (ethnode_keeper_*).
 * The same keeper healing a frozen geth on the sandbox is in tests/sandbox-ha.ts.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { ROOT } from "./helpers/pulumi";
import { freePort, tmpDir, waitFor } from "./helpers/proc";

const KEEPER = path.join(ROOT, "assets", "keeper", "ethnode-keeper");
const FIXTURES = path.join(ROOT, "tests", "fixtures", "keeper");

interface Chain {
    /** What the execution client does: answer with `head`, or hang. */
    mode: "answer" | "hang";
    head: number;
    /** The other nodes' best head, as the gateway reports it. */
    peerHead: number;
}

interface Run {
    root: string;
    chain: Chain;
    proc: ChildProcess;
    log: () => string;
    restarts: () => string[];
    metrics: () => string;
    stop: () => Promise<void>;
}

const servers: http.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function serve(handler: http.RequestListener): Promise<number> {
    const port = await freePort();
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    servers.push(server);
    return port;
}

/** The keeper on the stand-in node under `root`, and all it has said so far. */
function spawnKeeper(root: string): { proc: ChildProcess; output: () => string } {
    let out = "";
    const proc = spawn("bash", [KEEPER], {
        env: { ...process.env, ETHNODE_ROOT: root, ETHNODE_SYSTEMCTL: path.join(FIXTURES, "systemctl"), ETHNODE_CLI: path.join(FIXTURES, "ethnode") },
        stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout!.on("data", (d) => (out += d));
    proc.stderr!.on("data", (d) => (out += d));
    return { proc, output: () => out };
}

/** Starts the keeper against a fresh stand-in node; `conf` overrides keeper.conf. */
async function startKeeper(chain: Chain, conf: Record<string, string | number>, opts: { cluster?: boolean; rpc?: "refused"; heals?: boolean } = {}): Promise<Run> {
    const root = tmpDir("keeper");
    const el = await serve((req, res) => {
        // A restart that heals makes the client answer again.
        if (chain.mode === "hang" && !fs.existsSync(path.join(root, "healed"))) return; // never answers
        req.resume();
        req.on("end", () => res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: `0x${chain.head.toString(16)}` })));
    });
    const gw = await serve((_req, res) =>
        res.end(JSON.stringify({ backends: [{ name: "node-0", local: true, state: "ok", head: chain.head }, { name: "node-1", local: false, state: "ok", head: chain.peerHead }] })),
    );
    const rpc = opts.rpc === "refused" ? `http://127.0.0.1:${await freePort()}` : `http://127.0.0.1:${el}`;
    fs.mkdirSync(path.join(root, "etc/ethnode"), { recursive: true });
    fs.writeFileSync(
        path.join(root, "etc/ethnode/ethnode.conf"),
        [`EL_RPC=${rpc}`, `GATEWAY_HEALTH=http://127.0.0.1:${gw}/health`, 'CLIENTS="geth"', `CLUSTER=${opts.cluster ? "true" : "false"}`].join("\n") + "\n",
    );
    const settings = {
        KEEPER_INTERVAL: 1,
        KEEPER_GRACE: 0,
        KEEPER_UNRESPONSIVE: 2,
        KEEPER_STALL: 3,
        KEEPER_MAX_RESTARTS: 3,
        KEEPER_BACKOFF: 1,
        KEEPER_DRY_RUN: "false",
        KEEPER_STATE: "/var/lib/ethnode-keeper",
        KEEPER_METRICS: "/var/lib/prometheus/node-exporter/ethnode_keeper.prom",
        ...conf,
    };
    fs.writeFileSync(path.join(root, "etc/ethnode/keeper.conf"), Object.entries(settings).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
    fs.writeFileSync(path.join(root, "pid-geth"), "1000\n");
    if (opts.heals) fs.writeFileSync(path.join(root, "heals"), "");
    const { proc, output } = spawnKeeper(root);
    const file = (rel: string) => path.join(root, rel);
    return {
        root,
        chain,
        proc,
        log: output,
        restarts: () => (fs.existsSync(file("restarts.log")) ? fs.readFileSync(file("restarts.log"), "utf8").trim().split("\n") : []),
        metrics: () => (fs.existsSync(file(settings.KEEPER_METRICS as string)) ? fs.readFileSync(file(settings.KEEPER_METRICS as string), "utf8") : ""),
        stop: async () => {
            proc.kill("SIGTERM");
            await new Promise((r) => proc.once("exit", r));
        },
    };
}

const metric = (text: string, series: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.split(" ")[1]);
};

describe("the keeper", () => {
    it("restarts a running client whose API hangs, once the grace period is over, and the restart heals it", async () => {
        const k = await startKeeper({ mode: "hang", head: 100, peerHead: 100 }, { KEEPER_GRACE: 3 }, { heals: true });
        try {
            await waitFor("a restart", async () => (k.restarts().length > 0 ? true : undefined), 40000);
            expect(k.log()).toMatch(/ethnode-keeper: geth: running \(pid 1000\) but its API has not answered for \d+s; restarting it \(unresponsive; restart 1 of at most 3 this hour\)/);
            // Healed: it answers and its head moves; no second restart.
            const healed = setInterval(() => k.chain.head++, 500);
            await new Promise((r) => setTimeout(r, 6000));
            clearInterval(healed);
            expect(k.restarts()).toEqual(["restart geth"]);
            expect(metric(k.metrics(), 'ethnode_keeper_actions_total{client="geth",reason="unresponsive",mode="acted"}')).toBe(1);
            expect(metric(k.metrics(), 'ethnode_keeper_gave_up{client="geth"}')).toBe(0);
        } finally {
            await k.stop();
        }
    });

    it("restarts a client whose head stalls while another node's moves on", async () => {
        const k = await startKeeper({ mode: "answer", head: 100, peerHead: 100 }, {}, { cluster: true, heals: true });
        const peers = setInterval(() => k.chain.peerHead++, 500);
        try {
            await waitFor("a restart", async () => (k.restarts().length > 0 ? true : undefined), 30000);
            expect(k.log()).toMatch(/geth: head stuck at 100 for \d+s while another node's head \(now \d+\) moved on; restarting it \(head_stalled;/);
            await waitFor("the restart exported", async () => (metric(k.metrics(), 'ethnode_keeper_actions_total{client="geth",reason="head_stalled",mode="acted"}') === 1 ? true : undefined));
        } finally {
            clearInterval(peers);
            await k.stop();
        }
    });

    it("does nothing when every node's head stalls (a network-wide stall), and says why once", async () => {
        const k = await startKeeper({ mode: "answer", head: 100, peerHead: 100 }, {}, { cluster: true });
        try {
            await waitFor("the stall reported", async () => (k.log().includes("network-wide stall") ? true : undefined), 30000);
            await new Promise((r) => setTimeout(r, 5000));
            expect(k.restarts()).toEqual([]);
            const said = k.log().split("\n").filter((l) => l.includes("network-wide stall"));
            expect(said).toHaveLength(1);
            expect(said[0]).toMatch(/^ethnode-keeper: geth: head stuck at 100 for \d+s, and no other view of the chain moved either: a network-wide stall, not a local fault; not acting$/);
            expect(metric(k.metrics(), 'ethnode_keeper_suppressed_total{client="geth",reason="network_stall"}')).toBeGreaterThanOrEqual(3);
            expect(metric(k.metrics(), 'ethnode_keeper_actions_total{client="geth",reason="head_stalled",mode="acted"}')).toBe(0);
        } finally {
            await k.stop();
        }
    });

    it("backs off between restarts, stops at the hourly cap and pages, keeping the cap across its own restart", async () => {
        const k = await startKeeper({ mode: "answer", head: 0, peerHead: 0 }, { KEEPER_MAX_RESTARTS: 2 }, { rpc: "refused" });
        try {
            await waitFor("the cap", async () => (k.log().includes("NOT restarting") ? true : undefined), 60000);
            expect(k.restarts()).toEqual(["restart geth", "restart geth"]);
            expect(k.log()).toMatch(/geth: running \(pid 1002\) but its API has not answered for \d+s; NOT restarting: 2 restarts in the last hour \(cap 2\): paging a human/);
            await waitFor("gave_up exported", async () => (metric(k.metrics(), 'ethnode_keeper_gave_up{client="geth"}') === 1 ? true : undefined));
            expect(metric(k.metrics(), 'ethnode_keeper_suppressed_total{client="geth",reason="cap"}')).toBeGreaterThanOrEqual(1);
            // The second restart waited out the back-off after the first.
            const stamps = fs.readFileSync(path.join(k.root, "var/lib/ethnode-keeper/restarts-geth"), "utf8").trim().split("\n").map(Number);
            expect(stamps[1] - stamps[0]).toBeGreaterThanOrEqual(1);
        } finally {
            await k.stop();
        }
        // A restarted keeper remembers this hour's restarts.
        const again = spawnKeeper(k.root);
        try {
            await waitFor("the cap again", async () => (again.output().includes("NOT restarting: 2 restarts in the last hour") ? true : undefined), 30000);
            expect(k.restarts()).toHaveLength(2);
        } finally {
            again.proc.kill("SIGTERM");
            await new Promise((r) => again.proc.once("exit", r));
        }
    });

    it("in a dry run says what it would do and restarts nothing", async () => {
        const k = await startKeeper({ mode: "answer", head: 0, peerHead: 0 }, { KEEPER_DRY_RUN: "true" }, { rpc: "refused" });
        try {
            await waitFor("a decision", async () => (k.log().includes("would restart") ? true : undefined), 30000);
            expect(k.log()).toMatch(/geth: running \(pid 1000\) but its API has not answered for \d+s; would restart it \(unresponsive\), but this is a dry run/);
            expect(k.restarts()).toEqual([]);
            // The decision is logged before the loop writes its metrics file: wait for the file that counts it.
            const counted = await waitFor("the dry-run decision exported", async () => {
                const n = metric(k.metrics(), 'ethnode_keeper_actions_total{client="geth",reason="unresponsive",mode="dry_run"}');
                return n !== undefined && n >= 1 ? k.metrics() : undefined;
            });
            expect(metric(counted, "ethnode_keeper_dry_run")).toBe(1);
        } finally {
            await k.stop();
        }
    });

    it("leaves a stopped client to systemd, and a client in its grace period alone", async () => {
        const k = await startKeeper({ mode: "answer", head: 0, peerHead: 0 }, { KEEPER_GRACE: 60 }, { rpc: "refused" });
        try {
            await new Promise((r) => setTimeout(r, 5000));
            fs.writeFileSync(path.join(k.root, "pid-geth"), "0\n");
            await new Promise((r) => setTimeout(r, 3000));
            expect(k.restarts()).toEqual([]);
            expect(metric(k.metrics(), 'ethnode_keeper_checks_total{client="geth"}')).toBeGreaterThanOrEqual(5);
        } finally {
            await k.stop();
        }
    });
});
