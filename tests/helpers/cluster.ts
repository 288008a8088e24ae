/**
 * The three-guest sandbox cluster as tests and the HA benchmark see it: its guests' addresses, a command on a
 * guest, steady read load through one gateway, and the two scenarios the issue measures — a rolling client
 * upgrade and a node lost outright — each run under that load. Tests assert on what these return; the benchmark
 * prints it.
 */
import { execFileSync, spawnSync } from "child_process";
import * as path from "path";
import { Worker } from "worker_threads";
import { ROOT } from "./pulumi";

const CACHE = process.env.ETHNODE_CACHE_DIR ?? path.join(process.env.HOME ?? "/root", ".cache", "ethnode");
export const KEY = path.join(CACHE, "sandbox-ssh-key");

/** Node i's address on the sandbox bridge (scripts/sandbox-host.sh cluster_ip). */
export const nodeIp = (i: number) => `10.77.0.${11 + i}`;
export const gatewayUrl = (i: number) => `http://${nodeIp(i)}:8080`;

export function onGuest(i: number, command: string): string {
    return execFileSync(
        "ssh",
        ["-i", KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", `root@${nodeIp(i)}`, command],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    ).trim();
}

/** The gateway's detailed /health on node i (loopback metrics port). */
export function gatewayHealth(i: number): { drained: boolean; ready: boolean; healthy: number; backends: { name: string; healthy: boolean; state: string; head: number }[] } {
    return JSON.parse(onGuest(i, "curl -s -m 3 http://127.0.0.1:9145/health"));
}

export interface LoadResult {
    sent: number;
    failed: number;
    /** A few failures, as "status body" text, to say what went wrong. */
    failures: string[];
    /** Milliseconds, sorted. */
    latencies: number[];
}

export const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

/**
 * The load loop, run in a worker thread: the test's own thread blocks in synchronous calls (ssh, `pulumi up`),
 * which must not pause the load. Sends idempotent reads (eth_blockNumber / eth_getBalance, alternating) on a
 * fixed schedule, not after answers, so a slow answer does not lower the load; a call fails when it does not
 * come back 200 with a `result`.
 */
const LOAD_LOOP = `
const { parentPort, workerData } = require("worker_threads");
const { url, rps } = workerData;
const reads = [
    { method: "eth_blockNumber", params: [] },
    { method: "eth_getBalance", params: ["0x000000000000000000000000000000000000dEaD", "latest"] },
];
const result = { sent: 0, failed: 0, failures: [], latencies: [] };
const pending = new Set();
let n = 0;
async function call() {
    const q = reads[n++ % reads.length];
    const t0 = performance.now();
    result.sent++;
    try {
        const res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: n, ...q }),
            signal: AbortSignal.timeout(30000),
        });
        const text = await res.text();
        let ok = res.status === 200;
        try { ok = ok && JSON.parse(text).result !== undefined; } catch { ok = false; }
        if (!ok) {
            result.failed++;
            if (result.failures.length < 5) result.failures.push(res.status + " " + text.slice(0, 200));
        }
    } catch (e) {
        result.failed++;
        if (result.failures.length < 5) result.failures.push("error " + e.message);
    }
    result.latencies.push(performance.now() - t0);
}
// Timers drift: each tick sends however many calls the schedule is behind, so the rate holds.
const t0 = performance.now();
let due = 0;
const timer = setInterval(() => {
    const target = Math.floor(((performance.now() - t0) / 1000) * rps);
    for (; due < target; due++) {
        const p = call().finally(() => pending.delete(p));
        pending.add(p);
    }
}, 5);
parentPort.on("message", async () => {
    clearInterval(timer);
    await Promise.all([...pending]);
    parentPort.postMessage(result);
});
`;

/** Steady idempotent reads to `url` at `rps` until `stop()` (see LOAD_LOOP). */
export function startLoad(url: string, rps: number): { stop: () => Promise<LoadResult> } {
    const worker = new Worker(LOAD_LOOP, { eval: true, workerData: { url, rps } });
    return {
        stop: () =>
            new Promise<LoadResult>((resolve, reject) => {
                worker.once("message", (result: LoadResult) => {
                    result.latencies.sort((a, b) => a - b);
                    void worker.terminate();
                    resolve(result);
                });
                worker.once("error", reject);
                worker.postMessage("stop");
            }),
    };
}

/** Runs `fn` under load on `url`; returns the load's result with `fn`'s. */
export async function underLoad<T>(url: string, rps: number, fn: () => Promise<T> | T): Promise<{ load: LoadResult; value: T }> {
    const load = startLoad(url, rps);
    try {
        const value = await fn();
        return { load: await load.stop(), value };
    } catch (e) {
        await load.stop();
        throw e;
    }
}

export async function sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
}

/** When (ms since `t0`) `probe` first returns true, polled every 250 ms; undefined after `timeoutMs`. */
export async function timeUntil(t0: number, probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number | undefined> {
    while (performance.now() - t0 < timeoutMs) {
        try {
            if (await probe()) return performance.now() - t0;
        } catch {
            // not yet
        }
        await sleep(250);
    }
    return undefined;
}

/** Powers guest i off hard (scripts/sandbox-host.sh cluster-kill). */
export function killGuest(i: number): void {
    const r = spawnSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "cluster-kill", String(i)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cluster-kill ${i} failed: ${r.stderr}`);
}

/** When each node's Geth (re)started, by its unit's ActiveEnterTimestampMonotonic (µs; one clock: one kernel). */
export function gethStarts(nodes: number): number[] {
    return Array.from({ length: nodes }, (_, i) => Number(onGuest(i, "systemctl show geth -p ActiveEnterTimestampMonotonic --value")));
}
