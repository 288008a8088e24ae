/**
 * End to end on a real systemd host: the sandbox stack's program runs under Pulumi's mocks, and every remote
 * step it records is executed on the nspawn guest (scripts/sandbox-host.sh) exactly as the command provider
 * would run it — its `create` over SSH with its `stdin` — in dependency order; CopyToRemote uploads by scp.
 * Then: services active under real systemd, JSON-RPC through the deployed gateway, Prometheus targets up,
 * the ethnode CLI, a re-run changing nothing that matters, a rate-limit edit reloading nginx (master kept,
 * workers replaced, new limit enforced), and `delete` steps leaving the host clean.
 *
 * The Pulumi engine itself cannot be built here (the Go proxy withholds pulumi-language-nodejs and the
 * command/random providers), so this drives the recorded steps directly; everything on the host is real.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Recorded, ROOT, stackConfig, withMocks } from "./helpers/pulumi";
import { gethBinary, rpc, waitFor } from "./helpers/proc";

jest.setTimeout(900000);

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const unwrap = (v: any) => (v && typeof v === "object" && SECRET_SIG in v ? v.value : v);

/** The order the engine would follow (each step depends on the ones before it). */
const ORDER = [
    /-host-prepare$/,
    /-cli$/,
    /-geth-jwt$/,
    /-geth-upload$/,
    /-geth-install$/,
    /-geth-service$/,
    /^gateway-install$/,
    /^gateway-keys$/,
    /^gateway-config$/,
    /-node-exporter$/,
    /^monitoring-install$/,
    /^monitoring-prometheus-config$/,
    /^monitoring-alertmanager-config$/,
];
const rank = (r: Recorded) => ORDER.findIndex((re) => re.test(r.name));

let key: string;
let steps: Recorded[];

function ssh(command: string, stdin?: string) {
    return spawnSync(
        "ssh",
        ["-i", key, "-p", "2222", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@127.0.0.1", command],
        { input: stdin ?? "", encoding: "utf8", timeout: 600000, maxBuffer: 64 * 1024 * 1024 },
    );
}
const guest = (command: string) => ssh(command).stdout.trim();

async function render(overrides: Record<string, string> = {}): Promise<Recorded[]> {
    const config = {
        ...stackConfig("sandbox"),
        "ethnode:geth": JSON.stringify({ ...JSON.parse(stackConfig("sandbox")["ethnode:geth"]), binaryPath: gethBinary() }),
        "ethnode:sshPrivateKey": fs.readFileSync(key, "utf8"),
        "ethnode:slackWebhookUrl": "http://127.0.0.1:9/slack",
        ...overrides,
    };
    const run = await withMocks("sandbox", config, ["ethnode:sshPrivateKey", "ethnode:slackWebhookUrl"], (pulumi) =>
        new Promise((r) => pulumi.output(require("../index")).apply(r)),
    );
    return run.resources.filter((r) => r.type.startsWith("command:remote:"));
}

async function apply(step: Recorded): Promise<void> {
    if (step.type === "command:remote:CopyToRemote") {
        // Under mocks the FileAsset arrives as the SDK object, its path still a promise.
        const source = (await step.inputs.source.path) as string;
        execFileSync("scp", ["-q", "-i", key, "-P", "2222", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", source, `root@127.0.0.1:${step.inputs.remotePath}`]);
        return;
    }
    const r = ssh(step.inputs.create, unwrap(step.inputs.stdin));
    if (r.status !== 0) throw new Error(`${step.name} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

beforeAll(async () => {
    key = execFileSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "up"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
    steps = (await render()).sort((a, b) => rank(a) - rank(b));
});

afterAll(() => {
    spawnSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "down"], { stdio: "inherit" });
});

describe("sandbox stack on a real systemd host", () => {
    it("records only steps this runner knows the order of", () => {
        expect(steps.filter((s) => rank(s) < 0).map((s) => s.name)).toEqual([]);
        expect(steps.length).toBe(ORDER.length);
    });

    it("applies every step on the host", async () => {
        const started = Date.now();
        for (const s of steps) await apply(s);
        console.log(`sandbox apply: ${steps.length} steps in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    });

    it("runs every service under systemd, hardened", () => {
        expect(guest("systemctl is-active geth ethnode-gateway prometheus prometheus-alertmanager prometheus-node-exporter").split("\n")).toEqual(
            Array(5).fill("active"),
        );
        const props = Object.fromEntries(guest("systemctl show geth -p User -p NoNewPrivileges -p ProtectSystem").split("\n").map((l) => l.split("=")));
        expect(props).toEqual({ User: "geth", NoNewPrivileges: "yes", ProtectSystem: "strict" });
        expect(guest("stat -c '%a %U %G' /etc/ethnode/jwt.hex")).toBe("640 root ethnode-jwt");
        expect(guest("id -nG geth")).toContain("ethnode-jwt");
    });

    it("answers JSON-RPC through the deployed gateway", async () => {
        const url = "http://127.0.0.1:8080";
        const r = await waitFor("gateway", async () => {
            const x = await rpc(url, "eth_chainId");
            return x.status === 200 ? x : undefined;
        });
        expect(r.body.result).toBe("0x539");
        const n = await waitFor("blocks", async () => {
            const b = parseInt((await rpc(url, "eth_blockNumber")).body.result, 16);
            return b > 0 ? b : undefined;
        });
        expect(n).toBeGreaterThan(0);
        expect((await rpc(url, "admin_nodeInfo")).body.error.code).toBe(-32601);
    });

    it("has every Prometheus target up", async () => {
        const targets = await waitFor(
            "targets up",
            async () => {
                const t: any = await (await fetch("http://127.0.0.1:9090/api/v1/targets")).json();
                const active = t.data.activeTargets as { labels: { job: string }; health: string }[];
                return active.length >= 5 && active.every((x) => x.health === "up") ? active : undefined;
            },
            60000,
        );
        expect(targets.map((t) => t.labels.job).sort()).toEqual(["alertmanager", "gateway", "geth", "node", "prometheus"]);
    });

    it("answers `ethnode status` on the host", () => {
        const s = JSON.parse(guest("ethnode status --json || true"));
        expect(s.services).toEqual({ geth: "active", "ethnode-gateway": "active" });
        expect(s.execution.syncing).toBe(false);
        expect(s.gateway.healthy).toBe(true);
        expect(s.ok).toBe(true);
    });

    it("re-applies cleanly (every step is idempotent) without restarting the gateway", async () => {
        const master = guest("systemctl show ethnode-gateway -p MainPID --value");
        for (const s of steps) await apply(s);
        expect(guest("systemctl show ethnode-gateway -p MainPID --value")).toBe(master);
        expect(guest("systemctl is-active geth")).toBe("active");
    });

    it("rolls a rate-limit edit out as a reload: same master, new workers, new limit", async () => {
        const edited = await render({ "ethnode:gateway": JSON.stringify({ ...JSON.parse(stackConfig("sandbox")["ethnode:gateway"]), ipRate: 1, ipBurst: 5 }) });
        const changed = edited.filter((e) => JSON.stringify(e.inputs) !== JSON.stringify(steps.find((s) => s.name === e.name)?.inputs));
        expect(changed.map((c) => c.name)).toEqual(["gateway-config"]);
        const master = guest("systemctl show ethnode-gateway -p MainPID --value");
        const workers = guest(`pgrep -P ${master} | sort`);
        await apply(changed[0]);
        await waitFor("new workers", async () => {
            const now = guest(`pgrep -P ${master} | sort`);
            return now && now.split("\n").every((p) => !workers.split("\n").includes(p)) ? true : undefined;
        });
        expect(guest("systemctl show ethnode-gateway -p MainPID --value")).toBe(master);
        const codes = [];
        for (let i = 0; i < 7; i++) codes.push((await rpc("http://127.0.0.1:8080", "eth_chainId")).status);
        expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(2);
    });

    it("leaves the host clean after the delete steps", () => {
        for (const s of [...steps].reverse()) {
            if (!s.inputs.delete) continue;
            const r = ssh(s.inputs.delete);
            if (r.status !== 0) throw new Error(`${s.name} delete failed:\n${r.stdout}\n${r.stderr}`);
        }
        expect(guest("ls /etc/systemd/system/geth.service /etc/systemd/system/ethnode-gateway.service /usr/local/bin/ethnode /etc/ethnode /opt/ethnode /var/lib/ethnode/geth 2>/dev/null | wc -l")).toBe("0");
        expect(guest("getent passwd geth ethnode-gw | wc -l")).toBe("0");
        expect(guest("getent group ethnode-jwt | wc -l")).toBe("0");
        expect(guest("systemctl is-active geth ethnode-gateway prometheus || true").split("\n")).toEqual(["inactive", "inactive", "inactive"]);
    });
});
