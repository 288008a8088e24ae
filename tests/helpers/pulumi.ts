/**
 * Runs ethnode's program (or a part of it) under Pulumi's mocks, recording every resource. Unmocked invokes
 * throw, so a new data-source call cannot slip through silently. Each run gets fresh module state.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

// Each mocked run registers process listeners in a fresh copy of the SDK.
process.setMaxListeners(100);

/** The project; a compiled copy (scripts run with node from .cache/build) is told where it is. */
export const ROOT = process.env.ETHNODE_ROOT ?? path.join(__dirname, "..", "..");

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

/** Deterministic values the mocks hand out, so tests can look for them. */
export const MOCK = {
    jwtHex: "5f".repeat(32),
    amiId: "ami-0ubuntu2204",
    vpcCidr: "10.0.0.0/16",
    publicIp: "198.51.100.7",
    volumeId: "vol-0123456789abcdef0",
    az: "eu-central-1a",
    grafanaPassword: "GrafanaMockPassword0123456789abcd",
    privateIp: "10.0.1.23",
    lbDns: "lb-0123456789.elb.eu-central-1.amazonaws.com",
    stepToken: "70ce70ce70ce70ce",
};

/** What the mocked stack's last deploy exported (its StackReference to itself reads these); tests set it. */
let deployedOutputs: Record<string, unknown> = {};
export function setDeployedOutputs(outputs: Record<string, unknown>): void {
    deployedOutputs = outputs;
}

/** What the mocked hosts' receipts say (read-receipts.sh lines), or why they cannot be read; tests set it. */
let mockReceipts: string | Error = "";
export function setMockReceipts(lines: string | Error): void {
    mockReceipts = lines;
}

/** A syntactically valid private key for config validation; never used to connect. */
export const TEST_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXRlc3Qta2V5LW1hdGVyaWFs\n-----END OPENSSH PRIVATE KEY-----\n";

function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
    switch (type) {
        case "aws:ec2/eip:Eip":
            return { ...inputs, publicIp: MOCK.publicIp, allocationId: "eipalloc-1" };
        case "aws:ebs/volume:Volume":
            return { ...inputs, arn: `arn:aws:ec2:::volume/${MOCK.volumeId}` };
        case "aws:ec2/instance:Instance":
            return { ...inputs, availabilityZone: MOCK.az, publicIp: "203.0.113.99", privateIp: mockPrivateIp(name) };
        case "aws:lb/loadBalancer:LoadBalancer":
            return { ...inputs, arn: `arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/${name}/1`, dnsName: MOCK.lbDns };
        case "aws:lb/targetGroup:TargetGroup":
            return { ...inputs, arn: `arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/${name}/1` };
        case "pulumi:pulumi:StackReference":
            // This stack's own outputs as its last deploy left them (none: a stack never deployed).
            return { ...inputs, outputs: deployedOutputs, secretOutputNames: [] };
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: name.endsWith("-jwt-key") ? MOCK.jwtHex : /-p2p-/.test(name) ? mockP2pKey(name) : MOCK.grafanaPassword };
        case "aws:ec2/keyPair:KeyPair":
            return { ...inputs, keyName: name };
        default:
            return { ...inputs };
    }
}

/** A devnet P2P key the mocks hand `name` (node-<i>-p2p-<role>): 64 hex digits, one per key. */
export function mockP2pKey(name: string): string {
    return crypto.createHash("sha256").update(name).digest("hex");
}

/** node-<i>-host-vm gets 10.0.1.(23 + i): the first node's is MOCK.privateIp, every node's differs. */
export function mockPrivateIp(vmName: string): string {
    const m = /^node-(\d+)-host-vm$/.exec(vmName);
    return m ? `10.0.1.${23 + Number(m[1])}` : MOCK.privateIp;
}

function mockId(type: string, name: string): string {
    return type === "aws:ebs/volume:Volume" ? MOCK.volumeId : `${name}-id`;
}

/** What an operator puts where the shipped stack files hold a `<placeholder>` (README, Deploy). */
export const OPERATOR_VALUES: Record<string, string> = {
    "<your deployer's public IPv4>/32": "203.0.113.10/32",
    "<the public half of ethnode:sshPrivateKey: ssh-keygen -y -f ~/.ssh/ethnode_ed25519>":
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1mS2mXbA1Qm8Kq2pXv9r0bqvY8nJ0xWm3JX4p5yQzR ethnode-test",
    "<the geth scripts/sandbox.sh builds>": "/opt/geth-under-test/geth",
    "<the victoria-logs scripts/sandbox.sh builds>": "/opt/logs-under-test/victoria-logs",
    "<the vmalert scripts/sandbox.sh builds>": "/opt/logs-under-test/vmalert",
};

/** Reads a stack file's `config:` map into the string form the engine hands a program. */
export function stackFileConfig(file: string): Record<string, string> {
    const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    return out;
}

/** A tracked stack file's config, as shipped. */
export function shippedStackConfig(stack: string): Record<string, string> {
    return stackFileConfig(path.join(ROOT, `Pulumi.${stack}.yaml`));
}

/** A stack file's config with its placeholders filled in as an operator would. */
export function stackConfig(stack: string): Record<string, string> {
    const out = shippedStackConfig(stack);
    for (const [k, v] of Object.entries(out)) {
        out[k] = Object.entries(OPERATOR_VALUES).reduce((text, [placeholder, value]) => text.split(placeholder).join(value), v);
    }
    return out;
}

export interface Run {
    resources: Recorded[];
    pulumi: typeof import("@pulumi/pulumi");
    byName(name: string): Recorded;
    ofType(type: string): Recorded[];
}

/**
 * Sets up mocks and config, then calls `load` (which imports the program or builds a component) with the
 * fresh module registry. Waits until every registration has settled.
 */
export async function withMocks<T>(
    stack: string,
    config: Record<string, string>,
    secretKeys: string[],
    load: (pulumi: typeof import("@pulumi/pulumi")) => T | Promise<T>,
): Promise<Run & { value: T }> {
    jest.resetModules();
    const pulumi: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
    // Mocked hosts are fresh hosts (no receipts) and every step's new token is the same, so runs compare.
    require("../../components/receipts").setReceiptReader(
        async () => {
            if (mockReceipts instanceof Error) throw mockReceipts;
            return mockReceipts;
        },
        () => MOCK.stepToken,
    );
    const resources: Recorded[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                resources.push({ type: args.type, name: args.name, inputs: args.inputs });
                return { id: mockId(args.type, args.name), state: mockState(args.type, args.name, args.inputs) };
            },
            call(args) {
                if (args.token === "aws:ec2/getAmi:getAmi") return { ...args.inputs, id: MOCK.amiId, imageId: MOCK.amiId };
                if (args.token === "aws:ec2/getVpc:getVpc") return { ...args.inputs, id: args.inputs.id ?? "vpc-default", cidrBlock: MOCK.vpcCidr };
                throw new Error(`unmocked call ${args.token}`);
            },
        },
        "ethnode",
        stack,
        false,
        // What a self-managed (DIY) backend calls every stack's organization.
        "organization",
    );
    pulumi.runtime.setAllConfig(config, secretKeys);
    const value = await load(pulumi);
    await settle(resources);
    return {
        value,
        resources,
        pulumi,
        byName(name) {
            const r = resources.find((x) => x.name === name);
            if (!r) throw new Error(`no resource named ${name}; have ${resources.map((x) => x.name).join(", ")}`);
            return r;
        },
        ofType(type) {
            return resources.filter((x) => x.type === type);
        },
    };
}

/** Waits until no new resource has been registered for a while (mocks register asynchronously). */
async function settle(resources: Recorded[]): Promise<void> {
    let last = -1;
    let stable = 0;
    while (stable < 5) {
        await new Promise((r) => setTimeout(r, 20));
        stable = resources.length === last ? stable + 1 : 0;
        last = resources.length;
    }
}

/** Resolves an Output in a test (mocks resolve everything). */
export function resolve<T>(pulumi: typeof import("@pulumi/pulumi"), o: any): Promise<T> {
    return new Promise((r) => pulumi.output(o).apply((v: T) => r(v)));
}

/** A complete config for a stack whose file lacks the secret keys. */
export const TEST_SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/testsecretwebhook";
/** The dead man's switch a mainnet stack must have. */
export const TEST_DMS_URL = "https://hc-ping.example/test-dead-mans-switch-0123";

export function withSecrets(config: Record<string, string>): { config: Record<string, string>; secretKeys: string[] } {
    return {
        config: { "ethnode:slackWebhookUrl": TEST_SLACK_WEBHOOK, ...config, "ethnode:sshPrivateKey": TEST_SSH_KEY },
        secretKeys: ["ethnode:sshPrivateKey", "ethnode:slackWebhookUrl"],
    };
}

/**
 * Every form a reader of the state could find `secret` in: the text, its hex (with and without 0x), base64 and
 * base64url; and for a hex secret (the JWT) the same of the bytes it stands for.
 */
export function secretEncodings(secret: string): string[] {
    const forms = (b: Buffer) => [b.toString("hex"), `0x${b.toString("hex")}`, b.toString("base64"), b.toString("base64url")];
    const out = [secret, ...forms(Buffer.from(secret, "utf8"))];
    if (/^(0x)?[0-9a-fA-F]+$/.test(secret) && secret.replace(/^0x/, "").length % 2 === 0) out.push(...forms(Buffer.from(secret.replace(/^0x/, ""), "hex")));
    // Padding aside, so a form found inside a longer encoding still counts.
    return [...new Set(out.map((f) => f.replace(/=+$/, "")))];
}
