/**
 * What this stack deployed last: its own outputs, read through a reference to itself (nothing before the first
 * deploy). The program reads them before it creates any resource — to refuse edits that would strand the chain
 * data, and to keep the step tokens of a host it cannot reach.
 */
import * as pulumi from "@pulumi/pulumi";

/** The reference keeps the name it had when it served the chain-data check alone, so deployed stacks keep it. */
const REFERENCE_NAME = "chain-data-deployed";

export async function readDeployedOutputs<K extends string>(names: readonly K[]): Promise<Record<K, unknown>> {
    const self = new pulumi.StackReference(REFERENCE_NAME, {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const values = await Promise.all(names.map((n) => self.getOutputValue(n)));
    return Object.fromEntries(names.map((n, i) => [n, values[i]])) as Record<K, unknown>;
}
