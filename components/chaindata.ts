/**
 * Where a stack's chain data is, as deployed, and the refusal of an edit that would strand it. The program
 * exports what it deployed (the `chainData` output) and reads it back on the next run through a reference to
 * this very stack, so a `host.dataDir` or `network` edit on a deployed stack fails at preview — before any host
 * is touched — instead of restarting the clients on an empty directory (a silent resync from zero behind a
 * gateway that keeps serving) or on another network's database.
 */
import * as pulumi from "@pulumi/pulumi";
import { Network } from "./config";

/** The stack output that records it. */
export const CHAIN_DATA_OUTPUT = "chainData";

export interface ChainData {
    network: Network;
    dataDir: string;
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

/** What this stack deployed last, read back from its own outputs (undefined before its first deploy). */
function deployed(): pulumi.Output<unknown> {
    const self = new pulumi.StackReference("chain-data-deployed", {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    return self.getOutput(CHAIN_DATA_OUTPUT);
}

/**
 * `next`, once checked against what the stack deployed: every host step waits for it, so a refused edit stops
 * the run (at preview as at `up`) with the message alone, and no host is touched.
 */
export function checkedChainData(next: ChainData, movedFrom?: string): pulumi.Output<ChainData> {
    return deployed().apply((previous) => {
        const refusal = chainDataRefusal(previous, next, movedFrom);
        if (refusal) throw new pulumi.RunError(refusal);
        return next;
    });
}
