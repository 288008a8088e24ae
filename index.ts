/**
 * ethnode: one `pulumi up` per stack stands up a hardened Ethereum full node.
 * Config is read and validated once; components get typed values and pass endpoints to each other.
 */
import { loadConfig } from "./components/config";
import { buildNode } from "./components/node";

const cfg = loadConfig();
const nodes = [buildNode("node-0", cfg)];
const primary = nodes[0];

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
export const clientVersions = { geth: primary.geth.version, lighthouse: primary.lighthouse?.version };
