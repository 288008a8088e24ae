/**
 * The setup scripts as a fresh machine meets them: a copy of the project with no node_modules, an empty tool
 * cache, no Debian package installed. The package managers and compilers are stand-ins that record what they
 * are asked and produce what the real ones would (a `go build` leaves an executable that answers `version`),
 * so the run proves every install step is in the project's own scripts — in seconds, without the network.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./helpers/pulumi";
import { pinnedVersions, tmpDir } from "./helpers/proc";

const STANDINS: Record<string, string> = {
    // Nothing is installed.
    "dpkg-query": "exit 1",
    // apt chatters on stdout, as the real one does.
    "apt-get": 'echo "$*" >>"$CALLS/apt-get"; echo "Reading package lists... Done"',
    npm: 'echo "$*" >>"$CALLS/npm"; mkdir -p node_modules; touch node_modules/.package-lock.json',
    // go install MODULE@vX (GOBIN) and go build -o OUT PKG: an executable that answers like the real tool (pulumi:
    // the engine stand-in).
    go: `case "$1" in
  env) echo go1.26.8 ;;
  install) m=\${@: -1}; name=\${m%@*}; name=\${name##*/}; v=\${m##*@v}
    if [[ $name == pulumi ]]; then cp "$CALLS/../engine-standin" "$GOBIN/$name"; else printf '#!/bin/sh\\necho "Version: %s-stable"\\n' "$v" >"$GOBIN/$name"; fi
    chmod +x "$GOBIN/$name"; echo "install $m" >>"$CALLS/go" ;;
  build) pkg=\${@: -1}; while (($#)); do if [[ $1 == -o ]]; then out=$2; fi; shift; done
    mkdir -p "$(dirname "$out")"; cp "$CALLS/../engine-standin" "$out"; chmod +x "$out"; echo "build $pkg in \${PWD##*/}" >>"$CALLS/go" ;;
  *) echo "go stand-in: $*" >&2; exit 2 ;;
esac`,
    debootstrap: 'for a in "$@"; do case "$a" in */rootfs) mkdir -p "$a/etc"; echo bookworm >"$a/etc/debian_version" ;; esac; done; echo "I: Base system installed successfully."',
};

/** What `go install` leaves for the pulumi CLI: it answers `version` and lists the plugins in PULUMI_HOME. */
const ENGINE_STANDIN = `#!/bin/bash
case "$1" in
  version) echo "v${pinnedVersions().ETHNODE_PULUMI_VERSION}" ;;
  plugin) cd "$PULUMI_HOME/plugins" && for d in resource-*-v*; do n=\${d#resource-}; echo "{\\"name\\":\\"\${n%-v*}\\",\\"kind\\":\\"resource\\",\\"version\\":\\"\${d##*-v}\\"}"; done | jq -s . ;;
esac
`;

/** A copy of the project as a fresh clone has it, and stand-ins for every installer, in `dir`. */
function freshMachine(dir: string): { project: string; bin: string; calls: string } {
    const calls = path.join(dir, "calls");
    const bin = path.join(dir, "bin");
    fs.mkdirSync(calls);
    fs.mkdirSync(bin);
    for (const [name, body] of Object.entries(STANDINS)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "engine-standin"), ENGINE_STANDIN, { mode: 0o755 });
    const project = path.join(dir, "main");
    fs.mkdirSync(project);
    for (const f of ["scripts", "toolchain", "package.json", "package-lock.json", "Pulumi.yaml", "Pulumi.sandbox.yaml"]) fs.cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
    return { project, bin, calls };
}

/** PULUMI_HOME as `pulumi plugin install` leaves it, with these plugins. */
function pulumiHome(dir: string, plugins: [string, string][]): string {
    for (const [name, version] of plugins) {
        const d = path.join(dir, "plugins", `resource-${name}-v${version}`);
        fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(d, `pulumi-resource-${name}`), "#!/bin/sh\n", { mode: 0o755 });
    }
    return dir;
}

/** The stand-ins' PATH: no pulumi of the machine's own. */
function standinPath(bin: string): string {
    return [bin, ...(process.env.PATH ?? "").split(":").filter((d) => !fs.existsSync(path.join(d, "pulumi")))].join(":");
}

describe("setup on a fresh machine (package managers and compilers stood in)", () => {
    let dir: string;
    let calls: string;
    let cache: string;
    let project: string;
    let run: ReturnType<typeof spawnSync>;

    beforeAll(() => {
        dir = tmpDir("fresh");
        let bin: string;
        ({ project, bin, calls } = freshMachine(dir));
        cache = path.join(dir, "cache");
        run = spawnSync("bash", [path.join(project, "scripts", "setup-test-deps.sh")], {
            cwd: project,
            encoding: "utf8",
            env: { ...process.env, PATH: standinPath(bin), CALLS: calls, ETHNODE_CACHE_DIR: cache, SANDBOX_DIR: path.join(dir, "sandbox"), PULUMI_HOME: path.join(dir, "no-plugins") },
            timeout: 120000,
        });
    });

    const recorded = (tool: string) => (fs.existsSync(path.join(calls, tool)) ? fs.readFileSync(path.join(calls, tool), "utf8").trim().split("\n") : []);

    it("completes", () => {
        expect({ status: run.status, stderr: String(run.stderr).slice(-2000) }).toEqual({ status: 0, stderr: expect.any(String) });
    });

    it("installs every Debian package the tests and the sandbox use", () => {
        const installed = recorded("apt-get")
            .filter((c) => c.includes("install"))
            .flatMap((c) => c.split(" ").filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w) && w !== "install"));
        for (const pkg of [
            "nginx", "libnginx-mod-http-lua", "lua-resty-core", "lua-cjson", "luajit2", "lua-check",
            "prometheus", "prometheus-alertmanager", "prometheus-node-exporter",
            "shellcheck", "systemd", "wrk", "jq", "curl",
            "debootstrap", "systemd-container", "openssh-client",
        ]) {
            expect(installed).toContain(pkg);
        }
        expect(recorded("apt-get")).toContain("update -q");
    });

    it("installs npm packages from the lockfile and builds every pinned Go tool into the cache, and no engine", () => {
        const pins = pinnedVersions();
        expect(recorded("npm")).toEqual(["install --no-save --no-audit --no-fund"]);
        expect(recorded("go").sort()).toEqual(
            [
                `install github.com/ethereum/go-ethereum/cmd/geth@v${pins.ETHNODE_GETH_VERSION}`,
                `install github.com/rhysd/actionlint/cmd/actionlint@v${pins.ETHNODE_ACTIONLINT_VERSION}`,
                `install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v${pins.ETHNODE_VICTORIALOGS_VERSION}`,
                `install github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert@v${pins.ETHNODE_VMALERT_VERSION}`,
            ].sort(),
        );
        // No plugins in PULUMI_HOME: nothing of the engine is built, and nothing is installed into PULUMI_HOME.
        expect(fs.existsSync(path.join(cache, `pulumi-v${pins.ETHNODE_PULUMI_VERSION}`))).toBe(false);
        expect(fs.existsSync(path.join(dir, "no-plugins"))).toBe(false);
        expect(fs.existsSync(path.join(cache, "sandbox-bookworm-rootfs.tar"))).toBe(true);
    });

    it("keeps stdout for answers: the sandbox host script prints nothing of apt's", () => {
        const r = spawnSync("bash", [path.join(project, "scripts", "sandbox-host.sh"), "build"], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, CALLS: calls, ETHNODE_CACHE_DIR: path.join(dir, "cache2") },
        });
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("");
        expect(r.stderr).toContain("Reading package lists");
    });
});

describe("the Pulumi engine, detected (scripts/engine.sh)", () => {
    const pins = pinnedVersions();
    const both: [string, string][] = [
        ["command", pins.ETHNODE_PULUMI_COMMAND_VERSION],
        ["random", pins.ETHNODE_PULUMI_RANDOM_VERSION],
    ];

    function engine(args: string[], home: string, cache: string, m: { bin: string; calls: string; project: string }) {
        return spawnSync("bash", [path.join(m.project, "scripts", "engine.sh"), ...args], {
            encoding: "utf8",
            env: { ...process.env, PATH: standinPath(m.bin), CALLS: m.calls, ETHNODE_CACHE_DIR: cache, PULUMI_HOME: home },
            timeout: 60000,
        });
    }

    it("is absent, in a moment and with no build, when a plugin is missing: exit 3, what is missing and how to get it", () => {
        const dir = tmpDir("engine-absent");
        const m = freshMachine(dir);
        const home = pulumiHome(path.join(dir, "home"), [both[1]]);
        const r = engine(["check"], home, path.join(dir, "cache"), m);
        expect(r.status).toBe(3);
        expect(r.stdout).toBe("");
        expect(r.stderr.split("\n")[0]).toBe(`no pulumi-resource-command ${pins.ETHNODE_PULUMI_COMMAND_VERSION} in PULUMI_HOME (${home})`);
        expect(r.stderr).toContain(`pulumi plugin install resource command ${pins.ETHNODE_PULUMI_COMMAND_VERSION}`);
        expect(r.stderr).toContain(`pulumi plugin install resource random ${pins.ETHNODE_PULUMI_RANDOM_VERSION}`);
        expect(fs.existsSync(path.join(m.calls, "go"))).toBe(false);
    });

    it("is ready with both plugins: builds the pinned CLI from the Go module proxy once and names an env file", () => {
        const dir = tmpDir("engine-ready");
        const m = freshMachine(dir);
        const home = pulumiHome(path.join(dir, "home"), both);
        const cache = path.join(dir, "cache");
        const first = engine(["check"], home, cache, m);
        expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
        const second = engine(["check"], home, cache, m);
        expect(second.status).toBe(0);
        // In the project's own module for it (pkg/v3's replace directives keep `go install …@version` out).
        expect(fs.readFileSync(path.join(m.calls, "go"), "utf8").trim().split("\n")).toEqual(["build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi in pulumi-cli"]);
        const env = fs.readFileSync(first.stdout.trim(), "utf8");
        expect(env).toContain(`export PATH="${path.join(cache, `pulumi-v${pins.ETHNODE_PULUMI_VERSION}`, "bin")}:\${PATH}"`);
        expect(env).toContain(`export PULUMI_HOME="${home}"`);
        expect(env).toContain("export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true");
    });

    it("is broken, not absent, when a plugin's directory is there but pulumi does not list its version", () => {
        const dir = tmpDir("engine-broken");
        const m = freshMachine(dir);
        const home = pulumiHome(path.join(dir, "home"), both);
        // A directory of another version's plugin under the pinned name: the stand-in lists what the names say.
        fs.renameSync(path.join(home, "plugins", `resource-random-v${pins.ETHNODE_PULUMI_RANDOM_VERSION}`), path.join(home, "plugins", "resource-random-v0.0.1"));
        pulumiHome(home, [["random", pins.ETHNODE_PULUMI_RANDOM_VERSION]]);
        fs.writeFileSync(path.join(m.bin, "pulumi"), `#!/bin/bash\ncase "$1" in version) echo v${pins.ETHNODE_PULUMI_VERSION} ;; plugin) echo '[{"name":"command","kind":"resource","version":"${pins.ETHNODE_PULUMI_COMMAND_VERSION}"}]' ;; esac\n`, { mode: 0o755 });
        const r = spawnSync("bash", [path.join(m.project, "scripts", "engine.sh"), "check"], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${m.bin}:${standinPath(m.bin)}`, CALLS: m.calls, ETHNODE_CACHE_DIR: path.join(dir, "cache"), PULUMI_HOME: home },
        });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`pulumi plugin ls does not list random ${pins.ETHNODE_PULUMI_RANDOM_VERSION}`);
        // A pulumi of the pinned version on PATH is used as it is: nothing built.
        expect(fs.existsSync(path.join(m.calls, "go"))).toBe(false);
    });

    it("npm run sandbox without it stops within seconds with what is missing, the pins and the two commands", () => {
        const dir = tmpDir("sandbox-no-engine");
        const m = freshMachine(dir);
        const started = Date.now();
        const r = spawnSync("bash", [path.join(m.project, "scripts", "sandbox.sh"), "up"], {
            encoding: "utf8",
            env: { ...process.env, PATH: standinPath(m.bin), CALLS: m.calls, ETHNODE_CACHE_DIR: path.join(dir, "cache"), PULUMI_HOME: path.join(dir, "empty-home"), SANDBOX_DIR: path.join(dir, "sb") },
            timeout: 30000,
        });
        expect(Date.now() - started).toBeLessThan(10000);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("the sandbox needs the Pulumi engine");
        expect(r.stderr).toContain(`no pulumi-resource-command ${pins.ETHNODE_PULUMI_COMMAND_VERSION} in PULUMI_HOME`);
        expect(r.stderr).toContain(`no pulumi-resource-random ${pins.ETHNODE_PULUMI_RANDOM_VERSION} in PULUMI_HOME`);
        expect(r.stderr).toContain(`pulumi ${pins.ETHNODE_PULUMI_VERSION}`);
        expect(r.stderr).toContain(`pulumi plugin install resource command ${pins.ETHNODE_PULUMI_COMMAND_VERSION}\n`);
        expect(r.stderr).toContain(`pulumi plugin install resource random ${pins.ETHNODE_PULUMI_RANDOM_VERSION}\n`);
        // Nothing was installed on the way.
        expect(fs.readdirSync(m.calls)).toEqual([]);
    });
});
