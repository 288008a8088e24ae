/**
 * Central logs: every host's journal goes to VictoriaLogs on the monitoring host (systemd-journal-upload), and
 * vmalert evaluates the log rules there into the same Alertmanager as Prometheus. Renderers are pure; the
 * component installs both programs (pinned and verified like the clients), the rules as a checked release, and
 * the upload on every host.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { stepToken } from "./receipts";
import { ClientBinary, binaryPath, clientBinary, programRoot, resolveBinary, uploadBinary, uploadName } from "./client";
import { LogsConfig, MonitoringConfig, Network } from "./config";
import { GATEWAY_UNIT } from "./gateway";
import { localAddress } from "./monitoring";
import { LOOPBACK } from "./ports";
import { Connection, activateRelease, hostStep, releaseHostFiles, releaseId } from "./remote";
import { readAsset, render, renderHardening, seconds, shq } from "./render";
import { EXECUTION } from "./roles";
import { ClientRole } from "./client";

/** Where vmalert's rules releases live (activate-release.sh swaps `current`). */
export const LOG_RULES_ROOT = "/etc/ethnode/logs";

/** The two programs central logs installs: each its own user, whose home is the one directory its unit writes. */
export const LOG_PROGRAMS = {
    victoriaLogs: { name: "victoria-logs", user: "victoria-logs", home: "/var/lib/victoria-logs", member: "victoria-logs-prod" },
    // vmalert keeps nothing: its home is only its unit's writable path.
    vmalert: { name: "vmalert", user: "vmalert", home: "/var/lib/vmalert", member: "vmalert-prod" },
} as const;
type LogProgram = keyof typeof LOG_PROGRAMS;

/** systemd-journal-upload's own config drop-in and its unit's, on every host. */
export const JOURNAL_UPLOAD_CONF = "/etc/systemd/journal-upload.conf.d/ethnode.conf";
export const JOURNAL_UPLOAD_OVERRIDE = "/etc/systemd/system/systemd-journal-upload.service.d/ethnode.conf";

/** Rows become searchable about a second after they arrive; a rule looks at the window ending this long ago. */
const EVAL_DELAY = "5s";
/** ConsensusLostExecutionEngine: Lighthouse checks the engine about once a slot, so this many failed checks in
 * the window are an outage of a minute or more, not a Geth restart. */
const UPCHECK_LINES = 5;

export function renderLogRules(input: { logs: LogsConfig; monitoring: MonitoringConfig; consensus: ClientRole | undefined }): string {
    return render("monitoring/log-rules.yml", {
        window: seconds(input.logs.windowSec),
        interval: seconds(input.monitoring.evaluationIntervalSec),
        evalDelay: EVAL_DELAY,
        upcheckLines: UPCHECK_LINES,
        runbookBase: input.monitoring.runbookBaseUrl,
        consensus: input.consensus !== undefined,
        consensusTitle: input.consensus?.title,
        units: { execution: `${EXECUTION.name}.service`, consensus: input.consensus && `${input.consensus.name}.service`, gateway: `${GATEWAY_UNIT}.service` },
    });
}

/** VictoriaLogs' command line: loopback, plus `privateAddress` when other hosts ship to it. */
export function victoriaLogsArgs(logs: LogsConfig, dataDir: string, privateAddress?: string): string[] {
    return [
        `-storageDataPath=${dataDir}`,
        `-httpListenAddr=${LOOPBACK}:${logs.port}`,
        ...(privateAddress ? [`-httpListenAddr=${privateAddress}:${logs.port}`] : []),
        `-retentionPeriod=${logs.retentionDays}d`,
        `-retention.maxDiskSpaceUsageBytes=${logs.maxDiskGb}GiB`,
        // The sender's address beside its host name: names can repeat, addresses on the private network do not.
        "-journald.useRemoteIP",
    ];
}

/** vmalert's command line, the same for the host and for the tests that evaluate the rules. */
export function vmalertArgs(a: { rulesFile: string; victoriaLogs: string; alertmanager: string; listen: string; evaluationIntervalSec: number; stack: string; network: Network }): string[] {
    return [
        `-rule=${a.rulesFile}`,
        "-rule.defaultRuleType=vlogs",
        `-datasource.url=${a.victoriaLogs}`,
        `-notifier.url=${a.alertmanager}`,
        `-httpListenAddr=${a.listen}`,
        `-evaluationInterval=${seconds(a.evaluationIntervalSec)}`,
        // The labels Prometheus puts on its alerts (prometheus.yml external_labels): one routing for both.
        `-external.label=ethnode_stack=${a.stack}`,
        `-external.label=network=${a.network}`,
    ];
}

export function renderVictoriaLogsUnit(logs: LogsConfig, allow: string[], privateAddress?: string): string {
    return render("systemd/victoria-logs.service", {
        user: LOG_PROGRAMS.victoriaLogs.user,
        binary: binaryPath(LOG_PROGRAMS.victoriaLogs.name),
        args: victoriaLogsArgs(logs, LOG_PROGRAMS.victoriaLogs.home, privateAddress).join(" "),
        allow: ["localhost", ...allow].join(" "),
        hardening: renderHardening(LOG_PROGRAMS.victoriaLogs.home),
    });
}

export function renderVmalertUnit(a: { logs: LogsConfig; monitoring: MonitoringConfig; stack: string; network: Network }): string {
    const bind = localAddress(a.monitoring);
    return render("systemd/vmalert.service", {
        user: LOG_PROGRAMS.vmalert.user,
        // Alertmanager on another of this host's addresses (monitoring.bindAddress) is outside `localhost`.
        allow: ["localhost", ...(bind === LOOPBACK ? [] : [bind])].join(" "),
        binary: binaryPath(LOG_PROGRAMS.vmalert.name),
        args: vmalertArgs({
            rulesFile: `${LOG_RULES_ROOT}/current/log-rules.yml`,
            victoriaLogs: `http://${LOOPBACK}:${a.logs.port}`,
            alertmanager: `http://${bind}:${a.monitoring.alertmanagerPort}`,
            listen: `${LOOPBACK}:${a.logs.vmalertPort}`,
            evaluationIntervalSec: a.monitoring.evaluationIntervalSec,
            stack: a.stack,
            network: a.network,
        }).join(" "),
        hardening: renderHardening(LOG_PROGRAMS.vmalert.home),
    });
}

/** Where a host's journal goes: VictoriaLogs' journald endpoint (systemd-journal-upload appends /upload). */
export function journalUploadUrl(address: string, port: number): string {
    return `http://${address}:${port}/insert/journald`;
}

export const renderJournalUploadConf = (url: string) => render("monitoring/journal-upload.conf", { url });

/** The two binaries from the logs section, each defaulting to its project's official release archive and resolved
 * (an upload's sha256 is computed here). */
export function logsBinaries(logs: LogsConfig): Record<LogProgram, ClientBinary & { sha256: string }> {
    const v = logs.victoriaLogsVersion;
    const m = logs.vmalertVersion;
    return {
        victoriaLogs: resolveBinary(
            clientBinary(
                { version: v, source: logs.victoriaLogsSource, url: logs.victoriaLogsUrl, sha256: logs.victoriaLogsSha256, binaryPath: logs.victoriaLogsBinaryPath },
                `https://github.com/VictoriaMetrics/VictoriaLogs/releases/download/v${v}/victoria-logs-linux-amd64-v${v}.tar.gz`,
            ),
        ),
        vmalert: resolveBinary(
            clientBinary(
                { version: m, source: logs.vmalertSource, url: logs.vmalertUrl, sha256: logs.vmalertSha256, binaryPath: logs.vmalertBinaryPath },
                `https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v${m}/vmutils-linux-amd64-v${m}.tar.gz`,
            ),
        ),
    };
}

/** Each program's paths and user as the host scripts take them. */
function programViews(bins?: Record<LogProgram, ClientBinary>, token = "") {
    return (Object.keys(LOG_PROGRAMS) as LogProgram[]).map((key) => {
        const p = LOG_PROGRAMS[key];
        const b = bins?.[key];
        return {
            key,
            name: p.name,
            root: shq(programRoot(p.name)),
            user: shq(p.user),
            home: shq(p.home),
            member: shq(p.member),
            ...(b && {
                version: shq(b.version),
                sha256: shq(b.sha256),
                url: shq(b.source === "release" ? (b.url ?? "") : ""),
                upload: shq(uploadName(p.name, b, token)),
            }),
        };
    });
}

/** `bins` from logsBinaries; `privateAddress`: where other hosts ship to, when they do; `token`: the step's. */
export function renderInstallLogs(bins: Record<LogProgram, ClientBinary>, port: number, privateAddress?: string, token = ""): string {
    const programs = programViews(bins, token);
    return render("scripts/install-logs.sh", {
        programs,
        ...Object.fromEntries(programs.map((p) => [p.key, p])),
        rulesRoot: shq(LOG_RULES_ROOT),
        port,
        privateAddress: shq(privateAddress ?? ""),
    });
}

export function renderRemoveLogs(purge: boolean): string {
    return render("scripts/remove-logs.sh", { purge: shq(String(purge)), programs: programViews(), rulesRoot: shq(LOG_RULES_ROOT) });
}

export interface CentralLogsArgs {
    stack: string;
    network: Network;
    logs: LogsConfig;
    monitoring: MonitoringConfig;
    /** The stack's consensus client; undefined on dev. */
    consensus: ClientRole | undefined;
    /** The monitoring host. */
    connection: pulumi.Input<Connection>;
    /** The monitoring host's private address, when other hosts ship to it. */
    privateAddress?: pulumi.Input<string>;
    /** Every host whose journal is shipped: the nodes and a separate monitoring host. One without `address` is the
     * monitoring host itself and ships over loopback; the others' addresses are VictoriaLogs' allow-list. */
    senders: { name: string; connection: pulumi.Input<Connection>; address?: pulumi.Input<string>; after: pulumi.Input<pulumi.Resource>[] }[];
    /** Alertmanager's config step: vmalert's rules go live once their receiver is configured. */
    alertmanager: pulumi.Input<pulumi.Resource>;
    after: pulumi.Input<pulumi.Resource>[];
    purgeOnDestroy: boolean;
}

/** VictoriaLogs + vmalert on the monitoring host, and the journal upload on every host. */
export class CentralLogs extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly rules: command.remote.Command;

    constructor(name: string, args: CentralLogsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:logs:CentralLogs", name, {}, opts);
        const logs = args.logs;
        const bins = logsBinaries(logs);
        // Uploaded binaries carry the install step's token (components/client.ts, uploadName).
        const token = stepToken(`${name}-install`, args.connection);
        const uploads = (Object.keys(LOG_PROGRAMS) as LogProgram[])
            .filter((key) => bins[key].source === "upload")
            .map((key) => {
                const program = LOG_PROGRAMS[key].name;
                return uploadBinary(this, `${name}-${program}-upload`, { connection: args.connection, program, binary: bins[key], token, dependsOn: args.after });
            });
        // Hosts other than the monitoring host are admitted by address (the unit's IP allow-list).
        const remoteSenders = args.senders.filter((s) => s.address !== undefined);
        const unitFiles = pulumi
            .all([pulumi.output(args.privateAddress), ...remoteSenders.map((s) => pulumi.output(s.address as pulumi.Input<string>))])
            .apply(([own, ...allow]) => [
                { path: "/etc/systemd/system/victoria-logs.service", content: renderVictoriaLogsUnit(logs, allow as string[], own), mode: "0644", owner: "root", group: "root" },
                {
                    path: "/etc/systemd/system/vmalert.service",
                    content: renderVmalertUnit({ logs, monitoring: args.monitoring, stack: args.stack, network: args.network }),
                    mode: "0644",
                    owner: "root",
                    group: "root",
                },
            ]);
        const install = hostStep(
            `${name}-install`,
            {
                connection: args.connection,
                files: unitFiles,
                script: pulumi.all([args.privateAddress, token]).apply(([own, t]) => renderInstallLogs(bins, logs.port, own, t)),
                deleteScript: renderRemoveLogs(args.purgeOnDestroy),
            },
            { parent: this, dependsOn: [...uploads, ...args.after] },
        );

        const files = { "log-rules.yml": renderLogRules({ logs, monitoring: args.monitoring, consensus: args.consensus }) };
        const release = releaseId(files);
        this.rules = hostStep(
            `${name}-rules`,
            {
                connection: args.connection,
                files: releaseHostFiles(LOG_RULES_ROOT, release, files, { mode: "0640", group: LOG_PROGRAMS.vmalert.user }),
                script: activateRelease({
                    root: LOG_RULES_ROOT,
                    unit: "vmalert",
                    release,
                    check: `${binaryPath(LOG_PROGRAMS.vmalert.name)} -dryRun -rule.defaultRuleType=vlogs -rule="\${dir}/log-rules.yml"`,
                    health: `curl -fsS -o /dev/null http://${LOOPBACK}:${logs.vmalertPort}/health`,
                }),
            },
            { parent: this, dependsOn: [install, args.alertmanager] },
        );

        const target = pulumi.output(args.privateAddress ?? LOOPBACK);
        for (const s of args.senders) {
            const url = (s.address !== undefined ? target : pulumi.output(LOOPBACK)).apply((a) => journalUploadUrl(a, logs.port));
            hostStep(
                `${s.name}-journal-upload`,
                {
                    connection: s.connection,
                    files: url.apply((u) => [
                        { path: JOURNAL_UPLOAD_CONF, content: renderJournalUploadConf(u), mode: "0644", owner: "root", group: "root" },
                        { path: JOURNAL_UPLOAD_OVERRIDE, content: readAsset("systemd/journal-upload-override.conf"), mode: "0644", owner: "root", group: "root" },
                    ]),
                    script: url.apply((u) => render("scripts/install-journal-upload.sh", { url: u })),
                    deleteScript: render("scripts/remove-journal-upload.sh", {
                        purge: shq(String(args.purgeOnDestroy)),
                        files: [JOURNAL_UPLOAD_CONF, JOURNAL_UPLOAD_OVERRIDE].map(shq).join(" "),
                    }),
                },
                { parent: this, dependsOn: [install, ...s.after] },
            );
        }
        this.url = pulumi.output(`http://${LOOPBACK}:${logs.port}`);
        this.registerOutputs({ url: this.url });
    }
}
