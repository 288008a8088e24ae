/**
 * Every asset the program renders, per variant, produced by the same pure functions the components call.
 * Tests hand these to the tools that consume them (systemd-analyze, shellcheck) and snapshot them.
 */
import { parseConfig, Network, NETWORKS } from "../../components/config";
import { renderGethUnit } from "../../components/geth";
import { renderLighthouseUnit } from "../../components/lighthouse";
import { renderPrysmUnit } from "../../components/prysm";
import { BeaconDevnet } from "../../components/beacon";
import * as path from "path";
import { PUBLIC_TIMING } from "../../components/devnet";
import { renderFenceScript, renderKeysScript, renderRemoveKeysScript, renderValidatorUnit } from "../../components/validator";
import { renderInstallScript, renderServiceScript } from "../../components/client";
import { PRELUDE_DIR, activateRelease, effectiveScript } from "../../components/remote";
import { render, shq } from "../../components/render";
import { GATEWAY_ROOT, GATEWAY_USER, renderGatewayUnit } from "../../components/gateway";
import { KEEPER_METRICS_FILE, KEEPER_STATE_DIR, TEXTFILE_DIR, renderInstallKeeper, renderKeeperUnit } from "../../components/keeper";
import { JOURNAL_UPLOAD_CONF, JOURNAL_UPLOAD_OVERRIDE, LOG_RULES_ROOT, logsBinaries, renderInstallLogs, renderRemoveLogs, renderVictoriaLogsUnit, renderVmalertUnit } from "../../components/logs";
import { logsConfig } from "./monitoring";
import { TEST_DMS_URL, TEST_SLACK_WEBHOOK, TEST_SSH_KEY } from "./pulumi";

export const DATA_DIR = "/var/lib/ethnode";

/** A devnet's consensus-side view for the renders: two peers, this node's address, a checkpoint to sync from. */
export const DEVNET_TEST_BEACON: BeaconDevnet = {
    peers: ["/ip4/10.77.0.12/tcp/9000/p2p/16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY", "/ip4/10.77.0.13/tcp/9000/p2p/16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY"],
    hostIp: "10.77.0.11",
    checkpointSyncUrl: "http://10.77.0.12:8547",
};

export function configFor(network: Network) {
    const devnet = network === "devnet";
    return parseConfig({
        get: (k) =>
            ({
                network,
                host: { provider: "existing", address: "127.0.0.1" },
                geth: { version: "1.17.8", commit: "a5790770", sha256: "a".repeat(64) },
                lighthouse: network === "dev" || devnet ? undefined : { version: "8.2.2", sha256: "b".repeat(64) },
                consensusClient: devnet ? "prysm" : undefined,
                prysm: devnet ? { version: "7.1.6", sha256: "c".repeat(64) } : undefined,
                devnet: devnet ? { genesisDir: path.join(__dirname, "..", "fixtures", "devnet") } : undefined,
                sshPrivateKey: TEST_SSH_KEY,
                slackWebhookUrl: TEST_SLACK_WEBHOOK,
                deadMansSwitchUrl: network === "mainnet" ? TEST_DMS_URL : undefined,
            })[k],
        isSecret: () => true,
    });
}

/**
 * The geth settings of `configFor(network)` for a geth the tests start: only the cache is small. At the default
 * 4096 MB pebble preallocates 1.4 GB of write-ahead logs per datadir (five of 282 MB), and geth shuts itself
 * down when free disk falls below --cache.gc (25 %) of the cache; a test chain needs neither.
 */
export function runnableGeth(network: Network) {
    return { ...configFor(network).geth, cacheMb: 256 };
}

export interface Rendered {
    name: string;
    text: string;
}

export function units(): Rendered[] {
    const out: Rendered[] = [];
    for (const source of ["openresty", "debian"] as const) {
        out.push({ name: `ethnode-gateway-${source}.service`, text: renderGatewayUnit(source, `${DATA_DIR}/gateway`) });
    }
    out.push({ name: "ethnode-keeper.service", text: renderKeeperUnit() });
    out.push({ name: "victoria-logs.service", text: renderVictoriaLogsUnit(logsConfig("release"), ["10.0.1.24", "10.0.1.25"], "10.0.1.23") });
    out.push({ name: "vmalert.service", text: renderVmalertUnit({ logs: logsConfig("release"), monitoring: configFor("mainnet").monitoring, stack: "prod", network: "mainnet" }) });
    for (const network of NETWORKS) {
        const cfg = configFor(network);
        const devnet = cfg.devnet && { chainId: cfg.devnet.genesis.chainId, hostIp: DEVNET_TEST_BEACON.hostIp };
        out.push({ name: `geth-${network}.service`, text: renderGethUnit({ network, dataDir: DATA_DIR, geth: cfg.geth, devnet }) });
        if (network === "devnet") {
            out.push({
                name: "prysm-devnet.service",
                text: renderPrysmUnit({ network, dataDir: DATA_DIR, prysm: PRYSM_TEST_CONFIG, executionEndpoint: "http://127.0.0.1:8551", devnet: DEVNET_TEST_BEACON }),
            });
            out.push({ name: "prysm-validator-devnet.service", text: renderValidatorUnit({ network, dataDir: DATA_DIR, validator: VALIDATOR_TEST_CONFIG }) });
        }
        if (network !== "dev" && network !== "devnet" && cfg.lighthouse) {
            out.push({
                name: `lighthouse-${network}.service`,
                text: renderLighthouseUnit({
                    network,
                    dataDir: DATA_DIR,
                    lighthouse: cfg.lighthouse,
                    executionEndpoint: "http://127.0.0.1:8551",
                }),
            });
            out.push({
                name: `prysm-${network}.service`,
                text: renderPrysmUnit({ network, dataDir: DATA_DIR, prysm: { ...PRYSM_TEST_CONFIG, slasher: true }, executionEndpoint: "http://127.0.0.1:8551", monitorIndices: [1, 2] }),
            });
            out.push({ name: `prysm-validator-${network}.service`, text: renderValidatorUnit({ network, dataDir: DATA_DIR, validator: VALIDATOR_TEST_CONFIG }) });
        }
    }
    return out;
}

/** The validator's unit-relevant settings for the renders above. */
export const VALIDATOR_TEST_CONFIG = { feeRecipient: "0x00000000219ab540356cBB839Cbe05303d7705Fa", graffiti: "ethnode" };

/** Prysm's section with its defaults, for the unit renders above (checkpoint URL as mainnet's). */
export const PRYSM_TEST_CONFIG = { checkpointSyncUrl: "https://mainnet.checkpoint.sigp.io", maxPeers: 70 };

/** Each provisioning step as the host runs it (`text`: the prelude it sources, then its body) and its own `body`. */
export function scripts(): (Rendered & { body: string })[] {
    const step = (name: string, body: string, withFiles = false) => ({ name: `${name}.sh`, text: effectiveScript(name, body, withFiles), body });
    const b = { version: "1.17.8", source: "release" as const, url: "https://example.org/geth.tar.gz", sha256: "a".repeat(64) };
    const up = { version: "1.17.8", source: "upload" as const, sha256: "a".repeat(64), binaryPath: "/tmp/geth" };
    return [
        step("prepare-aws", render("scripts/prepare-host.sh", { dataDir: shq(DATA_DIR), volumeId: shq("vol-0123") })),
        step("prepare-existing", render("scripts/prepare-host.sh", { dataDir: shq(DATA_DIR), volumeId: shq("") })),
        step("cleanup-host", render("scripts/cleanup-host.sh", { purge: shq("true"), dataDir: shq(DATA_DIR), preludeDir: shq(PRELUDE_DIR) })),
        step("install-geth-release", renderInstallScript("geth", b, DATA_DIR)),
        step("install-geth-upload", renderInstallScript("geth", up, DATA_DIR)),
        step("remove-client", render("scripts/remove-client.sh", { client: shq("geth"), home: shq(`${DATA_DIR}/geth`), purge: shq("true") })),
        step("install-service", renderServiceScript("geth", b, 180, "0123abcd"), true),
        step("remove-service", render("scripts/remove-service.sh", { unit: shq("geth") })),
        step("install-jwt", render("scripts/install-jwt.sh", { path: shq("/etc/ethnode/jwt.hex"), jwtGroup: "ethnode-jwt", healthTimeout: 180 }), true),
        ...(["openresty", "debian"] as const).map((source) =>
            step(
                `install-gateway-${source}`,
                render("scripts/install-gateway.sh", { source: shq(source), user: shq(GATEWAY_USER), prefix: shq(`${DATA_DIR}/gateway`), root: shq(GATEWAY_ROOT) }),
                true,
            ),
        ),
        step(
            "activate-gateway-release",
            activateRelease({ root: GATEWAY_ROOT, unit: "ethnode-gateway", release: "0123abcd", check: `runuser -u ${GATEWAY_USER} -- /usr/sbin/nginx -t -q -c "\${dir}/nginx.conf"`, health: "curl -fsS -o /dev/null http://127.0.0.1:9145/metrics" }),
            true,
        ),
        step(
            "remove-gateway",
            render("scripts/remove-gateway.sh", { user: shq(GATEWAY_USER), prefix: shq(`${DATA_DIR}/gateway`), root: shq(GATEWAY_ROOT) }),
        ),
        step("install-node-exporter", render("scripts/install-node-exporter.sh", { listen: shq("127.0.0.1:9100"), textfileDir: shq(TEXTFILE_DIR) })),
        step("install-keeper", renderInstallKeeper(configFor("mainnet").keeper)),
        step("remove-keeper", render("scripts/remove-keeper.sh", { metricsFile: shq(KEEPER_METRICS_FILE), stateDir: shq(KEEPER_STATE_DIR) })),
        step(
            "install-monitoring",
            render("scripts/install-monitoring.sh", {
                prometheusArgs: shq("--config.file=/etc/ethnode/prometheus/current/prometheus.yml"),
                alertmanagerArgs: shq("--config.file=/etc/ethnode/alertmanager/current/alertmanager.yml --cluster.listen-address="),
                grafana: shq("true"),
                grafanaPlugin: shq("victoriametrics-logs-datasource"),
                grafanaPluginVersion: shq("0.16.1"),
                grafanaIni: shq("/etc/ethnode/grafana/current/grafana.ini"),
                roots: ["/etc/ethnode/prometheus", "/etc/ethnode/alertmanager", "/etc/ethnode/grafana"].map(shq).join(" "),
            }),
        ),
        step("remove-packages", render("scripts/remove-packages.sh", { units: shq("prometheus prometheus-alertmanager grafana-server"), purge: shq("true") })),
        step(
            "activate-prometheus-release",
            activateRelease({ root: "/etc/ethnode/prometheus", unit: "prometheus", release: "0123abcd", check: 'promtool check config "${dir}/prometheus.yml"', health: "curl -fsS -o /dev/null http://127.0.0.1:9090/-/ready" }),
            true,
        ),
        step("remove-jwt", render("scripts/remove-jwt.sh", { path: shq("/etc/ethnode/jwt.hex") })),
        step("fence-validator", renderFenceScript(PUBLIC_TIMING, DATA_DIR, [`0x${"ab".repeat(48)}`, `0x${"cd".repeat(48)}`])),
        step("install-validator-keys", renderKeysScript(DATA_DIR, [`0x${"ab".repeat(48)}`]), true),
        step("remove-validator-keys", renderRemoveKeysScript(DATA_DIR)),
        step("install-logs-release", renderInstallLogs(logsBinaries(logsConfig("release")), 9428, "10.0.1.23"), true),
        step("install-logs-upload", renderInstallLogs(logsBinaries(logsConfig("upload")), 9428), true),
        step("remove-logs", renderRemoveLogs(true)),
        step(
            "activate-log-rules-release",
            activateRelease({ root: LOG_RULES_ROOT, unit: "vmalert", release: "0123abcd", check: '/opt/ethnode/vmalert/current/vmalert -dryRun -rule.defaultRuleType=vlogs -rule="${dir}/log-rules.yml"', health: "curl -fsS -o /dev/null http://127.0.0.1:8880/health" }),
            true,
        ),
        step("install-journal-upload", render("scripts/install-journal-upload.sh", { url: "http://10.0.1.23:9428/insert/journald" }), true),
        step("remove-journal-upload", render("scripts/remove-journal-upload.sh", { purge: shq("true"), files: [JOURNAL_UPLOAD_CONF, JOURNAL_UPLOAD_OVERRIDE].map(shq).join(" ") })),
    ];
}
