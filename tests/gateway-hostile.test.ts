/**
 * Abuse: hundreds of hostile bodies and a seeded random fuzz loop against the real gateway. Whatever comes
 * in, the gateway answers with a 2xx/4xx of its own (never a 5xx), logs no Lua error, and keeps serving.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { Gw, anvilGateway, luaErrors, startGateway, workerPids } from "./helpers/gateway";
import { Node, startAnvil } from "./helpers/nodes";
import { VALID, hostileBodies, mutations } from "./helpers/hostile";
import { waitFor } from "./helpers/proc";

jest.setTimeout(120000);

async function send(url: string, body: string | Buffer, contentType = "application/json") {
    const res = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body });
    return { status: res.status, text: await res.text() };
}

/** Sends a request whose body arrives slowly: `chunks` pieces with `delayMs` between them. */
function slowPost(port: number, body: string, chunks: number, delayMs: number, stallAfter?: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", async () => {
            s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
            const size = Math.ceil(body.length / chunks);
            for (let i = 0; i < chunks; i++) {
                if (stallAfter !== undefined && i >= stallAfter) break;
                s.write(body.slice(i * size, (i + 1) * size));
                await new Promise((r) => setTimeout(r, delayMs));
            }
        });
        let data = "";
        s.on("data", (d) => (data += d.toString()));
        // 0: the gateway closed the connection without an answer (nginx drops a stalled client).
        s.on("end", () => resolve(data ? Number(data.split(" ")[1]) : 0));
        s.on("error", reject);
    });
}

describe("hostile input", () => {
    let gw: Gw;
    let stop: () => Promise<void>;
    beforeAll(async () => {
        ({ gw, stop } = await anvilGateway({ ipRate: 1000000, ipBurst: 1000000, maxBatchSize: 100, maxBodyBytes: 65536, bodyTimeoutSec: 2 }));
    });
    afterAll(() => stop());

    it("answers at least 200 hostile bodies with a 2xx/4xx of its own", async () => {
        const bodies = hostileBodies(65536);
        expect(bodies.length).toBeGreaterThanOrEqual(200);
        const bad: string[] = [];
        for (const b of bodies) {
            const r = await send(gw.url, b);
            if (r.status >= 500) bad.push(`${r.status} ${String(b).slice(0, 80)} -> ${r.text.slice(0, 120)}`);
            if (r.status >= 400 && r.status !== 404) JSON.parse(r.text); // our errors are JSON-RPC
        }
        expect(bad).toEqual([]);
        expect(luaErrors(gw.errorLog())).toEqual([]);
    });

    it("survives a seeded random fuzz loop (byte flips, insertions, deletions)", async () => {
        const seeds = [VALID, `[${VALID},${VALID}]`, '{"jsonrpc":"2.0","id":"a","method":"eth_getLogs","params":[{"fromBlock":"0x1","toBlock":"0x2"}]}'];
        const bad: string[] = [];
        for (const [i, body] of mutations(seeds, 400, 20261122).entries()) {
            const r = await send(gw.url, body);
            if (r.status >= 500) bad.push(`${i}: ${r.status} ${body}`);
        }
        expect(bad).toEqual([]);
        expect(luaErrors(gw.errorLog())).toEqual([]);
    });

    it("serves a slow but complete body, and drops a stalled one after bodyTimeoutSec", async () => {
        expect(await slowPost(gw.port, VALID, 5, 200)).toBe(200);
        const started = Date.now();
        expect(await slowPost(gw.port, VALID, 5, 100, 2)).toBe(0);
        const took = Date.now() - started;
        expect(took).toBeGreaterThanOrEqual(1900);
        expect(took).toBeLessThan(6000);
    });

    it("drops a body trickled steadily (never a whole client_body_timeout apart) once bodyTimeoutSec has passed in total", async () => {
        const started = Date.now();
        // 60 pieces 250 ms apart: 15 s if allowed; bodyTimeoutSec is 2.
        expect(await slowPost(gw.port, VALID, 60, 250)).toBe(0);
        const took = Date.now() - started;
        expect(took).toBeGreaterThanOrEqual(1900);
        expect(took).toBeLessThan(4000);
    });

    it("keeps serving valid requests afterwards", async () => {
        const r = await send(gw.url, VALID);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.text).result).toBe("0x7a69");
        expect(luaErrors(gw.errorLog())).toEqual([]);
    });
});

/** Every answer the gateway writes itself: JSON with its content type, the right code, the id as sent. */
describe("answers the gateway writes itself", () => {
    let upstream: Node;
    let gw: Gw;
    let tight: Gw;
    beforeAll(async () => {
        upstream = await startAnvil();
        const backends = [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }];
        gw = await startGateway({ backends, config: { ipRate: 1000000, ipBurst: 1000000 } });
        tight = await startGateway({ backends, config: { ipRate: 1, ipBurst: 1 } });
    });
    afterAll(async () => {
        await gw.stop();
        await tight.stop();
        await upstream.proc.stop();
    });

    async function answer(url: string, body: string) {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
        const text = await res.text();
        expect(res.headers.get("content-type")).toBe("application/json");
        return { status: res.status, text, json: JSON.parse(text) };
    }

    it("calls what JSON cannot hold a parse error (-32700, id null): empty, NaN, Infinity, hex, 1e400", async () => {
        const bodies = ["", " \n", "NaN", "Infinity", "-Infinity", "[NaN]", "0x1", '{"jsonrpc":"2.0","id":0x1,"method":"eth_chainId"}'];
        for (const id of ["1e400", "-1e400", "1e999"]) bodies.push(`{"jsonrpc":"2.0","id":${id},"method":"eth_chainId"}`, `{"jsonrpc":"2.0","id":${id},"method":"admin_peers"}`);
        for (const b of bodies) {
            const r = await answer(gw.url, b);
            expect({ body: b, status: r.status, code: r.json.error.code, id: r.json.id }).toEqual({ body: b, status: 400, code: -32700, id: null });
        }
    });

    const IDS = ["123456789012345", "12345678901234567890", "1.5", "-7", "1e2", "0.1", "-0", '"é"', '"\\u00e9\\"x"', '"\\ud83e\\udd84"'];

    it("echoes the id byte for byte on a denial and an invalid request", async () => {
        for (const id of IDS) {
            const denied = await answer(gw.url, `{"jsonrpc":"2.0","id":${id},"method":"admin_peers"}`);
            expect(denied.json.error.code).toBe(-32601);
            expect(denied.text).toContain(`"id":${id},`);
            const invalid = await answer(gw.url, `{"jsonrpc":"1.0","id":${id},"method":"eth_chainId"}`);
            expect(invalid.status).toBe(400);
            expect(invalid.json.error.code).toBe(-32600);
            expect(invalid.text).toContain(`"id":${id},`);
        }
    });

    it("echoes the id byte for byte on a rate-limited call", async () => {
        const seen: string[] = [];
        for (const id of IDS) {
            const r = await answer(tight.url, `{"jsonrpc":"2.0","id":${id},"method":"eth_chainId"}`);
            if (r.status === 429) {
                expect(r.json.error.code).toBe(-32005);
                expect(r.text).toContain(`"id":${id},`);
                seen.push(id);
            }
        }
        expect(seen.length).toBeGreaterThanOrEqual(IDS.length - 2);
    });

    it("echoes every id byte for byte in a batch answered here alone, and in a batch's 429", async () => {
        const batch = (method: string) => `[${IDS.map((id) => `{"jsonrpc":"2.0","id":${id},"method":"${method}"}`).join(",")}]`;
        const denied = await answer(gw.url, batch("admin_peers"));
        expect(denied.status).toBe(200);
        expect(denied.text).toBe(`[${IDS.map((id) => `{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"method not allowed: admin_peers"}}`).join(",")}]`);
        // The tight gateway's burst of 1 is spent by the calls before: the whole batch is 429.
        const limited = await answer(tight.url, batch("eth_chainId"));
        expect(limited.status).toBe(429);
        expect(limited.text).toBe(`[${IDS.map((id) => `{"jsonrpc":"2.0","id":${id},"error":{"code":-32005,"message":"rate limit exceeded"}}`).join(",")}]`);
    });

    it("answers a batch element whose params hold 1e999 in its place (never drops it), and the rest in order", async () => {
        const r = await answer(
            gw.url,
            '[{"jsonrpc":"2.0","id":1,"method":"admin_peers"},{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000000",1e999]},{"jsonrpc":"2.0","id":3,"method":"eth_chainId"}]',
        );
        expect(r.status).toBe(200);
        expect(r.json.map((a: any) => a.id)).toEqual([1, 2, 3]);
        expect(r.json[0].error.code).toBe(-32601);
        expect(r.json[1].error.code).toBeLessThan(0);
        expect(r.json[2].result).toBe("0x7a69");
    });

    it("forwards a mixed batch's elements as sent and splices the answers back as bytes: ids, [] and order kept", async () => {
        // Past 14 significant digits (cjson re-encodes those) yet within anvil's u64 ids.
        const big = "1234567890123456";
        const r = await answer(
            gw.url,
            `[{"jsonrpc":"2.0","id":${big},"method":"admin_peers"},` +
                `{"jsonrpc":"2.0","id":${big}1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"0x0","topics":[]}]},` +
                `{"jsonrpc":"2.0","id":"\\u00e9","method":"eth_chainId","params":[]},` +
                `{"jsonrpc":"2.0","id":1.50,"method":"debug_traceCall"}]`,
        );
        const first = `[{"jsonrpc":"2.0","id":${big},"error":{"code":-32601,"message"`;
        expect({ status: r.status, text: r.text.slice(0, first.length) }).toEqual({ status: 200, text: first });
        expect(r.text).toMatch(new RegExp(`"id":${big}1,"result":\\[\\]`));
        // Anvil writes this id back as "é" (geth echoes it as sent): matched by value, passed on as the backend wrote it.
        expect(r.text).toMatch(/"id":"(\\u00e9|é)","result":"0x7a69"/);
        expect(r.text).toContain('"id":1.50,"error":');
        expect(r.json.map((a: any) => a.error?.code ?? a.result)).toEqual([-32601, [], "0x7a69", -32601]);
    });

    it("says only up or down on the public /health; the details stay on the loopback metrics port", async () => {
        const pub = await fetch(`${gw.url}/health`);
        expect(pub.status).toBe(200);
        expect(await pub.text()).toBe('{"status":"up"}');
        const detail: any = await (await fetch(gw.healthUrl)).json();
        expect(detail.backends.map((b: any) => b.name)).toEqual(["anvil"]);
    });

    it("writes an API key sent as the path as /<key> in the access log", async () => {
        const key = "path-key-0123456789abcdef";
        const r = await fetch(`${gw.url}/${key}?x=1`, { method: "POST", headers: { "content-type": "application/json" }, body: VALID });
        expect(r.status).toBe(401);
        const log = await waitFor("access log flushed", async () => {
            const text = fs.readFileSync(path.join(gw.prefix, "logs", "access.log"), "utf8");
            return text.includes("/<key>") ? text : undefined;
        }, 5000);
        // Nothing after the key either: a query is the client's text.
        expect(log).toContain('"POST /<key> HTTP/1.1" 401');
        expect(log).not.toContain(key);
    });
});

/** Refusing work is work: junk, denied and oversized calls cost the caller until it gets 429. */
describe("refused work costs the caller", () => {
    let gw: Gw;
    let stop: () => Promise<void>;
    beforeAll(async () => {
        // Clients told apart by X-Forwarded-For, as behind a load balancer.
        ({ gw, stop } = await anvilGateway({ ipRate: 5, ipBurst: 50, trustedProxies: ["127.0.0.1/32"] }));
    });
    afterAll(() => stop());

    async function statuses(client: string, bodies: string[]): Promise<number[]> {
        const out: number[] = [];
        for (const body of bodies) {
            const r = await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": client }, body });
            await r.text();
            out.push(r.status);
        }
        return out;
    }
    const count = (xs: number[], s: number) => xs.filter((x) => x === s).length;

    it("a flood of denied calls reaches 429 once the burst is spent", async () => {
        const s = await statuses("10.1.0.1", Array.from({ length: 120 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"admin_peers"}`));
        expect(count(s, 200)).toBeLessThanOrEqual(55);
        expect(count(s, 429)).toBeGreaterThanOrEqual(65);
    });

    it("junk costs by its size (a unit per started 16 KiB): the second 512 KiB of garbage is already 429", async () => {
        const big = await statuses("10.1.0.2", Array.from({ length: 5 }, () => "x".repeat(512 * 1024)));
        expect(big).toEqual([400, 429, 429, 429, 429]);
        const small = await statuses("10.1.0.3", Array.from({ length: 80 }, () => "{not json"));
        expect(count(small, 400)).toBeLessThanOrEqual(55);
        expect(count(small, 429)).toBeGreaterThanOrEqual(25);
        expect(count([...big, ...small], 500) + count([...big, ...small], 502)).toBe(0);
    });

    it("a batch's refused elements count too", async () => {
        const batch = `[${Array.from({ length: 30 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"debug_traceCall"}`).join(",")}]`;
        expect(await statuses("10.1.0.4", [batch, batch, batch])).toEqual([200, 429, 429]);
    });

    it("leaves every other client served", async () => {
        expect(await statuses("10.1.0.9", Array.from({ length: 10 }, () => VALID))).toEqual(Array(10).fill(200));
    });

    it("checks a log filter's range like eth_getLogs", async () => {
        const r = await fetch(gw.url, {
            method: "POST",
            headers: { "content-type": "application/json", "x-forwarded-for": "10.1.0.10" },
            body: '{"jsonrpc":"2.0","id":1,"method":"eth_newFilter","params":[{"fromBlock":"0x0","toBlock":"0x2710"}]}',
        });
        expect(((await r.json()) as any).error).toEqual({ code: -32602, message: "eth_newFilter block range of 10001 exceeds the limit of 10000" });
    });
});

/** Slow bodies: what one address can hold open, and what a held connection costs in memory. */
describe("slow bodies are bounded per address and in memory", () => {
    let upstream: Node;

    beforeAll(async () => {
        upstream = await startAnvil();
    });
    afterAll(async () => {
        await upstream.proc.stop();
    });

    /** Opens `n` connections that announce a 1 MiB body and send `sent` bytes of it; returns them and any answers. */
    async function holdSlowBodies(port: number, n: number, sent = 10) {
        const answers: string[] = [];
        const sockets = await Promise.all(
            Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
                const s = net.connect(port, "127.0.0.1", () => {
                    s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n${"[".repeat(sent)}`);
                    resolve(s);
                });
                s.on("data", (d) => answers.push(d.toString()));
                s.on("error", reject);
            })),
        );
        await new Promise((r) => setTimeout(r, 500));
        return { sockets, answers };
    }

    const rssKb = (pids: number[]) =>
        pids.reduce((sum, pid) => sum + Number(fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m)![1]), 0);

    it("answers 429 to an address past maxConnsPerIp at once, and serves it again when its requests end", async () => {
        const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config: { maxConnsPerIp: 10, bodyTimeoutSec: 30 } });
        try {
            const held = await holdSlowBodies(gw.port, 10);
            const r = await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: VALID });
            expect(r.status).toBe(429);
            expect(((await r.json()) as any).error).toEqual({ code: -32005, message: "too many requests in progress from this address" });
            for (const s of held.sockets) s.destroy();
            const ok = await waitFor("served again", async () => {
                const again = await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: VALID });
                return again.status === 200 ? again.status : undefined;
            }, 5000);
            expect(ok).toBe(200);
        } finally {
            await gw.stop();
        }
    });

    it("holds 16 KiB in memory per slow body, not what it sent: 100 stalled after 900 KiB stay under 20 MB of worker memory", async () => {
        // A burst past the 100 bodies: each one abandoned costs its address a unit, like any refused work.
        const gw = await startGateway({
            backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }],
            config: { maxConnsPerIp: 60000, bodyTimeoutSec: 30, ipRate: 1000, ipBurst: 1000 },
        });
        try {
            const workers = workerPids(gw.proc.child.pid!);
            const before = rssKb(workers);
            const held = await holdSlowBodies(gw.port, 100, 900 * 1024);
            const grown = rssKb(workers) - before;
            console.log(`100 bodies stalled after 900 KiB of 1 MiB: gateway workers grew ${(grown / 1024).toFixed(1)} MB`);
            expect(grown).toBeLessThan(20 * 1024);
            expect(held.answers).toEqual([]);
            for (const s of held.sockets) s.destroy();
            const r = await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: VALID });
            expect(r.status).toBe(200);
        } finally {
            await gw.stop();
        }
    });

    it("answers 429 before reading a large body from an address already over its limit, and closes the connection", async () => {
        const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config: { ipRate: 1, ipBurst: 2 } });
        try {
            for (let i = 0; i < 2; i++) expect((await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: VALID })).status).toBe(200);
            // 1 MiB announced, 1 KiB sent: the answer comes without the rest, and the connection ends.
            const held = await holdSlowBodies(gw.port, 1, 1024);
            await waitFor("429", async () => (held.answers.join("").includes("429") ? true : undefined), 3000);
            expect(held.answers.join("")).toMatch(/^HTTP\/1\.1 429 [\s\S]*"code":-32005/);
            await waitFor("closed", async () => (held.sockets[0].readableEnded || held.sockets[0].destroyed ? true : undefined), 3000);
        } finally {
            await gw.stop();
        }
    });

    it("lets a client still sending its large body read its 429: the rest is read and dropped, then the connection ends, never reset", async () => {
        const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config: { ipRate: 1, ipBurst: 2 } });
        try {
            for (let i = 0; i < 2; i++) expect((await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: VALID })).status).toBe(200);
            // 1 MiB in 64 KiB pieces 20 ms apart: the answer comes after the first, the writes go on past it.
            const sent = await new Promise<{ answer: string; errors: string[]; wrote: number; end: string }>((resolve) => {
                const out = { answer: "", errors: [] as string[], wrote: 0, end: "" };
                const s = net.connect(gw.port, "127.0.0.1", async () => {
                    s.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n");
                    for (let i = 0; i < 16 && !s.destroyed; i++) {
                        await new Promise<void>((done) => s.write("[".repeat(65536), () => done()));
                        out.wrote += 65536;
                        await new Promise((r) => setTimeout(r, 20));
                    }
                });
                s.on("data", (d) => (out.answer += d.toString()));
                s.on("error", (e) => out.errors.push((e as NodeJS.ErrnoException).code ?? e.message));
                s.on("end", () => (out.end = "fin"));
                const giveUp = setTimeout(() => s.end(), 5000);
                s.on("close", () => {
                    clearTimeout(giveUp);
                    resolve(out);
                });
            });
            expect(sent.answer).toMatch(/^HTTP\/1\.1 429 [\s\S]*[Cc]onnection: close[\s\S]*"code":-32005/);
            expect({ errors: sent.errors, wrote: sent.wrote, end: sent.end }).toEqual({ errors: [], wrote: 1048576, end: "fin" });
        } finally {
            await gw.stop();
        }
    });

    it("still serves a large body (written to a temp file past the buffer) in full", async () => {
        const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config: { ipRate: 1000000, ipBurst: 1000000 } });
        try {
            const batch = `[${Array.from({ length: 90 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"eth_chainId","params":[],"pad":"${"p".repeat(300)}"}`).join(",")}]`;
            expect(batch.length).toBeGreaterThan(16384);
            const r = await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json" }, body: batch });
            expect({ status: r.status, errors: gw.errorLog().split("\n").filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)) }).toEqual({ status: 200, errors: [] });
            expect(((await r.json()) as any[]).map((a) => a.id)).toEqual(Array.from({ length: 90 }, (_, i) => i));
        } finally {
            await gw.stop();
        }
    });
});

/** No API key in any log the gateway or nginx writes, whatever a keyed client does and however it ends. */
describe("API keys never reach a log", () => {
    const KEYS = { "key-one-0123456789abcdefXYZ": { name: "one", rate: 2, burst: 4 }, "key_two-ABCDEFGHIJKLMNOPQRST": { name: "two", rate: 1000, burst: 1000 } };
    let gw: Gw;
    let upstream: Node;
    beforeAll(async () => {
        upstream = await startAnvil();
        gw = await startGateway({
            backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }],
            config: { maxBodyBytes: 65536, bodyTimeoutSec: 2, ipRate: 1000, ipBurst: 1000, maxBatchSize: 3 },
            apiKeys: KEYS,
        });
    });
    afterAll(async () => {
        await gw.stop();
        await upstream.proc.stop();
    });

    it("in the access log, error.log or the journal: by path or header, on 200/401/404/405/413/414/415/429, any body size, WebSocket", async () => {
        const [one, two] = Object.keys(KEYS);
        const bodies = [VALID, "x".repeat(20000), "y".repeat(70000), `[${VALID},${VALID},${VALID},${VALID}]`, "{bad", ""];
        for (const key of [one, two]) {
            for (const body of bodies) {
                for (const target of [`/${key}`, `/${key}?q=${key}`, `/${key}/`, `/x/${key}`, `//${key}`, `/ws/${key}`]) {
                    await send(`${gw.url}${target}`, body);
                    await send(`${gw.url}${target}`, body, "text/plain");
                    await fetch(`${gw.url}${target}`);
                }
                const headerSets: Record<string, string>[] = [{ "x-api-key": key, referer: `https://x/${key}` }, { referer: `https://${key}.example/` }, { "user-agent": `client/1.0 ${key}`, authorization: `Basic ${Buffer.from(`${key}:x`).toString("base64")}` }];
                for (const headers of headerSets) {
                    await (await fetch(gw.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body })).text();
                }
            }
            // A URI past nginx's buffers, and a slow body, both keyed.
            await slowPost(gw.port, VALID, 3, 1500).catch(() => 0);
            await fetch(`${gw.url}/${key}${"a".repeat(9000)}`, { method: "POST", body: VALID }).then((r) => r.text()).catch(() => "");
            const ws = await fetch(`${gw.url}/ws/${key}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } }).catch(() => undefined);
            await ws?.text().catch(() => "");
        }
        // The access log is buffered for a second.
        await new Promise((r) => setTimeout(r, 1500));
        const logs = ["access.log", "error.log", "stdout.log"].map((f) => [f, fs.readFileSync(path.join(gw.prefix, "logs", f), "utf8")] as const);
        expect(logs[0][1].split("\n").length).toBeGreaterThan(100);
        for (const [file, text] of logs) {
            for (const key of [one, two]) expect({ file, key, found: text.includes(key) }).toEqual({ file, key, found: false });
        }
    });
});
