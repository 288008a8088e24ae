/**
 * What every consensus client's component shares: it starts after Geth and the JWT, renders its unit around
 * Geth's engine endpoint (an output of the Geth component), and serves the Beacon API and metrics on loopback.
 * Each client (components/lighthouse.ts, components/prysm.ts) brings its spec, flags and release URL.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { CLIENT_HEALTH_TIMEOUT_SEC, ClientBinary, ClientRole, deployClient } from "./client";
import { Network } from "./config";
import { LOOPBACK, PORTS, PortMap } from "./ports";
import { Connection } from "./remote";

/**
 * The consensus role's loopback API and metrics and its public P2P ports: the same whichever client holds the
 * role, so the firewall, the gateway's exporter paths and the CLI do not change with the choice.
 */
export function consensusEndpoints(client: string): Pick<ClientRole, "apiPort" | "metricsPort" | "metricsPath" | "p2p"> {
    return {
        apiPort: PORTS.beaconHttp,
        metricsPort: PORTS.beaconMetrics,
        metricsPath: "/metrics",
        p2p: [
            { protocol: "tcp", port: PORTS.beaconP2p, description: `${client} p2p` },
            { protocol: "udp", port: PORTS.beaconP2p, description: `${client} discovery` },
            { protocol: "udp", port: PORTS.beaconQuic, description: `${client} quic` },
        ],
    };
}

/** What a beacon node needs of a devnet: whom to dial, how it is reached, where a late node syncs from. */
export interface BeaconDevnet {
    /** The other nodes' beacon nodes (`--peer` addresses). */
    peers: string[];
    /** The address the other nodes reach this one at. */
    hostIp: string;
    /** Node 0's beacon API (through its gateway peer listener), for a node beyond `devnet.genesisNodes`. */
    checkpointSyncUrl?: string;
}

/** What a consensus client's flags are rendered from, beside its own config section. */
export interface BeaconFlagsInput {
    network: Exclude<Network, "dev">;
    /** On network devnet. */
    devnet?: BeaconDevnet;
    dataDir: string;
    /** Geth's engine API endpoint. */
    executionEndpoint: string;
    jwtPath?: string;
    /** Loopback ports; tests move them to avoid clashes. */
    ports?: Partial<PortMap>;
}

export interface BeaconArgs<C> {
    connection: pulumi.Input<Connection>;
    network: Exclude<Network, "dev">;
    dataDir: string;
    purgeOnDestroy: boolean;
    /** The client's own config section. */
    config: C;
    /** Geth's engine API endpoint. */
    executionEndpoint: pulumi.Input<string>;
    /** Geth's steps: the JWT file and a running execution client. */
    after: pulumi.Resource[];
    /** On a devnet: its peers and this node's P2P key (a secret). */
    devnet?: { peers: pulumi.Input<BeaconDevnet>; p2pKey: pulumi.Input<string> };
}

/** The consensus role as a component: `ethnode:<client>:<Class>`, its service step and loopback endpoints. */
export abstract class BeaconNode<C> extends pulumi.ComponentResource {
    public readonly beaconApiUrl: pulumi.Output<string>;
    public readonly metricsUrl: pulumi.Output<string>;
    public readonly service: command.remote.Command;
    /** The pinned release it runs. */
    public readonly version: string;
    /** The client it runs (ports, series, names). */
    public readonly spec: ClientRole;

    protected constructor(
        type: string,
        name: string,
        spec: ClientRole,
        args: BeaconArgs<C>,
        how: { binary: ClientBinary; unit: (executionEndpoint: string, devnet?: BeaconDevnet) => string },
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super(type, name, {}, opts);
        this.version = how.binary.version;
        this.spec = spec;
        this.service = deployClient(this, name, {
            client: spec.name,
            connection: args.connection,
            binary: how.binary,
            dataDir: args.dataDir,
            purgeOnDestroy: args.purgeOnDestroy,
            unit: pulumi.all([args.executionEndpoint, args.devnet?.peers]).apply(([endpoint, devnet]) => how.unit(endpoint, devnet)),
            p2pKey: args.devnet?.p2pKey,
            healthTimeoutSec: CLIENT_HEALTH_TIMEOUT_SEC,
            dependsOn: args.after,
        });
        this.beaconApiUrl = pulumi.output(`http://${LOOPBACK}:${spec.apiPort}`);
        this.metricsUrl = pulumi.output(`http://${LOOPBACK}:${spec.metricsPort}${spec.metricsPath}`);
        this.registerOutputs({ beaconApiUrl: this.beaconApiUrl, metricsUrl: this.metricsUrl });
    }
}
