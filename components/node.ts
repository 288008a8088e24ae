/**
 * One Ethereum node: host → JWT → Geth → its consensus client (Lighthouse or Prysm). A stack builds one
 * today; HA builds several, which is why nothing here is a global and every name derives from the node's own.
 */
import * as pulumi from "@pulumi/pulumi";
import { CLIENT_HEALTH_TIMEOUT_SEC } from "./client";
import { BeaconNode } from "./beacon";
import { ClientRole } from "./client";
import * as command from "@pulumi/command";
import { EthnodeConfig, GatewayConfig, GethConfig, HostConfig, KeeperConfig, LighthouseConfig, Network, PrysmConfig, ValidatorStack } from "./config";
import { PROBE_TIMEOUT_MS } from "./gateway";
import { Geth } from "./geth";
import { Host } from "./host";
import { JwtSecret } from "./jwt";
import { Lighthouse } from "./lighthouse";
import { Prysm } from "./prysm";
import { PRYSM_VALIDATOR, PrysmValidator, fenceStep } from "./validator";
import { ChainTiming, DEVNET_DIR, DEVNET_FILES, DevnetGenesis, DevnetPeers, P2pKeys, chainTiming } from "./devnet";
import { LOOPBACK } from "./ports";
import { EXECUTION, consensusOf, nodeClients } from "./roles";
import { keeperStep } from "./keeper";
import { hostStep } from "./remote";
import { readAsset, render, shq } from "./render";

/** GB of memory per vCPU for the EC2 families operators pick for nodes. */
const MEMORY_PER_VCPU: Record<string, number> = { c: 2, m: 4, r: 8, x: 16, i: 8 };
const VCPUS: Record<string, number> = { large: 2, xlarge: 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32 };

/** Memory of an instance type in GB, or undefined when we do not know the family. */
export function instanceMemoryGb(instanceType: string): number | undefined {
    const [family, size] = instanceType.split(".");
    const perVcpu = MEMORY_PER_VCPU[family?.[0] ?? ""];
    const vcpus = VCPUS[size ?? ""];
    return perVcpu && vcpus ? perVcpu * vcpus : undefined;
}

/** Preview-time warnings for a mainnet node below current guidance (EIP-7870: 32 GB RAM, fast multi-TB disk). */
export function hardwareWarnings(cfg: Pick<EthnodeConfig, "network" | "host">): string[] {
    if (cfg.network !== "mainnet" || cfg.host.provider !== "aws") return [];
    const warnings: string[] = [];
    const mem = instanceMemoryGb(cfg.host.instanceType);
    if (mem !== undefined && mem < 32) {
        warnings.push(
            `ethnode:host.instanceType ${cfg.host.instanceType} has ${mem} GB of memory; mainnet Geth + Lighthouse use ~22 GB and EIP-7870 recommends 32 GB (e.g. m6i.2xlarge or r6i.xlarge)`,
        );
    }
    if (cfg.host.dataVolumeGb < 2048) {
        warnings.push(`ethnode:host.dataVolumeGb ${cfg.host.dataVolumeGb} is below 2048; a mainnet full node needs >= 2 TB and grows`);
    }
    return warnings;
}

/**
 * How long a drain waits for the other nodes' gateways to stop choosing this node: this gateway's next check
 * (it reads the drain file), their next probe (answered 503), its timeout, and their workers' cached view.
 */
export function drainWaitSec(healthIntervalSec: number): number {
    return 2 * healthIntervalSec + Math.ceil(PROBE_TIMEOUT_MS / 1000) + 1;
}

/** A devnet's genesis files on a node: text as they are, the SSZ state through base64 (steps carry text). */
function devnetGenesisStep(name: string, host: Host, g: DevnetGenesis, after: pulumi.Resource) {
    const file = (f: string, content: string) => ({ path: `${DEVNET_DIR}/${f}`, content, mode: "0644", owner: "root", group: "root" });
    return hostStep(
        name,
        {
            connection: host.connection,
            files: [file(DEVNET_FILES.execution, g.files.execution), file(DEVNET_FILES.config, g.files.config), file(`${DEVNET_FILES.state}.b64`, g.files.stateBase64)],
            script: [
                `base64 -d ${shq(`${DEVNET_DIR}/${DEVNET_FILES.state}.b64`)} >${shq(`${DEVNET_DIR}/${DEVNET_FILES.state}.new`)}`,
                `chmod 0644 ${shq(`${DEVNET_DIR}/${DEVNET_FILES.state}.new`)}`,
                `mv -f ${shq(`${DEVNET_DIR}/${DEVNET_FILES.state}.new`)} ${shq(`${DEVNET_DIR}/${DEVNET_FILES.state}`)}`,
                `echo "devnet genesis installed (chain ${g.chainId})"`,
            ].join("\n"),
            deleteScript: `rm -rf ${shq(DEVNET_DIR)}\necho "devnet genesis removed"`,
        },
        { parent: host, dependsOn: [after] },
    );
}

/** The CLI's view of one node (ethnode.conf); pure. */
export function renderCliConfig(
    name: string,
    cfg: {
        network: Network;
        consensus?: ClientRole;
        /** The validator client, on a node that signs. */
        validator?: ClientRole;
        host: Pick<HostConfig, "dataDir">;
        gateway: Pick<GatewayConfig, "metricsPort" | "healthIntervalSec">;
        cluster: boolean;
    },
    volumeId: string,
): string {
    const clients = nodeClients(cfg.consensus);
    return render("cli/ethnode.conf", {
        node: name,
        // The validator's slashing-protection commands know public networks by name only.
        networkFlag: cfg.network === "dev" || cfg.network === "devnet" ? "" : `--${cfg.network}`,
        dataDir: cfg.host.dataDir,
        elRpc: `http://${LOOPBACK}:${EXECUTION.apiPort}`,
        execution: EXECUTION.name,
        clApi: cfg.consensus ? `http://${LOOPBACK}:${cfg.consensus.apiPort}` : "",
        consensus: cfg.consensus?.name ?? "",
        validator: cfg.validator?.name ?? "",
        validatorHealth: cfg.validator ? `http://${LOOPBACK}:${cfg.validator.metricsPort}${cfg.validator.metricsPath}` : "",
        gatewayHealth: `http://${LOOPBACK}:${cfg.gateway.metricsPort}/health`,
        clients: clients.map((c) => c.name).join(" "),
        prunes: clients.flatMap((c) => (c.prune ? [{ name: c.name, args: c.prune.join(" ") }] : [])),
        keepVersions: 3,
        healthTimeout: CLIENT_HEALTH_TIMEOUT_SEC,
        volumeId,
        cluster: cfg.cluster,
        drainWait: drainWaitSec(cfg.gateway.healthIntervalSec),
    });
}

/** A node's args: its own config sections and Inputs, so one node's outputs flow into another's args as they are. */
export interface NodeArgs {
    network: Network;
    /** Which of the stack's nodes this is (0-based): its subnet or address. */
    index: number;
    /** Whether the stack runs other nodes (client restarts then drain and gate). */
    cluster: boolean;
    host: HostConfig;
    geth: GethConfig;
    /** The consensus client and its section; absent on `dev`. */
    consensus?: ClientRole;
    lighthouse?: LighthouseConfig;
    prysm?: PrysmConfig;
    /** The stack's validators, when it signs: every node fences, the nodes in `validator.signers` sign. */
    validator?: ValidatorStack;
    /** Slot and epoch lengths of the chain (how long a moved key must stay silent). */
    timing: ChainTiming;
    /** On network devnet: its genesis, this node's P2P keys, the other nodes, where a late node syncs from. */
    devnet?: NodeDevnet;
    /** The gateway's ports (security group) and health interval (how long a drain waits). */
    gateway: GatewayConfig;
    sshPrivateKey: pulumi.Input<string>;
    keeper: KeeperConfig;
    /**
     * The previous node's last client step. This node's clients wait for it, so a version edit restarts one
     * node at a time, each drained and gated (`ethnode drain`/`gate`), and a failed gate stops the roll-out.
     */
    after?: pulumi.Input<pulumi.Resource>;
    /** A separate monitoring host's security group, admitted to the gateway's metrics port. */
    metricsFromSecurityGroupId?: pulumi.Input<string>;
    /** The security group the cluster's nodes share (aws, several nodes). */
    clusterSecurityGroupId?: pulumi.Input<string>;
}

export interface NodeDevnet {
    genesis: DevnetGenesis;
    keys: P2pKeys;
    peers: pulumi.Input<DevnetPeers>;
    /** This node's address, as the others dial it. */
    hostIp: string;
    /** Node 0's beacon API, for a node beyond the genesis nodes. */
    checkpointSyncUrl?: string;
}

/** Node `index`'s args from the stack's config; the wiring between nodes (after, security groups) is the caller's. */
export function nodeArgs(cfg: EthnodeConfig, index: number): NodeArgs {
    return {
        network: cfg.network,
        index,
        cluster: cfg.nodes > 1,
        host: cfg.host,
        geth: cfg.geth,
        consensus: consensusOf(cfg),
        lighthouse: cfg.lighthouse,
        prysm: cfg.prysm,
        validator: cfg.validator,
        timing: chainTiming(cfg.devnet),
        gateway: cfg.gateway,
        sshPrivateKey: cfg.sshPrivateKey,
        keeper: cfg.keeper,
    };
}

/**
 * One node as a component (`ethnode:node:Node`): its host, JWT, Geth, consensus client and CLI are its
 * children, named from its own name.
 */
export class Node extends pulumi.ComponentResource {
    readonly host: Host;
    readonly jwt: JwtSecret;
    readonly geth: Geth;
    /** Its consensus client (Lighthouse or Prysm); absent on dev. */
    readonly consensus?: BeaconNode<unknown>;
    /** The node's last client step: the next node's clients wait for it. */
    readonly lastClientStep: pulumi.Resource;
    /** On a validating stack: the step that stops a signer here holding keys assigned elsewhere. */
    readonly validatorFence?: command.remote.Command;
    /** Its signer, on a node `validator.signers` names (`runValidator`). */
    validator?: PrysmValidator;
    private readonly args: NodeArgs;

    constructor(readonly nodeName: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:node:Node", nodeName, {}, opts);
        const name = nodeName;
        this.args = args;
        const signs = this.signedKeys().length > 0;
        // These components sat at the stack's root before the node was a component: the alias keeps their
        // URNs (and their children's), so a stack deployed before adopts its running node instead of replacing it.
        const child: pulumi.ComponentResourceOptions = { parent: this, aliases: [{ parent: pulumi.rootStackResource }] };
        const host = new Host(
            `${name}-host`,
            {
                host: args.host,
                gateway: args.gateway,
                sshPrivateKey: args.sshPrivateKey,
                consensus: args.consensus,
                metricsFromSecurityGroupId: args.metricsFromSecurityGroupId,
                index: args.index,
                clusterSecurityGroupId: args.clusterSecurityGroupId,
            },
            child,
        );
        const cli = hostStep(
            `${name}-cli`,
            {
                connection: host.connection,
                files: [
                    { path: "/usr/local/bin/ethnode", content: readAsset("cli/ethnode"), mode: "0755", owner: "root", group: "root" },
                    {
                        path: "/etc/ethnode/ethnode.conf",
                        content: host.volumeId.apply((id) => renderCliConfig(name, { ...args, validator: signs ? PRYSM_VALIDATOR : undefined }, id)),
                        mode: "0644",
                        owner: "root",
                        group: "root",
                    },
                ],
                script: "ethnode --help >/dev/null\necho \"ethnode CLI installed\"",
                deleteScript: "rm -f /usr/local/bin/ethnode /etc/ethnode/ethnode.conf\necho \"ethnode CLI removed\"",
            },
            { parent: host, dependsOn: [host.ready] },
        );
        // The key file's step belonged to Geth (at the stack's root) until the JWT owned it: its URN from then
        // keeps the installed key's identity, so no upgrade deletes the file the clients read.
        const jwt = new JwtSecret(
            `${name}-jwt`,
            {
                connection: host.connection,
                hostReady: cli,
                fileAliases: [`urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::ethnode:geth:Geth$command:remote:Command::${name}-geth-jwt`],
            },
            child,
        );
        const common = {
            connection: host.connection,
            dataDir: host.dataDir,
            purgeOnDestroy: args.host.purgeOnDestroy,
        };
        const d = args.devnet;
        // A devnet's genesis is on the host before Geth first starts (its unit initializes from it).
        const genesis = d && devnetGenesisStep(`${name}-devnet-genesis`, host, d.genesis, cli);
        const geth = new Geth(
            `${name}-geth`,
            {
                ...common,
                network: args.network,
                geth: args.geth,
                hostReady: genesis ?? cli,
                jwtFile: jwt.file,
                after: args.after,
                devnet: d && { chainId: d.genesis.chainId, hostIp: d.hostIp, staticNodes: pulumi.output(d.peers).apply((p) => p.enodes), p2pKey: d.keys.execution },
            },
            child,
        );
        let consensus: BeaconNode<unknown> | undefined;
        if (args.network !== "dev" && args.consensus) {
            const beacon = {
                ...common,
                network: args.network,
                executionEndpoint: geth.authRpcUrl,
                after: [jwt.file, geth.service],
                devnet: d && {
                    peers: pulumi.output(d.peers).apply((p) => ({ peers: p.beaconPeers, hostIp: d.hostIp, checkpointSyncUrl: d.checkpointSyncUrl })),
                    p2pKey: d.keys.consensus,
                },
            };
            // Named by the client, so switching clients replaces one component with the other.
            consensus =
                args.consensus.name === "prysm"
                    ? new Prysm(`${name}-prysm`, { ...beacon, config: args.prysm as PrysmConfig, monitorIndices: args.validator?.monitorIndices }, child)
                    : new Lighthouse(`${name}-lighthouse`, { ...beacon, config: args.lighthouse as LighthouseConfig }, child);
        }
        this.host = host;
        this.jwt = jwt;
        this.geth = geth;
        this.consensus = consensus;
        this.lastClientStep = consensus?.service ?? geth.service;
        if (args.validator && args.network !== "dev") {
            this.validatorFence = fenceStep(
                `${name}-validator-fence`,
                { connection: host.connection, timing: args.timing, dataDir: host.dataDir, assigned: this.signedKeys(), after: [cli] },
                { parent: this },
            );
        }
        // The keeper watches the clients once they run, and restarts them through the CLI; with a beacon node it
        // also reads the watched validators' balances.
        const watchedValidators = consensus ? args.validator?.monitorIndices : undefined;
        keeperStep(`${name}-keeper`, { connection: host.connection, keeper: args.keeper, watchedValidators, after: [cli, this.lastClientStep] }, { parent: this });
        this.registerOutputs({ rpcUrl: geth.rpcUrl, beaconApiUrl: consensus?.beaconApiUrl });
    }

    /** The validator keys this node signs for (none unless `validator.signers` names it). */
    signedKeys(): string[] {
        return this.args.validator?.signers.find((s) => s.node === this.args.index)?.pubkeys ?? [];
    }

    /**
     * Starts this node's signer once every node's fence has run (`fences`): a key that moved here is only signed
     * with after its old node stopped it and the doppelganger window passed.
     */
    runValidator(fences: pulumi.Resource[]): PrysmValidator | undefined {
        const v = this.args.validator;
        if (!v || this.args.network === "dev" || !this.consensus || this.signedKeys().length === 0) return undefined;
        this.validator = new PrysmValidator(
            `${this.nodeName}-validator`,
            {
                connection: this.host.connection,
                network: this.args.network,
                dataDir: this.host.dataDir,
                purgeOnDestroy: this.args.host.purgeOnDestroy,
                validator: v,
                pubkeys: this.signedKeys(),
                after: [this.consensus.service],
                fences,
            },
            { parent: this },
        );
        return this.validator;
    }
}
