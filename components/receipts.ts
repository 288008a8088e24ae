/**
 * How every `up` converges the hosts, whatever happened before (docs/architecture.md, "Convergence").
 *
 * The engine runs a step only when its inputs differ from the state, and the state says nothing of the host: a
 * step that failed half way, an interrupted `up`, or a managed file edited by hand all leave the state believing
 * the host is as configured. So each step carries a token among its inputs, and on success leaves a receipt on the
 * host: that token and the sha256 of every file it delivered (prelude.sh, `receipt_commit`). Before each preview
 * and `up` the program reads every host's receipts once; a step whose receipt is intact keeps its token (no diff),
 * a step with no receipt or a changed file gets a new one, so the engine shows it and runs it again. A step removes
 * its receipt before it changes anything, so a failure leaves none.
 *
 * A host the program cannot reach keeps the tokens the stack deployed last (its `hostSteps` output, read back
 * through the stack's reference to itself) and a warning says that host was not checked.
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readAsset } from "./render";

type Connection = command.types.input.remote.ConnectionArgs;

/** The stack output holding the token each step ran with last. */
export const HOST_STEPS_OUTPUT = "hostSteps";

/** What a host says of one step: intact with its token, or drifted (naming the first changed file). */
export type Receipt = { token: string } | { drift: string };

/** Receipts by step name; undefined when the host could not be read. */
export type HostReceipts = Map<string, Receipt> | undefined;

export interface HostAddress {
    host: string;
    port: number;
    user: string;
    privateKey: string;
}

export type ReceiptReader = (host: HostAddress) => Promise<string>;

/** A token: what the program makes, and all a receipt may hand back into a command. */
export const TOKEN = /^[0-9a-f]{16}$/;

/** Parses read-receipts.sh's lines ("ok <step> <token>" / "drift <step> <what>"); a malformed token is drift. */
export function parseReceipts(text: string): Map<string, Receipt> {
    const receipts = new Map<string, Receipt>();
    for (const line of text.split("\n")) {
        const m = /^(ok|drift) (\S+) (.+)$/.exec(line.trim());
        if (!m) continue;
        const intact = m[1] === "ok" && TOKEN.test(m[3]);
        receipts.set(m[2], intact ? { token: m[3] } : { drift: m[1] === "ok" ? "its receipt" : m[3] });
    }
    return receipts;
}

/** Runs read-receipts.sh as root over ssh; the key goes through a private temporary file, never a command line. */
export const sshReceiptReader: ReceiptReader = async (h) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ethnode-ssh-"));
    const keyFile = path.join(dir, "key");
    try {
        fs.writeFileSync(keyFile, h.privateKey.endsWith("\n") ? h.privateKey : `${h.privateKey}\n`, { mode: 0o600 });
        const options = ["BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "ConnectTimeout=10"];
        const args = ["-F", "/dev/null", "-i", keyFile, ...options.flatMap((o) => ["-o", o]), "-p", String(h.port), `${h.user}@${h.host}`, "sudo -n bash -s"];
        return await new Promise<string>((resolve, reject) => {
            const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
            let out = "";
            let err = "";
            const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (err += d));
            child.on("error", (e) => {
                clearTimeout(timer);
                reject(e);
            });
            child.on("close", (code) => {
                clearTimeout(timer);
                if (code === 0) resolve(out);
                else reject(new Error(err.trim().split("\n").pop() || `ssh exited ${code}`));
            });
            child.stdin.end(readAsset("scripts/read-receipts.sh"));
        });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
};

let reader: ReceiptReader = sshReceiptReader;
let fresh = () => crypto.randomBytes(8).toString("hex");
let deployed: Record<string, string> = {};
const reads = new Map<string, Promise<HostReceipts>>();
const tokens: Record<string, pulumi.Output<string>> = {};

/** Starts a program run: the tokens the stack deployed last (its `hostSteps` output), for hosts that cannot be read. */
export function beginRun(deployedTokens: unknown): void {
    deployed = typeof deployedTokens === "object" && deployedTokens !== null ? (deployedTokens as Record<string, string>) : {};
    reads.clear();
    for (const k of Object.keys(tokens)) delete tokens[k];
}

/** Replaces how hosts are read and, optionally, how new tokens are made (tests: hosts without hosts). */
export function setReceiptReader(r: ReceiptReader, newToken?: () => string): void {
    reader = r;
    if (newToken) fresh = newToken;
    reads.clear();
}

function readOnce(h: HostAddress): Promise<HostReceipts> {
    const key = `${h.user}@${h.host}:${h.port}`;
    let read = reads.get(key);
    if (!read) {
        read = reader(h).then(
            (text) => parseReceipts(text),
            (e: Error) => {
                pulumi.log.warn(`ethnode: could not read ${key} (${e.message}): its steps were not checked against the host; each keeps the token it last ran with`);
                return undefined;
            },
        );
        reads.set(key, read);
    }
    return read;
}

/**
 * The token a step runs with: its intact receipt's, else a new one (the step runs); registered for `hostSteps`.
 * Asked again for the same step (a file uploaded for it carries its token), it is the same token.
 */
export function stepToken(step: string, connection: pulumi.Input<Connection>): pulumi.Output<string> {
    if (tokens[step]) return tokens[step];
    const token = pulumi.unsecret(
        pulumi.output(connection).apply(async (c) => {
            const receipts = await readOnce({ host: c.host, port: c.port ?? 22, user: c.user ?? "root", privateKey: c.privateKey ?? "" });
            if (receipts === undefined) return deployed[step] ?? fresh();
            const r = receipts.get(step);
            if (r && "token" in r) return r.token;
            if (r) pulumi.log.info(`ethnode: ${step}: ${r.drift} changed on ${c.host} since the step ran: it runs again`);
            else if (deployed[step] !== undefined) pulumi.log.info(`ethnode: ${step}: no receipt on ${c.host} (a failed or interrupted run): it runs again`);
            return fresh();
        }),
    );
    tokens[step] = token;
    return token;
}

/** Every step's token, for the `hostSteps` output. */
export function hostStepTokens(): pulumi.Output<Record<string, string>> {
    return pulumi.all(tokens);
}
