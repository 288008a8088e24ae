/** Real processes for tests: free loopback ports, start/stop with cleanup, JSON-RPC over HTTP. */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { ROOT } from "./pulumi";

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address() as net.AddressInfo;
            srv.close(() => resolve(port));
        });
    });
}

/** A fresh directory under the run's temporary root (tests/setup/tmp-root.js removes it after the run). */
export function tmpDir(prefix: string): string {
    return fs.mkdtempSync(path.join(process.env.ETHNODE_TEST_TMP ?? os.tmpdir(), `ethnode-${prefix}-`));
}

export interface Proc {
    child: ChildProcess;
    log: () => string;
    stop: (signal?: NodeJS.Signals) => Promise<void>;
}

export function startProc(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Proc {
    const out = fs.openSync(logFile, "a");
    const child = spawn(cmd, args, { stdio: ["ignore", out, out], env });
    fs.closeSync(out);
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    return {
        child,
        log: () => fs.readFileSync(logFile, "utf8"),
        stop: async (signal = "SIGTERM") => {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill(signal);
                const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
                await exited;
                clearTimeout(timer);
            }
        },
    };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown;
    while (Date.now() < deadline) {
        try {
            const v = await fn();
            if (v !== undefined) return v;
        } catch (e) {
            lastErr = e;
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what} not ready after ${timeoutMs} ms: ${String(lastErr)}`);
}

/**
 * POSTs a JSON body; `json` is the parsed answer (undefined when it is not JSON). With `retryStale`, a pooled
 * keep-alive connection to a process that has since restarted is retried once on a new connection — never
 * for the gateway's own tests, where a failed request is the thing being measured.
 */
export async function postJson(url: string, body: string, headers: Record<string, string> = {}, retryStale = false) {
    const send = () => fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    let res: Response;
    try {
        res = await send();
    } catch (e) {
        if (!retryStale || !String((e as Error & { cause?: unknown }).cause).includes("other side closed")) throw e;
        res = await send();
    }
    const text = await res.text();
    let json: any;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
}

export async function rpc(url: string, method: string, params: unknown[] = [], headers: Record<string, string> = {}) {
    const r = await postJson(url, JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }), headers, true);
    return { status: r.status, body: r.json ?? r.text, headers: r.headers };
}

/** The pins in toolchain/versions.env. */
export function pinnedVersions(): Record<string, string> {
    const env = fs.readFileSync(path.join(ROOT, "toolchain", "versions.env"), "utf8");
    return Object.fromEntries([...env.matchAll(/^(ETHNODE_\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** A Go tool the setup script built into the cache at its pinned version (scripts/lib.sh `go_tool`). */
export function cachedTool(name: string, versionKey: string): string {
    const version = pinnedVersions()[versionKey];
    const cache = process.env.ETHNODE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "ethnode");
    const bin = path.join(cache, `${name}-v${version}`, name);
    if (!fs.existsSync(bin)) throw new Error(`${bin} missing: run scripts/setup-test-deps.sh`);
    return bin;
}

export function gethBinary(): string {
    return cachedTool("geth", "ETHNODE_GETH_VERSION");
}

/** ExecStart's argv from a rendered unit (continuation lines joined). */
export function execStartArgs(unit: string): string[] {
    const m = unit.match(/^ExecStart=((?:.*\\\n)*.*)$/m);
    if (!m) throw new Error("unit has no ExecStart");
    return m[1].replace(/\\\n/g, " ").trim().split(/\s+/).slice(1);
}
