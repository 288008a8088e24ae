/**
 * Geth, the execution client: JSON-RPC and WebSocket on loopback for the gateway, the engine API on loopback
 * behind the JWT for the consensus client, Prometheus metrics on loopback, and a graceful stop.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { CLIENT_HEALTH_TIMEOUT_SEC, ClientRole, UnitView, binaryPath, clientBinary, clientHome, deployClient, p2pKeyPath, renderUnit, unitFilePath } from "./client";
import { DEVNET_DIR, DEVNET_FILES } from "./devnet";
import { GethConfig, Network } from "./config";
import { JWT_PATH, LOOPBACK, PORTS, PortMap } from "./ports";
import { Connection } from "./remote";

/** Geth in the execution role. */
export const GETH: ClientRole = {
    role: "execution",
    name: "geth",
    title: "Geth",
    stopTimeoutSec: 600,
    prune: ["snapshot", "prune-state"],
    apiPort: PORTS.gethHttp,
    metricsPort: PORTS.gethMetrics,
    metricsPath: "/debug/metrics/prometheus",
    keySeries: "chain_head_block",
    p2p: [
        { protocol: "tcp", port: PORTS.gethP2p, description: "geth p2p" },
        { protocol: "udp", port: PORTS.gethP2p, description: "geth discovery" },
    ],
};

/** The public RPC namespaces. `engine`, `admin`, `debug`, `personal`, `miner` never appear here. */
export const GETH_HTTP_API = ["eth", "net", "web3"] as const;


/** The file (released with the unit) that tells Geth its static peers on a devnet. */
export const GETH_DEVNET_CONFIG = "geth.toml";

export interface GethFlagsInput {
    network: Network;
    dataDir: string;
    /** On network devnet: its chain id and this node's address (the other nodes are in geth.toml, released with the unit). */
    devnet?: { chainId: number; hostIp: string };
    geth: Pick<GethConfig, "syncMode" | "gcMode" | "cacheMb" | "maxPeers" | "httpVhosts" | "wsOrigins">;
    jwtPath?: string;
    /** Loopback ports; tests move them to avoid clashes. */
    ports?: Partial<PortMap>;
}

/** Geth's command-line flags; pure. */
export function gethFlags(input: GethFlagsInput): string[] {
    const p = { ...PORTS, ...input.ports };
    const g = input.geth;
    const api = GETH_HTTP_API.join(",");
    // The database settings hold on every network; syncing and peers only where there is a network to join
    // (config.ts refuses syncMode and maxPeers on dev rather than drop them).
    const database = [`--gcmode=${g.gcMode}`, `--cache=${g.cacheMb}`];
    let network: string[];
    if (input.network === "dev") {
        // A persistent dev chain with the built-in beacon sealing a block every second.
        network = ["--dev", "--dev.period=1", ...database];
    } else if (input.network === "devnet") {
        if (!input.devnet) throw new Error("ethnode: a devnet's Geth needs its chain id and peers");
        // Its own chain: only the other nodes, dialled by their fixed keys (geth.toml lists them).
        network = [
            `--networkid=${input.devnet.chainId}`,
            // Every block comes from the chain's own beacon nodes and the other nodes: no snapshot to sync from.
            "--syncmode=full",
            ...database,
            `--maxpeers=${g.maxPeers}`,
            `--port=${p.gethP2p}`,
            // The address the others dial (the enode they are told), not one a NAT probe guesses.
            `--nat=extip:${input.devnet.hostIp}`,
            "--nodiscover",
            `--nodekey=${p2pKeyPath(input.dataDir, "geth")}`,
            `--config=${unitFilePath("geth", GETH_DEVNET_CONFIG)}`,
        ];
    } else {
        network = [
            `--${input.network}`,
            `--syncmode=${g.syncMode}`,
            ...database,
            `--maxpeers=${g.maxPeers}`,
            `--port=${p.gethP2p}`,
            `--discovery.port=${p.gethP2p}`,
        ];
    }
    return [
        ...network,
        `--datadir=${clientHome(input.dataDir, "geth")}`,
        "--http",
        `--http.addr=${LOOPBACK}`,
        `--http.port=${p.gethHttp}`,
        `--http.api=${api}`,
        `--http.vhosts=${g.httpVhosts.join(",")}`,
        "--ws",
        `--ws.addr=${LOOPBACK}`,
        `--ws.port=${p.gethWs}`,
        `--ws.api=${api}`,
        `--ws.origins=${g.wsOrigins.join(",")}`,
        `--authrpc.addr=${LOOPBACK}`,
        `--authrpc.port=${p.gethAuthRpc}`,
        "--authrpc.vhosts=localhost",
        `--authrpc.jwtsecret=${input.jwtPath ?? JWT_PATH}`,
        "--metrics",
        `--metrics.addr=${LOOPBACK}`,
        `--metrics.port=${p.gethMetrics}`,
    ];
}

export function renderGethUnit(input: GethFlagsInput): string {
    const view: UnitView = {
        network: input.network,
        dataDir: input.dataDir,
        flags: gethFlags(input),
        stopTimeoutSec: GETH.stopTimeoutSec,
        // A devnet's genesis is written before the first start; on a datadir that has it, init changes nothing,
        // and on one with another genesis it fails: Geth never starts on a chain it was not made for.
        preStart: input.network === "devnet" ? [`${binaryPath("geth")} init --datadir=${clientHome(input.dataDir, "geth")} ${DEVNET_DIR}/${DEVNET_FILES.execution}`] : undefined,
    };
    return renderUnit("geth", view);
}

/** Geth's static and trusted peers on a devnet (TOML, read with --config). */
export function renderGethDevnetConfig(staticNodes: string[]): string {
    const list = staticNodes.map((n) => JSON.stringify(n)).join(", ");
    return `# Rendered by ethnode: the other nodes of this devnet.\n[Node.P2P]\nStaticNodes = [${list}]\nTrustedNodes = [${list}]\n`;
}

export function gethReleaseUrl(version: string, commit: string): string {
    return `https://gethstore.blob.core.windows.net/builds/geth-linux-amd64-${version}-${commit}.tar.gz`;
}

export interface GethArgs {
    connection: pulumi.Input<Connection>;
    network: Network;
    dataDir: string;
    purgeOnDestroy: boolean;
    geth: GethConfig;
    /** The node's last preparation step (host prepared, ethnode CLI installed). */
    hostReady: pulumi.Resource;
    /** The JWT file's step: the engine API needs the key before Geth starts. */
    jwtFile: pulumi.Resource;
    /** The previous node's clients: a rolling upgrade restarts one node at a time. */
    after?: pulumi.Input<pulumi.Resource>;
    /** On a devnet: its chain id, the other nodes' enode URLs, and this node's P2P key (a secret). */
    devnet?: { chainId: number; hostIp: string; staticNodes: pulumi.Input<string[]>; p2pKey: pulumi.Input<string> };
}

export class Geth extends pulumi.ComponentResource {
    public readonly rpcUrl: pulumi.Output<string>;
    public readonly wsUrl: pulumi.Output<string>;
    public readonly authRpcUrl: pulumi.Output<string>;
    public readonly metricsUrl: pulumi.Output<string>;
    public readonly version: string;
    /** Where the gateway reaches this Geth's JSON-RPC and WebSocket (host-local). */
    public readonly rpcBackend: { host: string; port: number };
    public readonly wsBackend: { host: string; port: number };
    /** The last step; dependants wait for a healthy Geth. */
    public readonly service: command.remote.Command;

    constructor(name: string, args: GethArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:geth:Geth", name, {}, opts);
        const g = args.geth;
        this.version = g.version;

        const binary = clientBinary(g, g.commit ? gethReleaseUrl(g.version, g.commit) : undefined);
        this.service = deployClient(this, name, {
            client: GETH.name,
            connection: args.connection,
            binary,
            dataDir: args.dataDir,
            purgeOnDestroy: args.purgeOnDestroy,
            unit: renderGethUnit({ network: args.network, dataDir: args.dataDir, geth: g, devnet: args.devnet && { chainId: args.devnet.chainId, hostIp: args.devnet.hostIp } }),
            unitFiles: args.devnet && pulumi.output(args.devnet.staticNodes).apply((nodes) => ({ [GETH_DEVNET_CONFIG]: renderGethDevnetConfig(nodes) })),
            p2pKey: args.devnet?.p2pKey,
            healthTimeoutSec: CLIENT_HEALTH_TIMEOUT_SEC,
            dependsOn: [args.hostReady, args.jwtFile, ...(args.after ? [args.after] : [])],
        });

        this.rpcBackend = { host: LOOPBACK, port: GETH.apiPort };
        this.wsBackend = { host: LOOPBACK, port: PORTS.gethWs };
        this.rpcUrl = pulumi.output(`http://${LOOPBACK}:${GETH.apiPort}`);
        this.wsUrl = pulumi.output(`ws://${LOOPBACK}:${PORTS.gethWs}`);
        this.authRpcUrl = pulumi.output(`http://${LOOPBACK}:${PORTS.gethAuthRpc}`);
        this.metricsUrl = pulumi.output(`http://${LOOPBACK}:${GETH.metricsPort}${GETH.metricsPath}`);
        this.registerOutputs({
            rpcUrl: this.rpcUrl,
            wsUrl: this.wsUrl,
            authRpcUrl: this.authRpcUrl,
            metricsUrl: this.metricsUrl,
        });
    }
}
