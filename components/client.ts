/**
 * What Geth and Lighthouse share: a pinned, verified binary installed side by side; a hardened systemd unit;
 * a service step that restarts only when the unit, the binary or the JWT changed, and waits for health.
 */
import * as command from "@pulumi/command";
import * as crypto from "crypto";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { stepToken } from "./receipts";
import { Network } from "./config";
import { JWT_GROUP } from "./ports";
import { Connection, hostStep, releaseHostFiles, releaseId } from "./remote";
import { render, renderHardening, shq } from "./render";

export type ClientName = "geth" | "lighthouse" | "prysm" | "prysm-validator";

export type Role = "execution" | "consensus" | "validator";

/**
 * The series a consensus client's alerts and dashboards read, as that client exports them (the names differ:
 * ../shared/design.md). Each is a metric name, optionally with its own label matchers (`name{l="v"}`).
 */
export interface BeaconSeries {
    /** Slot of the head block. */
    head: string;
    /** The wall-clock slot. */
    clock: string;
    /** The finalized epoch. */
    finalized: string;
    /** Connected peers. */
    peers: string;
    /** 1 when synced, 0 while syncing; clients without one are judged by head against the clock alone. */
    synced?: string;
}

/** A series (`name` or `name{...}`) with more label matchers added: `withMatchers('a{x="1"}', 'job="b"')`. */
export function withMatchers(series: string, matchers: string): string {
    return series.endsWith("}") ? `${series.slice(0, -1)},${matchers}}` : `${series}{${matchers}}`;
}

/** What the rest of ethnode knows about one client (components/roles.ts derives ports, rules and jobs from it). */
export interface ClientRole {
    role: Role;
    /** The unit, the system user, /opt/ethnode/<name> and the Prometheus job. */
    name: ClientName;
    /** How alerts and docs name it. */
    title: string;
    /** How long systemd lets it stop (it persists its database on SIGINT/SIGTERM). */
    stopTimeoutSec: number;
    /** Consensus clients: the series their alerts and dashboards use. */
    beacon?: BeaconSeries;
    /** Its offline prune, as arguments before `--datadir` (`ethnode prune`); none: nothing to prune offline. */
    prune?: string[];
    /** Loopback port of its API: JSON-RPC (execution), the Beacon API (consensus), health and metrics (validator). */
    apiPort: number;
    /** Loopback port and path of its Prometheus metrics. */
    metricsPort: number;
    metricsPath: string;
    /** The series its alerts are built on: a target that answers without it leaves them blind (MetricsMissing). */
    keySeries: string;
    /** Its P2P ports, open to the internet. */
    p2p: { protocol: "tcp" | "udp"; port: number; description: string }[];
}

/** How long the CLI's health gate waits for a restarted client before it restores the previous version. */
export const CLIENT_HEALTH_TIMEOUT_SEC = 180;

/** Where a client binary comes from and how it is verified. */
export interface ClientBinary {
    version: string;
    source: "release" | "upload";
    /** Download URL (release). */
    url?: string;
    /** sha256 of the archive (release) or of the binary (upload). */
    sha256: string;
    /** Local file to upload (upload). */
    binaryPath?: string;
}

export interface UnitView {
    network: Network;
    dataDir: string;
    flags: string[];
    stopTimeoutSec: number;
    /** Commands run before each start (a devnet's `geth init`). */
    preStart?: string[];
    /** The binary asks for an executable stack (its ELF GNU_STACK is RWE): no MemoryDenyWriteExecute then. */
    executableStack?: boolean;
}

/** A client's binary from its config section; `defaultUrl` is the official release archive. */
export function clientBinary(
    c: { version?: string; source: "release" | "upload"; url?: string; sha256?: string; binaryPath?: string },
    defaultUrl: string | undefined,
): ClientBinary {
    return { version: c.version as string, source: c.source, url: c.url ?? defaultUrl, sha256: c.sha256 ?? "", binaryPath: c.binaryPath };
}

/** Where a pinned program's versions live side by side, with its `current` link. */
export function programRoot(program: string): string {
    return `/opt/ethnode/${program}`;
}

/** The path systemd starts: the `current` symlink, so an upgrade or rollback is one atomic swap. */
export function binaryPath(program: string): string {
    return `${programRoot(program)}/current/${program}`;
}

export function clientHome(dataDir: string, client: ClientName): string {
    return `${dataDir}/${client}`;
}

/** Where a client on a devnet reads its fixed P2P key. */
export function p2pKeyPath(dataDir: string, client: ClientName): string {
    return `${clientHome(dataDir, client)}/p2p.key`;
}

/** Where a client's released unit reads a file released with it. */
export function unitFilePath(client: ClientName, file: string): string {
    return `${unitRoot(client)}/current/${file}`;
}

/** Renders a client's unit; pure. */
export function renderUnit(client: ClientName, view: UnitView): string {
    const hardening = renderHardening(clientHome(view.dataDir, client), view.executableStack === true);
    return render(`systemd/${client}.service`, {
        ...view,
        binary: binaryPath(client),
        jwtGroup: JWT_GROUP,
        hardening,
    });
}

export function fileSha256(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Resolves the sha256 the host must verify: configured for releases, computed here for uploads. */
export function resolveBinary(b: ClientBinary): ClientBinary & { sha256: string } {
    if (b.source === "upload") {
        const file = b.binaryPath as string;
        if (!fs.existsSync(file)) throw new Error(`ethnode: binary to upload not found: ${file}`);
        return { ...b, sha256: fileSha256(file) };
    }
    return b;
}

/** `token`: the install step's (components/receipts.ts); an uploaded binary's name carries it. */
export function renderInstallScript(client: ClientName, b: ClientBinary, dataDir: string, token = ""): string {
    return render("scripts/install-client.sh", {
        client: shq(client),
        version: shq(b.version),
        sha256: shq(b.sha256),
        url: shq(b.url ?? ""),
        upload: b.source === "upload" ? shq(uploadName(client, b, token)) : undefined,
        home: shq(clientHome(dataDir, client)),
        jwtGroup: JWT_GROUP,
    });
}

/**
 * An uploaded binary's name in the deploying user's home: one per program, content and run of the step that
 * installs it (its token), so a step that must run again — the host lost what it installed — gets the file again.
 */
export function uploadName(program: string, b: ClientBinary, token: string): string {
    return b.source === "upload" ? `.ethnode-upload-${program}-${b.sha256.slice(0, 16)}-${token}` : "";
}

/** Copies an uploaded binary (`b` resolved) to the deploying user's home on the host, where its install step finds it. */
export function uploadBinary(
    parent: pulumi.Resource,
    name: string,
    a: { connection: pulumi.Input<Connection>; program: string; binary: ClientBinary; token: pulumi.Output<string>; dependsOn: pulumi.Input<pulumi.Resource>[] },
): command.remote.CopyToRemote {
    return new command.remote.CopyToRemote(
        name,
        {
            connection: a.connection,
            source: new pulumi.asset.FileAsset(a.binary.binaryPath as string),
            remotePath: a.token.apply((t) => uploadName(a.program, a.binary, t)),
        },
        // Updated in place when the binary changes, like every step (components/remote.ts).
        { parent, dependsOn: a.dependsOn, ignoreChanges: ["triggers"] },
    );
}

/** Where a client's unit releases live: `<root>/releases/<id>/<client>.service`, `current` the live one. */
export const unitRoot = (client: string) => `/etc/ethnode/${client}`;

export function renderServiceScript(client: ClientName, b: ClientBinary, healthTimeoutSec: number, unitRelease: string): string {
    return render("scripts/install-service.sh", {
        unit: shq(client),
        root: shq(unitRoot(client)),
        unitRelease: shq(unitRelease),
        binary: shq(binaryPath(client)),
        release: shq(`${client} ${b.version} (sha256 ${b.sha256})`),
        healthTimeout: healthTimeoutSec,
    });
}

export interface ClientDeployArgs {
    client: ClientName;
    connection: pulumi.Input<Connection>;
    binary: ClientBinary;
    dataDir: string;
    purgeOnDestroy: boolean;
    unit: pulumi.Input<string>;
    /** Files the unit reads, released with it in one directory (`/etc/ethnode/<client>/current/<file>`). */
    unitFiles?: pulumi.Input<Record<string, string>>;
    /** A devnet's fixed P2P key (64 hex digits, a secret), installed as `<home>/p2p.key` before the service starts. */
    p2pKey?: pulumi.Input<string>;
    /** How long the CLI's health gate waits after a restart before it restores the previous version. */
    healthTimeoutSec: number;
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /** Steps between the install (its user exists then) and the service: a validator's keys. */
    serviceAfter?: (install: command.remote.Command) => pulumi.Resource[];
}

/** Installs the binary and the unit of one client under `parent`; returns the service step. */
export function deployClient(parent: pulumi.Resource, name: string, args: ClientDeployArgs): command.remote.Command {
    const b = resolveBinary(args.binary);
    const home = clientHome(args.dataDir, args.client);
    const deps: pulumi.Input<pulumi.Resource>[] = [...args.dependsOn];
    const token = stepToken(`${name}-install`, args.connection);
    if (b.source === "upload") {
        deps.push(uploadBinary(parent, `${name}-upload`, { connection: args.connection, program: args.client, binary: b, token, dependsOn: args.dependsOn }));
    }
    const install = hostStep(
        `${name}-install`,
        {
            connection: args.connection,
            script: token.apply((t) => renderInstallScript(args.client, b, args.dataDir, t)),
            deleteScript: render("scripts/remove-client.sh", {
                client: shq(args.client),
                home: shq(home),
                purge: shq(String(args.purgeOnDestroy)),
            }),
        },
        { parent, dependsOn: deps },
    );
    const unitRelease = pulumi.all([args.unit, args.unitFiles ?? {}]).apply(([text, extra]) => {
        const files = { [`${args.client}.service`]: text, ...extra };
        return { id: releaseId(files), files };
    });
    const before = [...(args.serviceAfter?.(install) ?? [])];
    if (args.p2pKey !== undefined) {
        // Its own step: a secret makes the whole stdin secret.
        before.push(
            hostStep(
                `${name}-p2p-key`,
                {
                    connection: args.connection,
                    files: [{ path: p2pKeyPath(args.dataDir, args.client), content: args.p2pKey, mode: "0600", owner: args.client, group: args.client }],
                    script: `echo "${args.client}: P2P key installed"`,
                },
                { parent, dependsOn: [install] },
            ),
        );
    }
    return hostStep(
        `${name}-service`,
        {
            connection: args.connection,
            // The unit as a release of its own (named by its content), made live by the script.
            files: unitRelease.apply((u) => releaseHostFiles(unitRoot(args.client), u.id, u.files, { mode: "0644", group: "root" })),
            // The release is part of the script, so a new binary behind the same unit text re-runs this step too.
            script: unitRelease.apply((u) => renderServiceScript(args.client, b, args.healthTimeoutSec, u.id)),
            deleteScript: render("scripts/remove-service.sh", { unit: shq(args.client) }),
        },
        { parent, dependsOn: [install, ...before] },
    );
}
