/**
 * Runs a TypeScript file with node: every .ts module is transpiled as it loads (CommonJS, no type check —
 * `npm test` type-checks the project once, separately). What the sandbox runs the program and its engine
 * driver with, so nothing is compiled into a directory first.
 *
 *   node scripts/ts-run.js FILE.ts [ARGS...]
 */
const fs = require("fs");
const path = require("path");
const ts = require("typescript");

const options = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    esModuleInterop: true,
    sourceMap: false,
    inlineSourceMap: true,
};

require.extensions[".ts"] = (module, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, "utf8"), { compilerOptions: options, fileName: filename });
    module._compile(out.outputText, filename);
};

const [file, ...args] = process.argv.slice(2);
if (!file) {
    process.stderr.write("usage: node scripts/ts-run.js FILE.ts [ARGS...]\n");
    process.exit(2);
}
process.argv = [process.argv[0], path.resolve(file), ...args];
require(path.resolve(file));
