/**
 * A proof-of-stake chain of your own (`ethnode:network: devnet`): its genesis (Geth's genesis.json, the beacon
 * chain's config.yaml and genesis.ssz, as `prysmctl testnet generate-genesis` writes them) goes to every node, the
 * nodes peer with each other only (fixed P2P keys, static peers, no discovery), and a node that joins later
 * checkpoint-syncs from the first node's beacon API through that node's gateway peer listener.
 *
 * Everything a public network's name tells the clients is read here from the genesis files instead.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ConfigError, Network } from "./schema";

/** Where every node keeps the devnet's genesis files. */
export const DEVNET_DIR = "/etc/ethnode/devnet";
export const DEVNET_FILES = { execution: "genesis.json", config: "config.yaml", state: "genesis.ssz" } as const;

/** What the clients need to know of a chain, on public networks from its name. */
export interface ChainTiming {
    secondsPerSlot: number;
    slotsPerEpoch: number;
}

/** The public networks' timing (mainnet preset). */
export const PUBLIC_TIMING: ChainTiming = { secondsPerSlot: 12, slotsPerEpoch: 32 };

/** A stack's chain timing: a devnet's from its genesis, else the public networks'. */
export function chainTiming(devnet?: { genesis: ChainTiming }): ChainTiming {
    return devnet ? { secondsPerSlot: devnet.genesis.secondsPerSlot, slotsPerEpoch: devnet.genesis.slotsPerEpoch } : PUBLIC_TIMING;
}

/** How Prysm's binaries are told the chain: a public network by its name, a devnet by its config file. */
export function prysmChainFlags(network: Exclude<Network, "dev">): string[] {
    return network === "devnet" ? [`--chain-config-file=${DEVNET_DIR}/${DEVNET_FILES.config}`] : [`--${network}`];
}

export interface DevnetGenesis extends ChainTiming {
    /** Geth's --networkid: the execution genesis' chain id. */
    chainId: number;
    /** The files as they go to the hosts; the SSZ state in base64 (the steps carry text). */
    files: { execution: string; config: string; stateBase64: string };
}

/** A `KEY: value` of a chain config, as a number. */
function yamlNumber(text: string, key: string): number | undefined {
    const m = text.match(new RegExp(`^${key}:\\s*['"]?(\\d+)['"]?\\s*(#.*)?$`, "m"));
    return m ? Number(m[1]) : undefined;
}

/** Reads and checks a devnet's genesis directory; `key` names the config key in errors. */
export function readDevnetGenesis(dir: string, key: string): DevnetGenesis {
    const read = (name: string, encoding?: BufferEncoding): string => {
        const file = path.join(dir, name);
        if (!fs.existsSync(file)) throw new ConfigError(`${key} must hold ${name} (prysmctl testnet generate-genesis writes it); ${file} does not exist`);
        return fs.readFileSync(file, encoding ?? "utf8");
    };
    const execution = read(DEVNET_FILES.execution);
    let chainId: unknown;
    try {
        chainId = JSON.parse(execution)?.config?.chainId;
    } catch {
        throw new ConfigError(`${key}: ${DEVNET_FILES.execution} is not JSON`);
    }
    if (!Number.isInteger(chainId) || (chainId as number) <= 0) throw new ConfigError(`${key}: ${DEVNET_FILES.execution} has no config.chainId`);
    const config = read(DEVNET_FILES.config);
    const secondsPerSlot = yamlNumber(config, "SECONDS_PER_SLOT");
    const preset = config.match(/^PRESET_BASE:\s*['"]?(\w+)/m)?.[1] ?? "mainnet";
    const slotsPerEpoch = preset === "minimal" ? 8 : 32;
    if (!secondsPerSlot) throw new ConfigError(`${key}: ${DEVNET_FILES.config} has no SECONDS_PER_SLOT`);
    const state = read(DEVNET_FILES.state, "base64");
    if (state.length === 0) throw new ConfigError(`${key}: ${DEVNET_FILES.state} is empty`);
    return { chainId: chainId as number, secondsPerSlot, slotsPerEpoch, files: { execution, config, stateBase64: state } };
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base58(bytes: Buffer): string {
    let n = BigInt(`0x${bytes.toString("hex")}`);
    let out = "";
    while (n > 0n) {
        out = BASE58[Number(n % 58n)] + out;
        n /= 58n;
    }
    for (const b of bytes) {
        if (b !== 0) break;
        out = `1${out}`;
    }
    return out;
}

function secp256k1Public(keyHex: string, format: "compressed" | "uncompressed"): Buffer {
    const ecdh = crypto.createECDH("secp256k1");
    ecdh.setPrivateKey(Buffer.from(keyHex, "hex"));
    return ecdh.getPublicKey(null, format);
}

/** Geth's node URL for a secp256k1 key: `enode://<64-byte public key>@host:port`. */
export function enodeUrl(keyHex: string, host: string, port: number): string {
    return `enode://${secp256k1Public(keyHex, "uncompressed").subarray(1).toString("hex")}@${host}:${port}`;
}

/**
 * A libp2p peer ID for a secp256k1 key: the identity multihash of the protobuf-encoded public key (type 2,
 * 33 compressed bytes), in base58. Prysm's beacon node without discovery is reached only by this.
 */
export function libp2pPeerId(keyHex: string): string {
    const pub = secp256k1Public(keyHex, "compressed");
    const proto = Buffer.concat([Buffer.from([0x08, 0x02, 0x12, pub.length]), pub]);
    return base58(Buffer.concat([Buffer.from([0x00, proto.length]), proto]));
}

/** A beacon node's address for `--peer`. */
export function libp2pAddr(keyHex: string, host: string, port: number): string {
    return `/ip4/${host}/tcp/${port}/p2p/${libp2pPeerId(keyHex)}`;
}

/**
 * A node's P2P keys on a devnet, one per client, as 64 hex digits: fixed, so every other node can be told whom to
 * dial. Drawn like the JWT (a RandomPassword over hex digits: no resource id holds them) and kept secret.
 */
export class P2pKeys extends pulumi.ComponentResource {
    public readonly execution: pulumi.Output<string>;
    public readonly consensus: pulumi.Output<string>;

    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:devnet:P2pKeys", name, {}, opts);
        const key = (client: string) =>
            pulumi.secret(
                new random.RandomPassword(
                    `${name}-${client}`,
                    { length: 64, lower: false, upper: false, numeric: true, special: true, overrideSpecial: "abcdef" },
                    { parent: this, additionalSecretOutputs: ["result", "bcryptHash"] },
                ).result,
            );
        this.execution = key("execution");
        this.consensus = key("consensus");
        this.registerOutputs({});
    }
}

/** The other nodes of a devnet as one node's clients dial them: Geth's static nodes and Prysm's peers. */
export interface DevnetPeers {
    enodes: string[];
    beaconPeers: string[];
}

/** The public identities of `keys` at `addresses`, but for node `self`. Plain: public keys only. */
export function devnetPeers(
    keys: { execution: string; consensus: string }[],
    addresses: string[],
    self: number,
    ports: { execution: number; consensus: number },
): DevnetPeers {
    const others = keys.map((k, i) => ({ k, host: addresses[i], i })).filter((o) => o.i !== self);
    return {
        enodes: others.map((o) => enodeUrl(o.k.execution, o.host, ports.execution)),
        beaconPeers: others.map((o) => libp2pAddr(o.k.consensus, o.host, ports.consensus)),
    };
}
