/**
 * `pulumi up` and `pulumi preview` of a program directory through the Automation API, with the program run
 * inline in this process: the engine needs no Node.js language host (a `pulumi` CLI and the provider plugins
 * are all), and what it prints is what the CLI prints. scripts/sandbox.sh routes those two commands here; every
 * other pulumi command needs no program and goes to the CLI itself.
 *
 *   node scripts/ts-run.js scripts/stack.ts <up|preview> --cwd DIR [--work-dir DIR] --stack NAME
 *        [--config-file FILE] [--yes] [--skip-preview] [--diff] [--color MODE] [--replace URN]...
 *
 * --cwd is where the program is (index.ts); --work-dir (default: --cwd) where the workspace lives: its
 * Pulumi.yaml and Pulumi.<stack>.yaml, which selecting the stack may write to (its secrets' salt).
 *
 * The engine (scripts/engine.sh check) must already be on PATH, with the backend and passphrase in the
 * environment, as for the CLI.
 */
import * as path from "path";
import type * as automation from "@pulumi/pulumi/automation";

interface Invocation {
    op: "up" | "preview";
    cwd: string;
    workDir?: string;
    stack: string;
    configFile?: string;
    diff: boolean;
    color?: "always" | "never" | "raw" | "auto";
    replace: string[];
}

export function parseArgs(argv: string[]): Invocation {
    const [op, ...rest] = argv;
    if (op !== "up" && op !== "preview") throw new Error(`stack.ts: the operation is up or preview, not ${op ?? "nothing"}`);
    const inv: Invocation = { op, cwd: process.cwd(), stack: "", diff: false, replace: [] };
    for (let i = 0; i < rest.length; i++) {
        const flag = rest[i];
        const value = (): string => {
            const v = rest[++i];
            if (v === undefined) throw new Error(`stack.ts: ${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "--cwd":
                inv.cwd = path.resolve(value());
                break;
            case "--work-dir":
                inv.workDir = path.resolve(value());
                break;
            case "--stack":
            case "-s":
                inv.stack = value();
                break;
            case "--config-file":
                inv.configFile = path.resolve(value());
                break;
            case "--diff":
                inv.diff = true;
                break;
            case "--color":
                inv.color = value() as Invocation["color"];
                break;
            case "--replace":
                inv.replace.push(value());
                break;
            // The Automation API never asks and never previews before an up.
            case "--yes":
            case "-y":
            case "--skip-preview":
            case "-f":
                break;
            default:
                throw new Error(`stack.ts: ${flag} is not an option this wrapper passes on (see its header)`);
        }
    }
    if (!inv.stack) throw new Error("stack.ts: --stack is required");
    return inv;
}

/** Loads the program's index.ts in this process (its own node_modules, so the SDK it registers with is the one
 * the Automation API runs) and runs it as Pulumi's Node.js host would: a program that exports a function is
 * awaited and returns the stack's outputs; an older release's, which exports them, is taken as it is. */
function inlineProgram(cwd: string): automation.PulumiFn {
    return async () => {
        const program = require(path.join(cwd, "index.ts"));
        const main = typeof program === "function" ? program : typeof program?.default === "function" ? program.default : undefined;
        return main ? await main() : program;
    };
}

async function main(): Promise<void> {
    const inv = parseArgs(process.argv.slice(2));
    // The SDK the program itself resolves: one copy of the runtime for the engine and the program's resources.
    const auto: typeof automation = require(require.resolve("@pulumi/pulumi/automation", { paths: [inv.cwd] }));
    const stack = await auto.LocalWorkspace.selectStack({ stackName: inv.stack, projectName: "", program: inlineProgram(inv.cwd) }, { workDir: inv.workDir ?? inv.cwd });
    const common = {
        diff: inv.diff,
        color: inv.color,
        configFile: inv.configFile,
        replace: inv.replace.length ? inv.replace : undefined,
        onOutput: (out: string) => process.stdout.write(out),
    };
    if (inv.op === "up") await stack.up(common);
    else await stack.preview(common);
}

if (process.argv[1] === __filename) {
    main().catch((e: unknown) => {
        // A failed engine run: its stdout already streamed; its stderr carries the errors.
        const err = e as { stderr?: string; message?: string };
        process.stderr.write(`${err.stderr || err.message || String(e)}\n`);
        process.exit(1);
    });
}
