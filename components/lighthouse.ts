/**
 * Lighthouse, the consensus client: a beacon node that drives Geth over the JWT-authenticated engine API,
 * starts from a checkpoint, and serves the Beacon API and metrics on loopback only.
 */
import * as pulumi from "@pulumi/pulumi";
import { BeaconArgs, BeaconFlagsInput, BeaconNode, consensusEndpoints } from "./beacon";
import { ClientRole, UnitView, clientBinary, clientHome, renderUnit } from "./client";
import { LighthouseConfig } from "./config";
import { JWT_PATH, LOOPBACK, PORTS } from "./ports";

/** Lighthouse in the consensus role. */
export const LIGHTHOUSE: ClientRole = {
    role: "consensus",
    name: "lighthouse",
    title: "Lighthouse",
    stopTimeoutSec: 300,
    prune: ["db", "prune-payloads"],
    beacon: {
        head: "beacon_head_slot",
        clock: "slotclock_present_slot",
        finalized: "beacon_finalized_epoch",
        peers: "libp2p_peers",
        synced: "sync_eth2_synced",
    },
    keySeries: "beacon_head_slot",
    ...consensusEndpoints("lighthouse"),
};

export interface LighthouseFlagsInput extends BeaconFlagsInput {
    lighthouse: Pick<LighthouseConfig, "checkpointSyncUrl" | "targetPeers">;
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
        stopTimeoutSec: LIGHTHOUSE.stopTimeoutSec,
    };
    return renderUnit("lighthouse", view);
}

export function lighthouseReleaseUrl(version: string): string {
    return `https://github.com/sigp/lighthouse/releases/download/v${version}/lighthouse-v${version}-x86_64-unknown-linux-gnu.tar.gz`;
}

export type LighthouseArgs = BeaconArgs<LighthouseConfig>;

export class Lighthouse extends BeaconNode<LighthouseConfig> {
    constructor(name: string, args: LighthouseArgs, opts?: pulumi.ComponentResourceOptions) {
        const l = args.config;
        super("ethnode:lighthouse:Lighthouse", name, LIGHTHOUSE, args, {
            binary: clientBinary(l, lighthouseReleaseUrl(l.version as string)),
            unit: (executionEndpoint) => renderLighthouseUnit({ network: args.network, dataDir: args.dataDir, lighthouse: l, executionEndpoint }),
        }, opts);
    }
}
