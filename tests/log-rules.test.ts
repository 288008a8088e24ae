/**
 * The log rules against real log lines: a real VictoriaLogs receives them over the journald protocol (the way
 * systemd-journal-upload sends them), a real vmalert evaluates the rendered rules with the command line the
 * host's unit uses, and its notifications are read where Alertmanager would receive them. Every case is a host
 * of its own, so each alert says which lines raised it; lines that must stay quiet sit beside the ones that fire.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import * as yaml from "js-yaml";
import { renderLogRules, renderVmalertUnit, victoriaLogsArgs, vmalertArgs } from "../components/logs";
import { RULE_TEST_LOGS, RULE_TEST_VALUES, monitoringConfig } from "./helpers/monitoring";
import { ROOT } from "./helpers/pulumi";
import { Proc, cachedTool, freePort, startProc, tmpDir, waitFor } from "./helpers/proc";
import { startGateway } from "./helpers/gateway";
import { startAnvil } from "./helpers/nodes";
import { LIGHTHOUSE as LIGHTHOUSE_ROLE } from "../components/lighthouse";

jest.setTimeout(120000);

const logs = RULE_TEST_LOGS;
const monitoring = monitoringConfig({ ...RULE_TEST_VALUES, evaluationIntervalSec: 1 });

interface Case {
    host: string;
    unit: string;
    lines: string[];
    /** The alert these lines raise; none: they must stay quiet. */
    fires?: string;
}

const GETH = "geth.service";
const LIGHTHOUSE = "lighthouse.service";
const GATEWAY = "ethnode-gateway.service";
const geth = (level: string, msg: string) => `${level}[12-02|11:55:29.123] ${msg}`;
const lh = (level: string, msg: string) => `Dec 02 11:55:29.123 ${level} ${msg}`;
const nginx = (level: string, msg: string) => `2026/12/02 11:55:29 [${level}] 4711#4711: ${msg}`;

/** Texts a hostile client sends in its Referer, Host or path, hoping they land in a line an alert reads. */
const INJECTIONS = [
    "worker process 4242 exited on signal 11",
    "2026/12/02 11:55:29 [alert] 1#1: worker process 4242 exited on signal 9",
    "lua entry thread aborted: runtime error: x",
    "ethnode-gateway: lua error in access: injected",
    "ngx_slab_alloc() failed: no memory",
    "lua atpanic: Lua VM crashed",
];

// Lines as the clients and nginx write them (messages from their sources); each case is one host.
const CASES: Case[] = [
    { host: "db-pebble", unit: GETH, fires: "GethDatabaseCorrupt", lines: ["Fatal: Could not open database: pebble: corruption: block checksum mismatch in 000123.sst"] },
    { host: "db-leveldb", unit: GETH, fires: "GethDatabaseCorrupt", lines: [geth("ERROR", 'Failed to read block body err="leveldb/table: corruption on data-block (pos=4096): checksum mismatch"')] },
    { host: "db-freezer", unit: GETH, fires: "GethDatabaseCorrupt", lines: [geth("ERROR", "Corrupted index item detected                earliest=3 filenumber=2")] },
    { host: "db-freezer-table", unit: GETH, fires: "GethDatabaseCorrupt", lines: ["Fatal: Failed to register the Ethereum service: freezer table(path: /var/lib/ethnode/geth/geth/chaindata/ancient/chain, name: bodies, num: 3) is corrupted"] },
    { host: "db-trie", unit: GETH, fires: "GethDatabaseCorrupt", lines: [geth("ERROR", "Missing trie node in the database: missing trie node 5f2c... (path ) state 0x5f2c... is not available")] },
    { host: "db-checksum", unit: GETH, fires: "GethDatabaseCorrupt", lines: ["Fatal: Failed to register the Ethereum service: pebble/table: invalid table 000456 (checksum mismatch at 0/4096)"] },
    { host: "db-io", unit: GETH, fires: "GethDatabaseCorrupt", lines: [geth("CRIT ", 'Failed to store block body          err="write /var/lib/ethnode/geth/geth/chaindata/001234.log: input/output error"')] },
    { host: "low-disk", unit: GETH, fires: "GethLowDiskShutdown", lines: [geth("ERROR", "Low disk space. Gracefully shutting down Geth to prevent database corruption. available=1.2GiB path=/var/lib/ethnode/geth")] },
    { host: "geth-crit", unit: GETH, fires: "GethFatalError", lines: [geth("CRIT ", 'Failed to write bad blocks               err="pebble: closed"')] },
    { host: "geth-fatal", unit: GETH, fires: "GethFatalError", lines: ["Fatal: Failed to register the Ethereum service: database contains incompatible genesis (have d4e5..., new 25a5...)"] },
    { host: "geth-panic", unit: GETH, fires: "GethFatalError", lines: ["panic: runtime error: invalid memory address or nil pointer dereference"] },
    {
        host: "cl-engine-down",
        unit: LIGHTHOUSE,
        fires: "ConsensusLostExecutionEngine",
        lines: Array.from({ length: 6 }, () => lh("ERRO", "Error during execution engine upcheck     error: HttpClient(url: http://127.0.0.1:8551/, kind: request, detail: error trying to connect: tcp connect error: Connection refused (os error 111))")),
    },
    {
        // A Geth restart (an upgrade): a few failed checks, then the engine is back. Quiet.
        host: "cl-engine-restart",
        unit: LIGHTHOUSE,
        lines: [
            ...Array.from({ length: 3 }, () => lh("ERRO", "Error during execution engine upcheck     error: HttpClient(url: http://127.0.0.1:8551/, kind: request, detail: error trying to connect)")),
            lh("INFO", "Execution engine online"),
        ],
    },
    { host: "el-no-beacon", unit: GETH, fires: "ExecutionLostConsensusClient", lines: [geth("WARN ", "Post-merge network, but no beacon client seen. Please launch one to follow the chain!")] },
    { host: "el-stale-beacon", unit: GETH, fires: "ExecutionLostConsensusClient", lines: [geth("WARN ", "Beacon client online, but no consensus updates received in a while. Please fix your beacon client to follow the chain!")] },
    { host: "jwt-refused", unit: LIGHTHOUSE, fires: "JwtRejected", lines: [lh("ERRO", "Failed jwt authorization                 error: InvalidToken")] },
    { host: "jwt-generated", unit: LIGHTHOUSE, fires: "JwtRejected", lines: [lh("WARN", "No JWT found on disk. Generating         path: /var/lib/ethnode/lighthouse/jwt.hex")] },
    { host: "jwt-401", unit: LIGHTHOUSE, fires: "JwtRejected", lines: [lh("ERRO", "Execution engine call failed             error: HttpClient(url: http://127.0.0.1:8551/, kind: status-code, detail: 401 Unauthorized)")] },
    { host: "worker-killed", unit: GATEWAY, fires: "GatewayWorkerDied", lines: [nginx("alert", "worker process 4712 exited on signal 9")] },
    { host: "worker-segv", unit: GATEWAY, fires: "GatewayWorkerDied", lines: [nginx("alert", "worker process 4713 exited on signal 11 (core dumped)")] },
    { host: "lua-panic", unit: GATEWAY, fires: "GatewayWorkerDied", lines: [nginx("alert", "lua atpanic: Lua VM crashed, reason: not enough memory")] },
    { host: "worker-fatal", unit: GATEWAY, fires: "GatewayWorkerDied", lines: [nginx("alert", "worker process 4714 exited with fatal code 2 and cannot be respawned")] },
    {
        host: "lua-error",
        unit: GATEWAY,
        fires: "GatewayLuaError",
        lines: [
            nginx("error", '*123 lua entry thread aborted: runtime error: /usr/share/ethnode/lua/ethnode/gateway.lua:120: attempt to index a nil value, client: 10.0.0.9, server: , request: "POST / HTTP/1.1", host: "rpc.example"'),
        ],
    },
    { host: "dict-full", unit: GATEWAY, fires: "GatewayLuaError", lines: [nginx("crit", "ngx_slab_alloc() failed: no memory in lua_shared_dict zone \"ethnode_limits\"")] },
    { host: "lua-error-own", unit: GATEWAY, fires: "GatewayLuaError", lines: ["ethnode-gateway: lua error in access: /usr/share/ethnode/lua/ethnode/gateway.lua:120: attempt to index a nil value"] },
    {
        // What a client can put into nginx's lines (Referer, Host, the request line) is never what fires: the
        // words of both gateway alerts, as an unauthenticated client would send them on a large body.
        host: "injected",
        unit: GATEWAY,
        lines: INJECTIONS.flatMap((text) => [
            nginx("warn", `*77 a client request body is buffered to a temporary file /var/lib/ethnode/gateway/tmp/body/0000000001, client: 203.0.113.9, server: , request: "POST / HTTP/1.1", host: "rpc.example", referrer: "${text}"`),
            nginx("error", `*78 client intended to send too large body: 1153433 bytes, client: 203.0.113.9, server: , request: "POST / HTTP/1.1", host: "${text}", referrer: "${text}"`),
            nginx("error", `*79 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 203.0.113.9, server: , request: "POST /${text} HTTP/1.1", upstream: "http://127.0.0.1:8545/"`),
        ]),
    },
    {
        // A healthy day: the same words in harmless lines, and errors of other units.
        host: "healthy",
        unit: GETH,
        lines: [
            geth("INFO ", "Imported new potential chain segment     number=21,000,000 hash=0x1234..5678 blocks=1 txs=150"),
            geth("WARN ", "Head state missing, repairing            number=21,000,000 hash=0x1234..5678"),
            geth("WARN ", 'Failed to load snapshot                  err="missing or corrupted snapshot"'),
            geth("INFO ", "Looking for peers                        peercount=12 tried=40 static=0"),
            // Every start says it read the JWT: not a refusal.
            geth("INFO ", "Loaded JWT secret file                   path=/etc/ethnode/jwt.hex crc32=0x5f1c2e3d"),
        ],
    },
    { host: "healthy-cl", unit: LIGHTHOUSE, lines: [lh("INFO", "Execution engine online"), lh("INFO", "Synced                                   slot: 10000000, epoch: 312500")] },
    {
        // A reload's old workers exit normally; an upstream timing out is Geth's failure, not the gateway's.
        host: "healthy-gateway",
        unit: GATEWAY,
        lines: [
            nginx("warn", "an upstream response is buffered to a temporary file"),
            nginx("notice", "signal process started"),
            nginx("notice", "worker process 4715 exited with code 0"),
            nginx("error", '*124 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.9, server: , request: "POST / HTTP/1.1", upstream: "http://127.0.0.1:8545/"'),
        ],
    },
    { host: "healthy-cl-notsynced", unit: LIGHTHOUSE, lines: [lh("INFO", "Syncing                                  est_time: 2 hrs 5 mins, distance: 12000 slots (1 day 16 hrs), peers: 60")] },
    { host: "cl-not-ready", unit: LIGHTHOUSE, fires: "ConsensusLostExecutionEngine", lines: Array.from({ length: 5 }, () => lh("WARN", "Not ready Bellatrix                      info: The execution endpoint is connected and configured, however it is not yet synced")) },
    { host: "other-unit", unit: "ssh.service", lines: ["error: kex_exchange_identification: Connection closed by remote host; database corrupt? worker process 1 exited on signal 9"] },
];

/**
 * The real gateway (its rendered nginx.conf and Lua, Debian's nginx) under the injection flood a hostile client
 * would send: large and mid-size bodies carrying the alerts' words in Referer, Host and path. What it wrote to
 * stderr (the journal on a host) and to error.log goes to VictoriaLogs as one host that must stay quiet.
 */
async function realGatewayUnderInjection(): Promise<Case> {
    const upstream = await startAnvil();
    const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config: { maxBodyBytes: 1048576 } });
    const statuses: number[] = [];
    let written: string[] = [];
    try {
        for (let i = 0; i < 100; i++) {
            const text = INJECTIONS[i % INJECTIONS.length];
            const size = i % 2 ? 1153433 : 22528;
            const send = () =>
                fetch(`${gw.url}/?${encodeURIComponent(text)}`, {
                    method: "POST",
                    headers: { "content-type": "application/json", referer: text, "x-injected": text },
                    body: "x".repeat(size),
                });
            // A refusal sent while the client is still writing a megabyte may reach it as a reset of its write
            // (a busy machine): the client sends again, as any client would.
            const r = await send().catch(() => send()).catch(() => send());
            await r.text();
            statuses.push(r.status);
        }
        // stderr (the journal) and error.log: all nginx and the Lua wrote.
        written = gw.errorLog().split("\n").filter(Boolean);
    } finally {
        await gw.stop().catch(() => undefined);
        await upstream.proc.stop();
    }
    // Refused (413, 400) and, once its bucket is spent, 429: the flood is charged like any refused work.
    expect(new Set(statuses)).toEqual(new Set([400, 413, 429]));
    // None of the client's text came out of the gateway.
    expect(written.filter((l) => INJECTIONS.some((t) => l.includes(t)))).toEqual([]);
    return { host: "real-gateway-injected", unit: GATEWAY, lines: written };
}

/** journald's export format, as systemd-journal-upload POSTs it. */
function exportEntry(fields: Record<string, string>): string {
    return Object.entries(fields)
        .map(([k, v]) => `${k}=${v}\n`)
        .join("") + "\n";
}

describe("log rules (tests/log-rules.test.ts): real lines through VictoriaLogs and vmalert", () => {
    let dir: string;
    let vl: Proc;
    let vmalert: Proc;
    let notifier: http.Server;
    const received: { labels: Record<string, string>; annotations: Record<string, string> }[] = [];
    let vlUrl: string;
    let vmalertUrl: string;
    let rulesFile: string;

    beforeAll(async () => {
        dir = tmpDir("logrules");
        const [vlPort, vmPort, amPort] = [await freePort(), await freePort(), await freePort()];
        vlUrl = `http://127.0.0.1:${vlPort}`;
        vmalertUrl = `http://127.0.0.1:${vmPort}`;
        // Alertmanager's alerts API as vmalert calls it; the path from vmalert to Slack is tested live in the sandbox.
        notifier = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                if (req.method === "POST" && req.url === "/api/v2/alerts") received.push(...JSON.parse(body));
                res.writeHead(200).end();
            });
        });
        await new Promise<void>((r) => notifier.listen(amPort, "127.0.0.1", r));

        CASES.push(await realGatewayUnderInjection());

        vl = startProc(cachedTool("victoria-logs", "ETHNODE_VICTORIALOGS_VERSION"), victoriaLogsArgs({ ...logs, port: vlPort }, path.join(dir, "data")), path.join(dir, "vl.log"));
        await waitFor("VictoriaLogs", async () => ((await fetch(`${vlUrl}/health`)).ok ? true : undefined));
        // Every line ten seconds old: inside each rule's window at its first evaluation (which looks 5 s back).
        const at = (Date.now() - 10000) * 1000;
        const body = CASES.flatMap((c) =>
            c.lines.map((msg, i) => exportEntry({ __REALTIME_TIMESTAMP: String(at + i), _HOSTNAME: c.host, _SYSTEMD_UNIT: c.unit, PRIORITY: "3", MESSAGE: msg })),
        ).join("");
        const res = await fetch(`${vlUrl}/insert/journald/upload`, { method: "POST", headers: { "content-type": "application/vnd.fdo.journal" }, body });
        expect(res.status).toBe(200);

        rulesFile = path.join(dir, "log-rules.yml");
        fs.writeFileSync(rulesFile, renderLogRules({ logs, monitoring, consensus: LIGHTHOUSE_ROLE }));
        vmalert = startProc(
            cachedTool("vmalert", "ETHNODE_VMALERT_VERSION"),
            vmalertArgs({
                rulesFile,
                victoriaLogs: vlUrl,
                alertmanager: `http://127.0.0.1:${amPort}`,
                listen: `127.0.0.1:${vmPort}`,
                evaluationIntervalSec: 1,
                stack: "logtest",
                network: "mainnet",
            }),
            path.join(dir, "vmalert.log"),
        );
    });

    afterAll(async () => {
        await vmalert?.stop();
        await vl?.stop();
        notifier?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("pass vmalert's own check of the rules file (the host's release check)", () => {
        const r = spawnSync(cachedTool("vmalert", "ETHNODE_VMALERT_VERSION"), ["-dryRun", "-rule.defaultRuleType=vlogs", `-rule=${rulesFile}`], { encoding: "utf8" });
        expect(r.stdout + r.stderr).not.toMatch(/error|cannot/i);
        expect(r.status).toBe(0);
    });

    it("fire exactly for the lines they are for, with host, severity and the stack's labels", async () => {
        const want = CASES.filter((c) => c.fires).map((c) => `${c.fires}@${c.host}`).sort();
        const got = await waitFor(
            "every expected log alert",
            async () => {
                const firing = [...new Set(received.filter((a) => a.labels.source === "logs").map((a) => `${a.labels.alertname}@${a.labels.host}`))].sort();
                return want.every((w) => firing.includes(w)) ? firing : undefined;
            },
            60000,
        );
        // Two more evaluations: nothing quiet fires late.
        await new Promise((r) => setTimeout(r, 2500));
        const all = [...new Set(received.map((a) => `${a.labels.alertname}@${a.labels.host}`))].sort();
        expect(all).toEqual(want);
        expect(got).toEqual(want);
        for (const a of received) {
            expect(a.labels).toMatchObject({ ethnode_stack: "logtest", network: "mainnet", source: "logs" });
            expect(["critical", "warning"]).toContain(a.labels.severity);
            expect(a.annotations.description).toContain(a.labels.host);
            expect(a.annotations.description).not.toContain("{{");
        }
        const errors = await (await fetch(`${vmalertUrl}/metrics`)).text();
        expect(errors).not.toMatch(/^vmalert_execution_errors_total(\{[^}]*\})? [1-9]/m);
    });

    it("cover every rule, and follow the alert conventions with a runbook section each", () => {
        const rules = (yaml.load(fs.readFileSync(rulesFile, "utf8")) as any).groups.flatMap((g: any) => g.rules);
        const names = rules.map((r: any) => r.alert).sort();
        expect([...new Set(CASES.filter((c) => c.fires).map((c) => c.fires))].sort()).toEqual(names);
        const runbooks = fs.readFileSync(path.join(ROOT, "docs", "runbooks.md"), "utf8");
        const anchors = new Set([...runbooks.matchAll(/^#{2,4} (\S+)\s*$/gm)].map((m) => m[1].toLowerCase()));
        for (const r of rules) {
            expect(r.annotations.runbook_url).toBe(`${RULE_TEST_VALUES.runbookBaseUrl}#${r.alert.toLowerCase()}`);
            expect(anchors.has(r.alert.toLowerCase())).toBe(true);
            expect(r.annotations.summary).not.toContain("{{");
        }
    });

    it("reach Alertmanager wherever it listens: vmalert's IP allow-list follows monitoring.bindAddress", () => {
        const unit = (bindAddress: string) => renderVmalertUnit({ logs, monitoring: monitoringConfig({ bindAddress }), stack: "s", network: "mainnet" });
        expect(unit("127.0.0.1")).toMatch(/-notifier\.url=http:\/\/127\.0\.0\.1:9093 .*\nIPAddressDeny=any\nIPAddressAllow=localhost\n/s);
        expect(unit("0.0.0.0")).toContain("IPAddressAllow=localhost\n");
        expect(unit("10.0.1.23")).toMatch(/-notifier\.url=http:\/\/10\.0\.1\.23:9093 .*\nIPAddressAllow=localhost 10\.0\.1\.23\n/s);
    });

    it("leave the consensus client's rules out where there is none (dev)", () => {
        const dev = yaml.load(renderLogRules({ logs, monitoring, consensus: undefined })) as any;
        const names = dev.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert));
        expect(names.sort()).toEqual(["GatewayLuaError", "GatewayWorkerDied", "GethDatabaseCorrupt", "GethFatalError", "GethLowDiskShutdown"]);
    });
});
