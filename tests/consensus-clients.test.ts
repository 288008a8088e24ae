/**
 * Consensus clients against their own binaries: every flag a rendered unit passes is one the pinned binary
 * knows (its `--help`), for every network. Runs where the binary is in the cache (tests/helpers/consensus.ts);
 * skipped with the reason where it is not.
 */
import { spawnSync } from "child_process";
import { NETWORKS } from "../components/config";
import { renderLighthouseUnit } from "../components/lighthouse";
import { renderPrysmUnit } from "../components/prysm";
import { ConsensusBinary, CONSENSUS_BINARIES, describeConsensus } from "./helpers/consensus";
import { DATA_DIR, PRYSM_TEST_CONFIG } from "./helpers/rendered";
import { execStartArgs } from "./helpers/proc";

const ENGINE = "http://127.0.0.1:8551";

/** Each network's rendered unit for `client`. */
function renderedUnits(client: ConsensusBinary["client"]): [string, string][] {
    return NETWORKS.filter((n) => n !== "dev").map((network) => {
        const n = network as Exclude<typeof network, "dev">;
        const text =
            client === "prysm"
                ? renderPrysmUnit({ network: n, dataDir: DATA_DIR, prysm: PRYSM_TEST_CONFIG, executionEndpoint: ENGINE })
                : renderLighthouseUnit({ network: n, dataDir: DATA_DIR, lighthouse: { checkpointSyncUrl: PRYSM_TEST_CONFIG.checkpointSyncUrl, targetPeers: 100 }, executionEndpoint: ENGINE });
        return [network, text];
    });
}

/** The option names a help text lists (`--name`, whatever follows). */
function helpFlags(bin: string, args: string[]): Set<string> {
    const r = spawnSync(bin, args, { encoding: "utf8", timeout: 60000 });
    const text = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} exited ${r.status}: ${text.slice(0, 500)}`);
    return new Set([...text.matchAll(/(?<![\w-])--[a-z0-9][a-z0-9.-]*/g)].map((m) => m[0]));
}

for (const client of Object.keys(CONSENSUS_BINARIES) as ConsensusBinary["client"][]) {
    describeConsensus(client, `${client}'s rendered flags`, (bin) => {
        const known = new Set<string>();
        beforeAll(() => {
            for (const f of helpFlags(bin, CONSENSUS_BINARIES[client].helpArgs)) known.add(f);
        });

        it.each(renderedUnits(client))("every flag of the %s unit is in --help", (_network, unit) => {
            // Lighthouse's first argument is its subcommand (`bn`), not a flag.
            const flags = execStartArgs(unit)
                .filter((a) => a.startsWith("--"))
                .map((a) => a.split("=")[0]);
            expect(flags.length).toBeGreaterThan(10);
            expect(flags.filter((f) => !known.has(f))).toEqual([]);
        });
    });
}
