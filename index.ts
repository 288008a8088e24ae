/**
 * ethnode: one `pulumi up` per stack stands up a hardened Ethereum full node.
 * Config is read and validated once; components get typed values and pass endpoints to each other.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./components/config";
import { Gateway } from "./components/gateway";
import { Monitoring } from "./components/monitoring";
import { buildNode } from "./components/node";

const cfg = loadConfig();
// Nodes are built in sequence (each behind the previous one's clients): HA adds more here.
const nodes = [buildNode("node-0", cfg)];
const primary = nodes[0];

// One gateway in front of every node's Geth; it runs on the primary host.
const gateway = new Gateway("gateway", {
    connection: primary.host.connection,
    gateway: cfg.gateway,
    backends: nodes.map((n) => ({ name: n.name, ...n.geth.rpcBackend })),
    wsUpstream: `${primary.geth.wsBackend.host}:${primary.geth.wsBackend.port}`,
    dataDir: primary.host.dataDir,
    apiKeys: cfg.apiKeys,
    purgeOnDestroy: cfg.host.purgeOnDestroy,
    after: [primary.host.ready, ...nodes.map((n) => n.geth.service)],
});

export const network = cfg.network;
export const publicIp = primary.host.publicIp;
export const sshCommand = primary.host.sshCommand;
export const endpoints = nodes.map((n) => ({
    node: n.name,
    rpc: n.geth.rpcUrl,
    ws: n.geth.wsUrl,
    authRpc: n.geth.authRpcUrl,
    gethMetrics: n.geth.metricsUrl,
    beaconApi: n.lighthouse?.beaconApiUrl,
    beaconMetrics: n.lighthouse?.metricsUrl,
}));
// Monitoring runs on the primary host and scrapes every node; see docs/operations.md for a separate host.
const monitoring = new Monitoring("monitoring", {
    stack: pulumi.getStack(),
    network: cfg.network,
    monitoring: cfg.monitoring,
    connection: primary.host.connection,
    monitorNode: primary.name,
    nodes: nodes.map((n) => ({ name: n.name, connection: n.host.connection, consensus: n.lighthouse !== undefined, after: [n.host.ready] })),
    gateways: [{ name: primary.name, target: `127.0.0.1:${cfg.gateway.metricsPort}` }],
    slackWebhookUrl: cfg.slackWebhookUrl,
    smtpPassword: cfg.smtpPassword,
    deadMansSwitchUrl: cfg.deadMansSwitchUrl,
    after: [primary.host.ready],
    purgeOnDestroy: cfg.host.purgeOnDestroy,
});

export const rpcEndpoint = pulumi.interpolate`http://${primary.host.publicIp}:${gateway.publicPort}`;
export const gatewayMetrics = gateway.metricsUrl;
export const prometheusUrl = monitoring.prometheusUrl;
export const alertmanagerUrl = monitoring.alertmanagerUrl;
export const grafanaUrl = monitoring.grafanaUrl;
export const grafanaAdminPassword = monitoring.grafanaAdminPassword;
export const clientVersions = { geth: primary.geth.version, lighthouse: primary.lighthouse?.version };
