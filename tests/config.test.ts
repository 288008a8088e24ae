import { ConfigError, parseConfig, ConfigSource } from "../components/config";
import * as pulumi from "@pulumi/pulumi";
import { TEST_FEE_RECIPIENT, fakeKeystore, testPubkey, validatorRaw } from "./helpers/validator";
import { ROOT, TEST_DMS_URL, TEST_SLACK_WEBHOOK, TEST_SSH_KEY, shippedStackConfig, stackConfig } from "./helpers/pulumi";
import * as fs from "fs";
import * as path from "path";

type Raw = Record<string, unknown>;

const TEST_CERT = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";

const base = (): Raw => ({
    network: "sepolia",
    host: {
        provider: "aws",
        sshAllowedCidrs: ["203.0.113.10/32"],
        sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1mS2mX ethnode",
    },
    geth: { version: "1.17.4", commit: "36a7dc72", sha256: "a".repeat(64) },
    lighthouse: { version: "8.2.2", sha256: "b".repeat(64) },
    sshPrivateKey: TEST_SSH_KEY,
    slackWebhookUrl: TEST_SLACK_WEBHOOK,
});

function source(raw: Raw, secret = ["sshPrivateKey", "slackWebhookUrl", "smtpPassword", "apiKeys", "tlsCertificate", "tlsKey", "deadMansSwitchUrl"]): ConfigSource {
    return { get: (k) => raw[k], isSecret: (k) => secret.includes(k) };
}

function mutate(fn: (raw: any) => void): Raw {
    const raw = JSON.parse(JSON.stringify(base()));
    fn(raw);
    return raw;
}

describe("stack config", () => {
    it("accepts a complete config and fills defaults per network", () => {
        const cfg = parseConfig(source(base()));
        expect(cfg.host.instanceType).toBe("m6i.xlarge");
        expect(cfg.host.dataVolumeGb).toBe(1024);
        expect(cfg.host.dataVolumeIops).toBe(3000);
        expect(cfg.host.port).toBe(22);
        expect(cfg.geth.syncMode).toBe("snap");
        expect(cfg.lighthouse?.checkpointSyncUrl).toBe("https://checkpoint-sync.sepolia.ethpandaops.io");
        expect(cfg.gateway.port).toBe(8080);
    });

    it("gives mainnet its own defaults", () => {
        const cfg = parseConfig(source(mutate((r) => Object.assign(r, { network: "mainnet", deadMansSwitchUrl: TEST_DMS_URL }))));
        expect(cfg.host.dataVolumeGb).toBe(2048);
        expect(cfg.host.dataVolumeIops).toBe(10000);
        expect(cfg.lighthouse?.checkpointSyncUrl).toBe("https://mainnet.checkpoint.sigp.io");
    });

    it("accepts numbers and booleans as the strings `pulumi config set --path` stores", () => {
        const cfg = parseConfig(
            source(mutate((r) => Object.assign(r.host, { dataVolumeGb: "4096", purgeOnDestroy: "true" }))),
        );
        expect(cfg.host.dataVolumeGb).toBe(4096);
        expect(cfg.host.purgeOnDestroy).toBe(true);
    });

    it("runs no consensus client on dev", () => {
        const cfg = parseConfig(
            source(mutate((r) => {
                r.network = "dev";
                delete r.lighthouse;
            })),
        );
        expect(cfg.lighthouse).toBeUndefined();
        expect(cfg.consensusClient).toBeUndefined();
    });

    it("runs Lighthouse unless consensusClient picks Prysm, whose section then names the release", () => {
        expect(parseConfig(source(base())).consensusClient).toBe("lighthouse");
        const cfg = parseConfig(
            source(mutate((r) => {
                r.consensusClient = "prysm";
                delete r.lighthouse;
                r.prysm = { version: "7.1.6", sha256: "c".repeat(64) };
            })),
        );
        expect(cfg.consensusClient).toBe("prysm");
        expect(cfg.lighthouse).toBeUndefined();
        expect(cfg.prysm).toEqual({
            version: "7.1.6",
            source: "release",
            sha256: "c".repeat(64),
            checkpointSyncUrl: "https://checkpoint-sync.sepolia.ethpandaops.io",
            maxPeers: 70,
            slasher: false,
        });
    });

    describe("a devnet (a chain of your own)", () => {
        const GENESIS = path.join(ROOT, "tests", "fixtures", "devnet");
        const devnet = (fn: (raw: any) => void = () => undefined): Raw =>
            mutate((r) => {
                r.network = "devnet";
                r.nodes = 3;
                delete r.lighthouse;
                r.consensusClient = "prysm";
                r.prysm = { version: "7.1.6", sha256: "c".repeat(64) };
                r.host = { provider: "existing", addresses: ["10.77.0.11", "10.77.0.12", "10.77.0.13"], user: "root" };
                r.devnet = { genesisDir: GENESIS, genesisNodes: 2 };
                fn(r);
            });

        it("reads its genesis at preview: chain id, slot time, the files every node gets", () => {
            const cfg = parseConfig(source(devnet()));
            expect(cfg.devnet?.genesisNodes).toBe(2);
            expect(cfg.devnet?.genesis).toMatchObject({ chainId: 32382, secondsPerSlot: 6, slotsPerEpoch: 32 });
            expect(Buffer.from(cfg.devnet!.genesis.files.stateBase64, "base64")).toEqual(fs.readFileSync(path.join(GENESIS, "genesis.ssz")));
            expect(cfg.prysm?.checkpointSyncUrl).toBeUndefined();
            expect(parseConfig(source(devnet((r) => delete r.devnet.genesisNodes))).devnet?.genesisNodes).toBe(3);
        });

        const badDevnets: [string, Raw, string][] = [
            ["no devnet section", devnet((r) => delete r.devnet), "ethnode:devnet is required when ethnode:network is devnet: {genesisDir: <directory with genesis.json, config.yaml, genesis.ssz>}"],
            ["Lighthouse", devnet((r) => (delete r.consensusClient, delete r.prysm, (r.lighthouse = { version: "8.2.2", sha256: "b".repeat(64) }))), "ethnode:network devnet needs ethnode:consensusClient prysm: the devnet's genesis is Prysm's"],
            [
                "aws hosts",
                devnet((r) => (r.host = { provider: "aws", sshAllowedCidrs: ["203.0.113.10/32"], sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1mS2mX ethnode", vpcId: "vpc-0123456789abcdef0", subnetIds: ["subnet-0123456789abcdef0"] })),
                "ethnode:network devnet needs ethnode:host.provider existing: the nodes are told each other's addresses, which an aws stack learns only once its instances exist",
            ],
            ["a checkpoint URL", devnet((r) => (r.prysm.checkpointSyncUrl = "https://checkpoint.example")), "ethnode:prysm.checkpointSyncUrl must be unset on network devnet: a node beyond devnet.genesisNodes syncs from node 0"],
            ["more genesis nodes than nodes", devnet((r) => (r.devnet.genesisNodes = 4)), "ethnode:devnet.genesisNodes must be at most ethnode:nodes (3); got 4"],
            ["a genesis directory without the files", devnet((r) => (r.devnet.genesisDir = "/nonexistent/genesis")), "ethnode:devnet.genesisDir must hold genesis.json (prysmctl testnet generate-genesis writes it); /nonexistent/genesis/genesis.json does not exist"],
            ["a Geth sync mode", devnet((r) => (r.geth.syncMode = "snap")), "ethnode:geth.syncMode has no effect on network devnet (Geth full-syncs its own chain from the other nodes): remove it"],
            ["a devnet section on another network", mutate((r) => (r.devnet = { genesisDir: GENESIS })), "ethnode:devnet must be unset unless ethnode:network is devnet"],
        ];
        it.each(badDevnets)("refuses %s at preview", (_what, raw, message) => {
            expect(() => parseConfig(source(raw))).toThrow(message);
        });
    });

    describe("validators", () => {
        const withValidators = (signers: Record<number, number[]>, fn: (raw: any) => void = () => undefined, nodes = 2): Raw =>
            mutate((r) => {
                delete r.lighthouse;
                Object.assign(r, validatorRaw(signers), { nodes });
                r.host.subnetIds = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"];
                r.host.vpcId = "vpc-0123456789abcdef0";
                fn(r);
            });
        const secrets = ["sshPrivateKey", "slackWebhookUrl", "validatorKeystores", "validatorPassword"];

        it("take each key's signer node, and keep the keystores and the password secret", async () => {
            const cfg = parseConfig(source(withValidators({ 0: [0, 1], 1: [2] }), secrets));
            expect(cfg.validator?.signers).toEqual([
                { node: 0, pubkeys: [`0x${testPubkey(0)}`, `0x${testPubkey(1)}`] },
                { node: 1, pubkeys: [`0x${testPubkey(2)}`] },
            ]);
            expect(cfg.validator?.feeRecipient).toBe(TEST_FEE_RECIPIENT);
            expect(cfg.validator?.monitorIndices).toEqual([]);
            expect(await pulumi.isSecret(cfg.validator!.keystores)).toBe(true);
            expect(await pulumi.isSecret(cfg.validator!.password)).toBe(true);
        });

        it("compare keys whatever their case and prefix", () => {
            const raw = withValidators({ 0: [0], 1: [1] }, (r) => (r.validator.signers[1].pubkeys = [testPubkey(0).toUpperCase()]));
            expect(() => parseConfig(source(raw, secrets))).toThrow(/puts key 0x01010101…0101 on node 0 and node 1/);
        });

        const badValidators: [string, Raw, string[] | undefined, string][] = [
            [
                "a key on two nodes",
                withValidators({ 0: [0, 1], 1: [1] }),
                undefined,
                `ethnode:validator.signers puts key 0x02020202…0202 on node 0 and node 1: a key signed on two nodes is slashed; give each key exactly one node`,
            ],
            ["a key twice on one node", withValidators({ 0: [0, 0] }), undefined, "ethnode:validator.signers[0].pubkeys lists key 0x01010101…0101 twice"],
            ["a node listed twice", withValidators({ 0: [0] }, (r) => r.validator.signers.push({ node: 0, pubkeys: [`0x${testPubkey(1)}`] })), undefined, "ethnode:validator.signers[1].node: node 0 is listed twice in ethnode:validator.signers; list its keys once"],
            ["a signer beyond the nodes", withValidators({ 2: [0] }), undefined, "ethnode:validator.signers[0].node must be below ethnode:nodes (2); got 2"],
            ["no signers", withValidators({ 0: [0] }, (r) => (r.validator.signers = [])), undefined, "ethnode:validator.signers must be a list of an object {node: <node index>, pubkeys: [<96-hex-digit BLS public keys>]} (at least 1); got []"],
            ["a short public key", withValidators({ 0: [0] }, (r) => (r.validator.signers[0].pubkeys = ["0xabcd"])), undefined, 'ethnode:validator.signers[0].pubkeys[0] must be a BLS public key of 96 hex digits; got "0xabcd"'],
            ["an unknown signer key", withValidators({ 0: [0] }, (r) => (r.validator.signers[0].keys = [])), undefined, "ethnode:validator.signers[0].keys is not a known key; known keys are node, pubkeys"],
            ["Lighthouse", withValidators({ 0: [0] }, (r) => (delete r.consensusClient, delete r.prysm, (r.lighthouse = { version: "8.2.2", sha256: "b".repeat(64) }))), undefined, "ethnode:validator needs ethnode:consensusClient prysm: the validator client ethnode runs is Prysm's, and it speaks to Prysm's beacon node"],
            ["no fee recipient", withValidators({ 0: [0] }, (r) => delete r.validator.feeRecipient), undefined, "ethnode:validator.feeRecipient is required: an execution address such as 0x00000000219ab540356cBB839Cbe05303d7705Fa (not the zero address)"],
            ["the zero fee recipient", withValidators({ 0: [0] }, (r) => (r.validator.feeRecipient = `0x${"0".repeat(40)}`)), undefined, "ethnode:validator.feeRecipient must not be the zero address: its fees would be burnt"],
            ["no version", withValidators({ 0: [0] }, (r) => delete r.validator.version), undefined, "ethnode:validator.version is required: a release version such as 7.1.6"],
            ["a release without sha256", withValidators({ 0: [0] }, (r) => delete r.validator.sha256), undefined, "ethnode:validator.sha256 is required when ethnode:validator.source is release: 64 lowercase hex digits"],
            ["no keystores", withValidators({ 0: [0] }, (r) => delete r.validatorKeystores), undefined, "ethnode:validatorKeystores is required with ethnode:validator: a JSON list of EIP-2335 keystores (pulumi config set --secret ethnode:validatorKeystores < keystores.json)"],
            ["keystores in plain text", withValidators({ 0: [0] }), ["sshPrivateKey", "slackWebhookUrl", "validatorPassword"], "ethnode:validatorKeystores must be stored as a secret: pulumi config set --secret ethnode:validatorKeystores < keystores.json"],
            ["keystores that are not JSON", withValidators({ 0: [0] }, (r) => (r.validatorKeystores = "{ks-secret-marker")), undefined, "ethnode:validatorKeystores must be a JSON list of EIP-2335 keystores; got invalid JSON"],
            ["a keystore of another shape", withValidators({ 0: [0] }, (r) => (r.validatorKeystores = JSON.stringify([{ version: 3, pubkey: testPubkey(0), crypto: "ks-secret-marker" }]))), undefined, "ethnode:validatorKeystores entry 0 is not an EIP-2335 keystore (version 4, pubkey, crypto.kdf/checksum/cipher)"],
            ["a keystore twice", withValidators({ 0: [0] }, (r) => (r.validatorKeystores = JSON.stringify([fakeKeystore(0), fakeKeystore(0)]))), undefined, "ethnode:validatorKeystores holds key 0x01010101…0101 twice (entry 1)"],
            ["a key without keystore", withValidators({ 0: [0] }, (r) => (r.validatorKeystores = JSON.stringify([]))), undefined, "ethnode:validatorKeystores must be a JSON list of EIP-2335 keystores (at least one)"],
            ["a signed key without its keystore", withValidators({ 0: [0, 1] }, (r) => (r.validatorKeystores = JSON.stringify([fakeKeystore(0)]))), undefined, "ethnode:validatorKeystores has no keystore for key 0x02020202…0202 (node 0 signs for it)"],
            ["a keystore no node signs with", withValidators({ 0: [0] }, (r) => (r.validatorKeystores = JSON.stringify([fakeKeystore(0), fakeKeystore(5)]))), undefined, "ethnode:validatorKeystores holds key 0x06060606…0606, which no entry of ethnode:validator.signers lists: give it a node, or remove it"],
            ["no password", withValidators({ 0: [0] }, (r) => delete r.validatorPassword), undefined, "ethnode:validatorPassword is required with ethnode:validator: the keystores' password (pulumi config set --secret ethnode:validatorPassword)"],
            ["a password in plain text", withValidators({ 0: [0] }), ["sshPrivateKey", "slackWebhookUrl", "validatorKeystores"], "ethnode:validatorPassword must be stored as a secret: pulumi config set --secret ethnode:validatorPassword"],
            ["a password of two lines", withValidators({ 0: [0] }, (r) => (r.validatorPassword = "validator-password-marker\nsecond")), undefined, "ethnode:validatorPassword must be one line"],
        ];

        it.each(badValidators)("refuse %s at preview, saying which key and why, echoing no secret", (_what, raw, secret, message) => {
            let error: unknown;
            try {
                parseConfig(source(raw, secret ?? secrets));
            } catch (e) {
                error = e;
            }
            expect(error).toBeInstanceOf(ConfigError);
            expect((error as Error).message).toBe(message);
            expect((error as Error).message).not.toMatch(/marker/);
        });

        it("refuse a validator on dev", () => {
            const raw = mutate((r) => {
                r.network = "dev";
                delete r.lighthouse;
                r.host = { provider: "existing", address: "127.0.0.1" };
                r.validator = validatorRaw({ 0: [0] }).validator;
            });
            expect(() => parseConfig(source(raw, secrets))).toThrow("ethnode:validator must be unset when ethnode:network is dev (geth --dev has no validators to run)");
        });
    });

    const bad: [string, Raw, string][] = [
        ["misspelled network", mutate((r) => (r.network = "mainet")), 'ethnode:network must be one of mainnet, sepolia, hoodi, devnet, dev; got "mainet"'],
        ["missing network", mutate((r) => delete r.network), "ethnode:network is required: one of mainnet, sepolia, hoodi, devnet, dev"],
        ["unknown provider", mutate((r) => (r.host.provider = "gcp")), 'ethnode:host.provider must be one of aws, existing; got "gcp"'],
        ["volume too small", mutate((r) => (r.host.dataVolumeGb = 10)), "ethnode:host.dataVolumeGb must be an integer from 20 to 65536; got 10"],
        ["fractional IOPS", mutate((r) => (r.host.dataVolumeIops = 3000.5)), "ethnode:host.dataVolumeIops must be an integer from 3000 to 80000; got 3000.5"],
        ["typo in a key", mutate((r) => (r.host.dataVolumGb = 100)), "ethnode:host.dataVolumGb is not a known key; known keys are provider, instanceType, rootVolumeGb, dataVolumeGb, dataVolumeIops, dataVolumeThroughput, sshAllowedCidrs, sshPublicKey, vpcId, subnetId, subnetIds, address, addresses, port, user, dataDir, dataDirMovedFrom, purgeOnDestroy"],
        ["bad CIDR", mutate((r) => (r.host.sshAllowedCidrs = ["10.0.0.0/33"])), 'ethnode:host.sshAllowedCidrs[0] must be an IPv4 CIDR such as 203.0.113.4/32; got "10.0.0.0/33"'],
        ["aws without SSH CIDRs", mutate((r) => (r.host.sshAllowedCidrs = [])), "ethnode:host.sshAllowedCidrs must list at least one CIDR when ethnode:host.provider is aws (Pulumi provisions over SSH)"],
        ["aws without public key", mutate((r) => delete r.host.sshPublicKey), "ethnode:host.sshPublicKey is required when ethnode:host.provider is aws: an OpenSSH public key"],
        ["existing without address", mutate((r) => (r.host = { provider: "existing" })), "ethnode:host.address is required when ethnode:host.provider is existing: a hostname or IPv4 address"],
        ["missing geth version", mutate((r) => delete r.geth.version), "ethnode:geth.version is required: a release version such as 1.17.8"],
        ["geth version with v", mutate((r) => (r.geth.version = "v1.17.8")), 'ethnode:geth.version must be a release version such as 1.17.8; got "v1.17.8"'],
        ["release without checksum", mutate((r) => delete r.geth.sha256), "ethnode:geth.sha256 is required when ethnode:geth.source is release: 64 lowercase hex digits"],
        ["uppercase checksum", mutate((r) => (r.lighthouse.sha256 = "B".repeat(64))), `ethnode:lighthouse.sha256 must be 64 lowercase hex digits; got "${"B".repeat(64)}"`],
        ["upload without binary", mutate((r) => (r.geth = { version: "1.17.8", source: "upload" })), "ethnode:geth.binaryPath is required when ethnode:geth.source is upload: an absolute path"],
        ["release without commit or url", mutate((r) => delete r.geth.commit), "ethnode:geth.commit is required when ethnode:geth.source is release and no geth.url is set: the 8-hex-digit commit in the release file name"],
        ["plain http mirror", mutate((r) => (r.geth.url = "http://mirror.example/geth.tgz")), 'ethnode:geth.url must be an https URL; got "http://mirror.example/geth.tgz"'],
        ["lighthouse on dev", mutate((r) => (r.network = "dev")), "ethnode:lighthouse must be unset when ethnode:network is dev (geth --dev has a built-in beacon)"],
        ["an unknown consensus client", mutate((r) => (r.consensusClient = "teku")), 'ethnode:consensusClient must be one of lighthouse, prysm; got "teku"'],
        ["a Prysm section beside Lighthouse", mutate((r) => (r.prysm = { version: "7.1.6", sha256: "c".repeat(64) })), "ethnode:prysm must be unset when ethnode:consensusClient is lighthouse: a node runs one consensus client"],
        ["Prysm chosen with Lighthouse's section left", mutate((r) => Object.assign(r, { consensusClient: "prysm", prysm: { version: "7.1.6", sha256: "c".repeat(64) } })), "ethnode:lighthouse must be unset when ethnode:consensusClient is prysm: a node runs one consensus client"],
        ["Prysm without a version", mutate((r) => Object.assign(r, { consensusClient: "prysm", lighthouse: undefined, prysm: { sha256: "c".repeat(64) } })), "ethnode:prysm.version is required when ethnode:network is sepolia: a release version such as 7.1.6"],
        ["Prysm without a checksum", mutate((r) => Object.assign(r, { consensusClient: "prysm", lighthouse: undefined, prysm: { version: "7.1.6" } })), "ethnode:prysm.sha256 is required when ethnode:prysm.source is release: 64 lowercase hex digits"],
        ["a consensus client on dev", mutate((r) => Object.assign(r, { network: "dev", lighthouse: undefined, consensusClient: "prysm" })), "ethnode:consensusClient must be unset when ethnode:network is dev (geth --dev has a built-in beacon)"],
        ["testnet without lighthouse version", mutate((r) => delete r.lighthouse.version), "ethnode:lighthouse.version is required when ethnode:network is sepolia: a release version such as 8.2.2"],
        ["sync mode", mutate((r) => (r.geth.syncMode = "light")), 'ethnode:geth.syncMode must be one of snap, full; got "light"'],
        ["gateway port", mutate((r) => (r.gateway = { port: 70000 })), "ethnode:gateway.port must be an integer from 1 to 65535; got 70000"],
        ["host not an object", mutate((r) => (r.host = "aws")), 'ethnode:host must be an object; got "aws"'],
        ["missing ssh key", mutate((r) => delete r.sshPrivateKey), "ethnode:sshPrivateKey is required: an OpenSSH private key (pulumi config set --secret ethnode:sshPrivateKey < key)"],
        ["monitoring host without address", mutate((r) => { r.host = { provider: "existing", address: "10.0.0.5" }; r.monitoringHost = { provider: "existing" }; }), "ethnode:monitoringHost.address is required when ethnode:monitoringHost.provider is existing: a hostname or IPv4 address"],
        ["monitoring host on another provider", mutate((r) => (r.monitoringHost = { provider: "existing", address: "10.0.0.9" })), "ethnode:monitoringHost.provider must match ethnode:host.provider (aws)"],
        ["missing Slack webhook", mutate((r) => delete r.slackWebhookUrl), "ethnode:slackWebhookUrl is required: an https URL (pulumi config set --secret ethnode:slackWebhookUrl <url>)"],
        ["Slack webhook not a URL", mutate((r) => (r.slackWebhookUrl = "hooks.slack.com/x")), "ethnode:slackWebhookUrl must be an http(s) URL"],
        ["email without relay", mutate((r) => (r.monitoring = { emailTo: "ops@example.org" })), "ethnode:monitoring.emailFrom is required when ethnode:monitoring.emailTo is set"],
        ["bad Slack channel", mutate((r) => (r.monitoring = { slackChannel: "alerts" })), 'ethnode:monitoring.slackChannel must be a Slack channel such as #eth-alerts; got "alerts"'],
        ["weight out of range", mutate((r) => (r.gateway = { methodWeights: { eth_getLogs: 0 } })), "ethnode:gateway.methodWeights.eth_getLogs must be an integer from 1 to 1000; got 0"],
        ["WebSocket buffers smaller than one message", mutate((r) => (r.gateway = { maxBodyBytes: 8388608 })), "ethnode:gateway.wsBufferedBytesPerIp must be at least gateway.maxBodyBytes (8388608): one whole message must fit; got 4194304"],
        ["a worker's WebSocket buffers smaller than an address's", mutate((r) => (r.gateway = { wsBufferedBytesPerIp: 134217728 })), "ethnode:gateway.wsBufferedBytesPerWorker must be at least gateway.wsBufferedBytesPerIp (134217728); got 67108864"],
        ["geth peers on the dev chain", mutate((r) => Object.assign(r, { network: "dev", lighthouse: undefined, geth: { ...r.geth, maxPeers: 10 } })), "ethnode:geth.maxPeers has no effect on network dev (geth --dev neither syncs nor has peers): remove it"],
        ["geth sync mode on the dev chain", mutate((r) => Object.assign(r, { network: "dev", lighthouse: undefined, geth: { ...r.geth, syncMode: "snap" } })), "ethnode:geth.syncMode has no effect on network dev (geth --dev neither syncs nor has peers): remove it"],
        ["an execution peer threshold on the dev chain", mutate((r) => Object.assign(r, { network: "dev", lighthouse: undefined, monitoring: { minExecutionPeers: 3 } })), "ethnode:monitoring.minExecutionPeers has no effect on network dev (geth --dev has no peers: no peer-count alert is rendered there): remove it"],
        ["a consensus peer threshold on the dev chain", mutate((r) => Object.assign(r, { network: "dev", lighthouse: undefined, monitoring: { minConsensusPeers: 8 } })), "ethnode:monitoring.minConsensusPeers has no effect on network dev (geth --dev has no peers: no peer-count alert is rendered there): remove it"],
        ["a subnet without its VPC", mutate((r) => (r.host.subnetId = "subnet-0123456789abcdef0")), "ethnode:host.vpcId and ethnode:host.subnetId (or subnetIds) go together: set both (subnets of that VPC), or neither for the default VPC"],
        ["a malformed subnet id", mutate((r) => (r.host.subnetId = "sub-1")), 'ethnode:host.subnetId must be a subnet id such as subnet-0123456789abcdef0; got "sub-1"'],
        ["TLS without a certificate", mutate((r) => (r.gateway = { tls: true })), "ethnode:tlsCertificate is required when ethnode:gateway.tls is true: a PEM certificate chain (pulumi config set --secret ethnode:tlsCertificate < file)"],
        ["TLS with a key that is not PEM", mutate((r) => Object.assign(r, { gateway: { tls: true }, tlsCertificate: TEST_CERT, tlsKey: "secret" })), "ethnode:tlsKey is required when ethnode:gateway.tls is true: a PEM private key (pulumi config set --secret ethnode:tlsKey < file)"],
        ["a placeholder left in", mutate((r) => (r.host.sshPublicKey = "<your key>")), 'ethnode:host.sshPublicKey is still the placeholder "<your key>": set your own value (README, Deploy)'],
        ["nodes out of range", mutate((r) => (r.nodes = 17)), "ethnode:nodes must be an integer from 1 to 16; got 17"],
        ["several aws nodes without subnets", mutate((r) => (r.nodes = 3)), "ethnode:host.subnetIds is required when ethnode:nodes is 3: subnets of vpcId in different availability zones, for the nodes and the load balancer"],
        ["subnets without their VPC", mutate((r) => Object.assign(r, { nodes: 2, host: { ...r.host, subnetIds: ["subnet-0123456789abcdef0"] } })), "ethnode:host.vpcId is required with ethnode:host.subnetIds: the VPC those subnets belong to"],
        ["subnetId beside subnetIds", mutate((r) => (r.host = { ...r.host, vpcId: "vpc-0123456789abcdef0", subnetId: "subnet-0123456789abcdef0", subnetIds: ["subnet-0123456789abcdef1"] })), "ethnode:host.subnetId and ethnode:host.subnetIds exclude each other: list every subnet in subnetIds"],
        ["existing servers fewer than nodes", mutate((r) => Object.assign(r, { nodes: 3, host: { provider: "existing", addresses: ["10.0.0.1", "10.0.0.2"] } })), "ethnode:host.addresses must list 3 servers (one per node, ethnode:nodes is 3); got 2"],
        ["an existing server twice", mutate((r) => Object.assign(r, { nodes: 2, host: { provider: "existing", addresses: ["10.0.0.1", "10.0.0.1"] } })), "ethnode:host.addresses must not repeat a server"],
        ["K above the node count", mutate((r) => Object.assign(r, { nodes: 1, monitoring: { minHealthyNodes: 2 } })), "ethnode:monitoring.minHealthyNodes must be at most ethnode:nodes (1); got 2"],
        ["an LB certificate on one node", mutate((r) => (r.gateway = { loadBalancerCertificateArn: "arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d-0a1b-4c2d-8e3f-0a1b2c3d4e5f" })), "ethnode:gateway.loadBalancerCertificateArn needs the load balancer: provider aws and ethnode:nodes of 2 or more"],
        ["the peer port on the public port", mutate((r) => Object.assign(r, { nodes: 2, host: { provider: "existing", addresses: ["10.0.0.1", "10.0.0.2"] }, gateway: { peerPort: 8080 } })), "ethnode:gateway.peerPort must differ from gateway.port and gateway.metricsPort; got 8080"],
        ["mainnet without a dead man's switch", mutate((r) => (r.network = "mainnet")), "ethnode:deadMansSwitchUrl is required on mainnet: a dead man's switch URL (healthchecks.io, Dead Man's Snitch, …) that pages when the Watchdog stops arriving, since a dead host cannot alert about itself (pulumi config set --secret ethnode:deadMansSwitchUrl <url>); or opt out with ethnode:monitoring.requireDeadMansSwitch false"],
        ["short API key", mutate((r) => (r.apiKeys = JSON.stringify({ short: { name: "a", rate: 1, burst: 1 } }))), "ethnode:apiKeys entry 0: a key must be 16 to 128 characters of A-Z a-z 0-9 _ -"],
    ];

    it.each(bad)("rejects %s with a message naming the key", (_what, raw, message) => {
        expect(() => parseConfig(source(raw))).toThrow(new ConfigError(message));
    });

    it("takes the TLS certificate and key as secrets only", () => {
        const raw = mutate((r) => Object.assign(r, { gateway: { tls: true }, tlsCertificate: TEST_CERT, tlsKey: TEST_SSH_KEY }));
        expect(parseConfig(source(raw, ["sshPrivateKey", "slackWebhookUrl", "tlsCertificate", "tlsKey"])).tls).toBeDefined();
        expect(() => parseConfig(source(raw, ["sshPrivateKey", "slackWebhookUrl", "tlsCertificate"]))).toThrow(
            new ConfigError("ethnode:tlsKey must be stored as a secret: pulumi config set --secret ethnode:tlsKey < file"),
        );
    });

    it("refuses a private key stored in plain text", () => {
        expect(() => parseConfig(source(base(), ["slackWebhookUrl"]))).toThrow(
            new ConfigError("ethnode:sshPrivateKey must be stored as a secret: pulumi config set --secret ethnode:sshPrivateKey < key"),
        );
    });

    it.each(["dev", "prod", "sandbox"])("parses Pulumi.%s.yaml", (stack) => {
        if (!fs.existsSync(path.join(ROOT, `Pulumi.${stack}.yaml`))) return;
        const raw = stackConfig(stack);
        const get = (k: string) => {
            const v = raw[`ethnode:${k}`];
            if (v === undefined) return undefined;
            return k === "network" ? v : JSON.parse(v);
        };
        const cfg = parseConfig({
            get: (k) => (k === "sshPrivateKey" ? TEST_SSH_KEY : k === "slackWebhookUrl" ? TEST_SLACK_WEBHOOK : k === "deadMansSwitchUrl" ? TEST_DMS_URL : get(k)),
            isSecret: () => true,
        });
        expect(cfg.network).toBe({ dev: "sepolia", prod: "mainnet", sandbox: "dev" }[stack]);
    });
});

describe("the shipped stack files", () => {
    it.each(["dev", "prod"])("Pulumi.%s.yaml ships placeholders, not a fake key: preview says what to set", (stack) => {
        const raw = shippedStackConfig(stack);
        const get = (k: string) => (raw[`ethnode:${k}`] === undefined ? undefined : k === "network" ? raw[`ethnode:${k}`] : JSON.parse(raw[`ethnode:${k}`]));
        expect(() => parseConfig({ get: (k) => (k === "sshPrivateKey" ? TEST_SSH_KEY : k === "slackWebhookUrl" ? TEST_SLACK_WEBHOOK : get(k)), isSecret: () => true })).toThrow(
            new ConfigError(`ethnode:host.sshAllowedCidrs[0] is still the placeholder "<your deployer's public IPv4>/32": set your own value (README, Deploy)`),
        );
        expect(JSON.stringify(raw)).not.toMatch(/AAAA[A-Za-z0-9+/]{20,}/);
    });
});

describe("monitoring that cannot fail silently", () => {
    it("lets a mainnet stack opt out of the dead man's switch only explicitly, and warns at preview", () => {
        const { monitoringWarnings } = require("../components/config");
        const optedOut = parseConfig(source(mutate((r) => Object.assign(r, { network: "mainnet", monitoring: { requireDeadMansSwitch: false } }))));
        expect(monitoringWarnings(optedOut)).toEqual([
            "ethnode:deadMansSwitchUrl is not set (monitoring.requireDeadMansSwitch is off): if this host dies, Prometheus and Alertmanager die with it and nobody is alerted",
        ]);
        const withSwitch = parseConfig(source(mutate((r) => Object.assign(r, { network: "mainnet", deadMansSwitchUrl: TEST_DMS_URL }))));
        expect(monitoringWarnings(withSwitch)).toEqual([]);
        expect(monitoringWarnings(parseConfig(source(base())))).toEqual([]);
    });
});

describe("hardware guidance", () => {
    const { hardwareWarnings, instanceMemoryGb } = require("../components/node");
    it("knows the memory of common instance types", () => {
        expect(instanceMemoryGb("m6i.xlarge")).toBe(16);
        expect(instanceMemoryGb("m6i.2xlarge")).toBe(32);
        expect(instanceMemoryGb("r6i.xlarge")).toBe(32);
        expect(instanceMemoryGb("z1d.weird")).toBeUndefined();
    });
    it("warns when a mainnet node is below 32 GB or 2 TB, and only then", () => {
        const mainnet = parseConfig(source(mutate((r) => Object.assign(r, { network: "mainnet", deadMansSwitchUrl: TEST_DMS_URL }))));
        expect(hardwareWarnings(mainnet)).toEqual([
            "ethnode:host.instanceType m6i.xlarge has 16 GB of memory; mainnet Geth + Lighthouse use ~22 GB and EIP-7870 recommends 32 GB (e.g. m6i.2xlarge or r6i.xlarge)",
        ]);
        const small = parseConfig(source(mutate((r) => Object.assign(r, { network: "mainnet", deadMansSwitchUrl: TEST_DMS_URL }) && (r.host.dataVolumeGb = 1000))));
        expect(hardwareWarnings(small)).toHaveLength(2);
        expect(hardwareWarnings(parseConfig(source(base())))).toEqual([]);
    });
});
