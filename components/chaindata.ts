/**
 * Where a stack's chain data is, as deployed, and the refusal of an edit that would strand it. The program
 * exports what it deployed (the `chainData` output) and reads it back on the next run through a reference to
 * this very stack, so a `host.dataDir` or `network` edit on a deployed stack fails at preview — before any
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

/**
 * Reads what this stack deployed last (its own `chainData` output, through a reference to itself; nothing before
 * the first deploy) and throws a RunError — reported as its message alone — when `next` would strand that data.
 * The program awaits it before it creates any resource, so a refused edit touches no host, at preview as at up.
 */
export async function refuseStrandedChainData(next: ChainData, movedFrom?: string): Promise<void> {
    const self = new pulumi.StackReference("chain-data-deployed", {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const refusal = chainDataRefusal(await self.getOutputValue(CHAIN_DATA_OUTPUT), next, movedFrom);
    if (refusal) throw new pulumi.RunError(refusal);
}
