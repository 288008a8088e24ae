/**
 * Benchmark (not a test): wrk on loopback, side by side against one static upstream (nginx + a Lua responder
 * that answers every call with its own id: scripts/bench-upstream.lua), through
 *   (a) plain nginx proxy_pass,
 *   (b) the rendered gateway with its full pipeline (parse, policy, limiter, health checks, metrics; stack
 *       defaults) and limits too high to trigger,
 *   (c) the plain proxy with the lua module loaded and empty access and log phases — the price of running any
 *       Lua per request, which no gateway built on lua-nginx-module (OpenResty's included) can go below.
 * Every proxy gets one core's worth: one nginx worker. Three scenarios — single calls (eth_getBalance) at 32
 * connections, batches of 10 at 32, single calls at 256 — each printed as one table: req/s and its ratio to
 * plain nginx (the gateway's is the headline), p50/p99, and the CPU time the proxy's processes spent per request
 * (user + system, /proc). The sides alternate for BENCH_ROUNDS rounds and the medians are compared, so noise on
 * a small shared machine hits all alike.
 * Then: WebSocket frames through the gateway (every message judged) beside plain nginx's pass-through, CPU per
 * frame; a junk flood from another address against a well-behaved client (its p99 idle and under the flood,
 * the flooder's answers, the workers' memory); last, user-space instructions per request under callgrind: the
 * figure that does not move between runs (BENCH_INSTRUCTIONS=0 skips it; BENCH_THROUGHPUT=0 runs only it;
 * BENCH_PARTS=http,ws,flood,instructions picks parts; BENCH_PROFILE_DIR=<dir> keeps the profiles for
 * callgrind_annotate).
 * Run: npm run bench:gateway  (BENCH_SECONDS, BENCH_ROUNDS to change the load).
 */
import { execFileSync, spawn, spawnSync, ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import WebSocket from "ws";
import { gatewaySection } from "../components/config";
import { LUA_DIR, NGINX_SOURCES, releaseFiles } from "../components/gateway";
import { writeTree } from "../tests/helpers/gateway";
import { parseSection } from "../components/schema";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ADDRESS = "0x00000000000000000000000000000000000000aa";
const call = (id: number) => `{"jsonrpc":"2.0","id":${id},"method":"eth_getBalance","params":["${ADDRESS}","latest"]}`;
const SINGLE = call(1);
const BATCH = `[${Array.from({ length: 10 }, (_, i) => call(i + 1)).join(",")}]`;

const SCENARIOS = [
    { title: "single calls, c=32", connections: 32, body: SINGLE },
    { title: "batches of 10, c=32", connections: 32, body: BATCH },
    { title: "single calls, c=256", connections: 256, body: SINGLE },
];

function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
    });
}

function prefixDir(name: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ethnode-bench-${name}-`));
    fs.chmodSync(dir, 0o755);
    for (const d of ["logs", "run", "tmp"]) fs.mkdirSync(path.join(dir, d), { mode: 0o777 });
    fs.chmodSync(path.join(dir, "tmp"), 0o777);
    return dir;
}

const LUA_MODULES = NGINX_SOURCES.debian.loadModules.map((m) => `load_module ${m};\n`).join("");

function confHead(prefix: string, workers: number, lua: boolean): string {
    return `${lua ? LUA_MODULES : ""}worker_processes ${workers};
pid ${prefix}/run/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log ${prefix}/logs/access.log combined buffer=64k flush=1s;
    client_body_temp_path ${prefix}/tmp/body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
`;
}

/** The static upstream: answers JSON-RPC over HTTP and WebSocket with scripts/bench-upstream.lua. */
function upstreamConf(prefix: string, port: number): string {
    return `${confHead(prefix, 1, true)}    lua_package_path "${LUA_DIR}/?.lua;;";
    server {
        listen 127.0.0.1:${port};
        access_log off;
        client_body_buffer_size 64k;
        location / {
            content_by_lua_file ${path.join(fs.realpathSync(LUA_DIR), "..", "scripts", "bench-upstream.lua")};
        }
    }
}
`;
}

/**
 * (a) the plain proxy — or (c) with `emptyLua`, the same proxy running empty Lua access and log phases. /ws is
 * plain nginx's WebSocket pass-through.
 */
function plainConf(prefix: string, listen: number, upstream: number, workers: number, emptyLua = false): string {
    const phases = emptyLua ? "\n            access_by_lua_block { }\n            log_by_lua_block { }" : "";
    return `${confHead(prefix, workers, emptyLua)}    upstream rpc { server 127.0.0.1:${upstream}; keepalive 64; }
    server {
        listen 127.0.0.1:${listen};
        location / {
            proxy_pass http://rpc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";${phases}
        }
        location = /ws {
            proxy_pass http://rpc;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
}
`;
}

/** `cmd args` on the given CPUs (taskset), or anywhere when none are given. */
function onCpus(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
    return cpus ? ["taskset", ["-c", cpus, cmd, ...args]] : [cmd, args];
}

function startNginx(prefix: string, conf: string, cpus?: string): ChildProcess {
    const file = path.join(prefix, "nginx.conf");
    fs.writeFileSync(file, conf);
    execFileSync("nginx", ["-t", "-q", "-p", prefix, "-c", file]);
    return spawn(...onCpus(cpus, "nginx", ["-p", prefix, "-c", file, "-g", "daemon off;"]), { stdio: "inherit" });
}

async function waitUp(url: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
        try {
            const r = await fetch(url, { method: "POST", body: SINGLE, headers: { "content-type": "application/json" } });
            if (r.status === 200 && ((await r.json()) as { result?: string }).result === "0x0") return;
        } catch {
            /* not yet */
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} did not come up`);
}

interface Result {
    requests: number;
    rps: number;
    p50: number;
    p99: number;
    non2xx: number;
}

function toMs(v: string): number {
    const m = v.match(/^([\d.]+)(us|ms|s)$/);
    if (!m) throw new Error(`bad latency ${v}`);
    return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
}

/** A wrk script posting `body` (with extra headers). */
function wrkScript(dir: string, name: string, body: string, headers: Record<string, string> = {}): string {
    const file = path.join(dir, `${name}.lua`);
    const extra = Object.entries(headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"\n`).join("");
    fs.writeFileSync(file, `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n${extra}`);
    return file;
}

function wrkArgs(url: string, script: string, load: { connections: number; seconds: number }): string[] {
    return ["-t1", `-c${load.connections}`, `-d${load.seconds}s`, "--latency", "-s", script, url];
}

function parseWrk(out: string): Result {
    const requests = Number(out.match(/(\d+) requests in/)![1]);
    const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)![1]);
    const p50 = toMs(out.match(/^\s+50%\s+(\S+)/m)![1]);
    const p99 = toMs(out.match(/^\s+99%\s+(\S+)/m)![1]);
    const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    return { requests, rps, p50, p99, non2xx };
}

/** One wrk run (on the given CPUs). */
function wrk(url: string, script: string, load: { connections: number; seconds: number }, cpus?: string): Result {
    return parseWrk(execFileSync(...onCpus(cpus, "wrk", wrkArgs(url, script, load)), { encoding: "utf8" }));
}

/** The middle value (the upper one of the two middles for an even count). */
function mid(xs: number[]): number {
    return [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
}

function median(rs: Result[]): Result {
    return {
        rps: mid(rs.map((r) => r.rps)),
        p50: mid(rs.map((r) => r.p50)),
        p99: mid(rs.map((r) => r.p99)),
        requests: rs.reduce((n, r) => n + r.requests, 0),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    };
}

type Side = "plain" | "gateway" | "lua";
/** The order the results are printed in: the two the targets compare, then the floor. */
const SIDES: Side[] = ["plain", "gateway", "lua"];
const LABELS: Record<Side, string> = {
    plain: "(a) plain nginx proxy_pass",
    gateway: "(b) ethnode gateway",
    lua: "(c) empty Lua phases",
};

interface Proxy {
    url: string;
    /** nginx's master: its workers' CPU is counted. */
    pid: number;
}

interface Setup {
    proxies: Record<Side, Proxy>;
    dir: string;
    gatewayPrefix: string;
    plainPrefix: string;
    luaPrefix: string;
    stop: () => Promise<void>;
}

const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** User and system CPU time (µs) of an nginx master's workers, from /proc. */
function cpuOf(p: Proxy): { user: number; sys: number } {
    let user = 0;
    let sys = 0;
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        let stat: string;
        try {
            stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        } catch {
            continue; // gone meanwhile
        }
        // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(f[1]) !== p.pid) continue;
        user += Number(f[11]) * TICK_US;
        sys += Number(f[12]) * TICK_US;
    }
    return { user, sys };
}

/** Runs `load` and reports the CPU the proxy spent per unit of work it returns. */
async function withCpu<T extends { count: number }>(p: Proxy, load: () => Promise<T> | T): Promise<T & { userUs: number; sysUs: number }> {
    const before = cpuOf(p);
    const r = await load();
    const after = cpuOf(p);
    return { ...r, userUs: (after.user - before.user) / r.count, sysUs: (after.sys - before.sys) / r.count };
}

/** Starts the static upstream and every proxy, each with `workers` nginx workers; waits until all answer. */
async function setUp(workers: number): Promise<Setup> {
    const dir = prefixDir("run");
    const prefixes = { plain: prefixDir("plain"), lua: prefixDir("lua"), upstream: prefixDir("upstream"), gateway: prefixDir("gateway") };
    const ports = {
        plain: await freePort(), lua: await freePort(), upstream: await freePort(), gateway: await freePort(),
        metrics: await freePort(),
    };
    const procs: ChildProcess[] = [];
    const stop = async () => {
        for (const p of procs) p.kill("SIGQUIT");
        await new Promise((r) => setTimeout(r, 500));
        for (const d of [dir, ...Object.values(prefixes)]) fs.rmSync(d, { recursive: true, force: true });
    };
    try {
        // The upstream runs in its own nginx, so every proxy crosses a process boundary to reach it.
        procs.push(startNginx(prefixes.upstream, upstreamConf(prefixes.upstream, ports.upstream)));
        const plain = startNginx(prefixes.plain, plainConf(prefixes.plain, ports.plain, ports.upstream, workers));
        const lua = startNginx(prefixes.lua, plainConf(prefixes.lua, ports.lua, ports.upstream, workers, true));
        procs.push(plain, lua);
        const releaseDir = path.join(prefixes.gateway, "release");
        const keysFile = path.join(prefixes.gateway, "keys.json");
        fs.writeFileSync(keysFile, "{}");
        // Stack defaults except the limits, set too high to trigger.
        const gateway = parseSection(
            "bench",
            gatewaySection,
            {
                source: "debian", workers, port: ports.gateway, metricsPort: ports.metrics,
                ipRate: 1000000, ipBurst: 1000000, maxConnsPerIp: 65535, wsMaxConnsPerIp: 10000,
            },
            { network: "dev", nodes: 1 },
        );
        const files = releaseFiles({
            gateway,
            backends: [{ name: "static", host: "127.0.0.1", port: ports.upstream }],
            wsUpstream: { host: "127.0.0.1", port: ports.upstream },
            prefix: prefixes.gateway,
            releaseDir,
            keysFile,
            listenHost: "127.0.0.1",
            exporters: { node: "127.0.0.1:9", clients: [] },
        });
        writeTree(releaseDir, files);
        const gw = startNginx(prefixes.gateway, files["nginx.conf"]);
        procs.push(gw);
        const proxies: Record<Side, Proxy> = {
            plain: { url: `http://127.0.0.1:${ports.plain}/`, pid: plain.pid! },
            gateway: { url: `http://127.0.0.1:${ports.gateway}/`, pid: gw.pid! },
            lua: { url: `http://127.0.0.1:${ports.lua}/`, pid: lua.pid! },
        };
        for (const side of SIDES) await waitUp(proxies[side].url);
        return { proxies, dir, gatewayPrefix: prefixes.gateway, plainPrefix: prefixes.plain, luaPrefix: prefixes.lua, stop };
    } catch (e) {
        await stop();
        throw e;
    }
}

const num = (x: number, digits: number, width: number) => x.toFixed(digits).padStart(width);

/** The three HTTP scenarios, each as one table. */
async function httpScenarios(s: Setup): Promise<void> {
    for (const sc of SCENARIOS) {
        const script = wrkScript(s.dir, sc.title.replace(/\W+/g, "-"), sc.body);
        const load = { connections: sc.connections, seconds: SECONDS };
        // Warm every proxy (LuaJIT traces, keepalive pools), then measure side by side.
        for (const side of SIDES) wrk(s.proxies[side].url, script, { connections: 8, seconds: 2 });
        const runs: Partial<Record<Side, (Result & { userUs: number; sysUs: number })[]>> = {};
        for (let i = 0; i < ROUNDS; i++) {
            for (const side of SIDES) {
                const p = s.proxies[side];
                const r = await withCpu(p, () => {
                    const w = wrk(p.url, script, load);
                    return { ...w, count: w.requests };
                });
                (runs[side] ??= []).push(r);
            }
        }
        const m = Object.fromEntries(SIDES.map((side) => [side, median(runs[side]!)])) as Record<Side, Result>;
        const cpu = Object.fromEntries(SIDES.map((side) => [side, mid(runs[side]!.map((r) => r.userUs + r.sysUs))])) as Record<Side, number>;
        console.log(`\n${sc.title}   req/s   /plain   p50 ms   p99 ms   CPU µs/req   /plain   non-2xx`);
        for (const side of SIDES) {
            const x = m[side];
            console.log(
                `${LABELS[side].padEnd(27)}${num(x.rps, 0, 8)}${num(x.rps / m.plain.rps, 2, 9)}${num(x.p50, 3, 9)}${num(x.p99, 3, 9)}` +
                    `${num(cpu[side], 1, 13)}${num(cpu[side] / cpu.plain, 2, 9)}${String(x.non2xx).padStart(10)}`,
            );
        }
        // The gateway keeps nine tenths of plain nginx's throughput in every scenario.
        const target = 0.9;
        console.log(`gateway/plain ${(m.gateway.rps / m.plain.rps).toFixed(3)} (target >= ${target})`);
    }
}

/** Closed-loop WebSocket clients for `seconds`: each sends a call, waits for its answer, sends the next. */
async function wsLoad(url: string, connections: number, seconds: number): Promise<{ count: number }> {
    const sockets = await Promise.all(
        Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url);
            ws.once("open", () => resolve(ws));
            ws.once("error", reject);
        })),
    );
    let count = 0;
    const end = Date.now() + seconds * 1000;
    await Promise.all(
        sockets.map((ws) => new Promise<void>((resolve) => {
            ws.on("message", () => {
                count++;
                if (Date.now() < end) ws.send(SINGLE);
                else resolve();
            });
            ws.send(SINGLE);
        })),
    );
    for (const ws of sockets) ws.terminate();
    return { count };
}

/** WebSocket: the gateway judging every message beside plain nginx's pass-through, CPU per frame. */
async function websocketScenario(s: Setup): Promise<void> {
    const sides: Side[] = ["plain", "gateway"];
    const runs: Record<string, { count: number; userUs: number; sysUs: number }[]> = { plain: [], gateway: [] };
    const wsUrl = (side: Side) => s.proxies[side].url.replace(/^http/, "ws") + "ws";
    for (const side of sides) await wsLoad(wsUrl(side), 8, 1);
    for (let i = 0; i < ROUNDS; i++) {
        for (const side of sides) runs[side].push(await withCpu(s.proxies[side], () => wsLoad(wsUrl(side), 32, SECONDS)));
    }
    console.log(`\nWebSocket calls, 32 connections   frames/s   CPU µs/frame   /plain   (the client, in node, may be the bottleneck)`);
    const cpu = (side: Side) => mid(runs[side].map((r) => r.userUs + r.sysUs));
    for (const side of sides) {
        const rate = mid(runs[side].map((r) => r.count)) / SECONDS;
        console.log(`${(side === "plain" ? "(a) plain nginx pass-through" : "(b) ethnode gateway, judged").padEnd(35)}${num(rate, 0, 9)}${num(cpu(side), 1, 15)}${num(cpu(side) / cpu("plain"), 2, 9)}`);
    }
}

/** Resident memory (MB) of an nginx master's workers. */
function workersRssMb(master: number): number[] {
    const out = execFileSync("ps", ["-o", "rss=", "--ppid", String(master)], { encoding: "utf8" });
    return out.split(/\s+/).filter(Boolean).map((kb) => Number(kb) / 1024);
}

/**
 * A junk flood from 127.0.0.2 (denied calls, parse errors, bodies of 512 KiB) at stack-default limits, while a
 * well-behaved client with an API key of its own measures: its p99 idle and under the flood (target: within 2x),
 * how the flooder was answered, and the workers' largest resident memory.
 */
async function junkFlood(): Promise<void> {
    const prefix = prefixDir("flood");
    const upstreamPrefix = prefixDir("flood-upstream");
    const [port, metricsPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
    const procs: ChildProcess[] = [];
    // The attacker's CPU is not the server's: with two cores or more the gateway and its upstream get the first
    // core, the measuring client and the flooder (niced, so the measurement is not starved by it) the others.
    const cores = os.cpus().length;
    const [serverCpus, clientCpus] = cores >= 2 ? ["0", cores === 2 ? "1" : `1-${cores - 1}`] : [undefined, undefined];
    try {
        procs.push(startNginx(upstreamPrefix, upstreamConf(upstreamPrefix, upstreamPort), serverCpus));
        const releaseDir = path.join(prefix, "release");
        const keysFile = path.join(prefix, "keys.json");
        const key = "bench-good-client-key-0000";
        fs.writeFileSync(keysFile, JSON.stringify({ [key]: { name: "good", rate: 1000000, burst: 1000000 } }));
        const gateway = parseSection("bench", gatewaySection, { source: "debian", port, metricsPort }, { network: "dev", nodes: 1 });
        const files = releaseFiles({
            gateway, backends: [{ name: "static", host: "127.0.0.1", port: upstreamPort }], wsUpstream: { host: "127.0.0.1", port: upstreamPort },
            prefix, releaseDir, keysFile, listenHost: "127.0.0.1", exporters: { node: "127.0.0.1:9", clients: [] },
        });
        writeTree(releaseDir, files);
        const gw = startNginx(prefix, files["nginx.conf"], serverCpus);
        procs.push(gw);
        const url = `http://127.0.0.1:${port}/`;
        await waitUp(url);
        // The well-behaved client: 500 calls a second, open loop (each timed from when it was due), in its own
        // process; and wrk at full speed for what the gateway still serves.
        const goodJs = path.join(prefix, "good.js");
        fs.writeFileSync(goodJs, GOOD_SOURCE);
        const paced = () => runNode(clientCpus, goodJs, [String(port), key, "500", String(SECONDS * 2)]).then((o) => JSON.parse(o) as { p50: number; p99: number; n: number; failed: number });
        const script = wrkScript(prefix, "good", SINGLE, { "X-Api-Key": key });
        const load = { connections: 4, seconds: SECONDS };
        wrk(url, script, { connections: 4, seconds: 2 }, clientCpus);
        const idle = { paced: await paced(), full: wrk(url, script, load, clientCpus) };
        const floodJs = path.join(prefix, "flood.js");
        fs.writeFileSync(floodJs, FLOOD_SOURCE);
        const flood = runNode(clientCpus, floodJs, [String(port), String(SECONDS * 4 + 4)], 10);
        await new Promise((r) => setTimeout(r, 1000));
        let rss = 0;
        const sampler = setInterval(() => (rss = Math.max(rss, ...workersRssMb(gw.pid!))), 250);
        const underPaced = await paced();
        const underFull = parseWrk(await runCmd(...onCpus(clientCpus, "wrk", wrkArgs(url, script, load))));
        clearInterval(sampler);
        const floodOut = await flood;
        const where = serverCpus ? ` (gateway on CPU ${serverCpus}, clients on ${clientCpus}, the flooder niced)` : "";
        console.log(`\njunk flood from another address (stack-default limits) vs a well-behaved client with its own API key${where}`);
        console.log(
            `500 calls/s, open loop   p50 idle ${idle.paced.p50.toFixed(3)} ms, under flood ${underPaced.p50.toFixed(3)} ms   ` +
                `p99 idle ${idle.paced.p99.toFixed(3)} ms, under flood ${underPaced.p99.toFixed(3)} ms   ratio ${(underPaced.p99 / idle.paced.p99).toFixed(2)} (target <= 2)   failed ${underPaced.failed}`,
        );
        console.log(`wrk at full speed, c=4   req/s idle ${idle.full.rps.toFixed(0)}, under flood ${underFull.rps.toFixed(0)}   p99 idle ${idle.full.p99.toFixed(3)} ms, under flood ${underFull.p99.toFixed(3)} ms   non-2xx ${underFull.non2xx}`);
        console.log(`flooder's answers        ${floodOut.trim()}`);
        console.log(`largest worker RSS during the flood ${rss.toFixed(1)} MB (bound: 100 MB per worker)`);
    } finally {
        for (const p of procs) p.kill("SIGQUIT");
        await new Promise((r) => setTimeout(r, 500));
        for (const d of [prefix, upstreamPrefix]) fs.rmSync(d, { recursive: true, force: true });
    }
}

/** A command's stdout once it exits 0. */
function runCmd(cmd: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        p.stdout!.on("data", (d) => (out += d));
        p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
    });
}

/** A node script on the given CPUs (at the given niceness); its stdout. */
function runNode(cpus: string | undefined, script: string, args: string[], nice = 0): Promise<string> {
    return runCmd(...onCpus(cpus, "nice", ["-n", String(nice), process.execPath, script, ...args]));
}

/** The well-behaved client: `rate` calls a second for `seconds`, each timed from when it was due; prints p50/p99. */
const GOOD_SOURCE = `
const http = require("http");
const [port, key, rate, seconds] = process.argv.slice(2);
const body = ${JSON.stringify(SINGLE)};
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const times = [];
let failed = 0;
const start = performance.now();
const total = Number(rate) * Number(seconds);
let sent = 0, done = 0;
function one(due) {
  const req = http.request({ host: "127.0.0.1", port: Number(port), method: "POST", path: "/", agent, headers: { "content-type": "application/json", "x-api-key": key, "content-length": body.length } }, (res) => {
    res.resume();
    res.on("end", () => { if (res.statusCode === 200) times.push(performance.now() - due); else failed++; finish(); });
  });
  req.on("error", () => { failed++; finish(); });
  req.end(body);
}
function finish() {
  if (++done < total) return;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({ p50: q(0.5), p99: q(0.99), n: times.length, failed }));
  agent.destroy();
}
function tick() {
  const now = performance.now();
  while (sent < total && start + (sent * 1000) / Number(rate) <= now) one(start + (sent++ * 1000) / Number(rate));
  if (sent < total) setTimeout(tick, 1);
}
tick();
`;

/** The flooder: 16 connections from 127.0.0.2 sending junk as fast as answers come; prints answers by status. */
const FLOOD_SOURCE = `
const http = require("http");
const [port, seconds] = process.argv.slice(2).map(Number);
const junk = [
  '{"jsonrpc":"2.0","id":1,"method":"admin_peers"}',
  '{"jsonrpc":"2.0","id":1,"method":',
  "[" + Array.from({ length: 100 }, () => '{"jsonrpc":"2.0","id":1,"method":"debug_traceCall"}').join(",") + "]",
  "x".repeat(512 * 1024),
];
const agent = new http.Agent({ keepAlive: true, maxSockets: 16, localAddress: "127.0.0.2" });
const counts = {};
const end = Date.now() + seconds * 1000;
let i = 0;
function one() {
  if (Date.now() > end) return Promise.resolve();
  const body = junk[i++ % junk.length];
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      counts[res.statusCode] = (counts[res.statusCode] || 0) + 1;
      res.resume();
      res.on("end", resolve);
    });
    req.on("error", () => { counts.error = (counts.error || 0) + 1; resolve(); });
    req.end(body);
  }).then(one);
}
Promise.all(Array.from({ length: 16 }, one)).then(() => {
  console.log(Object.entries(counts).map(([k, v]) => k + ": " + v).join(", "));
  agent.destroy();
});
`;

/**
 * CPU instructions per request in user space, counted by callgrind in a single-process nginx after warm-up:
 * exact and repeatable where req/s on a shared machine is not (kernel work is not counted; it is the same
 * for all). Skipped when valgrind is not installed.
 */
async function instructions(): Promise<void> {
    if (spawnSync("valgrind", ["--version"]).status !== 0) {
        console.log("\ninstructions per request: skipped (valgrind is not installed)");
        return;
    }
    const s = await setUp(1);
    const scripts = { single: wrkScript(s.dir, "callgrind", SINGLE), batch: wrkScript(s.dir, "callgrind-batch", BATCH) };
    const prefixes: Record<Side, string> = { plain: s.plainPrefix, lua: s.luaPrefix, gateway: s.gatewayPrefix };
    try {
        const count = async (which: Side, script: string): Promise<number> => {
            const prefix = prefixes[which];
            const url = s.proxies[which].url;
            // The running copy stops (once: a second count finds it stopped); the same config runs again as one
            // process under callgrind.
            spawnSync("nginx", ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-s", "quit"], { stdio: "ignore" });
            await new Promise((r) => setTimeout(r, 500));
            for (const f of fs.readdirSync(prefix).filter((x) => x.startsWith("callgrind.out"))) fs.rmSync(path.join(prefix, f));
            const conf = fs.readFileSync(path.join(prefix, "nginx.conf"), "utf8").replace(/^worker_processes .*$/m, "master_process off;\ndaemon off;");
            fs.writeFileSync(path.join(prefix, "nginx-cg.conf"), conf);
            const out = path.join(prefix, "callgrind.out");
            const cg = spawn("valgrind", ["--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${out}`, "-q",
                "nginx", "-p", prefix, "-c", path.join(prefix, "nginx-cg.conf")], { stdio: "ignore" });
            try {
                await waitUp(url);
                wrk(url, script, { connections: 4, seconds: 4 });
                await new Promise((r) => setTimeout(r, 2500)); // past a health-check tick
                execFileSync("callgrind_control", ["--zero", String(cg.pid)], { stdio: "ignore" });
                // Low concurrency: callgrind slows nginx about 50 times.
                const n = wrk(url, script, { connections: 4, seconds: 3 }).requests;
                execFileSync("callgrind_control", ["--dump", String(cg.pid)], { stdio: "ignore" });
                const dump = fs.readdirSync(prefix).find((f) => f.startsWith("callgrind.out") && f.endsWith(".1"))!;
                const total = Number(fs.readFileSync(path.join(prefix, dump), "utf8").match(/^summary: (\d+)$/m)![1]);
                // For `callgrind_annotate`: where the instructions go, function by function.
                if (process.env.BENCH_PROFILE_DIR) fs.copyFileSync(path.join(prefix, dump), path.join(process.env.BENCH_PROFILE_DIR, `callgrind.${which}.${path.basename(script, ".lua")}`));
                return total / n;
            } finally {
                cg.kill("SIGQUIT");
                await new Promise((r) => setTimeout(r, 1000));
                cg.kill("SIGKILL");
            }
        };
        console.log("\ninstructions per request in user space (callgrind, one nginx process each, after warm-up)");
        for (const [kind, script] of Object.entries(scripts)) {
            const n = { plain: await count("plain", script), lua: await count("lua", script), gateway: await count("gateway", script) };
            for (const side of ["plain", "gateway", "lua"] as const) {
                const rel = side === "plain" ? "" : `   (${(n[side] / n.plain).toFixed(2)}x)`;
                console.log(`${kind.padEnd(7)}${LABELS[side].padEnd(27)} ${n[side].toFixed(0).padStart(8)}${rel}`);
            }
        }
    } finally {
        await s.stop();
    }
}

async function main(): Promise<void> {
    console.log(
        `wrk -t1 -d${SECONDS}s x ${ROUNDS} alternating rounds (medians), ${os.cpus().length} cores, one nginx worker per proxy, ` +
            `static JSON-RPC upstream in its own nginx`,
    );
    // BENCH_PARTS=http,ws,flood,instructions picks parts (all by default).
    const parts = new Set((process.env.BENCH_PARTS ?? "http,ws,flood,instructions").split(","));
    if (process.env.BENCH_THROUGHPUT === "0") ["http", "ws", "flood"].forEach((p) => parts.delete(p));
    if (process.env.BENCH_INSTRUCTIONS === "0") parts.delete("instructions");
    if (parts.has("http") || parts.has("ws")) {
        const s = await setUp(1);
        try {
            if (parts.has("http")) await httpScenarios(s);
            if (parts.has("ws")) await websocketScenario(s);
        } finally {
            await s.stop();
        }
    }
    if (parts.has("flood")) await junkFlood();
    if (parts.has("instructions")) await instructions();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
