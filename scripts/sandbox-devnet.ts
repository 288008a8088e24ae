/**
 * Turns the sandbox's stack config into a proof-of-stake devnet of its own (scripts/sandbox.sh does this where
 * the pinned Prysm binaries are in the cache): Prysm as the consensus client and Prysm's validator, both uploaded
 * from the cache; the devnet's genesis (scripts/devnet-genesis.ts); node 0 signing for three quarters of the
 * genesis validators and node 1 for the rest, so one signer can be stopped while the chain still finalizes (its
 * penalties then show), every beacon node watching them all; the gateway's default lag limit, since the nodes
 * now share one chain.
 * The keystores and their password are added as secrets by the caller, never here.
 *
 *   node scripts/ts-run.js scripts/sandbox-devnet.ts CONFIG_FILE DEVNET_DIR PRYSM_DIR PRYSM_VERSION
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

/** Where the sandbox's fees go: an address of its own, never the zero address. */
const FEE_RECIPIENT = "0x000000000000000000000000000000000000e7e0";

function main([configFile, devnetDir, prysmDir, version]: string[]): void {
    if (!version) throw new Error("usage: sandbox-devnet.ts CONFIG_FILE DEVNET_DIR PRYSM_DIR PRYSM_VERSION");
    const doc = yaml.load(fs.readFileSync(configFile, "utf8")) as { config: Record<string, any> };
    const c = doc.config;
    const keystores = JSON.parse(fs.readFileSync(path.join(devnetDir, "keystores.json"), "utf8")) as { pubkey: string }[];
    const pubkeys = keystores.map((k) => `0x${k.pubkey}`);
    // Under a third of the stake on node 1: with it stopped, the rest still justifies and finalizes.
    const split = Math.ceil((pubkeys.length * 3) / 4);
    c["ethnode:network"] = "devnet";
    c["ethnode:consensusClient"] = "prysm";
    c["ethnode:prysm"] = { version, source: "upload", binaryPath: path.join(prysmDir, "beacon-chain") };
    // The stack file's own devnet settings (genesisNodes) stay.
    c["ethnode:devnet"] = { ...c["ethnode:devnet"], genesisDir: path.join(devnetDir, "genesis") };
    c["ethnode:validator"] = {
        version,
        source: "upload",
        binaryPath: path.join(prysmDir, "validator"),
        feeRecipient: FEE_RECIPIENT,
        graffiti: "ethnode-sandbox",
        signers: [
            { node: 0, pubkeys: pubkeys.slice(0, split) },
            { node: 1, pubkeys: pubkeys.slice(split) },
        ],
        monitorIndices: keystores.map((_, i) => i),
    };
    if (c["ethnode:gateway"]) delete c["ethnode:gateway"].maxLagBlocks;
    fs.writeFileSync(configFile, yaml.dump(doc, { lineWidth: -1 }));
}

if (process.argv[1] === __filename) main(process.argv.slice(2));
