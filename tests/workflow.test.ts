/** The CI workflow lints clean (actionlint, pinned, with shellcheck on its run steps) and pins agree. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
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
});

describe("the project's own scripts", () => {
    it("pass shellcheck (every severity, sourced files followed)", () => {
        const scripts = fs.readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".sh")).map((f) => path.join("scripts", f));
        const r = spawnSync("shellcheck", ["-x", "--severity=style", ".ci/run", ...scripts], { cwd: ROOT, encoding: "utf8" });
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
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
});
