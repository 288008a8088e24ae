/**
 * The rendered gateway under real nginx + lua (2 workers) in front of a real geth --dev and an anvil, on
 * loopback: every error code, exact limits under concurrency, batch and weight counting, API keys, the
 * trusted-proxy rule, WebSocket pass-through with its connection limit, health-aware routing, failover,
 * and a reload that swaps workers but keeps the master.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import WebSocket from "ws";
import { Backend } from "../components/gateway";
import { Gw, anvilGateway, luaErrors, startGateway, workerPids } from "./helpers/gateway";
import { Node, startAnvil, startGethDev } from "./helpers/nodes";
import { freePort, postJson, rpc, tmpDir, waitFor } from "./helpers/proc";

jest.setTimeout(120000);

const KEY = "k3y_for_tests_0123456789";

const post = (url: string, body: string, headers: Record<string, string> = {}) => postJson(url, body, headers);

const call = (method: string, id: unknown = 1, params: unknown[] = []) => JSON.stringify({ jsonrpc: "2.0", id, method, params });

/** The statuses of eth_chainId calls sent one after another, one per value of `header`. */
async function statusesPer(url: string, header: string, values: string[]): Promise<number[]> {
    const codes: number[] = [];
    for (const v of values) codes.push((await post(url, call("eth_chainId"), { [header]: v })).status);
    return codes;
}

let geth: Node;
let anvil: Node;
let backends: Backend[];

beforeAll(async () => {
    [geth, anvil] = await Promise.all([startGethDev(), startAnvil(1)]);
    backends = [
        { name: "geth", host: "127.0.0.1", port: geth.rpcPort },
        { name: "anvil", host: "127.0.0.1", port: anvil.rpcPort },
    ];
});

afterAll(async () => {
    await geth?.proc.stop("SIGINT");
    await anvil?.proc.stop();
});

describe("JSON-RPC validation and policy", () => {
    let gw: Gw;
    beforeAll(async () => {
        gw = await startGateway({
            backends,
            wsUpstream: { host: "127.0.0.1", port: geth.wsPort },
            config: { maxBatchSize: 5, maxBodyBytes: 4096, getLogsMaxRange: 100, ipRate: 100000, ipBurst: 100000 },
            apiKeys: { [KEY]: { name: "acme", rate: 1, burst: 3 } },
            exporters: { node: "127.0.0.1:9", clients: [{ name: "geth", target: `127.0.0.1:${geth.metricsPort}`, path: "/debug/metrics/prometheus" }] },
        });
    });
    afterAll(async () => {
        expect(luaErrors(gw.errorLog())).toEqual([]);
        await gw.stop();
    });

    it("proxies a valid call and echoes string, large and null ids", async () => {
        for (const id of ["abc", 9007199254740991, null, "ünïcødé"]) {
            const r = await post(gw.url, call("eth_chainId", id));
            expect(r.status).toBe(200);
            expect(r.json.id).toEqual(id);
            expect(["0x539", "0x7a69"]).toContain(r.json.result);
        }
    });

    it("proxies a batch, answering each element", async () => {
        const r = await post(gw.url, `[${call("eth_chainId", 1)},${call("net_version", 2)},${call("web3_clientVersion", 3)}]`);
        expect(r.status).toBe(200);
        expect(r.json.map((x: any) => x.id).sort()).toEqual([1, 2, 3]);
    });

    it("answers malformed JSON with 400 and -32700", async () => {
        const r = await post(gw.url, '{"jsonrpc":"2.0","id":1,"method":');
        expect(r.status).toBe(400);
        expect(r.json.error.code).toBe(-32700);
        expect(r.json.id).toBeNull();
    });

    it("answers a wrong shape with 400 and -32600, echoing the id", async () => {
        const r = await post(gw.url, '{"jsonrpc":"1.0","id":42,"method":"eth_chainId"}');
        expect(r.status).toBe(400);
        expect(r.json).toEqual({ jsonrpc: "2.0", id: 42, error: { code: -32600, message: 'jsonrpc must be "2.0"' } });
    });

    it("refuses a batch over the limit, naming the limit", async () => {
        const batch = `[${Array.from({ length: 6 }, (_, i) => call("eth_chainId", i)).join(",")}]`;
        const r = await post(gw.url, batch);
        expect(r.status).toBe(400);
        expect(r.json.error).toEqual({ code: -32600, message: "batch of 6 requests exceeds the limit of 5" });
    });

    it("refuses an empty batch", async () => {
        const r = await post(gw.url, "[]");
        expect(r.status).toBe(400);
        expect(r.json.error.code).toBe(-32600);
    });

    it("answers an oversized body with 413 and a JSON-RPC error", async () => {
        const r = await post(gw.url, call("eth_chainId", 1, ["x".repeat(5000)]));
        expect(r.status).toBe(413);
        expect(r.json.error.code).toBe(-32600);
    });

    it("denies admin, debug, personal, engine and miner with -32601", async () => {
        for (const m of ["admin_nodeInfo", "debug_traceTransaction", "personal_listAccounts", "engine_exchangeCapabilities", "miner_start", "txpool_content"]) {
            const r = await post(gw.url, call(m, 5));
            expect(r.status).toBe(200);
            expect(r.json).toEqual({ jsonrpc: "2.0", id: 5, error: { code: -32601, message: `method not allowed: ${m}` } });
        }
    });

    it("answers denied elements locally and forwards the rest of a batch, through either backend", async () => {
        // Four rounds: round-robin sends the forwarded part to geth and to anvil (geth gzips when asked).
        for (let round = 0; round < 4; round++) {
            const r = await post(gw.url, `[${call("admin_peers", "a")},${call("eth_chainId", "b")},${call("debug_x", "c")}]`);
            expect(r.status).toBe(200);
            const byId = Object.fromEntries(r.json.map((x: any) => [x.id, x]));
            expect(byId.a.error.code).toBe(-32601);
            expect(byId.c.error.code).toBe(-32601);
            expect(["0x539", "0x7a69"]).toContain(byId.b.result);
        }
    });

    it("caps the eth_getLogs block range with -32602", async () => {
        const r = await post(gw.url, call("eth_getLogs", 9, [{ fromBlock: "0x0", toBlock: "0x100" }]));
        expect(r.json.error).toEqual({ code: -32602, message: "eth_getLogs block range of 257 exceeds the limit of 100" });
        const ok = await post(gw.url, call("eth_getLogs", 9, [{ fromBlock: "0x0", toBlock: "0x1" }]));
        expect(ok.json.result).toEqual([]);
    });

    it("refuses a range key geth would read under another spelling (case, Unicode folding, a later duplicate), single and in a batch", async () => {
        const MESSAGE = (m: string) => ({ code: -32602, message: `${m} filter keys must be spelled fromBlock, toBlock and blockHash` });
        // Raw bodies: JSON.stringify would merge the duplicate keys this is about.
        const filters = [
            '{"fromblock":"0x0","toblock":"latest"}',
            '{"FromBlock":"0x0","ToBlock":"0x100000"}',
            '{"fromBlock":"0x1","toBlock":"0x2","FROMBLOCK":"0x0","TOBLOCK":"latest"}',
            '{"fromBloc\u212a":"0x0","toBlock":"latest"}',
            // Both Go and cjson keep the later of two identical keys: 0x0..0x100, over the cap (the first would pass).
            '{"fromBlock":"0x100","fromBlock":"0x0","toBlock":"0x100"}',
        ];
        for (const m of ["eth_getLogs", "eth_newFilter"]) {
            for (const [i, f] of filters.entries()) {
                const r = await post(gw.url, `{"jsonrpc":"2.0","id":${i},"method":"${m}","params":[${f}]}`);
                expect({ m, f, error: r.json.error }).toEqual({ m, f, error: i === filters.length - 1 ? { code: -32602, message: `${m} block range of 257 exceeds the limit of 100` } : MESSAGE(m) });
                expect(r.json.id).toBe(i);
            }
        }
        const batch = await post(gw.url, `[${filters.map((f, i) => `{"jsonrpc":"2.0","id":${i},"method":"eth_getLogs","params":[${f}]}`).join(",")}]`);
        expect(batch.json.every((a: { error?: { code: number } }) => a.error?.code === -32602)).toBe(true);
    });

    it("requires POST, and 404s other paths", async () => {
        const get = await fetch(gw.url);
        expect(get.status).toBe(405);
        expect(((await get.json()) as any).error.code).toBe(-32600);
        const other = await fetch(`${gw.url}/nope/nope`);
        expect(other.status).toBe(404);
    });

    it("answers 401 to an unknown API key, in the header or the path", async () => {
        const h = await post(gw.url, call("eth_chainId"), { "x-api-key": "not_a_real_key_000000" });
        expect(h.status).toBe(401);
        const p = await post(`${gw.url}/not_a_real_key_000000`, call("eth_chainId"));
        expect(p.status).toBe(401);
        expect(p.json.error.code).toBe(-32001);
    });

    it("gives an API key its own limit, by header or by path", async () => {
        expect(await statusesPer(gw.url, "x-api-key", [KEY, KEY, KEY])).toEqual([200, 200, 200]);
        expect((await post(`${gw.url}/${KEY}`, call("eth_chainId"))).status).toBe(429);
        // The IP's own bucket is untouched.
        expect((await post(gw.url, call("eth_chainId"))).status).toBe(200);
    });

    it("passes WebSocket through to geth and limits connections per IP", async () => {
        const open = (): Promise<{ socket: net.Socket; status: number }> =>
            new Promise((resolve, reject) => {
                const socket = net.connect(gw.port, "127.0.0.1", () => {
                    socket.write(
                        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\r\n",
                    );
                });
                socket.once("data", (d) => resolve({ socket, status: Number(d.toString().split(" ")[1]) }));
                socket.once("error", reject);
            });
        const conns = [];
        for (let i = 0; i < gw.config.wsMaxConnsPerIp; i++) conns.push(await open());
        expect(conns.map((c) => c.status)).toEqual(Array(gw.config.wsMaxConnsPerIp).fill(101));
        const extra = await open();
        expect(extra.status).toBe(429);
        for (const c of [...conns, extra]) c.socket.destroy();
    });

    it("proxies the node's exporters on its metrics port, for a separate monitoring host", async () => {
        const res = await fetch(gw.metricsUrl.replace(/\/metrics$/, "/metrics/geth"));
        expect(res.status).toBe(200);
        expect(await res.text()).toMatch(/^chain_head_block \d+/m);
        // Anything else on the metrics port is refused.
        expect((await fetch(gw.metricsUrl.replace(/\/metrics$/, "/"))).status).toBe(404);
    });

    it("exports request, rejection, latency and backend metrics", async () => {
        // Each worker flushes its counts to shared memory once a second, on its own clock: wait for all of them.
        const wanted = [
            /^ethnode_gateway_requests_total\{method="eth_chainId",outcome="ok"\} \d+/m,
            /^ethnode_gateway_rejections_total\{reason="method_denied"\} \d+/m,
            /^ethnode_gateway_rejections_total\{reason="parse_error"\} \d+/m,
            /^ethnode_gateway_rejections_total\{reason="rate_limited"\} \d+/m,
            /^ethnode_gateway_upstream_latency_seconds_bucket\{backend="(geth|anvil)",le="\+Inf"\} \d+/m,
            /^ethnode_gateway_backend_healthy\{backend="geth"\} 1/m,
            // The release serving: its directory's name (what a deploy waits for after a reload).
            // (the harness serves from <prefix>/release).
            /^ethnode_gateway_release_info\{release="release"\} 1$/m,
        ];
        let text = "";
        await waitFor(
            "metrics flushed",
            async () => {
                text = await (await fetch(gw.metricsUrl)).text();
                return wanted.every((r) => r.test(text)) ? true : undefined;
            },
            5000,
        ).catch(() => undefined);
        for (const r of wanted) expect(text).toMatch(r);
        // Denied methods share one label: an attacker cannot mint series.
        expect(text).not.toContain('method="admin_nodeInfo"');
    });
});

describe("a single backend (no Lua balancer)", () => {
    const metric = (text: string, series: string) => Number(text.match(new RegExp(`^${series.replace(/[{}+.]/g, "\\$&")} (\\S+)$`, "m"))?.[1]);

    it("serves, and counts each call, its latency and its status exactly once", async () => {
        const gw = await startGateway({ backends: [backends[0]], config: { ipRate: 100000, ipBurst: 100000 } });
        try {
            for (let i = 0; i < 5; i++) expect((await post(gw.url, call("eth_chainId", i))).json.result).toBe("0x539");
            const batch = await post(gw.url, `[${call("eth_chainId", 1)},${call("admin_peers", 2)}]`);
            expect(batch.json.map((r: { id: number }) => r.id)).toEqual([1, 2]);
            // Answered here entirely: no upstream request, no latency.
            expect((await post(gw.url, call("admin_peers"))).json.error.code).toBe(-32601);
            const text = await waitFor(
                "metrics flushed",
                async () => {
                    const t = await (await fetch(gw.metricsUrl)).text();
                    return metric(t, 'ethnode_gateway_upstream_latency_seconds_count{backend="geth"}') === 6 ? t : undefined;
                },
                5000,
            );
            expect(metric(text, 'ethnode_gateway_requests_total{method="eth_chainId",outcome="ok"}')).toBe(6);
            expect(metric(text, 'ethnode_gateway_upstream_requests_total{code="2xx"}')).toBe(6);
            expect(metric(text, 'ethnode_gateway_upstream_latency_seconds_bucket{backend="geth",le="+Inf"}')).toBe(6);
            // Loopback answers in well under a second each.
            expect(metric(text, 'ethnode_gateway_upstream_latency_seconds_sum{backend="geth"}')).toBeLessThan(1);
            expect(metric(text, 'ethnode_gateway_rejections_total{reason="method_denied"}')).toBe(2);
            expect(luaErrors(gw.errorLog())).toEqual([]);
        } finally {
            await gw.stop();
        }
    });

    it("answers calls admitted to a backend that then died with 502/-32603, counts them as upstream errors, keeps no state", async () => {
        const doomed = await startAnvil();
        const gw = await startGateway({
            backends: [{ name: "doomed", host: "127.0.0.1", port: doomed.rpcPort }],
            config: { healthIntervalSec: 30, ipRate: 100000, ipBurst: 100000 },
        });
        try {
            await waitFor("healthy", async () => ((await fetch(gw.healthUrl)).status === 200 ? true : undefined));
            await doomed.proc.stop("SIGKILL");
            // The checker will not look again for 30 s: these are admitted, and nginx's own 502 answers them.
            const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post(gw.url, call("eth_chainId", i))));
            expect(results.map((r) => [r.status, r.json?.error?.code])).toEqual(Array(20).fill([502, -32603]));
            // A batch forwarded in part (admin_peers is answered here) goes up as a subrequest: its elements too.
            const partial = await post(gw.url, `[${call("admin_peers", "a")},${call("eth_chainId", "b")}]`);
            expect([partial.status, partial.json?.error?.code]).toEqual([502, -32603]);
            const text = await waitFor(
                "metrics flushed",
                async () => {
                    const t = await (await fetch(gw.metricsUrl)).text();
                    return metric(t, 'ethnode_gateway_requests_total{method="eth_chainId",outcome="upstream_error"}') === 21 ? t : undefined;
                },
                5000,
            );
            // Forwarded calls with a failed answer, not rejections: by method and outcome, with their wait and 5xx.
            expect(metric(text, 'ethnode_gateway_rejections_total{reason="upstream_error"}')).toBeNaN();
            expect(metric(text, 'ethnode_gateway_upstream_latency_seconds_count{backend="doomed"}')).toBe(21);
            expect(metric(text, 'ethnode_gateway_upstream_requests_total{code="5xx"}')).toBe(21);
            // Every admitted request's state was taken back on the error page's log phase.
            const inFlight = [...text.matchAll(/^ethnode_gateway_requests_in_flight\{worker="\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
            expect(inFlight.length).toBeGreaterThan(0);
            expect(inFlight.reduce((a, b) => a + b, 0)).toBe(0);
            expect(luaErrors(gw.errorLog())).toEqual([]);
        } finally {
            await gw.stop();
        }
    });
});

describe("rate limiting across 2 workers", () => {
    it("allows exactly the burst under 4x concurrency, then 429 with Retry-After and RateLimit headers", async () => {
        const gw = await startGateway({ backends, config: { ipRate: 1, ipBurst: 40 } });
        try {
            const results = await Promise.all(Array.from({ length: 160 }, () => post(gw.url, call("eth_chainId"))));
            const ok = results.filter((r) => r.status === 200).length;
            const limited = results.filter((r) => r.status === 429);
            expect(ok).toBe(40);
            expect(limited.length).toBe(120);
            const r = limited[0];
            expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
            expect(r.headers.get("ratelimit-limit")).toBe("40");
            expect(r.headers.get("ratelimit-remaining")).toBe("0");
            expect(r.json.error).toEqual({ code: -32005, message: "rate limit exceeded" });
            // By default the RateLimit-* headers ride on rejections only.
            expect(results.find((x) => x.status === 200)!.headers.get("ratelimit-limit")).toBeNull();
            expect(luaErrors(gw.errorLog())).toEqual([]);
        } finally {
            await gw.stop();
        }
    });

    it("with rateLimitHeaders: always, every answer says what is left", async () => {
        const gw = await startGateway({ backends, config: { ipRate: 1, ipBurst: 10, rateLimitHeaders: "always" } });
        try {
            const first = await post(gw.url, call("eth_chainId"));
            expect(first.status).toBe(200);
            expect(first.headers.get("ratelimit-limit")).toBe("10");
            expect(first.headers.get("ratelimit-remaining")).toBe("9");
            expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThanOrEqual(1);
            // eth_call weighs 2 by default.
            const second = await post(gw.url, call("eth_call", 2, [{ to: "0x0000000000000000000000000000000000000000" }, "latest"]));
            expect(second.status).toBe(200);
            expect(second.headers.get("ratelimit-remaining")).toBe("7");
        } finally {
            await gw.stop();
        }
    });

    it("counts every batch element and weighs methods", async () => {
        const gw = await startGateway({ backends, config: { ipRate: 1, ipBurst: 25, methodWeights: { eth_getLogs: 10 } } });
        try {
            const batch = `[${Array.from({ length: 10 }, (_, i) => call("eth_chainId", i)).join(",")}]`;
            expect((await post(gw.url, batch)).status).toBe(200);
            expect((await post(gw.url, batch)).status).toBe(200);
            const third = await post(gw.url, batch);
            expect(third.status).toBe(429);
            expect(third.json).toHaveLength(10);
            expect(third.json[0].error.code).toBe(-32005);
            // 20 used, 5 left: one eth_getLogs (weight 10) does not fit, five eth_chainId do.
            expect((await post(gw.url, call("eth_getLogs", 1, [{ fromBlock: "0x0", toBlock: "0x0" }]))).status).toBe(429);
            for (let i = 0; i < 5; i++) expect((await post(gw.url, call("eth_chainId"))).status).toBe(200);
            expect((await post(gw.url, call("eth_chainId"))).status).toBe(429);
        } finally {
            await gw.stop();
        }
    });

    it("with no API keys configured, ignores X-Api-Key (the address is limited) and refuses a key path", async () => {
        const gw = await startGateway({ backends, config: { ipRate: 1, ipBurst: 2 } });
        try {
            const keys = ["k1-0123456789abcdef", "k2-0123456789abcdef", "k3-0123456789abcdef"];
            expect(await statusesPer(gw.url, "x-api-key", keys)).toEqual([200, 200, 429]);
            // A key path that names nothing is refused, and costs the address like any refusal: spent, it is 429.
            expect((await post(`${gw.url}/k1-0123456789abcdef`, call("eth_chainId"))).status).toBe(429);
            expect(luaErrors(gw.errorLog())).toEqual([]);
        } finally {
            await gw.stop();
        }
    });

    it("ignores X-Forwarded-For from an untrusted peer, honours it from a trusted proxy", async () => {
        const untrusted = await startGateway({ backends, config: { ipRate: 1, ipBurst: 2 } });
        try {
            const ips = ["203.0.113.1", "203.0.113.2", "203.0.113.3"];
            expect(await statusesPer(untrusted.url, "x-forwarded-for", ips)).toEqual([200, 200, 429]);
        } finally {
            await untrusted.stop();
        }
        const trusted = await startGateway({ backends, config: { ipRate: 1, ipBurst: 2, trustedProxies: ["127.0.0.1/32"] } });
        try {
            const ips = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1", "203.0.113.1"];
            expect(await statusesPer(trusted.url, "x-forwarded-for", ips)).toEqual([200, 200, 200, 200, 429]);
        } finally {
            await trusted.stop();
        }
    });

    it("reloads a new limit by swapping workers, keeping the master", async () => {
        const gw = await startGateway({ backends, config: { ipRate: 1, ipBurst: 3, rateLimitHeaders: "always" } });
        try {
            const master = gw.proc.child.pid!;
            const before = workerPids(master);
            expect(before).toHaveLength(2);
            for (let i = 0; i < 3; i++) expect((await post(gw.url, call("eth_chainId"))).status).toBe(200);
            expect((await post(gw.url, call("eth_chainId"))).status).toBe(429);
            await gw.reload({ ipBurst: 50, rateLimitHeaders: "always" });
            await waitFor("new workers", async () => {
                const now = workerPids(master);
                return now.length === 2 && now.every((p) => !before.includes(p)) ? true : undefined;
            });
            expect(gw.proc.child.exitCode).toBeNull();
            const r = await post(gw.url, call("eth_chainId"));
            expect(r.status).toBe(200);
            expect(r.headers.get("ratelimit-limit")).toBe("50");
        } finally {
            await gw.stop();
        }
    });
});

describe("upstream health and failover", () => {
    it("excludes a backend whose head lags, and reports it on /health", async () => {
        const lagging = await startAnvil();
        const gw = await startGateway({
            backends: [backends[0], { name: "lagging", host: "127.0.0.1", port: lagging.rpcPort }],
            config: { maxLagBlocks: 3 },
        });
        try {
            // anvil jumps 50 blocks ahead: now geth is the one lagging.
            await rpc(lagging.url, "anvil_mine", ["0x32"]);
            await waitFor("lag detected", async () => {
                const h: any = await (await fetch(gw.healthUrl)).json();
                return h.backends.find((b: any) => b.name === "geth").state === "lagging" ? h : undefined;
            });
            const ids = await Promise.all(Array.from({ length: 20 }, () => post(gw.url, call("eth_chainId"))));
            expect(new Set(ids.map((r) => r.json.result))).toEqual(new Set(["0x7a69"]));
        } finally {
            await gw.stop();
            await lagging.proc.stop();
        }
    });

    it("retries an idempotent read on the other backend when one dies: no failed read", async () => {
        const doomed = await startAnvil(1);
        const gw = await startGateway({
            backends: [backends[0], { name: "doomed", host: "127.0.0.1", port: doomed.rpcPort }],
            config: { healthIntervalSec: 30, maxLagBlocks: 1000 },
        });
        try {
            await doomed.proc.stop("SIGKILL");
            // The health checker has not noticed yet (30 s interval): every read must be rescued by the retry.
            const results = await Promise.all(Array.from({ length: 40 }, (_, i) => post(gw.url, call("eth_blockNumber", i))));
            expect(results.filter((r) => r.status !== 200 || !r.json.result)).toEqual([]);
            expect(luaErrors(gw.errorLog())).toEqual([]);
        } finally {
            await gw.stop();
        }
    });

    it("on a node of several: prefers its own Geth, retries a cheap read that hangs on another node after fastReadTimeoutSec", async () => {
        // This node's "own" execution client answers the health probe (a batch) but hangs on every single call:
        // alive to the checker, stuck for its callers.
        const sockets: net.Socket[] = [];
        const hung = await new Promise<{ port: number; server: net.Server }>((resolve) => {
            const server = net.createServer((sock) => {
                sockets.push(sock);
                let buf = "";
                sock.on("data", (d) => {
                    buf += d.toString();
                    const sep = buf.indexOf("\r\n\r\n");
                    if (sep < 0) return;
                    const length = Number(/content-length: (\d+)/i.exec(buf)?.[1] ?? 0);
                    if (buf.length < sep + 4 + length) return;
                    const body = buf.slice(sep + 4, sep + 4 + length);
                    buf = "";
                    if (!body.startsWith("[")) return; // hang
                    const out = JSON.stringify([{ jsonrpc: "2.0", id: 1, result: false }, { jsonrpc: "2.0", id: 2, result: "0x1" }]);
                    sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${out.length}\r\nConnection: close\r\n\r\n${out}`);
                });
            });
            server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, server }));
        });
        const peerPort = await freePort();
        let gw: Gw | undefined;
        try {
            gw = await startGateway({
                backends: [{ name: "own", host: "127.0.0.1", port: hung.port, local: true }, { ...backends[0], name: "peer" }],
                config: { maxLagBlocks: 10000, fastReadTimeoutSec: 1, upstreamTimeoutSec: 4, peerPort },
                peers: ["127.0.0.2"],
            });
            const g = gw;
            await waitFor("both checked", async () => {
                const h: any = await (await fetch(g.healthUrl)).json();
                return h.backends.every((b: any) => b.state === "ok") ? h : undefined;
            });
            const timed = async (method: string, params: unknown[] = []) => {
                const t0 = Date.now();
                const r = await post(g.url, call(method, 7, params));
                return { ms: Date.now() - t0, status: r.status, result: r.json?.result };
            };
            // A cheap read: the own node first (it hangs), the peer after one second.
            const cheap = await Promise.all(Array.from({ length: 8 }, () => timed("eth_getBalance", ["0x000000000000000000000000000000000000dEaD", "latest"])));
            for (const r of cheap) {
                expect(r).toMatchObject({ status: 200, result: "0x0" });
                expect(r.ms).toBeGreaterThanOrEqual(900);
                expect(r.ms).toBeLessThan(3000);
            }
            // A heavier call (weight 2) gets the full upstream timeout before its retry.
            const heavy = await timed("eth_call", [{ to: "0x000000000000000000000000000000000000dEaD", data: "0x" }, "latest"]);
            expect(heavy.ms).toBeGreaterThanOrEqual(3900);
            // Only the other nodes reach the peer listener.
            expect((await postJson(`http://127.0.0.1:${peerPort}/`, call("eth_chainId"))).status).toBe(403);
            expect(luaErrors(g.errorLog())).toEqual([]);
        } finally {
            hung.server.close();
            for (const sock of sockets) sock.destroy();
            await gw?.stop();
        }
    });

    it("takes its own node out while its consensus client is not synced, and its peer listener refuses the other nodes", async () => {
        // A stand-in Beacon API whose /eth/v1/node/syncing answer the test sets.
        let answer: { status: number; body: string } = { status: 200, body: "" };
        const syncing = (is: boolean, elOffline = false) => ({
            status: 200,
            body: JSON.stringify({ data: { head_slot: "4321", sync_distance: is ? "900" : "0", is_syncing: is, is_optimistic: false, el_offline: elOffline } }),
        });
        answer = syncing(false);
        const asked: string[] = [];
        const beacon = await new Promise<{ port: number; server: http.Server }>((resolve) => {
            const server = http.createServer((req, res) => {
                asked.push(`${req.method} ${req.url}`);
                res.writeHead(answer.status, { "Content-Type": "application/json" });
                res.end(answer.body);
            });
            server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, server }));
        });
        const peerPort = await freePort();
        let gw: Gw | undefined;
        try {
            gw = await startGateway({
                backends: [{ ...backends[0], name: "own", local: true }, { ...backends[1], name: "peer" }],
                config: { maxLagBlocks: 10000, peerPort },
                peers: ["127.0.0.1"],
                consensusApi: { host: "127.0.0.1", port: beacon.port },
            });
            const g = gw;
            const health = async () => (await (await fetch(g.healthUrl)).json()) as any;
            const own = async (state: string) =>
                waitFor(`own ${state}`, async () => {
                    const h = await health();
                    return h.backends.find((b: any) => b.name === "own").state === state ? h : undefined;
                }, 10000);
            let h = await own("ok");
            expect(h.consensus).toEqual({ synced: true, head_slot: 4321 });
            expect(asked).toContain("GET /eth/v1/node/syncing");
            expect((await postJson(`http://127.0.0.1:${peerPort}/`, call("eth_chainId", 3))).status).toBe(200);
            for (const bad of [syncing(true), { status: 500, body: "{}" }]) {
                answer = bad;
                h = await own("consensus syncing");
                expect(h.consensus.synced).toBe(false);
                // The other nodes are refused, with a JSON-RPC error; clients of this gateway are served by its peer.
                const refused = await postJson(`http://127.0.0.1:${peerPort}/`, call("eth_chainId", 4));
                expect(refused.status).toBe(503);
                expect(refused.json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32603, message: "consensus client not synced" } });
                const served = await post(g.url, call("eth_chainId", 5));
                expect(served.status).toBe(200);
                answer = syncing(false);
                await own("ok");
            }
            expect((await fetch(`${g.metricsUrl}`).then((r) => r.text())).match(/^ethnode_gateway_consensus_synced 1$/m)).not.toBeNull();
            expect(luaErrors(g.errorLog())).toEqual([]);
        } finally {
            beacon.server.close();
            await gw?.stop();
        }
    });

    it("answers 503 with a JSON-RPC error when no backend is healthy, and /health turns 503", async () => {
        const a = await startAnvil(1);
        const gw = await startGateway({ backends: [{ name: "only", host: "127.0.0.1", port: a.rpcPort }] });
        try {
            await a.proc.stop("SIGKILL");
            await waitFor("unhealthy", async () => ((await fetch(gw.healthUrl)).status === 503 ? true : undefined));
            // Workers re-read the health state at most every 200 ms.
            const r = await waitFor("503", async () => {
                const x = await post(gw.url, call("eth_chainId", 42));
                return x.status === 503 ? x : undefined;
            }, 3000);
            expect(r.json).toEqual({ jsonrpc: "2.0", id: 42, error: { code: -32603, message: "no healthy upstream" } });
        } finally {
            await gw.stop();
        }
    });
});

describe("TLS on the public port (gateway.tls)", () => {
    let gw: Gw;
    let stop: () => Promise<void>;
    let ca: string;
    beforeAll(async () => {
        const dir = tmpDir("tls");
        fs.chmodSync(dir, 0o755);
        const certificate = path.join(dir, "certificate.pem");
        const key = path.join(dir, "key.pem");
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate], { stdio: "ignore" });
        fs.chmodSync(key, 0o644); // the test workers run as nobody
        ca = fs.readFileSync(certificate, "utf8");
        ({ gw, stop } = await anvilGateway({ tls: true }, { certificate, key }));
    });
    afterAll(() => stop());

    function httpsPost(body: string): Promise<{ status: number; text: string; protocol: string }> {
        return new Promise((resolve, reject) => {
            const req = https.request(gw.url, { method: "POST", ca, headers: { "content-type": "application/json" } }, (res) => {
                const protocol = (res.socket as tls.TLSSocket).getProtocol() ?? "";
                let text = "";
                res.on("data", (d) => (text += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, text, protocol }));
            });
            req.on("error", reject);
            req.end(body);
        });
    }

    it("answers JSON-RPC over TLS 1.3 with the configured certificate", async () => {
        const r = await httpsPost('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}');
        expect(r).toEqual({ status: 200, text: expect.stringContaining('"result":"0x7a69"'), protocol: "TLSv1.3" });
    });

    it("serves WebSocket over TLS (wss) under the same policy", async () => {
        const ws = new WebSocket(`${gw.url.replace(/^https/, "wss")}/ws`, { ca });
        await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
        const ask = (body: string) => new Promise<string>((resolve) => (ws.once("message", (d) => resolve(d.toString())), ws.send(body)));
        expect(JSON.parse(await ask('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')).result).toBe("0x7a69");
        expect(JSON.parse(await ask('{"jsonrpc":"2.0","id":2,"method":"anvil_mine"}')).error.code).toBe(-32601);
        ws.terminate();
    });

    it("refuses TLS 1.1 and plain HTTP", async () => {
        const old = spawnSync("openssl", ["s_client", "-connect", `127.0.0.1:${gw.port}`, "-tls1_1"], { input: "", encoding: "utf8", timeout: 10000 });
        expect(old.status).not.toBe(0);
        const tls12 = spawnSync("openssl", ["s_client", "-connect", `127.0.0.1:${gw.port}`, "-tls1_2"], { input: "", encoding: "utf8", timeout: 10000 });
        expect(tls12.stdout).toMatch(/Cipher is ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
        const plain = await fetch(`http://127.0.0.1:${gw.port}/`, { method: "POST", body: "{}" });
        expect(plain.status).toBe(400);
        await plain.text();
    });
});

/** A raw HTTP exchange (what fetch refuses to send): the status and the body. */
function rawHttp(port: number, request: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => s.write(request));
        let data = "";
        // Done as soon as the answer is whole (nginx may keep reading a refused body before it closes).
        const whole = (): { status: number; body: string } | undefined => {
            const sep = data.indexOf("\r\n\r\n");
            if (sep < 0) return undefined;
            const head = data.slice(0, sep);
            const rest = data.slice(sep + 4);
            const status = Number(head.split(" ")[1]);
            if (/^transfer-encoding: chunked$/im.test(head)) {
                let out = "";
                for (let at = 0; ; ) {
                    const eol = rest.indexOf("\r\n", at);
                    if (eol < 0) return undefined;
                    const size = parseInt(rest.slice(at, eol), 16);
                    if (size === 0) return { status, body: out };
                    if (rest.length < eol + 2 + size + 2) return undefined;
                    out += rest.slice(eol + 2, eol + 2 + size);
                    at = eol + 2 + size + 2;
                }
            }
            const length = Number(/^content-length: (\d+)$/im.exec(head)?.[1] ?? NaN);
            return rest.length >= length ? { status, body: rest.slice(0, length) } : undefined;
        };
        s.on("data", (d) => {
            data += d.toString("latin1");
            const r = whole();
            if (r) {
                s.destroy();
                resolve(r);
            }
        });
        s.on("end", () => resolve(whole() ?? { status: Number(data.split(" ")[1]), body: data.split("\r\n\r\n").slice(1).join("\r\n\r\n") }));
        s.on("error", reject);
    });
}

describe("every answer of the gateway's own is JSON-RPC; backends see '/'", () => {
    let gw: Gw;
    beforeAll(async () => {
        // Geth alone: it answers 404 on any path but "/", so a path that reached it unchanged would show.
        gw = await startGateway({ backends: [{ name: "geth", host: "127.0.0.1", port: geth.rpcPort }], config: { maxBodyBytes: 4096, ipRate: 100000, ipBurst: 100000 } });
    });
    afterAll(() => gw.stop());

    it("400, 404, 405, 413, 414, 415 and 501 carry a JSON-RPC error with the JSON content type", async () => {
        const body = call("eth_chainId");
        const cases: [string, string, number, number][] = [
            ["a request line nginx cannot read", "GARBAGE\r\n\r\n", 400, -32600],
            ["a path off the API", `POST /nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 404, -32600],
            ["a GET", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, -32600],
            ["a body past maxBodyBytes", `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n${"x".repeat(5000)}`, 413, -32600],
            ["a URI past nginx's buffers", `POST /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, -32600],
            ["a content type geth refuses", `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 415, -32600],
            ["no content type", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 415, -32600],
            ["a transfer coding nginx does not implement", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", 501, -32600],
        ];
        for (const [what, request, status, code] of cases) {
            const r = await rawHttp(gw.port, request);
            expect({ what, status: r.status }).toEqual({ what, status });
            expect({ what, error: JSON.parse(r.body).error.code }).toEqual({ what, error: code });
        }
        // The JSON-RPC media types geth takes pass, parameters and case aside.
        for (const type of ["application/json; charset=utf-8", "Application/JSON", "application/json-rpc", "application/jsonrequest"]) {
            expect((await post(gw.url, body, { "content-type": type })).json.result).toBe("0x539");
        }
        expect(luaErrors(gw.errorLog())).toEqual([]);
    });

    it("sends '/' to the backend whatever path nginx normalizes to '/'", async () => {
        for (const p of ["//", "/%2e/", "/ws/../", "/./", "/?x=1", "//?a=b"]) {
            const r = await rawHttp(gw.port, `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${call("eth_chainId").length}\r\nConnection: close\r\n\r\n${call("eth_chainId")}`);
            expect({ p, status: r.status, result: JSON.parse(r.body).result }).toEqual({ p, status: 200, result: "0x539" });
        }
    });
});

describe("refused work is charged, never given back", () => {
    let gw: Gw;
    const KEYS = { "good-key-0123456789abcdef": { name: "good", rate: 100, burst: 100 } };
    beforeAll(async () => {
        gw = await startGateway({
            backends: [{ name: "geth", host: "127.0.0.1", port: geth.rpcPort }],
            config: { maxBodyBytes: 4096, ipRate: 1, ipBurst: 20, trustedProxies: ["127.0.0.1/32"] },
            apiKeys: KEYS,
        });
    });
    afterAll(() => gw.stop());
    const from = (ip: string, extra: Record<string, string> = {}) => ({ "x-forwarded-for": ip, ...extra });

    it("a body over the limit costs a unit per 16 KiB announced, capped at the bucket: one huge 413 empties it", async () => {
        const huge = await rawHttp(gw.port, `POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.7.0.1\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n`);
        expect(huge.status).toBe(413);
        const next = await post(gw.url, call("eth_chainId", 7), from("10.7.0.1"));
        expect(next.status).toBe(429);
        expect(next.json).toEqual({ jsonrpc: "2.0", id: 7, error: { code: -32005, message: "rate limit exceeded" } });
        // Once spent, the 413s themselves are 429s: 2,000 oversized bodies are not 2,000 free refusals.
        const again = await rawHttp(gw.port, `POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.7.0.1\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n`);
        expect(again.status).toBe(429);
    });

    it("wrong keys cost their address: guessing ends in 429, the right key and other addresses unaffected", async () => {
        const codes: number[] = [];
        for (let i = 0; i < 40; i++) codes.push((await post(gw.url, call("eth_chainId"), from("10.7.0.2", { "x-api-key": `guess-${i}-000000000000` }))).status);
        expect(codes.slice(0, 20)).toEqual(Array(20).fill(401));
        expect(codes.slice(20).every((c) => c === 429)).toBe(true);
        const path = await post(`${gw.url}/guess-path-0123456789abcdef`, call("eth_chainId"), from("10.7.0.2"));
        expect(path.status).toBe(429);
        expect((await post(gw.url, call("eth_chainId"), from("10.7.0.2", { "x-api-key": "good-key-0123456789abcdef" }))).status).toBe(200);
        expect((await post(gw.url, call("eth_chainId"), from("10.7.0.3"))).status).toBe(200);
    });

    it("a denied call answered with 429 carries its own id", async () => {
        for (let i = 0; i < 20; i++) await post(gw.url, call("admin_peers", i), from("10.7.0.4"));
        const r = await post(gw.url, call("admin_peers", "abc"), from("10.7.0.4"));
        expect(r.status).toBe(429);
        expect(r.json).toEqual({ jsonrpc: "2.0", id: "abc", error: { code: -32005, message: "rate limit exceeded" } });
        const batch = await post(gw.url, `[${call("admin_peers", 1)},${call("debug_x", "b")}]`, from("10.7.0.4"));
        expect(batch.status).toBe(429);
        expect(batch.json.map((a: { id: unknown }) => a.id)).toEqual([1, "b"]);
    });
});
