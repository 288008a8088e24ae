/**
 * A stack's host steps without the engine: the program runs under Pulumi's mocks (tests/helpers/pulumi.ts), and
 * every `command:remote` step it declares is carried out on a guest the way the `command` provider would on a
 * create — a CopyToRemote's file copied to its path, a Command's `create` run over SSH with its `stdin` — in the
 * order the program registers them (a step registers only after everything it depends on). What the engine alone
 * decides (update vs replace, the order of a replacement's delete) stays in the real-engine tier.
 */
import { spawnSync } from "child_process";
import { Recorded, resolve, withMocks, withSecrets } from "./pulumi";

/** One step as the provider receives it. */
export interface GuestStep {
    name: string;
    kind: "command" | "copy";
    /** Command: the command line; copy: the local file. */
    create: string;
    stdin?: string;
    delete?: string;
    /** Copy: where the file goes, relative to the SSH user's home. */
    remotePath?: string;
}

/** The secret wrapper the SDK's serializer leaves on a mocked input. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function plain(v: unknown): any {
    if (v && typeof v === "object" && SECRET_SIG in (v as object) && "value" in (v as object)) return plain((v as { value: unknown }).value);
    return v;
}

async function stepOf(r: Recorded): Promise<GuestStep | undefined> {
    const i = r.inputs;
    if (r.type === "command:remote:Command") {
        return { name: r.name, kind: "command", create: plain(i.create), stdin: plain(i.stdin), delete: plain(i.delete) };
    }
    if (r.type === "command:remote:CopyToRemote") {
        // A FileAsset keeps its path as a promise.
        const file = await plain(i.source)?.path;
        if (typeof file !== "string") throw new Error(`${r.name}: a CopyToRemote whose source is not a file asset`);
        return { name: r.name, kind: "copy", create: file, remotePath: plain(i.remotePath) };
    }
    return undefined;
}

/** The program's steps for `config` on `stack`, in registration order. */
export async function programSteps(stack: string, config: Record<string, string>): Promise<GuestStep[]> {
    const { config: withKeys, secretKeys } = withSecrets(config);
    const run = await withMocks(stack, withKeys, secretKeys, async (pulumi) => resolve<unknown>(pulumi, await require("../../index")()));
    const steps = await Promise.all(run.resources.map(stepOf));
    return steps.filter((s): s is GuestStep => s !== undefined);
}

export interface Ssh {
    key: string;
    host: string;
    port: number;
    user: string;
}

function sshArgs(s: Ssh): string[] {
    return ["-i", s.key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"];
}

/** Carries out one step's create on the guest; throws with its output when it fails. */
export function runStep(step: GuestStep, s: Ssh): string {
    const r =
        step.kind === "copy"
            ? spawnSync("scp", [...sshArgs(s), "-P", String(s.port), step.create, `${s.user}@${s.host}:${step.remotePath}`], { encoding: "utf8" })
            : spawnSync("ssh", [...sshArgs(s), "-p", String(s.port), `${s.user}@${s.host}`, step.create], { input: step.stdin ?? "", encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 900000 });
    if (r.status !== 0) throw new Error(`step ${step.name} failed (${r.status ?? r.signal}):\n${(r.stdout ?? "").slice(-3000)}\n${(r.stderr ?? "").slice(-3000)}`);
    return r.stdout;
}

/** Carries out one step's delete (a step without one has nothing to undo), fed its create's stdin as the provider does. */
export function runDelete(step: GuestStep, s: Ssh): void {
    if (step.kind !== "command" || !step.delete) return;
    const r = spawnSync("ssh", [...sshArgs(s), "-p", String(s.port), `${s.user}@${s.host}`, step.delete], { input: step.stdin ?? "", encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 600000 });
    if (r.status !== 0) throw new Error(`delete of ${step.name} failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

/** A step's stdin bundle as `unpack_files` reads it: a header line with the byte count, the bytes, a newline. */
export function parseBundle(stdin: string): { mode: string; owner: string; group: string; path: string; content: string }[] {
    const buf = Buffer.from(stdin, "utf8");
    const files = [];
    let at = 0;
    while (at < buf.length) {
        const eol = buf.indexOf("\n", at);
        const [, mode, owner, group, size, path] = buf.subarray(at, eol).toString().split(" ");
        files.push({ mode, owner, group, path, content: buf.subarray(eol + 1, eol + 1 + Number(size)).toString("utf8") });
        at = eol + 2 + Number(size);
    }
    return files;
}
