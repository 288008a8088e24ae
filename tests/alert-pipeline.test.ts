/**
 * The whole alert path, live on loopback: real node_exporter (the target), real Prometheus (1 s scrape and
 * evaluation) with the rendered HostExporterDown rule (its `for` shortened to 2 s), real Alertmanager with the
 * rendered config and Slack templates, and a local HTTP receiver standing in for Slack. Stop the target →
 * a Slack-format FIRING message; start it again → the RESOLVED one. Timings are printed for the notes.
 */
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import * as yaml from "js-yaml";
import { renderAlertRules, renderAlertmanagerConfig, renderPrometheusConfig, renderRecordingRules } from "../components/monitoring";
import { readAsset } from "../components/render";
import { monitoringConfig } from "./helpers/monitoring";
import { Proc, freePort, startProc, tmpDir, waitFor } from "./helpers/proc";


jest.setTimeout(120000);

interface SlackMessage {
    channel: string;
    attachments: { title: string; text: string; color: string }[];
}

describe("alert pipeline: target down → Slack → resolved", () => {
    let dir: string;
    const procs: Proc[] = [];
    let exporter: Proc;
    let receiver: http.Server;
    const messages: { at: number; body: SlackMessage }[] = [];
    let ports: { exporter: number; prom: number; am: number; slack: number };

    const startExporter = () =>
        startProc(
            "prometheus-node-exporter",
            [`--web.listen-address=127.0.0.1:${ports.exporter}`, "--no-collector.systemd", "--collector.disable-defaults", "--collector.loadavg"],
            path.join(dir, "exporter.log"),
        );

    beforeAll(async () => {
        dir = tmpDir("pipeline");
        ports = { exporter: await freePort(), prom: await freePort(), am: await freePort(), slack: await freePort() };
        receiver = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                messages.push({ at: Date.now(), body: JSON.parse(body) });
                res.end("ok");
            });
        });
        await new Promise<void>((r) => receiver.listen(ports.slack, "127.0.0.1", () => r()));

        const m = monitoringConfig({
            scrapeIntervalSec: 1,
            evaluationIntervalSec: 1,
            groupWaitSec: 1,
            groupIntervalSec: 1,
            repeatIntervalSec: 3600,
            prometheusPort: ports.prom,
            alertmanagerPort: ports.am,
            nodeExporterPort: ports.exporter,
        });
        fs.writeFileSync(
            path.join(dir, "prometheus.yml"),
            renderPrometheusConfig({
                consensus: undefined,
                stack: "pipeline",
                network: "dev",
                monitoring: m,
                nodes: [{ name: "node-0", targets: { node: `127.0.0.1:${ports.exporter}`, geth: "127.0.0.1:1" } }],
                gateways: [],
                monitorNode: "node-0",
            }).replace(/  - job_name: gateway\n    static_configs:\n/, ""),
        );
        // The real rule, only its `for` shortened so the test takes seconds.
        const rules = yaml.load(renderAlertRules(m, undefined)) as any;
        const rule = rules.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === "HostExporterDown");
        rule.for = "2s";
        fs.writeFileSync(path.join(dir, "alerts.yml"), yaml.dump({ groups: [{ name: "live", rules: [rule] }] }));
        fs.writeFileSync(path.join(dir, "recording.yml"), renderRecordingRules(undefined));
        fs.mkdirSync(path.join(dir, "secrets"));
        fs.writeFileSync(path.join(dir, "secrets", "slack_webhook"), `http://127.0.0.1:${ports.slack}/services/T/B/x`);
        fs.writeFileSync(path.join(dir, "ethnode.tmpl"), readAsset("monitoring/ethnode.tmpl"));
        fs.writeFileSync(
            path.join(dir, "alertmanager.yml"),
            renderAlertmanagerConfig({ monitoring: m, secretsDir: path.join(dir, "secrets"), templatesDir: dir }),
        );

        exporter = startExporter();
        procs.push(
            startProc(
                "prometheus-alertmanager",
                [
                    `--config.file=${dir}/alertmanager.yml`,
                    `--storage.path=${dir}/am`,
                    `--web.listen-address=127.0.0.1:${ports.am}`,
                    "--cluster.listen-address=",
                ],
                path.join(dir, "alertmanager.log"),
            ),
        );
        procs.push(
            startProc(
                "prometheus",
                [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/prom`, `--web.listen-address=127.0.0.1:${ports.prom}`],
                path.join(dir, "prometheus.log"),
            ),
        );
        await waitFor(
            "node target up",
            async () => {
                const r: any = await (await fetch(`http://127.0.0.1:${ports.prom}/api/v1/query?query=up{job="node"}`)).json();
                return r.data?.result?.[0]?.value?.[1] === "1" ? true : undefined;
            },
            30000,
        );
    });

    afterAll(async () => {
        for (const p of [exporter, ...procs]) await p?.stop();
        receiver?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("posts FIRING to Slack when the target stops, then RESOLVED when it is back", async () => {
        const stoppedAt = Date.now();
        await exporter.stop();
        const firing = await waitFor(
            "firing message",
            async () => messages.find((m) => m.body.attachments?.[0]?.title.startsWith("[FIRING:1] HostExporterDown")),
            60000,
        );
        const startedAt = Date.now();
        exporter = startExporter();
        const resolved = await waitFor(
            "resolved message",
            async () => messages.find((m) => m.body.attachments?.[0]?.title.startsWith("[RESOLVED] HostExporterDown")),
            60000,
        );

        // Slack's incoming-webhook shape, with our title and text.
        expect(firing.body.channel).toBe("#ethnode-alerts");
        const a = firing.body.attachments[0];
        expect(a.title).toBe("[FIRING:1] HostExporterDown on node-0");
        expect(a.text).toContain("*WARNING* `HostExporterDown` on node-0");
        expect(a.text).toContain("node_exporter is down: Host metrics of node-0");
        expect(a.text).toContain("Runbook: docs/runbooks.md#hostexporterdown");
        expect(resolved.body.attachments[0].text).toContain("*RESOLVED* `HostExporterDown` on node-0");

        // Figures for the notes, not assertions.
        console.log(
            `alert pipeline: target stopped → Slack FIRING in ${((firing.at - stoppedAt) / 1000).toFixed(1)} s; ` +
                `target started → Slack RESOLVED in ${((resolved.at - startedAt) / 1000).toFixed(1)} s ` +
                "(1 s scrape/evaluation, for: 2s, group_wait/interval 1 s)",
        );
    });
});

describe("Alertmanager with the rendered config, alerts posted to its API", () => {
    let dir: string;
    let am: Proc;
    let receiver: http.Server;
    const got: { at: number; url: string; body: SlackMessage }[] = [];
    let amUrl: string;
    let slackUrl: string;
    const dmsUrl = (port: number) => `http://127.0.0.1:${port}/dead-mans-switch/secret-token-0123`;

    beforeAll(async () => {
        dir = tmpDir("am-api");
        const ports = { am: await freePort(), slack: await freePort() };
        receiver = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                got.push({ at: Date.now(), url: req.url ?? "", body: JSON.parse(body) });
                res.end("ok");
            });
        });
        await new Promise<void>((r) => receiver.listen(ports.slack, "127.0.0.1", () => r()));
        slackUrl = `http://127.0.0.1:${ports.slack}/services/T/B/secret-webhook`;
        fs.mkdirSync(path.join(dir, "secrets"));
        fs.writeFileSync(path.join(dir, "secrets", "slack_webhook"), slackUrl);
        fs.writeFileSync(path.join(dir, "secrets", "deadmans_switch_url"), dmsUrl(ports.slack));
        fs.writeFileSync(path.join(dir, "ethnode.tmpl"), readAsset("monitoring/ethnode.tmpl"));
        const m = monitoringConfig({ groupWaitSec: 1, groupIntervalSec: 1 });
        fs.writeFileSync(
            path.join(dir, "alertmanager.yml"),
            renderAlertmanagerConfig({ monitoring: m, secretsDir: path.join(dir, "secrets"), templatesDir: dir, deadMansSwitch: true, scrapedThroughGateway: true }),
        );
        amUrl = `http://127.0.0.1:${ports.am}`;
        am = startProc(
            "prometheus-alertmanager",
            [`--config.file=${dir}/alertmanager.yml`, `--storage.path=${dir}/am`, `--web.listen-address=127.0.0.1:${ports.am}`, "--cluster.listen-address="],
            path.join(dir, "alertmanager.log"),
        );
        await waitFor("alertmanager", async () => ((await fetch(`${amUrl}/-/ready`)).status === 200 ? true : undefined));
    });

    afterAll(async () => {
        await am?.stop();
        receiver?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const post = (alerts: Record<string, string>[]) =>
        fetch(`${amUrl}/api/v2/alerts`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(alerts.map((labels) => ({ labels, annotations: { summary: labels.alertname, description: "test", runbook_url: "x" } }))),
        });

    it("shows no secret URL on its API: every one is a file", async () => {
        const status: any = await (await fetch(`${amUrl}/api/v2/status`)).json();
        expect(status.config.original).not.toContain("secret-webhook");
        expect(status.config.original).not.toContain("secret-token");
        expect(status.config.original).toContain("deadmans_switch_url");
    });

    it("sends the Watchdog to the dead man's switch URL read from its file", async () => {
        expect((await post([{ alertname: "Watchdog", severity: "info" }])).status).toBe(200);
        const ping = await waitFor("the dead man's switch pinged", async () => got.find((g) => g.url === "/dead-mans-switch/secret-token-0123"), 30000);
        expect(ping.body.attachments[0].title).toBe("Watchdog");
    });

    it("makes a gateway outage on a node scraped through it one alert: its cause", async () => {
        const node = { node: "node-1", instance: "10.0.1.24:9145" };
        expect(
            (
                await post([
                    { alertname: "GatewayDown", severity: "critical", job: "gateway", ...node },
                    { alertname: "ExecutionClientDown", severity: "critical", job: "geth", scrape: "gateway", ...node },
                    { alertname: "HostExporterDown", severity: "warning", job: "node", scrape: "gateway", ...node },
                    // The same alert on a node scraped locally is its own cause: not inhibited.
                    { alertname: "ExecutionClientDown", severity: "critical", job: "geth", node: "node-0", instance: "127.0.0.1:6060" },
                ])
            ).status,
        ).toBe(200);
        const alerts: any[] = await waitFor("inhibition applied", async () => {
            const a = (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as any[];
            return a.filter((x) => x.status.inhibitedBy.length > 0).length === 2 ? a : undefined;
        });
        const state = Object.fromEntries(alerts.filter((a) => a.labels.alertname !== "Watchdog").map((a) => [`${a.labels.alertname}@${a.labels.node}`, a.status.state]));
        expect(state).toEqual({
            "GatewayDown@node-1": "active",
            "ExecutionClientDown@node-1": "suppressed",
            "HostExporterDown@node-1": "suppressed",
            "ExecutionClientDown@node-0": "active",
        });
        await waitFor("Slack notified", async () => (got.some((g) => g.body.attachments?.[0]?.title.includes("GatewayDown")) ? true : undefined), 30000);
        await new Promise((r) => setTimeout(r, 3000));
        const titles = got.filter((g) => g.url.startsWith("/services/")).map((g) => g.body.attachments[0].title);
        expect(titles.some((t) => t.includes("ExecutionClientDown on node-1"))).toBe(false);
        expect(titles.some((t) => t.includes("HostExporterDown"))).toBe(false);
        expect(titles.some((t) => t.includes("GatewayDown on node-1"))).toBe(true);
        expect(titles.some((t) => t.includes("ExecutionClientDown on node-0"))).toBe(true);
    });

    it("names the host of a log alert (no node, no instance), and a stack-wide alert by itself", async () => {
        expect(
            (
                await post([
                    { alertname: "JwtRejected", severity: "critical", host: "ethnode-n2" },
                    { alertname: "ValidatorBalanceFalling", severity: "warning", validator_index: "51" },
                ])
            ).status,
        ).toBe(200);
        const about = (name: string) => waitFor(`${name} at Slack`, async () => got.find((g) => g.body.attachments?.[0]?.title.includes(name))?.body.attachments[0], 30000);
        const log = await about("JwtRejected");
        expect(log.title).toBe("[FIRING:1] JwtRejected on ethnode-n2");
        expect(log.text.split("\n")[0]).toBe("*CRITICAL* `JwtRejected` on ethnode-n2");
        const stack = await about("ValidatorBalanceFalling");
        expect(stack.title).toBe("[FIRING:1] ValidatorBalanceFalling");
        expect(stack.text.split("\n")[0]).toBe("*WARNING* `ValidatorBalanceFalling`");
    });
});
