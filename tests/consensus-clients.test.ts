/**
 * Consensus clients against their own binaries: every flag a rendered unit passes is one the pinned binary
 * knows (its `--help`), for every network. Runs where the binary is in the cache (tests/helpers/consensus.ts);
 * skipped with the reason where it is not.
 */
import { spawnSync } from "child_process";
import { NETWORKS } from "../components/config";
import { renderLighthouseUnit } from "../components/lighthouse";
import { PRYSM_EXECUTABLE_STACK, renderPrysmUnit } from "../components/prysm";
import * as fs from "fs";
import { ConsensusBinary, CONSENSUS_BINARIES, describeConsensus } from "./helpers/consensus";
import { DATA_DIR, DEVNET_TEST_BEACON, PRYSM_TEST_CONFIG, VALIDATOR_TEST_CONFIG } from "./helpers/rendered";
import { renderValidatorUnit } from "../components/validator";
import * as path from "path";
import { execStartArgs } from "./helpers/proc";

const ENGINE = "http://127.0.0.1:8551";

/** Each network's rendered unit for `client` (a devnet runs Prysm only). */
function renderedUnits(client: ConsensusBinary["client"]): [string, string][] {
    return NETWORKS.filter((n) => n !== "dev" && (client === "prysm" || n !== "devnet")).map((network) => {
        const n = network as Exclude<typeof network, "dev">;
        const text =
            client === "prysm"
                ? renderPrysmUnit({
                      network: n,
                      dataDir: DATA_DIR,
                      prysm: { ...PRYSM_TEST_CONFIG, slasher: true },
                      executionEndpoint: ENGINE,
                      monitorIndices: [1, 2],
                      devnet: n === "devnet" ? DEVNET_TEST_BEACON : undefined,
                  })
                : renderLighthouseUnit({ network: n, dataDir: DATA_DIR, lighthouse: { checkpointSyncUrl: PRYSM_TEST_CONFIG.checkpointSyncUrl, targetPeers: 100 }, executionEndpoint: ENGINE });
        return [network, text];
    });
}

/** The flags a unit passes (Lighthouse's first argument is its subcommand, `bn`, not a flag). */
function unitFlags(unit: string): string[] {
    return execStartArgs(unit)
        .filter((a) => a.startsWith("--"))
        .map((a) => a.split("=")[0]);
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
            const flags = unitFlags(unit);
            expect(flags.length).toBeGreaterThan(10);
            expect(flags.filter((f) => !known.has(f))).toEqual([]);
        });
    });
}

/** Whether an ELF64 binary asks for an executable stack: its PT_GNU_STACK program header has PF_X. */
function executableStack(file: string): boolean {
    const elf = fs.readFileSync(file);
    const [phoff, phentsize, phnum] = [Number(elf.readBigUInt64LE(0x20)), elf.readUInt16LE(0x36), elf.readUInt16LE(0x38)];
    for (let i = 0; i < phnum; i++) {
        const at = phoff + i * phentsize;
        if (elf.readUInt32LE(at) === 0x6474e551) return (elf.readUInt32LE(at + 4) & 1) === 1;
    }
    // No PT_GNU_STACK: the kernel and glibc default to an executable stack.
    return true;
}

describeConsensus("prysm", "Prysm's binaries and the units' memory protection", (bin) => {
    it.each(["beacon-chain", "validator"])("%s asks for an executable stack exactly when its unit allows writable executable memory", (program) => {
        const stack = executableStack(path.join(path.dirname(bin), program));
        expect(PRYSM_EXECUTABLE_STACK).toBe(stack);
        const unit = program === "validator"
            ? renderValidatorUnit({ network: "mainnet", dataDir: DATA_DIR, validator: VALIDATOR_TEST_CONFIG })
            : renderPrysmUnit({ network: "mainnet", dataDir: DATA_DIR, prysm: PRYSM_TEST_CONFIG, executionEndpoint: ENGINE });
        expect(unit).toContain(`MemoryDenyWriteExecute=${stack ? "no" : "yes"}`);
    });
});

// Prysm's validator client ships beside its beacon node (the same release, the same cache directory).
describeConsensus("prysm", "Prysm validator's rendered flags", (bin) => {
    const known = new Set<string>();
    beforeAll(() => {
        for (const f of helpFlags(path.join(path.dirname(bin), "validator"), ["--help"])) known.add(f);
    });

    it.each(NETWORKS.filter((n) => n !== "dev"))("every flag of the %s validator unit is in --help", (network) => {
        const unit = renderValidatorUnit({ network: network as Exclude<typeof network, "dev">, dataDir: DATA_DIR, validator: VALIDATOR_TEST_CONFIG });
        const flags = unitFlags(unit);
        expect(flags).toContain("--enable-doppelganger");
        expect(flags.filter((f) => !known.has(f))).toEqual([]);
    });

    it("takes the subcommands and options the keys step, the fence and the CLI run", () => {
        const run = (args: string[]) => helpFlags(path.join(path.dirname(bin), "validator"), args);
        const imp = run(["accounts", "import", "--help"]);
        for (const f of ["--keys-dir", "--wallet-dir", "--wallet-password-file", "--account-password-file", "--accept-terms-of-use"]) expect(imp).toContain(f);
        expect(run(["slashing-protection-history", "export", "--help"])).toContain("--slashing-protection-export-dir");
        expect(run(["slashing-protection-history", "import", "--help"])).toContain("--slashing-protection-json-file");
    });
});
