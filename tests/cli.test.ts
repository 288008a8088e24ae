/**
 * The `ethnode` maintenance CLI against real services on loopback: the pinned geth --dev under its rendered
 * unit, a Beacon-API stand-in (no Lighthouse package offline) and a gateway-health stand-in. systemd is not
 * PID 1 here, so a small fake systemctl (tests/fixtures) starts each unit's ExecStart; everything else —
 * downloads, sha256 checks, symlink swaps, health gates, rollbacks, archives — is the CLI itself.
 */
import { SpawnSyncReturns, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { renderGethUnit } from "../components/geth";
import { renderCliConfig } from "../components/node";
import { PRYSM } from "../components/prysm";
import { ROOT } from "./helpers/pulumi";
import { runnableGeth } from "./helpers/rendered";
import { freePort, gethBinary, rpc, tmpDir, waitFor } from "./helpers/proc";

jest.setTimeout(180000);

const CLI = path.join(ROOT, "assets", "cli", "ethnode");
/** The host library the CLI sources (/usr/local/lib/ethnode on a host). */
const LIB = path.join(ROOT, "assets", "scripts");
const FAKE_SYSTEMCTL = path.join(ROOT, "tests", "fixtures", "fake-systemctl");
const FAKE_JOURNALCTL = path.join(ROOT, "tests", "fixtures", "fake-journalctl");
const STANDIN = path.join(ROOT, "tests", "fixtures", "standin.js");
const BASE_VERSION = "1.17.8";

let root: string;
/** The CLI's TMPDIR: every command must leave it empty, refusals and failures included. */
let scratch: string;
let rpcUrl: string;
const state = { cl: "", gw: "" };

function cli(...args: string[]): SpawnSyncReturns<string> {
    return spawnSync("bash", [CLI, ...args], {
        encoding: "utf8",
        timeout: 150000,
        env: { ...process.env, ETHNODE_ROOT: root, ETHNODE_LIB: LIB, ETHNODE_SYSTEMCTL: FAKE_SYSTEMCTL, ETHNODE_JOURNALCTL: FAKE_JOURNALCTL, TMPDIR: scratch },
    });
}
const systemctl = (...args: string[]) => spawnSync(FAKE_SYSTEMCTL, args, { env: { ...process.env, ETHNODE_ROOT: root }, encoding: "utf8" });
const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** The tree's files and their hashes, for "nothing changed" checks (runtime state excluded). */
function snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            const rel = path.relative(root, p);
            if (rel.startsWith("run") || rel.startsWith("var/lib") || rel.endsWith(".log")) continue;
            if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
            else if (e.isDirectory()) walk(p);
            else out[rel] = sha256(p);
        }
    };
    walk(root);
    return out;
}

/** A release archive as the projects publish them: a directory holding the binary. */
function releaseArchive(version: string, binary: string): { url: string; sha: string } {
    const dir = tmpDir("release");
    const inner = path.join(dir, `geth-linux-amd64-${version}-00000000`);
    fs.mkdirSync(inner);
    fs.copyFileSync(binary, path.join(inner, "geth"));
    fs.chmodSync(path.join(inner, "geth"), 0o755);
    const tgz = path.join(dir, `geth-${version}.tar.gz`);
    execFileSync("tar", ["-czf", tgz, "-C", dir, path.basename(inner)]);
    return { url: `file://${tgz}`, sha: sha256(tgz) };
}

function currentVersion(): string {
    return path.basename(fs.readlinkSync(path.join(root, "opt/ethnode/geth/current")));
}

beforeAll(async () => {
    root = tmpDir("clihost");
    scratch = tmpDir("cli-scratch");
    const ports = { gethHttp: await freePort(), gethWs: await freePort(), gethAuthRpc: await freePort(), gethMetrics: await freePort() };
    const [clPort, gwPort] = [await freePort(), await freePort()];
    rpcUrl = `http://127.0.0.1:${ports.gethHttp}`;
    state.cl = path.join(root, "cl-state");
    state.gw = path.join(root, "gw-state");
    for (const d of ["etc/ethnode", "etc/systemd/system", "opt/ethnode", "var/lib/ethnode"]) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/ethnode/jwt.hex"), crypto.randomBytes(32).toString("hex"), { mode: 0o640 });
    fs.writeFileSync(
        path.join(root, "etc/systemd/system/geth.service"),
        renderGethUnit({ network: "dev", dataDir: path.join(root, "var/lib/ethnode"), geth: runnableGeth("dev"), jwtPath: path.join(root, "etc/ethnode/jwt.hex"), ports }),
    );
    const standin = (kind: string, port: number, file: string, extra = "") =>
        `[Unit]\nDescription=${kind} stand-in\n[Service]\nExecStart=${process.execPath} ${STANDIN} ${kind} ${port} ${file} ${extra}\n`;
    fs.writeFileSync(path.join(root, "etc/systemd/system/lighthouse.service"), standin("beacon", clPort, state.cl));
    fs.writeFileSync(path.join(root, "etc/systemd/system/ethnode-gateway.service"), standin("gateway", gwPort, state.gw, path.join(root, "run/ethnode/drained")));
    fs.writeFileSync(
        path.join(root, "etc/ethnode/ethnode.conf"),
        [
            "DATA_DIR=/var/lib/ethnode",
            `EL_RPC=${rpcUrl}`,
            `CL_API=http://127.0.0.1:${clPort}`,
            `GATEWAY_HEALTH=http://127.0.0.1:${gwPort}/health`,
            'CLIENTS="geth lighthouse"',
            "HEALTH_TIMEOUT=20",
            "KEEP_VERSIONS=3",
        ].join("\n") + "\n",
    );
    const bin = gethBinary();
    const r = cli("install", "geth", BASE_VERSION, "--file", bin, "--sha256", sha256(bin));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const u of ["geth", "lighthouse", "ethnode-gateway"]) systemctl("start", u);
    await waitFor("geth", async () => ((await rpc(rpcUrl, "eth_chainId")).status === 200 ? true : undefined));
});

afterEach(() => {
    expect(fs.readdirSync(scratch)).toEqual([]);
});

afterAll(() => {
    for (const u of ["geth", "lighthouse", "ethnode-gateway"]) systemctl("stop", u);
    if (process.env.KEEP_ROOT) console.log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
});

describe("a node that signs nothing", () => {
    it.each([["export"], ["import", "/etc/hostname"]])("refuses slashing-protection %s (exit 3) and changes nothing", (...args) => {
        const before = snapshot();
        const r = cli("slashing-protection", ...(args as string[]));
        expect(r.status).toBe(3);
        expect(r.stderr).toBe("ethnode: slashing-protection: this node runs no validator\n");
        expect(snapshot()).toEqual(before);
    });
});

describe("help and usage", () => {
    const commands = ["status", "drain", "gate", "install", "activate", "upgrade", "rollback", "logs", "restart", "prune", "tune", "backup", "restore", "slashing-protection"];
    it.each(commands)("ethnode %s --help prints its usage and exits 0", (c) => {
        const r = cli(c, "--help");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^usage: ethnode ${c}`));
    });

    it("ethnode --help lists every command", () => {
        const r = cli("--help");
        expect(r.status).toBe(0);
        for (const c of commands) expect(r.stdout).toContain(`  ${c}`);
    });

    it.each([
        [["bogus"]],
        [["upgrade", "geth"]],
        [["upgrade", "geth", "1.2", "--sha256", "a".repeat(64), "--file", "/bin/true"]],
        [["upgrade", "geth", "1.2.3", "--sha256", "zz", "--file", "/bin/true"]],
        [["install", "nethermind", "1.0.0", "--sha256", "a".repeat(64), "--file", "/bin/true"]],
        [["install", "geth", "1.0.0", "--sha256", "a".repeat(64), "--url", "http://insecure.example/geth.tgz"]],
        [["rollback"]],
        [["logs", "sshd"]],
        [["restart", "geth", "extra"]],
        [["status", "--bogus"]],
        [["restore"]],
        [["activate", "geth", "--timeout", "soon"]],
        [["slashing-protection"]],
        [["slashing-protection", "delete"]],
        [["activate", "prysm-validator"]],
    ])("%j is a usage error (exit 2) and changes nothing", (args) => {
        const before = snapshot();
        const r = cli(...(args as string[]));
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(/^ethnode: .*\(see 'ethnode --help'\)\n$/);
        expect(snapshot()).toEqual(before);
    });
});

describe("status", () => {
    afterEach(() => {
        fs.writeFileSync(state.cl, "synced");
        fs.writeFileSync(state.gw, "synced");
    });

    it("reports a healthy node as JSON and as a table (exit 0)", () => {
        fs.writeFileSync(state.cl, "synced");
        const r = cli("status", "--json");
        expect(r.status).toBe(0);
        const s = JSON.parse(r.stdout);
        expect(s.services).toEqual({ geth: "active", lighthouse: "active", "ethnode-gateway": "active" });
        expect(s.versions).toEqual({ geth: BASE_VERSION, lighthouse: "" });
        expect(s.execution).toMatchObject({ reachable: true, syncing: false, peers: 0 });
        expect(s.execution.head).toBeGreaterThanOrEqual(0);
        expect(s.consensus).toEqual({ reachable: true, syncing: false, head_slot: 123456, peers: 57, finalized_epoch: 3856 });
        expect(s.disk.data_dir).toBe("/var/lib/ethnode");
        expect(s.disk.avail_bytes).toBeGreaterThan(0);
        expect(s.gateway).toEqual({ healthy: true, http_status: 200 });
        expect(s.keeper).toEqual({ state: "absent", dry_run: false, last_decision: null });
        expect(s.ok).toBe(true);
        const t = cli("status");
        expect(t.status).toBe(0);
        expect(t.stdout).toMatch(/^geth\s+active/m);
        expect(t.stdout).toMatch(/^overall\s+OK$/m);
    });

    it("shows the keeper: its state, a dry run, its latest decision (not part of the node's health)", () => {
        const files = ["etc/systemd/system/ethnode-keeper.service", "etc/ethnode/keeper.conf", "var/lib/ethnode-keeper/last"].map((f) => path.join(root, f));
        fs.mkdirSync(path.dirname(files[2]), { recursive: true });
        fs.writeFileSync(files[0], "[Service]\nExecStart=/bin/true\n");
        fs.writeFileSync(files[1], "KEEPER_DRY_RUN=true\n");
        fs.writeFileSync(files[2], "2026-12-02T09:00:00Z geth: running (pid 7) but its API has not answered for 60s; would restart it (unresponsive), but this is a dry run\n");
        try {
            const r = cli("status", "--json");
            expect(JSON.parse(r.stdout).keeper).toEqual({
                state: "inactive",
                dry_run: true,
                last_decision: "2026-12-02T09:00:00Z geth: running (pid 7) but its API has not answered for 60s; would restart it (unresponsive), but this is a dry run",
            });
            expect(r.status).toBe(0);
            expect(cli("status").stdout).toMatch(/^keeper\s+inactive \(dry run\) last: 2026-12-02T09:00:00Z geth: running/m);
        } finally {
            files.forEach((f) => fs.rmSync(f, { force: true }));
        }
    });

    it("reports a syncing consensus client (exit 1)", () => {
        fs.writeFileSync(state.cl, "syncing");
        const r = cli("status", "--json");
        expect(r.status).toBe(1);
        const s = JSON.parse(r.stdout);
        expect(s.consensus.syncing).toBe(true);
        expect(s.ok).toBe(false);
        expect(cli("status").stdout).toMatch(/^overall\s+DEGRADED$/m);
    });

    it("reports a node whose execution client is down (exit 1)", async () => {
        systemctl("stop", "geth");
        fs.writeFileSync(state.gw, "down");
        try {
            const r = cli("status", "--json");
            expect(r.status).toBe(1);
            const s = JSON.parse(r.stdout);
            expect(s.services.geth).toBe("inactive");
            expect(s.execution).toEqual({ reachable: false, syncing: null, head: null, peers: null });
            expect(s.gateway).toEqual({ healthy: false, http_status: 503 });
        } finally {
            systemctl("start", "geth");
            await waitFor("geth", async () => ((await rpc(rpcUrl, "eth_chainId")).status === 200 ? true : undefined));
        }
    });
});

describe("upgrade and rollback", () => {
    it("upgrades through the health gate: the new version serves, the old one is kept as previous", async () => {
        const good = releaseArchive("1.17.99", gethBinary());
        const r = cli("--non-interactive", "upgrade", "geth", "1.17.99", "--url", good.url, "--sha256", good.sha);
        expect(r.stderr).toContain("geth 1.17.99 is healthy");
        expect(r.status).toBe(0);
        expect(currentVersion()).toBe("1.17.99");
        expect(path.basename(fs.readlinkSync(path.join(root, "opt/ethnode/geth/previous")))).toBe(BASE_VERSION);
        expect((await rpc(rpcUrl, "eth_chainId")).body.result).toBe("0x539");
    });

    it("refuses a release whose sha256 does not match, installing nothing", () => {
        const good = releaseArchive("1.17.98", gethBinary());
        const before = snapshot();
        const r = cli("--non-interactive", "upgrade", "geth", "1.17.98", "--url", good.url, "--sha256", "0".repeat(64));
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("sha256 mismatch");
        expect(snapshot()).toEqual(before);
    });

    it("rolls back automatically when the new binary fails to start, and exits 4", async () => {
        const broken = tmpDir("broken");
        fs.writeFileSync(path.join(broken, "geth"), "#!/bin/sh\necho 'fatal: cannot open database' >&2\nexit 1\n", { mode: 0o755 });
        const bad = releaseArchive("1.17.100", path.join(broken, "geth"));
        const r = cli("--non-interactive", "upgrade", "geth", "1.17.100", "--url", bad.url, "--sha256", bad.sha, "--timeout", "8");
        expect(r.status).toBe(4);
        expect(r.stderr).toContain("geth 1.17.100 failed its health gate; rolled back to 1.17.99, which is serving");
        // The failure says why, in the client's own words, before the rollback.
        expect(r.stderr).toMatch(/last 30 lines of geth\.service:\n(.*\n)*fatal: cannot open database\n(.*\n)*ethnode: geth 1\.17\.100 failed its health gate within 8s; restoring/);
        expect(currentVersion()).toBe("1.17.99");
        // The failed version is not a rollback target: previous is the version before 1.17.99 again.
        expect(path.basename(fs.readlinkSync(path.join(root, "opt/ethnode/geth/previous")))).toBe(BASE_VERSION);
        expect((await rpc(rpcUrl, "eth_chainId")).body.result).toBe("0x539");
    });

    it("rolls back on request to the previous version", async () => {
        const r = cli("--non-interactive", "rollback", "geth");
        expect(r.stderr).toContain(`geth ${BASE_VERSION} is healthy`);
        expect(r.status).toBe(0);
        expect(currentVersion()).toBe(BASE_VERSION);
        expect((await rpc(rpcUrl, "eth_chainId")).body.result).toBe("0x539");
    });

    it("keeps at most KEEP_VERSIONS versions (never current or previous)", () => {
        const dirs = fs.readdirSync(path.join(root, "opt/ethnode/geth")).filter((d) => /^\d/.test(d));
        expect(dirs.length).toBeLessThanOrEqual(3);
    });
});

describe("a node whose consensus client is Prysm (ethnode.conf as the program renders it)", () => {
    const conf = () => path.join(root, "etc/ethnode/ethnode.conf");
    let single: string;
    beforeAll(() => {
        single = fs.readFileSync(conf(), "utf8");
        // The rendered conf, with this test's endpoints (its stand-ins listen on free ports).
        const line = (key: string) => single.match(new RegExp(`^${key}=.*$`, "m"))![0];
        let rendered = renderCliConfig("node-0", { network: "hoodi", consensus: PRYSM, host: { dataDir: "/var/lib/ethnode" }, gateway: { metricsPort: 9145, healthIntervalSec: 2 }, cluster: false }, "");
        for (const key of ["EL_RPC", "CL_API", "GATEWAY_HEALTH", "HEALTH_TIMEOUT"]) rendered = rendered.replace(new RegExp(`^${key}=.*$`, "m"), line(key));
        fs.writeFileSync(conf(), rendered);
        systemctl("stop", "lighthouse");
        fs.writeFileSync(path.join(root, "etc/systemd/system/prysm.service"), fs.readFileSync(path.join(root, "etc/systemd/system/lighthouse.service")));
        systemctl("start", "prysm");
    });
    afterAll(() => {
        systemctl("stop", "prysm");
        fs.rmSync(path.join(root, "etc/systemd/system/prysm.service"), { force: true });
        fs.writeFileSync(conf(), single);
        systemctl("start", "lighthouse");
    });

    it("reports Prysm as the node's consensus client through the Beacon API", () => {
        fs.writeFileSync(state.cl, "synced");
        const r = cli("status", "--json");
        expect(r.stderr).toBe("");
        const s = JSON.parse(r.stdout);
        expect(s.services).toEqual({ geth: "active", prysm: "active", "ethnode-gateway": "active" });
        expect(s.consensus).toMatchObject({ reachable: true, syncing: false, head_slot: 123456 });
    });

    it("has no offline prune for Prysm: says so and leaves it running", () => {
        const r = cli("--non-interactive", "prune", "prysm");
        expect(r.stderr).toContain("prysm has no offline prune: nothing to do");
        expect(r.status).toBe(0);
        expect(systemctl("is-active", "prysm").stdout.trim()).toBe("active");
    });

    it("gates Prysm by the Beacon API's health on a restart, and refuses a client the node does not run", () => {
        const r = cli("activate", "prysm");
        expect(r.status).toBe(0);
        const l = cli("activate", "lighthouse");
        expect(l.status).toBe(2);
        expect(l.stderr).toContain("geth prysm");
    });
});

describe("drain, gate and undrain on a cluster", () => {
    const conf = () => path.join(root, "etc/ethnode/ethnode.conf");
    const drainFile = () => path.join(root, "run/ethnode/drained");
    let single: string;
    beforeAll(() => {
        single = fs.readFileSync(conf(), "utf8");
    });
    afterEach(() => {
        fs.writeFileSync(conf(), single);
        fs.rmSync(drainFile(), { force: true });
        fs.rmSync(state.gw, { force: true });
    });
    const asCluster = () => fs.writeFileSync(conf(), single + "CLUSTER=true\nDRAIN_WAIT=0\n");

    it("refuses to drain a lone node (nobody would serve in its place), changing nothing", () => {
        const r = cli("drain");
        expect(r.status).toBe(3);
        expect(r.stderr).toContain("drain: this node has no peers to serve in its place");
        expect(fs.existsSync(drainFile())).toBe(false);
    });

    it("drains until the gateway reports it, gates on `ready`, undrains", () => {
        asCluster();
        const d = cli("drain");
        expect(d.stderr).toContain("drained: the other nodes' gateways no longer send to this node");
        expect(d.status).toBe(0);
        expect(fs.existsSync(drainFile())).toBe(true);
        const g = cli("gate", "--timeout", "2");
        expect(g.stderr).toContain("gate passed");
        expect(g.status).toBe(0);
        fs.writeFileSync(state.gw, "lagging");
        const f = cli("gate", "--timeout", "2");
        expect(f.stderr).toMatch(/gate failed after 2s: \{"node-0":\{"state":"drained","head":100\}\}/);
        expect(f.status).toBe(1);
        expect(cli("undrain").status).toBe(0);
        expect(fs.existsSync(drainFile())).toBe(false);
    });

    it("restarts a client drained and puts the node back once it is ready", () => {
        asCluster();
        const r = cli("restart", "geth");
        expect(r.status).toBe(0);
        const order = ["drained:", "gate passed", "undrained:", "geth restarted"].map((m) => r.stderr.indexOf(m));
        expect(order.every((i) => i >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(fs.existsSync(drainFile())).toBe(false);
    });

    it("leaves a node that fails its gate drained, and says so", () => {
        asCluster();
        fs.writeFileSync(state.gw, "lagging");
        // The gate waits HEALTH_TIMEOUT (20 s in this conf) before it gives up.
        const r = cli("restart", "geth");
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("geth restarted but this node is not ready to serve: it stays drained, the other nodes serve");
        expect(fs.existsSync(drainFile())).toBe(true);
    });
});

describe("backup and restore", () => {
    const kept = ["etc/ethnode/jwt.hex", "etc/ethnode/ethnode.conf", "etc/systemd/system/geth.service"];

    it("round-trips the JWT and configs byte for byte, refusing while the node runs", async () => {
        const before = Object.fromEntries(kept.map((f) => [f, sha256(path.join(root, f))]));
        const b = cli("backup", "--output", path.join(root, "backups"));
        expect(b.status).toBe(0);
        const archive = b.stdout.trim().split("\n").pop()!;
        expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
        expect(fs.existsSync(`${archive}.sha256`)).toBe(true);

        fs.rmSync(path.join(root, "etc/ethnode"), { recursive: true });
        fs.rmSync(path.join(root, "etc/systemd/system/geth.service"));

        const refused = cli("--non-interactive", "restore", archive);
        expect(refused.status).toBe(3);
        expect(refused.stderr).toContain("geth is running");

        for (const u of ["geth", "lighthouse"]) systemctl("stop", u);
        const r = cli("--non-interactive", "restore", archive);
        expect(r.stderr).toContain("restored");
        expect(r.status).toBe(0);
        expect(Object.fromEntries(kept.map((f) => [f, sha256(path.join(root, f))]))).toEqual(before);

        for (const u of ["geth", "lighthouse"]) systemctl("start", u);
        await waitFor("geth", async () => ((await rpc(rpcUrl, "eth_chainId")).status === 200 ? true : undefined));
    });

    it("leaves an existing --output directory's mode as it was (a new one is private)", () => {
        const shared = path.join(root, "shared-out");
        fs.mkdirSync(shared, { mode: 0o1777 });
        fs.chmodSync(shared, 0o1777);
        const b = cli("backup", "--output", shared);
        expect(b.status).toBe(0);
        expect(fs.statSync(shared).mode & 0o7777).toBe(0o1777);
        const fresh = path.join(root, "fresh-out");
        expect(cli("backup", "--output", fresh).status).toBe(0);
        expect(fs.statSync(fresh).mode & 0o777).toBe(0o700);
    });

    it("a --with-data backup whose tar fails starts the clients again and leaves no archive", () => {
        // tar fails (a full disk, an I/O error): a stand-in tar on PATH that exits 2.
        const shim = path.join(root, "failing-tar");
        fs.mkdirSync(shim, { recursive: true });
        fs.writeFileSync(path.join(shim, "tar"), "#!/bin/sh\necho 'tar: write error' >&2\nexit 2\n", { mode: 0o755 });
        const out = path.join(root, "backups-failed");
        const r = spawnSync("bash", [CLI, "--non-interactive", "backup", "--with-data", "--output", out], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${shim}:${process.env.PATH}`, ETHNODE_ROOT: root, ETHNODE_LIB: LIB, ETHNODE_SYSTEMCTL: FAKE_SYSTEMCTL, ETHNODE_JOURNALCTL: FAKE_JOURNALCTL, TMPDIR: scratch },
        });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("tar: write error");
        for (const u of ["geth", "lighthouse"]) expect(systemctl("is-active", u).stdout.trim()).toBe("active");
        expect(fs.readdirSync(out)).toEqual([]);
    });

    it("refuses to restore without a terminal or --non-interactive, leaving nothing behind", () => {
        const b = cli("backup", "--output", path.join(root, "backups3"));
        const archive = b.stdout.trim().split("\n").pop()!;
        for (const u of ["geth", "lighthouse"]) systemctl("stop", u);
        try {
            const before = snapshot();
            const r = cli("restore", archive);
            expect(r.stderr).toContain("refusing without a terminal");
            expect(r.status).toBe(3);
            expect(snapshot()).toEqual(before);
            // The extracted copy (verified before the question) is gone too: afterEach checks the CLI's TMPDIR.
        } finally {
            for (const u of ["geth", "lighthouse"]) systemctl("start", u);
        }
    });

    it("refuses a tampered archive and restores nothing", () => {
        const b = cli("backup", "--output", path.join(root, "backups2"));
        const archive = b.stdout.trim().split("\n").pop()!;
        const bytes = fs.readFileSync(archive);
        bytes[bytes.length - 10] ^= 0xff;
        fs.writeFileSync(archive, bytes);
        for (const u of ["geth", "lighthouse"]) systemctl("stop", u);
        try {
            const before = snapshot();
            const r = cli("--non-interactive", "restore", archive);
            expect(r.status).toBe(3);
            expect(r.stderr).toContain("does not match its checksum");
            expect(snapshot()).toEqual(before);
        } finally {
            for (const u of ["geth", "lighthouse"]) systemctl("start", u);
        }
    });
});

describe("tune", () => {
    it("persists sysctl and limit files (and does not touch the kernel from a test root)", () => {
        const r = cli("tune");
        expect(r.status).toBe(0);
        expect(fs.readFileSync(path.join(root, "etc/sysctl.d/90-ethnode.conf"), "utf8")).toContain("net.core.rmem_max = 16777216");
        expect(fs.readFileSync(path.join(root, "etc/security/limits.d/90-ethnode.conf"), "utf8")).toContain("nofile");
    });
});

describe("shell quality", () => {
    it("passes shellcheck", () => {
        const r = spawnSync("shellcheck", ["-x", "--severity=style", CLI, FAKE_SYSTEMCTL, FAKE_JOURNALCTL], { encoding: "utf8" });
        expect(r.stdout).toBe("");
        expect(r.status).toBe(0);
    });
});
