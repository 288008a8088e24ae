/**
 * Applies the sandbox stack to the sandbox host (scripts/sandbox-host.sh) without the Pulumi engine, which
 * cannot be built offline here: the program runs under Pulumi's mocks, and every remote step it declares is
 * executed as the command provider would run it — `create` over SSH with `stdin`, in dependency order;
 * CopyToRemote by scp; `delete` in reverse order on destroy. Used by `npm run sandbox` and the e2e test.
 *
 *   node sandbox-apply.js up|down <ssh key> <geth binary> <slack webhook url>
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

export interface Step {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const unwrap = (v: any) => (v && typeof v === "object" && SECRET_SIG in v ? v.value : v);

/** The order the engine follows (each step depends on the ones before it). */
export const STEP_ORDER = [
    /-host-prepare$/,
    /-cli$/,
    /-geth-jwt$/,
    /-geth-upload$/,
    /-geth-install$/,
    /-geth-service$/,
    /^gateway-install$/,
    /^gateway-keys$/,
    /^gateway-config$/,
    /-node-exporter$/,
    /^monitoring-install$/,
    /^monitoring-prometheus-config$/,
    /^monitoring-alertmanager-config$/,
];

export const stepRank = (s: Step) => STEP_ORDER.findIndex((re) => re.test(s.name));

export function orderSteps(resources: Step[]): Step[] {
    const steps = resources.filter((r) => r.type.startsWith("command:remote:"));
    const unknown = steps.filter((s) => stepRank(s) < 0).map((s) => s.name);
    if (unknown.length) throw new Error(`sandbox-apply: no known order for ${unknown.join(", ")}`);
    return steps.sort((a, b) => stepRank(a) - stepRank(b));
}

export class SandboxHost {
    constructor(
        private readonly key: string,
        private readonly port = 2222,
    ) {}

    private opts(): string[] {
        return ["-i", this.key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"];
    }

    ssh(command: string, stdin?: string) {
        return spawnSync("ssh", [...this.opts(), "-p", String(this.port), "root@127.0.0.1", command], {
            input: stdin ?? "",
            encoding: "utf8",
            timeout: 600000,
            maxBuffer: 64 * 1024 * 1024,
        });
    }

    run(command: string): string {
        return this.ssh(command).stdout.trim();
    }

    /** Runs one step as the command provider would. */
    async apply(step: Step): Promise<void> {
        if (step.type === "command:remote:CopyToRemote") {
            // Under mocks the FileAsset arrives as the SDK object, its path still a promise.
            const source = (await step.inputs.source.path) as string;
            execFileSync("scp", ["-q", ...this.opts(), "-P", String(this.port), source, `root@127.0.0.1:${step.inputs.remotePath}`]);
            return;
        }
        const r = this.ssh(step.inputs.create, unwrap(step.inputs.stdin));
        if (r.status !== 0) throw new Error(`${step.name} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }

    destroy(steps: Step[]): void {
        for (const s of [...steps].reverse()) {
            if (!s.inputs.delete) continue;
            const r = this.ssh(s.inputs.delete);
            if (r.status !== 0) throw new Error(`${s.name} delete failed:\n${r.stdout}\n${r.stderr}`);
        }
    }
}

/** The sandbox stack's config, with the machine-specific values and secrets filled in. */
export function sandboxConfig(root: string, key: string, gethBinary: string, slackWebhook: string): Record<string, string> {
    const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.sandbox.yaml"), "utf8")) as { config: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config)) config[k] = typeof v === "string" ? v : JSON.stringify(v);
    config["ethnode:geth"] = JSON.stringify({ ...(doc.config["ethnode:geth"] as object), binaryPath: gethBinary });
    config["ethnode:sshPrivateKey"] = fs.readFileSync(key, "utf8");
    config["ethnode:slackWebhookUrl"] = slackWebhook;
    return config;
}

export const SANDBOX_SECRETS = ["ethnode:sshPrivateKey", "ethnode:slackWebhookUrl"];

/** What the random provider would generate: real randomness, so the sandbox's JWT and passwords are real. */
function randomState(type: string, inputs: Record<string, any>): Record<string, string> {
    if (type === "random:index/randomBytes:RandomBytes") {
        const b = crypto.randomBytes(inputs.length);
        return { hex: b.toString("hex"), base64: b.toString("base64") };
    }
    if (type === "random:index/randomPassword:RandomPassword") {
        return { result: crypto.randomBytes(inputs.length).toString("base64url").slice(0, inputs.length) };
    }
    return {};
}

/** Runs the program once under mocks (outside jest) and returns its steps and stack outputs. */
async function record(config: Record<string, string>): Promise<{ steps: Step[]; outputs: Record<string, unknown> }> {
    const pulumi: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
    const resources: Step[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (a) => {
                resources.push({ type: a.type, name: a.name, inputs: a.inputs });
                return { id: `${a.name}-id`, state: { ...a.inputs, ...randomState(a.type, a.inputs) } };
            },
            call: (a) => {
                throw new Error(`unmocked call ${a.token}`);
            },
        },
        "ethnode",
        "sandbox",
        false,
    );
    pulumi.runtime.setAllConfig(config, SANDBOX_SECRETS);
    const program = require(path.join(__dirname, "..", "index"));
    const outputs = await new Promise<Record<string, unknown>>((r) => pulumi.output(program).apply((v) => r(v as Record<string, unknown>)));
    // Registrations finish asynchronously: wait until the count is stable.
    for (let last = -1, stable = 0; stable < 5; ) {
        await new Promise((r) => setTimeout(r, 20));
        stable = resources.length === last ? stable + 1 : 0;
        last = resources.length;
    }
    return { steps: orderSteps(resources), outputs };
}

async function main(): Promise<void> {
    const [mode, key, gethBinary, slack] = process.argv.slice(2);
    if (!["up", "down"].includes(mode) || !key || !gethBinary || !slack) {
        console.error("usage: sandbox-apply up|down <ssh key> <geth binary> <slack webhook url>");
        process.exit(2);
    }
    const { steps, outputs } = await record(sandboxConfig(process.env.ETHNODE_PROJECT ?? process.cwd(), key, gethBinary, slack));
    const host = new SandboxHost(key);
    if (mode === "down") {
        host.destroy(steps);
        console.log(`sandbox: ran the delete step of ${steps.filter((s) => s.inputs.delete).length} resources`);
        return;
    }
    const started = Date.now();
    for (const s of steps) {
        process.stdout.write(`  + ${s.name} ... `);
        await host.apply(s);
        process.stdout.write("ok\n");
    }
    console.log(`sandbox: ${steps.length} steps applied in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log(JSON.stringify(outputs, null, 2));
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (e) => {
            console.error(String(e instanceof Error ? e.message : e));
            process.exit(1);
        },
    );
}
