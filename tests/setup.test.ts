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
    // go install MODULE@vX (GOBIN) and go build -o OUT: an executable that answers like the real tool.
    go: `case "$1" in
  env) echo go1.26.8 ;;
  install) m=\${@: -1}; name=\${m%@*}; name=\${name##*/}; v=\${m##*@v}
    printf '#!/bin/sh\\necho "Version: %s-stable"\\n' "$v" >"$GOBIN/$name"; chmod +x "$GOBIN/$name"; echo "install $m" >>"$CALLS/go" ;;
  build) while (($#)); do if [[ $1 == -o ]]; then out=$2; fi; shift; done
    cp "$CALLS/../engine-standin" "$out"; chmod +x "$out"; echo "build $(basename "\${out%.tmp}")" >>"$CALLS/go" ;;
  *) echo "go stand-in: $*" >&2; exit 2 ;;
esac`,
    debootstrap: 'for a in "$@"; do case "$a" in */rootfs) mkdir -p "$a/etc"; echo bookworm >"$a/etc/debian_version" ;; esac; done; echo "I: Base system installed successfully."',
};

/** What `go build` leaves: pulumi answers `version` and installs plugins; the rest just exist. */
const ENGINE_STANDIN = `#!/bin/bash
case "$1" in
  version) echo "v${pinnedVersions().ETHNODE_PULUMI_VERSION}" ;;
  plugin) mkdir -p "$PULUMI_HOME/plugins/resource-$4-v$5"; cp "$7" "$PULUMI_HOME/plugins/resource-$4-v$5/" ;;
esac
`;

describe("setup on a fresh machine (package managers and compilers stood in)", () => {
    let dir: string;
    let calls: string;
    let cache: string;
    let project: string;
    let run: ReturnType<typeof spawnSync>;

    beforeAll(() => {
        dir = tmpDir("fresh");
        calls = path.join(dir, "calls");
        cache = path.join(dir, "cache");
        const bin = path.join(dir, "bin");
        fs.mkdirSync(calls);
        fs.mkdirSync(bin);
        for (const [name, body] of Object.entries(STANDINS)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "engine-standin"), ENGINE_STANDIN, { mode: 0o755 });
        // The project as a fresh clone has it, beside the shared/ CI lays out next to it.
        project = path.join(dir, "main");
        fs.mkdirSync(project);
        for (const f of ["scripts", "toolchain", "package.json", "package-lock.json"]) fs.cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
        fs.symlinkSync(path.join(ROOT, "..", "shared"), path.join(dir, "shared"));
        run = spawnSync("bash", [path.join(project, "scripts", "setup-test-deps.sh")], {
            cwd: project,
            encoding: "utf8",
            env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CALLS: calls, ETHNODE_CACHE_DIR: cache, SANDBOX_DIR: path.join(dir, "sandbox") },
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
            "nginx", "libnginx-mod-http-lua", "lua-resty-core", "lua-cjson", "luajit2",
            "prometheus", "prometheus-alertmanager", "prometheus-node-exporter",
            "shellcheck", "systemd", "wrk", "jq", "curl",
            "debootstrap", "systemd-container", "openssh-client",
        ]) {
            expect(installed).toContain(pkg);
        }
        expect(recorded("apt-get")).toContain("update -q");
    });

    it("installs npm packages from the lockfile and builds every pinned Go tool and the engine into the cache", () => {
        const pins = pinnedVersions();
        expect(recorded("npm")).toEqual(["install --no-save --no-audit --no-fund"]);
        expect(recorded("go")).toEqual(
            expect.arrayContaining([
                `install github.com/ethereum/go-ethereum/cmd/geth@v${pins.ETHNODE_GETH_VERSION}`,
                `install github.com/rhysd/actionlint/cmd/actionlint@v${pins.ETHNODE_ACTIONLINT_VERSION}`,
                "build pulumi",
                "build pulumi-language-nodejs",
                "build pulumi-resource-command",
                "build pulumi-resource-random",
            ]),
        );
        const engine = path.join(cache, `pulumi-engine-${pins.ETHNODE_PULUMI_VERSION}`);
        expect(fs.existsSync(path.join(engine, "home", "plugins", `resource-command-v${pins.ETHNODE_PULUMI_COMMAND_VERSION}`, "pulumi-resource-command"))).toBe(true);
        expect(fs.existsSync(path.join(engine, "home", "plugins", `resource-random-v${pins.ETHNODE_PULUMI_RANDOM_VERSION}`, "pulumi-resource-random"))).toBe(true);
        expect(fs.readFileSync(path.join(engine, "env"), "utf8")).toContain("export PULUMI_IGNORE_AMBIENT_PLUGINS=true");
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
