/** Rendered monitoring configs written to a temp directory, and the real Prometheus/Alertmanager binaries. */
import * as fs from "fs";
import * as path from "path";
import { MonitoringConfig, logsSection, monitoringSection, Network } from "../../components/config";
import { parseSection } from "../../components/schema";
import { readAsset } from "../../components/render";
import {
    renderAlertRules,
    renderAlertmanagerConfig,
    renderPrometheusConfig,
    renderRecordingRules,
    remoteScrapeNode,
    scrapeNode,
} from "../../components/monitoring";
import { tmpDir } from "./proc";
import { ClientRole } from "../../components/client";
import { LIGHTHOUSE } from "../../components/lighthouse";
import { PRYSM } from "../../components/prysm";

/** The values tests/monitoring/alerts_test.yml was written against. */
export const RULE_TEST_VALUES = {
    runbookBaseUrl: "https://runbooks.example/ethnode.md",
    minExecutionPeers: 5,
    minConsensusPeers: 16,
    maxSlotLag: 8,
    egressBytesPerHour: 50000000000,
    rejectionsPerSecond: 50,
    minHealthyNodes: 2,
};

/** The cluster tests/monitoring/alerts_test.yml was written for. */
export const RULE_TEST_NODES = 3;

/** Central logs as a stack enables them: released binaries (with their sha256) or uploaded ones (any local file). */
export function logsConfig(source: "release" | "upload") {
    const bin = source === "release" ? { Sha256: "c".repeat(64) } : { BinaryPath: "/bin/true" };
    const fields: Record<string, unknown> = { enabled: true, victoriaLogsSource: source, vmalertSource: source };
    for (const [k, v] of Object.entries(bin)) {
        fields[`victoriaLogs${k}`] = v;
        fields[`vmalert${k}`] = v;
    }
    return parseSection("ethnode:logs", logsSection, fields, { network: "mainnet", nodes: 3 });
}

/** Central logs on, at their default ports: the pipeline's own alerts are rendered and tested too. */
export const RULE_TEST_LOGS = logsConfig("upload");

export function monitoringConfig(overrides: Record<string, unknown> = {}): MonitoringConfig {
    return parseSection("ethnode:monitoring", monitoringSection, overrides, { network: "mainnet", nodes: 1 });
}

export interface Variant {
    name: string;
    network: Network;
    monitoring: MonitoringConfig;
    deadMansSwitchUrl?: string;
    /** Prometheus on a separate host, scraping nodes through their gateway metrics port. */
    remote?: boolean;
    /** The consensus client (Lighthouse unless set; none on dev). */
    consensus?: ClientRole;
}

export const VARIANTS: Variant[] = [
    { name: "mainnet-defaults", network: "mainnet", monitoring: monitoringConfig() },
    {
        name: "sepolia-email-dms",
        network: "sepolia",
        monitoring: monitoringConfig({
            emailTo: "ops@example.org",
            emailFrom: "ethnode@example.org",
            smtpSmarthost: "smtp.example.org:587",
            smtpUsername: "ethnode",
        }),
        deadMansSwitchUrl: "https://hc-ping.example/abc",
    },
    { name: "dev-no-consensus", network: "dev", monitoring: monitoringConfig({ grafana: false }) },
    { name: "hoodi-prysm", network: "hoodi", monitoring: monitoringConfig(), consensus: PRYSM },
    { name: "mainnet-separate-host", network: "mainnet", monitoring: monitoringConfig(), remote: true },
];

/** Writes a variant's Prometheus release and Alertmanager config (with its secret files) to `dir`. */
export function writeVariant(v: Variant, dir = tmpDir(`mon-${v.name}`)): { dir: string; prometheus: string; alertmanager: string } {
    const consensus = v.network === "dev" ? undefined : (v.consensus ?? LIGHTHOUSE);
    fs.writeFileSync(
        path.join(dir, "prometheus.yml"),
        renderPrometheusConfig({
            consensus,
            stack: "test",
            network: v.network,
            monitoring: v.monitoring,
            nodes: v.remote
                ? [remoteScrapeNode("node-0", "10.0.1.23", 9145, consensus), remoteScrapeNode("node-1", "10.0.1.24", 9145, consensus)]
                : [scrapeNode("node-0", v.monitoring, consensus), { name: "node-1", targets: { ...scrapeNode("node-1", v.monitoring, consensus).targets, node: "10.0.0.2:9100" } }],
            gateways: v.remote
                ? [{ name: "node-0", target: "10.0.1.23:9145" }, { name: "node-1", target: "10.0.1.24:9145" }]
                : [{ name: "node-0", target: "127.0.0.1:9145" }],
            monitorNode: v.remote ? "monitor" : "node-0",
            remote: v.remote,
        }),
    );
    fs.writeFileSync(path.join(dir, "alerts.yml"), renderAlertRules(v.monitoring, consensus, { network: v.network }));
    fs.writeFileSync(path.join(dir, "recording.yml"), renderRecordingRules(consensus));
    const secrets = path.join(dir, "secrets");
    fs.mkdirSync(secrets, { recursive: true });
    fs.writeFileSync(path.join(secrets, "slack_webhook"), "https://hooks.slack.example/T/B/x\n");
    fs.writeFileSync(path.join(secrets, "smtp_password"), "pw\n");
    if (v.deadMansSwitchUrl) fs.writeFileSync(path.join(secrets, "deadmans_switch_url"), `${v.deadMansSwitchUrl}\n`);
    fs.writeFileSync(path.join(dir, "ethnode.tmpl"), readAsset("monitoring/ethnode.tmpl"));
    fs.writeFileSync(
        path.join(dir, "alertmanager.yml"),
        renderAlertmanagerConfig({
            monitoring: v.monitoring,
            secretsDir: secrets,
            templatesDir: dir,
            deadMansSwitch: v.deadMansSwitchUrl !== undefined,
            scrapedThroughGateway: v.remote,
        }),
    );
    return { dir, prometheus: path.join(dir, "prometheus.yml"), alertmanager: path.join(dir, "alertmanager.yml") };
}
