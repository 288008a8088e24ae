/**
 * `npm run bench:ha`: the sandbox cluster (three nodes, real engine) under steady read load through node-0's
 * gateway — eth_blockNumber / eth_getBalance at BENCH_RPS (default 200/s) — in three phases printed side by side:
 *   idle         the load alone, for BENCH_IDLE_SEC (default 20 s)
 *   rolling      a Geth version edit rolled through the three nodes by `pulumi up`
 *   frozen       node-0's Geth stopped with SIGSTOP (alive, silent) until the keeper restarts it
 *   node lost    guest node-2 powered off outright (every process SIGKILLed, its link down)
 * with requests sent and failed, p50/p99/max latency; for the lost node also the time until node-0's gateway
 * stopped choosing it and until ClusterDegraded reached the Slack receiver. Deploys the sandbox first and tears
 * it down at the end.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LoadResult, gatewayHealth, gatewayUrl, killGuest, onGuest, percentile, sleep, startLoad, timeUntil, underLoad } from "../tests/helpers/cluster";
import { gethBinary } from "../tests/helpers/proc";
import { Sandbox, ok, otherRelease, slackMessages } from "../tests/helpers/sandbox";

const RPS = Number(process.env.BENCH_RPS ?? 200);
const IDLE_SEC = Number(process.env.BENCH_IDLE_SEC ?? 20);

interface Row {
    phase: string;
    load: LoadResult;
    seconds: number;
    notes: string;
}

const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : "-");

function table(rows: Row[]): string {
    const lines = [
        `| phase (${RPS} req/s through node-0's gateway) | seconds | sent | failed | p50 | p99 | max | |`,
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ];
    for (const r of rows) {
        const l = r.load.latencies;
        lines.push(`| ${r.phase} | ${r.seconds.toFixed(0)} | ${r.load.sent} | ${r.load.failed} | ${ms(percentile(l, 50))} | ${ms(percentile(l, 99))} | ${ms(l[l.length - 1])} | ${r.notes} |`);
    }
    return lines.join("\n");
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
    const t0 = performance.now();
    const value = await fn();
    return { value, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "ethnode-bench-ha-"));
    const sandbox = new Sandbox(work);
    const rows: Row[] = [];
    try {
        ok(sandbox.run(["down"]), "sandbox down");
        ok(sandbox.run(["up"]), "sandbox up");
        await timeUntil(performance.now(), () => gatewayHealth(0).healthy === 3, 60000);

        const idle = await timed(async () => {
            const load = startLoad(gatewayUrl(0), RPS);
            await sleep(IDLE_SEC * 1000);
            return load.stop();
        });
        rows.push({ phase: "idle", load: idle.value, seconds: idle.seconds, notes: "" });

        sandbox.configSet({ "ethnode:geth.version": "1.17.9", "ethnode:geth.binaryPath": otherRelease(gethBinary(), path.join(work, "geth-1.17.9")) });
        const rolling = await timed(() => underLoad(gatewayUrl(0), RPS, () => sandbox.up()));
        rows.push({ phase: "rolling Geth upgrade, 3 nodes", load: rolling.value.load, seconds: rolling.seconds, notes: "`pulumi up` of a version edit" });

        // A Geth frozen (SIGSTOP) on node-0 under load through node-0's own gateway: its peers serve, the keeper heals it.
        const frozenPid = onGuest(0, "systemctl show geth -p MainPID --value");
        let healedAfter: number | undefined;
        const frozen = await timed(() =>
            underLoad(gatewayUrl(0), RPS, async () => {
                const f0 = performance.now();
                onGuest(0, `kill -STOP ${frozenPid}`);
                healedAfter = await timeUntil(f0, () => onGuest(0, "systemctl show geth -p MainPID --value") !== frozenPid, 180000);
                await timeUntil(performance.now(), () => gatewayHealth(0).backends[0].healthy, 120000);
            }),
        );
        rows.push({
            phase: "node-0's Geth frozen (SIGSTOP)",
            load: frozen.value.load,
            seconds: frozen.seconds,
            notes: `the keeper restarted it after ${healedAfter ? (healedAfter / 1000).toFixed(0) : "-"} s (unresponsive ≥ 15 s, drained, gated)`,
        });

        const since = Date.now();
        let t0 = 0;
        let outOfPool: number | undefined;
        const lost = await timed(() =>
            underLoad(gatewayUrl(0), RPS, async () => {
                t0 = performance.now();
                killGuest(2);
                outOfPool = await timeUntil(t0, () => !gatewayHealth(0).backends.find((b) => b.name === "node-2")!.healthy, 60000);
                await sleep(10000);
            }),
        );
        const alerted = await timeUntil(
            t0,
            async () => (await slackMessages()).some((m) => m.at >= since && m.title.includes("ClusterDegraded")),
            300000,
        );
        rows.push({
            phase: "node-2 killed (kill -9, link down)",
            load: lost.value.load,
            seconds: lost.seconds,
            notes: `out of node-0's pool after ${outOfPool ? (outOfPool / 1000).toFixed(1) : "-"} s; ClusterDegraded at Slack after ${alerted ? (alerted / 1000).toFixed(0) : "-"} s`,
        });
        console.log(table(rows));
        for (const r of rows) if (r.load.failures.length) console.log(`${r.phase}: ${r.load.failures.join(" | ")}`);
    } finally {
        sandbox.run(["down"]);
        fs.rmSync(work, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
