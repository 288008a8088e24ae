/**
 * Where a stack's chain data is, as deployed, and the refusal of an edit that would strand it. The program
 * exports what it deployed (the `chainData` output) and reads it back on the next run (components/deployed.ts), so a `host.dataDir` or `network` edit on a deployed stack fails at preview — before any
 * resource exists — instead of restarting the clients on an empty directory (a silent resync from zero behind
 * a gateway that keeps serving) or on another network's database.
 */
import * as pulumi from "@pulumi/pulumi";
import { Network } from "./config";

/** The stack output that records it. */
export const CHAIN_DATA_OUTPUT = "chainData";

export interface ChainData {
    network: Network;
    dataDir: string;
    /** Geth's database kind: a full node's pruned state or an archive's. */
    gethGcMode: "full" | "archive";
}

/**
 * Why `next` may not replace what the stack deployed (`previous`, its `chainData` output: absent before the
 * first deploy), or undefined. `movedFrom`: `host.dataDirMovedFrom`, the operator's word that the data was moved
 * by hand from that directory (docs/operations.md, "Move the chain data").
 */
export function chainDataRefusal(previous: unknown, next: ChainData, movedFrom?: string): string | undefined {
    if (typeof previous !== "object" || previous === null) return undefined;
    const p = previous as Partial<ChainData>;
    if (p.network !== undefined && p.network !== next.network) {
        return (
            `ethnode:network cannot change on a deployed stack (${p.network} → ${next.network}): every node's chain data is ` +
            `${p.network}'s, and its clients would refuse it or sync ${next.network} from zero in its place. ` +
            `Deploy ${next.network} as a stack of its own (pulumi stack init), or set ethnode:network back to ${p.network}.`
        );
    }
    if (p.gethGcMode !== undefined && p.gethGcMode !== next.gethGcMode) {
        const kept =
            p.gethGcMode === "full"
                ? "a full node's, pruned as it went: an archive would hold history only from now on, not the state it never kept"
                : "an archive's: a full node would prune only what it writes from now on, while the archive's terabytes stay";
        const instead = next.gethGcMode === "archive" ? "an archive node" : "a full node";
        return (
            `ethnode:geth.gcMode cannot change on a deployed stack (${p.gethGcMode} → ${next.gethGcMode}): Geth's database is ${kept}. ` +
            `Deploy ${instead} as a stack of its own and let it sync, or set ethnode:geth.gcMode back to ${p.gethGcMode}.`
        );
    }
    if (p.dataDir !== undefined && p.dataDir !== next.dataDir && movedFrom !== p.dataDir) {
        return (
            `ethnode:host.dataDir cannot change on a deployed stack (${p.dataDir} → ${next.dataDir}): the chain data stays in ` +
            `${p.dataDir} and the clients would start empty in ${next.dataDir}, a resync from zero. To move it, stop the ` +
            `clients and move the directory on every host (docs/operations.md, "Move the chain data"), then set ` +
            `ethnode:host.dataDirMovedFrom to ${p.dataDir} with the new dataDir; or set ethnode:host.dataDir back to ${p.dataDir}.`
        );
    }
    return undefined;
}

/**
 * Throws a RunError — reported as its message alone — when `next` would strand the data the stack deployed
 * (`previous`, its `chainData` output). The program calls it before it creates any resource, so a refused edit
 * touches no host, at preview as at up.
 */
export function refuseStrandedChainData(previous: unknown, next: ChainData, movedFrom?: string): void {
    const refusal = chainDataRefusal(previous, next, movedFrom);
    if (refusal) throw new pulumi.RunError(refusal);
}
