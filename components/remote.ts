/**
 * The one way ethnode touches a host: a `remote.Command` that runs a rendered bash step as root and receives
 * its files on stdin. Secrets therefore travel only on stdin (encrypted in state, never on a command line or
 * in `ps`), and a step re-runs exactly when its script or any file it installs changes.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readAsset, render, sha256, shq } from "./render";

export type Connection = command.types.input.remote.ConnectionArgs;

export interface HostFile {
    path: string;
    content: pulumi.Input<string>;
    /** Octal mode, e.g. "0640". */
    mode: string;
    owner: string;
    group: string;
    /** Secret content is left out of the trigger hash; its (encrypted) stdin change still re-runs the step. */
    secret?: boolean;
}

export interface HostStepArgs {
    connection: pulumi.Input<Connection>;
    /** Bash body; runs after the prelude with the files already unpacked. */
    script: pulumi.Input<string>;
    /** Files to install; may be an Output when their paths depend on other resources' outputs. */
    files?: HostFile[] | pulumi.Output<HostFile[]>;
    /** Bash body run on `pulumi destroy`. */
    deleteScript?: string;
    /** Extra values whose change must re-run the step. */
    triggers?: pulumi.Input<string>[];
}

/** Wraps a step body into the command line that runs it as root: the body is data, never interpolated. */
export function asRoot(step: string, body: string, withFiles: boolean): string {
    const script = [readAsset("scripts/prelude.sh"), `ETHNODE_STEP=${shq(step)}`, withFiles ? "unpack_files" : "", body]
        .filter(Boolean)
        .join("\n");
    return `sudo -n bash -c ${shq(script)}`;
}

/** Serializes files into the stdin bundle `unpack_files` reads. */
export function bundle(files: { path: string; content: string; mode: string; owner: string; group: string }[]): string {
    return files
        .map((f) => `file ${f.mode} ${f.owner} ${f.group} ${f.path}\n${Buffer.from(f.content, "utf8").toString("base64")}\n`)
        .join("");
}

function checkFile(f: HostFile): void {
    if (!/^0[0-7]{3}$/.test(f.mode) || !/^\/[A-Za-z0-9._/-]+$/.test(f.path)) {
        throw new Error(`ethnode: bad host file spec ${f.path} ${f.mode}`);
    }
}

export function hostStep(name: string, args: HostStepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const withFiles = args.files !== undefined && !(Array.isArray(args.files) && args.files.length === 0);
    const create = pulumi.output(args.script).apply((body) => asRoot(name, body, withFiles));
    let stdin: pulumi.Output<string> | undefined;
    let publicContent: pulumi.Output<string>;
    if (args.files === undefined || Array.isArray(args.files)) {
        const files = args.files ?? [];
        files.forEach(checkFile);
        publicContent = pulumi
            .all([create, ...files.filter((f) => !f.secret).map((f) => pulumi.output(f.content))])
            .apply((parts) => sha256(...parts));
        stdin = withFiles
            ? pulumi.all(files.map((f) => pulumi.output(f.content))).apply((contents) => bundle(files.map((f, i) => ({ ...f, content: contents[i] }))))
            : undefined;
    } else {
        // Paths known only once other resources exist: everything in one Output (secret if any file is).
        const files = args.files as pulumi.Output<(HostFile & { content: string })[]>;
        publicContent = pulumi.all([create, files]).apply(([c, fs]) => {
            fs.forEach(checkFile);
            return sha256(c, ...fs.filter((f) => !f.secret).map((f) => f.content));
        });
        stdin = files.apply((fs) => bundle(fs));
    }
    return new command.remote.Command(
        name,
        {
            connection: args.connection,
            create,
            delete: args.deleteScript ? asRoot(`${name}-delete`, args.deleteScript, false) : undefined,
            stdin,
            triggers: [publicContent, ...(args.triggers ?? [])],
            // No previous stdout in the environment: it is useless to us and sshd would reject it anyway.
            addPreviousOutputInEnv: false,
        },
        opts,
    );
}

/**
 * The script that makes a staged release directory (`<root>/releases/<id>`) live: `check` (bash, with the
 * directory in `$dir`) must pass before `<root>/current` moves and the unit reloads. An empty id only reloads.
 */
export function activateRelease(a: { root: string; unit: string; release: string; check: string }): string {
    return render("scripts/activate-release.sh", { root: shq(a.root), unit: shq(a.unit), release: shq(a.release), check: a.check });
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
