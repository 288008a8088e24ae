/** The README's config table is generated from the config module; this fails when they drift. */
import * as fs from "fs";
import * as path from "path";
import { configReference } from "../components/configdoc";
import { ROOT } from "./helpers/pulumi";

const BEGIN = "<!-- config-reference:begin (generated: UPDATE_README=1 npx jest tests/readme.test.ts) -->";
const END = "<!-- config-reference:end -->";

describe("README", () => {
    const file = path.join(ROOT, "README.md");

    it("documents every config key exactly as the config module defines it", () => {
        let readme = fs.readFileSync(file, "utf8");
        const start = readme.indexOf(BEGIN);
        const end = readme.indexOf(END);
        expect(start).toBeGreaterThan(-1);
        expect(end).toBeGreaterThan(start);
        const expected = `${BEGIN}\n${configReference()}\n${END}`;
        if (process.env.UPDATE_README === "1") {
            readme = readme.slice(0, start) + expected + readme.slice(end + END.length);
            fs.writeFileSync(file, readme);
        }
        expect(readme.slice(start, end + END.length)).toBe(expected);
    });

    it("names the two newcomer commands, and .ci/run runs the test command", () => {
        const readme = fs.readFileSync(file, "utf8");
        expect(readme).toContain("npm run sandbox");
        expect(readme).toContain("npm test");
        expect(fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8")).toMatch(/^npm test$/m);
    });
});

describe("counts and diagrams that stay true", () => {
    const ruleNames = (file: string) => [...fs.readFileSync(path.join(ROOT, "assets", "monitoring", file), "utf8").matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]);

    it("the README's alert count is the rule files' (metric and log alerts)", () => {
        const metric = new Set(ruleNames("alerts.yml")).size;
        const logs = new Set(ruleNames("log-rules.yml")).size;
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").replace(/\s+/g, " ");
        expect(readme).toContain(`${metric + logs} alerts — ${metric} on metrics, ${logs} on central logs`);
    });

    it("the architecture diagram names every component the program has", () => {
        const classes = new Set<string>();
        for (const f of fs.readdirSync(path.join(ROOT, "components"))) {
            for (const m of fs.readFileSync(path.join(ROOT, "components", f), "utf8").matchAll(/"ethnode:\w+:(\w+)"/g)) classes.add(m[1]);
        }
        expect(classes.size).toBeGreaterThanOrEqual(10);
        const diagram = fs.readFileSync(path.join(ROOT, "docs", "architecture.md"), "utf8").split("```mermaid")[1].split("```")[0];
        for (const c of classes) expect({ component: c, named: diagram.includes(c) }).toEqual({ component: c, named: true });
    });
});

describe("docs", () => {
    it("has an operations guide, an architecture overview with a mermaid diagram, a security model and runbooks", () => {
        const doc = (f: string) => fs.readFileSync(path.join(ROOT, "docs", f), "utf8");
        expect(doc("architecture.md")).toContain("```mermaid");
        for (const section of ["## Deploy", "## Upgrade a client", "## Back up and restore", "## Disaster recovery", "## Rotate secrets"]) {
            expect(doc("operations.md")).toContain(section);
        }
        expect(doc("security.md")).toContain("## Where secrets live");
        expect(doc("runbooks.md")).toContain("### Watchdog");
    });
});
