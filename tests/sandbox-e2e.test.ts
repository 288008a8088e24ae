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
import * as http from "http";
import * as path from "path";
import { SANDBOX_SECRETS, STEP_ORDER, SandboxHost, Step, orderSteps, sandboxConfig } from "../scripts/sandbox-apply";
import { ROOT, stackConfig, withMocks } from "./helpers/pulumi";
import { freePort, gethBinary, rpc, waitFor } from "./helpers/proc";

jest.setTimeout(900000);

let key: string;
let host: SandboxHost;
let steps: Step[];
let slack: http.Server;
let slackUrl: string;
const messages: { at: number; title: string; text: string }[] = [];
const guest = (command: string) => host.run(command);

async function render(overrides: Record<string, string> = {}): Promise<Step[]> {
    const config = { ...sandboxConfig(ROOT, key, gethBinary(), slackUrl), ...overrides };
    const run = await withMocks("sandbox", config, SANDBOX_SECRETS, (pulumi) => new Promise((r) => pulumi.output(require("../index")).apply(r)));
    return orderSteps(run.resources);
}

beforeAll(async () => {
    // The guest shares this machine's network: its Alertmanager posts to this receiver.
    const port = await freePort();
    slackUrl = `http://127.0.0.1:${port}/services/T/B/sandbox`;
    slack = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            const a = JSON.parse(body).attachments?.[0] ?? {};
            messages.push({ at: Date.now(), title: a.title, text: a.text });
            res.end("ok");
        });
    });
    await new Promise<void>((r) => slack.listen(port, "127.0.0.1", () => r()));
    key = execFileSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "fresh"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
    host = new SandboxHost(key);
    steps = await render();
});

afterAll(() => {
    slack?.close();
    spawnSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "down"], { stdio: "inherit" });
});

describe("sandbox stack on a real systemd host", () => {
    it("records exactly the steps the runner knows the order of", () => {
        expect(steps.length).toBe(STEP_ORDER.length);
    });

    it("applies every step on the host", async () => {
        const started = Date.now();
        for (const s of steps) await host.apply(s);
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
        const table = host.ssh("ethnode status");
        expect(table.stderr).toBe("");
        expect(table.stdout).toMatch(/^geth\s+active\s+1\.17\.8$/m);
        expect(table.stdout).toMatch(/^overall\s+OK$/m);
    });

    it("alerts Slack when Geth stops, and resolves when it is back", async () => {
        const stopped = Date.now();
        guest("systemctl stop geth");
        const firing = await waitFor("firing", async () => messages.find((m) => m.title?.startsWith("[FIRING:1] ExecutionClientDown")), 240000);
        const started = Date.now();
        guest("systemctl start geth");
        const resolved = await waitFor("resolved", async () => messages.find((m) => m.title?.startsWith("[RESOLVED] ExecutionClientDown")), 120000);
        expect(firing.text).toContain("*CRITICAL* `ExecutionClientDown` on node-0");
        expect(resolved.text).toContain("*RESOLVED*");
        console.log(
            `sandbox alert: geth stopped → Slack FIRING in ${((firing.at - stopped) / 1000).toFixed(0)} s (for: 2m, 5 s scrape); ` +
                `started → RESOLVED in ${((resolved.at - started) / 1000).toFixed(0)} s`,
        );
    });

    it("re-applies cleanly (every step is idempotent) without restarting the gateway", async () => {
        const master = guest("systemctl show ethnode-gateway -p MainPID --value");
        for (const s of steps) await host.apply(s);
        expect(guest("systemctl show ethnode-gateway -p MainPID --value")).toBe(master);
        expect(guest("systemctl is-active geth")).toBe("active");
    });

    it("rolls a rate-limit edit out as a reload: same master, new workers, new limit", async () => {
        const edited = await render({ "ethnode:gateway": JSON.stringify({ ...JSON.parse(stackConfig("sandbox")["ethnode:gateway"]), ipRate: 1, ipBurst: 5 }) });
        const changed = edited.filter((e) => JSON.stringify(e.inputs) !== JSON.stringify(steps.find((s) => s.name === e.name)?.inputs));
        expect(changed.map((c) => c.name)).toEqual(["gateway-config"]);
        const master = guest("systemctl show ethnode-gateway -p MainPID --value");
        const workers = guest(`pgrep -P ${master} | sort`);
        await host.apply(changed[0]);
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
        host.destroy(steps);
        expect(guest("ls /etc/systemd/system/geth.service /etc/systemd/system/ethnode-gateway.service /usr/local/bin/ethnode /etc/ethnode /opt/ethnode /var/lib/ethnode/geth 2>/dev/null | wc -l")).toBe("0");
        expect(guest("getent passwd geth ethnode-gw | wc -l")).toBe("0");
        expect(guest("getent group ethnode-jwt | wc -l")).toBe("0");
        expect(guest("systemctl is-active geth ethnode-gateway prometheus || true").split("\n")).toEqual(["inactive", "inactive", "inactive"]);
    });
});
