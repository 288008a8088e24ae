/** The README's configuration reference, generated from the config module so the two cannot drift. */
import { CONSENSUS_CLIENTS, MAX_NODES, NETWORKS, SECRET_KEYS, SECTIONS } from "./config";
import { Field, hasDefault } from "./schema";

function defaultText(field: Field<unknown>): string {
    if (field.defaultDoc) return field.defaultDoc;
    if (!hasDefault(field)) return "required";
    const d = field.default;
    return typeof d === "function" ? "computed" : `\`${JSON.stringify(d)}\``;
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

export function configReference(): string {
    const rows = [
        "| key | accepts | default | meaning |",
        "| --- | --- | --- | --- |",
        `| \`ethnode:network\` | one of ${NETWORKS.join(", ")} | required | Which chain; \`dev\` runs \`geth --dev\` and no consensus client |`,
        `| \`ethnode:nodes\` | an integer from 1 to ${MAX_NODES} | \`1\` | How many nodes, each with its own host, JWT, clients and gateway; with more than one, every gateway serves from all nodes, a client version edit rolls through them one at a time, and on aws a load balancer spans them |`,
        `| \`ethnode:consensusClient\` | one of ${CONSENSUS_CLIENTS.join(", ")} | \`"${CONSENSUS_CLIENTS[0]}"\` (unset on dev) | The consensus client every node runs; its section (\`ethnode:lighthouse\` or \`ethnode:prysm\`) names its release, and the other section must be unset |`,
    ];
    for (const [section, fields] of Object.entries(SECTIONS)) {
        for (const [name, field] of Object.entries(fields as Record<string, Field<unknown>>)) {
            rows.push(`| \`ethnode:${section}.${name}\` | ${cell(field.expected)} | ${cell(defaultText(field))} | ${cell(field.doc)} |`);
        }
    }
    rows.push(
        "| `ethnode:monitoringHost.*` | the keys of `ethnode:host` | unset | A separate host for Prometheus, Alertmanager and Grafana, on the same provider; nodes then admit it on their gateway metrics port only |",
    );
    for (const [key, doc] of Object.entries(SECRET_KEYS)) {
        rows.push(`| \`ethnode:${key}\` (secret) | set with \`pulumi config set --secret\` | — | ${cell(doc)} |`);
    }
    return rows.join("\n");
}
