/**
 * The consensus-client tier: suites that run a consensus client's own binary. No package registry serves them,
 * so the project never installs them: they are detected in the cache at their pinned versions
 * (toolchain/versions.env, `<cache>/<client>-v<version>/<binary>`), and a suite whose binary is absent is
 * skipped with what it lacked — never counted as passed. README "Tests" says how to put them there.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pinnedVersions } from "./proc";

export interface ConsensusBinary {
    client: "prysm" | "lighthouse";
    version: string;
    /** The program that serves the beacon node, and the arguments before its own `--help`. */
    program: string;
    helpArgs: string[];
}

export const CONSENSUS_BINARIES: Record<ConsensusBinary["client"], Omit<ConsensusBinary, "version">> = {
    prysm: { client: "prysm", program: "beacon-chain", helpArgs: ["--help"] },
    lighthouse: { client: "lighthouse", program: "lighthouse", helpArgs: ["bn", "--help"] },
};

const cacheDir = () => process.env.ETHNODE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "ethnode");

/** The binary's path and version, or why the tier cannot run. */
export function consensusBinary(client: ConsensusBinary["client"]): { path: string; version: string } | { missing: string } {
    const version = pinnedVersions()[`ETHNODE_${client.toUpperCase()}_VERSION`];
    const file = path.join(cacheDir(), `${client}-v${version}`, CONSENSUS_BINARIES[client].program);
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return { path: file, version };
    } catch {
        return { missing: `${client} ${version} not installed at ${file}` };
    }
}

/** `describe` for a suite that needs `client`'s binary: skipped, with the reason in its name, when absent. */
export function describeConsensus(client: ConsensusBinary["client"], name: string, fn: (bin: string) => void): void {
    const b = consensusBinary(client);
    if ("missing" in b) describe.skip(`${name} [skipped: ${b.missing}]`, () => fn(""));
    else describe(`${name} (${client} ${b.version})`, () => fn(b.path));
}

/** The tier line scripts/test.sh prints: which clients' suites ran and which were skipped, and why. */
export function consensusTierLine(): string {
    const parts = (Object.keys(CONSENSUS_BINARIES) as ConsensusBinary["client"][]).map((c) => {
        const b = consensusBinary(c);
        return "missing" in b ? `${c} skipped (${b.missing})` : `${c} ran`;
    });
    return `consensus-client suites: ${parts.join("; ")}`;
}

if (process.argv[1] === __filename) console.log(consensusTierLine());
