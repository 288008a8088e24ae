/**
 * Prysm's beacon node, the alternative consensus client: the same role as Lighthouse (engine API behind the
 * JWT, checkpoint sync, Beacon API and metrics on loopback) on the consensus role's ports, so the firewall,
 * the gateway's exporter paths and the CLI do not change with the choice.
 */
import * as pulumi from "@pulumi/pulumi";
import { BeaconArgs, BeaconDevnet, BeaconFlagsInput, BeaconNode, consensusEndpoints } from "./beacon";
import { ClientRole, UnitView, clientBinary, clientHome, p2pKeyPath, renderUnit } from "./client";
import { DEVNET_DIR, DEVNET_FILES, prysmChainFlags } from "./devnet";
import { PrysmConfig } from "./config";
import { JWT_PATH, LOOPBACK, PORTS } from "./ports";

/** Prysm's beacon node in the consensus role. */
export const PRYSM: ClientRole = {
    role: "consensus",
    name: "prysm",
    title: "Prysm",
    stopTimeoutSec: 300,
    beacon: {
        head: "beacon_head_slot",
        clock: "beacon_clock_time_slot",
        finalized: "beacon_finalized_epoch",
        peers: 'p2p_peer_count{state="Connected"}',
    },
    keySeries: "beacon_head_slot",
    ...consensusEndpoints("prysm"),
};

export interface PrysmFlagsInput extends BeaconFlagsInput {
    prysm: Pick<PrysmConfig, "checkpointSyncUrl" | "maxPeers"> & Partial<Pick<PrysmConfig, "slasher">>;
    /** The stack's validators' indices: every beacon node watches them (the missed-attestation alert). */
    monitorIndices?: number[];
}

/** The beacon node's command-line flags; pure. */
export function prysmFlags(input: PrysmFlagsInput): string[] {
    const p = { ...PORTS, ...input.ports };
    return [
        // Prysm asks interactively otherwise, which a unit cannot answer.
        "--accept-terms-of-use",
        ...prysmChainFlags(input.network),
        `--datadir=${clientHome(input.dataDir, "prysm")}`,
        `--execution-endpoint=${input.executionEndpoint}`,
        `--jwt-secret=${input.jwtPath ?? JWT_PATH}`,
        ...(input.network === "devnet" ? devnetFlags(input) : publicCheckpointFlags(input.prysm.checkpointSyncUrl)),
        `--http-host=${LOOPBACK}`,
        `--http-port=${p.beaconHttp}`,
        `--rpc-host=${LOOPBACK}`,
        `--rpc-port=${p.beaconGrpc}`,
        `--monitoring-host=${LOOPBACK}`,
        `--monitoring-port=${p.beaconMetrics}`,
        `--p2p-tcp-port=${p.beaconP2p}`,
        `--p2p-udp-port=${p.beaconP2p}`,
        `--p2p-quic-port=${p.beaconQuic}`,
        `--p2p-max-peers=${input.prysm.maxPeers}`,
        ...(input.monitorIndices?.length ? [`--monitor-indices=${input.monitorIndices.join(",")}`] : []),
        ...(input.prysm.slasher ? ["--slasher"] : []),
    ];
}

/** A public network's start: a finalized checkpoint, and the genesis state, from a beacon API. */
function publicCheckpointFlags(url: string | undefined): string[] {
    if (!url) throw new Error("ethnode: Prysm on a public network needs a checkpoint-sync URL");
    return [`--checkpoint-sync-url=${url}`, `--genesis-beacon-api-url=${url}`];
}

/**
 * A devnet's start: its genesis from the file, its peers only (no discovery, a fixed key, every other node as a
 * trusted peer), no minimum of peers per subnet (three nodes are the whole network); a node beyond the genesis
 * nodes checkpoint-syncs from node 0. A node with peers syncs from one of them before it serves its validator:
 * Prysm restarts from the head it last saved (an epoch's first block), and a beacon node that skipped that sync
 * had its signer build on the stale head, forking the chain away from the votes already cast on the other one.
 */
function devnetFlags(input: PrysmFlagsInput): string[] {
    const d: BeaconDevnet | undefined = input.devnet;
    if (!d) throw new Error("ethnode: a devnet's Prysm needs its peers");
    return [
        `--genesis-state=${DEVNET_DIR}/${DEVNET_FILES.state}`,
        "--contract-deployment-block=0",
        ...(d.checkpointSyncUrl ? [`--checkpoint-sync-url=${d.checkpointSyncUrl}`] : []),
        "--no-discovery",
        `--p2p-priv-key=${p2pKeyPath(input.dataDir, "prysm")}`,
        `--p2p-host-ip=${d.hostIp}`,
        ...d.peers.map((peer) => `--peer=${peer}`),
        `--min-sync-peers=${d.peers.length > 0 ? 1 : 0}`,
        "--minimum-peers-per-subnet=0",
    ];
}

/**
 * Prysm's binaries ask for an executable stack (ELF GNU_STACK RWE, from assembly in their hashing library):
 * glibc then maps every thread's stack executable, which MemoryDenyWriteExecute refuses (pthread_create fails
 * with EPERM and the client aborts). The consensus tier checks the pinned binaries still do.
 */
export const PRYSM_EXECUTABLE_STACK = true;

export function renderPrysmUnit(input: PrysmFlagsInput): string {
    const view: UnitView = {
        network: input.network,
        dataDir: input.dataDir,
        flags: prysmFlags(input),
        stopTimeoutSec: PRYSM.stopTimeoutSec,
        executableStack: PRYSM_EXECUTABLE_STACK,
    };
    return renderUnit("prysm", view);
}

/** The official release: the beacon node as one binary (no archive), verified by its sha256. */
export function prysmReleaseUrl(version: string): string {
    return `https://github.com/OffchainLabs/prysm/releases/download/v${version}/beacon-chain-v${version}-linux-amd64`;
}

export type PrysmArgs = BeaconArgs<PrysmConfig> & { monitorIndices?: number[] };

export class Prysm extends BeaconNode<PrysmConfig> {
    constructor(name: string, args: PrysmArgs, opts?: pulumi.ComponentResourceOptions) {
        const c = args.config;
        super("ethnode:prysm:Prysm", name, PRYSM, args, {
            binary: clientBinary(c, prysmReleaseUrl(c.version as string)),
            unit: (executionEndpoint, devnet) =>
                renderPrysmUnit({ network: args.network, dataDir: args.dataDir, prysm: c, executionEndpoint, monitorIndices: args.monitorIndices, devnet }),
        }, opts);
    }
}
