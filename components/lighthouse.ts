/**
 * Lighthouse, the consensus client: a beacon node that drives Geth over the JWT-authenticated engine API,
 * starts from a checkpoint, and serves the Beacon API and metrics on loopback only.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { CLIENT_HEALTH_TIMEOUT_SEC, ClientRole, UnitView, clientBinary, clientHome, deployClient, renderUnit } from "./client";
import { LighthouseConfig, Network } from "./config";
import { JWT_PATH, LOOPBACK, PORTS, PortMap } from "./ports";
import { Connection } from "./remote";

/** Lighthouse in the consensus role. */
export const LIGHTHOUSE: ClientRole = {
    role: "consensus",
    name: "lighthouse",
    apiPort: PORTS.beaconHttp,
    metricsPort: PORTS.beaconMetrics,
    metricsPath: "/metrics",
    keySeries: "beacon_head_slot",
    p2p: [
        { protocol: "tcp", port: PORTS.beaconP2p, description: "lighthouse p2p" },
        { protocol: "udp", port: PORTS.beaconP2p, description: "lighthouse discovery" },
        { protocol: "udp", port: PORTS.beaconQuic, description: "lighthouse quic" },
    ],
};

export interface LighthouseFlagsInput {
    network: Exclude<Network, "dev">;
    dataDir: string;
    lighthouse: Pick<LighthouseConfig, "checkpointSyncUrl" | "targetPeers">;
    executionEndpoint: string;
    jwtPath?: string;
    ports?: Partial<PortMap>;
}

/** Lighthouse's command-line flags; pure. */
export function lighthouseFlags(input: LighthouseFlagsInput): string[] {
    const p = { ...PORTS, ...input.ports };
    return [
        "bn",
        `--network=${input.network}`,
        `--datadir=${clientHome(input.dataDir, "lighthouse")}`,
        `--execution-endpoint=${input.executionEndpoint}`,
        `--execution-jwt=${input.jwtPath ?? JWT_PATH}`,
        `--checkpoint-sync-url=${input.lighthouse.checkpointSyncUrl}`,
        "--http",
        `--http-address=${LOOPBACK}`,
        `--http-port=${p.beaconHttp}`,
        "--metrics",
        `--metrics-address=${LOOPBACK}`,
        `--metrics-port=${p.beaconMetrics}`,
        `--port=${p.beaconP2p}`,
        `--quic-port=${p.beaconQuic}`,
        `--target-peers=${input.lighthouse.targetPeers}`,
        // No validator runs here: following the deposit contract is wasted work.
        "--disable-deposit-contract-sync",
    ];
}

export function renderLighthouseUnit(input: LighthouseFlagsInput): string {
    const view: UnitView = {
        network: input.network,
        dataDir: input.dataDir,
        flags: lighthouseFlags(input),
        stopTimeoutSec: 300,
    };
    return renderUnit("lighthouse", view);
}

export function lighthouseReleaseUrl(version: string): string {
    return `https://github.com/sigp/lighthouse/releases/download/v${version}/lighthouse-v${version}-x86_64-unknown-linux-gnu.tar.gz`;
}

export interface LighthouseArgs {
    connection: pulumi.Input<Connection>;
    network: Exclude<Network, "dev">;
    dataDir: string;
    purgeOnDestroy: boolean;
    lighthouse: LighthouseConfig;
    /** Geth's engine API endpoint. */
    executionEndpoint: pulumi.Input<string>;
    /** Geth's steps: the JWT file and a running execution client. */
    after: pulumi.Resource[];
}

export class Lighthouse extends pulumi.ComponentResource {
    public readonly beaconApiUrl: pulumi.Output<string>;
    public readonly metricsUrl: pulumi.Output<string>;
    public readonly version: string;
    public readonly service: command.remote.Command;

    constructor(name: string, args: LighthouseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:lighthouse:Lighthouse", name, {}, opts);
        const l = args.lighthouse;
        const version = l.version as string;
        this.version = version;
        const binary = clientBinary(l, lighthouseReleaseUrl(version));
        this.service = deployClient(this, name, {
            client: LIGHTHOUSE.name,
            connection: args.connection,
            binary,
            dataDir: args.dataDir,
            purgeOnDestroy: args.purgeOnDestroy,
            // The unit embeds Geth's engine endpoint, an output of the Geth component.
            unit: pulumi
                .output(args.executionEndpoint)
                .apply((executionEndpoint) =>
                    renderLighthouseUnit({ network: args.network, dataDir: args.dataDir, lighthouse: l, executionEndpoint }),
                ),
            healthTimeoutSec: CLIENT_HEALTH_TIMEOUT_SEC,
            dependsOn: args.after,
        });
        this.beaconApiUrl = pulumi.output(`http://${LOOPBACK}:${LIGHTHOUSE.apiPort}`);
        this.metricsUrl = pulumi.output(`http://${LOOPBACK}:${LIGHTHOUSE.metricsPort}${LIGHTHOUSE.metricsPath}`);
        this.registerOutputs({ beaconApiUrl: this.beaconApiUrl, metricsUrl: this.metricsUrl });
    }
}
