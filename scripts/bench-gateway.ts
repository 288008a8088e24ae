/**
 * Benchmark (not a test): wrk on loopback, side by side against the same cheap upstream — a static JSON-RPC
 * responder inside nginx — through (a) plain nginx proxy_pass and (b) the rendered gateway with its full
 * pipeline (parse, policy, limiter, health-aware balancer, metrics) and limits too high to trigger.
 * Prints requests/s for each, the ratio b/a, and the p50/p99 latency the gateway adds.
 * The two alternate (a, b, a, b, …) for BENCH_ROUNDS rounds and the medians are compared, so a burst of
 * noise on this 2-core machine hits both sides alike.
 * Run: npm run bench:gateway  (BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_WORKERS to change the load).
 */
import { execFileSync, spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { gatewaySection } from "../components/config";
import { releaseFiles } from "../components/gateway";
import { writeTree } from "../tests/helpers/gateway";
import { parseSection } from "../components/schema";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const BODY = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
// Answers the gateway's health probe too (eth_syncing=false, head 0x10), so the backend counts as healthy.
const STATIC = '[{"jsonrpc":"2.0","id":1,"result":false},{"jsonrpc":"2.0","id":2,"result":"0x10"}]';

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

/** nginx.conf for (a) the plain proxy, or for the static upstream (its own process, shared by a and b). */
function plainConf(prefix: string, listen: number, upstream: number | null, staticPort: number): string {
    return `worker_processes ${WORKERS};
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
            proxy_set_header Connection "";
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

function wrk(url: string, script: string): Result {
    const out = execFileSync("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency", "-s", script, url], { encoding: "utf8" });
    const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)![1]);
    const p50 = toMs(out.match(/^\s+50%\s+(\S+)/m)![1]);
    const p99 = toMs(out.match(/^\s+99%\s+(\S+)/m)![1]);
    const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    return { rps, p50, p99, non2xx };
}

function median(rs: Result[]): Result {
    const mid = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    return {
        rps: mid(rs.map((r) => r.rps)),
        p50: mid(rs.map((r) => r.p50)),
        p99: mid(rs.map((r) => r.p99)),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    };
}

async function main(): Promise<void> {
    const plainPrefix = prefixDir("plain");
    const staticPrefix = prefixDir("static");
    const gwPrefix = prefixDir("gateway");
    const [plainPort, staticPort, gwPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const procs: ChildProcess[] = [];
    try {
        // The upstream runs in its own nginx, so (a) and (b) both cross a process boundary to reach it.
        procs.push(start(staticPrefix, plainConf(staticPrefix, 0, null, staticPort)));
        procs.push(start(plainPrefix, plainConf(plainPrefix, plainPort, staticPort, staticPort)));

        const releaseDir = path.join(gwPrefix, "release");
        const keysFile = path.join(gwPrefix, "keys.json");
        fs.writeFileSync(keysFile, "{}");
        const gateway = parseSection(
            "bench",
            gatewaySection,
            { source: "debian", workers: WORKERS, port: gwPort, metricsPort, ipRate: 1000000, ipBurst: 1000000 },
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

        const plainUrl = `http://127.0.0.1:${plainPort}/`;
        const gwUrl = `http://127.0.0.1:${gwPort}/`;
        await waitUp(plainUrl);
        await waitUp(gwUrl);
        const script = path.join(gwPrefix, "post.lua");
        fs.writeFileSync(
            script,
            `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`,
        );
        // Warm both (LuaJIT traces, keepalive pools), then measure side by side.
        execFileSync("wrk", ["-t1", "-c8", "-d2s", "-s", script, plainUrl]);
        execFileSync("wrk", ["-t1", "-c8", "-d2s", "-s", script, gwUrl]);
        const as: Result[] = [];
        const bs: Result[] = [];
        for (let i = 0; i < ROUNDS; i++) {
            as.push(wrk(plainUrl, script));
            bs.push(wrk(gwUrl, script));
        }
        const a = median(as);
        const b = median(bs);
        const fmt = (x: Result) => `${x.rps.toFixed(0).padStart(8)} req/s   p50 ${x.p50.toFixed(3)} ms   p99 ${x.p99.toFixed(3)} ms   non-2xx ${x.non2xx}`;
        console.log(
            `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s x ${ROUNDS} alternating rounds (medians), ${WORKERS} nginx worker(s) each, ${os.cpus().length} cores, static JSON-RPC upstream in its own nginx`,
        );
        console.log(`(a) plain proxy_pass  ${fmt(a)}`);
        console.log(`(b) ethnode gateway   ${fmt(b)}`);
        console.log(`ratio b/a             ${(b.rps / a.rps).toFixed(3)}   (target >= 0.85)`);
        console.log(`added latency         p50 ${(b.p50 - a.p50).toFixed(3)} ms   p99 ${(b.p99 - a.p99).toFixed(3)} ms   (target p99 <= 1 ms)`);
    } finally {
        for (const p of procs) p.kill("SIGQUIT");
        await new Promise((r) => setTimeout(r, 300));
        fs.rmSync(plainPrefix, { recursive: true, force: true });
        fs.rmSync(staticPrefix, { recursive: true, force: true });
        fs.rmSync(gwPrefix, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
