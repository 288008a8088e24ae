/**
 * Benchmark (not a test): wrk on loopback, side by side against the same cheap upstream — a static JSON-RPC
 * responder inside nginx — through (a) plain nginx proxy_pass and (b) the rendered gateway with its full
 * pipeline (parse, policy, limiter, health checks, metrics; stack defaults) and limits too high to trigger.
 * Prints requests/s for each, the ratio b/a, the p50/p99 latency the gateway adds and the CPU time the proxy's
 * workers spent per request (user and system, from /proc). Beside them, (c): the plain proxy with the lua module
 * loaded and empty access and log phases — the price of running any Lua per request, which no gateway built on
 * lua-nginx-module (OpenResty's included) can go below, so the figures show how much is ours. Twice: with one worker
 * each (the proxy is the bottleneck) and with the stack's default worker count (every process shares the
 * cores). They alternate (a, c, b, a, c, b, …) for BENCH_ROUNDS rounds and the medians are compared, so a burst
 * of noise on a small shared machine hits both sides alike. Last, user-space instructions per request under
 * callgrind: the figure that does not move between runs (BENCH_INSTRUCTIONS=0 skips it; BENCH_THROUGHPUT=0 runs
 * only it; BENCH_PROFILE_DIR=<dir> keeps both profiles there for callgrind_annotate).
 * Run: npm run bench:gateway  (BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS to change the load).
 */
import { execFileSync, spawn, spawnSync, ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { gatewaySection } from "../components/config";
import { NGINX_SOURCES, releaseFiles } from "../components/gateway";
import { writeTree } from "../tests/helpers/gateway";
import { parseSection } from "../components/schema";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const BODY = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
// Answers the gateway's health probe too (eth_syncing=false, head 0x10), so the backend counts as healthy.
const STATIC = '[{"jsonrpc":"2.0","id":1,"result":false},{"jsonrpc":"2.0","id":2,"result":"0x10"}]';

// The gateway's worker count when a stack leaves it unset.
const DEFAULT_WORKERS = parseSection("bench", gatewaySection, {}, { network: "dev" }).workers;

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

/**
 * nginx.conf for (a) the plain proxy — or (c) with `emptyLua`, the same proxy running empty Lua access and log
 * phases — or for the static upstream (its own process, shared by all).
 */
function plainConf(prefix: string, listen: number, upstream: number | null, staticPort: number, workers: number, emptyLua = false): string {
    const modules = emptyLua ? NGINX_SOURCES.debian.loadModules.map((m) => `load_module ${m};\n`).join("") : "";
    const phases = emptyLua ? "\n            access_by_lua_block { }\n            log_by_lua_block { }" : "";
    return `${modules}worker_processes ${workers};
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
${
    upstream === null
        ? `    server {
        listen 127.0.0.1:${staticPort};
        access_log off;
        location / {
            client_body_buffer_size 64k;
            default_type application/json;
            return 200 '${STATIC}';
        }
    }`
        : `    upstream rpc { server 127.0.0.1:${upstream}; keepalive 64; }
    server {
        listen 127.0.0.1:${listen};
        location / {
            proxy_pass http://rpc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";${phases}
        }
    }`
}
}
`;
}

function start(prefix: string, conf: string): ChildProcess {
    const file = path.join(prefix, "nginx.conf");
    fs.writeFileSync(file, conf);
    execFileSync("nginx", ["-t", "-q", "-p", prefix, "-c", file]);
    return spawn("nginx", ["-p", prefix, "-c", file, "-g", "daemon off;"], { stdio: "inherit" });
}

async function waitUp(url: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
        try {
            const r = await fetch(url, { method: "POST", body: BODY, headers: { "content-type": "application/json" } });
            if (r.status === 200) return;
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

/** One wrk run (the measured load unless told otherwise: warm-ups and callgrind use a lighter one). */
function wrk(url: string, script: string, load = { connections: CONNECTIONS, seconds: SECONDS }): Result {
    const args = ["-t1", `-c${load.connections}`, `-d${load.seconds}s`, "--latency", "-s", script, url];
    const out = execFileSync("wrk", args, { encoding: "utf8" });
    const requests = Number(out.match(/(\d+) requests in/)![1]);
    const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)![1]);
    const p50 = toMs(out.match(/^\s+50%\s+(\S+)/m)![1]);
    const p99 = toMs(out.match(/^\s+99%\s+(\S+)/m)![1]);
    const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    return { requests, rps, p50, p99, non2xx };
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

/** The proxies compared: (a), (b) and (c). */
type Side = "plain" | "gateway" | "lua";
const SIDES: Side[] = ["plain", "lua", "gateway"];
/** The order the results are printed in: the two the target compares, then the floor. */
const SHOWN: Side[] = ["plain", "gateway", "lua"];

interface Setup {
    urls: Record<Side, string>;
    script: string;
    prefixes: Record<Side, string>;
    /** Each proxy's nginx master, whose workers' CPU time is read around each run. */
    masters: Record<Side, number>;
    stop: () => Promise<void>;
}

const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** User and system CPU time (µs) the master's workers have used so far, from /proc. */
function workerCpu(master: number): { user: number; sys: number } {
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
        if (Number(f[1]) !== master) continue;
        user += Number(f[11]) * TICK_US;
        sys += Number(f[12]) * TICK_US;
    }
    return { user, sys };
}

/** A wrk run that also reports the CPU the proxy's workers spent per request. */
function measured(url: string, script: string, master: number): Result & { userUs: number; sysUs: number } {
    const before = workerCpu(master);
    const r = wrk(url, script);
    const after = workerCpu(master);
    return { ...r, userUs: (after.user - before.user) / r.requests, sysUs: (after.sys - before.sys) / r.requests };
}

/** Starts the static upstream and the three proxies, each with `workers` nginx workers; waits until all answer. */
async function setUp(workers: number): Promise<Setup> {
    const plainPrefix = prefixDir("plain");
    const luaPrefix = prefixDir("lua");
    const staticPrefix = prefixDir("static");
    const gwPrefix = prefixDir("gateway");
    const [plainPort, luaPort, staticPort, gwPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const procs: ChildProcess[] = [];
    const stop = async () => {
        for (const p of procs) p.kill("SIGQUIT");
        await new Promise((r) => setTimeout(r, 300));
        for (const d of [plainPrefix, luaPrefix, staticPrefix, gwPrefix]) fs.rmSync(d, { recursive: true, force: true });
    };
    try {
        // The upstream runs in its own nginx, so every proxy crosses a process boundary to reach it.
        procs.push(start(staticPrefix, plainConf(staticPrefix, 0, null, staticPort, workers)));
        procs.push(start(plainPrefix, plainConf(plainPrefix, plainPort, staticPort, staticPort, workers)));
        procs.push(start(luaPrefix, plainConf(luaPrefix, luaPort, staticPort, staticPort, workers, true)));
        const releaseDir = path.join(gwPrefix, "release");
        const keysFile = path.join(gwPrefix, "keys.json");
        fs.writeFileSync(keysFile, "{}");
        // Stack defaults except the limits, set too high to trigger.
        const gateway = parseSection(
            "bench",
            gatewaySection,
            { source: "debian", workers, port: gwPort, metricsPort, ipRate: 1000000, ipBurst: 1000000 },
            { network: "dev" },
        );
        const files = releaseFiles({
            gateway,
            backends: [{ name: "static", host: "127.0.0.1", port: staticPort }],
            wsUpstream: `127.0.0.1:${staticPort}`,
            prefix: gwPrefix,
            releaseDir,
            keysFile,
            listenHost: "127.0.0.1",
            exporters: { node: "127.0.0.1:9", geth: `127.0.0.1:${staticPort}` },
        });
        writeTree(releaseDir, files);
        procs.push(start(gwPrefix, files["nginx.conf"]));
        const urls = { plain: `http://127.0.0.1:${plainPort}/`, lua: `http://127.0.0.1:${luaPort}/`, gateway: `http://127.0.0.1:${gwPort}/` };
        for (const side of SIDES) await waitUp(urls[side]);
        const script = path.join(gwPrefix, "post.lua");
        fs.writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`);
        return {
            urls,
            script,
            prefixes: { plain: plainPrefix, lua: luaPrefix, gateway: gwPrefix },
            masters: { plain: procs[1].pid!, lua: procs[2].pid!, gateway: procs[3].pid! },
            stop,
        };
    } catch (e) {
        await stop();
        throw e;
    }
}

const fmt = (x: Result) => `${x.rps.toFixed(0).padStart(8)} req/s   p50 ${x.p50.toFixed(3)} ms   p99 ${x.p99.toFixed(3)} ms   non-2xx ${x.non2xx}`;

const LABELS: Record<Side, string> = {
    plain: "(a) plain proxy_pass ",
    gateway: "(b) ethnode gateway  ",
    lua: "(c) empty Lua phases ",
};

/** One configuration: warm all, then ROUNDS alternating wrk runs; prints medians, the ratios and added latency. */
async function throughput(workers: number, title: string): Promise<void> {
    const s = await setUp(workers);
    try {
        // Warm every proxy (LuaJIT traces, keepalive pools), then measure side by side.
        for (const side of SIDES) wrk(s.urls[side], s.script, { connections: 8, seconds: 2 });
        const runs: Record<Side, ReturnType<typeof measured>[]> = { plain: [], lua: [], gateway: [] };
        for (let i = 0; i < ROUNDS; i++) {
            for (const side of SIDES) runs[side].push(measured(s.urls[side], s.script, s.masters[side]));
        }
        const m = { plain: median(runs.plain), lua: median(runs.lua), gateway: median(runs.gateway) };
        // The proxy's own CPU per request (its workers, from /proc): what each costs, apart from how the
        // scheduler shared the cores with wrk and the upstream in that run.
        const cpu = (side: Side) => {
            const user = mid(runs[side].map((r) => r.userUs));
            const sys = mid(runs[side].map((r) => r.sysUs));
            return { user, sys, total: user + sys };
        };
        const c = { plain: cpu("plain"), lua: cpu("lua"), gateway: cpu("gateway") };
        const [a, b] = [m.plain, m.gateway];
        console.log(`\n${title}: ${workers} nginx worker(s) each`);
        for (const side of SHOWN) console.log(`${LABELS[side]} ${fmt(m[side])}`);
        console.log(`ratio b/a             ${(b.rps / a.rps).toFixed(3)}   (target >= 0.85; c/a ${(m.lua.rps / a.rps).toFixed(3)}: the lua module alone)`);
        console.log(`added latency         p50 ${(b.p50 - a.p50).toFixed(3)} ms   p99 ${(b.p99 - a.p99).toFixed(3)} ms   (target p99 <= 1 ms)`);
        for (const side of SHOWN) {
            const x = c[side];
            const rel = side === "plain" ? "" : `   (/a ${(x.total / c.plain.total).toFixed(2)})`;
            console.log(`CPU per request  ${LABELS[side].slice(0, 3)}  user ${x.user.toFixed(1)} µs + system ${x.sys.toFixed(1)} µs = ${x.total.toFixed(1)} µs${rel}`);
        }
    } finally {
        await s.stop();
    }
}

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
    try {
        const count = async (which: Side): Promise<number> => {
            const prefix = s.prefixes[which];
            const url = s.urls[which];
            // The running copy stops; the same config runs again as one process under callgrind.
            execFileSync("nginx", ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-s", "quit"], { stdio: "ignore" });
            await new Promise((r) => setTimeout(r, 500));
            const conf = fs.readFileSync(path.join(prefix, "nginx.conf"), "utf8").replace(/^worker_processes .*$/m, "master_process off;\ndaemon off;");
            fs.writeFileSync(path.join(prefix, "nginx-cg.conf"), conf);
            const out = path.join(prefix, "callgrind.out");
            const cg = spawn("valgrind", ["--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${out}`, "-q",
                "nginx", "-p", prefix, "-c", path.join(prefix, "nginx-cg.conf")], { stdio: "ignore" });
            try {
                await waitUp(url);
                wrk(url, s.script, { connections: 4, seconds: 4 });
                await new Promise((r) => setTimeout(r, 2500)); // past a health-check tick
                execFileSync("callgrind_control", ["--zero", String(cg.pid)], { stdio: "ignore" });
                // Low concurrency: callgrind slows nginx about 50 times.
                const n = wrk(url, s.script, { connections: 4, seconds: 3 }).requests;
                execFileSync("callgrind_control", ["--dump", String(cg.pid)], { stdio: "ignore" });
                const dump = fs.readdirSync(prefix).find((f) => f.startsWith("callgrind.out") && f.endsWith(".1"))!;
                const total = Number(fs.readFileSync(path.join(prefix, dump), "utf8").match(/^summary: (\d+)$/m)![1]);
                // For `callgrind_annotate`: where the instructions go, function by function.
                if (process.env.BENCH_PROFILE_DIR) fs.copyFileSync(path.join(prefix, dump), path.join(process.env.BENCH_PROFILE_DIR, `callgrind.${which}`));
                return total / n;
            } finally {
                cg.kill("SIGQUIT");
                await new Promise((r) => setTimeout(r, 1000));
                cg.kill("SIGKILL");
            }
        };
        const n = { plain: await count("plain"), lua: await count("lua"), gateway: await count("gateway") };
        console.log("\ninstructions per request in user space (callgrind, one nginx process each, after warm-up)");
        for (const side of SHOWN) {
            const rel = side === "plain" ? "" : `   (${(n[side] / n.plain).toFixed(2)}x)`;
            console.log(`${LABELS[side]} ${n[side].toFixed(0).padStart(8)}${rel}`);
        }
    } finally {
        await s.stop();
    }
}

async function main(): Promise<void> {
    console.log(
        `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s x ${ROUNDS} alternating rounds (medians), ${os.cpus().length} cores, static JSON-RPC upstream in its own nginx`,
    );
    // The gateway alone on the critical path: what it costs per request shows undiluted.
    if (process.env.BENCH_THROUGHPUT !== "0") {
        await throughput(1, "proxy-bound");
        // Stack defaults: every process shares the cores, as on a real host.
        await throughput(DEFAULT_WORKERS, "default workers");
    }
    if (process.env.BENCH_INSTRUCTIONS !== "0") await instructions();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
