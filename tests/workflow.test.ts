/** The CI workflow lints clean (actionlint, pinned, with shellcheck on its run steps) and pins agree. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { logsSection } from "../components/config";
import { ROOT } from "./helpers/pulumi";
import { cachedTool, pinnedVersions } from "./helpers/proc";

describe("GitHub Actions", () => {
    const dir = path.join(ROOT, ".github", "workflows");

    it("passes actionlint", () => {
        const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
        const r = spawnSync(cachedTool("actionlint", "ETHNODE_ACTIONLINT_VERSION"), ["-color=false", ...files], { encoding: "utf8" });
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    it("previews on pull requests with a PR comment and ups main, prod after dev", () => {
        const wf = fs.readFileSync(path.join(dir, "pulumi.yml"), "utf8");
        expect(wf).toMatch(/command: preview[\s\S]*comment-on-pr: true/);
        expect(wf).toMatch(/up-prod:\n\s+needs: up-dev/);
        expect(wf).toContain("role-to-assume: ${{ secrets.AWS_ROLE_ARN }}");
        expect(wf).toContain("run: npm test");
    });

    it("pins the Pulumi CLI to the engine version the tests run, in every pulumi/actions step", () => {
        const wf = fs.readFileSync(path.join(dir, "pulumi.yml"), "utf8");
        expect(wf).toContain(`PULUMI_VERSION: "${pinnedVersions().ETHNODE_PULUMI_VERSION}"`);
        const steps = wf.split("- uses: pulumi/actions@v6").slice(1);
        expect(steps.length).toBe(4);
        for (const step of steps) expect(step).toMatch(/^\s+with:\n\s+pulumi-version: \$\{\{ env\.PULUMI_VERSION \}\}/);
    });

    it("installs the pinned engine plugins before the tests, so the real-engine tier runs there", () => {
        const wf = fs.readFileSync(path.join(dir, "pulumi.yml"), "utf8");
        const pins = pinnedVersions();
        const test = wf.split("\n  preview:")[0];
        expect(test).toContain(`pulumi plugin install resource command ${pins.ETHNODE_PULUMI_COMMAND_VERSION}\n`);
        expect(test).toContain(`pulumi plugin install resource random ${pins.ETHNODE_PULUMI_RANDOM_VERSION}\n`);
        expect(test.indexOf("pulumi plugin install")).toBeLessThan(test.indexOf("run: npm test"));
    });

    it("runs the tests where their Debian 12 packages exist, with Go 1.25+", () => {
        const wf = fs.readFileSync(path.join(dir, "pulumi.yml"), "utf8");
        expect(wf).toMatch(/test:\n[\s\S]*?container:\n\s+image: debian:12\n\s+options: --privileged --cgroupns=host/);
        const go = wf.match(/go-version: "(\d+)\.(\d+)/)!;
        expect(Number(go[1]) * 100 + Number(go[2])).toBeGreaterThanOrEqual(125);
    });
});

describe("the project's own scripts", () => {
    it("pass shellcheck (every severity, sourced files followed)", () => {
        const scripts = fs.readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".sh")).map((f) => path.join("scripts", f));
        const r = spawnSync("shellcheck", ["-x", "--severity=style", ".ci/run", ...scripts], { cwd: ROOT, encoding: "utf8" });
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });
});

describe("only what the package registries serve", () => {
    it("no script, workflow, doc or test builds or names third-party source copied beside the project", () => {
        // The folders that once held copied source, and the scripts that built from them (split so this test
        // does not find itself).
        const banned = ["pulumi" + "-src", "peer" + "-src", "build" + "-peers", "setup" + "-engine", "cl" + "-src"];
        const r = spawnSync("git", ["grep", "-n", "-I", "-E", banned.join("|"), "--", "."], { cwd: ROOT, encoding: "utf8" });
        expect(r.stdout).toBe("");
        expect(r.status).toBe(1);
    });

    it("commits no archive or binary", () => {
        const files = spawnSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).stdout.trim().split("\n");
        expect(files.filter((f) => /\.(tar|tgz|gz|zip|whl|jar|so|exe)$/.test(f))).toEqual([]);
        const big = files.filter((f) => fs.existsSync(path.join(ROOT, f)) && fs.statSync(path.join(ROOT, f)).size > 1000000);
        expect(big).toEqual([]);
    });
});

describe("version pins", () => {
    it("toolchain/versions.env matches package.json's exact npm pins", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        const pins = pinnedVersions();
        expect(pkg.dependencies["@pulumi/pulumi"]).toBe(pins.ETHNODE_PULUMI_VERSION);
        expect(pkg.dependencies["@pulumi/command"]).toBe(pins.ETHNODE_PULUMI_COMMAND_VERSION);
        expect(pkg.dependencies["@pulumi/random"]).toBe(pins.ETHNODE_PULUMI_RANDOM_VERSION);
        for (const [name, v] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
            expect(`${name}@${v}`).toMatch(/@\d+\.\d+\.\d+$/);
        }
    });

    it("the pulumi CLI's build module requires the pinned pkg/v3 and sdk/v3", () => {
        const mod = fs.readFileSync(path.join(ROOT, "toolchain", "pulumi-cli", "go.mod"), "utf8");
        const v = pinnedVersions().ETHNODE_PULUMI_VERSION;
        expect(mod).toMatch(new RegExp(`^require github\\.com/pulumi/pulumi/pkg/v3 v${v.replace(/\./g, "\\.")}$`, "m"));
        expect(mod).toMatch(new RegExp(`^\\tgithub\\.com/pulumi/pulumi/sdk/v3 v${v.replace(/\./g, "\\.")} // indirect$`, "m"));
    });

    it("toolchain/versions.env builds the VictoriaLogs and vmalert a stack installs by default (ethnode:logs)", () => {
        const pins = pinnedVersions();
        expect(logsSection.victoriaLogsVersion.default).toBe(pins.ETHNODE_VICTORIALOGS_VERSION);
        expect(logsSection.vmalertVersion.default).toBe(pins.ETHNODE_VMALERT_VERSION);
    });
});
