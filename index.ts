/**
 * ethnode: one `pulumi up` per stack stands up hardened Ethereum full nodes — one, or several behind a load
 * balancer. Config is read and validated once; components get typed values and pass endpoints to each other.
 * The program is an async function (Pulumi awaits it; what it returns are the stack outputs), so that what the
 * stack deployed can be read back and checked before any resource exists.
 */
import * as pulumi from "@pulumi/pulumi";
import { ClusterNetwork } from "./components/cluster";
import { DevnetConfig, EthnodeConfig, loadConfig, monitoringWarnings, nodeAddress } from "./components/config";
import { Backend, Gateway } from "./components/gateway";
import { Host } from "./components/host";
import { LoadBalancer } from "./components/loadbalancer";
import { CHAIN_DATA_OUTPUT, refuseStrandedChainData } from "./components/chaindata";
import { readDeployedOutputs } from "./components/deployed";
import { CentralLogs } from "./components/logs";
import { LOOPBACK, PORTS } from "./components/ports";
import { clientExporters, consensusOf } from "./components/roles";
import { Monitoring } from "./components/monitoring";
import { HOST_STEPS_OUTPUT, beginRun, hostStepTokens } from "./components/receipts";
import { Node, NodeDevnet, hardwareWarnings, nodeArgs } from "./components/node";
import { validatorScope } from "./components/validator";
import { P2pKeys, devnetPeers } from "./components/devnet";

/**
 * Each devnet node's view of the others: every node's P2P keys exist before any node (each node's clients are
 * told all the others), and the identities derived from them are public keys, so they are no secret.
 */
function devnetNodes(cfg: EthnodeConfig, d: DevnetConfig): NodeDevnet[] {
    const keys = Array.from({ length: cfg.nodes }, (_, i) => new P2pKeys(`node-${i}-p2p`));
    const addresses = keys.map((_, i) => nodeAddress(cfg.host, i) as string);
    const all = pulumi.all(keys.map((k) => pulumi.all([k.execution, k.consensus])));
    return keys.map((k, i) => ({
        genesis: d.genesis,
        keys: k,
        peers: pulumi.unsecret(
            all.apply((ks) =>
                devnetPeers(
                    ks.map(([execution, consensus]) => ({ execution, consensus })),
                    addresses,
                    i,
                    { execution: PORTS.gethP2p, consensus: PORTS.beaconP2p },
                ),
            ),
        ),
        hostIp: addresses[i],
        checkpointSyncUrl: i >= d.genesisNodes ? `http://${addresses[0]}:${cfg.gateway.peerPort}` : undefined,
    }));
}

export = async (): Promise<Record<string, unknown>> => {
    const cfg = loadConfig();
    for (const w of [...hardwareWarnings(cfg), ...monitoringWarnings(cfg)]) pulumi.log.warn(w);
    // What the stack deployed is read back first: an edit that would strand the chain data (another dataDir, another
    // network) stops here, at preview as at `up`, before any resource exists.
    const chainData = { network: cfg.network, dataDir: cfg.host.dataDir, gethGcMode: cfg.geth.gcMode };
    const deployed = await readDeployedOutputs([CHAIN_DATA_OUTPUT, HOST_STEPS_OUTPUT]);
    refuseStrandedChainData(deployed[CHAIN_DATA_OUTPUT], chainData, cfg.host.dataDirMovedFrom);
    // Each host's step receipts are read once, before its steps register (components/receipts.ts).
    beginRun(deployed[HOST_STEPS_OUTPUT]);
    const cluster = cfg.nodes > 1;
    const onAws = cfg.host.provider === "aws";

    // Monitoring on its own host (optional): created first, so each node's security group can admit it.
    const monitorHost = cfg.monitoringHost
        ? new Host("monitor-host", {
              host: cfg.monitoringHost,
              gateway: cfg.gateway,
              sshPrivateKey: cfg.sshPrivateKey,
              role: "monitor",
              logsPort: cfg.logs.enabled ? cfg.logs.port : undefined,
          })
        : undefined;

    // Several nodes on aws share a security group that admits only its members on the node-to-node ports.
    const clusterNet =
        cluster && onAws
            ? new ClusterNetwork("cluster", {
                  vpcId: cfg.host.vpcId as string,
                  gateway: cfg.gateway,
                  logsPort: cfg.logs.enabled && !cfg.monitoringHost ? cfg.logs.port : undefined,
              })
            : undefined;

    // Each node's clients wait for the previous node's: a client version edit restarts one node at a time.
    const devnet = cfg.devnet ? devnetNodes(cfg, cfg.devnet) : undefined;
    const nodes: Node[] = [];
    for (let i = 0; i < cfg.nodes; i++) {
        nodes.push(
            new Node(`node-${i}`, {
                ...nodeArgs(cfg, i),
                devnet: devnet?.[i],
                after: nodes[i - 1]?.lastClientStep,
                metricsFromSecurityGroupId: monitorHost?.securityGroupId,
                clusterSecurityGroupId: clusterNet?.securityGroupId,
            }),
        );
    }
    const primary = nodes[0];
    // Signers start only once every node's fence has run: a moved key is stopped on its old node first.
    const fences = nodes.flatMap((n) => (n.validatorFence ? [n.validatorFence] : []));
    for (const n of nodes) n.runValidator(fences);

    /** The address the nodes' metrics ports admit Prometheus from: an existing monitoring host's, or the first node's
     * (it runs Prometheus when there is no monitoring host). Undefined for an aws monitoring host: its security group
     * does the admitting. */
    const monitorAddress = monitorHost
        ? cfg.monitoringHost?.provider === "existing"
            ? pulumi.output(cfg.monitoringHost.address as string)
            : undefined
        : primary.host.privateAddress;

    // A gateway on every node: its own Geth first, the other nodes' peer listeners behind it.
    const gateways = nodes.map((node, i) => {
        const others = nodes.filter((n) => n !== node);
        const backends: pulumi.Input<Backend>[] = [
            { name: node.nodeName, ...node.geth.rpcBackend, local: true },
            ...others.map((o) => o.host.privateAddress.apply((host) => ({ name: o.nodeName, host, port: cfg.gateway.peerPort }))),
        ];
        // Metrics from another host: the monitoring host (its address, or the VPC's private ranges with the security
        // group admitting only that host), or — with several nodes — the first node, for every other node.
        let metricsAllow: pulumi.Input<string>[] | undefined;
        if (monitorHost) metricsAllow = monitorAddress ? [monitorAddress] : ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
        else if (i > 0) metricsAllow = [primary.host.privateAddress];
        // The first node's gateway keeps the name it had before a stack could hold several.
        return new Gateway(i === 0 ? "gateway" : `${node.nodeName}-gateway`, {
            connection: node.host.connection,
            gateway: cfg.gateway,
            backends,
            wsUpstream: node.geth.wsBackend,
            exporters: {
                node: `${LOOPBACK}:${cfg.monitoring.nodeExporterPort}`,
                clients: clientExporters(node.consensus?.spec, LOOPBACK, node.validator?.spec),
            },
            metricsAllow,
            consensusApi: node.consensus ? { host: LOOPBACK, port: node.consensus.spec.apiPort } : undefined,
            peers: cluster ? others.map((o) => o.host.privateAddress) : undefined,
            dataDir: node.host.dataDir,
            apiKeys: cfg.apiKeys,
            tls: cfg.tls,
            after: [node.host.ready, node.geth.service],
        });
    });

    // On aws, several nodes sit behind a network load balancer across their subnets.
    let loadBalancer: LoadBalancer | undefined;
    if (clusterNet) {
        loadBalancer = new LoadBalancer("lb", {
            gateway: cfg.gateway,
            vpcId: cfg.host.vpcId as string,
            subnetIds: cfg.host.subnetIds,
            instanceIds: nodes.map((n) => n.host.instanceId),
        });
        clusterNet.admitLoadBalancer(loadBalancer.securityGroupId);
    }

    // Monitoring runs on the first node (scraping the others through their gateways' metrics ports), or on its own
    // host scraping every node that way. A node on another host than monitoring is reached at its private address.
    const monitorConnection = monitorHost?.connection ?? primary.host.connection;
    const monitorReady = monitorHost?.ready ?? primary.host.ready;
    const addressFromMonitor = (i: number) => (monitorHost || i > 0 ? nodes[i].host.privateAddress : undefined);
    const monitoring = new Monitoring("monitoring", {
        stack: pulumi.getStack(),
        network: cfg.network,
        monitoring: cfg.monitoring,
        consensus: consensusOf(cfg),
        connection: monitorConnection,
        monitorNode: monitorHost ? "monitor" : primary.nodeName,
        nodes: nodes.map((n, i) => ({
            name: n.nodeName,
            connection: n.host.connection,
            consensus: n.consensus?.spec,
            validator: n.validator?.spec,
            after: [n.host.ready],
            address: addressFromMonitor(i),
        })),
        gatewayMetricsPort: cfg.gateway.metricsPort,
        clusterSize: cfg.nodes,
        keeper: cfg.keeper.enabled,
        validator: validatorScope(cfg),
        slackWebhookUrl: cfg.slackWebhookUrl,
        smtpPassword: cfg.smtpPassword,
        deadMansSwitchUrl: cfg.deadMansSwitchUrl,
        after: [monitorReady, ...gateways.map((g) => g.config)],
        purgeOnDestroy: cfg.host.purgeOnDestroy,
        logs: cfg.logs.enabled ? cfg.logs : undefined,
    });

    // Central logs beside Prometheus: every host ships its journal there; nodes on other hosts over the private network.
    const logs = cfg.logs.enabled
        ? new CentralLogs("logs", {
              stack: pulumi.getStack(),
              network: cfg.network,
              logs: cfg.logs,
              monitoring: cfg.monitoring,
              consensus: consensusOf(cfg),
              connection: monitorConnection,
              privateAddress: monitorHost ? monitorHost.privateAddress : cluster ? primary.host.privateAddress : undefined,
              senders: [
                  ...(monitorHost ? [{ name: "monitor", connection: monitorHost.connection, after: [monitorHost.ready] }] : []),
                  ...nodes.map((n, i) => ({
                      name: n.nodeName,
                      connection: n.host.connection,
                      address: addressFromMonitor(i),
                      // After the node's clients and gateway: their first lines are shipped from the start.
                      after: [n.lastClientStep, gateways[i].config],
                  })),
              ],
              alertmanager: monitoring.alertmanagerConfig,
              after: [monitorReady],
              purgeOnDestroy: cfg.host.purgeOnDestroy,
          })
        : undefined;

    const scheme = cfg.gateway.tls ? "https" : "http";
    const outputs: Record<string, unknown> = {};
    outputs.network = cfg.network;
    outputs.publicIp = primary.host.publicIp;
    outputs.sshCommand = primary.host.sshCommand;
    outputs.endpoints = nodes.map((n, i) => ({
        node: n.nodeName,
        gateway: pulumi.interpolate`${scheme}://${n.host.publicIp}:${gateways[i].publicPort}`,
        rpc: n.geth.rpcUrl,
        ws: n.geth.wsUrl,
        authRpc: n.geth.authRpcUrl,
        gethMetrics: n.geth.metricsUrl,
        beaconApi: n.consensus?.beaconApiUrl,
        beaconMetrics: n.consensus?.metricsUrl,
    }));
    /** The one address clients use: the load balancer (aws, several nodes), else the first node's gateway. */
    outputs.rpcEndpoint = loadBalancer
        ? cfg.gateway.loadBalancerCertificateArn
            ? pulumi.interpolate`https://${loadBalancer.dnsName}`
            : pulumi.interpolate`http://${loadBalancer.dnsName}:${cfg.gateway.port}`
        : pulumi.interpolate`${scheme}://${primary.host.publicIp}:${gateways[0].publicPort}`;
    outputs.gatewayMetrics = gateways[0].metricsUrl;
    outputs.prometheusUrl = monitoring.prometheusUrl;
    outputs.alertmanagerUrl = monitoring.alertmanagerUrl;
    outputs.clientVersions = {
        geth: primary.geth.version,
        ...(primary.consensus ? { [primary.consensus.spec.name]: primary.consensus.version } : {}),
    };

    // Outputs of optional parts exist only when the part is deployed (an undefined stack output is a warning).
    const optionalOutputs: Record<string, pulumi.Output<string> | undefined> = {
        monitoringHostIp: monitorHost?.publicIp,
        grafanaUrl: monitoring.grafanaUrl,
        grafanaAdminPassword: monitoring.grafanaAdminPassword,
        loadBalancerDns: loadBalancer?.dnsName,
        logsUrl: logs?.url,
    };
    for (const [name, value] of Object.entries(optionalOutputs)) if (value !== undefined) outputs[name] = value;
    // Where the chain data is, as deployed: the next run reads it back (components/chaindata.ts).
    outputs[CHAIN_DATA_OUTPUT] = chainData;
    // The token each host step last ran with: kept for a host the next run cannot reach.
    outputs[HOST_STEPS_OUTPUT] = hostStepTokens();
    return outputs;
};
