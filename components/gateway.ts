/**
 * Gateway: OpenResty (or Debian's nginx + lua module) in front of Geth's JSON-RPC. Each config edit renders
 * a new release directory (nginx.conf, gateway.json, Lua), which is tested with `nginx -t` before the
 * `current` symlink moves to it and nginx reloads — workers change, the master and open sockets stay.
 */
import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ApiKeyLimit, GatewayConfig } from "./config";
import { LOOPBACK } from "./ports";
import { Connection, activateRelease, hostStep, releaseDir, releaseHostFiles, releaseId } from "./remote";
import { render, renderHardening, shq } from "./render";

export const LUA_DIR = path.join(__dirname, "..", "lua");
export const GATEWAY_ROOT = "/etc/ethnode/gateway";
export const GATEWAY_USER = "ethnode-gw";
/** The gateway's systemd unit. */
export const GATEWAY_UNIT = "ethnode-gateway";

export interface Endpoint {
    host: string;
    port: number;
}

export interface Backend extends Endpoint {
    name: string;
    /** This node's own execution client: preferred while it serves, and the one `ethnode drain` takes out. */
    local?: boolean;
}

/** The file `ethnode drain` creates (tmpfs: a rebooted host comes back in service). */
export const DRAIN_FILE = "/run/ethnode/drained";

/** Where the other nodes' gateways reach this node's execution client, and who they are. */
export interface PeerListener {
    port: number;
    /** The other nodes' addresses: the only clients the listener admits. */
    allow: string[];
}

/** nginx binary and the modules to load, per package source. */
export const NGINX_SOURCES = {
    openresty: { binary: "/usr/local/openresty/nginx/sbin/nginx", loadModules: [] as string[] },
    debian: {
        binary: "/usr/sbin/nginx",
        // The NDK must load before the lua module, which depends on it.
        loadModules: ["/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so"],
    },
} as const;

/** Every Lua module of the gateway, as relative path → source. */
export function luaModules(): Record<string, string> {
    const dir = path.join(LUA_DIR, "ethnode");
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".lua")).sort()) {
        out[`ethnode/${f}`] = fs.readFileSync(path.join(dir, f), "utf8");
    }
    return out;
}

export interface GatewayRenderInput {
    gateway: GatewayConfig;
    backends: Backend[];
    /** Geth's WebSocket endpoint. */
    wsUpstream: Endpoint;
    /** Writable runtime directory (pid, logs, temp). */
    prefix: string;
    /** Where this release's files live; the conf points inside it. */
    releaseDir: string;
    /** Where the secret keys file lives (outside the release: it changes on its own). */
    keysFile: string;
    listenHost?: string;
    /** This node's exporters, proxied on the metrics port as /metrics/<name> for Prometheus on another host:
     * node_exporter (host:port) and each client's (components/roles.ts clientExporters). */
    exporters: { node: string; clients: { name: string; target: string; path: string }[] };
    /** Set when Prometheus runs elsewhere: the metrics port listens on all addresses, for these peers only. */
    metricsAllow?: string[];
    /** Where the certificate chain and key live when the public port serves TLS. */
    tls?: { certificate: string; key: string };
    /** Set with several nodes: the listener the other nodes' gateways use. */
    peer?: PeerListener;
    /** This node's consensus client's Beacon API: its sync state is part of the node's health. */
    consensusApi?: Endpoint;
}

export interface RenderedGateway {
    nginxConf: string;
    gatewayJson: string;
}

/** How long a health probe may take; a drain waits this long past the peers' next probe. */
export const PROBE_TIMEOUT_MS = 2000;

/** The Lua side's view of the config (gateway.json); pure. */
export function gatewayLuaConfig(g: GatewayConfig, backends: Backend[], wsUpstream: Endpoint, cluster = false, consensusApi?: Endpoint): object {
    return {
        allow: g.allowMethods,
        weights: g.methodWeights,
        max_logs_range: g.getLogsMaxRange,
        max_batch: g.maxBatchSize,
        ip_rate: g.ipRate,
        ip_burst: g.ipBurst,
        fail_open: g.failOpen,
        rate_limit_headers_always: g.rateLimitHeaders === "always",
        max_lag: g.maxLagBlocks,
        health_interval: g.healthIntervalSec,
        health_fall: g.healthFall,
        health_rise: g.healthRise,
        body_timeout: g.bodyTimeoutSec,
        probe_timeout_ms: PROBE_TIMEOUT_MS,
        // Only a node with peers can be drained: a lone node drained would refuse every call.
        drain_file: cluster ? DRAIN_FILE : undefined,
        // With peers, a cheap read that hangs is retried elsewhere after this long (the balancer's per-try timeout).
        fast_timeout: cluster ? g.fastReadTimeoutSec : undefined,
        consensus_api: consensusApi,
        backends,
        ws: {
            host: wsUpstream.host,
            port: wsUpstream.port,
            max_message: g.maxBodyBytes,
            frame_sec: g.bodyTimeoutSec,
            // A fragmented message must arrive whole within the time an HTTP body has.
            message_sec: g.bodyTimeoutSec,
            idle_sec: g.wsIdleTimeoutSec,
            max_buffered_ip: g.wsBufferedBytesPerIp,
            max_buffered_worker: g.wsBufferedBytesPerWorker,
            notify_rate: g.wsNotificationRate,
            notify_burst: g.wsNotificationBurst,
        },
    };
}

export function renderGateway(input: GatewayRenderInput): RenderedGateway {
    const g = input.gateway;
    if (input.backends.length === 0) throw new Error("the gateway needs at least one backend");
    const own = input.backends.find((b) => b.local) ?? input.backends[0];
    const gatewayJson = JSON.stringify(gatewayLuaConfig(g, input.backends, input.wsUpstream, input.peer !== undefined, input.consensusApi), null, 2) + "\n";
    const nginxConf = render("gateway/nginx.conf", {
        loadModules: NGINX_SOURCES[g.source].loadModules,
        workers: g.workers,
        prefix: input.prefix,
        luaDir: `${input.releaseDir}/lua`,
        confFile: `${input.releaseDir}/gateway.json`,
        keysFile: input.keysFile,
        trustedProxies: g.trustedProxies,
        maxBodyBytes: g.maxBodyBytes,
        bodyTimeoutSec: g.bodyTimeoutSec,
        upstreamTimeoutSec: g.upstreamTimeoutSec,
        listen: `${input.listenHost ?? "0.0.0.0"}:${g.port}`,
        metricsListen: `${input.metricsAllow ? "0.0.0.0" : LOOPBACK}:${g.metricsPort}`,
        metricsAllow: input.metricsAllow ?? [],
        exporters: input.exporters,
        // Several backends need the Lua balancer (health-aware choice, one retry); one needs none.
        balancer: input.backends.length > 1,
        singleBackend: `${input.backends[0].host}:${input.backends[0].port}`,
        wsMaxConnsPerIp: g.wsMaxConnsPerIp,
        maxConnsPerIp: g.maxConnsPerIp,
        tls: input.tls,
        peer: input.peer,
        peerBeacon: input.peer && input.consensusApi ? `${input.consensusApi.host}:${input.consensusApi.port}` : undefined,
        ownBackend: `${own.host}:${own.port}`,
    });
    return { nginxConf, gatewayJson };
}

/** Every file of a release, by path relative to the release directory; pure. */
export function releaseFiles(input: GatewayRenderInput): Record<string, string> {
    const r = renderGateway(input);
    // The unit is part of the release: it goes live with the config it reads, never before.
    const files: Record<string, string> = {
        "nginx.conf": r.nginxConf,
        "gateway.json": r.gatewayJson,
        [`${GATEWAY_UNIT}.service`]: renderGatewayUnit(input.gateway.source, input.prefix),
        // Where the release's own metrics answer: the health check reads it from the live release, so a step that
        // only reloads (keys, TLS) probes the port the live config listens on, not one a later step will set.
        [METRICS_URL_FILE]: `http://${LOOPBACK}:${input.gateway.metricsPort}/metrics\n`,
    };
    for (const [rel, src] of Object.entries(luaModules())) files[`lua/${rel}`] = src;
    return files;
}

const RELEASE_DIR_STANDIN = "/ethnode-release-dir";
const METRICS_URL_FILE = "metrics-url";

/**
 * A release named by its own content: rendered against a stand-in directory and hashed, so any change to
 * what nginx loads (config, Lua, paths) makes a new directory, then placed under `<root>/releases/<id>`.
 */
export function gatewayRelease(
    input: Omit<GatewayRenderInput, "releaseDir">,
    root: string,
): { id: string; dir: string; files: Record<string, string> } {
    const draft = releaseFiles({ ...input, releaseDir: RELEASE_DIR_STANDIN });
    const id = releaseId(draft);
    const dir = releaseDir(root, id);
    const files = Object.fromEntries(Object.entries(draft).map(([rel, text]) => [rel, text.split(RELEASE_DIR_STANDIN).join(dir)]));
    return { id, dir, files };
}

export function renderGatewayUnit(source: GatewayConfig["source"], prefix: string): string {
    return render("systemd/ethnode-gateway.service", {
        binary: NGINX_SOURCES[source].binary,
        conf: `${GATEWAY_ROOT}/current/nginx.conf`,
        prefix,
        user: GATEWAY_USER,
        // LuaJIT compiles to machine code at run time: it needs writable-executable memory.
        hardening: renderHardening(prefix, true),
    });
}

/** Where the TLS certificate chain and key live on the host (outside the releases: they change on their own). */
export const TLS_FILES = { certificate: `${GATEWAY_ROOT}/tls/certificate.pem`, key: `${GATEWAY_ROOT}/tls/key.pem` };

export interface GatewayArgs {
    connection: pulumi.Input<Connection>;
    gateway: GatewayConfig;
    exporters: GatewayRenderInput["exporters"];
    /** This node's consensus client's Beacon API, on a node that runs one. */
    consensusApi?: Endpoint;
    /** Peers admitted to the metrics port (a monitoring host, or the node Prometheus runs on): addresses or CIDRs. */
    metricsAllow?: pulumi.Input<string>[];
    /** This node's execution client first (`local`), then the other nodes' peer listeners. */
    backends: pulumi.Input<Backend>[];
    wsUpstream: Endpoint;
    dataDir: string;
    apiKeys: pulumi.Input<Record<string, ApiKeyLimit>>;
    /** The certificate chain and key (secrets) when gateway.tls is on. */
    tls?: { certificate: pulumi.Input<string>; key: pulumi.Input<string> };
    /** With several nodes: the other nodes' addresses, admitted to this node's peer listener. */
    peers?: pulumi.Input<string>[];
    after: pulumi.Input<pulumi.Resource>[];
}

export class Gateway extends pulumi.ComponentResource {
    public readonly publicPort: number;
    public readonly metricsUrl: pulumi.Output<string>;
    public readonly healthUrl: pulumi.Output<string>;
    /** The config step: the only resource a limit edit touches. */
    public readonly config: command.remote.Command;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:gateway:Gateway", name, {}, opts);
        const g = args.gateway;
        const prefix = `${args.dataDir}/gateway`;
        const keysFile = `${GATEWAY_ROOT}/keys.json`;
        // Serving: workers of the live release answer on the metrics port (the backends' health is another matter).
        // A live release from before releases named themselves (an upgrade's first keys or TLS reload) has no
        // address to probe and no release id to show: running is all it can prove.
        const urlFile = `\${root}/current/${METRICS_URL_FILE}`;
        const health = `if [[ -r "${urlFile}" ]]; then curl -fsS "$(cat "${urlFile}")" | grep -F "ethnode_gateway_release_info{release=\\"$(live_release)\\"}" >/dev/null; else systemctl is-active --quiet "\${unit}.service"; fi`;

        const install = hostStep(
            `${name}-install`,
            {
                connection: args.connection,
                script: render("scripts/install-gateway.sh", {
                    source: shq(g.source),
                    user: shq(GATEWAY_USER),
                    prefix: shq(prefix),
                    root: shq(GATEWAY_ROOT),
                }),
                deleteScript: render("scripts/remove-gateway.sh", {
                    user: shq(GATEWAY_USER),
                    prefix: shq(prefix),
                    root: shq(GATEWAY_ROOT),
                }),
            },
            { parent: this, dependsOn: args.after },
        );

        // Other nodes' addresses are known once their hosts exist: the release is rendered when they are.
        const release = pulumi
            .all([pulumi.all(args.backends), pulumi.all(args.metricsAllow ?? []), pulumi.all(args.peers ?? [])])
            .apply(([backends, metricsAllow, peers]) =>
                gatewayRelease(
                    {
                        gateway: g,
                        backends,
                        wsUpstream: args.wsUpstream,
                        prefix,
                        keysFile,
                        exporters: args.exporters,
                        consensusApi: args.consensusApi,
                        metricsAllow: args.metricsAllow ? metricsAllow : undefined,
                        tls: args.tls ? TLS_FILES : undefined,
                        peer: args.peers ? { port: g.peerPort, allow: peers } : undefined,
                    },
                    GATEWAY_ROOT,
                ),
            );
        const files = release.apply((r) => releaseHostFiles(GATEWAY_ROOT, r.id, r.files, { mode: "0644", group: "root" }));
        const keys = hostStep(
            `${name}-keys`,
            {
                connection: args.connection,
                files: [
                    {
                        path: keysFile,
                        content: pulumi.output(args.apiKeys).apply((k) => JSON.stringify(k)),
                        mode: "0640",
                        owner: "root",
                        group: GATEWAY_USER,
                    },
                ],
                script: activateRelease({ root: GATEWAY_ROOT, unit: GATEWAY_UNIT, release: "", check: "true", health }),
            },
            { parent: this, dependsOn: [install] },
        );
        // The certificate and key in a step of their own (secrets): a rotation reloads nginx and touches nothing else.
        const tls = args.tls
            ? [
                  hostStep(
                      `${name}-tls`,
                      {
                          connection: args.connection,
                          files: [
                              { path: TLS_FILES.certificate, content: args.tls.certificate, mode: "0644", owner: "root", group: "root" },
                              { path: TLS_FILES.key, content: args.tls.key, mode: "0640", owner: "root", group: GATEWAY_USER },
                          ],
                          script: activateRelease({ root: GATEWAY_ROOT, unit: GATEWAY_UNIT, release: "", check: "true", health }),
                      },
                      { parent: this, dependsOn: [install] },
                  ),
              ]
            : [];
        this.config = hostStep(
            `${name}-config`,
            {
                connection: args.connection,
                files,
                script: release.apply((r) =>
                    activateRelease({
                        root: GATEWAY_ROOT,
                        unit: GATEWAY_UNIT,
                        release: r.id,
                        // nginx -t as the gateway's user: a root-owned log file would lock the workers out.
                        check: `runuser -u ${GATEWAY_USER} -- ${NGINX_SOURCES[g.source].binary} -t -q -p ${shq(prefix)} -c "\${dir}/nginx.conf"`,
                        health,
                    }),
                ),
            },
            { parent: this, dependsOn: [install, keys, ...tls] },
        );
        this.publicPort = g.port;
        this.metricsUrl = pulumi.output(`http://${LOOPBACK}:${g.metricsPort}/metrics`);
        this.healthUrl = pulumi.output(`http://${LOOPBACK}:${g.metricsPort}/health`);
        this.registerOutputs({ metricsUrl: this.metricsUrl, healthUrl: this.healthUrl });
    }
}
