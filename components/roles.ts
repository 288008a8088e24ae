/**
 * Client roles: what the rest of ethnode knows about the execution and the consensus client of a node — the
 * name (unit, system user, install directory, Prometheus job), its loopback API and metrics, its public P2P ports,
 * the series its alerts read. Security-group rules, the gateway's exporter paths, scrape jobs, alert selectors
 * and the CLI's view are all derived from these, keyed by role. A client's own file (components/geth.ts,
 * components/lighthouse.ts, components/prysm.ts) defines its role and renders its flags and unit
 * (assets/systemd/<name>.service); another client is another such file and template, listed here.
 */
import { ConsensusClientName, EthnodeConfig } from "./config";
import { GETH } from "./geth";
import { LIGHTHOUSE } from "./lighthouse";
import { PRYSM } from "./prysm";
import { PRYSM_VALIDATOR } from "./validator";
import { ClientRole } from "./client";

export type { ClientRole, Role } from "./client";

/** The consensus clients by the name `ethnode:consensusClient` takes. */
export const CONSENSUS: Record<ConsensusClientName, ClientRole> = { lighthouse: LIGHTHOUSE, prysm: PRYSM };

/** The validator client a signing node runs. */
export const VALIDATOR = PRYSM_VALIDATOR;

/** The execution client every node runs. */
export const EXECUTION = GETH;

/** A node's consensus client from the stack's config; undefined on `dev` (geth --dev has a built-in beacon). */
export function consensusOf(cfg: Pick<EthnodeConfig, "consensusClient">): ClientRole | undefined {
    return cfg.consensusClient ? CONSENSUS[cfg.consensusClient] : undefined;
}

/**
 * A node's clients in start order; with `validator`, its signer last. The CLI's and the keeper's CLIENTS never
 * include a validator: nothing but `pulumi up` and an operator starts one.
 */
export function nodeClients(consensus: ClientRole | undefined, validator?: ClientRole): ClientRole[] {
    return [EXECUTION, ...(consensus ? [consensus] : []), ...(validator ? [validator] : [])];
}

/** The public P2P ports of a node's clients: the only ports the internet may reach besides the gateway. */
export function p2pRules(consensus: ClientRole | undefined): ClientRole["p2p"] {
    return nodeClients(consensus).flatMap((c) => c.p2p);
}

/** Each client's metrics as a `{name, target, path}` exporter on `host` (the gateway proxies them). */
export function clientExporters(consensus: ClientRole | undefined, host: string, validator?: ClientRole): { name: string; target: string; path: string }[] {
    return nodeClients(consensus, validator).map((c) => ({ name: c.name, target: `${host}:${c.metricsPort}`, path: c.metricsPath }));
}
