/** The gateway's pure Lua modules, under the LuaJIT that ships with the lua module (luajit2). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./helpers/pulumi";

it("Lua unit tests pass under luajit", () => {
    const dir = path.join(ROOT, "tests", "lua");
    const files = fs.readdirSync(dir).filter((f) => f.endsWith("_test.lua")).map((f) => path.join(dir, f));
    expect(files.length).toBeGreaterThanOrEqual(5);
    const r = spawnSync("luajit", [path.join(dir, "runner.lua"), path.join(ROOT, "lua"), ...files], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
    expect(Number(r.stdout.split(" ")[0])).toBeGreaterThanOrEqual(25);
    expect(r.status).toBe(0);
});
