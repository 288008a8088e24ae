/** The gateway's pure Lua modules, under the LuaJIT that ships with the lua module (luajit2). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./helpers/pulumi";

const DIR = path.join(ROOT, "tests", "lua");
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith("_test.lua"));

it("has a test file per pure module", () => {
    expect(FILES.length).toBeGreaterThanOrEqual(5);
});

// One case per file, so a failure names its module.
it.each(FILES)("%s passes under luajit", (file) => {
    const r = spawnSync("luajit", [path.join(DIR, "runner.lua"), path.join(ROOT, "lua"), path.join(DIR, file)], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
    expect(Number(r.stdout.split(" ")[0])).toBeGreaterThanOrEqual(1);
    expect(r.status).toBe(0);
});

it("luacheck (Debian's lua-check 1.1.0, .luacheckrc) finds nothing in the gateway's Lua or its tests", () => {
    expect(spawnSync("luacheck", ["--version"], { encoding: "utf8" }).stdout).toContain("Luacheck: 1.1.0");
    const r = spawnSync("luacheck", ["--no-color", "--codes", "lua", "tests/lua", "scripts/bench-upstream.lua"], { cwd: ROOT, encoding: "utf8" });
    expect(r.stdout).toMatch(/Total: 0 warnings \/ 0 errors in \d+ files/);
    expect(r.status).toBe(0);
});
