/**
 * Client roles: what the rest of ethnode knows about the execution and the consensus client of a node — the
 * name (unit, system user, install directory, Prometheus job), its loopback API and metrics, its public P2P ports.
 * Security-group rules, the gateway's exporter paths, scrape jobs, alert selectors and the CLI's view are all
 * derived from these, keyed by role. A client's own file (components/geth.ts, components/lighthouse.ts) defines
 * its role and renders its flags and unit (assets/systemd/<name>.service); another client is another such file
 * and template, selected here.
 */
import { GETH } from "./geth";
import { LIGHTHOUSE } from "./lighthouse";
import { ClientRole } from "./client";

export type { ClientRole, Role } from "./client";

/** The clients a node runs, by role. */
export const ROLES = { execution: GETH, consensus: LIGHTHOUSE } as const;

/** A node's clients in start order; `dev` runs no consensus client (geth --dev has a built-in beacon). */
export function nodeClients(consensus: boolean): ClientRole[] {
    return consensus ? [ROLES.execution, ROLES.consensus] : [ROLES.execution];
}

/** The public P2P ports of a node's clients: the only ports the internet may reach besides the gateway. */
export function p2pRules(consensus: boolean): ClientRole["p2p"] {
    return nodeClients(consensus).flatMap((c) => c.p2p);
}

/** Each client's metrics as a `{name, target, path}` exporter on `host` (the gateway proxies them). */
export function clientExporters(consensus: boolean, host: string): { name: string; target: string; path: string }[] {
    return nodeClients(consensus).map((c) => ({ name: c.name, target: `${host}:${c.metricsPort}`, path: c.metricsPath }));
}
