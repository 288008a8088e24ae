/**
 * The resource graph under Pulumi's mocks: what the program creates for each stack, that secrets stay
 * secret, and that a config edit changes only the resources it must.
 */
import * as fs from "fs";
import * as path from "path";
import { enodeUrl, libp2pPeerId } from "../components/devnet";
import { MOCK, ROOT, mockP2pKey, TEST_DMS_URL, TEST_SLACK_WEBHOOK, TEST_SSH_KEY, Recorded, resolve, secretEncodings, setDeployedOutputs, setMockReceipts, stackConfig, withMocks, withSecrets } from "./helpers/pulumi";
import { HOST_STEPS_OUTPUT } from "../components/receipts";
import { CHAIN_DATA_OUTPUT, chainDataRefusal } from "../components/chaindata";
import { TEST_FEE_RECIPIENT, TEST_VALIDATOR_PASSWORD, testPubkey, validatorRaw } from "./helpers/validator";

const COMMAND = "command:remote:Command";

async function runIndex(stack: string, overrides: Record<string, string> = {}, extraSecrets: string[] = []) {
    // A mainnet stack needs its dead man's switch (a secret) to deploy at all.
    const dms: Record<string, string> = stack === "prod" ? { "ethnode:deadMansSwitchUrl": TEST_DMS_URL } : {};
    const { config, secretKeys } = withSecrets({ ...stackConfig(stack), ...dms, ...overrides });
    return withMocks(stack, config, [...secretKeys, ...extraSecrets, ...Object.keys(dms)], async (pulumi) => {
        const program: Record<string, unknown> = await require("../index")();
        // Resolve every output: proves the program's outputs are wired, and only a mocked run produces them.
        const values = await resolve<Record<string, any>>(pulumi, program);
        const secretExports: string[] = [];
        for (const [k, v] of Object.entries(program)) if (await pulumi.isSecret(pulumi.output(v))) secretExports.push(k);
        return { ...values, secretExports } as Record<string, any>;
    });
}

/** All of a command's inputs that state keeps in plain text (secret values are stored encrypted). */
function plainSurface(r: Recorded): string {
    return JSON.stringify(r.inputs, (_k, v) => (isSecretValue(v) ? "[secret]" : v));
}

/** The signature Pulumi's wire format puts on a secret value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function isSecretValue(v: any): boolean {
    return typeof v === "object" && v !== null && v[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270";
}

/** Reads a stdin bundle as `unpack_files` does: a header line with the byte count, the bytes, a newline. */
function decodeBundle(stdin: any): Record<string, string> {
    const buf = Buffer.from(isSecretValue(stdin) ? stdin.value : stdin, "utf8");
    const files: Record<string, string> = {};
    let at = 0;
    while (at < buf.length) {
        const eol = buf.indexOf("\n", at);
        const [tag, , , , size, path] = buf.subarray(at, eol).toString().split(" ");
        expect(tag).toBe("file");
        files[path] = buf.subarray(eol + 1, eol + 1 + Number(size)).toString("utf8");
        at = eol + 1 + Number(size);
        expect(buf[at]).toBe(0x0a);
        at += 1;
    }
    return files;
}

/** A client's unit, as its service step delivers it: a unit release of its own (/etc/ethnode/<client>/releases/<id>/). */
function unitOf(step: Recorded): string {
    const entries = Object.entries(decodeBundle(step.inputs.stdin));
    expect(entries).toHaveLength(1);
    expect(entries[0][0]).toMatch(/^\/etc\/ethnode\/(geth|lighthouse|prysm|prysm-validator)\/releases\/[0-9a-f]{16}\/(geth|lighthouse|prysm|prysm-validator)\.service$/);
    return entries[0][1];
}

describe("dev stack (sepolia on AWS)", () => {
    let run: Awaited<ReturnType<typeof runIndex>>;
    beforeAll(async () => {
        run = await runIndex("dev");
    });

    it("creates exactly the expected resources", () => {
        const names = run.resources.map((r) => `${r.type} ${r.name}`).sort();
        expect(names).toEqual(
            [
                "aws:ebs/volume:Volume node-0-host-data",
                "aws:ec2/eip:Eip node-0-host-eip",
                "aws:ec2/eipAssociation:EipAssociation node-0-host-eip-assoc",
                "aws:ec2/instance:Instance node-0-host-vm",
                "aws:ec2/keyPair:KeyPair node-0-host-key",
                "aws:ec2/securityGroup:SecurityGroup node-0-host-sg",
                "aws:ec2/volumeAttachment:VolumeAttachment node-0-host-data-attach",
                `${COMMAND} node-0-geth-install`,
                `${COMMAND} node-0-jwt-file`,
                `${COMMAND} node-0-geth-service`,
                `${COMMAND} node-0-host-prepare`,
                `${COMMAND} node-0-cli`,
                `${COMMAND} node-0-keeper`,
                `${COMMAND} node-0-lighthouse-install`,
                `${COMMAND} node-0-lighthouse-service`,
                "ethnode:geth:Geth node-0-geth",
                "ethnode:host:Host node-0-host",
                "ethnode:node:Node node-0",
                "ethnode:jwt:JwtSecret node-0-jwt",
                "ethnode:lighthouse:Lighthouse node-0-lighthouse",
                "random:index/randomPassword:RandomPassword node-0-jwt-key",
                "ethnode:gateway:Gateway gateway",
                `${COMMAND} gateway-install`,
                `${COMMAND} gateway-keys`,
                `${COMMAND} gateway-config`,
                "ethnode:monitoring:Monitoring monitoring",
                `${COMMAND} monitoring-node-0-node-exporter`,
                `${COMMAND} monitoring-install`,
                `${COMMAND} monitoring-prometheus-config`,
                `${COMMAND} monitoring-alertmanager-config`,
                `${COMMAND} monitoring-alertmanager-secrets`,
                `${COMMAND} monitoring-grafana-config`,
                `${COMMAND} monitoring-grafana-password`,
                "random:index/randomPassword:RandomPassword monitoring-grafana-admin",
                "pulumi:pulumi:StackReference chain-data-deployed",
            ].sort(),
        );
    });

    it("opens P2P, the gateway and SSH only — never RPC, engine, metrics or dashboards", () => {
        const sg = run.byName("node-0-host-sg").inputs;
        const rules = sg.ingress.map((r: any) => `${r.protocol}/${r.fromPort}-${r.toPort} ${r.cidrBlocks.join(",")}`).sort();
        expect(rules).toEqual(
            [
                "tcp/30303-30303 0.0.0.0/0",
                "udp/30303-30303 0.0.0.0/0",
                "tcp/9000-9000 0.0.0.0/0",
                "udp/9000-9000 0.0.0.0/0",
                "udp/9001-9001 0.0.0.0/0",
                "tcp/8080-8080 0.0.0.0/0",
                "tcp/22-22 203.0.113.10/32",
            ].sort(),
        );
        const private_ = [8545, 8546, 8551, 5052, 5054, 6060, 9090, 9093, 9100, 3000];
        for (const r of sg.ingress) {
            for (const p of private_) expect(p >= r.fromPort && p <= r.toPort).toBe(false);
        }
    });

    it("starts in the default VPC unless a VPC and subnet are configured", async () => {
        expect(run.byName("node-0-host-vm").inputs.subnetId).toBeUndefined();
        expect(run.byName("node-0-host-sg").inputs.vpcId).toBeUndefined();
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const placed = await runIndex("dev", { "ethnode:host": JSON.stringify({ ...host, vpcId: "vpc-0a1b2c3d4e5f60718", subnetId: "subnet-0a1b2c3d4e5f60718" }) });
        expect(placed.byName("node-0-host-vm").inputs.subnetId).toBe("subnet-0a1b2c3d4e5f60718");
        expect(placed.byName("node-0-host-sg").inputs.vpcId).toBe("vpc-0a1b2c3d4e5f60718");
    });

    it("sizes the VM and an encrypted gp3 data volume from config", () => {
        const vm = run.byName("node-0-host-vm").inputs;
        expect(vm.instanceType).toBe("m6i.xlarge");
        expect(vm.ami).toBe(MOCK.amiId);
        expect(vm.metadataOptions.httpTokens).toBe("required");
        expect(vm.rootBlockDevice).toEqual({ volumeSize: 40, volumeType: "gp3", encrypted: true });
        const vol = run.byName("node-0-host-data").inputs;
        expect(vol).toMatchObject({ size: 1024, type: "gp3", iops: 3000, throughput: 250, encrypted: true, availabilityZone: MOCK.az });
        expect(run.byName("node-0-host-data-attach").inputs.volumeId).toBe(MOCK.volumeId);
    });

    it("installs the keeper on the node with its limits, after the clients and the CLI it restarts them through", async () => {
        const files = decodeBundle(run.byName("node-0-keeper").inputs.stdin);
        expect(Object.keys(files).sort()).toEqual(["/etc/ethnode/keeper.conf", "/etc/systemd/system/ethnode-keeper.service", "/usr/local/bin/ethnode-keeper"]);
        expect(files["/etc/ethnode/keeper.conf"]).toContain("KEEPER_GRACE=600\nKEEPER_UNRESPONSIVE=60\nKEEPER_STALL=180\nKEEPER_MAX_RESTARTS=3\nKEEPER_BACKOFF=60\nKEEPER_DRY_RUN=false\n");
        expect(run.byName("node-0-keeper").inputs.delete).toContain("systemctl disable --now ethnode-keeper.service");
        const dry = await runIndex("dev", { "ethnode:keeper": JSON.stringify({ dryRun: true, maxRestartsPerHour: 5 }) });
        const conf = decodeBundle(dry.byName("node-0-keeper").inputs.stdin)["/etc/ethnode/keeper.conf"];
        expect(conf).toContain("KEEPER_MAX_RESTARTS=5\n");
        expect(conf).toContain("KEEPER_DRY_RUN=true\n");
    });

    it("runs Prometheus without its lifecycle API (no local process can stop it over HTTP; reloads are SIGHUP)", () => {
        const install = run.byName("monitoring-install").inputs.create as string;
        expect(install).toContain("--config.file=/etc/ethnode/prometheus/current/prometheus.yml");
        expect(install).not.toContain("enable-lifecycle");
    });

    it("formats and mounts the attached volume by its id", () => {
        const prepare = run.byName("node-0-host-prepare").inputs.create as string;
        expect(prepare).toContain(`volume_id='\\''${MOCK.volumeId}'\\''`);
    });

    it("exports the public IP, an SSH command and host-local endpoints", () => {
        const out = run.value;
        expect(out.network).toBe("sepolia");
        expect(out.publicIp).toBe(MOCK.publicIp);
        expect(out.sshCommand).toBe(`ssh -p 22 ubuntu@${MOCK.publicIp}`);
        expect(out.endpoints).toEqual([
            {
                node: "node-0",
                gateway: `http://${MOCK.publicIp}:8080`,
                rpc: "http://127.0.0.1:8545",
                ws: "ws://127.0.0.1:8546",
                authRpc: "http://127.0.0.1:8551",
                gethMetrics: "http://127.0.0.1:6060/debug/metrics/prometheus",
                beaconApi: "http://127.0.0.1:5052",
                beaconMetrics: "http://127.0.0.1:5054/metrics",
            },
        ]);
        expect(out.clientVersions).toEqual({ geth: "1.17.4", lighthouse: "8.2.2" });
        expect(out.rpcEndpoint).toBe(`http://${MOCK.publicIp}:8080`);
        expect(out.gatewayMetrics).toBe("http://127.0.0.1:9145/metrics");
    });

    it("delivers the JWT, 64 random hex digits, to the host on stdin only, 0640 root:ethnode-jwt", () => {
        // Not RandomBytes, whose id (never encrypted) is the base64 of the secret bytes.
        expect(run.ofType("random:index/randomBytes:RandomBytes")).toEqual([]);
        expect(run.byName("node-0-jwt-key").inputs).toMatchObject({ length: 64, lower: false, upper: false, numeric: true, special: true, overrideSpecial: "abcdef" });
        const jwt = run.byName("node-0-jwt-file").inputs;
        // The engine receives stdin as a secret, so state stores it encrypted.
        expect(isSecretValue(jwt.stdin)).toBe(true);
        const files = decodeBundle(jwt.stdin);
        expect(files["/etc/ethnode/jwt.hex"]).toBe(MOCK.jwtHex);
        expect(jwt.stdin.value).toBe(`file 0640 root ethnode-jwt 64 /etc/ethnode/jwt.hex\n${MOCK.jwtHex}\n`);
        // Units are not secret: they stay readable in previews.
        expect(isSecretValue(run.byName("node-0-geth-service").inputs.stdin)).toBe(false);
    });

    it("points both clients at the same JWT file", () => {
        const geth = unitOf(run.byName("node-0-geth-service"));
        const lh = unitOf(run.byName("node-0-lighthouse-service"));
        expect(geth).toContain("--authrpc.jwtsecret=/etc/ethnode/jwt.hex");
        expect(lh).toContain("--execution-jwt=/etc/ethnode/jwt.hex");
        expect(lh).toContain("--execution-endpoint=http://127.0.0.1:8551");
        expect(geth).not.toMatch(/--http\.api=[^\s]*(engine|admin|debug|personal|miner)/);
    });

    it("never puts a secret, in any encoding, on a command line, in any resource's plain inputs or in any output", () => {
        const secrets = [MOCK.jwtHex, TEST_SSH_KEY.split("\n")[1], TEST_SLACK_WEBHOOK, MOCK.grafanaPassword].flatMap(secretEncodings);
        for (const r of run.resources) {
            const surface = plainSurface(r);
            for (const s of secrets) expect(surface).not.toContain(s);
        }
        // The Grafana password is an output on purpose (operators need it), and a secret one.
        expect(run.value.secretExports).toEqual(["grafanaAdminPassword"]);
        const { grafanaAdminPassword: _, ...plain } = run.value;
        const outputs = JSON.stringify(plain);
        for (const s of secrets) expect(outputs).not.toContain(s);
    });

    it("scrapes the right ports and delivers the Slack webhook as a secret file", () => {
        const prom = decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin);
        const conf = Object.entries(prom).find(([p]) => p.endsWith("/prometheus.yml"))![1];
        expect(conf).toContain("metrics_path: /debug/metrics/prometheus");
        expect(conf).toContain("'127.0.0.1:6060'");
        expect(conf).toContain("'127.0.0.1:5054'");
        expect(conf).toContain("'127.0.0.1:9100'");
        expect(conf).toContain("'127.0.0.1:9145'");
        expect(conf).not.toMatch(/:8545|:5052/);
        const secrets = run.byName("monitoring-alertmanager-secrets").inputs;
        expect(isSecretValue(secrets.stdin)).toBe(true);
        expect(decodeBundle(secrets.stdin)).toEqual({ "/etc/ethnode/alertmanager/secrets/slack_webhook": TEST_SLACK_WEBHOOK });
        // The config itself holds no secret, so its preview shows what changed.
        expect(isSecretValue(run.byName("monitoring-alertmanager-config").inputs.stdin)).toBe(false);
        expect(run.value.grafanaUrl).toBe("http://127.0.0.1:3000");
    });

    it("downloads pinned releases and verifies their sha256", () => {
        const geth = (run.byName("node-0-geth-install").inputs.create as string).replace(/'\\''/g, "'");
        expect(geth).toContain(
            "ethnode install \"$client\" '1.17.4' --sha256 '9113657e52d41879b8feaca8a4163d325ccce5b038aea59775a0bb3b26d2100a' --url 'https://gethstore.blob.core.windows.net/builds/geth-linux-amd64-1.17.4-36a7dc72.tar.gz'",
        );
        const lh = run.byName("node-0-lighthouse-install").inputs.create as string;
        expect(lh).toContain("https://github.com/sigp/lighthouse/releases/download/v8.2.2/lighthouse-v8.2.2-x86_64-unknown-linux-gnu.tar.gz");
    });

    it("keeps the JWT, its stdin and the SSH connection secret as Outputs", async () => {
        const { config, secretKeys } = withSecrets(stackConfig("dev"));
        const r = await withMocks("dev", config, secretKeys, async (pulumi) => {
            const { Node, nodeArgs } = require("../components/node");
            const { loadConfig } = require("../components/config");
            const node = new Node("n", nodeArgs(loadConfig(), 0));
            return {
                jwtSecret: await pulumi.isSecret(node.jwt.hex),
                stdinSecret: await pulumi.isSecret(node.jwt.file.stdin),
                connectionSecret: await pulumi.isSecret(node.host.connection),
            };
        });
        expect(r.value).toEqual({ jwtSecret: true, stdinSecret: true, connectionSecret: true });
    });
});

describe("step lifecycle (docs/architecture.md): an edit updates in place, a delete runs only on removal", () => {
    it.each(["dev", "prod"])("%s: no step can be replaced by an input change, and every step runs on the host's prelude", async (stack) => {
        const run = await runIndex(stack);
        const steps = run.resources.filter((r) => r.type.startsWith("command:remote:"));
        expect(steps.length).toBeGreaterThan(10);
        for (const s of steps) {
            // `triggers` is the provider's only replace-on-change input: a changed one replaces the step
            // create-first, and the old step's delete would then undo the new one's work.
            expect({ step: s.name, triggers: s.inputs.triggers }).toEqual({ step: s.name, triggers: undefined });
        }
        for (const s of run.ofType(COMMAND)) {
            const create = s.inputs.create as string;
            if (s.name.endsWith("-host-prepare")) {
                // The first step brings the prelude itself, on stdin, so its preview shows the changed lines.
                expect(create).toContain("cat >/usr/local/lib/ethnode/prelude.sh.new");
                expect(s.inputs.stdin).toContain("unpack_files() {");
            } else {
                expect(create).toMatch(/^sudo -n bash -c 'source \/usr\/local\/lib\/ethnode\/prelude\.sh \|\|/);
                expect(create).not.toContain("unpack_files() {");
            }
            if (s.inputs.delete !== undefined) {
                expect(s.inputs.delete).toMatch(/^sudo -n bash -c 'cat >\/dev\/null\nif \[\[ ! -r \/usr\/local\/lib\/ethnode\/prelude\.sh \]\]; then .* exit 0; fi\nsource /);
            }
        }
    });
});

describe("TLS on the gateway", () => {
    it("installs the certificate and key in a secret step of their own, serves ssl, and says https", async () => {
        const gw = JSON.parse(stackConfig("dev")["ethnode:gateway"]);
        const cert = "-----BEGIN CERTIFICATE-----\nMIIBtestcert\n-----END CERTIFICATE-----";
        const key = "-----BEGIN PRIVATE KEY-----\nMIIBtestkeymaterial\n-----END PRIVATE KEY-----";
        const run = await runIndex("dev", { "ethnode:gateway": JSON.stringify({ ...gw, tls: true }), "ethnode:tlsCertificate": cert, "ethnode:tlsKey": key }, [
            "ethnode:tlsCertificate",
            "ethnode:tlsKey",
        ]);
        const step = run.byName("gateway-tls").inputs;
        expect(isSecretValue(step.stdin)).toBe(true);
        expect(decodeBundle(step.stdin)).toEqual({ "/etc/ethnode/gateway/tls/certificate.pem": cert + "\n", "/etc/ethnode/gateway/tls/key.pem": key + "\n" });
        expect(step.stdin.value).toContain("file 0640 root ethnode-gw");
        for (const r of run.ofType(COMMAND)) expect(plainSurface(r)).not.toContain("MIIBtestkeymaterial");
        const nginx = Object.entries(decodeBundle(run.byName("gateway-config").inputs.stdin)).find(([p]) => p.endsWith("/nginx.conf"))![1];
        expect(nginx).toContain("listen 0.0.0.0:8080 ssl reuseport;");
        expect(nginx).toContain("ssl_certificate_key /etc/ethnode/gateway/tls/key.pem;");
        expect(nginx).toContain("ssl_protocols TLSv1.2 TLSv1.3;");
        expect(run.value.rpcEndpoint).toBe(`https://${MOCK.publicIp}:8080`);
    });
});

describe("prod stack (mainnet)", () => {
    it("uses the mainnet flags, checkpoint and a larger volume", async () => {
        const run = await runIndex("prod");
        const vol = run.byName("node-0-host-data").inputs;
        expect(vol).toMatchObject({ size: 4096, iops: 16000, throughput: 1000, encrypted: true });
        expect(run.byName("node-0-host-vm").inputs.instanceType).toBe("m6i.2xlarge");
        const lh = unitOf(run.byName("node-0-lighthouse-service"));
        expect(lh).toContain("--network=mainnet");
        expect(lh).toContain("--checkpoint-sync-url=https://mainnet.checkpoint.sigp.io");
        const geth = unitOf(run.byName("node-0-geth-service"));
        expect(geth).toContain("--mainnet");
        expect(geth).toContain("--cache=8192");
    });
});

describe("Prysm as the consensus client (ethnode:consensusClient)", () => {
    const PRYSM_SHA = "d".repeat(64);
    let run: Awaited<ReturnType<typeof runIndex>>;
    beforeAll(async () => {
        run = await runIndex("dev", {
            "ethnode:consensusClient": "prysm",
            "ethnode:lighthouse": undefined as unknown as string,
            "ethnode:prysm": JSON.stringify({ version: "7.1.6", sha256: PRYSM_SHA }),
        });
    });

    it("replaces Lighthouse's component and steps with Prysm's, and nothing else", () => {
        const names = run.resources.map((r) => `${r.type} ${r.name}`);
        expect(names.filter((n) => /lighthouse/i.test(n))).toEqual([]);
        expect(names.filter((n) => /prysm/i.test(n)).sort()).toEqual(
            [`${COMMAND} node-0-prysm-install`, `${COMMAND} node-0-prysm-service`, "ethnode:prysm:Prysm node-0-prysm"].sort(),
        );
    });

    it("installs the official beacon-chain binary by its sha256 and renders a unit on the consensus role's loopback ports", () => {
        const install = run.byName("node-0-prysm-install").inputs.create as string;
        expect(install).toContain("https://github.com/OffchainLabs/prysm/releases/download/v7.1.6/beacon-chain-v7.1.6-linux-amd64");
        expect(install).toContain(PRYSM_SHA);
        const unit = unitOf(run.byName("node-0-prysm-service"));
        for (const flag of [
            "--accept-terms-of-use",
            "--sepolia",
            "--execution-endpoint=http://127.0.0.1:8551",
            "--jwt-secret=/etc/ethnode/jwt.hex",
            "--checkpoint-sync-url=https://checkpoint-sync.sepolia.ethpandaops.io",
            "--http-host=127.0.0.1",
            "--http-port=5052",
            "--rpc-host=127.0.0.1",
            "--monitoring-host=127.0.0.1",
            "--monitoring-port=5054",
        ]) {
            expect(unit).toContain(flag);
        }
        expect(unit).toMatch(/^User=prysm$/m);
    });

    it("opens Prysm's P2P ports (the consensus role's), scrapes it as job prysm with its own series, and says its version", () => {
        const sg = run.byName("node-0-host-sg").inputs;
        const rules = sg.ingress.map((r: any) => `${r.protocol}/${r.fromPort}`).sort();
        expect(rules).toEqual(expect.arrayContaining(["tcp/9000", "udp/9000", "udp/9001"]));
        const prom = JSON.stringify(run.byName("monitoring-prometheus-config").inputs);
        expect(prom).toContain("job_name: prysm");
        expect(prom).not.toContain("job_name: lighthouse");
        expect(prom).toContain("beacon_clock_time_slot{job=\\\"prysm\\\"}");
        expect(prom).not.toContain("slotclock_present_slot");
        expect(run.value.clientVersions).toEqual({ geth: "1.17.4", prysm: "7.1.6" });
        const cli = JSON.stringify(run.byName("node-0-cli").inputs);
        expect(cli).toContain("CONSENSUS=prysm");
        expect(cli).toContain('CLIENTS=\\\"geth prysm\\\"');
    });
});

describe("validators on a three-node Prysm cluster (ethnode:validator)", () => {
    const SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"];
    let run: Awaited<ReturnType<typeof runIndex>>;
    const raw = validatorRaw({ 0: [0, 1], 2: [2] });
    beforeAll(async () => {
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const v = raw.validator as Record<string, unknown>;
        run = await runIndex(
            "dev",
            {
                "ethnode:nodes": "3",
                "ethnode:host": JSON.stringify({ ...host, vpcId: "vpc-0a1b2c3d4e5f60718", subnetIds: SUBNETS }),
                "ethnode:consensusClient": "prysm",
                "ethnode:lighthouse": undefined as unknown as string,
                "ethnode:prysm": JSON.stringify({ ...(raw.prysm as object), slasher: true }),
                "ethnode:validator": JSON.stringify({ ...v, monitorIndices: [7, 8, 9] }),
                "ethnode:validatorKeystores": raw.validatorKeystores as string,
                "ethnode:validatorPassword": TEST_VALIDATOR_PASSWORD,
            },
            ["ethnode:validatorKeystores", "ethnode:validatorPassword"],
        );
    });

    it("fences every node, and runs a signer only where validator.signers puts keys", () => {
        const names = run.resources.map((r) => r.name);
        expect(names.filter((n) => /validator-fence$/.test(n)).sort()).toEqual(["node-0-validator-fence", "node-1-validator-fence", "node-2-validator-fence"]);
        expect(run.resources.filter((r) => r.type === "ethnode:validator:PrysmValidator").map((r) => r.name).sort()).toEqual(["node-0-validator", "node-2-validator"]);
        for (const i of [0, 2]) {
            for (const step of ["install", "keys", "service"]) expect(run.byName(`node-${i}-validator-${step}`)).toBeDefined();
        }
        expect(names.filter((n) => n.startsWith("node-1-validator-") && !n.endsWith("fence"))).toEqual([]);
        // What each fence keeps: the keys assigned to its node, public keys only.
        expect(run.byName("node-0-validator-fence").inputs.create).toContain(`0x${testPubkey(0)} 0x${testPubkey(1)}`);
        for (const k of [0, 1, 2]) expect(run.byName("node-1-validator-fence").inputs.create).not.toContain(testPubkey(k));
        // Two epochs and a slot of the chain (65 slots), within four times that in wall-clock time (12 s slots).
        expect(run.byName("node-2-validator-fence").inputs.create).toContain("until_slot=$((silent_from + 65))");
        expect(run.byName("node-2-validator-fence").inputs.create).toContain("deadline=$((SECONDS + 3120))");
    });

    it("delivers each signer only its own keystores and the password, 0600 files of the validator's user, on a secret stdin", () => {
        const keys0 = run.byName("node-0-validator-keys").inputs;
        const keys2 = run.byName("node-2-validator-keys").inputs;
        expect(isSecretValue(keys0.stdin)).toBe(true);
        const files0 = decodeBundle(keys0.stdin);
        expect(Object.keys(files0).sort()).toEqual(
            ["/etc/ethnode/validator/password", `/var/lib/ethnode/prysm-validator/keystores/keystore-${testPubkey(0).slice(0, 16)}.json`, `/var/lib/ethnode/prysm-validator/keystores/keystore-${testPubkey(1).slice(0, 16)}.json`].sort(),
        );
        expect(files0["/etc/ethnode/validator/password"]).toBe(TEST_VALIDATOR_PASSWORD);
        expect(JSON.parse(files0[`/var/lib/ethnode/prysm-validator/keystores/keystore-${testPubkey(1).slice(0, 16)}.json`]).pubkey).toBe(testPubkey(1));
        const bundle = Buffer.from(keys0.stdin.value, "utf8").toString();
        for (const header of bundle.split("\n").filter((l) => l.startsWith("file "))) expect(header).toMatch(/^file 0600 prysm-validator prysm-validator /);
        expect(Object.keys(decodeBundle(keys2.stdin)).filter((f) => f.includes("keystore-"))).toEqual([`/var/lib/ethnode/prysm-validator/keystores/keystore-${testPubkey(2).slice(0, 16)}.json`]);
    });

    it("never puts a keystore or the password, in any encoding, in a plain input or an output", () => {
        const keystores = JSON.parse(raw.validatorKeystores as string) as Record<string, any>[];
        const secrets = [TEST_VALIDATOR_PASSWORD, ...keystores.map((k) => k.crypto.cipher.message), ...keystores.map((k) => JSON.stringify(k))].flatMap(secretEncodings);
        for (const r of run.resources) {
            const surface = plainSurface(r);
            for (const s of secrets) expect(surface).not.toContain(s);
        }
        const { grafanaAdminPassword: _, ...plain } = run.value;
        const outputs = JSON.stringify(plain);
        for (const s of secrets) expect(outputs).not.toContain(s);
    });

    it("runs the validator with doppelganger protection, the fee recipient and its password as a file, never on the command line", () => {
        const unit = unitOf(run.byName("node-0-validator-service"));
        for (const flag of [
            "--enable-doppelganger",
            `--suggested-fee-recipient=${TEST_FEE_RECIPIENT}`,
            "--wallet-password-file=/etc/ethnode/validator/password",
            "--wallet-dir=/var/lib/ethnode/prysm-validator/wallet",
            "--beacon-rpc-provider=127.0.0.1:4000",
            "--monitoring-host=127.0.0.1",
            "--monitoring-port=8081",
            "--sepolia",
        ]) {
            expect(unit).toContain(flag);
        }
        expect(unit).not.toContain(TEST_VALIDATOR_PASSWORD);
        expect(unit).toMatch(/^User=prysm-validator$/m);
        expect(run.byName("node-0-validator-install").inputs.create).toContain("https://github.com/OffchainLabs/prysm/releases/download/v7.1.6/validator-v7.1.6-linux-amd64");
        // Every beacon node watches the stack's validators and runs the slasher.
        for (const i of [0, 1, 2]) {
            const beacon = unitOf(run.byName(`node-${i}-prysm-service`));
            expect(beacon).toContain("--monitor-indices=7,8,9");
            expect(beacon).toContain("--slasher");
        }
    });

    it("tells only a signer's CLI of its validator, and never the keeper's clients", () => {
        const conf = (i: number) => decodeBundle(run.byName(`node-${i}-cli`).inputs.stdin)["/etc/ethnode/ethnode.conf"];
        expect(conf(0)).toMatch(/^VALIDATOR=prysm-validator$/m);
        expect(conf(1)).toMatch(/^VALIDATOR=$/m);
        expect(conf(2)).toMatch(/^VALIDATOR=prysm-validator$/m);
        for (const i of [0, 1, 2]) expect(conf(i)).toMatch(/^CLIENTS="geth prysm"$/m);
    });

    it("scrapes the signers as job prysm-validator, expects two such targets, and alerts on missed duties, balance and slashing", () => {
        const prom = decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin);
        const config = Object.entries(prom).find(([f]) => f.endsWith("/prometheus.yml"))![1];
        const alerts = Object.entries(prom).find(([f]) => f.endsWith("/alerts.yml"))![1];
        expect(config).toContain("job_name: prysm-validator");
        const job = config.split("job_name: prysm-validator")[1].split("job_name:")[0];
        expect(job).toContain("node: 'node-0'");
        expect(job).toContain("node: 'node-2'");
        expect(job).not.toContain("node: 'node-1'");
        for (const a of ["ValidatorClientDown", "ValidatorMissedAttestations", "ValidatorAttestationsFailing", "ValidatorMissedProposals", "ValidatorBalanceFalling", "SlashingDetected"]) {
            expect(alerts).toContain(`alert: ${a}`);
        }
        expect(alerts).toMatch(/count\(up\{job="prysm-validator"\}\) or vector\(0\)\) < 2/);
    });
});

describe("a devnet on three existing servers (network devnet)", () => {
    const ADDRS = ["10.77.0.11", "10.77.0.12", "10.77.0.13"];
    const GENESIS = path.join(ROOT, "tests", "fixtures", "devnet");
    const raw = validatorRaw({ 0: [0, 1] });
    let run: Awaited<ReturnType<typeof runIndex>>;
    beforeAll(async () => {
        run = await runIndex(
            "dev",
            {
                "ethnode:network": "devnet",
                "ethnode:nodes": "3",
                "ethnode:host": JSON.stringify({ provider: "existing", addresses: ADDRS, user: "root" }),
                "ethnode:geth": JSON.stringify({ version: "1.17.8", commit: "a5790770", sha256: "a".repeat(64) }),
                "ethnode:consensusClient": "prysm",
                "ethnode:lighthouse": undefined as unknown as string,
                "ethnode:prysm": JSON.stringify(raw.prysm),
                "ethnode:devnet": JSON.stringify({ genesisDir: GENESIS, genesisNodes: 2 }),
                "ethnode:validator": JSON.stringify(raw.validator),
                "ethnode:validatorKeystores": raw.validatorKeystores as string,
                "ethnode:validatorPassword": TEST_VALIDATOR_PASSWORD,
            },
            ["ethnode:validatorKeystores", "ethnode:validatorPassword"],
        );
    });
    const key = (i: number, role: string) => mockP2pKey(`node-${i}-p2p-${role}`);

    it("gives every node the genesis, Geth's SSZ-free files as they are and the state through base64", () => {
        for (const i of [0, 1, 2]) {
            const files = decodeBundle(run.byName(`node-${i}-devnet-genesis`).inputs.stdin);
            expect(files["/etc/ethnode/devnet/genesis.json"]).toBe(fs.readFileSync(path.join(GENESIS, "genesis.json"), "utf8"));
            expect(files["/etc/ethnode/devnet/config.yaml"]).toBe(fs.readFileSync(path.join(GENESIS, "config.yaml"), "utf8"));
            expect(Buffer.from(files["/etc/ethnode/devnet/genesis.ssz.b64"], "base64")).toEqual(fs.readFileSync(path.join(GENESIS, "genesis.ssz")));
        }
    });

    it("runs Geth on the devnet's chain id, initialized from its genesis, dialling the other nodes only", () => {
        for (const i of [0, 1, 2]) {
            const bundle = decodeBundle(run.byName(`node-${i}-geth-service`).inputs.stdin);
            const unit = Object.entries(bundle).find(([f]) => f.endsWith("/geth.service"))![1];
            const toml = Object.entries(bundle).find(([f]) => f.endsWith("/geth.toml"))![1];
            expect(unit).toContain("ExecStartPre=/opt/ethnode/geth/current/geth init --datadir=/var/lib/ethnode/geth /etc/ethnode/devnet/genesis.json");
            for (const f of ["--networkid=32382", "--nodiscover", "--nodekey=/var/lib/ethnode/geth/p2p.key", "--config=/etc/ethnode/geth/current/geth.toml"]) expect(unit).toContain(f);
            expect(unit).not.toMatch(/--(mainnet|sepolia|hoodi|dev)\b/);
            const others = [0, 1, 2].filter((j) => j !== i).map((j) => enodeUrl(key(j, "execution"), ADDRS[j], 30303));
            expect(toml).toContain(`StaticNodes = [${others.map((e) => JSON.stringify(e)).join(", ")}]`);
            expect(toml).toContain("TrustedNodes");
        }
    });

    it("runs Prysm from the genesis state with its peers only; a node beyond genesisNodes checkpoint-syncs from node 0's peer listener", () => {
        for (const i of [0, 1, 2]) {
            const unit = unitOf(run.byName(`node-${i}-prysm-service`));
            for (const f of ["--chain-config-file=/etc/ethnode/devnet/config.yaml", "--genesis-state=/etc/ethnode/devnet/genesis.ssz", "--no-discovery", "--p2p-priv-key=/var/lib/ethnode/prysm/p2p.key", `--p2p-host-ip=${ADDRS[i]}`, "--min-sync-peers=1"]) {
                expect(unit).toContain(f);
            }
            expect(unit).not.toMatch(/--(mainnet|sepolia|hoodi)\b|genesis-beacon-api-url/);
            for (const j of [0, 1, 2].filter((j) => j !== i)) expect(unit).toContain(`--peer=/ip4/${ADDRS[j]}/tcp/9000/p2p/${libp2pPeerId(key(j, "consensus"))}`);
            if (i < 2) expect(unit).not.toContain("--checkpoint-sync-url");
            else expect(unit).toContain("--checkpoint-sync-url=http://10.77.0.11:8547");
        }
        // Node 0's peer listener serves its beacon API, read only, to the other nodes.
        const nginx = Object.entries(decodeBundle(run.byName("gateway-config").inputs.stdin)).find(([p]) => p.endsWith("/nginx.conf"))![1];
        expect(nginx).toMatch(/location \/eth\/ \{\n\s+limit_except GET \{\n\s+deny all;\n\s+\}[\s\S]*proxy_pass http:\/\/127\.0\.0\.1:5052;/);
    });

    it("installs each client's P2P key on a secret stdin, 0600 for that client alone, and keeps keys out of every plain input", () => {
        for (const i of [0, 1, 2]) {
            for (const [client, role] of [["geth", "execution"], ["prysm", "consensus"]]) {
                const step = run.byName(`node-${i}-${client}-p2p-key`).inputs;
                expect(isSecretValue(step.stdin)).toBe(true);
                expect(decodeBundle(step.stdin)).toEqual({ [`/var/lib/ethnode/${client}/p2p.key`]: key(i, role) });
                expect(Buffer.from(step.stdin.value).toString()).toMatch(new RegExp(`^file 0600 ${client} ${client} `));
            }
        }
        const secrets = [0, 1, 2].flatMap((i) => [key(i, "execution"), key(i, "consensus")]).flatMap(secretEncodings);
        for (const r of run.resources) {
            const surface = plainSurface(r);
            for (const s of secrets) expect(surface).not.toContain(s);
        }
    });

    it("signs with the devnet's chain config and waits out two of its epochs before a moved key signs again", () => {
        const unit = unitOf(run.byName("node-0-validator-service"));
        expect(unit).toContain("--chain-config-file=/etc/ethnode/devnet/config.yaml");
        expect(unit).not.toMatch(/--(mainnet|sepolia|hoodi)\b/);
        // 6 s slots, 32 to the epoch: two epochs and a slot, at most four times that long.
        expect(run.byName("node-1-validator-fence").inputs.create).toContain("until_slot=$((silent_from + 65))");
        expect(run.byName("node-1-validator-fence").inputs.create).toContain("deadline=$((SECONDS + 1560))");
        expect(decodeBundle(run.byName("node-0-cli").inputs.stdin)["/etc/ethnode/ethnode.conf"]).toContain('NETWORK_FLAG=""');
    });
});

describe("existing host on the dev network", () => {
    const overrides = {
        "ethnode:network": "dev",
        "ethnode:host": JSON.stringify({ provider: "existing", address: "127.0.0.1", port: 2222, user: "root" }),
        "ethnode:geth": JSON.stringify({ version: "1.17.8", commit: "a5790770", sha256: "c".repeat(64) }),
        "ethnode:lighthouse": undefined as unknown as string,
    };
    it("creates no cloud resources and no consensus client", async () => {
        const cfg = { ...stackConfig("dev"), ...overrides };
        delete (cfg as Record<string, string>)["ethnode:lighthouse"];
        const { config, secretKeys } = withSecrets(cfg);
        const run = await withMocks("sandbox", config, secretKeys, async (pulumi) => resolve<any>(pulumi, await require("../index")()));
        expect(run.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
        expect(run.resources.filter((r) => r.name.includes("lighthouse"))).toEqual([]);
        const geth = unitOf(run.byName("node-0-geth-service"));
        expect(geth).toContain("--dev");
        expect(run.value.sshCommand).toBe("ssh -p 2222 root@127.0.0.1");
        expect(run.value.endpoints[0].beaconApi).toBeUndefined();
        const gw = Object.entries(decodeBundle(run.byName("gateway-config").inputs.stdin)).find(([p]) => p.endsWith("/gateway.json"))![1];
        expect(JSON.parse(gw).consensus_api).toBeUndefined();
    });
});

describe("a separate monitoring host", () => {
    it("gets Prometheus/Alertmanager/Grafana, SSH-only ingress, and scrapes nodes through their gateway port", async () => {
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const run = await runIndex("dev", { "ethnode:monitoringHost": JSON.stringify({ ...host, instanceType: "t3.medium", dataVolumeGb: 50 }) });
        expect(run.byName("monitor-host-vm").inputs.instanceType).toBe("t3.medium");
        const monSg = run.byName("monitor-host-sg").inputs.ingress.map((r: any) => `${r.protocol}/${r.fromPort}`);
        expect(monSg).toEqual(["tcp/22"]);
        // The node admits the metrics port from the monitoring host's security group only.
        const metricsRule = run.byName("node-0-host-sg").inputs.ingress.find((r: any) => r.fromPort === 9145);
        expect(metricsRule).toMatchObject({ protocol: "tcp", toPort: 9145, securityGroups: ["monitor-host-sg-id"] });
        expect(metricsRule.cidrBlocks).toBeUndefined();
        const prom = decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin);
        const conf = Object.entries(prom).find(([p]) => p.endsWith("/prometheus.yml"))![1];
        expect(conf).toContain(`'${MOCK.privateIp}:9145'`);
        expect(conf).toContain("metrics_path: /metrics/geth");
        expect(conf).toContain("metrics_path: /metrics/lighthouse");
        const gw = decodeBundle(run.byName("gateway-config").inputs.stdin);
        const nginx = Object.entries(gw).find(([p]) => p.endsWith("/nginx.conf"))![1];
        expect(nginx).toContain("listen 0.0.0.0:9145;");
        expect(run.value.monitoringHostIp).toBe(MOCK.publicIp);
    });
});

describe("three nodes on AWS behind a network load balancer", () => {
    const SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"];
    const VPC = "vpc-0a1b2c3d4e5f60718";
    const IPS = ["10.0.1.23", "10.0.1.24", "10.0.1.25"];
    function clusterConfig(extra: Record<string, unknown> = {}, gateway: Record<string, unknown> = {}) {
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const gw = JSON.parse(stackConfig("dev")["ethnode:gateway"]);
        return {
            "ethnode:nodes": "3",
            "ethnode:host": JSON.stringify({ ...host, vpcId: VPC, subnetIds: SUBNETS, ...extra }),
            "ethnode:gateway": JSON.stringify({ ...gw, ...gateway }),
        };
    }
    let run: Awaited<ReturnType<typeof runIndex>>;
    beforeAll(async () => {
        run = await runIndex("dev", clusterConfig());
    });
    const ofType = (type: string) => run.resources.filter((r) => r.type === type);

    it("spreads one instance per node over the subnets, each with its own data volume, JWT and clients", () => {
        const vms = [0, 1, 2].map((i) => run.byName(`node-${i}-host-vm`).inputs);
        expect(vms.map((v) => v.subnetId)).toEqual(SUBNETS);
        for (const v of vms) expect(v.vpcSecurityGroupIds).toHaveLength(2);
        expect(ofType("aws:ebs/volume:Volume").map((r) => r.name).sort()).toEqual(["node-0-host-data", "node-1-host-data", "node-2-host-data"]);
        expect(ofType("random:index/randomPassword:RandomPassword").map((r) => r.name).filter((n) => n.endsWith("-jwt-key")).sort()).toEqual(["node-0-jwt-key", "node-1-jwt-key", "node-2-jwt-key"]);
        for (const i of [0, 1, 2]) {
            for (const step of ["geth-service", "lighthouse-service", "jwt-file", "cli"]) expect(run.byName(`node-${i}-${step}`)).toBeDefined();
        }
        expect(ofType("ethnode:gateway:Gateway").map((r) => r.name).sort()).toEqual(["gateway", "node-1-gateway", "node-2-gateway"]);
    });

    it("opens nothing new to the internet: node-to-node ports only within the cluster's own group", () => {
        for (const i of [0, 1, 2]) {
            const ports = run.byName(`node-${i}-host-sg`).inputs.ingress.map((r: any) => r.fromPort).sort();
            expect(ports).toEqual([22, 30303, 30303, 8080, 9000, 9000, 9001].sort());
        }
        const sg = run.byName("cluster-sg").inputs;
        expect(sg.vpcId).toBe(VPC);
        expect(sg.ingress).toBeUndefined();
        const rules = ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs);
        expect(rules.map((r) => `${r.fromPort}-${r.toPort} ${r.referencedSecurityGroupId}`).sort()).toEqual(
            ["8547-8547 cluster-sg-id", "9145-9145 cluster-sg-id", "8080-8080 lb-sg-id"].sort(),
        );
        for (const r of rules) {
            expect(r.securityGroupId).toBe("cluster-sg-id");
            expect(r.cidrIpv4).toBeUndefined();
        }
    });

    it("puts an NLB across the subnets, zones crossed, health from the gateway's /health, client address kept", () => {
        expect(ofType("aws:lb/loadBalancer:LoadBalancer")[0].inputs).toMatchObject({
            loadBalancerType: "network",
            internal: false,
            subnets: SUBNETS,
            securityGroups: ["lb-sg-id"],
            enableCrossZoneLoadBalancing: true,
        });
        expect(run.byName("lb-sg").inputs.ingress).toEqual([
            { protocol: "tcp", fromPort: 8080, toPort: 8080, cidrBlocks: ["0.0.0.0/0"], description: "json-rpc gateway" },
        ]);
        expect(run.byName("lb-gateways").inputs).toMatchObject({
            port: 8080,
            protocol: "TCP",
            targetType: "instance",
            vpcId: VPC,
            preserveClientIp: "true",
            healthCheck: { enabled: true, protocol: "HTTP", port: "traffic-port", path: "/health", matcher: "200", healthyThreshold: 2, unhealthyThreshold: 2 },
        });
        const targets = ofType("aws:lb/targetGroupAttachment:TargetGroupAttachment").map((r) => r.inputs.targetId).sort();
        expect(targets).toEqual(["node-0-host-vm-id", "node-1-host-vm-id", "node-2-host-vm-id"]);
        const listeners = ofType("aws:lb/listener:Listener").map((r) => r.inputs);
        expect(listeners).toHaveLength(1);
        expect(listeners[0]).toMatchObject({ port: 8080, protocol: "TCP", defaultActions: [{ type: "forward" }] });
        expect(run.value.rpcEndpoint).toBe(`http://${MOCK.lbDns}:8080`);
        expect(run.value.loadBalancerDns).toBe(MOCK.lbDns);
        expect(run.value.endpoints.map((e: any) => e.node)).toEqual(["node-0", "node-1", "node-2"]);
    });

    it("adds a TLS listener on 443 with the ACM certificate when one is configured", async () => {
        const arn = "arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d-0a1b-4c2d-8e3f-0a1b2c3d4e5f";
        const tls = await runIndex("dev", clusterConfig({}, { loadBalancerCertificateArn: arn }));
        const listeners = tls.ofType("aws:lb/listener:Listener").map((r) => r.inputs);
        expect(listeners.find((l) => l.port === 443)).toMatchObject({ protocol: "TLS", certificateArn: arn, sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
        expect(tls.byName("lb-sg").inputs.ingress.map((r: any) => r.fromPort)).toEqual([8080, 443]);
        expect(tls.value.rpcEndpoint).toBe(`https://${MOCK.lbDns}`);
    });

    it("gives every gateway its own Geth first and the others' peer listeners, admitting only those nodes", () => {
        for (const i of [0, 1, 2]) {
            const files = decodeBundle(run.byName(i === 0 ? "gateway-config" : `node-${i}-gateway-config`).inputs.stdin);
            const conf = JSON.parse(Object.entries(files).find(([p]) => p.endsWith("/gateway.json"))![1]);
            const others = [0, 1, 2].filter((j) => j !== i);
            expect(conf.backends).toEqual([
                { name: `node-${i}`, host: "127.0.0.1", port: 8545, local: true },
                ...others.map((j) => ({ name: `node-${j}`, host: IPS[j], port: 8547 })),
            ]);
            expect(conf.drain_file).toBe("/run/ethnode/drained");
            // Its own consensus client's sync state is part of the node's health.
            expect(conf.consensus_api).toEqual({ host: "127.0.0.1", port: 5052 });
            const nginx = Object.entries(files).find(([p]) => p.endsWith("/nginx.conf"))![1];
            const peer = nginx.slice(nginx.indexOf("listen 0.0.0.0:8547;"));
            expect(peer.slice(0, peer.indexOf("deny all;"))).toBe(`listen 0.0.0.0:8547;\n${others.map((j) => `        allow ${IPS[j]};\n`).join("")}        `);
            // Prometheus runs on the first node: the others admit it to their metrics port.
            expect(nginx.includes(`listen 0.0.0.0:9145;`)).toBe(i > 0);
            if (i > 0) expect(nginx).toContain(`allow ${IPS[0]};\n        allow 127.0.0.1;`);
        }
    });

    it("scrapes every node from the first one, the others through their gateways, with the cluster alert", () => {
        const prom = decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin);
        const conf = Object.entries(prom).find(([p]) => p.endsWith("/prometheus.yml"))![1];
        expect(conf).toContain("- targets: ['127.0.0.1:6060']");
        for (const ip of IPS.slice(1)) {
            expect(conf).toContain(`- targets: ['${ip}:9145']\n        labels:\n          node: 'node-${IPS.indexOf(ip)}'\n          scrape: 'gateway'\n          __metrics_path__: '/metrics/geth'`);
        }
        const alerts = Object.entries(prom).find(([p]) => p.endsWith("/alerts.yml"))![1];
        expect(alerts).toContain("alert: ClusterDegraded");
        expect(alerts).toContain("< 2\n");
        expect(run.ofType(COMMAND).filter((r) => r.name.endsWith("-node-exporter")).map((r) => r.name).sort()).toEqual(
            ["monitoring-node-0-node-exporter", "monitoring-node-1-node-exporter", "monitoring-node-2-node-exporter"],
        );
    });

    it("tells each node's CLI it is in a cluster (client restarts drain and gate)", () => {
        const cli = decodeBundle(run.byName("node-1-cli").inputs.stdin)["/etc/ethnode/ethnode.conf"];
        expect(cli).toContain("CLUSTER=true\nDRAIN_WAIT=7\n");
    });
});

describe("central logs (ethnode:logs)", () => {
    const SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"];
    const LOGS = JSON.stringify({ enabled: true, victoriaLogsSha256: "c".repeat(64), vmalertSha256: "d".repeat(64) });
    const unitOf = (run: Awaited<ReturnType<typeof runIndex>>, step: string, unit: string) =>
        Object.entries(decodeBundle(run.byName(step).inputs.stdin)).find(([p]) => p.endsWith(`/${unit}`))![1];

    it("are off by default: no step, no port, no scrape job", async () => {
        const run = await runIndex("dev");
        expect(run.resources.filter((r) => r.name.startsWith("logs-") || r.name.endsWith("-journal-upload"))).toEqual([]);
        const prom = Object.entries(decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin)).find(([p]) => p.endsWith("/prometheus.yml"))![1];
        expect(prom).not.toContain("victorialogs");
    });

    it("on three AWS nodes: VictoriaLogs on the first node admits the others only, each node ships its journal there", async () => {
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const run = await runIndex("dev", {
            "ethnode:nodes": "3",
            "ethnode:host": JSON.stringify({ ...host, vpcId: "vpc-0a1b2c3d4e5f60718", subnetIds: SUBNETS }),
            "ethnode:logs": LOGS,
        });
        const unit = unitOf(run, "logs-install", "victoria-logs.service");
        expect(unit).toContain("-httpListenAddr=127.0.0.1:9428 -httpListenAddr=10.0.1.23:9428");
        expect(unit).toContain("IPAddressDeny=any\nIPAddressAllow=localhost 10.0.1.24 10.0.1.25\n");
        expect(unit).toContain("-retentionPeriod=14d -retention.maxDiskSpaceUsageBytes=20GiB");
        expect(unitOf(run, "logs-install", "vmalert.service")).toContain("-notifier.url=http://127.0.0.1:9093");
        const script = run.byName("logs-install").inputs.create as string;
        expect(script).toContain("https://github.com/VictoriaMetrics/VictoriaLogs/releases/download/v1.52.1/victoria-logs-linux-amd64-v1.52.1.tar.gz");
        expect(script).toContain("c".repeat(64));
        expect(script).toContain("https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v1.151.0/vmutils-linux-amd64-v1.151.0.tar.gz");
        const url = (node: string) => unitOf(run, `${node}-journal-upload`, "ethnode.conf").match(/^URL=(.*)$/m)![1];
        expect(url("node-0")).toBe("http://127.0.0.1:9428/insert/journald");
        expect(url("node-1")).toBe("http://10.0.1.23:9428/insert/journald");
        expect(url("node-2")).toBe("http://10.0.1.23:9428/insert/journald");
        // The cluster's own group carries the port between nodes; nothing opens to the internet.
        const rules = run.resources.filter((r) => r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs);
        expect(rules.filter((r) => r.fromPort === 9428)).toEqual([expect.objectContaining({ toPort: 9428, referencedSecurityGroupId: "cluster-sg-id", securityGroupId: "cluster-sg-id" })]);
        for (const i of [0, 1, 2]) expect(run.byName(`node-${i}-host-sg`).inputs.ingress.map((r: any) => r.fromPort)).not.toContain(9428);
        // Prometheus watches the pipeline; the rules go live after Alertmanager's config.
        const prom = Object.entries(decodeBundle(run.byName("monitoring-prometheus-config").inputs.stdin));
        expect(prom.find(([p]) => p.endsWith("/prometheus.yml"))![1]).toContain("job_name: vmalert");
        expect(prom.find(([p]) => p.endsWith("/alerts.yml"))![1]).toContain("alert: LogsNotArriving");
        const datasource = Object.entries(decodeBundle(run.byName("monitoring-grafana-config").inputs.stdin)).find(([p]) => p.endsWith("/datasources/ethnode.yml"))![1];
        expect(datasource).toContain("type: victoriametrics-logs-datasource");
        expect(run.byName("monitoring-install").inputs.create).toContain("victoriametrics-logs-datasource");
        expect(run.value.logsUrl).toBe("http://127.0.0.1:9428");
    });

    it("on a separate AWS monitoring host: its group admits the VPC on the logs port, and it ships its own journal too", async () => {
        const host = JSON.parse(stackConfig("dev")["ethnode:host"]);
        const run = await runIndex("dev", { "ethnode:monitoringHost": JSON.stringify({ ...host, instanceType: "t3.medium" }), "ethnode:logs": LOGS });
        const monSg = run.byName("monitor-host-sg").inputs.ingress;
        expect(monSg.map((r: any) => `${r.protocol}/${r.fromPort}`)).toEqual(["tcp/9428", "tcp/22"]);
        expect(monSg[0].cidrBlocks).toEqual([MOCK.vpcCidr]);
        expect(unitOf(run, "logs-install", "victoria-logs.service")).toContain(`IPAddressAllow=localhost ${MOCK.privateIp}\n`);
        expect(unitOf(run, "node-0-journal-upload", "ethnode.conf")).toContain(`URL=http://${MOCK.privateIp}:9428/insert/journald`);
        expect(unitOf(run, "monitor-journal-upload", "ethnode.conf")).toContain("URL=http://127.0.0.1:9428/insert/journald");
    });

    it("need a sha256 for each released binary, and ports of their own", async () => {
        await expect(runIndex("dev", { "ethnode:logs": JSON.stringify({ enabled: true, vmalertSha256: "d".repeat(64) }) })).rejects.toThrow(
            "ethnode:logs.victoriaLogsSha256 is required when ethnode:logs.victoriaLogsSource is release: 64 lowercase hex digits",
        );
        await expect(runIndex("dev", { "ethnode:logs": JSON.stringify({ enabled: true, victoriaLogsSource: "upload", vmalertSha256: "d".repeat(64) }) })).rejects.toThrow(
            "ethnode:logs.victoriaLogsBinaryPath is required when ethnode:logs.victoriaLogsSource is upload: an absolute path",
        );
        await expect(runIndex("dev", { "ethnode:logs": JSON.stringify({ ...JSON.parse(LOGS), port: 9093 }) })).rejects.toThrow(
            "ethnode:logs.port must differ from the other monitoring and gateway ports; got 9093",
        );
    });
});

describe("three existing servers", () => {
    it("use one address each, and expose each gateway", async () => {
        const run = await runIndex("dev", {
            "ethnode:network": "dev",
            "ethnode:nodes": "3",
            "ethnode:host": JSON.stringify({ provider: "existing", addresses: ["10.77.0.11", "10.77.0.12", "10.77.0.13"], user: "root" }),
            "ethnode:geth": JSON.stringify({ version: "1.17.8", commit: "a5790770", sha256: "c".repeat(64) }),
            "ethnode:lighthouse": undefined as unknown as string,
        });
        expect(run.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
        expect(run.value.endpoints.map((e: any) => e.gateway)).toEqual(["http://10.77.0.11:8080", "http://10.77.0.12:8080", "http://10.77.0.13:8080"]);
        expect(run.value.rpcEndpoint).toBe("http://10.77.0.11:8080");
        expect(run.value.loadBalancerDns).toBeUndefined();
    });
});

describe("config edits change only what they must", () => {
    /** What decides whether a command re-runs: its command lines, stdin and triggers. */
    function fingerprints(resources: Recorded[]): Record<string, string> {
        const out: Record<string, string> = {};
        for (const r of resources) out[r.name] = JSON.stringify(r.inputs);
        return out;
    }
    function changed(a: Recorded[], b: Recorded[]): string[] {
        const fa = fingerprints(a);
        const fb = fingerprints(b);
        return Object.keys({ ...fa, ...fb })
            .filter((k) => fa[k] !== fb[k])
            .sort();
    }

    it("a Geth version bump re-runs Geth's install and service steps only", async () => {
        const before = await runIndex("dev");
        const geth = JSON.parse(stackConfig("dev")["ethnode:geth"]);
        const after = await runIndex("dev", {
            "ethnode:geth": JSON.stringify({ ...geth, version: "1.17.8", commit: "a5790770", sha256: "d".repeat(64) }),
        });
        expect(changed(before.resources, after.resources)).toEqual(["node-0-geth-install", "node-0-geth-service"]);
    });

    it("a Lighthouse peer-count edit re-runs Lighthouse's service step only", async () => {
        const before = await runIndex("dev");
        const lh = JSON.parse(stackConfig("dev")["ethnode:lighthouse"]);
        const after = await runIndex("dev", { "ethnode:lighthouse": JSON.stringify({ ...lh, targetPeers: 60 }) });
        expect(changed(before.resources, after.resources)).toEqual(["node-0-lighthouse-service"]);
    });

    it("a gateway rate-limit edit re-runs the gateway's config step only", async () => {
        const before = await runIndex("dev");
        const gw = JSON.parse(stackConfig("dev")["ethnode:gateway"]);
        const after = await runIndex("dev", { "ethnode:gateway": JSON.stringify({ ...gw, ipRate: 7 }) });
        expect(changed(before.resources, after.resources)).toEqual(["gateway-config"]);
    });

    it("an API key edit re-runs the (secret) keys step only", async () => {
        const keys = (limit: number) => JSON.stringify({ abcdefghijklmnop0123: { name: "acme", rate: limit, burst: limit } });
        const before = await runIndex("dev", { "ethnode:apiKeys": keys(5) }, ["ethnode:apiKeys"]);
        const after = await runIndex("dev", { "ethnode:apiKeys": keys(6) }, ["ethnode:apiKeys"]);
        expect(changed(before.resources, after.resources)).toEqual(["gateway-keys"]);
        const stdin = after.byName("gateway-keys").inputs.stdin;
        expect(isSecretValue(stdin)).toBe(true);
        expect(plainSurface(after.byName("gateway-keys"))).not.toContain("abcdefghijklmnop0123");
        expect(plainSurface(after.byName("gateway-config"))).not.toContain("abcdefghijklmnop0123");
    });

    it("a Slack webhook edit re-runs the Alertmanager secrets step only", async () => {
        const before = await runIndex("dev");
        const after = await runIndex("dev", { "ethnode:slackWebhookUrl": "https://hooks.slack.com/services/T000/B000/rotated" });
        expect(changed(before.resources, after.resources)).toEqual(["monitoring-alertmanager-secrets"]);
    });

    it("an alert threshold edit re-runs the Prometheus config step only", async () => {
        const before = await runIndex("dev");
        const after = await runIndex("dev", { "ethnode:monitoring": JSON.stringify({ rejectionsPerSecond: 9 }) });
        expect(changed(before.resources, after.resources)).toEqual(["monitoring-prometheus-config"]);
    });

    it("an unchanged config renders identically", async () => {
        const a = await runIndex("dev");
        const b = await runIndex("dev");
        expect(changed(a.resources, b.resources)).toEqual([]);
    });
});

describe("bad config stops the program before any resource", () => {
    it("names the key and what was expected", async () => {
        await expect(runIndex("dev", { "ethnode:network": "mainet" })).rejects.toThrow(
            'ethnode:network must be one of mainnet, sepolia, hoodi, devnet, dev; got "mainet"',
        );
    });
});

describe("chain data is never stranded by an edit (components/chaindata.ts)", () => {
    const deployed = { network: "sepolia", dataDir: "/var/lib/ethnode", gethGcMode: "full" } as const;
    const at = (network: "sepolia" | "mainnet", dataDir: string, gethGcMode: "full" | "archive" = "full") => ({ network, dataDir, gethGcMode });

    afterEach(() => setDeployedOutputs({}));

    it("records where the chain data is as a stack output the next run reads back", async () => {
        const run = await runIndex("dev");
        expect(run.value[CHAIN_DATA_OUTPUT]).toEqual(deployed);
        expect(run.ofType("pulumi:pulumi:StackReference").map((r) => r.inputs.name)).toEqual([expect.stringMatching(/\/ethnode\/dev$/)]);
    });

    it("checks before any resource exists: a refused edit fails the program with a RunError and registers nothing but the reference", async () => {
        setDeployedOutputs({ [CHAIN_DATA_OUTPUT]: deployed });
        const host = JSON.stringify({ ...JSON.parse(stackConfig("dev")["ethnode:host"]), dataDir: "/data/eth" });
        const { config, secretKeys } = withSecrets({ ...stackConfig("dev"), "ethnode:host": host });
        const run = await withMocks("dev", config, secretKeys, async () => {
            try {
                await require("../index")();
                return "ran";
            } catch (e) {
                return e;
            }
        });
        expect(run.value).toBeInstanceOf(run.pulumi.RunError);
        expect((run.value as Error).message).toMatch(/^ethnode:host\.dataDir cannot change on a deployed stack \(\/var\/lib\/ethnode → \/data\/eth\)/);
        expect(run.resources.map((r) => r.type)).toEqual(["pulumi:pulumi:StackReference"]);
        // The same stack with the data where it was deploys as before.
        setDeployedOutputs({ [CHAIN_DATA_OUTPUT]: deployed });
        expect((await runIndex("dev")).ofType("command:remote:Command").length).toBeGreaterThan(10);
    });

    it("refuses another dataDir or network on a deployed stack with the key, what would happen and what to do", () => {
        expect(chainDataRefusal(deployed, at("sepolia", "/data/eth"))).toBe(
            "ethnode:host.dataDir cannot change on a deployed stack (/var/lib/ethnode → /data/eth): the chain data stays in /var/lib/ethnode " +
                "and the clients would start empty in /data/eth, a resync from zero. To move it, stop the clients and move the directory on " +
                'every host (docs/operations.md, "Move the chain data"), then set ethnode:host.dataDirMovedFrom to /var/lib/ethnode with the ' +
                "new dataDir; or set ethnode:host.dataDir back to /var/lib/ethnode.",
        );
        expect(chainDataRefusal(deployed, at("mainnet", "/var/lib/ethnode"))).toBe(
            "ethnode:network cannot change on a deployed stack (sepolia → mainnet): every node's chain data is sepolia's, and its clients " +
                "would refuse it or sync mainnet from zero in its place. Deploy mainnet as a stack of its own (pulumi stack init), or set " +
                "ethnode:network back to sepolia.",
        );
        // Nothing deployed yet, the same place, or a move the operator says was made by hand: no refusal.
        expect(chainDataRefusal(undefined, at("mainnet", "/x"))).toBeUndefined();
        expect(chainDataRefusal(deployed, at("sepolia", "/var/lib/ethnode"))).toBeUndefined();
        expect(chainDataRefusal(deployed, at("sepolia", "/data/eth"), "/var/lib/ethnode")).toBeUndefined();
        expect(chainDataRefusal(deployed, at("sepolia", "/data/eth"), "/elsewhere")).toMatch(/^ethnode:host\.dataDir cannot change/);
    });

    it("refuses to swap Geth's database for another kind (gcMode) on a deployed stack; a stack deployed before this was recorded is not refused", () => {
        expect(chainDataRefusal(deployed, at("sepolia", "/var/lib/ethnode", "archive"))).toBe(
            "ethnode:geth.gcMode cannot change on a deployed stack (full → archive): Geth's database is a full node's, pruned as it went: " +
                "an archive would hold history only from now on, not the state it never kept. Deploy an archive node as a stack of its own and " +
                "let it sync, or set ethnode:geth.gcMode back to full.",
        );
        expect(chainDataRefusal({ ...deployed, gethGcMode: "archive" }, at("sepolia", "/var/lib/ethnode"))).toMatch(
            /^ethnode:geth\.gcMode cannot change on a deployed stack \(archive → full\): Geth's database is an archive's/,
        );
        expect(chainDataRefusal({ network: "sepolia", dataDir: "/var/lib/ethnode" }, at("sepolia", "/var/lib/ethnode", "archive"))).toBeUndefined();
    });

});

describe("every up converges the hosts: each step's token comes from its receipt on the host (components/receipts.ts)", () => {
    afterEach(() => {
        setMockReceipts("");
        setDeployedOutputs({});
    });
    const tokenOf = (r: Recorded) => /ETHNODE_TOKEN=([0-9a-f]{16})\n/.exec(r.inputs.create)?.[1];

    it("on a fresh host every step runs with a new token, opens with receipt_begin, and the stack exports each token", async () => {
        const run = await runIndex("dev");
        const steps = run.ofType("command:remote:Command");
        expect(steps.length).toBeGreaterThan(10);
        for (const s of steps) {
            expect(tokenOf(s)).toBe(MOCK.stepToken);
            expect(s.inputs.create).toMatch(/\nreceipt_begin\n/);
            // A delete drops the receipt: a step that left the stack is not receipted on the host.
            if (s.inputs.delete) expect(s.inputs.delete).toMatch(/\nreceipt_drop\n/);
        }
        expect(run.value[HOST_STEPS_OUTPUT]).toEqual(Object.fromEntries(steps.map((s) => [s.name, MOCK.stepToken])));
    });

    it("an intact receipt keeps its step's token (no diff); a drifted or missing one gets a new token (the step runs)", async () => {
        const first = await runIndex("dev");
        const [a, b, c] = first.ofType("command:remote:Command").map((s) => s.name);
        // A receipt's token reaches a command only as 16 hex digits: anything else counts as drift.
        setMockReceipts(`ok ${a} 1111222233334444\ndrift ${b} /etc/ethnode/gateway/current/nginx.conf\nok ${c} 1;reboot\n`);
        const run = await runIndex("dev");
        expect(tokenOf(run.byName(a))).toBe("1111222233334444");
        expect(tokenOf(run.byName(b))).toBe(MOCK.stepToken);
        expect(tokenOf(run.byName(c))).toBe(MOCK.stepToken);
    });

    it("a host that cannot be read keeps the tokens the stack deployed last, and the run warns that it was not checked", async () => {
        const first = await runIndex("dev");
        const names = first.ofType("command:remote:Command").map((s) => s.name);
        setDeployedOutputs({ [HOST_STEPS_OUTPUT]: Object.fromEntries(names.map((n) => [n, "dddddddddddddddd"])) });
        setMockReceipts(new Error("Connection timed out"));
        const warnings: string[] = [];
        const warn = jest.spyOn(console, "warn").mockImplementation((...a: unknown[]) => void warnings.push(a.join(" ")));
        const log = jest.spyOn(console, "log").mockImplementation((...a: unknown[]) => void warnings.push(a.join(" ")));
        const error = jest.spyOn(console, "error").mockImplementation((...a: unknown[]) => void warnings.push(a.join(" ")));
        try {
            const run = await runIndex("dev");
            for (const s of run.ofType("command:remote:Command")) expect(tokenOf(s)).toBe("dddddddddddddddd");
        } finally {
            warn.mockRestore();
            log.mockRestore();
            error.mockRestore();
        }
        expect(warnings.join("\n")).toMatch(/could not read .*Connection timed out.*not checked against the host/);
    });
});
