/**
 * Rendered assets checked by the tools that consume them: systemd-analyze for units (no warning allowed,
 * exposure score at most 3.0), shellcheck for every provisioning step, plus a snapshot per variant.
 */
import { execFile, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { tmpDir } from "./helpers/proc";
import { scripts, units } from "./helpers/rendered";
import { clientExporters } from "../components/roles";
import { LIGHTHOUSE } from "../components/lighthouse";

const MAX_EXPOSURE = 3.0;

function tool(name: string): void {
    if (spawnSync("sh", ["-c", `command -v ${name}`]).status !== 0) {
        throw new Error(`${name} is not installed; run scripts/setup-test-deps.sh`);
    }
}

describe("systemd units", () => {
    let dir: string;
    let stub: string;
    beforeAll(() => {
        tool("systemd-analyze");
        dir = tmpDir("units");
        // verify checks that ExecStart exists and is executable: point it at a stub.
        stub = path.join(dir, "client-stub");
        fs.writeFileSync(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    function write(name: string, text: string): string {
        const unitName = name.replace(/-(mainnet|sepolia|hoodi|dev|openresty|debian)\.service$/, ".service");
        const sub = path.join(dir, name);
        fs.mkdirSync(sub, { recursive: true });
        const file = path.join(sub, unitName);
        fs.writeFileSync(file, text.replace(/^(ExecStart|ExecStartPre|ExecReload)=(?!\/bin\/kill)\S+/gm, `$1=${stub}`));
        return file;
    }

    it.each(units().map((u) => [u.name, u.text]))("%s passes systemd-analyze verify with no warning", (name, text) => {
        const file = write(name, text);
        const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
        // systemd-analyze reports problems on stderr and may still exit 0: any output is a failure.
        expect({ status: r.status, stderr: r.stderr.trim(), stdout: r.stdout.trim() }).toEqual({ status: 0, stderr: "", stdout: "" });
    });

    it.each(units().map((u) => [u.name, u.text]))(`%s scores at most ${MAX_EXPOSURE} on systemd-analyze security`, (name, text) => {
        const file = write(name, text);
        const out = execFileSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", file], { encoding: "utf8" });
        const m = out.match(/Overall exposure level for \S+: ([\d.]+)/);
        expect(m).not.toBeNull();
        expect(Number(m![1])).toBeLessThanOrEqual(MAX_EXPOSURE);
    });

    it.each(units().map((u) => [u.name, u.text]))("%s matches its snapshot", (_name, text) => {
        expect(text).toMatchSnapshot();
    });

    it("stops Geth gracefully and never exposes the engine API publicly", () => {
        for (const u of units().filter((x) => x.name.startsWith("geth"))) {
            expect(u.text).toContain("KillSignal=SIGINT");
            expect(Number(u.text.match(/TimeoutStopSec=(\d+)/)![1])).toBeGreaterThanOrEqual(300);
            expect(u.text).toContain("--http.api=eth,net,web3");
            expect(u.text).toMatch(/--authrpc\.addr=127\.0\.0\.1/);
            expect(u.text).not.toMatch(/--(http|ws)\.addr=0\.0\.0\.0/);
        }
    });
});

describe("provisioning scripts", () => {
    beforeAll(() => tool("shellcheck"));

    it.each(scripts().map((s) => [s.name, s.text]))("%s passes shellcheck", (_name, text) => {
        const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], { input: text, encoding: "utf8" });
        expect(r.stdout).toBe("");
        expect(r.status).toBe(0);
    });

    it.each(scripts().map((s) => [s.name, s.text]))("%s parses as bash", (_name, text) => {
        const r = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
        expect(r.stderr).toBe("");
    });

    // The step's own body: the prelude every step shares is one file, not a part of each snapshot.
    it.each(scripts().map((s) => [s.name, s.body]))("%s matches its snapshot", (_name, body) => {
        expect(body).toMatchSnapshot();
    });
    describe("apt_get (prelude): another apt holding its lock delays a step, never fails it", () => {
        let dir: string;
        beforeAll(() => {
            dir = tmpDir("apt");
            // A stand-in apt-get: logs its arguments, then answers as told by the `plan` file, one line per call.
            fs.writeFileSync(
                path.join(dir, "apt-get"),
                `#!/bin/bash\necho "$*" >>"${dir}/calls"\nn=$(wc -l <"${dir}/calls")\nline=$(sed -n "\${n}p" "${dir}/plan")\n` +
                    `case "$line" in ok) exit 0 ;; locked) echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)" >&2; exit 100 ;; *) echo "E: $line" >&2; exit 100 ;; esac\n`,
                { mode: 0o755 },
            );
        });
        afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

        function run(plan: string[], command: string) {
            fs.writeFileSync(path.join(dir, "plan"), plan.join("\n") + "\n");
            fs.rmSync(path.join(dir, "calls"), { force: true });
            const prelude = path.join(__dirname, "..", "assets", "scripts", "prelude.sh");
            const r = spawnSync("bash", ["-c", `source ${prelude}; ${command}`], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, APT_RETRY_DELAY: "0", APT_LOCK_WAIT: "30" },
            });
            const calls = fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [];
            return { status: r.status, stderr: r.stderr, calls };
        }

        it("retries update while the lists lock is held, then succeeds", () => {
            const r = run(["locked", "locked", "ok"], "apt_get update -q");
            expect(r.status).toBe(0);
            expect(r.calls).toEqual(["update -q", "update -q", "update -q"]);
            expect(r.stderr).toContain("another apt holds its lists lock");
        });

        it("fails at once on any other update error", () => {
            const r = run(["Failed to fetch http://example.invalid/dists/jammy/InRelease", "ok"], "apt_get update -q");
            expect(r.status).toBe(100);
            expect(r.calls).toEqual(["update -q"]);
            expect(r.stderr).toContain("Failed to fetch");
        });

        it("lets apt itself wait for dpkg's lock on install and purge", () => {
            const r = run(["ok"], "apt_get install -y -q nginx");
            expect(r.status).toBe(0);
            expect(r.calls).toEqual(["-o DPkg::Lock::Timeout=30 install -y -q nginx"]);
        });
    });
});

describe("install_pinned (prelude): a pinned program is installed only when its sha256 matches", () => {
    const PRELUDE = path.join(__dirname, "..", "assets", "scripts", "prelude.sh");
    let dir: string;
    let server: https.Server;
    let base: string;
    const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

    beforeAll(async () => {
        dir = tmpDir("pinned");
        // A release archive as the projects publish them (the program under another name), one without it, and
        // an https server with a certificate curl is told to trust: the function allows https only.
        for (const [name, body] of [["victoria-logs-prod", "#!/bin/sh\necho one\n"], ["README", "no program here\n"]] as const) {
            const stage = path.join(dir, `stage-${name}`);
            fs.mkdirSync(stage);
            fs.writeFileSync(path.join(stage, name), body, { mode: 0o755 });
            execFileSync("tar", ["-czf", path.join(dir, name === "README" ? "empty.tar.gz" : "release.tar.gz"), "-C", stage, name]);
        }
        execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
        server = https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) }, (req, res) => {
            const file = path.join(dir, path.basename(req.url ?? ""));
            if (!req.url?.endsWith(".tar.gz") || !fs.existsSync(file)) return void res.writeHead(404).end();
            res.writeHead(200).end(fs.readFileSync(file));
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        base = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    afterAll(() => {
        server?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Runs install_pinned into <dir>/root; returns its exit status, its output and what it listed as changed. */
    async function install(version: string, digest: string, url: string, file = "") {
        const root = path.join(dir, "root");
        const script = `source ${PRELUDE}; install_pinned ${root} victoria-logs ${version} ${digest} '${url}' '${file}' victoria-logs-prod; s=$?; echo "changed=\${ETHNODE_CHANGED[*]}"; exit $s`;
        const r = await new Promise<{ status: number; out: string }>((resolve) => {
            execFile("bash", ["-c", script], { env: { ...process.env, CURL_CA_BUNDLE: path.join(dir, "cert.pem") } }, (err, stdout, stderr) =>
                resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
            );
        });
        const current = fs.existsSync(path.join(root, "current")) ? fs.readlinkSync(path.join(root, "current")) : "";
        return { ...r, root, current };
    }

    it("installs from the archive when the sha256 matches, says it changed, and does nothing the second time", async () => {
        const good = sha(path.join(dir, "release.tar.gz"));
        const first = await install("1.0.0", good, `${base}/release.tar.gz`);
        expect(first.status).toBe(0);
        expect(first.current).toBe(path.join(first.root, "1.0.0"));
        expect(execFileSync(path.join(first.root, "current", "victoria-logs"), { encoding: "utf8" })).toBe("one\n");
        expect(first.out).toContain(`changed=${path.join(first.root, "current")}`);
        const again = await install("1.0.0", good, `${base}/release.tar.gz`);
        expect(again.out).toContain("victoria-logs 1.0.0 already installed");
        expect(again.out).toContain("changed=\n");
    });

    it("refuses a download whose sha256 differs, an archive without the program and a plain-http URL: nothing installed", async () => {
        const before = (await install("1.0.0", sha(path.join(dir, "release.tar.gz")), `${base}/release.tar.gz`)).current;
        const wrong = await install("2.0.0", "0".repeat(64), `${base}/release.tar.gz`);
        expect(wrong.status).not.toBe(0);
        expect(wrong.out).toContain(`ethnode: victoria-logs 2.0.0: sha256 mismatch for ${base}/release.tar.gz; nothing installed`);
        const empty = await install("3.0.0", sha(path.join(dir, "empty.tar.gz")), `${base}/empty.tar.gz`);
        expect(empty.status).not.toBe(0);
        expect(empty.out).toContain("victoria-logs-prod is not in");
        const http = await install("4.0.0", sha(path.join(dir, "release.tar.gz")), `${base.replace("https", "http")}/release.tar.gz`);
        expect(http.status).not.toBe(0);
        for (const r of [wrong, empty, http]) {
            expect(r.current).toBe(before);
            expect(fs.readdirSync(r.root).sort()).toEqual(["1.0.0", "current"]);
        }
    });

    it("installs an upload that matches its sha256 (and removes it), refuses one that does not", async () => {
        const upload = path.join(dir, "upload-bin");
        fs.writeFileSync(upload, "#!/bin/sh\necho uploaded\n", { mode: 0o755 });
        const refused = await install("5.0.0", "f".repeat(64), "", upload);
        expect(refused.status).not.toBe(0);
        expect(refused.out).toContain("ethnode: victoria-logs 5.0.0: sha256 mismatch for the uploaded file; nothing installed");
        expect(fs.existsSync(path.join(refused.root, "5.0.0"))).toBe(false);
        const ok = await install("5.0.0", sha(upload), "", upload);
        expect(ok.status).toBe(0);
        expect(execFileSync(path.join(ok.root, "current", "victoria-logs"), { encoding: "utf8" })).toBe("uploaded\n");
        expect(fs.existsSync(upload)).toBe(false);
    });
});

describe("gateway config", () => {
    const { renderGateway } = require("../components/gateway");
    const { gatewayConfig } = require("./helpers/gateway");
    it.each(["openresty", "debian"])("nginx.conf and gateway.json for %s match their snapshots", (source) => {
        const r = renderGateway({
            gateway: gatewayConfig({ source, trustedProxies: ["10.0.0.0/8"] }),
            backends: [{ name: "node-0", host: "127.0.0.1", port: 8545 }],
            wsUpstream: { host: "127.0.0.1", port: 8546 },
            prefix: "/var/lib/ethnode/gateway",
            releaseDir: "/etc/ethnode/gateway/releases/0123456789abcdef",
            keysFile: "/etc/ethnode/gateway/keys.json",
            exporters: { node: "127.0.0.1:9100", clients: clientExporters(LIGHTHOUSE, "127.0.0.1") },
            metricsAllow: source === "debian" ? ["10.0.0.0/8"] : undefined,
        });
        expect(r.nginxConf).toMatchSnapshot();
        // Metrics leave loopback only for a separate monitoring host, and then only for the allowed peers.
        expect(r.nginxConf).toContain(source === "debian" ? "listen 0.0.0.0:9145;\n        allow 10.0.0.0/8;" : "listen 127.0.0.1:9145;");
        expect(r.nginxConf).toContain("allow 127.0.0.1;\n        deny all;");
        expect(r.gatewayJson).toMatchSnapshot();
        expect(r.nginxConf).toContain("set_real_ip_from 10.0.0.0/8;");
        expect(r.nginxConf.includes("load_module")).toBe(source === "debian");
    });
});
