/**
 * Runs the rendered gateway under Debian's nginx + lua module in a temp prefix on loopback: the same
 * nginx.conf, gateway.json and Lua files the Gateway component installs, with ports moved.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ApiKeyLimit, GatewayConfig, gatewaySection } from "../../components/config";
import { Backend, Endpoint, GatewayRenderInput, releaseFiles } from "../../components/gateway";
import { parseSection } from "../../components/schema";
import { startAnvil } from "./nodes";
import { Proc, freePort, startProc, tmpDir, waitFor } from "./proc";

export interface Gw {
    url: string;
    port: number;
    metricsUrl: string;
    healthUrl: string;
    prefix: string;
    proc: Proc;
    config: GatewayConfig;
    /** Everything nginx and the gateway's Lua wrote about errors: error.log, and stderr (what the journal gets). */
    errorLog: () => string;
    /** Only what went to stderr: on a host, the journal that central logs ship and alert on. */
    journal: () => string;
    /** Re-renders with new settings and sends SIGHUP, as `systemctl reload` would. */
    reload: (overrides: Partial<GatewayConfig>) => Promise<void>;
    stop: () => Promise<void>;
}

export function gatewayConfig(overrides: Record<string, unknown> = {}): GatewayConfig {
    return parseSection("ethnode:gateway", gatewaySection, { source: "debian", ...overrides }, { network: "dev", nodes: 1 });
}

type Exporters = GatewayRenderInput["exporters"];

/** Writes relative-path → content files under dir, world-readable (the workers run as nobody here). */
export function writeTree(dir: string, files: Record<string, string>): void {
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true, mode: 0o755 });
        fs.writeFileSync(path.join(dir, rel), text, { mode: 0o644 });
    }
}

type Tls = { certificate: string; key: string };

/** What a test varies of a release: everything but where it lives. */
type ReleaseInput = Omit<GatewayRenderInput, "prefix" | "releaseDir" | "listenHost">;

function writeRelease(prefix: string, input: ReleaseInput): string {
    // A fixed directory (not the content-named one): a reload re-reads the same -c path, as nginx does.
    const releaseDir = path.join(prefix, "release");
    fs.rmSync(releaseDir, { recursive: true, force: true });
    writeTree(releaseDir, releaseFiles({ ...input, prefix, releaseDir, listenHost: "127.0.0.1" }));
    return path.join(releaseDir, "nginx.conf");
}

export async function startGateway(opts: {
    backends: Backend[];
    wsUpstream?: Endpoint;
    config?: Record<string, unknown>;
    apiKeys?: Record<string, ApiKeyLimit>;
    /** This "node's" exporters, proxied on the metrics port. */
    exporters?: Exporters;
    /** Certificate chain and key files: the public port serves TLS (config tls: true). */
    tls?: Tls;
    /** One node of several: the peer listener (on config's peerPort) admits these addresses. */
    peers?: string[];
    /** The node's consensus client's Beacon API (its sync state is part of the node's health). */
    consensusApi?: Endpoint;
}): Promise<Gw> {
    const prefix = tmpDir("gw");
    // Workers run as nobody (the master is root here): everything they read must be world-readable, and the
    // per-run temp root above the prefix traversable (a body past the buffer goes to a temp file they open).
    fs.chmodSync(prefix, 0o755);
    fs.chmodSync(path.dirname(prefix), 0o711);
    for (const d of ["logs", "run", "tmp"]) fs.mkdirSync(path.join(prefix, d), { mode: 0o777 });
    fs.chmodSync(path.join(prefix, "tmp"), 0o777);
    const keysFile = path.join(prefix, "keys.json");
    fs.writeFileSync(keysFile, JSON.stringify(opts.apiKeys ?? {}), { mode: 0o644 });
    const port = await freePort();
    const metricsPort = await freePort();
    let cfg = gatewayConfig({ healthIntervalSec: 1, ...opts.config, port, metricsPort });
    const wsUpstream = opts.wsUpstream ?? opts.backends[0];
    const exporters = opts.exporters ?? { node: "127.0.0.1:9", clients: [{ name: "geth", target: "127.0.0.1:9", path: "/debug/metrics/prometheus" }] };
    const peer = opts.peers ? { port: cfg.peerPort, allow: opts.peers } : undefined;
    const release = (gateway: GatewayConfig): ReleaseInput => ({
        gateway,
        backends: opts.backends,
        wsUpstream,
        keysFile,
        exporters,
        tls: opts.tls,
        peer,
        consensusApi: opts.consensusApi,
    });
    const conf = writeRelease(prefix, release(cfg));
    execFileSync("nginx", ["-t", "-q", "-p", prefix, "-c", conf], { stdio: "pipe" });
    const proc = startProc("nginx", ["-p", prefix, "-c", conf, "-g", "daemon off;"], path.join(prefix, "logs", "stdout.log"));
    const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
    const healthUrl = `http://127.0.0.1:${metricsPort}/health`;
    await waitFor("gateway health", async () => ((await fetch(healthUrl)).status === 200 ? true : undefined), 20000);
    const gw: Gw = {
        url,
        port,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        healthUrl,
        prefix,
        proc,
        config: cfg,
        errorLog: () => fs.readFileSync(path.join(prefix, "logs", "error.log"), "utf8") + fs.readFileSync(path.join(prefix, "logs", "stdout.log"), "utf8"),
        journal: () => fs.readFileSync(path.join(prefix, "logs", "stdout.log"), "utf8"),
        reload: async (overrides) => {
            cfg = { ...cfg, ...overrides };
            gw.config = cfg;
            writeRelease(prefix, release(cfg));
            execFileSync("nginx", ["-t", "-q", "-p", prefix, "-c", conf], { stdio: "pipe" });
            proc.child.kill("SIGHUP");
            // The old workers finish; new ones answer with the new config.
            await new Promise((r) => setTimeout(r, 500));
        },
        stop: async () => {
            await proc.stop("SIGQUIT");
            fs.rmSync(prefix, { recursive: true, force: true });
        },
    };
    return gw;
}

/** Worker pids of a running nginx master (children of the master process). */
/** A gateway with `config` (and `tls` files) in front of one anvil; `stop` ends both. */
export async function anvilGateway(config: Record<string, unknown>, tls?: Tls) {
    const upstream = await startAnvil();
    const gw = await startGateway({ backends: [{ name: "anvil", host: "127.0.0.1", port: upstream.rpcPort }], config, tls });
    return { upstream, gw, stop: async () => (await gw.stop(), await upstream.proc.stop()) };
}

export function workerPids(masterPid: number): number[] {
    const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(masterPid)], { encoding: "utf8" });
    return out.split(/\s+/).filter(Boolean).map(Number).sort();
}

/** Lua errors are never acceptable: a crash in the pipeline would be a 500 of our own making (the gateway's own
 * line for one, or nginx's). */
export function luaErrors(log: string): string[] {
    return log.split("\n").filter((l) => l.startsWith("ethnode-gateway: lua error") || (/\[(error|crit|alert|emerg)\]/.test(l) && /lua|\.lua:/.test(l)));
}
