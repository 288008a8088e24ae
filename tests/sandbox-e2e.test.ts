/**
 * End to end with the real Pulumi engine (the real-engine tier: skipped where scripts/engine.sh finds no pinned
 * engine, tests/helpers/engine.ts) on a real systemd host: the README's
 * `npm run sandbox` (scripts/sandbox.sh up) deploys the sandbox stack onto a fresh nspawn guest, then every edit
 * an operator makes is applied the way they would apply it — `pulumi config set`, `pulumi preview`, `pulumi up`:
 *  (a) the preview reports exactly the resources and operations expected (update in place, never a replace),
 *  (b) after `up` every unit is active, JSON-RPC answers through the gateway, the head advances and
 *      `ethnode status` is OK, (c) the next preview reports no change, (d) what the design keeps (the previous
 *      Geth release, the gateway's master process) is kept.
 * Then a forced replacement keeps the node serving, the state holds no secret, and `pulumi destroy` leaves no
 * ethnode unit, user or file on the host (chain data only when purge is off).
 *
 * The program runs from a copy of the project under the test's temp root, so an edit to its files (the prelude)
 * never touches the work tree.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { GuestStep, Ssh, parseBundle, programSteps, runDelete, runStep } from "./helpers/guest-apply";
import { bundle } from "../components/remote";
import { MOCK, ROOT, secretEncodings, stackFileConfig } from "./helpers/pulumi";
import { parseReceipts } from "../components/receipts";
import { readAsset } from "../components/render";
import { SLACK, Sandbox, ok, otherRelease, slackMessages } from "./helpers/sandbox";
import { describeEngine } from "./helpers/engine";
import { describeCluster } from "./sandbox-ha";
import { describePosSandbox } from "./sandbox-pos";
import { underLoad } from "./helpers/cluster";
import { gethBinary, rpc, tmpDir, waitFor } from "./helpers/proc";

jest.setTimeout(1800000);

const KEY = path.join(process.env.ETHNODE_CACHE_DIR ?? path.join(process.env.HOME ?? "/root", ".cache", "ethnode"), "sandbox-ssh-key");
const GATEWAY = "http://127.0.0.1:8080";
/** Releases before this one: a stack either deployed must upgrade in place. e162aca is the last release whose
 * steps used triggers; 4618d7f the last before a stack could run several nodes; d878f14 the last before step
 * receipts and the gateway's unit in its config release. */
const PREVIOUS_RELEASES = ["e162aca277130327e73d7da81e7d2e1c83318025", "4618d7fd50c78982bcd5a90b8a47587e57264d8e", "d878f14763437cdd6927e9f385e98f8383e62d4f"];
/** Releases whose stacks still hold the JWT in RandomBytes (all of them): their upgrade gives Geth a new key (one
 * restart). */
const JWT_MOVES = new Set(PREVIOUS_RELEASES);
const UNITS = ["geth", "ethnode-gateway", "prometheus", "prometheus-alertmanager", "prometheus-node-exporter"];

let work: string;
let sandbox: Sandbox;

const run = (args: string[], input?: string, programDir?: string) => sandbox.run(args, input, programDir);
const pulumi = (args: string[], input?: string) => sandbox.pulumi(args, input);
const configSet = (pairs: Record<string, string>) => sandbox.configSet(pairs);
const secretSet = (key: string, value: string) => sandbox.secretSet(key, value);
const preview = () => sandbox.preview();
const previewSteps = () => sandbox.preview().steps;
const up = () => sandbox.up();

function guest(command: string): string {
    return execFileSync(
        "ssh",
        ["-i", KEY, "-p", "2222", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@127.0.0.1", command],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    ).trim();
}

async function rpcOk(method: string, params: unknown[] = [], headers: Record<string, string> = {}) {
    return waitFor(`${method} through the gateway`, async () => {
        const r = await rpc(GATEWAY, method, params, headers);
        return r.status === 200 && r.body.result !== undefined ? r.body.result : undefined;
    });
}

/** What every converged state must show: units active, RPC through the gateway, the head moving, status OK. */
async function serving(): Promise<void> {
    expect(guest(`systemctl is-active ${UNITS.join(" ")}`).split("\n")).toEqual(UNITS.map(() => "active"));
    expect(await rpcOk("eth_chainId")).toBe("0x539");
    const first = parseInt(await rpcOk("eth_blockNumber"), 16);
    await waitFor("head advancing", async () => (parseInt(await rpcOk("eth_blockNumber"), 16) > first ? true : undefined), 30000);
    const status = JSON.parse(guest("ethnode status --json || true"));
    expect(status.ok).toBe(true);
}

const mainPid = (unit: string) => guest(`systemctl show ${unit} -p MainPID --value`);

/** The guest's Prometheus targets' jobs, sorted, once at least five are all up. */
function targetJobsUp(): Promise<string[]> {
    return waitFor(
        "targets up",
        async () => {
            const t: any = await (await fetch("http://127.0.0.1:9090/api/v1/targets")).json();
            const active = t.data.activeTargets as { labels: { job: string }; health: string }[];
            return active.length >= 5 && active.every((x) => x.health === "up") ? active.map((x) => x.labels.job).sort() : undefined;
        },
        60000,
    );
}

describe("the sandbox's host steps, run on a fresh guest directly (no engine)", () => {
    let steps: GuestStep[];
    const ssh: Ssh = { key: KEY, host: "127.0.0.1", port: 2222, user: "root" };

    beforeAll(async () => {
        const stack = stackFileConfig(path.join(ROOT, "tests", "fixtures", "sandbox-single.yaml"));
        stack["ethnode:geth"] = JSON.stringify({ ...JSON.parse(stack["ethnode:geth"]), binaryPath: gethBinary() });
        steps = await programSteps("sandbox", stack);
        execFileSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "fresh"], { stdio: ["ignore", "ignore", "inherit"] });
    });

    afterAll(() => {
        spawnSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "down"], { stdio: "ignore" });
    });

    it("runs every step in the program's order: units active, JSON-RPC through the gateway, head advancing, status OK", async () => {
        expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(["node-0-host-prepare", "node-0-geth-upload", "node-0-geth-service", "gateway-config", "monitoring-prometheus-config"]));
        expect(steps[0].name).toBe("node-0-host-prepare");
        const started = Date.now();
        for (const step of steps) runStep(step, ssh);
        console.log(`engine-free deploy of ${steps.length} steps onto a fresh guest: ${((Date.now() - started) / 1000).toFixed(0)} s`);
        await serving();
        expect((await rpc(GATEWAY, "admin_nodeInfo")).body.error.code).toBe(-32601);
        expect(guest("stat -c '%a %U %G' /etc/ethnode/jwt.hex")).toBe("640 root ethnode-jwt");
    });

    it("has every Prometheus target up", async () => {
        expect(await targetJobsUp()).toEqual(["alertmanager", "gateway", "geth", "node", "prometheus"]);
    });

    it("every step run again converges in place: Geth and the gateway's master keep running", async () => {
        const pids = { geth: mainPid("geth"), gateway: mainPid("ethnode-gateway") };
        for (const step of steps) runStep(step, ssh);
        await serving();
        expect({ geth: mainPid("geth"), gateway: mainPid("ethnode-gateway") }).toEqual(pids);
    });

    it("every step left its receipt; a hand edit of a managed file reads back as drift naming it, and its step repairs it", async () => {
        const read = () => parseReceipts(guest(`echo ${Buffer.from(readAsset("scripts/read-receipts.sh")).toString("base64")} | base64 -d | bash`));
        const receipts = read();
        // Every command step; an upload is no step of its own (its file carries its install step's token).
        expect([...receipts.keys()].sort()).toEqual(steps.filter((s) => s.kind === "command").map((s) => s.name).sort());
        for (const r of receipts.values()) expect(r).toEqual({ token: MOCK.stepToken });
        const conf = guest("readlink -f /etc/ethnode/gateway/current/nginx.conf");
        guest(`sed -i 's/worker_connections [0-9]*/worker_connections 8/' ${conf}`);
        expect(read().get("gateway-config")).toEqual({ drift: conf });
        runStep(steps.find((s) => s.name === "gateway-config") as GuestStep, ssh);
        expect(read().get("gateway-config")).toEqual({ token: MOCK.stepToken });
        expect(guest(`grep -c 'worker_connections 8;' ${conf} || true`)).toBe("0");
        // The unit the release installed is covered too.
        guest("sed -i 's/^RestartSec=.*/RestartSec=30/' /etc/systemd/system/ethnode-gateway.service");
        expect(read().get("gateway-config")).toEqual({ drift: "/etc/systemd/system/ethnode-gateway.service" });
        runStep(steps.find((s) => s.name === "gateway-config") as GuestStep, ssh);
        expect(guest("grep -c '^RestartSec=1$' /etc/systemd/system/ethnode-gateway.service")).toBe("1");
        await serving();
    });

    it("a release that passes its check but does not serve goes back to the previous one; the step fails saying so", async () => {
        const good = steps.find((s) => s.name === "gateway-config") as GuestStep;
        const live = guest("readlink /etc/ethnode/gateway/current");
        const id = path.basename(live);
        const bad = "badbadbadbadbad0";
        // Metrics on another port: nginx -t passes, the health check (the configured metrics port) cannot.
        const files = parseBundle(good.stdin as string).map((f) => ({
            ...f,
            path: f.path.split(id).join(bad),
            content: f.content.split(id).join(bad).replace(/listen 127\.0\.0\.1:9145;/, "listen 127.0.0.1:9199;"),
        }));
        expect(files.some((f) => f.content.includes("127.0.0.1:9199"))).toBe(true);
        const broken: GuestStep = { ...good, create: good.create.split(id).join(bad).replace("health_wait=60", "health_wait=5"), stdin: bundle(files) };
        expect(() => runStep(broken, ssh)).toThrow(new RegExp(`release ${bad} was not healthy within 5s; rolled back to ${id}`));
        expect(guest("readlink /etc/ethnode/gateway/current")).toBe(live);
        await serving();
        expect(parseReceipts(guest(`echo ${Buffer.from(readAsset("scripts/read-receipts.sh")).toString("base64")} | base64 -d | bash`)).has("gateway-config")).toBe(false);
        runStep(good, ssh);
    });

    it("a client unit that does not pass its health gate goes back to the previous unit release; the step fails saying so", async () => {
        const good = steps.find((s) => s.name === "node-0-geth-service") as GuestStep;
        const live = guest("readlink /etc/ethnode/geth/current");
        const id = path.basename(live);
        const bad = "badbadbadbadbad1";
        const [unit] = parseBundle(good.stdin as string);
        expect(unit.path).toBe(`/etc/ethnode/geth/releases/${id}/geth.service`);
        const files = [{ ...unit, path: unit.path.split(id).join(bad), content: unit.content.replace("--datadir=", "--no-such-flag --datadir=") }];
        const broken: GuestStep = { ...good, create: good.create.split(id).join(bad).replace(/--timeout \d+/g, "--timeout 15"), stdin: bundle(files) };
        expect(() => runStep(broken, ssh)).toThrow(new RegExp(`geth: not healthy with unit release ${bad}; back on ${id}`));
        expect(guest("readlink /etc/ethnode/geth/current")).toBe(live);
        expect(guest("grep -c -- --no-such-flag /etc/systemd/system/geth.service || true")).toBe("0");
        await serving();
        runStep(good, ssh);
    });

    it("the gateway survives its master killed outright: no worker keeps the ports, it serves again within seconds", async () => {
        const master = mainPid("ethnode-gateway");
        const workers = guest(`pgrep -P ${master} | sort | tr '\\n' ' '`).trim().split(" ");
        // SIGKILL to the master alone: what systemd's kill does where it cannot reach the unit's other processes.
        guest(`kill -9 ${master}`);
        const killed = Date.now();
        await waitFor("a new gateway master", async () => {
            const now = mainPid("ethnode-gateway");
            return now !== "0" && now !== master ? now : undefined;
        }, 30000);
        await serving();
        console.log(`gateway master SIGKILLed: serving again after ${((Date.now() - killed) / 1000).toFixed(1)} s`);
        // The old workers are gone (they left by themselves, or the start removed them), none holds a port.
        for (const w of workers) expect(guest(`test -e /proc/${w} && echo alive || echo gone`)).toBe("gone");
        const holders = guest("ss -ltnpH 'sport = :8080'").split("\n").filter(Boolean);
        expect(holders.length).toBeGreaterThan(0);
        for (const line of holders) expect(line).toContain(`pid=`);
        expect(guest("systemctl is-active ethnode-gateway")).toBe("active");
    });

    it("the delete steps, last step first, leave no ethnode unit, user or file (purge on: no chain data)", () => {
        for (const step of [...steps].reverse()) runDelete(step, ssh);
        expect(guest("ls /etc/systemd/system/geth.service /etc/systemd/system/ethnode-gateway.service /usr/local/bin/ethnode /etc/ethnode /opt/ethnode /usr/local/lib/ethnode 2>/dev/null | wc -l")).toBe("0");
        expect(guest("getent passwd geth ethnode-gw | wc -l")).toBe("0");
        expect(guest("systemctl is-active geth ethnode-gateway prometheus prometheus-alertmanager prometheus-node-exporter || true").split("\n")).toEqual(UNITS.map(() => "inactive"));
        expect(guest("ls -A /var/lib/ethnode 2>/dev/null | wc -l")).toBe("0");
    });
});

describeEngine("the sandbox on the real engine", () => {
    beforeAll(() => {
        work = tmpDir("sandbox-e2e");
        // The single-node sandbox: one guest sharing this machine's network.
        sandbox = new Sandbox(work, path.join(ROOT, "tests", "fixtures", "sandbox-single.yaml"));
        // A clean start: whatever an earlier run left is destroyed and its guest removed.
        ok(run(["down"]), "sandbox down");
    });

    afterAll(() => {
        run(["down"]);
    });

    describe("npm run sandbox: a real `pulumi up` onto a fresh systemd guest", () => {
        let deploy: string;

        it("deploys the stack and prints its outputs", () => {
            const started = Date.now();
            deploy = ok(run(["up"]), "sandbox up");
            console.log(`sandbox up (setup, fresh guest, pulumi up): ${((Date.now() - started) / 1000).toFixed(0)} s`);
            expect(deploy).toMatch(/Resources:\s+\+ 23 created/);
            expect(deploy).toContain("rpcEndpoint      http://127.0.0.1:8080");
            // A normal run warns about nothing (plugins, undefined outputs, nginx -t).
            expect(deploy).not.toMatch(/warning:/i);
            expect(deploy).not.toMatch(/\[warn\]/);
        });

        it("leaves the work tree clean: no salt or secret in the tracked stack file", () => {
            expect(fs.readFileSync(path.join(sandbox.program, "Pulumi.sandbox.yaml"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "tests", "fixtures", "sandbox-single.yaml"), "utf8"));
            expect(fs.readFileSync(path.join(ROOT, "Pulumi.sandbox.yaml"), "utf8")).not.toMatch(/encryptionsalt|secure:/);
        });

        it("runs every service under systemd, hardened, and serves", async () => {
            const props = Object.fromEntries(guest("systemctl show geth -p User -p NoNewPrivileges -p ProtectSystem").split("\n").map((l) => l.split("=")));
            expect(props).toEqual({ User: "geth", NoNewPrivileges: "yes", ProtectSystem: "strict" });
            expect(guest("stat -c '%a %U %G' /etc/ethnode/jwt.hex")).toBe("640 root ethnode-jwt");
            await serving();
            expect((await rpc(GATEWAY, "admin_nodeInfo")).body.error.code).toBe(-32601);
            const table = guest("ethnode status");
            expect(table).toMatch(/^geth\s+active\s+1\.17\.8$/m);
            expect(table).toMatch(/^overall\s+OK$/m);
        });

        it("has every Prometheus target up", async () => {
            expect(await targetJobsUp()).toEqual(["alertmanager", "gateway", "geth", "node", "prometheus"]);
        });

        it("a second preview is a no-op", () => {
            expect(previewSteps()).toEqual([]);
        });

        it("alerts the Slack receiver it started when Geth stops, and resolves when it is back", async () => {
            const stopped = Date.now();
            guest("systemctl stop geth");
            const firing = await waitFor("firing", async () => (await slackMessages()).find((m) => m.at > stopped && m.title.startsWith("[FIRING:1] ExecutionClientDown")), 240000);
            const started = Date.now();
            guest("systemctl start geth");
            const resolved = await waitFor("resolved", async () => (await slackMessages()).find((m) => m.at > started && m.title.startsWith("[RESOLVED] ExecutionClientDown")), 120000);
            expect(firing.text).toContain("*CRITICAL* `ExecutionClientDown` on node-0");
            expect(firing.channel).toBe("#ethnode-alerts");
            expect(resolved.text).toContain("*RESOLVED*");
            console.log(`sandbox alert: geth stopped → Slack FIRING in ${((firing.at - stopped) / 1000).toFixed(0)} s; started → RESOLVED in ${((resolved.at - started) / 1000).toFixed(0)} s`);
            await serving();
        });

        it("pings its dead man's switch: the Watchdog reaches the receiver's /deadman/sandbox, apart from the Slack messages", async () => {
            expect(guest("cat /etc/ethnode/alertmanager/secrets/deadmans_switch_url")).toBe(`${SLACK}/deadman/sandbox`);
            const pings: any = await waitFor("a Watchdog ping", async () => {
                const r = await fetch(`${SLACK}/deadman/sandbox`);
                return r.ok ? await r.json() : undefined;
            }, 120000);
            expect(pings).toMatchObject({ path: "/deadman/sandbox", silent: false });
            expect((await slackMessages()).filter((m) => m.title === "Watchdog")).toEqual([]);
        });
    });

    interface Edit {
        what: string;
        apply: () => void;
        /** Exactly what `pulumi preview` must report. */
        steps: string[];
        /** What must hold after `up`, besides serving. */
        check?: () => Promise<void> | void;
        /** What a reviewer reads in `pulumi preview --diff` (a PR comment). */
        diff?: (text: string) => void;
    }

    /** A preview diff is for people: the changed lines, no base64 bundle. */
    function readable(diff: string): void {
        expect(diff).not.toMatch(/[A-Za-z0-9+/=]{200,}/);
    }

    describe("every config edit converges the host in place (real engine, real host)", () => {
        let upgraded: string;
        let gatewayMaster: string;
        const API_KEY = "sandbox-e2e-key-0123456789";

        beforeAll(() => {
            upgraded = otherRelease(gethBinary(), path.join(work, "geth-1.17.9"));
            gatewayMaster = mainPid("ethnode-gateway");
        });

        const edits: Edit[] = [
            {
                what: "a Geth flag (httpVhosts)",
                apply: () => configSet({ "ethnode:geth.httpVhosts[0]": "localhost", "ethnode:geth.httpVhosts[1]": "127.0.0.1" }),
                steps: ["node-0-geth-service update"],
                diff: (d) => {
                    expect(d).toMatch(/^\s+-\s+--http\.vhosts=localhost \\$/m);
                    expect(d).toMatch(/^\s+\+\s+--http\.vhosts=localhost,127\.0\.0\.1 \\$/m);
                },
                check: () => expect(guest("tr '\\0' ' ' </proc/$(systemctl show geth -p MainPID --value)/cmdline")).toContain("--http.vhosts=localhost,127.0.0.1"),
            },
            {
                what: "a Geth version and binary",
                apply: () => configSet({ "ethnode:geth.version": "1.17.9", "ethnode:geth.binaryPath": upgraded }),
                steps: ["node-0-geth-install update", "node-0-geth-service update", "node-0-geth-upload update"],
                check: () => {
                    expect(guest("readlink -f /proc/$(systemctl show geth -p MainPID --value)/exe")).toBe("/opt/ethnode/geth/1.17.9/geth");
                    // The release it replaced stays installed, as the rollback target.
                    expect(guest("readlink /opt/ethnode/geth/previous")).toBe("/opt/ethnode/geth/1.17.8");
                    expect(guest("test -x /opt/ethnode/geth/1.17.8/geth && echo kept")).toBe("kept");
                    expect(guest("ethnode status")).toMatch(/^geth\s+active\s+1\.17\.9$/m);
                },
            },
            {
                what: "a Geth rollback to the pinned release",
                apply: () => configSet({ "ethnode:geth.version": "1.17.8", "ethnode:geth.binaryPath": gethBinary() }),
                steps: ["node-0-geth-install update", "node-0-geth-service update", "node-0-geth-upload update"],
                check: () => expect(guest("readlink -f /proc/$(systemctl show geth -p MainPID --value)/exe")).toBe("/opt/ethnode/geth/1.17.8/geth"),
            },
            {
                what: "a gateway rate limit",
                apply: () => configSet({ "ethnode:gateway.ipRate": "2", "ethnode:gateway.ipBurst": "5" }),
                steps: ["gateway-config update"],
                diff: (d) => {
                    expect(d).toMatch(/^\s+-\s+"ip_rate": 50,$/m);
                    expect(d).toMatch(/^\s+\+\s+"ip_rate": 2,$/m);
                },
                check: async () => {
                    const codes: number[] = [];
                    for (let i = 0; i < 10; i++) codes.push((await rpc(GATEWAY, "eth_chainId")).status);
                    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(3);
                    await new Promise((r) => setTimeout(r, 3000));
                },
            },
            {
                what: "the gateway rate limit raised again",
                apply: () => configSet({ "ethnode:gateway.ipRate": "50", "ethnode:gateway.ipBurst": "200" }),
                steps: ["gateway-config update"],
            },
            {
                what: "API keys (a secret)",
                apply: () => secretSet("ethnode:apiKeys", JSON.stringify({ [API_KEY]: { name: "e2e", rate: 100, burst: 100 } })),
                steps: ["gateway-keys update"],
                diff: (d) => {
                    expect(d).toContain("[secret]");
                    expect(d).not.toContain(API_KEY);
                },
                check: async () => {
                    expect((await rpc(GATEWAY, "eth_chainId", [], { "X-Api-Key": API_KEY })).status).toBe(200);
                    expect((await rpc(GATEWAY, "eth_chainId", [], { "X-Api-Key": "sandbox-e2e-key-wrong-000000" })).status).toBe(401);
                },
            },
            {
                what: "the method allow-list",
                apply: () => configSet({ "ethnode:gateway.allowMethods[0]": "eth_*", "ethnode:gateway.allowMethods[1]": "net_*" }),
                steps: ["gateway-config update"],
                check: async () => {
                    expect((await rpc(GATEWAY, "web3_clientVersion")).body.error.code).toBe(-32601);
                    expect((await rpc(GATEWAY, "net_version")).body.result).toBe("1337");
                },
            },
            {
                what: "the Slack webhook (a secret)",
                apply: () => secretSet("ethnode:slackWebhookUrl", `${SLACK}/services/sandbox/rotated`),
                steps: ["monitoring-alertmanager-secrets update"],
                diff: (d) => {
                    expect(d).toContain("[secret]");
                    expect(d).not.toContain("rotated");
                },
                check: () => expect(guest("cat /etc/ethnode/alertmanager/secrets/slack_webhook")).toBe(`${SLACK}/services/sandbox/rotated`),
            },
            {
                // A threshold the dev chain renders (its peer-count alerts are not rendered there: no peers).
                what: "an alert threshold",
                apply: () => configSet({ "ethnode:monitoring.rejectionsPerSecond": "7" }),
                steps: ["monitoring-prometheus-config update"],
                diff: (d) => expect(d).toMatch(/^\s+\+\s+expr: .*ethnode_gateway_rejections_total.* > 7$/m),
                check: async () => {
                    const rules: any = await waitFor("rules reloaded", async () => {
                        const r: any = await (await fetch("http://127.0.0.1:9090/api/v1/rules")).json();
                        const rule = r.data.groups.flatMap((g: any) => g.rules).find((x: any) => x.name === "GatewayRejectionSpike");
                        return rule?.query.endsWith("> 7") ? rule : undefined;
                    });
                    expect(rules.query).toMatch(/ethnode_gateway_rejections_total.* > 7$/);
                },
            },
            {
                what: "the Prometheus retention",
                apply: () => configSet({ "ethnode:monitoring.retentionDays": "5" }),
                steps: ["monitoring-install update"],
                check: async () => {
                    const flags: any = await waitFor("prometheus restarted", async () => {
                        try {
                            return await (await fetch("http://127.0.0.1:9090/api/v1/status/flags")).json();
                        } catch {
                            return undefined;
                        }
                    });
                    expect(flags.data["storage.tsdb.retention.time"]).toBe("5d");
                },
            },
            {
                what: "an edit to prelude.sh",
                apply: () => fs.appendFileSync(path.join(sandbox.program, "assets", "scripts", "prelude.sh"), "# an operator's edit\n"),
                steps: ["node-0-host-prepare update"],
                check: () => expect(guest("tail -n 1 /usr/local/lib/ethnode/prelude.sh")).toBe("# an operator's edit"),
            },
            {
                what: "purge on destroy turned off (delete scripts only)",
                apply: () => configSet({ "ethnode:host.purgeOnDestroy": "false" }),
                steps: ["monitoring-install update", "monitoring-node-0-node-exporter update", "node-0-geth-install update", "node-0-host-prepare update"],
            },
        ];

        it.each(edits.map((e) => [e.what, e]))("%s", async (_what, edit) => {
            const gethBefore = mainPid("geth");
            edit.apply();
            const { steps, diff } = preview();
            expect(steps).toEqual(edit.steps);
            readable(diff);
            edit.diff?.(diff);
            up();
            await serving();
            if (edit.check) await edit.check();
            // The next edit's preview shows its own steps and nothing else: this one converged (the last one is
            // checked by the test after it).
            // Only an edit to Geth itself restarts it; the gateway is reloaded, never restarted.
            if (!edit.steps.some((s) => s.startsWith("node-0-geth-"))) expect(mainPid("geth")).toBe(gethBefore);
            expect(mainPid("ethnode-gateway")).toBe(gatewayMaster);
        });

        it("a forced replacement deletes the old step first, so the new one stays installed", async () => {
            expect(previewSteps()).toEqual([]);
            const out = pulumi(["up", "--yes", "--skip-preview", "--replace", pulumi(["stack", "--show-urns"]).match(/urn:pulumi:\S+::node-0-geth-service/)![0]]);
            expect(out).toMatch(/deleting original[\s\S]*node-0-geth-service[\s\S]*creating replacement/);
            await serving();
            expect(previewSteps()).toEqual([]);
        });
    });

    describe("every up converges the host, whatever happened before (step receipts)", () => {
        it("a hand edit of a managed file shows in the next preview as its step's update; up puts it back", async () => {
            expect(previewSteps()).toEqual([]);
            guest("sed -i 's/worker_connections [0-9]*;/worker_connections 64;/' $(readlink -f /etc/ethnode/gateway/current/nginx.conf) && systemctl reload ethnode-gateway");
            guest("echo https://hooks.example.invalid/by-hand > /etc/ethnode/alertmanager/secrets/slack_webhook");
            expect(previewSteps()).toEqual(["gateway-config update", "monitoring-alertmanager-secrets update"]);
            up();
            expect(guest("grep -c 'worker_connections 64;' $(readlink -f /etc/ethnode/gateway/current/nginx.conf) || true")).toBe("0");
            expect(guest("cat /etc/ethnode/alertmanager/secrets/slack_webhook")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/services\/sandbox\//);
            await serving();
            expect(previewSteps()).toEqual([]);
        });

        it("a failed up (a release that does not serve, rolled back on the host) is finished by the next up with the config reverted", async () => {
            const geth = mainPid("geth");
            // Something else holds the new metrics port: the release passes nginx -t, its reload cannot bind, the
            // health check meets the other listener, and the step rolls the gateway back and fails.
            guest(
                "printf '%s\\n' 'pid /tmp/hog.pid; error_log stderr; events {} http { access_log off; server { listen 127.0.0.1:9146; return 503; } }' >/tmp/hog.conf && " +
                    "systemd-run --unit=port-hog /usr/sbin/nginx -c /tmp/hog.conf -g 'daemon off;' >/dev/null 2>&1 && sleep 1",
            );
            configSet({ "ethnode:gateway.metricsPort": "9146" });
            const failed = run(["pulumi", "up", "--yes", "--skip-preview"]);
            expect(failed.status).not.toBe(0);
            expect(failed.stdout + failed.stderr).toMatch(/ethnode-gateway: release [0-9a-f]{16} was not healthy within 60s; rolled back to [0-9a-f]{16}/);
            guest("systemctl stop port-hog");
            await serving();
            configSet({ "ethnode:gateway.metricsPort": "9145" });
            // The failed step left no receipt: with the config as it was, the preview still runs it.
            expect(previewSteps()).toContain("gateway-config update");
            up();
            await serving();
            expect(previewSteps()).toEqual([]);
            expect(mainPid("geth")).toBe(geth);
        });
    });

    describe("chain data is never stranded", () => {
        it("refuses a dataDir edit at preview and at up with the key and what to do; the host is untouched, and reverting is a no-op", async () => {
            const geth = mainPid("geth");
            configSet({ "ethnode:host.dataDir": "/var/lib/ethnode2" });
            const p = run(["pulumi", "preview"]);
            const u = run(["pulumi", "up", "--yes", "--skip-preview"]);
            configSet({ "ethnode:host.dataDir": "/var/lib/ethnode" });
            for (const r of [p, u]) {
                expect(r.status).not.toBe(0);
                const out = r.stdout + r.stderr;
                expect(out).toContain("ethnode:host.dataDir cannot change on a deployed stack (/var/lib/ethnode → /var/lib/ethnode2)");
                expect(out).toContain("ethnode:host.dataDirMovedFrom");
                expect(out).not.toMatch(/unhandled exception|^\s+at /m);
            }
            expect(guest("test -e /var/lib/ethnode2 && echo created || echo absent")).toBe("absent");
            expect(mainPid("geth")).toBe(geth);
            await serving();
            expect(previewSteps()).toEqual([]);
        });

        it("refuses to swap Geth's database kind (gcMode) at up; Geth keeps running on its data", async () => {
            const geth = mainPid("geth");
            configSet({ "ethnode:geth.gcMode": "archive" });
            const u = run(["pulumi", "up", "--yes", "--skip-preview"]);
            configSet({ "ethnode:geth.gcMode": "full" });
            expect(u.status).not.toBe(0);
            expect(u.stdout + u.stderr).toContain("ethnode:geth.gcMode cannot change on a deployed stack (full → archive)");
            expect(mainPid("geth")).toBe(geth);
            expect(guest("tr '\\0' ' ' </proc/$(systemctl show geth -p MainPID --value)/cmdline")).toContain("--gcmode=full");
            await serving();
            expect(previewSteps()).toEqual([]);
        });
    });

    describe("bad config", () => {
        it("fails preview with the key and what was expected, and nothing else", () => {
            configSet({ "ethnode:gateway.ipRate": "0" });
            const r = run(["pulumi", "preview"]);
            configSet({ "ethnode:gateway.ipRate": "50" });
            expect(r.status).not.toBe(0);
            const out = r.stdout + r.stderr;
            expect(out).toContain("error: ethnode:gateway.ipRate must be an integer from 1 to 1000000; got 0");
            expect(out).not.toMatch(/unhandled exception|TSError|^\s+at /m);
            expect(previewSteps()).toEqual([]);
        });
    });

    describe("the real state and `pulumi destroy`", () => {
        it("keeps every secret out of every state file (history and backups too) in every encoding, ids included", () => {
            const state = stateFiles();
            expect(state.length).toBeGreaterThan(100000);
            const jwt = guest("cat /etc/ethnode/jwt.hex");
            const key = fs.readFileSync(KEY, "utf8");
            const keyBody = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
            // The dead man's switch URL is a secret too; the webhook written by hand on the host (the convergence test)
            // reached no state either: a receipt's read-back carries no file's content.
            const secrets = [jwt, keyBody.slice(0, 40), `${SLACK}/services/sandbox/rotated`, `${SLACK}/deadman/sandbox`, "sandbox-e2e-key-0123456789", "https://hooks.example.invalid/by-hand"];
            for (const s of secrets) {
                for (const form of secretEncodings(s)) expect({ secret: s.slice(0, 6), form, found: state.includes(form) }).toEqual({ secret: s.slice(0, 6), form, found: false });
            }
        });

        it("leaves no ethnode unit, user or file; keeps the chain data when purge is off", () => {
            pulumi(["destroy", "--yes", "--skip-preview"]);
            expect(guest("ls /etc/systemd/system/geth.service /etc/systemd/system/ethnode-gateway.service /usr/local/bin/ethnode /etc/ethnode /opt/ethnode /usr/local/lib/ethnode 2>/dev/null | wc -l")).toBe("0");
            expect(guest("getent passwd geth ethnode-gw | wc -l")).toBe("0");
            expect(guest("getent group geth ethnode-gw ethnode-jwt | wc -l")).toBe("0");
            expect(guest("systemctl is-active geth ethnode-gateway prometheus prometheus-alertmanager prometheus-node-exporter || true").split("\n")).toEqual(UNITS.map(() => "inactive"));
            expect(guest("test -d /var/lib/ethnode/geth/geth/chaindata && echo kept")).toBe("kept");
        });

        /** What `pulumi preview` of this release shows on a stack each earlier release deployed: updates in place and
         * new components around the running parts (which keep their identity through aliases); never a replace. */
        const UPGRADE_STEPS: Record<string, string[]> = {
            [PREVIOUS_RELEASES[0]]: [
                ...["gateway-config", "gateway-install", "gateway-keys", "monitoring-alertmanager-config", "monitoring-install", "monitoring-node-0-node-exporter", "monitoring-prometheus-config", "node-0-cli", "node-0-geth-install", "node-0-geth-service", "node-0-geth-upload", "node-0-host-prepare", "node-0-jwt-file"].map((n) => `${n} update`),
                "monitoring-alertmanager-secrets create",
                "node-0 create",
                "node-0-jwt-key create",
                "node-0-keeper create",
            ],
            // The gateway's backend list marks its own Geth; the CLI learned drain and gate; node_exporter reads the
            // keeper's metrics, and Prometheus has its rules; Prometheus lost its lifecycle API and Alertmanager's
            // config names every secret by file; host-prepare carries the prelude this suite's edit above appended to.
            // The keeper is new. Geth's unit renders its database settings on dev too.
            [PREVIOUS_RELEASES[1]]: [
                ...[
                    "gateway-config",
                    // The unit's restart policy and pre-start step: no restart of its own.
                    "gateway-install",
                    // Every step's script carries its receipt token; an upload's name carries its install's.
                    "gateway-keys",
                    "node-0-geth-install",
                    "node-0-geth-upload",
                    "node-0-cli",
                    "node-0-host-prepare",
                    "node-0-geth-service",
                    "monitoring-node-0-node-exporter",
                    "monitoring-prometheus-config",
                    "monitoring-install",
                    "monitoring-alertmanager-config",
                    // The sandbox now sets a dead man's switch URL (a secret of its own file).
                    "monitoring-alertmanager-secrets",
                    "node-0-jwt-file",
                ].map((n) => `${n} update`),
                "node-0-jwt-bytes delete",
                "node-0-jwt-key create",
                "node-0-keeper create",
            ],
            // Every step runs once more, to leave its receipt (its script carries the token; an upload's name its
            // install's); the JWT moves off RandomBytes.
            [PREVIOUS_RELEASES[2]]: [
                ...[
                    "gateway-config",
                    "gateway-install",
                    "gateway-keys",
                    "monitoring-alertmanager-config",
                    "monitoring-alertmanager-secrets",
                    "monitoring-install",
                    "monitoring-node-0-node-exporter",
                    "monitoring-prometheus-config",
                    "node-0-cli",
                    "node-0-geth-install",
                    "node-0-geth-service",
                    "node-0-geth-upload",
                    "node-0-host-prepare",
                    "node-0-jwt-file",
                    "node-0-keeper",
                ].map((n) => `${n} update`),
                "node-0-jwt-bytes delete",
                "node-0-jwt-key create",
            ],
        };
        // A clone without history (a shallow CI checkout) cannot check out an earlier release: say so, skip only that.
        for (const release of PREVIOUS_RELEASES) {
            const available = spawnSync("git", ["-C", ROOT, "cat-file", "-e", `${release}^{commit}`]).status === 0;
            if (!available) console.warn(`release ${release} is not in this clone's history: its upgrade test is skipped`);
            (available ? it : it.skip)(`a stack release ${release.slice(0, 7)} deployed onto the kept data upgrades in place`, async () => {
                const previous = path.join(work, `previous-${release.slice(0, 7)}`);
                execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", previous, release], { stdio: "ignore" });
                try {
                    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(previous, "node_modules"));
                    // The single-node stack of that release: from the release that has the fixture, its own copy
                    // (its tracked stack file runs several guests); before it, its tracked file was single-node.
                    const single = path.join(previous, "tests", "fixtures", "sandbox-single.yaml");
                    if (fs.existsSync(single)) fs.copyFileSync(single, path.join(previous, "Pulumi.sandbox.yaml"));
                    pulumi(["destroy", "--yes", "--skip-preview"]);
                    ok(run(["up"], undefined, previous), `sandbox up with release ${release}`);
                    await serving();
                    const pids = { geth: mainPid("geth"), gateway: mainPid("ethnode-gateway") };
                    const head = parseInt(await rpcOk("eth_blockNumber"), 16);
                    expect(previewSteps()).toEqual([...UPGRADE_STEPS[release]].sort());
                    const jwtBefore = guest("cat /etc/ethnode/jwt.hex");
                    if (JWT_MOVES.has(release)) {
                        up();
                    } else {
                        // Nothing restarts Geth or the gateway's master: reads through the node never fail.
                        const { load } = await underLoad(GATEWAY, 50, () => up());
                        expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
                        expect(load.sent).toBeGreaterThan(100);
                        expect(mainPid("geth")).toBe(pids.geth);
                    }
                    await serving();
                    expect(previewSteps()).toEqual([]);
                    // The chain went on from where it was: the data was kept.
                    expect(parseInt(await rpcOk("eth_blockNumber"), 16)).toBeGreaterThanOrEqual(head);
                    expect(guest("cat /etc/ethnode/jwt.hex")).toMatch(/^[0-9a-f]{64}$/);
                    // The JWT moves off RandomBytes (whose id is the key's base64): a new key, which Geth takes with one
                    // restart through the health gate. Nothing else restarts: the gateway's master serves on.
                    if (JWT_MOVES.has(release)) expect(guest("cat /etc/ethnode/jwt.hex")).not.toBe(jwtBefore);
                    else expect(guest("cat /etc/ethnode/jwt.hex")).toBe(jwtBefore);
                    expect(mainPid("ethnode-gateway")).toBe(pids.gateway);
                    // Nothing of the old layout is left: no upload waiting in the deployer's home, every step receipted,
                    // no release beyond what the release functions keep.
                    expect(guest("ls -A /root | grep -c '^\\.ethnode-upload-' || true")).toBe("0");
                    expect(guest("ls /var/lib/ethnode-steps | wc -l")).toBe(String(JSON.parse(pulumi(["stack", "export"])).deployment.resources.filter((r: { type: string }) => r.type === "command:remote:Command").length));
                    expect(Number(guest("ls -d /etc/ethnode/gateway/releases/* | wc -l"))).toBeLessThanOrEqual(3);
                    expect(JSON.parse(pulumi(["stack", "export"])).deployment.resources.filter((r: { type: string }) => r.type === "random:index/randomBytes:RandomBytes")).toEqual([]);
                } finally {
                    execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", previous], { stdio: "ignore" });
                }
            });
        }

        it("a deploy onto kept chain data takes it over; with purge on, destroy removes it", async () => {
            configSet({ "ethnode:host.purgeOnDestroy": "true" });
            up();
            await serving();
            // The kept data belongs to the new geth user (its uid may differ from the one that wrote it).
            expect(guest("find /var/lib/ethnode/geth ! -user geth | wc -l")).toBe("0");
            pulumi(["destroy", "--yes", "--skip-preview"]);
            expect(guest("ls -A /var/lib/ethnode 2>/dev/null | wc -l")).toBe("0");
        });
    });

    // Then the tracked sandbox stack: three nodes on three guests (tests/sandbox-ha.ts); then, where Prysm is
    // installed, the proof-of-stake sandbox (tests/sandbox-pos.ts).
    describeCluster();
    describePosSandbox();
});

/** Every file the file:// backend keeps for the stack: checkpoint, backups and history. */
function stateFiles(): string {
    const root = path.join(process.env.SANDBOX_DIR ?? "/var/tmp/ethnode-sandbox", "state");
    const files = fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    return files.map((d) => fs.readFileSync(path.join(d.parentPath, d.name), "utf8")).join("\n");
}
