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
