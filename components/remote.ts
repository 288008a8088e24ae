/**
 * The one way ethnode touches a host: a `remote.Command` that runs a rendered bash step as root and receives
 * its files on stdin. Secrets therefore travel only on stdin (encrypted in state, never on a command line or
 * in `ps`).
 *
 * Lifecycle, the rule every step follows (docs/architecture.md, "Step lifecycle"): a step never sets
 * `triggers`. Its command and its files are its inputs, so any change to them is an in-place *update* that
 * re-runs the (idempotent) step; nothing a config edit touches can cause a replacement, and so an old step's
 * delete never runs after a new step's create. A delete script runs only when the step leaves the stack, and
 * a step that has one is replaced delete-first should anyone force a replacement.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { TOKEN, stepToken } from "./receipts";
import { readAsset, render, sha256, shq } from "./render";

export type Connection = command.types.input.remote.ConnectionArgs;

/** Where the host keeps the shared shell functions every step sources (installed by the host's prepare step). */
export const PRELUDE_DIR = "/usr/local/lib/ethnode";
export const PRELUDE_PATH = `${PRELUDE_DIR}/prelude.sh`;

export interface HostFile {
    path: string;
    content: pulumi.Input<string>;
    /** Octal mode, e.g. "0640". */
    mode: string;
    owner: string;
    group: string;
}

export interface HostStepArgs {
    connection: pulumi.Input<Connection>;
    /** Bash body; runs after the prelude with the files already unpacked. */
    script: pulumi.Input<string>;
    /**
     * Files to install; may be an Output when their paths depend on other resources' outputs. A secret file
     * makes the whole stdin secret (and its preview `[secret]`): keep secrets in a step of their own.
     */
    files?: HostFile[] | pulumi.Output<HostFile[]>;
    /** Bash body run when the step leaves the stack (destroy, or its node removed); never on an update. */
    deleteScript?: string;
}

/** The command line that runs these lines as root: the script is data (one quoted word), never interpolated. */
function sudoBash(lines: string[]): string {
    return `sudo -n bash -c ${shq(lines.join("\n"))}`;
}

/** A step's command: the host's prelude, then the step's body (its files unpacked first), receipted by `token`. */
export function asRoot(step: string, body: string, withFiles: boolean, token: string): string {
    return sudoBash([
        `source ${PRELUDE_PATH} || { echo "ethnode: ${PRELUDE_PATH} is missing: the host's prepare step has not run" >&2; exit 1; }`,
        stepBody(step, body, withFiles, token),
    ]);
}

/**
 * A delete command: a host whose ethnode files are already gone has nothing left to remove. The command
 * provider sends a delete the step's create stdin too, and fails it ("EOF") when the command exits before
 * taking all of it (a bundle larger than the SSH window, such as a devnet's genesis state): drain it first.
 */
export function asRootDelete(step: string, body: string): string {
    return sudoBash([
        "cat >/dev/null",
        `if [[ ! -r ${PRELUDE_PATH} ]]; then echo "ethnode: ${PRELUDE_PATH} is gone: nothing of ethnode left to remove"; exit 0; fi`,
        `source ${PRELUDE_PATH}`,
        stepBody(step, `receipt_drop\n${body}`, false),
    ]);
}

/** The host's preparation: receives the prelude itself on stdin, installs it, then runs `body` with it. */
export function asRootBootstrap(step: string, body: string, token: string): string {
    return sudoBash([
        "set -Eeuo pipefail",
        `install -d -m 0755 ${PRELUDE_DIR}`,
        `cat >${PRELUDE_PATH}.new`,
        `chmod 0644 ${PRELUDE_PATH}.new`,
        `mv -f ${PRELUDE_PATH}.new ${PRELUDE_PATH}`,
        `source ${PRELUDE_PATH}`,
        // The prelude is this step's file: its receipt covers it.
        stepBody(step, `ETHNODE_UNPACKED+=(${PRELUDE_PATH})\n${body}`, false, token),
    ]);
}

/** Without a token (a delete) the step leaves no receipt. */
function stepBody(step: string, body: string, withFiles: boolean, token?: string): string {
    if (token !== undefined && !TOKEN.test(token)) throw new Error(`ethnode: bad step token for ${step}`);
    const receipt = token === undefined ? [] : [`ETHNODE_TOKEN=${token}`, "receipt_begin"];
    return [`ETHNODE_STEP=${shq(step)}`, ...receipt, withFiles ? "unpack_files" : "", body].filter(Boolean).join("\n");
}

/** The script a step's bash runs, prelude included (what shellcheck and the tests read). */
export function effectiveScript(step: string, body: string, withFiles: boolean): string {
    return [readAsset("scripts/prelude.sh").trimEnd(), stepBody(step, body, withFiles, "0123456789abcdef")].join("\n");
}

/**
 * Serializes files into the stdin bundle `unpack_files` reads: a header line "file <mode> <owner> <group>
 * <bytes> <path>", then the content verbatim and a newline. Plain text, so a preview shows the changed lines.
 */
export function bundle(files: { path: string; content: string; mode: string; owner: string; group: string }[]): string {
    return files.map((f) => `file ${f.mode} ${f.owner} ${f.group} ${Buffer.byteLength(f.content, "utf8")} ${f.path}\n${f.content}\n`).join("");
}

function checkFile(f: HostFile): void {
    if (!/^0[0-7]{3}$/.test(f.mode) || !/^\/[A-Za-z0-9._/-]+$/.test(f.path)) {
        throw new Error(`ethnode: bad host file spec ${f.path} ${f.mode}`);
    }
}

export function hostStep(name: string, args: HostStepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const withFiles = args.files !== undefined && !(Array.isArray(args.files) && args.files.length === 0);
    let stdin: pulumi.Output<string> | undefined;
    if (withFiles && Array.isArray(args.files)) {
        const files = args.files;
        files.forEach(checkFile);
        stdin = pulumi.all(files.map((f) => pulumi.output(f.content))).apply((contents) => bundle(files.map((f, i) => ({ ...f, content: contents[i] }))));
    } else if (withFiles) {
        // Paths known only once other resources exist: everything in one Output.
        stdin = (args.files as pulumi.Output<(HostFile & { content: string })[]>).apply((fs) => {
            fs.forEach(checkFile);
            return bundle(fs);
        });
    }
    const create = pulumi.all([args.script, stepToken(name, args.connection)]).apply(([body, token]) => asRoot(name, body, withFiles, token));
    return stepCommand(name, { connection: args.connection, create, stdin, deleteScript: args.deleteScript }, opts);
}

/** The host's first step: installs the prelude (sent on stdin, so a preview shows its changed lines). */
export function bootstrapStep(
    name: string,
    args: { connection: pulumi.Input<Connection>; script: pulumi.Input<string>; deleteScript: string },
    opts: pulumi.CustomResourceOptions,
): command.remote.Command {
    const create = pulumi.all([args.script, stepToken(name, args.connection)]).apply(([body, token]) => asRootBootstrap(name, body, token));
    return stepCommand(name, { connection: args.connection, create, stdin: pulumi.output(readAsset("scripts/prelude.sh")), deleteScript: args.deleteScript }, opts);
}

function stepCommand(
    name: string,
    a: { connection: pulumi.Input<Connection>; create: pulumi.Output<string>; stdin?: pulumi.Output<string>; deleteScript?: string },
    opts: pulumi.CustomResourceOptions,
): command.remote.Command {
    return new command.remote.Command(
        name,
        {
            connection: a.connection,
            create: a.create,
            delete: a.deleteScript ? asRootDelete(`${name}-delete`, a.deleteScript) : undefined,
            stdin: a.stdin,
            // No previous stdout in the environment: it is useless to us and sshd would reject it anyway.
            addPreviousOutputInEnv: false,
        },
        pulumi.mergeOptions(opts, {
            // `triggers` is the provider's replace-on-change input. No step sets it; a stack deployed by a release
            // that did (content hashes) keeps its old value, so upgrading ethnode updates its steps in place.
            ignoreChanges: ["triggers"],
            // A forced replacement (`pulumi up --replace`) of a step with a delete script must not end with the old
            // step's delete undoing what the new one just installed: delete first, then create.
            deleteBeforeReplace: a.deleteScript !== undefined,
        }),
    );
}

/**
 * The script that makes a staged release directory (`<root>/releases/<id>`) live (assets/scripts/activate-release.sh):
 * `check` (bash, with the directory in `$dir`) must pass before `<root>/current` moves; the unit file the release
 * carries (`<unit>.service`, if any) is installed then, never before; the service reloads (restarts for a new
 * command line) and `health` (bash) must succeed within `healthWait` seconds, or the previous release comes back and
 * the step fails. An empty id only reloads (a secret file changed) and checks health.
 */
export function activateRelease(a: {
    root: string;
    unit: string;
    release: string;
    check: string;
    health: string;
    healthWait?: number;
    /** A service that reads its config at start only (no reload). */
    restart?: boolean;
}): string {
    return render("scripts/activate-release.sh", {
        restart: a.restart ? "true" : "false",
        root: shq(a.root),
        unit: shq(a.unit),
        release: shq(a.release),
        check: a.check,
        health: a.health,
        healthWait: String(a.healthWait ?? 60),
    });
}

/** A release's id: the hash of its files (relative path and content), so any change makes a new directory. */
export function releaseId(files: Record<string, string>): string {
    return sha256(...Object.entries(files).flat()).slice(0, 16);
}

/** Where a release lives on the host (activate-release.sh makes `<root>/current` point at it). */
export function releaseDir(root: string, id: string): string {
    return `${root}/releases/${id}`;
}

/** A release's files as host files in `releaseDir(root, id)`, all with one mode and group (owner root). */
export function releaseHostFiles(
    root: string,
    id: string,
    files: Record<string, string>,
    access: { mode: string; group: string },
): (HostFile & { content: string })[] {
    return Object.entries(files).map(([rel, content]) => ({ path: `${releaseDir(root, id)}/${rel}`, content, owner: "root", ...access }));
}
