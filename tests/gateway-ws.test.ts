/**
 * WebSocket through the real gateway (Debian nginx + lua) to geth --dev, with the `ws` client: every message
 * meets the same policy as an HTTP body (allow-list, denied namespaces, log ranges, batch limits, the caller's
 * rate limit, byte-exact ids), subscriptions keep working, and the protocol's own abuse (unmasked, oversized,
 * trickled frames, idle sessions) closes the session with the right code without touching anyone else's.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import WebSocket from "ws";
import { Gw, luaErrors, startGateway } from "./helpers/gateway";
import { hostileBodies, mutations } from "./helpers/hostile";
import { Node, startAnvil, startGethDev } from "./helpers/nodes";
import { waitFor } from "./helpers/proc";

jest.setTimeout(120000);

/** A connected client that queues what it receives, as text. */
class Client {
    readonly messages: string[] = [];
    private waiters: (() => void)[] = [];
    closed?: { code: number; reason: string };
    private constructor(readonly socket: WebSocket) {
        socket.on("message", (data) => {
            this.messages.push(data.toString());
            this.waiters.splice(0).forEach((w) => w());
        });
        socket.on("close", (code, reason) => {
            this.closed = { code, reason: reason.toString() };
            this.waiters.splice(0).forEach((w) => w());
        });
    }

    static open(url: string, headers: Record<string, string> = {}): Promise<Client> {
        return new Promise((resolve, reject) => {
            const socket = new WebSocket(url, { headers });
            socket.once("open", () => resolve(new Client(socket)));
            socket.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
            socket.once("error", reject);
        });
    }

    /** The next message, waiting up to `ms`. */
    async next(ms = 5000): Promise<string> {
        const deadline = Date.now() + ms;
        while (this.messages.length === 0) {
            if (this.closed) throw new Error(`closed ${this.closed.code} ${this.closed.reason}`);
            if (Date.now() > deadline) throw new Error("no message");
            await new Promise<void>((r) => {
                this.waiters.push(r);
                setTimeout(r, 100);
            });
        }
        return this.messages.shift()!;
    }

    async call(body: string): Promise<string> {
        this.socket.send(body);
        return this.next();
    }

    async closedWith(ms: number): Promise<{ code: number; reason: string }> {
        await waitFor("close", async () => this.closed, ms);
        return this.closed!;
    }

    close(): void {
        this.socket.terminate();
    }
}

const call = (method: string, id: unknown = 1, params: unknown[] = []) => JSON.stringify({ jsonrpc: "2.0", id, method, params });

let geth: Node;
let gw: Gw;
let wsUrl: string;

beforeAll(async () => {
    geth = await startGethDev();
    gw = await startGateway({
        backends: [{ name: "geth", host: "127.0.0.1", port: geth.rpcPort }],
        wsUpstream: { host: "127.0.0.1", port: geth.wsPort },
        config: { getLogsMaxRange: 10, maxBatchSize: 20, ipRate: 100000, ipBurst: 100000, maxBodyBytes: 65536, bodyTimeoutSec: 2 },
        apiKeys: { "slow-key-0000000000000000": { name: "slow", rate: 1, burst: 3 } },
    });
    wsUrl = gw.url.replace(/^http/, "ws") + "/ws";
});

afterAll(async () => {
    expect(luaErrors(gw.errorLog())).toEqual([]);
    await gw.stop();
    await geth.proc.stop();
});

describe("the HTTP policy, message by message", () => {
    let c: Client;
    beforeAll(async () => (c = await Client.open(wsUrl)));
    afterAll(() => c.close());

    it("forwards allowed calls and returns the backend's answer untouched", async () => {
        expect(JSON.parse(await c.call(call("eth_chainId", 7)))).toEqual({ jsonrpc: "2.0", id: 7, result: "0x539" });
    });

    it("refuses denied namespaces and methods off the allow-list as HTTP does", async () => {
        for (const m of ["debug_traceCall", "admin_peers", "personal_listAccounts", "engine_getPayloadV1", "miner_start", "anvil_setBalance"]) {
            const a = JSON.parse(await c.call(call(m, "q")));
            expect(a).toEqual({ jsonrpc: "2.0", id: "q", error: { code: -32601, message: `method not allowed: ${m}` } });
        }
    });

    it("caps eth_getLogs and eth_newFilter ranges", async () => {
        for (const m of ["eth_getLogs", "eth_newFilter"]) {
            const a = JSON.parse(await c.call(call(m, 2, [{ fromBlock: "0x0", toBlock: "0xffffffff" }])));
            expect(a.error.code).toBe(-32602);
            expect(a.error.message).toMatch(/exceeds the limit of 10/);
        }
        const ok = JSON.parse(await c.call(call("eth_getLogs", 3, [{ fromBlock: "0x0", toBlock: "0x1" }])));
        expect(ok.result).toEqual([]);
        for (const m of ["eth_getLogs", "eth_newFilter"]) {
            for (const f of ['{"fromblock":"0x0","toblock":"latest"}', '{"fromBlock":"0x1","toBlock":"0x2","TOBLOCK":"0xffffff"}']) {
                const a = JSON.parse(await c.call(`{"jsonrpc":"2.0","id":4,"method":"${m}","params":[${f}]}`));
                expect(a.error).toEqual({ code: -32602, message: `${m} filter keys must be spelled fromBlock, toBlock and blockHash` });
            }
        }
    });

    it("refuses a batch past maxBatchSize whole, and answers junk with -32700/-32600 on the same session", async () => {
        const big = "[" + Array.from({ length: 500 }, (_, i) => call("eth_getLogs", i, [{ fromBlock: "0x0", toBlock: "0xffffffff" }])).join(",") + "]";
        expect(JSON.parse(await c.call(big)).error).toEqual({ code: -32600, message: "batch of 500 requests exceeds the limit of 20" });
        expect(JSON.parse(await c.call("")).error.code).toBe(-32700);
        expect(JSON.parse(await c.call("{not json")).error.code).toBe(-32700);
        expect(JSON.parse(await c.call('{"jsonrpc":"2.0","id":1e400,"method":"eth_chainId"}')).error.code).toBe(-32700);
        expect(JSON.parse(await c.call("[]")).error.code).toBe(-32600);
        expect(JSON.parse(await c.call(call("eth_chainId", 8))).result).toBe("0x539");
    });

    it("splices a batch forwarded in part: request order, ids byte for byte, [] kept", async () => {
        const body =
            '[{"jsonrpc":"2.0","id":123456789012345678,"method":"eth_chainId"},' +
            '{"jsonrpc":"2.0","id":"x","method":"admin_peers"},' +
            '{"jsonrpc":"2.0","id":1.50,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"0x1","topics":[]}]},' +
            '{"jsonrpc":"2.0","method":"eth_chainId"},' +
            '{"jsonrpc":"2.0","id":-0,"method":"debug_traceCall"}]';
        const text = await c.call(body);
        expect(text).toContain('"id":123456789012345678,');
        expect(text).toContain('"id":1.50,');
        expect(text).toContain('"id":-0,');
        const a = JSON.parse(text);
        expect(a.map((x: { id: unknown }) => x.id)).toEqual([123456789012345678, "x", 1.5, -0]);
        expect(a[0].result).toBe("0x539");
        expect(a[1].error.code).toBe(-32601);
        expect(a[2].result).toEqual([]);
        expect(a[3].error.code).toBe(-32601);
    });

    it("keeps each of many concurrent part-forwarded batches with its own answers", async () => {
        const n = 12;
        for (let i = 0; i < n; i++) c.socket.send(`[${call("eth_chainId", `a${i}`)},${call("admin_peers", `b${i}`)},${call("eth_blockNumber", `c${i}`)}]`);
        const got = [];
        for (let i = 0; i < n; i++) got.push(JSON.parse(await c.next()));
        for (const a of got) {
            const i = a[0].id.slice(1);
            expect(a.map((x: { id: string }) => x.id)).toEqual([`a${i}`, `b${i}`, `c${i}`]);
            expect(a[0].result).toBe("0x539");
            expect(a[1].error.code).toBe(-32601);
            expect(a[2].result).toMatch(/^0x/);
        }
        expect(new Set(got.map((a) => a[0].id)).size).toBe(n);
    });

    it("keeps subscriptions working: newHeads notifications stream, unsubscribe ends them", async () => {
        const sub = JSON.parse(await c.call(call("eth_subscribe", 50, ["newHeads"])));
        expect(sub.result).toMatch(/^0x[0-9a-f]+$/);
        const note = JSON.parse(await c.next(5000));
        expect(note.method).toBe("eth_subscription");
        expect(note.params.subscription).toBe(sub.result);
        expect(note.params.result.number).toMatch(/^0x/);
        c.socket.send(call("eth_unsubscribe", 51, [sub.result]));
        // Notifications already on their way may come first.
        let a;
        do a = JSON.parse(await c.next()); while (a.method === "eth_subscription");
        expect(a).toEqual({ jsonrpc: "2.0", id: 51, result: true });
    });

    it("counts WebSocket calls by method and outcome", async () => {
        const text = await waitFor(
            "ws metrics",
            async () => {
                const t = await (await fetch(gw.metricsUrl)).text();
                return /ethnode_gateway_ws_requests_total\{method="other",outcome="denied"\}/.test(t) ? t : undefined;
            },
            5000,
        );
        expect(text).toMatch(/^ethnode_gateway_ws_requests_total\{method="eth_chainId",outcome="forwarded"\} \d+/m);
        expect(text).toMatch(/^ethnode_gateway_ws_connections\{worker="\d+"\} [1-9]/m);
    });
});

describe("hostile messages", () => {
    /** Sends `body`, then a sentinel call: every message before the sentinel's answer must be a JSON-RPC answer. */
    async function probe(c: Client, body: string | Buffer, i: number): Promise<string[]> {
        c.socket.send(body);
        c.socket.send(call("eth_chainId", `sentinel-${i}`));
        const bad: string[] = [];
        for (;;) {
            const m = await c.next();
            let a;
            try {
                a = JSON.parse(m);
            } catch {
                bad.push(`${i}: not JSON: ${m.slice(0, 100)}`);
                continue;
            }
            if (a.id === `sentinel-${i}`) break;
            for (const x of Array.isArray(a) ? a : [a]) {
                if (x?.jsonrpc !== "2.0" || !("id" in x) || ("error" in x) === ("result" in x)) bad.push(`${i}: ${m.slice(0, 100)}`);
            }
        }
        return bad;
    }

    it("answers every hostile body and a seeded fuzz loop on one session, which stays open", async () => {
        const maxBody = 65536;
        const c = await Client.open(wsUrl);
        const bad: string[] = [];
        const bodies = hostileBodies(maxBody).filter((b) => Buffer.byteLength(b) <= maxBody);
        const seeds = [call("eth_chainId"), `[${call("eth_chainId")},${call("admin_peers", 2)}]`, call("eth_getLogs", "a", [{ fromBlock: "0x1", toBlock: "0x2", topics: [] }])];
        bodies.push(...mutations(seeds, 300, 20261202));
        expect(bodies.length).toBeGreaterThan(450);
        for (const [i, b] of bodies.entries()) bad.push(...(await probe(c, b, i)));
        expect(bad).toEqual([]);
        expect(c.closed).toBeUndefined();
        c.close();
    });
});

describe("the caller's rate limit", () => {
    it("charges every frame and batch element to the key that opened the session, then answers -32005 and stays open", async () => {
        const c = await Client.open(`${wsUrl}/slow-key-0000000000000000`);
        const answers = [];
        for (let i = 0; i < 6; i++) answers.push(JSON.parse(await c.call(call("eth_chainId", i))));
        expect(answers.filter((a) => a.result === "0x539").length).toBe(3);
        expect(answers.filter((a) => a.error?.code === -32005).length).toBe(3);
        // A batch is charged per element: all of it is refused, each element with its id.
        const batch = JSON.parse(await c.call(`[${call("eth_chainId", "p")},${call("eth_chainId", "q")}]`));
        expect(batch).toEqual([
            { jsonrpc: "2.0", id: "p", error: { code: -32005, message: "rate limit exceeded" } },
            { jsonrpc: "2.0", id: "q", error: { code: -32005, message: "rate limit exceeded" } },
        ]);
        expect(c.closed).toBeUndefined();
        c.close();
    });

    it("never writes a key from the path into the access log", async () => {
        const c = await Client.open(`${wsUrl}/slow-key-0000000000000000`);
        c.close();
        const log = () => fs.readFileSync(path.join(gw.prefix, "logs", "access.log"), "utf8");
        await waitFor("access log flushed", async () => (log().includes("/ws/<key>") ? true : undefined), 5000);
        expect(log()).not.toContain("slow-key-0000000000000000");
    });

    it("refuses an unknown key before the upgrade", async () => {
        await expect(Client.open(`${wsUrl}/unknown-key-000000000000`)).rejects.toThrow("HTTP 401");
        await expect(Client.open(wsUrl, { "x-api-key": "nope" })).rejects.toThrow("HTTP 401");
    });
});

type Raw = net.Socket & { received: Buffer[] };

/** A raw connection past the handshake, to send frames no well-behaved client would; `from` is sent as
 * X-Forwarded-For (believed when the gateway trusts loopback). */
async function rawSession(port = gw.port, from?: string): Promise<Raw> {
    const s = net.connect(port, "127.0.0.1") as Raw;
    s.received = [];
    const xff = from ? `X-Forwarded-For: ${from}\r\n` : "";
    await new Promise<void>((resolve, reject) => {
        s.once("connect", () =>
            s.write(`GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${xff}\r\n`),
        );
        s.once("data", (d) => (d.toString().startsWith("HTTP/1.1 101") ? resolve() : reject(new Error(d.toString()))));
        s.once("error", reject);
    });
    s.on("data", (d) => s.received.push(d));
    return s;
}

/** The close code in the first close frame the server sent (frames from the server are never masked). */
function closeCode(chunks: Buffer[]): number | undefined {
    let buf = Buffer.concat(chunks);
    while (buf.length >= 2) {
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) (len = buf.readUInt16BE(2)), (off = 4);
        else if (len === 127) (len = Number(buf.readBigUInt64BE(2))), (off = 10);
        if (op === 8) return buf.readUInt16BE(off);
        buf = buf.subarray(off + len);
    }
    return undefined;
}

function clientFrame(op: number, payload: Buffer, opts: { mask?: boolean; fin?: boolean; lengthOverride?: number } = {}): Buffer {
    const mask = opts.mask ?? true;
    const len = opts.lengthOverride ?? payload.length;
    const head = len < 126 ? Buffer.from([0, len]) : len < 65536 ? Buffer.from([0, 126, len >> 8, len & 255]) : Buffer.concat([Buffer.from([0, 127]), Buffer.alloc(8)]);
    if (len >= 65536) head.writeBigUInt64BE(BigInt(len), 2);
    head[0] = ((opts.fin ?? true) ? 0x80 : 0) | op;
    if (!mask) return Buffer.concat([head, payload]);
    head[1] |= 0x80;
    const key = Buffer.from([1, 2, 3, 4]);
    return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i % 4]))]);
}

const closedWith = async (s: Raw, ms = 5000) => {
    await waitFor("close frame", async () => closeCode(s.received), ms);
    s.destroy();
    return closeCode(s.received);
};

describe("protocol abuse ends only the abuser's session, with the right close code", () => {
    it("1002 for an unmasked client frame", async () => {
        const s = await rawSession();
        s.write(clientFrame(1, Buffer.from(call("eth_chainId")), { mask: false }));
        expect(await closedWith(s)).toBe(1002);
    });

    it("1009 for a message past maxBodyBytes, announced or assembled from fragments", async () => {
        const s = await rawSession();
        s.write(clientFrame(1, Buffer.alloc(0), { lengthOverride: 10 * 1024 * 1024 }).subarray(0, 14));
        expect(await closedWith(s)).toBe(1009);
        const f = await rawSession();
        const part = Buffer.alloc(40000, 0x20);
        f.write(clientFrame(1, part, { fin: false }));
        f.write(clientFrame(0, part, { fin: false }));
        expect(await closedWith(f)).toBe(1009);
    });

    it("1008 for a frame trickled past bodyTimeoutSec, however steady the trickle", async () => {
        const s = await rawSession();
        const frame = clientFrame(1, Buffer.from(call("eth_chainId")));
        let i = 0;
        const t = setInterval(() => i < frame.length && s.write(frame.subarray(i, ++i)), 300);
        const started = Date.now();
        const code = await closedWith(s, 8000);
        clearInterval(t);
        expect(code).toBe(1008);
        // bodyTimeoutSec is 2: the deadline counts from the frame's first byte, not from the last one.
        expect(Date.now() - started).toBeLessThan(4000);
    });

    it("answers pings itself and echoes a close", async () => {
        const s = await rawSession();
        s.write(clientFrame(9, Buffer.from("hi")));
        await waitFor("pong", async () => (Buffer.concat(s.received).includes(Buffer.from([0x8a, 2, 0x68, 0x69])) ? true : undefined), 3000);
        s.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
        expect(await closedWith(s)).toBe(1000);
    });

    it("1002 for a close frame no peer may send: one byte, a code not in use, a reason that is not UTF-8", async () => {
        for (const payload of [Buffer.from([3]), Buffer.from([0x03, 0xe7]), Buffer.from([0x03, 0xed]), Buffer.from([0x13, 0x88]), Buffer.from([0x03, 0xe8, 0xff, 0xfe])]) {
            const s = await rawSession();
            s.write(clientFrame(8, payload));
            expect({ payload: payload.toString("hex"), code: await closedWith(s) }).toEqual({ payload: payload.toString("hex"), code: 1002 });
        }
        // An application's code and a reason are echoed, as RFC 6455 has it.
        const ok = await rawSession();
        ok.write(clientFrame(8, Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from("done")])));
        expect(await closedWith(ok)).toBe(4000);
    });

    it("still serves everyone else", async () => {
        const c = await Client.open(wsUrl);
        expect(JSON.parse(await c.call(call("eth_chainId"))).result).toBe("0x539");
        c.close();
    });
});

describe("what a session may hold and receive is bounded, like an HTTP body", () => {
    let g: Gw;
    const PART = Buffer.alloc(60000, 0x20);
    beforeAll(async () => {
        g = await startGateway({
            backends: [{ name: "geth", host: "127.0.0.1", port: geth.rpcPort }],
            wsUpstream: { host: "127.0.0.1", port: geth.wsPort },
            config: {
                maxBodyBytes: 65536,
                bodyTimeoutSec: 2,
                wsBufferedBytesPerIp: 131072,
                wsBufferedBytesPerWorker: 1048576,
                wsNotificationRate: 2,
                wsNotificationBurst: 5,
                wsMaxConnsPerIp: 100,
                trustedProxies: ["127.0.0.1/32"],
                ipRate: 100000,
                ipBurst: 100000,
            },
        });
    });
    afterAll(async () => {
        expect(luaErrors(g.errorLog())).toEqual([]);
        await g.stop();
    });

    /** A session that starts a fragmented message of `bytes` and never finishes it. */
    async function holding(from: string, bytes = PART): Promise<Raw> {
        const s = await rawSession(g.port, from);
        s.write(clientFrame(1, bytes, { fin: false }));
        return s;
    }

    it("1008 for a fragmented message not whole within bodyTimeoutSec, however promptly each frame comes", async () => {
        const s = await rawSession(g.port, "10.9.0.1");
        s.write(clientFrame(1, Buffer.from('{"jsonrpc":"2.0",'), { fin: false }));
        const t = setInterval(() => s.write(clientFrame(0, Buffer.from(" "), { fin: false })), 300);
        const started = Date.now();
        const code = await closedWith(s, 8000);
        clearInterval(t);
        expect(code).toBe(1008);
        expect(Date.now() - started).toBeLessThan(4000);
    });

    it("1013 once one address holds wsBufferedBytesPerIp in unfinished messages, over all its sessions; others unaffected", async () => {
        const a1 = await holding("10.9.1.1");
        const a2 = await holding("10.9.1.1");
        await new Promise((r) => setTimeout(r, 300));
        const a3 = await holding("10.9.1.1");
        expect(await closedWith(a3)).toBe(1013);
        // Another address may hold its own share; the first two sessions are still open.
        const b1 = await holding("10.9.1.2");
        await new Promise((r) => setTimeout(r, 300));
        for (const s of [a1, a2, b1]) expect(closeCode(s.received)).toBeUndefined();
        // Released when a session ends: the address may hold again.
        a1.destroy();
        await new Promise((r) => setTimeout(r, 500));
        const a4 = await holding("10.9.1.1");
        await new Promise((r) => setTimeout(r, 300));
        expect(closeCode(a4.received)).toBeUndefined();
        for (const s of [a2, b1, a4]) s.destroy();
    });

    it("1013 once a worker holds wsBufferedBytesPerWorker, however many addresses share it; the gauge says so", async () => {
        // 40 addresses x 60,000 bytes: 2.4 MB against two workers' 1 MiB each.
        const sessions = await Promise.all(Array.from({ length: 40 }, (_, i) => holding(`10.9.2.${i + 1}`)));
        await new Promise((r) => setTimeout(r, 1500));
        const codes = sessions.map((s) => closeCode(s.received));
        const refused = codes.filter((c) => c === 1013).length;
        expect(codes.filter((c) => c !== undefined && c !== 1013)).toEqual([]);
        expect(refused).toBeGreaterThanOrEqual(Math.ceil((40 * 60000 - 2 * 1048576) / 60000));
        const gauge = await (await fetch(g.metricsUrl)).text();
        const held = [...gauge.matchAll(/^ethnode_gateway_ws_buffered_bytes\{worker="\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
        expect(held.length).toBe(2);
        for (const h of held) expect(h).toBeLessThanOrEqual(1048576);
        for (const s of sessions) s.destroy();
        const c = await Client.open(g.url.replace(/^http/, "ws") + "/ws");
        expect(JSON.parse(await c.call(call("eth_chainId"))).result).toBe("0x539");
        c.close();
    });

    it("1008 when subscription notifications outrun the session's budget; a session within it streams on", async () => {
        const url = g.url.replace(/^http/, "ws") + "/ws";
        const greedy = await Client.open(url, { "x-forwarded-for": "10.9.3.1" });
        const modest = await Client.open(url, { "x-forwarded-for": "10.9.3.2" });
        // geth --dev seals a block a second: ten subscriptions are ten notifications a second, over a budget of 2.
        // (Sent at once: a block between two calls would put its notifications among the answers.)
        for (let i = 0; i < 10; i++) greedy.socket.send(call("eth_subscribe", i, ["newHeads"]));
        expect(JSON.parse(await modest.call(call("eth_subscribe", 1, ["newHeads"]))).result).toMatch(/^0x/);
        expect(await greedy.closedWith(15000)).toEqual({ code: 1008, reason: "subscription notifications over budget" });
        expect(greedy.messages.filter((m) => /"result":"0x/.test(m)).length).toBe(10);
        await new Promise((r) => setTimeout(r, 2000));
        expect(modest.closed).toBeUndefined();
        expect(modest.messages.filter((m) => m.includes('"eth_subscription"')).length).toBeGreaterThanOrEqual(2);
        modest.close();
    });

    it("1008 for pings past the same budget", async () => {
        const s = await rawSession(g.port, "10.9.4.1");
        for (let i = 0; i < 20; i++) s.write(clientFrame(9, Buffer.from("p")));
        expect(await closedWith(s)).toBe(1008);
    });
});

describe("idle sessions and a second kind of backend", () => {
    it("closes a session idle for wsIdleTimeoutSec with 1001; a subscription's notifications keep it alive", async () => {
        const anvil = await startAnvil(1);
        const g = await startGateway({
            backends: [{ name: "anvil", host: "127.0.0.1", port: anvil.rpcPort }],
            config: { wsIdleTimeoutSec: 10 },
        });
        try {
            const url = g.url.replace(/^http/, "ws") + "/ws";
            const idle = await Client.open(url);
            const busy = await Client.open(url);
            expect(JSON.parse(await busy.call(call("eth_subscribe", 1, ["newHeads"]))).result).toMatch(/^0x/);
            // anvil's own namespace is denied over WebSocket as over HTTP.
            expect(JSON.parse(await idle.call(call("anvil_setBalance", 2, ["0x" + "1".repeat(40), "0x1"]))).error.code).toBe(-32601);
            const closed = await idle.closedWith(15000);
            expect(closed).toEqual({ code: 1001, reason: "idle timeout" });
            expect(busy.closed).toBeUndefined();
            busy.close();
            expect(luaErrors(g.errorLog())).toEqual([]);
        } finally {
            await g.stop();
            await anvil.proc.stop();
        }
    });
});
