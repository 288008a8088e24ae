/**
 * A one-node proof-of-stake devnet on loopback for the consensus tier: the interop validators' keys as an
 * operator holds them (EIP-2335 keystores exported from Prysm's own wallet), a genesis both layers agree on, Geth
 * behind the engine API, and private views of a host's /etc, /opt and /var in which the project's steps and CLI
 * run with the paths they have on a host. Everything listens on 127.0.0.1.
 */
import { SpawnSyncReturns, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { Proc, startProc, waitFor } from "./proc";

const CHAIN_ID = 3737;
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

export interface Chain {
    geth: Proc;
    rpcUrl: string;
    engineUrl: string;
    jwtFile: string;
    configFile: string;
    genesisState: string;
}

/**
 * Genesis for `validators` interop validators at `genesisTime` (both layers), and Geth serving it: JSON-RPC
 * and the engine API (behind a fresh JWT) on free loopback ports, P2P on loopback with no peers.
 */
export async function startChain(
    a: { dir: string; geth: string; prysmctl: string; validators: number; slotSeconds: number; genesisTime: number },
    ports: { http: number; engine: number; p2p: number },
): Promise<Chain> {
    const file = (name: string) => path.join(a.dir, name);
    fs.writeFileSync(file("config.yaml"), chainConfig(a.validators, a.slotSeconds));
    fs.writeFileSync(file("execution-in.json"), JSON.stringify(executionGenesis(a.geth)));
    prysm(a.prysmctl, [
        "testnet",
        "generate-genesis",
        `--chain-config-file=${file("config.yaml")}`,
        `--geth-genesis-json-in=${file("execution-in.json")}`,
        `--geth-genesis-json-out=${file("execution.json")}`,
        `--num-validators=${a.validators}`,
        "--fork=fulu",
        `--genesis-time=${a.genesisTime}`,
        `--output-ssz=${file("genesis.ssz")}`,
    ]);
    execFileSync(a.geth, [`--datadir=${file("geth")}`, "init", file("execution.json")], { stdio: "ignore" });
    fs.writeFileSync(file("jwt.hex"), crypto.randomBytes(32).toString("hex"), { mode: 0o600 });
    // --port would bind every interface; the listen address is config-file only.
    fs.writeFileSync(file("geth.toml"), `[Node.P2P]\nListenAddr = "127.0.0.1:${ports.p2p}"\nNoDiscovery = true\nMaxPeers = 0\n`);
    const geth = startProc(
        a.geth,
        [
            `--config=${file("geth.toml")}`,
            `--datadir=${file("geth")}`,
            `--networkid=${CHAIN_ID}`,
            // Every block comes from this chain's own beacon node: there is nothing to snap-sync from.
            "--syncmode=full",
            "--cache=256",
            "--ipcdisable",
            // No port mapping on the local network: this node is reachable on loopback only.
            "--nat=none",
            "--http",
            "--http.addr=127.0.0.1",
            `--http.port=${ports.http}`,
            "--authrpc.addr=127.0.0.1",
            `--authrpc.port=${ports.engine}`,
            `--authrpc.jwtsecret=${file("jwt.hex")}`,
        ],
        file("geth.log"),
    );
    return {
        geth,
        rpcUrl: `http://127.0.0.1:${ports.http}`,
        engineUrl: `http://127.0.0.1:${ports.engine}`,
        jwtFile: file("jwt.hex"),
        configFile: file("config.yaml"),
        genesisState: file("genesis.ssz"),
    };
}

/** The samples of metric `name` at a Prometheus endpoint, by their label set as written (`""` for none). */
export async function scrape(url: string, name: string): Promise<Map<string, number>> {
    const text = await (await fetch(url)).text();
    return new Map([...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => [m[1] ?? "", Number(m[2])]));
}

export const total = (samples: Map<string, number>): number => [...samples.values()].reduce((a, b) => a + b, 0);

/** What systemctl answers for a stopped unit: systemd is not PID 1 here, and the test runs the signer itself. */
const STOPPED_SYSTEMCTL = `#!/bin/sh
if [ "$1" = is-active ]; then echo inactive; exit 3; fi
`;

/**
 * A host's /etc, /opt and /var as a step sees them, in a mount namespace of its own: overlays whose writes land
 * in `dir`, so users, keystores, releases and data directories exist at their real paths there and nowhere
 * else. A held process keeps the namespace; commands enter it. Needs root, as the steps do.
 */
export class HostView {
    private constructor(
        private readonly holder: Proc,
        private readonly dir: string,
    ) {}

    static async open(dir: string): Promise<HostView> {
        if (process.getuid?.() !== 0) throw new Error("a host view needs root: a mount namespace, overlays and system users");
        fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
        fs.writeFileSync(path.join(dir, "bin", "systemctl"), STOPPED_SYSTEMCTL, { mode: 0o755 });
        // Longer than any run of the suite, and gone by itself should a run be killed.
        const holder = startProc("unshare", ["--mount", "--propagation", "private", "sleep", "1800"], path.join(dir, "holder.log"));
        // Nothing may be mounted before the holder is in its own namespace: the mounts would land on the host.
        await waitFor("the host view's mount namespace", async () => (fs.readlinkSync(`/proc/${holder.child.pid}/ns/mnt`) !== fs.readlinkSync("/proc/self/ns/mnt") ? true : undefined));
        const view = new HostView(holder, dir);
        for (const top of ["etc", "opt", "var"]) {
            const [upper, work] = [path.join(dir, top), path.join(dir, `${top}.work`)];
            fs.mkdirSync(upper);
            fs.mkdirSync(work);
            view.must("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=/${top},upperdir=${upper},workdir=${work}`, `/${top}`]);
        }
        return view;
    }

    private enter(cmd: string, args: string[]): string[] {
        return ["--target", String(this.holder.child.pid), "--mount", "--", cmd, ...args];
    }

    /** Runs a command inside the view as root, to completion. */
    run(cmd: string, args: string[], input = "", env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
        return spawnSync("nsenter", this.enter(cmd, args), {
            encoding: "utf8",
            input,
            timeout: 120000,
            env: { ...process.env, PATH: `${path.join(this.dir, "bin")}:${process.env.PATH}`, ...env },
        });
    }

    /** `run`, failing with the command's output unless it succeeds; its stdout. */
    must(cmd: string, args: string[], input = "", env: NodeJS.ProcessEnv = {}): string {
        const r = this.run(cmd, args, input, env);
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ").slice(0, 200)} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    /** Starts a long-running command inside the view as `user`, as a unit's `User=` would. */
    spawn(user: string, cmd: string, args: string[], logFile: string): Proc {
        return startProc("nsenter", this.enter("setpriv", [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", cmd, ...args]), logFile);
    }

    /** Ends the namespace once the processes spawned in it are stopped. */
    close(): Promise<void> {
        return this.holder.stop();
    }
}
