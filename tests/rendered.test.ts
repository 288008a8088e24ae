/**
 * Rendered assets checked by the tools that consume them: systemd-analyze for units (no warning allowed,
 * exposure score at most 3.0), shellcheck for every provisioning step, plus a snapshot per variant.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tmpDir } from "./helpers/proc";
import { scripts, units } from "./helpers/rendered";
import { clientExporters } from "../components/roles";

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
            exporters: { node: "127.0.0.1:9100", clients: clientExporters(true, "127.0.0.1") },
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
