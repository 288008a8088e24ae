/**
 * The host's side of convergence (prelude.sh receipts, read-receipts.sh), run by bash against a scratch directory:
 * a step that succeeds leaves its token and its files' hashes; one that fails, or is interrupted, leaves none; a
 * hand edit of a delivered file is reported as drift naming the file.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tmpDir } from "./helpers/proc";
import { PRELUDE_PATH, asRootDelete, bundle } from "../components/remote";
import { parseReceipts } from "../components/receipts";

const SCRIPTS = path.join(__dirname, "..", "assets", "scripts");

describe("step receipts on the host", () => {
    let dir: string;
    let receipts: string;
    beforeEach(() => {
        dir = tmpDir("receipts");
        receipts = path.join(dir, "steps");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const owner = () => {
        const u = spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();
        const g = spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
        return { owner: u, group: g };
    };

    /** Runs a step as the host would: prelude, receipt_begin, unpack_files from the bundle, then `body`. */
    function step(name: string, token: string, files: Record<string, string>, body = "true") {
        const stdin = bundle(Object.entries(files).map(([p, content]) => ({ path: path.join(dir, p), content, mode: "0644", ...owner() })));
        const script = `source ${SCRIPTS}/prelude.sh\nETHNODE_STEP=${name}\nETHNODE_TOKEN=${token}\nreceipt_begin\nunpack_files\n${body}\n`;
        return spawnSync("bash", ["-c", script], { input: stdin, encoding: "utf8", env: { ...process.env, ETHNODE_RECEIPTS: receipts } });
    }
    const read = () => {
        const r = spawnSync("bash", [path.join(SCRIPTS, "read-receipts.sh")], { encoding: "utf8", env: { ...process.env, ETHNODE_RECEIPTS: receipts } });
        expect(r.stderr).toBe("");
        return parseReceipts(r.stdout);
    };

    it("a step that succeeds leaves its token; its files intact read back as that token", () => {
        expect(step("node-0-gateway-config", "00112233aabbccdd", { "etc/a.conf": "a\n", "etc/b.conf": "b\n" }).status).toBe(0);
        expect(step("node-0-keeper", "0000111122223333", { "etc/k.conf": "k\n" }, "exit 0").status).toBe(0);
        expect(read()).toEqual(
            new Map([
                ["node-0-gateway-config", { token: "00112233aabbccdd" }],
                ["node-0-keeper", { token: "0000111122223333" }],
            ]),
        );
        expect(fs.statSync(receipts).mode & 0o777).toBe(0o700);
    });

    it("a file edited or removed by hand is drift, naming the file", () => {
        step("s1", "00112233aabbccdd", { "etc/a.conf": "a\n", "etc/b.conf": "b\n" });
        step("s2", "0000111122223333", { "etc/c.conf": "c\n" });
        fs.appendFileSync(path.join(dir, "etc/b.conf"), "worker_processes 64;\n");
        fs.rmSync(path.join(dir, "etc/c.conf"));
        expect(read()).toEqual(
            new Map([
                ["s1", { drift: path.join(dir, "etc/b.conf") }],
                ["s2", { drift: path.join(dir, "etc/c.conf") }],
            ]),
        );
    });

    it("a step that fails after it began leaves no receipt, even where an earlier run left one", () => {
        step("s1", "00112233aabbccdd", { "etc/a.conf": "a\n" });
        const r = step("s1", "4444555566667777", { "etc/a.conf": "a2\n" }, "echo half way >&2; false");
        expect(r.status).not.toBe(0);
        expect(read().has("s1")).toBe(false);
        // An interrupted run (killed) is the same: the receipt went before anything changed.
        step("s1", "00112233aabbccdd", { "etc/a.conf": "a\n" });
        const killed = step("s1", "4444555566667777", { "etc/a.conf": "a3\n" }, "kill -KILL $$");
        expect(killed.signal).toBe("SIGKILL");
        expect(read().has("s1")).toBe(false);
    });

    it("a step removed from the stack drops its receipt (receipt_drop in its delete)", () => {
        step("s1", "00112233aabbccdd", { "etc/a.conf": "a\n" });
        const r = spawnSync("bash", ["-c", `source ${SCRIPTS}/prelude.sh\nETHNODE_STEP=s1-delete\nreceipt_drop\n`], { encoding: "utf8", env: { ...process.env, ETHNODE_RECEIPTS: receipts } });
        expect(r.status).toBe(0);
        expect(read().size).toBe(0);
    });

    /** Runs a rendered delete command (as root, without sudo) fed `input`: its exit status, and whether all of the input was taken. */
    function runFedDelete(command: string, input: string): Promise<{ status: number | null; stdin: string }> {
        const child = spawn("bash", ["-c", command.replace(/^sudo -n /, "")], { stdio: ["pipe", "ignore", "inherit"], env: { ...process.env, ETHNODE_RECEIPTS: receipts } });
        const stdin = new Promise<string>((resolve) => {
            child.stdin.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
            child.stdin.on("finish", () => resolve("taken"));
        });
        child.stdin.end(input);
        return Promise.all([new Promise<number | null>((resolve) => child.on("close", resolve)), stdin]).then(([status, s]) => ({ status, stdin: s }));
    }

    // The command provider sends a delete its step's create stdin and fails the delete when the command exits
    // before taking all of it: a devnet's genesis bundle is megabytes, far beyond a pipe's or an SSH window's buffer.
    it.each([
        ["the host still has ethnode", `${SCRIPTS}/prelude.sh`],
        ["ethnode is already gone from the host", "/nonexistent/ethnode/prelude.sh"],
    ])("a delete takes its step's whole stdin before it exits (%s)", async (_, prelude) => {
        const command = asRootDelete("s1-delete", "true").split(PRELUDE_PATH).join(prelude);
        const input = bundle([{ path: path.join(dir, "genesis.ssz.b64"), content: "A".repeat(8 * 1024 * 1024), mode: "0644", ...owner() }]);
        expect(await runFedDelete(command, input)).toEqual({ status: 0, stdin: "taken" });
    });
});
