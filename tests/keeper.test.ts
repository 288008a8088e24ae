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
    /** This node's consensus head (a slot), when the node runs a consensus client. */
    clHead?: number;
    /** Validator balances (Gwei) by index at the consensus head; undefined: the Beacon API refuses them. */
    balances?: Record<string, number>;
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
/** The `id` lists the stand-in Beacon API was asked for balances, in order. */
const balanceRequests: string[] = [];
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
async function startKeeper(
    chain: Chain,
    conf: Record<string, string | number>,
    opts: { cluster?: boolean; rpc?: "refused" | string; heals?: boolean; pid?: number; consensus?: string } = {},
): Promise<Run> {
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
    const rpc = opts.rpc === "refused" ? `http://127.0.0.1:${await freePort()}` : (opts.rpc ?? `http://127.0.0.1:${el}`);
    // A consensus client's Beacon API: its head slot, as /eth/v1/node/syncing says it.
    const consensus = opts.consensus
        ? [
              `CL_API=http://127.0.0.1:${await serve((req, res) => {
                  const url = new URL(req.url!, "http://x");
                  if (url.pathname === "/eth/v1/beacon/states/head/validator_balances") {
                      balanceRequests.push(url.searchParams.get("id")!);
                      if (!chain.balances) return res.writeHead(503).end("{}");
                      const data = url.searchParams.get("id")!.split(",").filter((i) => i in chain.balances!).map((index) => ({ index, balance: String(chain.balances![index]) }));
                      return res.end(JSON.stringify({ execution_optimistic: false, finalized: false, data }));
                  }
                  return res.end(JSON.stringify({ data: { head_slot: String(chain.clHead ?? 0), is_syncing: false } }));
              })}`,
              `CONSENSUS=${opts.consensus}`,
              `CLIENTS="geth ${opts.consensus}"`,
          ]
        : ['CLIENTS="geth"'];
    fs.mkdirSync(path.join(root, "etc/ethnode"), { recursive: true });
    fs.writeFileSync(
        path.join(root, "etc/ethnode/ethnode.conf"),
        [`EL_RPC=${rpc}`, `GATEWAY_HEALTH=http://127.0.0.1:${gw}/health`, "EXECUTION=geth", ...consensus, `CLUSTER=${opts.cluster ? "true" : "false"}`].join("\n") + "\n",
    );
    if (opts.consensus) fs.writeFileSync(path.join(root, `pid-${opts.consensus}`), "1001\n");
    const settings = {
        KEEPER_INTERVAL: 1,
        KEEPER_GRACE: 0,
        KEEPER_UNRESPONSIVE: 2,
        KEEPER_STALL: 3,
        KEEPER_MAX_RESTARTS: 3,
        KEEPER_BACKOFF: 1,
        KEEPER_DRY_RUN: "false",
        KEEPER_PROBE_TIMEOUT: 1,
        KEEPER_STATE: "/var/lib/ethnode-keeper",
        KEEPER_METRICS: "/var/lib/prometheus/node-exporter/ethnode_keeper.prom",
        KEEPER_BALANCES: "/var/lib/prometheus/node-exporter/ethnode_validators.prom",
        ...conf,
    };
    fs.writeFileSync(path.join(root, "etc/ethnode/keeper.conf"), Object.entries(settings).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
    fs.writeFileSync(path.join(root, "pid-geth"), `${opts.pid ?? 1000}\n`);
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

/** The keeper's lines about geth, in order. */
const gethLines = (log: string) => log.split("\n").filter((l) => l.startsWith("ethnode-keeper: geth: "));

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

    it("says each check that it waits on a frozen client, counted from the first failed probe, and restarts it past unresponsiveSec", async () => {
        const k = await startKeeper({ mode: "hang", head: 100, peerHead: 100 }, { KEEPER_UNRESPONSIVE: 6, KEEPER_STALL: 60 }, { heals: true });
        try {
            await waitFor("a restart", async () => (k.restarts().length > 0 ? true : undefined), 40000);
            await waitFor("the healed client checked", async () => (k.log().includes("ethnode-keeper: geth: ok: head 100, unchanged") ? true : undefined), 20000);
            expect(k.log().split("\n")[0]).toBe(
                "ethnode-keeper: watching geth every 1s (probe timeout 1s, grace 0s, unresponsive 6s, stall 60s, at most 3 restarts an hour)",
            );
            const lines = gethLines(k.log());
            const acted = lines.findIndex((l) => l.includes("restarting it"));
            // Before it acts: one line a check, each a second or more later (a 1 s probe, then 1 s asleep).
            const waited = lines.slice(0, acted).map((l) => {
                const m = /^ethnode-keeper: geth: waiting: frozen (\d+) s of 6$/.exec(l);
                expect(m).not.toBeNull();
                return Number(m![1]);
            });
            expect(waited.length).toBeGreaterThanOrEqual(2);
            expect(waited[0]).toBeGreaterThanOrEqual(1);
            waited.forEach((n, i) => {
                expect(n).toBeLessThan(6);
                if (i > 0) expect(n).toBeGreaterThan(waited[i - 1]);
            });
            const after = Number(/^ethnode-keeper: geth: running \(pid 1000\) but its API has not answered for (\d+)s; restarting it \(unresponsive; restart 1 of at most 3 this hour\)$/.exec(lines[acted])![1]);
            expect(after).toBeGreaterThanOrEqual(6);
            expect(lines[acted + 1]).toBe("ethnode-keeper: geth: restarted and healthy");
            // The restarted client (a new MainPID) answers: a head, then the same head a check later.
            expect(lines[acted + 2]).toBe("ethnode-keeper: geth: ok: head 100");
            expect(lines[acted + 3]).toMatch(/^ethnode-keeper: geth: ok: head 100, unchanged \d+ s of 60$/);
            expect(k.restarts()).toEqual(["restart geth"]);
            expect(fs.readFileSync(path.join(k.root, "var/lib/ethnode-keeper/last"), "utf8")).toMatch(/^\S+Z geth: restarted and healthy\n$/);
        } finally {
            await k.stop();
        }
    });

    it("finds a client frozen with SIGSTOP (systemd still has its pid, its socket still accepts) and restarts it", async () => {
        const port = await freePort();
        const answer = JSON.stringify({ jsonrpc: "2.0", id: 1, result: "0x2a" });
        const client = spawn(process.execPath, ["-e", `require("http").createServer((q, s) => { q.resume(); q.on("end", () => s.end(${JSON.stringify(answer)})); }).listen(${port}, "127.0.0.1")`], { stdio: "ignore" });
        try {
            await waitFor("the stand-in client listening", async () => (await fetch(`http://127.0.0.1:${port}`, { method: "POST", body: "{}" })).ok || undefined);
            const k = await startKeeper({ mode: "answer", head: 0, peerHead: 0 }, { KEEPER_UNRESPONSIVE: 5, KEEPER_STALL: 60 }, { rpc: `http://127.0.0.1:${port}`, pid: client.pid });
            try {
                await waitFor("the client seen answering", async () => (k.log().includes("ethnode-keeper: geth: ok: head 42") ? true : undefined));
                process.kill(client.pid!, "SIGSTOP");
                await waitFor("a restart", async () => (k.restarts().length > 0 ? true : undefined), 30000);
                const lines = gethLines(k.log());
                const froze = lines.findIndex((l) => l.startsWith("ethnode-keeper: geth: waiting: frozen"));
                const acted = lines.findIndex((l) => l.includes("restarting it"));
                expect(froze).toBeGreaterThan(0);
                lines.slice(froze, acted).forEach((l) => expect(l).toMatch(/^ethnode-keeper: geth: waiting: frozen [1-4] s of 5$/));
                expect(lines[acted]).toMatch(new RegExp(`^ethnode-keeper: geth: running \\(pid ${client.pid}\\) but its API has not answered for ([5-9]|\\d\\d+)s; restarting it \\(unresponsive; restart 1 of at most 3 this hour\\)$`));
                expect(k.restarts()).toEqual(["restart geth"]);
            } finally {
                await k.stop();
            }
        } finally {
            client.kill("SIGKILL"); // ends it stopped or not
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

    it("restarts Geth whose head stalls while this node's consensus client (Prysm, by its role) moves on", async () => {
        const k = await startKeeper({ mode: "answer", head: 100, peerHead: 100, clHead: 5000 }, {}, { heals: true, consensus: "prysm" });
        const slots = setInterval(() => k.chain.clHead!++, 500);
        try {
            await waitFor("a restart", async () => (k.restarts().length > 0 ? true : undefined), 30000);
            expect(k.log()).toMatch(/geth: head stuck at 100 for \d+s while this node's consensus head \(slot \d+\) moved on; restarting it \(head_stalled;/);
            expect(k.log()).toMatch(/^ethnode-keeper: prysm: ok: head 50\d\d/m);
            expect(k.restarts().every((r) => r.includes("geth"))).toBe(true);
        } finally {
            clearInterval(slots);
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
            // Every later check says it in short.
            const later = gethLines(k.log()).slice(gethLines(k.log()).indexOf(said[0]) + 1);
            expect(later.length).toBeGreaterThanOrEqual(2);
            later.forEach((l) => expect(l).toMatch(/^ethnode-keeper: geth: not acting: head 100 stuck \d+ s, no other view moved$/));
            expect(metric(k.metrics(), 'ethnode_keeper_suppressed_total{client="geth",reason="network_stall"}')).toBeGreaterThanOrEqual(3);
            expect(metric(k.metrics(), 'ethnode_keeper_actions_total{client="geth",reason="head_stalled",mode="acted"}')).toBe(0);
        } finally {
            await k.stop();
        }
    });

    it("backs off between restarts, stops at the hourly cap and pages, keeping the cap across its own restart", async () => {
        const k = await startKeeper({ mode: "answer", head: 0, peerHead: 0 }, { KEEPER_MAX_RESTARTS: 2, KEEPER_BACKOFF: 5 }, { rpc: "refused" });
        try {
            await waitFor("the cap", async () => (k.log().includes("NOT restarting") ? true : undefined), 60000);
            expect(k.restarts()).toEqual(["restart geth", "restart geth"]);
            expect(k.log()).toMatch(/geth: running \(pid 1002\) but its API has not answered for \d+s; NOT restarting: 2 restarts in the last hour \(cap 2\): paging a human/);
            await waitFor("gave_up exported", async () => (metric(k.metrics(), 'ethnode_keeper_gave_up{client="geth"}') === 1 ? true : undefined));
            // Held back by the back-off before the second restart, and said so; at the cap, says so in short each check.
            expect(k.log()).toMatch(/^ethnode-keeper: geth: waiting: frozen \d+ s; backing off, next restart in \d+ s$/m);
            await waitFor("a check at the cap", async () => (/^ethnode-keeper: geth: not acting: frozen \d+ s; at the cap \(2 restarts this hour\), waiting for a human$/m.test(k.log()) ? true : undefined), 10000);
            expect(metric(k.metrics(), 'ethnode_keeper_suppressed_total{client="geth",reason="cap"}')).toBeGreaterThanOrEqual(1);
            // The second restart waited out the back-off after the first.
            const stamps = fs.readFileSync(path.join(k.root, "var/lib/ethnode-keeper/restarts-geth"), "utf8").trim().split("\n").map(Number);
            expect(stamps[1] - stamps[0]).toBeGreaterThanOrEqual(5);
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

    it("exports the watched validators' balances from the Beacon API, in batches, and drops them when it stops answering", async () => {
        // 70 indices: two requests of at most 64. Index 3 is not known to the beacon node yet: no series.
        const watched = Array.from({ length: 70 }, (_, i) => i);
        const balances = Object.fromEntries(watched.filter((i) => i !== 3).map((i) => [String(i), 32000000000 + i]));
        const k = await startKeeper({ mode: "answer", head: 100, peerHead: 100, clHead: 10, balances }, { KEEPER_WATCHED_VALIDATORS: `"${watched.join(" ")}"` }, { consensus: "prysm" });
        const file = path.join(k.root, "var/lib/prometheus/node-exporter/ethnode_validators.prom");
        try {
            const text = await waitFor("the balances file", async () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined), 10000);
            const lines = text.split("\n").filter((l) => l.startsWith("ethnode_validator_balance_gwei{"));
            expect(lines).toHaveLength(69);
            expect(lines).toContain('ethnode_validator_balance_gwei{validator_index="69"} 32000000069');
            expect(text).not.toContain('validator_index="3"');
            expect(text).toContain("# TYPE ethnode_validator_balance_gwei gauge");
            expect(balanceRequests).toContain(watched.slice(0, 64).join(","));
            expect(balanceRequests).toContain(watched.slice(64).join(","));
            // A refusal removes the file rather than leave a balance that no longer moves.
            k.chain.balances = undefined;
            await waitFor("the balances file gone", async () => (fs.existsSync(file) ? undefined : true), 10000);
        } finally {
            await k.stop();
        }
    });

    it("reads no balances where it watches none", async () => {
        const k = await startKeeper({ mode: "answer", head: 100, peerHead: 100, clHead: 10, balances: { "0": 1 } }, {}, { consensus: "prysm" });
        try {
            await waitFor("two checks", async () => ((metric(k.metrics(), 'ethnode_keeper_checks_total{client="geth"}') ?? 0) >= 2 ? true : undefined), 10000);
            expect(fs.existsSync(path.join(k.root, "var/lib/prometheus/node-exporter/ethnode_validators.prom"))).toBe(false);
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
