/** Hostile JSON-RPC bodies and a seeded PRNG, shared by the HTTP and WebSocket abuse suites. */

export const VALID = '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}';

/** Deterministic PRNG (mulberry32) so a failing case can be replayed. */
export function prng(seed: number) {
    return () => {
        seed |= 0;
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export function hostileBodies(maxBody: number): (string | Buffer)[] {
    const out: (string | Buffer)[] = [];
    for (let i = 0; i < VALID.length; i++) out.push(VALID.slice(0, i)); // every truncation
    for (const d of [10, 100, 999, 1001, 5000, 20000]) {
        out.push("[".repeat(d) + "]".repeat(d));
        out.push('{"a":'.repeat(d) + "1" + "}".repeat(d));
        out.push(`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":${"[".repeat(d)}${"]".repeat(d)}}`);
    }
    const values = ["null", "true", "false", "0", "-0", "1.5", "1e400", "-1e400", "123456789012345678901234567890", '""', '"x"', "[]", "{}", "[1,2]", '{"a":1}', '"\\u0000"', '"\\ud800"', '"' + "A".repeat(10000) + '"'];
    for (const v of values) {
        out.push(`{"jsonrpc":${v},"id":1,"method":"eth_chainId"}`);
        out.push(`{"jsonrpc":"2.0","id":${v},"method":"eth_chainId"}`);
        out.push(`{"jsonrpc":"2.0","id":1,"method":${v}}`);
        out.push(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":${v}}`);
        out.push(`{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":${v},"toBlock":${v}}]}`);
        out.push(`[${v}]`);
        out.push(v);
    }
    out.push("", " ", "\n\n", "[]", "[[]]", "[{}]", "{}", "[[[" + VALID + "]]]", `[${VALID},[${VALID}]]`);
    out.push(`[${Array.from({ length: 50 }, () => '{"jsonrpc":"2.0","method":"eth_chainId"}').join(",")}]`); // batch of notifications
    out.push('{"jsonrpc":"2.0","method":"eth_chainId"}', '{"jsonrpc":"2.0","method":"admin_peers"}');
    out.push(`[${Array.from({ length: 50 }, () => '{"jsonrpc":"2.0","method":"admin_peers"}').join(",")}]`); // denied notifications
    out.push(`[${Array.from({ length: 1000 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"eth_chainId"}`).join(",")}]`);
    out.push("\ufeff" + VALID, VALID + "garbage", VALID + VALID, `{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,"method":"eth_chainId"}`);
    out.push('{"jsonrpc":"2.0","id":"🦄","method":"eth_chainId"}', '{"jsonrpc":"2.0","id":1,"method":"eth_chаinId"}', '{"jsonrpc":"2.0","id":1,"method":"Ω_Ω"}');
    out.push(Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x80, 0xc3, 0x28]), Buffer.from('{"jsonrpc":"2.0","id":"\xc3\x28","method":"eth_chainId"}', "latin1"));
    out.push("NaN", "Infinity", "[NaN]", "{'jsonrpc':'2.0'}", "\u0000".repeat(100), "x".repeat(maxBody + 1), "[" + "1,".repeat(maxBody / 2) + "1]");
    out.push(`{"jsonrpc":"2.0","id":${"9".repeat(400)},"method":"eth_chainId"}`, `{"jsonrpc":"2.0","id":"${"i".repeat(50000)}","method":"eth_chainId"}`);
    out.push(`{"jsonrpc":"2.0","id":1,"method":"${"a_".repeat(200)}"}`, `{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x${"f".repeat(40)}"}]}`);
    return out;
}

/** `count` seeded mutations of the seeds: each 1–4 byte flips, insertions or deletions. */
export function mutations(seeds: string[], count: number, seed: number): string[] {
    const rand = prng(seed);
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
        const chars = [...seeds[Math.floor(rand() * seeds.length)]];
        const edits = 1 + Math.floor(rand() * 4);
        for (let e = 0; e < edits; e++) {
            const at = Math.floor(rand() * chars.length);
            const op = rand();
            const ch = String.fromCharCode(Math.floor(rand() * 128));
            if (op < 0.4) chars[at] = ch;
            else if (op < 0.7) chars.splice(at, 0, ch);
            else chars.splice(at, 1);
        }
        out.push(chars.join(""));
    }
    return out;
}
