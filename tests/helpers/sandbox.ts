/**
 * The real engine on the sandbox, the way an operator drives it: `scripts/sandbox.sh` with a copy of the program
 * (so an edit never touches the work tree), `pulumi config set`, `pulumi preview --diff`, `pulumi up` (the last
 * two through the Automation API, scripts/stack.ts). Only in the real-engine tier (tests/helpers/engine.ts).
 */
import { SpawnSyncReturns, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { SlackMessage } from "../../scripts/slack-receiver";
import { engineEnvFile } from "./engine";
import { waitFor } from "./proc";
import { ROOT } from "./pulumi";

const SANDBOX = path.join(ROOT, "scripts", "sandbox.sh");

/** The lines of `pulumi preview --diff` that name a step: its operation, then (after its id) its URN. */
const STEP_LINE = /^( {4,})[~+\-<>= ]{1,2} \S+: \(([a-z-]+)\)\n(?:\1 {4}\[id=[^\]\n]*\]\n)?\1 {4}\[urn=[^\]\n]*::([^\]\n:]+)\]/gm;

export class Sandbox {
    readonly program: string;
    readonly engineEnv: string;

    /**
     * Copies the program into `work`/program, its sandbox stack file from `stackFile` (default the tracked one).
     * `pos`: the proof-of-stake sandbox where Prysm is installed (scripts/sandbox.sh); otherwise the dev chains
     * the suites written for them expect, wherever they run.
     */
    constructor(work: string, stackFile = path.join(ROOT, "Pulumi.sandbox.yaml"), private readonly pos = false) {
        this.program = path.join(work, "program");
        fs.mkdirSync(this.program);
        for (const f of ["Pulumi.yaml", "index.ts", "tsconfig.json", "package.json", "components", "assets", "lua"]) {
            fs.cpSync(path.join(ROOT, f), path.join(this.program, f), { recursive: true });
        }
        fs.copyFileSync(stackFile, path.join(this.program, "Pulumi.sandbox.yaml"));
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(this.program, "node_modules"));
        this.engineEnv = engineEnvFile();
    }

    run(args: string[], input?: string, programDir = this.program): SpawnSyncReturns<string> {
        return spawnSync("bash", [SANDBOX, ...args], {
            env: { ...process.env, ETHNODE_PROGRAM_DIR: programDir, ETHNODE_ENGINE_ENV: this.engineEnv, ETHNODE_SANDBOX_POS: this.pos ? "auto" : "off" },
            input: input ?? "",
            encoding: "utf8",
            maxBuffer: 256 * 1024 * 1024,
            timeout: 1200000,
        });
    }

    pulumi(args: string[], input?: string): string {
        return ok(this.run(["pulumi", ...args], input), `pulumi ${args.join(" ")}`);
    }

    /** `pulumi config set-all --path` of every pair in one call (numbers and booleans keep their type). */
    configSet(pairs: Record<string, string>): void {
        this.pulumi(["config", "set-all", "--path", ...Object.entries(pairs).flatMap(([key, value]) => ["--plaintext", `${key}=${value}`])]);
    }

    /** A secret goes on stdin, never on the command line. */
    secretSet(key: string, value: string): void {
        this.pulumi(["config", "set", "--secret", key], value);
    }

    /** What a reviewer reads (`pulumi preview --diff`) and the steps it lists as "<resource> <operation>",
     * without the unchanged ones. */
    preview(): { steps: string[]; diff: string } {
        const diff = this.pulumi(["preview", "--diff", "--color", "never"]);
        // A read (the program's reference to its own last outputs) changes nothing.
        const steps = [...diff.matchAll(STEP_LINE)].filter((m) => m[2] !== "same" && m[2] !== "read").map((m) => `${m[3]} ${m[2]}`);
        return { steps: steps.sort(), diff };
    }

    /** `pulumi up`, returning what it reported. */
    up(): string {
        return this.pulumi(["up", "--yes", "--skip-preview", "--diff"]);
    }
}

export function ok(r: SpawnSyncReturns<string>, what: string): string {
    if (r.status !== 0) {
        // The lines that say what failed (the engine's errors, our scripts' own words) can sit anywhere in a long
        // --diff output, and a failed engine run repeats its output, errors included, on stderr: the tails alone
        // often cut them.
        const said = [...new Set(`${r.stdout}\n${r.stderr}`.split("\n").filter((l) => /\*\*[a-z ]*failed\*\*|^\s*error:|ethnode\[[\w-]+\]: |^\s*ethnode: /.test(l)))];
        const diagnostics = said.length ? `${said.map((l) => l.slice(0, 600)).join("\n").slice(0, 8000)}\n…\n` : "";
        throw new Error(`${what} failed (${r.status}):\n${diagnostics}${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    }
    return r.stdout;
}

/** The same binary with other bytes (the ELF loader ignores a trailer): a "new release" whose sha256 differs. */
export function otherRelease(binary: string, file: string): string {
    fs.copyFileSync(binary, file);
    fs.appendFileSync(file, "ethnode e2e: a different release\n");
    fs.chmodSync(file, 0o755);
    return file;
}

/** The sandbox's Slack-format receiver (scripts/slack-receiver.ts), where scripts/sandbox.sh points Alertmanager. */
export const SLACK = "http://127.0.0.1:9099";

/** Every message the receiver has had, oldest first. */
export async function slackMessages(): Promise<SlackMessage[]> {
    return (await (await fetch(`${SLACK}/`)).json()) as SlackMessage[];
}

/** The first message about `alert` (its name in the title) received at or after `since`, waited for. */
export function slackAbout(alert: string, since: number, timeoutMs: number): Promise<SlackMessage> {
    return waitFor(`${alert} at the Slack receiver`, async () => (await slackMessages()).find((m) => m.at >= since && m.title.includes(alert)), timeoutMs);
}
