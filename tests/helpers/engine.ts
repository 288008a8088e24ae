/**
 * The real-engine tier: its suites run where scripts/engine.sh finds a usable engine (the pinned `pulumi` and
 * its `command` and `random` plugins), are skipped — never passed — where a part is absent, and fail where a part
 * is present but broken. scripts/test.sh decides once per run (`ts-run.js tests/helpers/engine.ts`) and passes the
 * answer on; a jest run started by hand asks scripts/engine.sh itself.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { ROOT } from "./pulumi";

export type EngineState = { state: "ready"; envFile: string } | { state: "absent" | "broken"; reason: string };

/** Runs the one check (scripts/engine.sh check) and reads its answer. */
export function checkEngine(): EngineState {
    const r = spawnSync("bash", [path.join(ROOT, "scripts", "engine.sh"), "check"], { encoding: "utf8", timeout: 1800000 });
    if (r.status === 0) return { state: "ready", envFile: r.stdout.trim() };
    const lines = `${r.stderr}${r.stdout}`.trim().split("\n").filter(Boolean);
    // Absent: its first line says what is missing. Broken: its last lines say what went wrong.
    const reason = r.status === 3 ? lines[0] : lines.slice(-3).join(" / ") || `scripts/engine.sh check exited ${r.status}`;
    return { state: r.status === 3 ? "absent" : "broken", reason };
}

/** The tier line scripts/test.sh prints under the test summary. */
export function tierLine(engine: EngineState): string {
    if (engine.state === "ready") return "real-engine suites: ran";
    if (engine.state === "absent") return `real-engine suites: skipped (${engine.reason})`;
    return `real-engine suites: ran, engine broken (${engine.reason})`;
}

// scripts/test.sh: `state` prints the state as JSON (for ETHNODE_ENGINE), `tier` the summary line of this run's.
if (process.argv[1] === __filename) {
    if (process.argv[2] === "state") process.stdout.write(JSON.stringify(checkEngine()));
    else console.log(tierLine(engineState()));
}

export function engineState(): EngineState {
    const known = process.env.ETHNODE_ENGINE;
    return known ? (JSON.parse(known) as EngineState) : checkEngine();
}

/** `describe` for a real-engine suite: skipped where the engine is absent; run (and failing) where it is broken. */
export function describeEngine(name: string, fn: () => void): void {
    const engine = engineState();
    if (engine.state === "absent") describe.skip(`${name} [skipped: ${engine.reason}]`, fn);
    else describe(name, fn);
}

/** The engine's env file, or the reason it cannot be used (a broken engine fails the suite here). */
export function engineEnvFile(): string {
    const engine = engineState();
    if (engine.state !== "ready") throw new Error(`the real-engine tier needs the Pulumi engine: ${engine.reason}`);
    return engine.envFile;
}
