/**
 * Monitoring: node_exporter on every node; Prometheus, Alertmanager (→ Slack, optionally email, Watchdog →
 * dead man's switch) and Grafana on the monitoring host. Configs are rendered purely, staged as release
 * directories, checked by promtool/amtool on the host, then swapped in and reloaded.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { LogsConfig, MonitoringConfig, Network } from "./config";
import { dashboardSpecs, renderDashboard } from "./dashboards";
import { TEXTFILE_DIR } from "./keeper";
import { LOOPBACK } from "./ports";
import { CONSENSUS, EXECUTION, VALIDATOR, nodeClients } from "./roles";
import { ClientRole, withMatchers } from "./client";
import { Connection, HostFile, activateRelease, hostStep, releaseDir, releaseHostFiles, releaseId } from "./remote";
import { readAsset, render, seconds, sha256, shq } from "./render";

export const PROMETHEUS_ROOT = "/etc/ethnode/prometheus";
export const ALERTMANAGER_ROOT = "/etc/ethnode/alertmanager";
export const GRAFANA_ROOT = "/etc/ethnode/grafana";

/** One scraped node: its name and where each of its exporters answers, as seen from Prometheus. */
export interface ScrapeNode {
    name: string;
    /** By job (`node`, then each client's name): host:port. */
    targets: Record<string, string>;
    /** On another host: every exporter behind the node's gateway metrics port, at /metrics/<job>. */
    remote?: boolean;
}

export interface ScrapeGateway {
    name: string;
    target: string;
}

export interface PrometheusInput {
    stack: string;
    network: Network;
    /** The stack's consensus client (its scrape job); undefined on dev. */
    consensus: ClientRole | undefined;
    /** The validator client, when some node signs (its scrape job, on those nodes). */
    validator?: ClientRole;
    monitoring: MonitoringConfig;
    nodes: ScrapeNode[];
    gateways: ScrapeGateway[];
    monitorNode: string;
    /** Scraping through each node's gateway metrics port (a separate monitoring host). */
    remote?: boolean;
    /** Central logs, when enabled: VictoriaLogs and vmalert are scraped on the monitoring host. */
    logs?: LogsConfig;
}

/** The central-logs programs Prometheus watches (their job names), on the monitoring host's loopback. */
export function logsJobs(logs: LogsConfig): { job: string; target: string }[] {
    return [
        { job: "victorialogs", target: `${LOOPBACK}:${logs.port}` },
        { job: "vmalert", target: `${LOOPBACK}:${logs.vmalertPort}` },
    ];
}

const ROLE_LIST = [EXECUTION, ...Object.values(CONSENSUS), VALIDATOR];

/** A job's metrics path on its own host: node_exporter's, or the client's (components/roles.ts). */
function localPath(job: string): string {
    return ROLE_LIST.find((c) => c.name === job)?.metricsPath ?? "/metrics";
}

/** Where the gateway's metrics port serves a node's exporter to Prometheus on another host. */
export const remotePath = (job: string) => `/metrics/${job}`;

export function renderPrometheusConfig(input: PrometheusInput): string {
    const m = input.monitoring;
    const jobs = ["node", ...nodeClients(input.consensus, input.validator).map((c) => c.name)].map((job) => ({
        job,
        path: input.remote ? remotePath(job) : localPath(job),
        targets: input.nodes
            .filter((n) => n.targets[job] !== undefined)
            .map((n) => ({
                target: n.targets[job],
                node: n.name,
                throughGateway: n.remote === true,
                // A job's path is the local one unless every node is remote: a remote node says its own.
                behindGateway: n.remote && !input.remote ? remotePath(job) : undefined,
            })),
    }));
    return render("monitoring/prometheus.yml", {
        stack: input.stack,
        network: input.network,
        scrapeInterval: seconds(m.scrapeIntervalSec),
        evaluationInterval: seconds(m.evaluationIntervalSec),
        prometheus: `${m.bindAddress}:${m.prometheusPort}`,
        alertmanager: `${m.bindAddress}:${m.alertmanagerPort}`,
        monitorNode: input.monitorNode,
        jobs,
        gateways: input.gateways,
        logsJobs: input.logs ? logsJobs(input.logs) : [],
    });
}

/** The rules' selectors for each client's series: its job is the client's name (components/roles.ts). */
function roleJobs(consensus: ClientRole | undefined): { execution: string; consensus?: string } {
    return { execution: EXECUTION.name, consensus: consensus?.name };
}

/** The consensus client's series as its rules select them (its own names, its job): undefined without one. */
export function beaconSelectors(consensus: ClientRole | undefined) {
    const b = consensus?.beacon;
    if (!consensus || !b) return undefined;
    const sel = (series: string) => withMatchers(series, `job="${consensus.name}"`);
    return {
        title: consensus.title,
        head: sel(b.head),
        clock: sel(b.clock),
        finalized: sel(b.finalized),
        peers: sel(b.peers),
        synced: b.synced ? sel(b.synced) : undefined,
    };
}

/** What the stack runs beyond one node's clients, as far as the alert rules care. */
export interface RuleScope {
    /** `ethnode:nodes`: the cluster's own alerts only with more than one. Default 1. */
    nodes?: number;
    /** Whether the keeper runs (its series are then expected). Default true. */
    keeper?: boolean;
    /** Central logs, when deployed: their pipeline is watched. */
    logs?: LogsConfig;
    /** `ethnode:network`: the peer-count alerts only where there are peers (not on dev). Default mainnet. */
    network?: Network;
    /** The stack's validators, when it signs. */
    validator?: ValidatorScope;
}

/** What the alert rules and scrape jobs know of a validating stack. */
export interface ValidatorScope {
    spec: ClientRole;
    /** How many nodes sign (each is a validator target). */
    signers: number;
    /** Whether the beacon nodes watch the validators' indices (missed-attestation alert). */
    monitored: boolean;
    /** Whether the beacon nodes run the slasher. */
    slasher: boolean;
    /** Seconds per epoch on the stack's network. */
    epochSeconds: number;
}

/** The validator group's template values: its job, the beacon node's, and windows in epochs. */
function validatorRuleValues(v: ValidatorScope, consensus: ClientRole | undefined) {
    const epochs = (n: number) => `${n * v.epochSeconds}s`;
    return {
        job: v.spec.name,
        beaconJob: consensus?.name,
        monitored: v.monitored,
        slasher: v.slasher,
        oneEpoch: epochs(1),
        epochAndAHalf: epochs(1.5),
        twoEpochs: epochs(2),
        fourEpochs: epochs(4),
    };
}

/** The alert rules for a stack of this scope. */
export function renderAlertRules(m: MonitoringConfig, consensus: ClientRole | undefined, scope: RuleScope = {}): string {
    const { nodes = 1, keeper = true, logs, network = "mainnet", validator } = scope;
    const clients = nodeClients(consensus);
    const jobs = ["node", ...clients.map((c) => c.name), "gateway"];
    // The series each target's alerts read: the clients', the gateway's, and the keeper's when it runs.
    const expectedSeries = [
        ...nodeClients(consensus, validator?.spec).map((c) => ({ job: c.name, series: c.keySeries })),
        { job: "gateway", series: "ethnode_gateway_backend_healthy" },
        ...(keeper ? [{ job: "node", series: "ethnode_keeper_last_check_timestamp_seconds" }] : []),
    ];
    return render("monitoring/alerts.yml", {
        expectedTargets: [
            ...jobs.map((job) => ({ job, count: nodes })),
            ...(validator ? [{ job: validator.spec.name, count: validator.signers }] : []),
            ...(logs ? logsJobs(logs).map(({ job }) => ({ job, count: 1 })) : []),
        ],
        logs: logs !== undefined,
        expectedSeries,
        cluster: nodes > 1 ? { minHealthyNodes: m.minHealthyNodes, nodes } : undefined,
        jobs: roleJobs(consensus),
        cl: beaconSelectors(consensus),
        runbookBase: m.runbookBaseUrl,
        // geth --dev never has peers: a peer-count alert there would fire on every node.
        peers: network !== "dev",
        minExecutionPeers: m.minExecutionPeers,
        minConsensusPeers: m.minConsensusPeers,
        maxSlotLag: m.maxSlotLag,
        egressBytesPerHour: m.egressBytesPerHour,
        rejectionsPerSecond: m.rejectionsPerSecond,
        consensus: consensus !== undefined,
        validator: validator ? validatorRuleValues(validator, consensus) : undefined,
    });
}

export function renderRecordingRules(consensus: ClientRole | undefined): string {
    return render("monitoring/recording.yml", { jobs: roleJobs(consensus), cl: beaconSelectors(consensus) });
}

export interface AlertmanagerInput {
    monitoring: MonitoringConfig;
    secretsDir: string;
    templatesDir: string;
    /** Whether a dead man's switch is configured (its URL is a file in `secretsDir`, never in this config). */
    deadMansSwitch?: boolean;
    /** The nodes whose exporters are scraped through their gateway: a gateway outage there is one cause. */
    scrapedThroughGateway?: boolean;
}

export function renderAlertmanagerConfig(input: AlertmanagerInput): string {
    const m = input.monitoring;
    return render("monitoring/alertmanager.yml", {
        secretsDir: input.secretsDir,
        templatesDir: input.templatesDir,
        groupWait: seconds(m.groupWaitSec),
        groupInterval: seconds(m.groupIntervalSec),
        repeatInterval: seconds(m.repeatIntervalSec),
        criticalRepeatInterval: seconds(m.criticalRepeatIntervalSec),
        channel: m.slackChannel,
        email: m.emailTo
            ? { smarthost: m.smtpSmarthost, from: m.emailFrom, username: m.smtpUsername, to: m.emailTo }
            : undefined,
        deadMansSwitch: input.deadMansSwitch === true,
        scrapedThroughGateway: input.scrapedThroughGateway === true,
    });
}

/** The Grafana plugin that reads VictoriaLogs. */
export const VICTORIALOGS_GRAFANA_PLUGIN = "victoriametrics-logs-datasource";

export function renderGrafanaFiles(
    m: MonitoringConfig,
    consensus: ClientRole | undefined,
    passwordFile: string,
    logs?: LogsConfig,
    validator?: ClientRole,
): Record<string, string> {
    const files: Record<string, string> = {
        "grafana.ini": render("monitoring/grafana/grafana.ini", {
            listen: `${m.bindAddress}:${m.grafanaPort}`,
            address: m.bindAddress,
            port: m.grafanaPort,
            // Grafana expands $__file{…} itself: the password never sits in the ini.
            passwordRef: `$__file{${passwordFile}}`,
            provisioningDir: `${GRAFANA_ROOT}/current/provisioning`,
        }),
        "provisioning/datasources/ethnode.yml": render("monitoring/grafana/datasource.yml", {
            prometheus: `${localAddress(m)}:${m.prometheusPort}`,
            scrapeInterval: seconds(m.scrapeIntervalSec),
            logs: logs ? { url: `http://${LOOPBACK}:${logs.port}`, type: VICTORIALOGS_GRAFANA_PLUGIN } : undefined,
        }),
        "provisioning/dashboards/ethnode.yml": render("monitoring/grafana/dashboards.yml", { dashboardsDir: `${GRAFANA_ROOT}/current/dashboards` }),
    };
    for (const spec of dashboardSpecs(consensus, validator)) files[`dashboards/${spec.uid}.json`] = renderDashboard(spec);
    return files;
}

export interface MonitoringArgs {
    stack: string;
    network: Network;
    /** The stack's consensus client (every node runs the same); undefined on dev. */
    consensus: ClientRole | undefined;
    monitoring: MonitoringConfig;
    /** The host Prometheus, Alertmanager and Grafana run on. */
    connection: pulumi.Input<Connection>;
    monitorNode: string;
    /** Every node: node_exporter is installed through its connection. */
    nodes: {
        name: string;
        connection: pulumi.Input<Connection>;
        /** The node's consensus client; undefined on dev. */
        consensus: ClientRole | undefined;
        /** Its validator client, on a node that signs. */
        validator?: ClientRole;
        after: pulumi.Input<pulumi.Resource>[];
        /** Where Prometheus reaches the node when it runs on another host (its gateway's metrics port). */
        address?: pulumi.Input<string>;
    }[];
    /** The nodes' gateway metrics port: each gateway's own metrics, and the other exporters behind it. */
    gatewayMetricsPort: number;
    /** Nodes behind the cluster alert (`ethnode:nodes`). */
    clusterSize: number;
    /** Whether the nodes run the keeper (its series are then expected). */
    keeper: boolean;
    /** The stack's validators, when it signs. */
    validator?: ValidatorScope;
    slackWebhookUrl: pulumi.Input<string>;
    smtpPassword?: pulumi.Input<string>;
    deadMansSwitchUrl?: pulumi.Input<string>;
    after: pulumi.Input<pulumi.Resource>[];
    purgeOnDestroy: boolean;
    /** Central logs, when enabled: Prometheus watches VictoriaLogs and vmalert, Grafana reads the logs. */
    logs?: LogsConfig;
}

export class Monitoring extends pulumi.ComponentResource {
    public readonly prometheusUrl: pulumi.Output<string>;
    public readonly alertmanagerUrl: pulumi.Output<string>;
    public readonly grafanaUrl?: pulumi.Output<string>;
    public readonly grafanaAdminPassword?: pulumi.Output<string>;
    public readonly alertmanagerConfig: command.remote.Command;
    /** The Alertmanager secrets step: the only resource a Slack-webhook edit touches. */
    public readonly alertmanagerSecrets: command.remote.Command;
    public readonly prometheusConfig: command.remote.Command;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:monitoring:Monitoring", name, {}, opts);
        const m = args.monitoring;
        const consensus = args.consensus;

        const exporters = args.nodes.map((n) =>
            hostStep(
                `${name}-${n.name}-node-exporter`,
                {
                    connection: n.connection,
                    script: render("scripts/install-node-exporter.sh", { listen: shq(`127.0.0.1:${m.nodeExporterPort}`), textfileDir: shq(TEXTFILE_DIR) }),
                    deleteScript: render("scripts/remove-packages.sh", { units: shq("prometheus-node-exporter"), purge: shq(String(args.purgeOnDestroy)) }),
                },
                { parent: this, dependsOn: n.after },
            ),
        );

        const install = hostStep(
            `${name}-install`,
            {
                connection: args.connection,
                script: render("scripts/install-monitoring.sh", {
                    prometheusArgs: shq(
                        [
                            `--config.file=${PROMETHEUS_ROOT}/current/prometheus.yml`,
                            `--web.listen-address=${m.bindAddress}:${m.prometheusPort}`,
                            `--storage.tsdb.retention.time=${m.retentionDays}d`,
                            // No lifecycle API (any local process could stop Prometheus): reloads are SIGHUP.
                        ].join(" "),
                    ),
                    alertmanagerArgs: shq(
                        [
                            `--config.file=${ALERTMANAGER_ROOT}/current/alertmanager.yml`,
                            `--web.listen-address=${m.bindAddress}:${m.alertmanagerPort}`,
                            // One Alertmanager: no gossip port.
                            "--cluster.listen-address=",
                        ].join(" "),
                    ),
                    grafana: shq(String(m.grafana)),
                    grafanaPlugin: shq(args.logs ? VICTORIALOGS_GRAFANA_PLUGIN : ""),
                    grafanaPluginVersion: shq(args.logs?.grafanaPluginVersion ?? ""),
                    grafanaIni: shq(`${GRAFANA_ROOT}/current/grafana.ini`),
                    roots: [PROMETHEUS_ROOT, ALERTMANAGER_ROOT, GRAFANA_ROOT].map(shq).join(" "),
                }),
                deleteScript: render("scripts/remove-packages.sh", {
                    units: shq("prometheus prometheus-alertmanager grafana-server"),
                    purge: shq(String(args.purgeOnDestroy)),
                }),
            },
            { parent: this, dependsOn: args.after },
        );

        // Prometheus: config + rules as one release, checked by promtool on the host. From a separate host the
        // nodes' addresses are outputs of their hosts, so the release is rendered inside an Output.
        // Nodes on other hosts (all of them with a monitoring host; the others with several nodes) are scraped
        // through their gateway's metrics port; the one Prometheus runs on, on loopback.
        const remote = args.nodes.every((n) => n.address !== undefined);
        const promRender = pulumi.all(args.nodes.map((n) => pulumi.output(n.address ?? ""))).apply((addresses) => {
            const nodes = args.nodes.map((n, i) =>
                n.address !== undefined
                    ? remoteScrapeNode(n.name, addresses[i], args.gatewayMetricsPort, n.consensus, n.validator)
                    : scrapeNode(n.name, m, n.consensus, n.validator),
            );
            const gateways = args.nodes.map((n, i) => ({
                name: n.name,
                target: `${n.address !== undefined ? addresses[i] : "127.0.0.1"}:${args.gatewayMetricsPort}`,
            }));
            const files = {
                "prometheus.yml": renderPrometheusConfig({
                    consensus,
                    validator: args.validator?.spec,
                    stack: args.stack,
                    network: args.network,
                    monitoring: m,
                    nodes,
                    gateways,
                    monitorNode: args.monitorNode,
                    remote,
                    logs: args.logs,
                }),
                "alerts.yml": renderAlertRules(m, consensus, {
                    nodes: args.clusterSize,
                    keeper: args.keeper,
                    logs: args.logs,
                    network: args.network,
                    validator: args.validator,
                }),
                "recording.yml": renderRecordingRules(consensus),
            };
            const release = releaseId(files);
            return { release, files: releaseHostFiles(PROMETHEUS_ROOT, release, files, { mode: "0640", group: "prometheus" }) };
        });
        // Serving: Prometheus and Alertmanager say they are ready (a config they could not load stops them).
        const ready = (port: number) => `curl -fsS -o /dev/null http://${localAddress(m)}:${port}/-/ready`;
        this.prometheusConfig = hostStep(
            `${name}-prometheus-config`,
            {
                connection: args.connection,
                files: promRender.files,
                script: promRender.release.apply((release) =>
                    activateRelease({
                        root: PROMETHEUS_ROOT,
                        unit: "prometheus",
                        release,
                        check: 'promtool check config "${dir}/prometheus.yml"',
                        health: ready(m.prometheusPort),
                    }),
                ),
            },
            { parent: this, dependsOn: [install, ...exporters] },
        );

        // Alertmanager: config + templates + secrets, in one step so a webhook edit touches only this.
        const secretsDir = `${ALERTMANAGER_ROOT}/secrets`;
        const amTemplate = readAsset("monitoring/ethnode.tmpl"); // Go templates, not mustache
        // Every secret (the Slack webhook, the SMTP password, the dead man's switch URL) is a file the config names:
        // none is in the config, so Alertmanager's /api/v2/status shows none, and the config previews in clear.
        const amConfig = renderAlertmanagerConfig({
            monitoring: m,
            secretsDir,
            templatesDir: `${ALERTMANAGER_ROOT}/current`,
            deadMansSwitch: args.deadMansSwitchUrl !== undefined,
            scrapedThroughGateway: args.nodes.some((n) => n.address !== undefined),
        });
        const amRelease = sha256(amConfig, amTemplate).slice(0, 16);
        const secretFile = (file: string, content: pulumi.Input<string>): HostFile => ({
            path: `${secretsDir}/${file}`,
            content,
            mode: "0640",
            owner: "root",
            group: "prometheus",
        });
        // The secrets in a step of their own: a webhook edit touches only this, and a config edit previews in clear.
        this.alertmanagerSecrets = hostStep(
            `${name}-alertmanager-secrets`,
            {
                connection: args.connection,
                files: [
                    secretFile("slack_webhook", args.slackWebhookUrl),
                    ...(args.smtpPassword ? [secretFile("smtp_password", args.smtpPassword)] : []),
                    ...(args.deadMansSwitchUrl ? [secretFile("deadmans_switch_url", args.deadMansSwitchUrl)] : []),
                ],
                script: activateRelease({ root: ALERTMANAGER_ROOT, unit: "prometheus-alertmanager", release: "", check: "true", health: ready(m.alertmanagerPort) }),
            },
            { parent: this, dependsOn: [install] },
        );
        this.alertmanagerConfig = hostStep(
            `${name}-alertmanager-config`,
            {
                connection: args.connection,
                files: [
                    {
                        path: `${releaseDir(ALERTMANAGER_ROOT, amRelease)}/alertmanager.yml`,
                        content: amConfig,
                        mode: "0640",
                        owner: "root",
                        group: "prometheus",
                    },
                    { path: `${releaseDir(ALERTMANAGER_ROOT, amRelease)}/ethnode.tmpl`, content: amTemplate, mode: "0644", owner: "root", group: "root" },
                ],
                script: activateRelease({
                    root: ALERTMANAGER_ROOT,
                    unit: "prometheus-alertmanager",
                    release: amRelease,
                    check: 'amtool check-config "${dir}/alertmanager.yml"',
                    health: ready(m.alertmanagerPort),
                }),
            },
            { parent: this, dependsOn: [install, this.alertmanagerSecrets] },
        );

        const bind = localAddress(m);
        this.prometheusUrl = pulumi.output(`http://${bind}:${m.prometheusPort}`);
        this.alertmanagerUrl = pulumi.output(`http://${bind}:${m.alertmanagerPort}`);

        if (m.grafana) {
            const password = new random.RandomPassword(`${name}-grafana-admin`, { length: 32, special: false }, { parent: this });
            this.grafanaAdminPassword = pulumi.secret(password.result);
            const passwordFile = `${GRAFANA_ROOT}/admin_password`;
            const files = renderGrafanaFiles(m, consensus, passwordFile, args.logs, args.validator?.spec);
            const passwordStep = hostStep(
                `${name}-grafana-password`,
                {
                    connection: args.connection,
                    files: [{ path: passwordFile, content: this.grafanaAdminPassword, mode: "0640", owner: "root", group: "grafana" }],
                    script: "if changed " + shq(passwordFile) + " && systemctl is-active --quiet grafana-server.service; then systemctl restart grafana-server.service; fi",
                },
                { parent: this, dependsOn: [install] },
            );
            // A release like the others: Grafana runs with the ini of `current` (install-monitoring points it there).
            const release = releaseId(files);
            hostStep(
                `${name}-grafana-config`,
                {
                    connection: args.connection,
                    files: releaseHostFiles(GRAFANA_ROOT, release, files, { mode: "0640", group: "grafana" }),
                    script: activateRelease({
                        root: GRAFANA_ROOT,
                        unit: "grafana-server",
                        release,
                        // Grafana has no config checker: every dashboard must at least be JSON.
                        check: 'for f in "${dir}"/dashboards/*.json; do jq -e . "$f" >/dev/null; done',
                        health: `curl -fsS -o /dev/null http://${localAddress(m)}:${m.grafanaPort}/api/health`,
                        // Grafana reads its ini and provisioning at start only.
                        restart: true,
                    }),
                },
                { parent: this, dependsOn: [install, passwordStep] },
            );
            this.grafanaUrl = pulumi.output(`http://${bind}:${m.grafanaPort}`);
        }
        this.registerOutputs({ prometheusUrl: this.prometheusUrl, alertmanagerUrl: this.alertmanagerUrl, grafanaUrl: this.grafanaUrl });
    }
}

/** Where a program on the monitoring host reaches Prometheus, Alertmanager and Grafana (any address: loopback). */
export function localAddress(m: Pick<MonitoringConfig, "bindAddress">): string {
    return m.bindAddress === "0.0.0.0" ? LOOPBACK : m.bindAddress;
}

/** Targets of one node as Prometheus on the same host sees them (loopback). */
export function scrapeNode(name: string, m: MonitoringConfig, consensus: ClientRole | undefined, validator?: ClientRole): ScrapeNode {
    const targets: Record<string, string> = { node: `127.0.0.1:${m.nodeExporterPort}` };
    for (const c of nodeClients(consensus, validator)) targets[c.name] = `127.0.0.1:${c.metricsPort}`;
    return { name, targets };
}

/** Targets of one node as another host sees them: everything through the gateway's metrics port. */
export function remoteScrapeNode(name: string, address: string, gatewayMetricsPort: number, consensus: ClientRole | undefined, validator?: ClientRole): ScrapeNode {
    const target = `${address}:${gatewayMetricsPort}`;
    const targets: Record<string, string> = { node: target };
    for (const c of nodeClients(consensus, validator)) targets[c.name] = target;
    return { name, targets, remote: true };
}
