/**
 * Grafana dashboards, built from a compact spec so every panel's PromQL is in one list that tests evaluate
 * against a real Prometheus. `$node` is the dashboard's node picker.
 */
import { ClientRole, withMatchers } from "./client";

export interface PanelSpec {
    title: string;
    unit: string;
    /** PromQL; `$node` filters by the node variable. */
    exprs: { expr: string; legend: string }[];
}

export interface DashboardSpec {
    uid: string;
    title: string;
    panels: PanelSpec[];
}

const N = 'node=~"$node"';

/**
 * The dashboards of a stack: overview (a row per role the stack runs), host, Geth, gateway, its consensus client
 * and, when it signs, its validators. `validator` is the validator client's spec, on a stack that signs.
 */
export function dashboardSpecs(consensus: ClientRole | undefined, validator?: ClientRole): DashboardSpec[] {
    const specs: DashboardSpec[] = [
        {
            uid: "ethnode-overview",
            title: "ethnode / Overview",
            panels: [
                { title: "Targets up", unit: "short", exprs: [{ expr: `sum by (job) (up{${N}})`, legend: "{{job}}" }] },
                { title: "Firing alerts", unit: "short", exprs: [{ expr: 'sum by (severity) (ALERTS{alertstate="firing"})', legend: "{{severity}}" }] },
                { title: "Execution head", unit: "short", exprs: [{ expr: `chain_head_block{${N}}`, legend: "{{node}}" }] },
                { title: "Gateway calls/s", unit: "reqps", exprs: [{ expr: `sum by (outcome) (node:gateway_calls:rate5m{${N}})`, legend: "{{outcome}}" }] },
                ...(consensus?.beacon
                    ? [
                          { title: "Consensus head slot", unit: "short", exprs: [{ expr: withMatchers(consensus.beacon.head, N), legend: "{{node}}" }] },
                          { title: "Finalized epoch", unit: "short", exprs: [{ expr: withMatchers(consensus.beacon.finalized, N), legend: "{{node}}" }] },
                      ]
                    : []),
                ...(validator
                    ? [
                          { title: "Validator clients up", unit: "short", exprs: [{ expr: `up{job="${validator.name}",${N}}`, legend: "{{node}}" }] },
                          { title: "Validator balance", unit: "short", exprs: [{ expr: `sum by (node) (validator_balance{${N}})`, legend: "{{node}} ETH" }] },
                      ]
                    : []),
            ],
        },
        {
            uid: "ethnode-host",
            title: "ethnode / Host",
            panels: [
                { title: "CPU busy", unit: "percentunit", exprs: [{ expr: `node:cpu_busy:ratio5m{${N}}`, legend: "{{node}}" }] },
                {
                    title: "Memory used",
                    unit: "percentunit",
                    exprs: [{ expr: `1 - node_memory_MemAvailable_bytes{${N}} / node_memory_MemTotal_bytes{${N}}`, legend: "{{node}}" }],
                },
                { title: "Disk space left", unit: "percentunit", exprs: [{ expr: `node:disk_avail:ratio{${N}}`, legend: "{{node}} {{mountpoint}}" }] },
                { title: "Disk busy", unit: "percentunit", exprs: [{ expr: `rate(node_disk_io_time_seconds_total{${N}}[5m])`, legend: "{{node}} {{device}}" }] },
                {
                    title: "Network",
                    unit: "Bps",
                    exprs: [
                        { expr: `sum by (node) (rate(node_network_receive_bytes_total{${N},device!="lo"}[5m]))`, legend: "{{node}} in" },
                        { expr: `sum by (node) (rate(node_network_transmit_bytes_total{${N},device!="lo"}[5m]))`, legend: "{{node}} out" },
                    ],
                },
                { title: "Clock offset", unit: "s", exprs: [{ expr: `node_timex_offset_seconds{${N}}`, legend: "{{node}}" }] },
            ],
        },
        {
            uid: "ethnode-geth",
            title: "ethnode / Geth",
            panels: [
                { title: "Head block", unit: "short", exprs: [{ expr: `chain_head_block{${N}}`, legend: "{{node}}" }] },
                { title: "Blocks per second", unit: "short", exprs: [{ expr: `node:execution_blocks_per_second:deriv5m{${N}}`, legend: "{{node}}" }] },
                { title: "Blocks behind best header", unit: "short", exprs: [{ expr: `chain_head_header{${N}} - chain_head_block{${N}}`, legend: "{{node}}" }] },
                { title: "Peers", unit: "short", exprs: [{ expr: `p2p_peers{${N}}`, legend: "{{node}}" }] },
                {
                    title: "Transaction pool",
                    unit: "short",
                    exprs: [
                        { expr: `txpool_pending{${N}}`, legend: "{{node}} pending" },
                        { expr: `txpool_queued{${N}}`, legend: "{{node}} queued" },
                    ],
                },
            ],
        },
        {
            uid: "ethnode-gateway",
            title: "ethnode / Gateway",
            panels: [
                { title: "Calls by outcome", unit: "reqps", exprs: [{ expr: `node:gateway_calls:rate5m{${N}}`, legend: "{{node}} {{outcome}}" }] },
                { title: "Rejections by reason", unit: "reqps", exprs: [{ expr: `node:gateway_rejections:rate5m{${N}}`, legend: "{{node}} {{reason}}" }] },
                {
                    title: "Top methods",
                    unit: "reqps",
                    exprs: [{ expr: `topk(10, sum by (method) (rate(ethnode_gateway_requests_total{${N}}[5m])))`, legend: "{{method}}" }],
                },
                {
                    title: "Upstream latency",
                    unit: "s",
                    exprs: [
                        {
                            expr: `histogram_quantile(0.5, sum by (le, backend) (rate(ethnode_gateway_upstream_latency_seconds_bucket{${N}}[5m])))`,
                            legend: "p50 {{backend}}",
                        },
                        {
                            expr: `histogram_quantile(0.99, sum by (le, backend) (rate(ethnode_gateway_upstream_latency_seconds_bucket{${N}}[5m])))`,
                            legend: "p99 {{backend}}",
                        },
                    ],
                },
                { title: "Healthy backends", unit: "short", exprs: [{ expr: `ethnode_gateway_backend_healthy{${N}}`, legend: "{{backend}}" }] },
            ],
        },
    ];
    const b = consensus?.beacon;
    if (consensus && b) {
        // The client's own series, with the dashboard's node filter beside any matcher the series carries.
        const sel = (series: string) => withMatchers(series, N);
        specs.push({
            uid: `ethnode-${consensus.name}`,
            title: `ethnode / ${consensus.title}`,
            panels: [
                {
                    title: "Head vs wall-clock slot",
                    unit: "short",
                    exprs: [
                        { expr: sel(b.head), legend: "{{node}} head" },
                        { expr: sel(b.clock), legend: "{{node}} now" },
                    ],
                },
                { title: "Slots behind", unit: "short", exprs: [{ expr: `node:consensus_slot_lag:current{${N}}`, legend: "{{node}}" }] },
                { title: "Finalized epoch", unit: "short", exprs: [{ expr: sel(b.finalized), legend: "{{node}}" }] },
                { title: "Peers", unit: "short", exprs: [{ expr: sel(b.peers), legend: "{{node}}" }] },
                ...(b.synced ? [{ title: "Synced", unit: "bool", exprs: [{ expr: sel(b.synced), legend: "{{node}}" }] }] : []),
            ],
        });
    }
    if (validator && consensus) specs.push(validatorDashboard(validator, consensus));
    return specs;
}

/** The signers: are they up, do they attest and propose, what do they earn, does the slasher see anything. */
function validatorDashboard(validator: ClientRole, consensus: ClientRole): DashboardSpec {
    const V = `job="${validator.name}",${N}`;
    return {
        uid: "ethnode-validator",
        title: `ethnode / ${validator.title}`,
        panels: [
            { title: "Validator clients up", unit: "short", exprs: [{ expr: `up{${V}}`, legend: "{{node}}" }] },
            {
                title: "Attestations submitted",
                unit: "short",
                exprs: [
                    { expr: `sum by (node) (increase(validator_successful_attestations{${V}}[15m]))`, legend: "{{node}} ok" },
                    { expr: `sum by (node) (increase(validator_failed_attestations{${V}}[15m]))`, legend: "{{node}} failed" },
                ],
            },
            {
                title: "Timely target votes (beacon node's view)",
                unit: "short",
                exprs: [{ expr: `sum by (validator_index) (increase(monitor_timely_target{job="${consensus.name}",${N}}[15m]))`, legend: "{{validator_index}}" }],
            },
            {
                title: "Proposals",
                unit: "short",
                exprs: [
                    { expr: `sum by (node) (increase(validator_successful_proposals{${V}}[1h]))`, legend: "{{node}} ok" },
                    { expr: `sum by (node) (increase(validator_failed_proposals{${V}}[1h]))`, legend: "{{node}} failed" },
                ],
            },
            { title: "Balance", unit: "short", exprs: [{ expr: `validator_balance{${V}}`, legend: "{{pubkey}}" }] },
            // The keepers' reading of the beacon nodes (watched indices): it goes on while a signer is down.
            {
                title: "Balance, beacon node's view (ETH)",
                unit: "short",
                exprs: [{ expr: `max by (validator_index) (ethnode_validator_balance_gwei{job="node",${N}}) / 1e9`, legend: "{{validator_index}}" }],
            },
            {
                title: "Slashable messages seen (slasher)",
                unit: "short",
                exprs: [
                    { expr: `sum by (node) (increase(slasher_double_votes_total{job="${consensus.name}",${N}}[1h]))`, legend: "{{node}} double votes" },
                    { expr: `sum by (node) (increase(slasher_double_proposals_total{job="${consensus.name}",${N}}[1h]))`, legend: "{{node}} double proposals" },
                ],
            },
        ],
    };
}

/** Grafana dashboard JSON (schema 39) for one spec; pure. */
export function renderDashboard(spec: DashboardSpec): string {
    const dashboard = {
        uid: spec.uid,
        title: spec.title,
        tags: ["ethnode"],
        timezone: "utc",
        schemaVersion: 39,
        version: 1,
        refresh: "30s",
        time: { from: "now-6h", to: "now" },
        templating: {
            list: [
                {
                    name: "node",
                    label: "Node",
                    type: "query",
                    datasource: { type: "prometheus", uid: "ethnode-prometheus" },
                    query: { query: "label_values(up, node)", refId: "node" },
                    includeAll: true,
                    multi: true,
                    current: { text: "All", value: "$__all" },
                    allValue: ".*",
                    refresh: 2,
                },
            ],
        },
        panels: spec.panels.map((p, i) => ({
            id: i + 1,
            type: "timeseries",
            title: p.title,
            gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
            datasource: { type: "prometheus", uid: "ethnode-prometheus" },
            fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
            targets: p.exprs.map((e, j) => ({
                refId: String.fromCharCode(65 + j),
                expr: e.expr,
                legendFormat: e.legend,
                datasource: { type: "prometheus", uid: "ethnode-prometheus" },
            })),
        })),
    };
    return JSON.stringify(dashboard, null, 2) + "\n";
}
