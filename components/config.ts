/**
 * ethnode's stack config: every key, its type, default and meaning, in one place. `loadConfig` is the only
 * reader of `ethnode:*` keys; components receive typed values and never look at config themselves.
 */
import * as pulumi from "@pulumi/pulumi";
import { DevnetGenesis, readDevnetGenesis } from "./devnet";
import {
    ConfigError,
    DefaultContext,
    NETWORKS,
    Network,
    PATTERNS,
    Parsed,
    Section,
    boolean,
    integer,
    Field,
    list,
    oneOf,
    optional,
    parseSection,
    text,
} from "./schema";

export { ConfigError, NETWORKS };
export type { Network };

const byNetwork =
    <T>(values: Record<Network, T>) =>
    (ctx: DefaultContext): T =>
        values[ctx.network];

/** The networks the clients know by name; `devnet` is a chain of your own, `dev` is Geth's --dev. */
export type PublicNetwork = Exclude<Network, "dev" | "devnet">;
/** The networks with a consensus client. */
export type BeaconNetwork = Exclude<Network, "dev">;

/** Checkpoint-sync endpoints (required since Lighthouse 4.6). A devnet's later nodes sync from its first node. */
export const CHECKPOINT_SYNC_URLS: Record<PublicNetwork, string> = {
    mainnet: "https://mainnet.checkpoint.sigp.io",
    sepolia: "https://checkpoint-sync.sepolia.ethpandaops.io",
    hoodi: "https://checkpoint-sync.hoodi.ethpandaops.io",
};

const sourceDoc =
    "`release`: download the official archive and verify its sha256; `upload`: copy a local binary " +
    "(a private mirror or a build of your own) and verify its sha256 on the host";

export const hostSection = {
    provider: oneOf(["aws", "existing"] as const, {
        doc: "`aws` creates an EC2 instance with a separate data volume; `existing` uses a server you already have, over SSH",
        default: "aws",
    }),
    instanceType: text(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "an EC2 instance type such as m6i.xlarge", {
        doc: "EC2 instance type (aws). 4 vCPU / 16 GB is the brief; mainnet wants 32 GB (EIP-7870)",
        default: "m6i.xlarge",
    }),
    rootVolumeGb: integer(20, 1000, { doc: "Root volume size in GB (aws)", default: 40 }),
    dataVolumeGb: integer(20, 65536, {
        doc: "Data volume size in GB (aws): encrypted gp3 holding both clients' databases",
        default: byNetwork({ mainnet: 2048, sepolia: 1024, hoodi: 1024, devnet: 50, dev: 50 }),
        defaultDoc: "2048 on mainnet, 1024 on sepolia/hoodi, 50 on devnet and dev",
    }),
    dataVolumeIops: integer(3000, 80000, {
        doc: "Provisioned IOPS of the gp3 data volume (aws)",
        default: byNetwork({ mainnet: 10000, sepolia: 3000, hoodi: 3000, devnet: 3000, dev: 3000 }),
        defaultDoc: "10000 on mainnet, 3000 otherwise",
    }),
    dataVolumeThroughput: integer(125, 2000, {
        doc: "Provisioned throughput of the gp3 data volume in MB/s (aws)",
        default: byNetwork({ mainnet: 500, sepolia: 250, hoodi: 250, devnet: 125, dev: 125 }),
        defaultDoc: "500 on mainnet, 250 on sepolia/hoodi, 125 on devnet and dev",
    }),
    sshAllowedCidrs: list(text(PATTERNS.cidr, "an IPv4 CIDR such as 203.0.113.4/32", { doc: "" }), {
        doc: "Who may reach SSH (aws). Pulumi itself provisions over SSH, so your deployer's address must be here",
        default: [],
    }),
    sshPublicKey: optional(
        text(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+( \S+)?$/, "an OpenSSH public key", {
            doc: "Public half of `ethnode:sshPrivateKey`, installed as the EC2 key pair (aws)",
        }),
    ),
    vpcId: optional(
        text(/^vpc-[0-9a-f]{8,17}$/, "a VPC id such as vpc-0123456789abcdef0", {
            doc: "VPC for the security group (aws); with `subnetId`. Unset: the region's default VPC",
        }),
    ),
    subnetId: optional(
        text(/^subnet-[0-9a-f]{8,17}$/, "a subnet id such as subnet-0123456789abcdef0", {
            doc: "Subnet of `vpcId` the instance starts in (aws): a public subnet, the instance gets an Elastic IP",
        }),
    ),
    subnetIds: list(text(/^subnet-[0-9a-f]{8,17}$/, "a subnet id", { doc: "" }), {
        doc: "Subnets of `vpcId`, one per availability zone (aws, required with more than one node): node i starts in subnet i mod n, and the load balancer spans them all",
        default: [],
    }),
    address: optional(
        text(PATTERNS.hostname, "a hostname or IPv4 address", { doc: "Address of the server (existing, one node)" }),
    ),
    addresses: list(text(PATTERNS.hostname, "a hostname or IPv4 address", { doc: "" }), {
        doc: "Addresses of the servers, one per node, in node order (existing, more than one node); nodes reach each other at these addresses, so give private ones",
        default: [],
    }),
    port: integer(1, 65535, { doc: "SSH port", default: 22 }),
    user: text(PATTERNS.unixUser, "a Unix user name", {
        doc: "SSH user with passwordless sudo (Ubuntu's AMI user on aws)",
        default: "ubuntu",
    }),
    dataDir: text(PATTERNS.absPath, "an absolute path", {
        doc: "Where the clients keep their databases; the data volume is mounted here on aws. A deployed stack refuses a change at preview (the data would stay behind): see dataDirMovedFrom",
        default: "/var/lib/ethnode",
    }),
    dataDirMovedFrom: optional(
        text(PATTERNS.absPath, "an absolute path", {
            doc: "The dataDir the chain data was moved from by hand on every host (docs/operations.md, \"Move the chain data\"): lifts the refusal of that one change",
        }),
    ),
    purgeOnDestroy: boolean({
        doc: "Delete chain data, users and files on `pulumi destroy`. Off by default: a resync takes days",
        default: false,
    }),
} satisfies Section;

export const gethSection = {
    version: text(PATTERNS.semver, "a release version such as 1.17.8", { doc: "Pinned Geth release" }),
    source: oneOf(["release", "upload"] as const, { doc: sourceDoc, default: "release" }),
    commit: optional(
        text(PATTERNS.shortCommit, "the 8-hex-digit commit in the release file name", {
            doc: "Commit part of the release archive name (geth-linux-amd64-<version>-<commit>.tar.gz)",
        }),
    ),
    url: optional(text(PATTERNS.https, "an https URL", { doc: "Override the download URL (a mirror)" })),
    sha256: optional(text(PATTERNS.sha256, "64 lowercase hex digits", { doc: "sha256 of the release archive" })),
    binaryPath: optional(
        text(PATTERNS.absPath, "an absolute path", { doc: "Local Geth binary to upload (source: upload)" }),
    ),
    syncMode: oneOf(["snap", "full"] as const, { doc: "Geth --syncmode", default: "snap" }),
    gcMode: oneOf(["full", "archive"] as const, { doc: "Geth --gcmode (archive needs ~15 TB)", default: "full" }),
    cacheMb: integer(256, 131072, { doc: "Geth --cache in MB", default: 4096 }),
    maxPeers: integer(1, 500, { doc: "Geth --maxpeers", default: 50 }),
    httpVhosts: list(text(PATTERNS.hostname, "a host name", { doc: "" }), {
        doc: "Geth --http.vhosts (DNS-rebinding guard); the gateway connects as localhost",
        default: ["localhost"],
        minItems: 1,
    }),
    wsOrigins: list(text(/^[A-Za-z0-9.:/*-]+$/, "an origin", { doc: "" }), {
        doc: "Geth --ws.origins",
        default: ["localhost"],
        minItems: 1,
    }),
} satisfies Section;

/**
 * What every consensus client's section holds: its pinned release (version, source, mirror, sha256, or a binary
 * to upload) and the checkpoint it starts from. `version` is only read for the chosen client, so `dev` and the
 * other client never reach its requirement.
 */
function consensusReleaseFields(c: { title: string; example: string; when: string; artifact: string; binary: string; checkpoint: string }) {
    return {
        version: optional(
            text(PATTERNS.semver, `a release version such as ${c.example}`, { doc: `Pinned ${c.title} release (required when ${c.when})` }),
        ),
        source: oneOf(["release", "upload"] as const, { doc: sourceDoc, default: "release" }),
        url: optional(text(PATTERNS.https, "an https URL", { doc: "Override the download URL (a mirror)" })),
        sha256: optional(text(PATTERNS.sha256, "64 lowercase hex digits", { doc: `sha256 of the ${c.artifact}` })),
        binaryPath: optional(text(PATTERNS.absPath, "an absolute path", { doc: `Local ${c.binary} to upload (source: upload)` })),
        checkpointSyncUrl: {
            ...optional(text(PATTERNS.https, "an https URL", { doc: c.checkpoint })),
            default: (ctx: DefaultContext) => (ctx.network in CHECKPOINT_SYNC_URLS ? CHECKPOINT_SYNC_URLS[ctx.network as PublicNetwork] : undefined),
            defaultDoc: "sigp's for mainnet, ethpandaops' for sepolia/hoodi; on a devnet a later node syncs from node 0",
        },
    };
}

export const lighthouseSection = {
    ...consensusReleaseFields({
        title: "Lighthouse",
        example: "8.2.2",
        when: "consensusClient is lighthouse, the default, unless network is dev",
        artifact: "release archive",
        binary: "Lighthouse binary",
        checkpoint: "Beacon API serving a finalized checkpoint state",
    }),
    targetPeers: integer(10, 500, { doc: "Lighthouse --target-peers", default: 100 }),
} satisfies Section;

export const prysmSection = {
    ...consensusReleaseFields({
        title: "Prysm",
        example: "7.1.6",
        when: "consensusClient is prysm",
        artifact: "beacon-chain release binary",
        binary: "Prysm beacon-chain binary",
        checkpoint: "Beacon API serving a finalized checkpoint state and the genesis state",
    }),
    maxPeers: integer(10, 500, { doc: "Prysm --p2p-max-peers", default: 70 }),
    slasher: boolean({
        doc: "Run Prysm's slasher in the beacon node (--slasher): it watches the network for slashable messages and the SlashingDetected alert reads it; costs memory and disk",
        default: false,
    }),
} satisfies Section;

export const validatorSection = {
    version: text(PATTERNS.semver, "a release version such as 7.1.6", { doc: "Pinned Prysm validator client release (with ethnode:validator set)" }),
    source: oneOf(["release", "upload"] as const, { doc: sourceDoc, default: "release" }),
    url: optional(text(PATTERNS.https, "an https URL", { doc: "Override the download URL (a mirror)" })),
    sha256: optional(text(PATTERNS.sha256, "64 lowercase hex digits", { doc: "sha256 of the validator release binary" })),
    binaryPath: optional(text(PATTERNS.absPath, "an absolute path", { doc: "Local Prysm validator binary to upload (source: upload)" })),
    feeRecipient: text(/^0x[0-9a-fA-F]{40}$/, "an execution address such as 0x00000000219ab540356cBB839Cbe05303d7705Fa (not the zero address)", {
        doc: "Where the priority fees of proposed blocks go (--suggested-fee-recipient); required: without one they are burnt",
    }),
    graffiti: optional(text(/^[A-Za-z0-9 ._:-]{1,32}$/, "1 to 32 characters of A-Z a-z 0-9 space . _ : -", { doc: "Graffiti in proposed blocks" })),
    signers: list(signerField(), {
        doc: "Which node signs for which keys: a list of {node, pubkeys}. Each key is signed by exactly one node of the cluster; moving keys stops the old signer, waits out the doppelganger window, then starts the new one (docs/security.md)",
        minItems: 1,
    }),
    monitorIndices: list(integer(0, 2 ** 40, { doc: "" }), {
        doc: "Validator indices every node watches: its beacon node (--monitor-indices, the missed-attestation alert) and its keeper (their balances from the Beacon API, the balance alert); seen from every node, a move or a stopped signer does not blind them",
        default: [],
    }),
} satisfies Section;

/** A BLS public key as keystores and the Beacon API spell it: 96 hex digits, `0x` optional. */
const PUBKEY = /^(0x)?[0-9a-fA-F]{96}$/;

/** One signer: a node index and the public keys it signs for (public: no secret here). */
export interface ValidatorSigner {
    node: number;
    pubkeys: string[];
}

function signerField(): Field<ValidatorSigner> {
    const expected = "an object {node: <node index>, pubkeys: [<96-hex-digit BLS public keys>]}";
    return {
        expected,
        doc: "",
        parse(value, key) {
            if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(`${key} must be ${expected}`);
            const o = value as Record<string, unknown>;
            for (const k of Object.keys(o)) {
                if (k !== "node" && k !== "pubkeys") throw new ConfigError(`${key}.${k} is not a known key; known keys are node, pubkeys`);
            }
            const node = integer(0, MAX_NODES - 1, { doc: "" }).parse(o.node, `${key}.node`);
            const pubkeys = list(text(PUBKEY, "a BLS public key of 96 hex digits", { doc: "" }), { doc: "", minItems: 1 })
                .parse(o.pubkeys, `${key}.pubkeys`)
                .map(normalPubkey);
            return { node, pubkeys };
        },
    };
}

/** A public key as ethnode compares and renders it: lower case, with `0x`. */
export function normalPubkey(k: string): string {
    return `0x${k.replace(/^0x/, "").toLowerCase()}`;
}

export const devnetSection = {
    genesisDir: text(PATTERNS.absPath, "an absolute path", {
        doc: "Where this machine keeps the devnet's genesis: genesis.json (Geth), config.yaml and genesis.ssz (beacon chain), as `prysmctl testnet generate-genesis` writes them; every node gets a copy (network devnet)",
    }),
    genesisNodes: integer(1, 16, {
        doc: "How many nodes start from genesis (network devnet); a node beyond them checkpoint-syncs from node 0's beacon API, through node 0's gateway peer listener",
        default: (ctx: DefaultContext) => ctx.nodes,
        defaultDoc: "`ethnode:nodes`",
    }),
} satisfies Section;

/** The consensus clients a node can run; the first is the default. */
export const CONSENSUS_CLIENTS = ["lighthouse", "prysm"] as const;
export type ConsensusClientName = (typeof CONSENSUS_CLIENTS)[number];

const methodPattern = /^[a-z][A-Za-z0-9]*_(\*|[A-Za-z0-9]+)$/;

export const gatewaySection = {
    port: integer(1, 65535, { doc: "Public port of the JSON-RPC gateway", default: 8080 }),
    allowedCidrs: list(text(PATTERNS.cidr, "an IPv4 CIDR", { doc: "" }), {
        doc: "Who may reach the gateway port (aws security group)",
        default: ["0.0.0.0/0"],
    }),
    metricsPort: integer(1, 65535, { doc: "Loopback port of the gateway's /metrics and /health", default: 9145 }),
    source: oneOf(["openresty", "debian"] as const, {
        doc: "`openresty`: OpenResty's official apt repository; `debian`: the distribution's nginx + lua module (offline mirrors)",
        default: "openresty",
    }),
    workers: integer(1, 64, { doc: "nginx worker processes", default: 2 }),
    ipRate: integer(1, 1000000, { doc: "Per-client-IP sustained rate, in request units per second", default: 20 }),
    ipBurst: integer(1, 1000000, { doc: "Per-client-IP burst, in request units", default: 100 }),
    methodWeights: {
        expected: "a map of method name to an integer weight from 1 to 1000",
        doc: "Request units each call costs (default 1); every batch element counts",
        default: { eth_getLogs: 10, eth_getFilterLogs: 10, eth_call: 2, eth_estimateGas: 2, eth_getBlockReceipts: 5, eth_newFilter: 2, eth_getFilterChanges: 2 },
        defaultDoc: "`eth_getLogs`/`eth_getFilterLogs`: 10, `eth_getBlockReceipts`: 5, `eth_call`/`eth_estimateGas`/`eth_newFilter`/`eth_getFilterChanges`: 2",
        parse(value: unknown, key: string): Record<string, number> {
            if (typeof value !== "object" || value === null || Array.isArray(value)) {
                throw new ConfigError(`${key} must be a map of method name to an integer weight from 1 to 1000; got ${JSON.stringify(value)}`);
            }
            const out: Record<string, number> = {};
            for (const [m, w] of Object.entries(value)) {
                if (!methodPattern.test(m)) throw new ConfigError(`${key} has an invalid method name ${JSON.stringify(m)}`);
                out[m] = integer(1, 1000, { doc: "" }).parse(w, `${key}.${m}`);
            }
            return out;
        },
    },
    allowMethods: list(text(methodPattern, "a method such as eth_call or a namespace wildcard such as eth_*", { doc: "" }), {
        doc: "Methods served; admin_/debug_/personal_/engine_/miner_ stay denied unless listed here explicitly",
        default: ["eth_*", "net_*", "web3_*"],
        minItems: 1,
    }),
    maxBatchSize: integer(1, 10000, { doc: "Largest batch accepted", default: 100 }),
    maxBodyBytes: integer(1024, 67108864, { doc: "Largest request body in bytes (413 beyond)", default: 1048576 }),
    getLogsMaxRange: integer(1, 10000000, { doc: "Widest eth_getLogs block range", default: 10000 }),
    trustedProxies: list(text(PATTERNS.cidr, "an IPv4 CIDR", { doc: "" }), {
        doc: "Peers whose X-Forwarded-For is believed (a load balancer); everyone else's is ignored",
        default: [],
    }),
    failOpen: boolean({ doc: "Serve (true) or reject (false) when the limiter's shared memory fails", default: true }),
    rateLimitHeaders: oneOf(["rejected", "always"] as const, {
        doc: "When RateLimit-Limit/-Remaining/-Reset are sent: on 429 answers only, or on every answer (three more headers per request, about a tenth of the gateway's CPU per call)",
        default: "rejected",
    }),
    maxLagBlocks: integer(0, 10000, { doc: "A backend this many blocks behind the pool's best is excluded", default: 8 }),
    healthIntervalSec: integer(1, 60, { doc: "Seconds between upstream health checks", default: 2 }),
    healthFall: integer(1, 10, {
        doc: "Failed health checks in a row before a serving backend is taken out (a drained peer, and a backend syncing or lagging, are out at once); idempotent reads that fail meanwhile are retried on another backend",
        default: 1,
    }),
    healthRise: integer(1, 10, { doc: "Good health checks in a row before a backend that was out serves again", default: 1 }),
    upstreamTimeoutSec: integer(1, 600, { doc: "Read timeout for a backend's answer", default: 30 }),
    fastReadTimeoutSec: integer(1, 600, {
        doc: "With several nodes: how long a cheap read (idempotent, weight 1, e.g. eth_blockNumber, eth_getBalance) waits for a node before it is retried on another, so a hung execution client costs this rather than upstreamTimeoutSec",
        default: 5,
    }),
    bodyTimeoutSec: integer(1, 120, {
        doc: "A request body must arrive whole within this many seconds of the headers (else the connection is closed, as for 408), and a WebSocket frame, and all frames of a fragmented message, within this many seconds of its first byte (else close 1008)",
        default: 10,
    }),
    wsMaxConnsPerIp: integer(1, 10000, { doc: "Concurrent WebSocket connections per client IP", default: 20 }),
    wsBufferedBytesPerIp: integer(65536, 1073741824, {
        doc: "Bytes of unfinished (fragmented) WebSocket messages one client address may have the gateway hold, over all its sessions; past it the session is closed (1013)",
        default: 4194304,
    }),
    wsBufferedBytesPerWorker: integer(1048576, 4294967296, {
        doc: "Bytes of unfinished WebSocket messages one gateway worker holds for all its sessions; past it the session asking for more is closed (1013)",
        default: 67108864,
    }),
    wsNotificationRate: integer(1, 1000000, {
        doc: "Subscription notifications (and pings) per second one WebSocket session may receive, sustained; past the budget the session is closed (1008)",
        default: 100,
    }),
    wsNotificationBurst: integer(1, 10000000, { doc: "The notification budget's burst per WebSocket session", default: 2000 }),
    wsIdleTimeoutSec: integer(10, 86400, {
        doc: "A WebSocket session with no message either way (calls, answers, subscription notifications) for this long is closed (1001)",
        default: 300,
    }),
    tls: boolean({
        doc: "Serve `port` over TLS (1.2 and 1.3, modern ciphers only) with the secrets `ethnode:tlsCertificate` and `ethnode:tlsKey`; plain HTTP is then off. On AWS behind a load balancer, TLS may end there instead",
        default: false,
    }),
    peerPort: integer(1, 65535, {
        doc: "Port on which each node's gateway serves its own execution client to the other nodes' gateways (several nodes only; reachable from those nodes alone)",
        default: 8547,
    }),
    loadBalancerCertificateArn: optional(
        text(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/, "an ACM certificate ARN", {
            doc: "ACM certificate for a TLS listener on port 443 of the load balancer (aws, several nodes); the load balancer ends TLS and forwards to `port`",
        }),
    ),
    maxConnsPerIp: integer(1, 65535, {
        doc: "Concurrent requests per client IP on the public port, those still sending their body included; beyond it 429",
        default: 64,
    }),
} satisfies Section;

export const keeperSection = {
    enabled: boolean({ doc: "Run the keeper on every node: it restarts a client that hangs or whose head stalls while the chain moves on", default: true }),
    dryRun: boolean({ doc: "The keeper decides and logs what it would do, and restarts nothing", default: false }),
    intervalSec: integer(1, 300, { doc: "Seconds between the keeper's checks", default: 15 }),
    graceSec: integer(0, 86400, {
        doc: "A client is left alone this long after it (re)starts",
        default: byNetwork({ mainnet: 900, sepolia: 600, hoodi: 600, devnet: 120, dev: 60 }),
        defaultDoc: "900 on mainnet, 600 on sepolia/hoodi, 120 on devnet, 60 on dev",
    }),
    unresponsiveSec: integer(5, 3600, { doc: "A running client whose API has not answered this long is restarted", default: 60 }),
    stallSec: integer(5, 86400, {
        doc: "A client whose head has not moved this long, while another node's head (or, for the execution client, this node's consensus head) did, is restarted; if none moved, it is a network-wide stall and nothing is done",
        default: byNetwork({ mainnet: 180, sepolia: 180, hoodi: 180, devnet: 180, dev: 30 }),
        defaultDoc: "180 (15 slots), 30 on dev",
    }),
    maxRestartsPerHour: integer(1, 60, { doc: "Restarts of one client in an hour after which the keeper stops acting and pages (KeeperGaveUp)", default: 3 }),
    backoffSec: integer(1, 3600, { doc: "Wait after a restart before the next one, doubled for each further restart in the hour", default: 60 }),
} satisfies Section;

const duration = (min: number, max: number, doc: string, d: number) => integer(min, max, { doc, default: d });
/** A devnet's nodes peer with each other only: each has the others, and at least one. */
const devnetPeers = (ctx: DefaultContext) => Math.max(1, ctx.nodes - 1);

/** A binary the monitoring host installs for central logs: pinned, verified, or uploaded (fields of the logs section). */
const pinnedBinary = (what: string, version: string) => ({
    version: text(PATTERNS.semver, "a release version such as " + version, { doc: `Pinned ${what} release`, default: version }),
    source: oneOf(["release", "upload"] as const, { doc: sourceDoc, default: "release" }),
    url: optional(text(PATTERNS.https, "an https URL", { doc: `Override the ${what} download URL (a mirror)` })),
    sha256: optional(text(PATTERNS.sha256, "64 lowercase hex digits", { doc: `sha256 of the ${what} release archive (required with source release)` })),
    binaryPath: optional(text(PATTERNS.absPath, "an absolute path", { doc: `Local ${what} binary to upload (source: upload)` })),
});

const prefixed = <P extends string, T extends Record<string, unknown>>(prefix: P, fields: T) =>
    Object.fromEntries(Object.entries(fields).map(([k, v]) => [prefix + k[0].toUpperCase() + k.slice(1), v])) as {
        [K in keyof T & string as `${P}${Capitalize<K>}`]: T[K];
    };

export const logsSection = {
    enabled: boolean({
        doc: "Ship every host's journal (systemd-journal-upload) to VictoriaLogs on the monitoring host, and alert on the log lines metrics miss (vmalert → Alertmanager)",
        default: false,
    }),
    retentionDays: integer(1, 3650, { doc: "Days VictoriaLogs keeps logs", default: 14 }),
    maxDiskGb: integer(1, 1000000, { doc: "VictoriaLogs drops its oldest days once its data uses this many GB", default: 20 }),
    port: integer(1, 65535, {
        doc: "VictoriaLogs port: on loopback, and on the monitoring host's private address when other hosts ship to it (only those are admitted)",
        default: 9428,
    }),
    vmalertPort: integer(1, 65535, { doc: "vmalert port (loopback)", default: 8880 }),
    windowSec: integer(30, 3600, { doc: "How far back each log rule looks: a matching line keeps its alert firing this long", default: 300 }),
    ...prefixed("victoriaLogs", pinnedBinary("VictoriaLogs", "1.52.1")),
    ...prefixed("vmalert", pinnedBinary("vmalert (vmutils archive)", "1.151.0")),
    grafanaPluginVersion: text(PATTERNS.semver, "a plugin version such as 0.16.1", {
        doc: "Version of Grafana's VictoriaLogs data source plugin (victoriametrics-logs-datasource), installed with `grafana cli`",
        default: "0.16.1",
    }),
} satisfies Section;

export const monitoringSection = {
    slackChannel: text(/^[#@][A-Za-z0-9._-]{1,80}$/, "a Slack channel such as #eth-alerts", {
        doc: "Channel the Slack webhook posts to",
        default: "#ethnode-alerts",
    }),
    runbookBaseUrl: text(/^\S+$/, "a URL without spaces", {
        doc: "Where docs/runbooks.md is published; each alert links to its section",
        default: "docs/runbooks.md",
    }),
    emailTo: optional(text(/^[^\s@'"]+@[^\s@'"]+$/, "an email address", { doc: "Also send critical alerts to this address" })),
    emailFrom: optional(text(/^[^\s@'"]+@[^\s@'"]+$/, "an email address", { doc: "Sender of alert email" })),
    smtpSmarthost: optional(text(/^[A-Za-z0-9.-]+:\d+$/, "host:port", { doc: "SMTP relay for alert email" })),
    smtpUsername: optional(text(/^[^\s'"]+$/, "a user name", { doc: "SMTP user (the password is the secret ethnode:smtpPassword)" })),
    scrapeIntervalSec: duration(1, 300, "Prometheus scrape interval in seconds", 15),
    evaluationIntervalSec: duration(1, 300, "Rule evaluation interval in seconds", 15),
    groupWaitSec: duration(0, 600, "Alertmanager group_wait in seconds", 30),
    groupIntervalSec: duration(1, 3600, "Alertmanager group_interval in seconds", 300),
    repeatIntervalSec: duration(60, 604800, "How often a still-firing warning is repeated, in seconds", 14400),
    criticalRepeatIntervalSec: duration(60, 604800, "How often a still-firing critical alert is repeated, in seconds", 3600),
    retentionDays: duration(1, 3650, "Prometheus retention in days", 30),
    minExecutionPeers: integer(1, 1000, {
        doc: "ExecutionPeersLow fires below this (not on dev: no peers there)",
        default: (ctx: DefaultContext) => (ctx.network === "devnet" ? devnetPeers(ctx) : 5),
        defaultDoc: "5; on devnet the other nodes, `ethnode:nodes` − 1",
    }),
    minConsensusPeers: integer(1, 1000, {
        doc: "ConsensusPeersLow fires below this (not on dev: no peers there)",
        default: (ctx: DefaultContext) => (ctx.network === "devnet" ? devnetPeers(ctx) : 16),
        defaultDoc: "16; on devnet the other nodes, `ethnode:nodes` − 1",
    }),
    maxSlotLag: duration(1, 10000, "ConsensusBehindWallClock fires above this many slots", 8),
    egressBytesPerHour: integer(1, 1e15, { doc: "HostEgressHigh fires above this many bytes sent per hour", default: 100e9 }),
    rejectionsPerSecond: duration(1, 1000000, "GatewayRejectionSpike fires above this many rejections/s per reason", 50),
    minHealthyNodes: integer(1, 64, {
        doc: "ClusterDegraded fires when fewer nodes than this serve (several nodes)",
        default: (ctx) => Math.max(1, ctx.nodes - 1),
        defaultDoc: "`ethnode:nodes` − 1, at least 1",
    }),
    requireDeadMansSwitch: boolean({
        doc: "Refuse to deploy without `ethnode:deadMansSwitchUrl`: Prometheus runs beside what it watches, so without one a dead host alerts nobody. Turned off on mainnet, preview warns",
        default: byNetwork({ mainnet: true, sepolia: false, hoodi: false, devnet: false, dev: false }),
        defaultDoc: "true on mainnet, false otherwise",
    }),
    grafana: boolean({ doc: "Install Grafana (from its apt repository) with the provisioned dashboards", default: true }),
    bindAddress: text(/^(127\.0\.0\.1|0\.0\.0\.0|(\d{1,3}\.){3}\d{1,3})$/, "an IPv4 address", {
        doc: "Where Prometheus, Alertmanager and Grafana listen; loopback (reach them over an SSH tunnel) unless you front them",
        default: "127.0.0.1",
    }),
    prometheusPort: duration(1, 65535, "Prometheus port", 9090),
    alertmanagerPort: duration(1, 65535, "Alertmanager port", 9093),
    nodeExporterPort: duration(1, 65535, "node_exporter port (loopback)", 9100),
    grafanaPort: duration(1, 65535, "Grafana port", 3000),
} satisfies Section;

export type HostConfig = Parsed<typeof hostSection>;
export type GethConfig = Parsed<typeof gethSection>;
export type LighthouseConfig = Parsed<typeof lighthouseSection>;
export type PrysmConfig = Parsed<typeof prysmSection>;
export type ValidatorConfig = Parsed<typeof validatorSection>;
/** A devnet: its section, and its genesis as read at preview. */
export type DevnetConfig = Parsed<typeof devnetSection> & { genesis: DevnetGenesis };
export type GatewayConfig = Parsed<typeof gatewaySection>;
export type MonitoringConfig = Parsed<typeof monitoringSection>;
export type KeeperConfig = Parsed<typeof keeperSection>;
export type LogsConfig = Parsed<typeof logsSection>;

export interface EthnodeConfig {
    network: Network;
    /** How many nodes: each its own host, JWT, clients and gateway; several sit behind a load balancer. */
    nodes: number;
    host: HostConfig;
    geth: GethConfig;
    /** The consensus client; absent on `dev` (Geth's --dev mode has a built-in beacon). */
    consensusClient?: ConsensusClientName;
    /** The chosen consensus client's section; the other is absent. */
    lighthouse?: LighthouseConfig;
    prysm?: PrysmConfig;
    /** The validator client, when the stack signs; its keystores and their password are Pulumi secrets. */
    validator?: ValidatorStack;
    /** The chain of your own, on network devnet. */
    devnet?: DevnetConfig;
    gateway: GatewayConfig;
    monitoring: MonitoringConfig;
    keeper: KeeperConfig;
    /** Central logs: VictoriaLogs and vmalert on the monitoring host, every host's journal shipped to it. */
    logs: LogsConfig;
    /**
     * A separate host for Prometheus, Alertmanager and Grafana (same keys as `host`). Unset: they run on the
     * first node. Monitoring that dies with the node cannot tell you the node died.
     */
    monitoringHost?: HostConfig;
    /** Slack incoming-webhook URL; a Pulumi secret. */
    slackWebhookUrl: pulumi.Output<string>;
    /** SMTP password for alert email, when email is configured; a Pulumi secret. */
    smtpPassword?: pulumi.Output<string>;
    /** Dead man's switch URL the Watchdog pings; a Pulumi secret. */
    deadMansSwitchUrl?: pulumi.Output<string>;
    /** Private key Pulumi uses to reach the host; always a Pulumi secret. */
    sshPrivateKey: pulumi.Output<string>;
    /** Gateway API keys and their limits; a Pulumi secret. */
    apiKeys: pulumi.Output<Record<string, ApiKeyLimit>>;
    /** The gateway's certificate chain and key when gateway.tls is on; Pulumi secrets. */
    tls?: { certificate: pulumi.Output<string>; key: pulumi.Output<string> };
}

/** The stack's validators: the plain section, and its secrets (never echoed in an error). */
export interface ValidatorStack extends ValidatorConfig {
    /** Each key's EIP-2335 keystore (JSON text), by its public key as `normalPubkey` spells it; a Pulumi secret. */
    keystores: pulumi.Output<Record<string, string>>;
    /** The keystores' and the wallet's password; a Pulumi secret. */
    password: pulumi.Output<string>;
}

const ZERO_ADDRESS = /^0x0{40}$/;

/** A public key shortened for a message: enough to find it, short enough to read. */
const shortKey = (k: string) => `${k.slice(0, 10)}…${k.slice(-4)}`;

/** The keystores' public keys, checked for the EIP-2335 shape; never echoes anything but an index and a public key. */
function parseKeystores(raw: unknown, key: string): Record<string, string> {
    let value: unknown = raw;
    if (typeof raw === "string") {
        try {
            value = JSON.parse(raw);
        } catch {
            throw new ConfigError(`${key} must be a JSON list of EIP-2335 keystores; got invalid JSON`);
        }
    }
    if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${key} must be a JSON list of EIP-2335 keystores (at least one)`);
    const out: Record<string, string> = {};
    value.forEach((ks, i) => {
        const o = (ks ?? {}) as Record<string, unknown>;
        const crypto = o.crypto as Record<string, unknown> | undefined;
        const shaped =
            o.version === 4 &&
            typeof o.pubkey === "string" &&
            PUBKEY.test(o.pubkey) &&
            typeof crypto === "object" &&
            crypto !== null &&
            ["kdf", "checksum", "cipher"].every((p) => typeof crypto[p] === "object" && crypto[p] !== null);
        if (!shaped) throw new ConfigError(`${key} entry ${i} is not an EIP-2335 keystore (version 4, pubkey, crypto.kdf/checksum/cipher)`);
        const pub = normalPubkey(o.pubkey as string);
        if (out[pub] !== undefined) throw new ConfigError(`${key} holds key ${shortKey(pub)} twice (entry ${i})`);
        out[pub] = JSON.stringify(ks);
    });
    return out;
}

/**
 * The validator client and its keys. Slashing-safe by construction: each key has exactly one signer node, every
 * keystore is assigned and every assigned key has a keystore, and only Prysm's validator (with Prysm's beacon
 * node) is run. Never echoes a secret: messages name keys by their public key.
 */
function parseValidator(
    src: ConfigSource,
    ns: string,
    cfg: { network: Network; nodes: number; consensusClient?: ConsensusClientName },
    ctx: DefaultContext,
): ValidatorStack | undefined {
    const raw = src.get("validator");
    if (raw === undefined) return undefined;
    if (cfg.network === "dev") throw new ConfigError(`${ns}:validator must be unset when ${ns}:network is dev (geth --dev has no validators to run)`);
    if (cfg.consensusClient !== "prysm") {
        throw new ConfigError(`${ns}:validator needs ${ns}:consensusClient prysm: the validator client ethnode runs is Prysm's, and it speaks to Prysm's beacon node`);
    }
    const v = parseSection(`${ns}:validator`, validatorSection, raw, ctx);
    requireRelease(`${ns}:validator`, v);
    if (ZERO_ADDRESS.test(v.feeRecipient)) throw new ConfigError(`${ns}:validator.feeRecipient must not be the zero address: its fees would be burnt`);
    const signerOf = new Map<string, number>();
    const nodesSeen = new Set<number>();
    v.signers.forEach((s, i) => {
        const at = `${ns}:validator.signers[${i}]`;
        if (s.node >= cfg.nodes) throw new ConfigError(`${at}.node must be below ${ns}:nodes (${cfg.nodes}); got ${s.node}`);
        if (nodesSeen.has(s.node)) throw new ConfigError(`${at}.node: node ${s.node} is listed twice in ${ns}:validator.signers; list its keys once`);
        nodesSeen.add(s.node);
        for (const k of s.pubkeys) {
            const other = signerOf.get(k);
            if (other === s.node) throw new ConfigError(`${at}.pubkeys lists key ${shortKey(k)} twice`);
            if (other !== undefined) {
                throw new ConfigError(
                    `${ns}:validator.signers puts key ${shortKey(k)} on node ${other} and node ${s.node}: a key signed on two nodes is slashed; give each key exactly one node`,
                );
            }
            signerOf.set(k, s.node);
        }
    });
    const rawKeystores = src.get("validatorKeystores");
    if (rawKeystores === undefined) {
        throw new ConfigError(`${ns}:validatorKeystores is required with ${ns}:validator: a JSON list of EIP-2335 keystores (pulumi config set --secret ${ns}:validatorKeystores < keystores.json)`);
    }
    if (!src.isSecret("validatorKeystores")) {
        throw new ConfigError(`${ns}:validatorKeystores must be stored as a secret: pulumi config set --secret ${ns}:validatorKeystores < keystores.json`);
    }
    const keystores = parseKeystores(rawKeystores, `${ns}:validatorKeystores`);
    for (const k of signerOf.keys()) {
        if (keystores[k] === undefined) throw new ConfigError(`${ns}:validatorKeystores has no keystore for key ${shortKey(k)} (node ${signerOf.get(k)} signs for it)`);
    }
    for (const k of Object.keys(keystores)) {
        if (!signerOf.has(k)) throw new ConfigError(`${ns}:validatorKeystores holds key ${shortKey(k)}, which no entry of ${ns}:validator.signers lists: give it a node, or remove it`);
    }
    const password = src.get("validatorPassword");
    if (typeof password !== "string" || password === "") {
        throw new ConfigError(`${ns}:validatorPassword is required with ${ns}:validator: the keystores' password (pulumi config set --secret ${ns}:validatorPassword)`);
    }
    if (!src.isSecret("validatorPassword")) {
        throw new ConfigError(`${ns}:validatorPassword must be stored as a secret: pulumi config set --secret ${ns}:validatorPassword`);
    }
    // A newline would end the password early in the file the validator reads.
    if (/[\r\n]/.test(password)) throw new ConfigError(`${ns}:validatorPassword must be one line`);
    return { ...v, keystores: pulumi.secret(keystores), password: pulumi.secret(password) };
}

/**
 * A devnet's section and genesis. The nodes dial each other by address, so they must be servers whose
 * addresses the config names; only Prysm runs it (a devnet is told to a client by its files, not by a name).
 */
function parseDevnet(
    src: ConfigSource,
    ns: string,
    cfg: { network: Network; nodes: number; host: HostConfig; consensusClient?: ConsensusClientName; prysm?: PrysmConfig },
    ctx: DefaultContext,
): DevnetConfig | undefined {
    const raw = src.get("devnet");
    if (cfg.network !== "devnet") {
        if (raw !== undefined) throw new ConfigError(`${ns}:devnet must be unset unless ${ns}:network is devnet`);
        return undefined;
    }
    if (raw === undefined) throw new ConfigError(`${ns}:devnet is required when ${ns}:network is devnet: {genesisDir: <directory with genesis.json, config.yaml, genesis.ssz>}`);
    const d = parseSection(`${ns}:devnet`, devnetSection, raw, ctx);
    if (cfg.consensusClient !== "prysm") throw new ConfigError(`${ns}:network devnet needs ${ns}:consensusClient prysm: the devnet's genesis is Prysm's`);
    if (cfg.host.provider !== "existing") {
        throw new ConfigError(`${ns}:network devnet needs ${ns}:host.provider existing: the nodes are told each other's addresses, which an aws stack learns only once its instances exist`);
    }
    if (cfg.prysm?.checkpointSyncUrl !== undefined) {
        throw new ConfigError(`${ns}:prysm.checkpointSyncUrl must be unset on network devnet: a node beyond devnet.genesisNodes syncs from node 0`);
    }
    const geth = src.get("geth");
    if (typeof geth === "object" && geth !== null && "syncMode" in geth) {
        throw new ConfigError(`${ns}:geth.syncMode has no effect on network devnet (Geth full-syncs its own chain from the other nodes): remove it`);
    }
    if (d.genesisNodes > cfg.nodes) throw new ConfigError(`${ns}:devnet.genesisNodes must be at most ${ns}:nodes (${cfg.nodes}); got ${d.genesisNodes}`);
    return { ...d, genesis: readDevnetGenesis(d.genesisDir, `${ns}:devnet.genesisDir`) };
}

function parseApiKeys(raw: unknown, key: string): Record<string, ApiKeyLimit> {
    if (raw === undefined) return {};
    let value: unknown = raw;
    if (typeof raw === "string") {
        try {
            value = JSON.parse(raw);
        } catch {
            throw new ConfigError(`${key} must be a JSON object of key to {name, rate, burst}; got invalid JSON`);
        }
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new ConfigError(`${key} must be a JSON object of key to {name, rate, burst}`);
    }
    const out: Record<string, ApiKeyLimit> = {};
    let i = 0;
    for (const [k, v] of Object.entries(value)) {
        // The key itself is never echoed in an error: it is a secret.
        const where = `${key} entry ${i++}`;
        if (!/^[A-Za-z0-9_-]{16,128}$/.test(k)) throw new ConfigError(`${where}: a key must be 16 to 128 characters of A-Z a-z 0-9 _ -`);
        const o = (v ?? {}) as Record<string, unknown>;
        const name = typeof o.name === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(o.name) ? o.name : undefined;
        if (!name) throw new ConfigError(`${where}: name must be 1 to 64 characters of A-Z a-z 0-9 _ . -`);
        out[k] = {
            name,
            rate: integer(1, 1000000, { doc: "" }).parse(o.rate, `${where}.rate`),
            burst: integer(1, 1000000, { doc: "" }).parse(o.burst, `${where}.burst`),
        };
    }
    return out;
}

/** Sections in the order the README documents them. */
export const SECTIONS = {
    host: hostSection,
    geth: gethSection,
    lighthouse: lighthouseSection,
    prysm: prysmSection,
    validator: validatorSection,
    devnet: devnetSection,
    gateway: gatewaySection,
    monitoring: monitoringSection,
    keeper: keeperSection,
    logs: logsSection,
} as const;

/** Secret top-level keys: each must be stored with `pulumi config set --secret`. */
export const SECRET_KEYS = {
    sshPrivateKey: "OpenSSH private key Pulumi uses to provision the host (required)",
    slackWebhookUrl: "Slack incoming-webhook URL alerts are posted to (required)",
    smtpPassword: "SMTP password for alert email (required when monitoring.emailTo is set)",
    deadMansSwitchUrl: "URL the always-firing Watchdog alert is sent to every minute (a dead man's switch service; optional)",
    apiKeys:
        'JSON map of gateway API key to its own limit, e.g. {"<key of 16+ chars>": {"name": "acme", "rate": 200, "burst": 1000}} (optional)',
    tlsCertificate: "PEM certificate chain of the gateway, leaf first (required when gateway.tls is true)",
    tlsKey: "PEM private key of that certificate (required when gateway.tls is true)",
    validatorKeystores: "JSON list of the validators' EIP-2335 keystores, every one listed in validator.signers (required with ethnode:validator)",
    validatorPassword: "The keystores' password; also the validator wallet's (required with ethnode:validator)",
} as const;

export interface ApiKeyLimit {
    name: string;
    rate: number;
    burst: number;
}

/** Where config values come from: the stack (via pulumi.Config) or a test. */
export interface ConfigSource {
    get(key: string): unknown;
    isSecret(key: string): boolean;
}

/** The most nodes a stack runs: each is its own host, and every gateway probes every node. */
export const MAX_NODES = 16;

/** Provider-specific requirements of a host section; `nodes` is how many hosts it describes. */
function checkHost(prefix: string, h: HostConfig, nodes = 1): void {
    if (h.provider === "aws") {
        if (nodes > 1 && h.subnetIds.length === 0) {
            throw new ConfigError(`${prefix}.subnetIds is required when ethnode:nodes is ${nodes}: subnets of vpcId in different availability zones, for the nodes and the load balancer`);
        }
        if (h.subnetIds.length > 0 && h.subnetId !== undefined) {
            throw new ConfigError(`${prefix}.subnetId and ${prefix}.subnetIds exclude each other: list every subnet in subnetIds`);
        }
        if (h.subnetIds.length > 0 && h.vpcId === undefined) {
            throw new ConfigError(`${prefix}.vpcId is required with ${prefix}.subnetIds: the VPC those subnets belong to`);
        }
        if (h.addresses.length > 0) throw new ConfigError(`${prefix}.addresses is for provider existing; aws creates its hosts`);
        if (!h.sshPublicKey) throw new ConfigError(`${prefix}.sshPublicKey is required when ${prefix}.provider is aws: an OpenSSH public key`);
        if (h.sshAllowedCidrs.length === 0) {
            throw new ConfigError(`${prefix}.sshAllowedCidrs must list at least one CIDR when ${prefix}.provider is aws (Pulumi provisions over SSH)`);
        }
        if (h.subnetIds.length === 0 && (h.vpcId === undefined) !== (h.subnetId === undefined)) {
            throw new ConfigError(`${prefix}.vpcId and ${prefix}.subnetId (or subnetIds) go together: set both (subnets of that VPC), or neither for the default VPC`);
        }
    } else if (nodes > 1 || h.addresses.length > 0) {
        if (h.address !== undefined) throw new ConfigError(`${prefix}.address and ${prefix}.addresses exclude each other: list every server in addresses`);
        if (h.addresses.length !== nodes) {
            throw new ConfigError(`${prefix}.addresses must list ${nodes} servers (one per node, ethnode:nodes is ${nodes}); got ${h.addresses.length}`);
        }
        if (new Set(h.addresses).size !== h.addresses.length) throw new ConfigError(`${prefix}.addresses must not repeat a server`);
    } else if (!h.address) {
        throw new ConfigError(`${prefix}.address is required when ${prefix}.provider is existing: a hostname or IPv4 address`);
    }
}

/** Where node `index` runs (existing hosts): its entry of `addresses`, or `address` for a single node. */
export function nodeAddress(h: HostConfig, index: number): string | undefined {
    return h.addresses.length > 0 ? h.addresses[index] : h.address;
}

/** The subnet node `index` starts in (aws): round-robin over `subnetIds`, else `subnetId`. */
export function nodeSubnet(h: HostConfig, index: number): string | undefined {
    return h.subnetIds.length > 0 ? h.subnetIds[index % h.subnetIds.length] : h.subnetId;
}

/** A pinned binary's section fields: `key` names each field as the stack writes it. */
function requireRelease(
    prefix: string,
    c: { source: string; sha256?: string; binaryPath?: string },
    key: (field: string) => string = (field) => `${prefix}.${field}`,
): void {
    if (c.source === "release" && !c.sha256) {
        throw new ConfigError(`${key("sha256")} is required when ${key("source")} is release: 64 lowercase hex digits`);
    }
    if (c.source === "upload" && !c.binaryPath) {
        throw new ConfigError(`${key("binaryPath")} is required when ${key("source")} is upload: an absolute path`);
    }
}

/** A value still holding the shipped stack files' `<what to put here>` text. */
const PLACEHOLDER = /^<[^<>]+>/;

function rejectPlaceholders(key: string, value: unknown): void {
    if (typeof value === "string" && PLACEHOLDER.test(value)) {
        throw new ConfigError(`${key} is still the placeholder ${JSON.stringify(value)}: set your own value (README, Deploy)`);
    }
    if (Array.isArray(value)) value.forEach((v, i) => rejectPlaceholders(`${key}[${i}]`, v));
    else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) rejectPlaceholders(`${key}.${k}`, v);
}

/** Settings that do nothing on the dev chain (`geth --dev` neither syncs nor has peers), by section, and why:
 * set there, they are an error rather than a value silently dropped. */
const NOT_ON_DEV = {
    geth: { keys: ["syncMode", "maxPeers"], why: "geth --dev neither syncs nor has peers" },
    monitoring: { keys: ["minExecutionPeers", "minConsensusPeers"], why: "geth --dev has no peers: no peer-count alert is rendered there" },
} satisfies Record<string, { keys: readonly string[]; why: string }>;

function refuseWithoutEffect(ns: string, section: keyof typeof NOT_ON_DEV, raw: unknown, network: Network): void {
    if (network !== "dev" || typeof raw !== "object" || raw === null) return;
    const { keys, why } = NOT_ON_DEV[section];
    for (const key of keys) {
        if (key in raw) {
            throw new ConfigError(`${ns}:${section}.${key} has no effect on network dev (${why}): remove it`);
        }
    }
}

/**
 * The consensus client and its section: `consensusClient` picks one (Lighthouse by default), whose section must
 * name a version; the other client's section must be unset, so a stack never reads as running both. `dev` runs
 * none, and refuses all three keys.
 */
function parseConsensus(
    src: ConfigSource,
    ns: string,
    network: Network,
    ctx: DefaultContext,
): Pick<EthnodeConfig, "consensusClient" | "lighthouse" | "prysm"> {
    if (network === "dev") {
        for (const key of ["consensusClient", ...CONSENSUS_CLIENTS]) {
            if (src.get(key) !== undefined) {
                throw new ConfigError(`${ns}:${key} must be unset when ${ns}:network is dev (geth --dev has a built-in beacon)`);
            }
        }
        return {};
    }
    const raw = src.get("consensusClient");
    const client = raw === undefined ? CONSENSUS_CLIENTS[0] : oneOf(CONSENSUS_CLIENTS, { doc: "" }).parse(raw, `${ns}:consensusClient`);
    for (const other of CONSENSUS_CLIENTS) {
        if (other !== client && src.get(other) !== undefined) {
            throw new ConfigError(`${ns}:${other} must be unset when ${ns}:consensusClient is ${client}: a node runs one consensus client`);
        }
    }
    const section = parseSection(`${ns}:${client}`, SECTIONS[client], src.get(client), ctx);
    if (!section.version) {
        throw new ConfigError(`${ns}:${client}.version is required when ${ns}:network is ${network}: ${SECTIONS[client].version.expected}`);
    }
    requireRelease(`${ns}:${client}`, section);
    return { consensusClient: client, [client]: section };
}

export function parseConfig(source: ConfigSource, ns = "ethnode"): EthnodeConfig {
    const src: ConfigSource = {
        get: (key) => {
            const value = source.get(key);
            rejectPlaceholders(`${ns}:${key}`, value);
            return value;
        },
        isSecret: (key) => source.isSecret(key),
    };
    const rawNetwork = src.get("network");
    if (rawNetwork === undefined) throw new ConfigError(`${ns}:network is required: one of ${NETWORKS.join(", ")}`);
    const network = oneOf(NETWORKS, { doc: "" }).parse(rawNetwork, `${ns}:network`);
    const rawNodes = src.get("nodes");
    const nodes = rawNodes === undefined ? 1 : integer(1, MAX_NODES, { doc: "" }).parse(rawNodes, `${ns}:nodes`);
    const ctx: DefaultContext = { network, nodes };
    const host = parseSection(`${ns}:host`, hostSection, src.get("host"), ctx);
    const geth = parseSection(`${ns}:geth`, gethSection, src.get("geth"), ctx);
    refuseWithoutEffect(ns, "geth", src.get("geth"), network);
    const gateway = parseSection(`${ns}:gateway`, gatewaySection, src.get("gateway"), ctx);
    const monitoring = parseSection(`${ns}:monitoring`, monitoringSection, src.get("monitoring"), ctx);
    refuseWithoutEffect(ns, "monitoring", src.get("monitoring"), network);
    const keeper = parseSection(`${ns}:keeper`, keeperSection, src.get("keeper"), ctx);
    const logs = parseSection(`${ns}:logs`, logsSection, src.get("logs"), ctx);

    checkHost(`${ns}:host`, host, nodes);
    if (monitoring.minHealthyNodes > nodes) {
        throw new ConfigError(`${ns}:monitoring.minHealthyNodes must be at most ethnode:nodes (${nodes}); got ${monitoring.minHealthyNodes}`);
    }
    if (gateway.loadBalancerCertificateArn !== undefined && (host.provider !== "aws" || nodes < 2)) {
        throw new ConfigError(`${ns}:gateway.loadBalancerCertificateArn needs the load balancer: provider aws and ethnode:nodes of 2 or more`);
    }
    if (gateway.loadBalancerCertificateArn !== undefined && gateway.tls) {
        throw new ConfigError(`${ns}:gateway.loadBalancerCertificateArn and ${ns}:gateway.tls exclude each other: TLS ends at the load balancer or at the gateway`);
    }
    if (gateway.wsBufferedBytesPerIp < gateway.maxBodyBytes) {
        throw new ConfigError(`${ns}:gateway.wsBufferedBytesPerIp must be at least gateway.maxBodyBytes (${gateway.maxBodyBytes}): one whole message must fit; got ${gateway.wsBufferedBytesPerIp}`);
    }
    if (gateway.wsBufferedBytesPerWorker < gateway.wsBufferedBytesPerIp) {
        throw new ConfigError(`${ns}:gateway.wsBufferedBytesPerWorker must be at least gateway.wsBufferedBytesPerIp (${gateway.wsBufferedBytesPerIp}); got ${gateway.wsBufferedBytesPerWorker}`);
    }
    if (nodes > 1 && [gateway.port, gateway.metricsPort].includes(gateway.peerPort)) {
        throw new ConfigError(`${ns}:gateway.peerPort must differ from gateway.port and gateway.metricsPort; got ${gateway.peerPort}`);
    }
    let monitoringHost: HostConfig | undefined;
    if (src.get("monitoringHost") !== undefined) {
        monitoringHost = parseSection(`${ns}:monitoringHost`, hostSection, src.get("monitoringHost"), ctx);
        checkHost(`${ns}:monitoringHost`, monitoringHost);
        if (monitoringHost.provider !== host.provider) {
            throw new ConfigError(`${ns}:monitoringHost.provider must match ${ns}:host.provider (${host.provider})`);
        }
    }

    requireRelease(`${ns}:geth`, geth);
    if (geth.source === "release" && !geth.url && !geth.commit) {
        throw new ConfigError(
            `${ns}:geth.commit is required when ${ns}:geth.source is release and no geth.url is set: the 8-hex-digit commit in the release file name`,
        );
    }

    const { consensusClient, lighthouse, prysm } = parseConsensus(src, ns, network, ctx);
    const validator = parseValidator(src, ns, { network, nodes, consensusClient }, ctx);
    const devnet = parseDevnet(src, ns, { network, nodes, host, consensusClient, prysm }, ctx);
    if (logs.enabled) {
        for (const part of ["victoriaLogs", "vmalert"] as const) {
            const c = { source: logs[`${part}Source`], sha256: logs[`${part}Sha256`], binaryPath: logs[`${part}BinaryPath`] };
            requireRelease(`${ns}:logs`, c, (field) => `${ns}:logs.${part}${field[0].toUpperCase()}${field.slice(1)}`);
        }
        const clash = [monitoring.prometheusPort, monitoring.alertmanagerPort, monitoring.nodeExporterPort, monitoring.grafanaPort, gateway.port, gateway.metricsPort];
        for (const k of ["port", "vmalertPort"] as const) {
            if (clash.includes(logs[k]) || (k === "vmalertPort" && logs.vmalertPort === logs.port)) {
                throw new ConfigError(`${ns}:logs.${k} must differ from the other monitoring and gateway ports; got ${logs[k]}`);
            }
        }
    }

    const key = src.get("sshPrivateKey");
    if (typeof key !== "string" || !/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.trim())) {
        throw new ConfigError(`${ns}:sshPrivateKey is required: an OpenSSH private key (pulumi config set --secret ${ns}:sshPrivateKey < key)`);
    }
    if (!src.isSecret("sshPrivateKey")) {
        throw new ConfigError(`${ns}:sshPrivateKey must be stored as a secret: pulumi config set --secret ${ns}:sshPrivateKey < key`);
    }

    const rawKeys = src.get("apiKeys");
    if (rawKeys !== undefined && !src.isSecret("apiKeys")) {
        throw new ConfigError(`${ns}:apiKeys must be stored as a secret: pulumi config set --secret ${ns}:apiKeys '<json>'`);
    }
    const apiKeys = parseApiKeys(rawKeys, `${ns}:apiKeys`);

    const secretUrl = (name: string, required: boolean): pulumi.Output<string> | undefined => {
        const v = src.get(name);
        if (v === undefined) {
            if (required) throw new ConfigError(`${ns}:${name} is required: an https URL (pulumi config set --secret ${ns}:${name} <url>)`);
            return undefined;
        }
        // The value is never echoed: it is a secret.
        if (typeof v !== "string" || !/^https?:\/\/[^\s'"]+$/.test(v)) throw new ConfigError(`${ns}:${name} must be an http(s) URL`);
        if (!src.isSecret(name)) throw new ConfigError(`${ns}:${name} must be stored as a secret: pulumi config set --secret ${ns}:${name} <url>`);
        return pulumi.secret(v);
    };
    const slackWebhookUrl = secretUrl("slackWebhookUrl", true) as pulumi.Output<string>;
    const deadMansSwitchUrl = secretUrl("deadMansSwitchUrl", false);
    if (monitoring.requireDeadMansSwitch && deadMansSwitchUrl === undefined) {
        throw new ConfigError(
            `${ns}:deadMansSwitchUrl is required on ${network}: a dead man's switch URL (healthchecks.io, Dead Man's Snitch, …) that pages when the Watchdog stops arriving, since a dead host cannot alert about itself (pulumi config set --secret ${ns}:deadMansSwitchUrl <url>); or opt out with ${ns}:monitoring.requireDeadMansSwitch false`,
        );
    }
    let smtpPassword: pulumi.Output<string> | undefined;
    if (monitoring.emailTo) {
        for (const k of ["emailFrom", "smtpSmarthost", "smtpUsername"] as const) {
            if (!monitoring[k]) throw new ConfigError(`${ns}:monitoring.${k} is required when ${ns}:monitoring.emailTo is set`);
        }
        const pw = src.get("smtpPassword");
        if (typeof pw !== "string" || pw === "") throw new ConfigError(`${ns}:smtpPassword is required when ${ns}:monitoring.emailTo is set`);
        if (!src.isSecret("smtpPassword")) throw new ConfigError(`${ns}:smtpPassword must be stored as a secret`);
        smtpPassword = pulumi.secret(pw);
    }

    let tls: EthnodeConfig["tls"];
    if (gateway.tls) {
        const pem = (name: "tlsCertificate" | "tlsKey", label: RegExp, what: string): pulumi.Output<string> => {
            const v = src.get(name);
            // The value is never echoed: the key is a secret.
            if (typeof v !== "string" || !label.test(v.trim())) {
                throw new ConfigError(`${ns}:${name} is required when ${ns}:gateway.tls is true: ${what} (pulumi config set --secret ${ns}:${name} < file)`);
            }
            if (!src.isSecret(name)) throw new ConfigError(`${ns}:${name} must be stored as a secret: pulumi config set --secret ${ns}:${name} < file`);
            return pulumi.secret(v.trim() + "\n");
        };
        tls = {
            certificate: pem("tlsCertificate", /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/, "a PEM certificate chain"),
            key: pem("tlsKey", /^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----$/, "a PEM private key"),
        };
    }

    return {
        network,
        nodes,
        host,
        geth,
        consensusClient,
        lighthouse,
        prysm,
        validator,
        devnet,
        gateway,
        monitoring,
        keeper,
        logs,
        monitoringHost,
        slackWebhookUrl,
        smtpPassword,
        deadMansSwitchUrl,
        sshPrivateKey: pulumi.secret(key),
        apiKeys: pulumi.secret(apiKeys),
        tls,
    };
}

/** Preview-time warnings about monitoring that could fail silently. */
export function monitoringWarnings(cfg: Pick<EthnodeConfig, "network" | "deadMansSwitchUrl">): string[] {
    if (cfg.network === "mainnet" && cfg.deadMansSwitchUrl === undefined) {
        return ["ethnode:deadMansSwitchUrl is not set (monitoring.requireDeadMansSwitch is off): if this host dies, Prometheus and Alertmanager die with it and nobody is alerted"];
    }
    return [];
}

/** Reads the running stack's config. */
export function loadConfig(): EthnodeConfig {
    try {
        return readConfig();
    } catch (e) {
        // A RunError is reported as its message alone: the operator needs the key, not a stack trace.
        if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
        throw e;
    }
}

/** Top-level keys that hold one value, not a YAML object. */
const SCALAR_KEYS = ["network", "nodes", "consensusClient"];

function readConfig(): EthnodeConfig {
    const cfg = new pulumi.Config("ethnode");
    const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
    return parseConfig({
        get: (key) => {
            const raw = cfg.get(key);
            if (raw === undefined) return undefined;
            try {
                return key in SECRET_KEYS || SCALAR_KEYS.includes(key) ? raw : JSON.parse(raw);
            } catch {
                throw new ConfigError(`ethnode:${key} must be a YAML object; got ${JSON.stringify(raw)}`);
            }
        },
        isSecret: (key) => runtime.isConfigSecret?.(`ethnode:${key}`) ?? true,
    });
}
