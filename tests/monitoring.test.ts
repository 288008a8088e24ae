/**
 * Monitoring configs checked by the real tools: promtool (config, rules, unit tests for every alert),
 * amtool (config, routing), a running Prometheus for every dashboard query, and every alert's runbook.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { dashboardSpecs } from "../components/dashboards";
import { renderAlertRules, renderGrafanaFiles } from "../components/monitoring";
import { ROOT } from "./helpers/pulumi";
import { RULE_TEST_LOGS, RULE_TEST_NODES, RULE_TEST_VALUES, VARIANTS, monitoringConfig, writeVariant } from "./helpers/monitoring";
import { Proc, freePort, startProc, tmpDir, waitFor } from "./helpers/proc";
import { LIGHTHOUSE } from "../components/lighthouse";
import { PRYSM } from "../components/prysm";
import { PRYSM_VALIDATOR } from "../components/validator";

function run(cmd: string, args: string[]) {
    return spawnSync(cmd, args, { encoding: "utf8" });
}

interface Rule {
    alert?: string;
    record?: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

function alertsOf(text: string): Rule[] {
    const doc = yaml.load(text) as { groups: { rules: Rule[] }[] };
    return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert);
}

describe.each(VARIANTS.map((v) => [v.name, v] as const))("variant %s", (_name, variant) => {
    let files: ReturnType<typeof writeVariant>;
    beforeAll(() => {
        files = writeVariant(variant);
    });
    afterAll(() => fs.rmSync(files.dir, { recursive: true, force: true }));

    it("passes promtool check config (rules included)", () => {
        const r = run("promtool", ["check", "config", files.prometheus]);
        expect(r.stderr + r.stdout).toContain("SUCCESS");
        expect(r.status).toBe(0);
    });

    it("passes promtool check rules", () => {
        const r = run("promtool", ["check", "rules", path.join(files.dir, "alerts.yml"), path.join(files.dir, "recording.yml")]);
        expect(r.status).toBe(0);
    });

    it("passes amtool check-config", () => {
        const r = run("amtool", ["check-config", files.alertmanager]);
        expect(r.stdout).toContain("SUCCESS");
        expect(r.status).toBe(0);
    });

    it.each([
        ["alertname=Watchdog", "severity=info", "deadmans-switch"],
        ["alertname=ExecutionClientDown", "severity=critical", "critical"],
        ["alertname=HostDiskFillingUp", "severity=warning", "slack"],
        ["alertname=Other", "severity=info", "slack"],
    ])("routes %s %s to %s", (name, severity, receiver) => {
        const r = run("amtool", ["config", "routes", "test", `--config.file=${files.alertmanager}`, `--verify.receivers=${receiver}`, name, severity]);
        expect(r.stdout.trim()).toBe(receiver);
        expect(r.status).toBe(0);
    });

    it("sends resolved notifications and inhibits warnings by criticals on the same node (only alerts with a node)", () => {
        const doc = yaml.load(fs.readFileSync(files.alertmanager, "utf8")) as any;
        for (const rcv of doc.receivers.filter((x: any) => x.slack_configs && x.name !== "deadmans-switch")) {
            expect(rcv.slack_configs[0].send_resolved).toBe(true);
        }
        const throughGateway = variant.remote
            ? [{ source_matchers: ['alertname="GatewayDown"'], target_matchers: ['alertname=~"ExecutionClientDown|ConsensusClientDown|HostExporterDown"', 'scrape="gateway"'], equal: ["node"] }]
            : [];
        expect(doc.inhibit_rules).toEqual([{ source_matchers: ['severity="critical"', 'node=~".+"'], target_matchers: ['severity="warning"'], equal: ["node"] }, ...throughGateway]);
    });

    it("names every secret by its file: none is in the config Alertmanager would show on its API", () => {
        const text = fs.readFileSync(files.alertmanager, "utf8");
        expect(text).not.toMatch(/https?:\/\//);
        expect(text).toContain("api_url_file:");
        if (variant.deadMansSwitchUrl) {
            const dms = (yaml.load(text) as any).receivers.find((r: any) => r.name === "deadmans-switch");
            expect(dms.slack_configs[0].api_url_file).toMatch(/\/deadmans_switch_url$/);
        }
    });

    it("scrapes metrics endpoints, never the RPC or Beacon API ports", () => {
        const conf = fs.readFileSync(files.prometheus, "utf8");
        expect(conf).not.toMatch(/:(8545|8546|8551|5052)'/);
        const consensusJob = variant.network === "dev" ? undefined : (variant.consensus ?? LIGHTHOUSE).name;
        for (const c of ["lighthouse", "prysm"]) expect(conf.includes(`job_name: ${c}`)).toBe(c === consensusJob);
        // From a separate host everything goes through the gateway's metrics port; locally, straight to each exporter.
        expect(conf.includes("metrics_path: /metrics/geth")).toBe(Boolean(variant.remote));
        expect(conf.includes("metrics_path: /debug/metrics/prometheus")).toBe(!variant.remote);
    });
});

describe("alert rules", () => {
    const rendered = renderAlertRules(monitoringConfig(RULE_TEST_VALUES), LIGHTHOUSE, { nodes: RULE_TEST_NODES, logs: RULE_TEST_LOGS, network: "mainnet" });
    const rules = alertsOf(rendered);

    it("follow the conventions: severity, fixed summary, templated description, runbook_url", () => {
        expect(rules.length).toBeGreaterThanOrEqual(28);
        for (const r of rules) {
            expect(["critical", "warning", "info"]).toContain(r.labels?.severity);
            expect(r.annotations?.summary).toBeTruthy();
            expect(r.annotations?.summary).not.toContain("{{");
            if (r.alert !== "Watchdog") expect(r.annotations?.description).toContain("{{");
            expect(r.annotations?.runbook_url).toBe(`${RULE_TEST_VALUES.runbookBaseUrl}#${r.alert!.toLowerCase()}`);
        }
    });

    it("have a promtool test each: silent one step before, firing at `for` (a test fails the build when missing)", () => {
        const tests = yaml.load(fs.readFileSync(path.join(ROOT, "tests", "monitoring", "alerts_test.yml"), "utf8")) as any;
        const firing = new Set<string>();
        const silent = new Set<string>();
        for (const t of tests.tests) {
            for (const a of t.alert_rule_test) (a.exp_alerts.length ? firing : silent).add(a.alertname);
        }
        // One name may stand for several rules (one per job): each name is tested.
        const names = [...new Set(rules.map((r) => r.alert!))];
        expect([...firing].sort()).toEqual([...names].sort());
        expect([...silent].sort()).toEqual(names.filter((n) => n !== "Watchdog").sort());
    });

    it("pass their promtool unit tests", () => {
        const dir = tmpDir("ruletests");
        try {
            fs.writeFileSync(path.join(dir, "alerts.yml"), rendered);
            fs.copyFileSync(path.join(ROOT, "tests", "monitoring", "alerts_test.yml"), path.join(dir, "alerts_test.yml"));
            const r = run("promtool", ["test", "rules", path.join(dir, "alerts_test.yml")]);
            expect(r.stdout + r.stderr).toContain("SUCCESS");
            expect(r.status).toBe(0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("have peer-count alerts only where there are peers: none on dev (geth --dev has none)", () => {
        const names = (network: "mainnet" | "sepolia" | "dev") => alertsOf(renderAlertRules(monitoringConfig(RULE_TEST_VALUES), network !== "dev" ? LIGHTHOUSE : undefined, { network })).map((r) => r.alert);
        expect(names("mainnet")).toEqual(expect.arrayContaining(["ExecutionPeersLow", "ConsensusPeersLow"]));
        expect(names("sepolia")).toEqual(expect.arrayContaining(["ExecutionPeersLow", "ConsensusPeersLow"]));
        expect(names("dev").filter((n) => /Peers/.test(n!))).toEqual([]);
        // Nothing else differs on dev but the consensus client's alerts.
        const consensusOnly = names("mainnet").filter((n) => !names("dev").includes(n));
        // Geth's finalized block moves, and its engine API is called, only where a consensus client drives it: not on dev.
        expect(consensusOnly.filter((n) => !/^Consensus/.test(n!)).sort()).toEqual(["ExecutionEngineErrors", "ExecutionFinalizedStalled", "ExecutionPeersLow"]);
    });

    it("each link to a runbook section that exists", () => {
        const runbooks = fs.readFileSync(path.join(ROOT, "docs", "runbooks.md"), "utf8");
        const anchors = new Set([...runbooks.matchAll(/^#{2,4} (\S+)\s*$/gm)].map((m) => m[1].toLowerCase()));
        const missing = rules.map((r) => r.alert!.toLowerCase()).filter((a) => !anchors.has(a));
        expect(missing).toEqual([]);
    });

    it("use the clients' real metric names, none of seed 000's wrong ones", () => {
        const all = rules.map((r) => r.expr).join("\n");
        for (const name of ["chain_head_block", "rpc_duration_engine_.+_failure_count", "p2p_peers", "beacon_head_slot", "slotclock_present_slot", "beacon_finalized_epoch", "libp2p_peers", "sync_eth2_synced"]) {
            expect(all).toContain(name);
        }
        for (const wrong of ["beacon_chain_head_slot", "beacon_peer_count", "validator_attestation_failures_total"]) expect(all).not.toContain(wrong);
    });
});

/** `file` (tests/monitoring/) tests exactly the alerts `names`, and promtool passes them against `rendered`. */
function expectPromtoolCases(rendered: string, file: string, names: string[]): void {
    const cases = path.join(ROOT, "tests", "monitoring", file);
    const tests = yaml.load(fs.readFileSync(cases, "utf8")) as any;
    const tested = new Set<string>(tests.tests.flatMap((t: any) => t.alert_rule_test.map((a: any) => a.alertname)));
    expect([...tested].sort()).toEqual([...names].sort());
    const dir = tmpDir("ruletests");
    try {
        fs.writeFileSync(path.join(dir, "alerts.yml"), rendered);
        fs.copyFileSync(cases, path.join(dir, "alerts_test.yml"));
        const r = run("promtool", ["test", "rules", path.join(dir, "alerts_test.yml")]);
        expect(r.stdout + r.stderr).toContain("SUCCESS");
        expect(r.status).toBe(0);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("alert rules for Prysm", () => {
    const rendered = renderAlertRules(monitoringConfig(RULE_TEST_VALUES), PRYSM, { nodes: RULE_TEST_NODES, logs: RULE_TEST_LOGS, network: "mainnet" });
    const consensus = alertsOf(rendered).filter((r) => r.alert!.startsWith("Consensus"));

    it("select Prysm's own series by its job, and leave out what it does not export", () => {
        const exprs = consensus.map((r) => String(r.expr)).join("\n");
        expect(exprs).toContain('beacon_clock_time_slot{job="prysm"}');
        expect(exprs).toContain('p2p_peer_count{state="Connected",job="prysm"}');
        expect(exprs).not.toMatch(/lighthouse|slotclock_present_slot|libp2p_peers|sync_eth2_synced/);
        expect(consensus.map((r) => r.alert)).not.toContain("ConsensusStillSyncing");
        for (const r of consensus) expect(JSON.stringify(r.annotations)).not.toContain("Lighthouse");
    });

    it("have a promtool test each, and pass them", () => {
        expectPromtoolCases(rendered, "alerts_prysm_test.yml", consensus.map((r) => r.alert!));
    });
});

describe("alert rules for a validating Prysm stack", () => {
    // One-minute epochs: the promtool cases read in minutes.
    const scope = { spec: PRYSM_VALIDATOR, signers: 2, monitored: true, slasher: true, epochSeconds: 60 };
    const rendered = renderAlertRules(monitoringConfig(RULE_TEST_VALUES), PRYSM, { nodes: RULE_TEST_NODES, logs: RULE_TEST_LOGS, network: "mainnet", validator: scope });
    const validator = alertsOf(rendered).filter((r) => /^(Validator|Slashing)/.test(r.alert!));

    it("have a promtool test each, and pass them", () => {
        expect(validator).toHaveLength(6);
        expectPromtoolCases(rendered, "alerts_validator_test.yml", validator.map((r) => r.alert!));
    });

    it("without watched indices, alert on the balance from the signer's own series, tested too", () => {
        const unwatched = renderAlertRules(monitoringConfig(RULE_TEST_VALUES), PRYSM, { network: "mainnet", validator: { ...scope, monitored: false } });
        expect(unwatched).not.toContain("ethnode_validator_balance_gwei");
        expectPromtoolCases(unwatched, "alerts_validator_unwatched_test.yml", ["ValidatorBalanceFalling"]);
    });

    it("leave out what the stack does not run: no index watch, no slasher, no validator", () => {
        const names = (v?: typeof scope) => alertsOf(renderAlertRules(monitoringConfig(RULE_TEST_VALUES), PRYSM, { network: "mainnet", validator: v })).map((r) => r.alert!);
        const bare = names({ ...scope, monitored: false, slasher: false });
        expect(bare.filter((n) => /^(Validator|Slashing)/.test(n)).sort()).toEqual(["ValidatorAttestationsFailing", "ValidatorBalanceFalling", "ValidatorClientDown", "ValidatorMissedProposals"]);
        expect(names().filter((n) => /^(Validator|Slashing)/.test(n))).toEqual([]);
    });

    it("expect a validator target per signer node, and its key series, with windows in the network's epochs", () => {
        const mainnet = renderAlertRules(monitoringConfig(RULE_TEST_VALUES), PRYSM, { network: "mainnet", validator: { ...scope, epochSeconds: 384 } });
        expect(mainnet).toContain('(count(up{job="prysm-validator"}) or vector(0)) < 2');
        expect(mainnet).toContain('validator_statuses{job="prysm-validator"}');
        expect(mainnet).toContain('increase(monitor_timely_target{job="prysm"}[768s]) == 0');
        expect(mainnet).toContain('max by (validator_index) (delta(ethnode_validator_balance_gwei{job="node"}[576s])) < 0');
        expect(mainnet).not.toContain("validator_balance{");
    });
});

describe("Grafana", () => {
    it("provisions the Prometheus data source and a dashboard per area, as valid JSON", () => {
        const files = renderGrafanaFiles(monitoringConfig(), LIGHTHOUSE, "/etc/ethnode/grafana/admin_password");
        expect(files["provisioning/datasources/ethnode.yml"]).toContain("uid: ethnode-prometheus");
        expect(files["grafana.ini"]).toContain("admin_password = $__file{/etc/ethnode/grafana/admin_password}");
        expect(files["grafana.ini"]).toContain("http_addr = 127.0.0.1");
        const dashboards = Object.keys(files).filter((f) => f.startsWith("dashboards/"));
        expect(dashboards.sort()).toEqual(
            ["ethnode-gateway", "ethnode-geth", "ethnode-host", "ethnode-lighthouse", "ethnode-overview"].map((d) => `dashboards/${d}.json`),
        );
        for (const d of dashboards) expect(JSON.parse(files[d]).panels.length).toBeGreaterThan(0);
    });

    it("give a validating stack its validator dashboard and a row per role on the overview", () => {
        const titles = (d: string) => JSON.parse(d).panels.map((p: { title: string }) => p.title);
        const signing = renderGrafanaFiles(monitoringConfig(), PRYSM, "/p", undefined, PRYSM_VALIDATOR);
        expect(titles(signing["dashboards/ethnode-validator.json"])).toEqual(
            expect.arrayContaining(["Validator clients up", "Timely target votes (beacon node's view)", "Balance", "Slashable messages seen (slasher)"]),
        );
        expect(titles(signing["dashboards/ethnode-overview.json"])).toEqual(expect.arrayContaining(["Execution head", "Consensus head slot", "Validator clients up"]));
        const plain = renderGrafanaFiles(monitoringConfig(), PRYSM, "/p");
        expect(plain["dashboards/ethnode-validator.json"]).toBeUndefined();
        expect(titles(plain["dashboards/ethnode-overview.json"])).not.toContain("Validator clients up");
    });

    describe("every dashboard query parses and evaluates on a real Prometheus", () => {
        let prom: Proc;
        let url: string;
        let dir: string;
        beforeAll(async () => {
            dir = tmpDir("prom-dash");
            const { prometheus } = writeVariant(VARIANTS[0], dir);
            const port = await freePort();
            url = `http://127.0.0.1:${port}`;
            prom = startProc(
                "prometheus",
                [`--config.file=${prometheus}`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`],
                path.join(dir, "prometheus.log"),
            );
            await waitFor("prometheus", async () => ((await fetch(`${url}/-/ready`)).status === 200 ? true : undefined));
        });
        afterAll(async () => {
            await prom?.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        const specs = [...dashboardSpecs(LIGHTHOUSE), ...dashboardSpecs(PRYSM, PRYSM_VALIDATOR).filter((d) => ["ethnode-prysm", "ethnode-validator", "ethnode-overview"].includes(d.uid))];
        const queries = specs.flatMap((d) => d.panels.flatMap((p) => p.exprs.map((e) => [`${d.uid} / ${p.title}`, e.expr])));
        it.each(queries)("%s", async (_panel, expr) => {
            const q = expr.replace(/\$node/g, ".*");
            const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
            const body: any = await res.json();
            expect({ status: body.status, error: body.error }).toEqual({ status: "success", error: undefined });
        });
    });
});

describe("tool versions", () => {
    it("are the packaged ones the tests were written against", () => {
        expect(execFileSync("promtool", ["--version"], { encoding: "utf8" })).toMatch(/version 2\./);
    });
});
