/**
 * A devnet's genesis and its validators' keystores, from the pinned binaries (Geth, prysmctl, Prysm's validator):
 * the beacon chain's config.yaml (mainnet preset, every fork through Fulu at genesis, short slots), Geth's
 * genesis.json (completed by prysmctl) and genesis.ssz for N interop validators, and those validators' keys as an
 * operator holds them: EIP-2335 keystores exported from Prysm's own wallet. The sandbox's proof-of-stake chain
 * and the consensus tier's devnets are made here.
 *
 *   node scripts/ts-run.js scripts/devnet-genesis.ts --out DIR --geth BIN --prysm-dir DIR \
 *     [--validators 64] [--slot-seconds 6] [--genesis-delay 120] [--password-file FILE]
 *
 * writes DIR/genesis/{config.yaml,genesis.json,genesis.ssz} (ethnode:devnet.genesisDir) and DIR/keystores.json
 * (ethnode:validatorKeystores), the keystores encrypted with the password in --password-file.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

/** The devnet's execution chain id (Geth's --networkid). */
export const CHAIN_ID = 3737;
const DEPOSIT_CONTRACT = "0x4242424242424242424242424242424242424242";
/** The mainnet preset's epoch: Prysm's release binaries carry no other. */
export const SLOTS_PER_EPOCH = 32;

/** BLS12-381's group order r. */
const CURVE_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

/** Interop (mock-start) secret key `i`: sha256 of i as 32 little-endian bytes, read little-endian, mod r. */
function interopSecretKey(i: number): string {
    const index = Buffer.alloc(32);
    index.writeUInt32LE(i);
    const digest = crypto.createHash("sha256").update(index).digest();
    return (BigInt(`0x${Buffer.from(digest).reverse().toString("hex")}`) % CURVE_ORDER).toString(16).padStart(64, "0");
}

/** Runs a Prysm binary to completion; its output, or an error with its last lines. */
function prysm(bin: string, args: string[]): string {
    const r = spawnSync(bin, args, { encoding: "utf8", timeout: 120000 });
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.slice(0, 2).join(" ")} exited ${r.status ?? r.signal}: ${out.split("\n").slice(-8).join("\n")}`);
    return out;
}

/** The files of a zip archive (stored or deflated), read through its central directory. */
function readZip(zip: Buffer): Map<string, Buffer> {
    const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const files = new Map<string, Buffer>();
    let at = zip.readUInt32LE(end + 16);
    for (let n = zip.readUInt16LE(end + 10); n > 0; n--) {
        const [method, size, nameLength] = [zip.readUInt16LE(at + 10), zip.readUInt32LE(at + 20), zip.readUInt16LE(at + 28)];
        const local = zip.readUInt32LE(at + 42);
        const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
        const data = zip.subarray(start, start + size);
        files.set(zip.toString("utf8", at + 46, at + 46 + nameLength), method === 8 ? zlib.inflateRawSync(data) : data);
        at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    }
    return files;
}

/**
 * The first `count` interop validators as an operator holds them: each secret key imported into a scratch
 * wallet, then every account exported by `validator accounts backup` as EIP-2335 keystores under `password`.
 */
export function operatorKeystores(validator: string, dir: string, count: number, password: string): string[] {
    const passwordFile = path.join(dir, "password");
    fs.writeFileSync(passwordFile, password, { mode: 0o600 });
    const wallet = ["--accept-terms-of-use", `--wallet-dir=${path.join(dir, "wallet")}`, `--wallet-password-file=${passwordFile}`];
    for (let i = 0; i < count; i++) {
        const keyFile = path.join(dir, `interop-${i}.hex`);
        fs.writeFileSync(keyFile, interopSecretKey(i), { mode: 0o600 });
        // Prysm asks for a keystore directory even when it imports a private key.
        prysm(validator, ["accounts", "import", ...wallet, `--keys-dir=${dir}`, `--import-private-key-file=${keyFile}`]);
    }
    const pubkeys = [...new Set(prysm(validator, ["accounts", "list", ...wallet]).match(/0x[0-9a-f]{96}/g))];
    prysm(validator, ["accounts", "backup", ...wallet, `--backup-dir=${dir}`, `--backup-public-keys=${pubkeys.join(",")}`, `--backup-password-file=${passwordFile}`]);
    return [...readZip(fs.readFileSync(path.join(dir, "backup.zip"))).values()].map((b) => b.toString("utf8"));
}

/** The consensus chain's config: mainnet's preset, every fork through Fulu at genesis, short slots. */
export function chainConfig(validators: number, slotSeconds: number): string {
    const forks = ["ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU"].flatMap((f, i) => [`${f}_FORK_VERSION: 0x${i + 2}0000e7e`, `${f}_FORK_EPOCH: 0`]);
    return [
        "PRESET_BASE: mainnet",
        "CONFIG_NAME: ethnode-devnet",
        `MIN_GENESIS_ACTIVE_VALIDATOR_COUNT: ${validators}`,
        "GENESIS_DELAY: 0",
        `SECONDS_PER_SLOT: ${slotSeconds}`,
        `SLOT_DURATION_MS: ${slotSeconds * 1000}`,
        "GENESIS_FORK_VERSION: 0x10000e7e",
        ...forks,
        // Unscheduled, but Prysm refuses a config whose version of any fork clashes with a known network's.
        "GLOAS_FORK_VERSION: 0x80000e7e",
        "TERMINAL_TOTAL_DIFFICULTY: 0",
        `DEPOSIT_CHAIN_ID: ${CHAIN_ID}`,
        `DEPOSIT_NETWORK_ID: ${CHAIN_ID}`,
        `DEPOSIT_CONTRACT_ADDRESS: ${DEPOSIT_CONTRACT}`,
    ].join("\n");
}

/** Prague's system contracts (EIP-4788, EIP-2935, EIP-7002, EIP-7251): a Prague block calls each of them. */
const SYSTEM_CONTRACTS = [
    "0x000f3df6d732807ef1319fb7b8bb8522d0beac02",
    "0x0000f90827f1c53a10cb7a02335b175320002935",
    "0x00000961ef480eb55e80d19ad83579a64c007002",
    "0x0000bbddc7ce488642fb579f8b00f3a590007251",
];

/**
 * The execution genesis prysmctl completes (fork times, timestamp): Osaka and every fork before it at genesis,
 * with the system contracts' code as the pinned Geth's own dev genesis carries it.
 */
function executionGenesis(geth: string): object {
    const dev = JSON.parse(execFileSync(geth, ["--dev", "dumpgenesis"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    const alloc = Object.fromEntries(Object.entries(dev.alloc).filter(([a]) => SYSTEM_CONTRACTS.includes(`0x${a.replace(/^0x/, "").toLowerCase()}`)));
    if (Object.keys(alloc).length !== SYSTEM_CONTRACTS.length) throw new Error(`geth --dev dumpgenesis lacks a system contract: has ${Object.keys(alloc).join(", ")}`);
    const blocks = ["homestead", "eip150", "eip155", "eip158", "byzantium", "constantinople", "petersburg", "istanbul", "berlin", "london", "mergeNetsplit"];
    const prague = dev.config.blobSchedule.prague;
    return {
        config: {
            chainId: CHAIN_ID,
            ...Object.fromEntries(blocks.map((b) => [`${b}Block`, 0])),
            terminalTotalDifficulty: 0,
            ...Object.fromEntries(["shanghai", "cancun", "prague", "osaka"].map((f) => [`${f}Time`, 0])),
            depositContractAddress: DEPOSIT_CONTRACT,
            // Osaka keeps Prague's blob parameters until a blob-parameter-only fork changes them.
            blobSchedule: { cancun: dev.config.blobSchedule.cancun, prague, osaka: prague },
        },
        timestamp: "0x0",
        gasLimit: "0x2255100",
        difficulty: "0x0",
        baseFeePerGas: "0x3b9aca00",
        alloc,
    };
}

/** Both genesis files for `validators` interop validators at `genesisTime`, written into `dir`. */
export function writeGenesis(a: { dir: string; geth: string; prysmctl: string; validators: number; slotSeconds: number; genesisTime: number }): void {
    const file = (name: string) => path.join(a.dir, name);
    fs.mkdirSync(a.dir, { recursive: true });
    fs.writeFileSync(file("config.yaml"), chainConfig(a.validators, a.slotSeconds));
    const input = path.join(fs.mkdtempSync(path.join(a.dir, ".in-")), "execution-in.json");
    fs.writeFileSync(input, JSON.stringify(executionGenesis(a.geth)));
    prysm(a.prysmctl, [
        "testnet",
        "generate-genesis",
        `--chain-config-file=${file("config.yaml")}`,
        `--geth-genesis-json-in=${input}`,
        `--geth-genesis-json-out=${file("genesis.json")}`,
        `--num-validators=${a.validators}`,
        "--fork=fulu",
        `--genesis-time=${a.genesisTime}`,
        `--output-ssz=${file("genesis.ssz")}`,
    ]);
    fs.rmSync(path.dirname(input), { recursive: true, force: true });
}

function main(argv: string[]): void {
    const opt = (name: string, fallback?: string): string => {
        const i = argv.indexOf(`--${name}`);
        const v = i >= 0 ? argv[i + 1] : fallback;
        if (v === undefined) throw new Error(`devnet-genesis: --${name} is required`);
        return v;
    };
    const out = opt("out");
    const prysmDir = opt("prysm-dir");
    const validators = Number(opt("validators", "64"));
    const password = fs.readFileSync(opt("password-file"), "utf8");
    writeGenesis({
        dir: path.join(out, "genesis"),
        geth: opt("geth"),
        prysmctl: path.join(prysmDir, "prysmctl"),
        validators,
        slotSeconds: Number(opt("slot-seconds", "6")),
        genesisTime: Math.floor(Date.now() / 1000) + Number(opt("genesis-delay", "120")),
    });
    const scratch = fs.mkdtempSync(path.join(out, ".keys-"));
    try {
        const keystores = operatorKeystores(path.join(prysmDir, "validator"), scratch, validators, password);
        fs.writeFileSync(path.join(out, "keystores.json"), JSON.stringify(keystores.map((k) => JSON.parse(k))), { mode: 0o600 });
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
    console.log(`devnet genesis for ${validators} validators in ${path.join(out, "genesis")}, keystores in ${path.join(out, "keystores.json")}`);
}

if (process.argv[1] === __filename) main(process.argv.slice(2));
