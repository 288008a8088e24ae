/**
 * ethnode: one `pulumi up` per stack stands up a hardened Ethereum full node.
 * Config is read and validated once; components get typed values and pass endpoints to each other.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./components/config";
import { Gateway } from "./components/gateway";
import { Host } from "./components/host";
import { PORTS } from "./components/ports";
import { Monitoring } from "./components/monitoring";
import { Node } from "./components/node";

const cfg = loadConfig();

// Monitoring on its own host (optional): created first, so each node's security group can admit it.
const monitorHost = cfg.monitoringHost
    ? new Host("monitor-host", {
          host: cfg.monitoringHost,
          gateway: cfg.gateway,
          sshPrivateKey: cfg.sshPrivateKey,
          role: "monitor",
      })
    : undefined;

// Nodes are built in sequence (each behind the previous one's clients): HA adds more here.
const nodes = [new Node("node-0", { config: cfg, metricsFromSecurityGroupId: monitorHost?.securityGroupId })];
const primary = nodes[0];

// One gateway in front of every node's Geth; it runs on the primary host.
const gateway = new Gateway("gateway", {
    connection: primary.host.connection,
    gateway: cfg.gateway,
    backends: nodes.map((n) => ({ name: n.nodeName, ...n.geth.rpcBackend })),
    wsUpstream: primary.geth.wsBackend,
    exporters: {
        node: `127.0.0.1:${cfg.monitoring.nodeExporterPort}`,
        geth: `127.0.0.1:${PORTS.gethMetrics}`,
        lighthouse: primary.lighthouse ? `127.0.0.1:${PORTS.beaconMetrics}` : undefined,
    },
    // From a separate monitoring host: its own address (existing hosts), or the VPC's private ranges with
    // the security group admitting only the monitoring host (aws).
    metricsAllow: cfg.monitoringHost
        ? cfg.monitoringHost.provider === "existing"
            ? [cfg.monitoringHost.address as string]
            : ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        : undefined,
    dataDir: primary.host.dataDir,
    apiKeys: cfg.apiKeys,
    tls: cfg.tls,
    after: [primary.host.ready, ...nodes.map((n) => n.geth.service)],
});

export const network = cfg.network;
export const publicIp = primary.host.publicIp;
export const sshCommand = primary.host.sshCommand;
export const endpoints = nodes.map((n) => ({
    node: n.nodeName,
    rpc: n.geth.rpcUrl,
    ws: n.geth.wsUrl,
    authRpc: n.geth.authRpcUrl,
    gethMetrics: n.geth.metricsUrl,
    beaconApi: n.lighthouse?.beaconApiUrl,
    beaconMetrics: n.lighthouse?.metricsUrl,
}));
// Monitoring runs on the primary node, or on its own host scraping every node through its gateway port.
const monitoring = new Monitoring("monitoring", {
    stack: pulumi.getStack(),
    network: cfg.network,
    monitoring: cfg.monitoring,
    connection: monitorHost?.connection ?? primary.host.connection,
    monitorNode: monitorHost ? "monitor" : primary.nodeName,
    nodes: nodes.map((n) => ({
        name: n.nodeName,
        connection: n.host.connection,
        consensus: n.lighthouse !== undefined,
        after: [n.host.ready],
        address: monitorHost ? n.host.privateAddress : undefined,
    })),
    gatewayMetricsPort: cfg.gateway.metricsPort,
    gateways: [{ name: primary.nodeName, target: `127.0.0.1:${cfg.gateway.metricsPort}` }],
    slackWebhookUrl: cfg.slackWebhookUrl,
    smtpPassword: cfg.smtpPassword,
    deadMansSwitchUrl: cfg.deadMansSwitchUrl,
    after: [monitorHost?.ready ?? primary.host.ready, gateway.config],
    purgeOnDestroy: cfg.host.purgeOnDestroy,
});

export const rpcEndpoint = pulumi.interpolate`${cfg.gateway.tls ? "https" : "http"}://${primary.host.publicIp}:${gateway.publicPort}`;
export const gatewayMetrics = gateway.metricsUrl;
export const prometheusUrl = monitoring.prometheusUrl;
export const alertmanagerUrl = monitoring.alertmanagerUrl;
export const clientVersions = { geth: primary.geth.version, lighthouse: primary.lighthouse?.version };

// Outputs of optional parts exist only when the part is deployed (an undefined stack output is a warning).
const optionalOutputs: Record<string, pulumi.Output<string> | undefined> = {
    monitoringHostIp: monitorHost?.publicIp,
    grafanaUrl: monitoring.grafanaUrl,
    grafanaAdminPassword: monitoring.grafanaAdminPassword,
};
for (const [name, value] of Object.entries(optionalOutputs)) if (value !== undefined) module.exports[name] = value;
