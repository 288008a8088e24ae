/**
 * Prysm's validator client: the signer. Optional per stack (`ethnode:validator`). Slashing-safe by construction:
 * - each key has exactly one signer node (config refuses a key on two nodes at preview);
 * - every node of a validating stack runs a fence step first, which stops its validator if it holds keys no
 *   longer assigned to it, confirms the process is gone, removes those keys and waits out the doppelganger
 *   window; every signer's keys wait for every node's fence, so a move never overlaps two signers;
 * - the client runs with doppelganger protection, so a forgotten signer elsewhere makes it refuse to sign;
 * - the keeper never starts it (it is not one of the node's CLIENTS), and its slashing-protection database lives
 *   in its data directory, kept across upgrades and exported with every backup (EIP-3076).
 * Keystores and their password are Pulumi secrets that reach the host only on a step's stdin, as 0600 files of
 * the validator's user. docs/security.md says what this guarantees and what it cannot.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClientRole, UnitView, binaryPath, clientBinary, clientHome, deployClient, renderUnit, CLIENT_HEALTH_TIMEOUT_SEC } from "./client";
import { EthnodeConfig, Network, ValidatorConfig, ValidatorStack } from "./config";
import type { ValidatorScope } from "./monitoring";
import { ChainTiming, chainTiming, prysmChainFlags } from "./devnet";
import { PRYSM_EXECUTABLE_STACK } from "./prysm";
import { LOOPBACK, PORTS, PortMap } from "./ports";
import { Connection, HostFile, hostStep } from "./remote";
import { render, shq } from "./render";

/** Prysm's validator client in the validator role. */
export const PRYSM_VALIDATOR: ClientRole = {
    role: "validator",
    name: "prysm-validator",
    title: "Prysm validator client",
    // It closes its slashing-protection database on SIGTERM.
    stopTimeoutSec: 120,
    apiPort: PORTS.validatorMetrics,
    metricsPort: PORTS.validatorMetrics,
    metricsPath: "/metrics",
    keySeries: "validator_statuses",
    p2p: [],
};

/** How long a key must be silent before another node may sign with it: two whole epochs and a slot. */
export function doppelgangerWaitSec(t: ChainTiming): number {
    return (2 * t.slotsPerEpoch + 1) * t.secondsPerSlot;
}

/** What monitoring knows of a validating stack; undefined when it does not sign. */
export function validatorScope(cfg: Pick<EthnodeConfig, "network" | "validator" | "prysm" | "devnet">): ValidatorScope | undefined {
    const v = cfg.validator;
    if (!v || cfg.network === "dev") return undefined;
    const timing = chainTiming(cfg.devnet);
    return {
        spec: PRYSM_VALIDATOR,
        signers: v.signers.length,
        monitored: v.monitorIndices.length > 0,
        slasher: cfg.prysm?.slasher === true,
        epochSeconds: timing.secondsPerSlot * timing.slotsPerEpoch,
    };
}

/** Where the validator keeps what it signs with, and what it reads its wallet's password from. */
export function validatorPaths(dataDir: string) {
    const home = clientHome(dataDir, "prysm-validator");
    return {
        home,
        wallet: `${home}/wallet`,
        /** The public keys the wallet holds, one per line: what the fence compares with the assignment. */
        held: `${home}/wallet/ethnode-pubkeys`,
        keys: `${home}/keystores`,
        secrets: "/etc/ethnode/validator",
        password: "/etc/ethnode/validator/password",
        /** The latest EIP-3076 export (backup, move). */
        interchange: `${home}/slashing-protection.json`,
    };
}

export interface ValidatorFlagsInput {
    network: Exclude<Network, "dev">;
    dataDir: string;
    validator: Pick<ValidatorConfig, "feeRecipient" | "graffiti">;
    ports?: Partial<PortMap>;
}

/** The validator client's command-line flags; pure. No secret is on it: the password is a file. */
export function validatorFlags(input: ValidatorFlagsInput): string[] {
    const p = { ...PORTS, ...input.ports };
    const paths = validatorPaths(input.dataDir);
    return [
        "--accept-terms-of-use",
        ...prysmChainFlags(input.network),
        `--datadir=${paths.home}`,
        `--wallet-dir=${paths.wallet}`,
        `--wallet-password-file=${paths.password}`,
        `--beacon-rpc-provider=${LOOPBACK}:${p.beaconGrpc}`,
        `--suggested-fee-recipient=${input.validator.feeRecipient}`,
        // A second signer with these keys anywhere on the network makes this one exit instead of signing.
        "--enable-doppelganger",
        `--monitoring-host=${LOOPBACK}`,
        `--monitoring-port=${p.validatorMetrics}`,
        // Its debug log would otherwise be written beside the database; the journal has the log.
        "--disable-ephemeral-log-file",
        ...(input.validator.graffiti ? [`--graffiti=${input.validator.graffiti}`] : []),
    ];
}

export function renderValidatorUnit(input: ValidatorFlagsInput): string {
    const view: UnitView = {
        network: input.network,
        dataDir: input.dataDir,
        flags: validatorFlags(input),
        stopTimeoutSec: PRYSM_VALIDATOR.stopTimeoutSec,
        executableStack: PRYSM_EXECUTABLE_STACK,
    };
    return renderUnit("prysm-validator", view);
}

/** The official release: the validator client as one binary, verified by its sha256. */
export function validatorReleaseUrl(version: string): string {
    return `https://github.com/OffchainLabs/prysm/releases/download/v${version}/validator-v${version}-linux-amd64`;
}

/** What the fence and the keys step both know, quoted for the shell: the validator's user, binary and wallet. */
function walletView(dataDir: string) {
    const paths = validatorPaths(dataDir);
    return {
        user: PRYSM_VALIDATOR.name,
        binary: shq(binaryPath(PRYSM_VALIDATOR.name)),
        home: shq(paths.home),
        wallet: shq(paths.wallet),
        held: shq(paths.held),
        keys: shq(paths.keys),
        password: shq(paths.password),
    };
}

/** A node's fence script: what runs on every node of a validating stack before any signer starts. */
export function renderFenceScript(timing: ChainTiming, dataDir: string, assigned: string[]): string {
    return render("scripts/fence-validator.sh", {
        ...walletView(dataDir),
        beacon: shq(`http://${LOOPBACK}:${PORTS.beaconHttp}`),
        assigned: shq(assigned.join(" ")),
        windowSlots: 2 * timing.slotsPerEpoch + 1,
        // Four times the window in wall-clock time: a chain that has not moved that far has stalled.
        maxWaitSec: 4 * doppelgangerWaitSec(timing),
    });
}

/** The keys step's script: the wallet rebuilt from the keystores when the key set changed, the client stopped meanwhile. */
export function renderKeysScript(dataDir: string, pubkeys: string[]): string {
    return render("scripts/install-validator-keys.sh", { ...walletView(dataDir), pubkeys: shq(pubkeys.join(" ")) });
}

/** What runs when a node's keys leave it: the client stopped, then wallet, keystores and password removed. */
export function renderRemoveKeysScript(dataDir: string): string {
    const paths = validatorPaths(dataDir);
    return render("scripts/remove-validator-keys.sh", { unit: PRYSM_VALIDATOR.name, wallet: shq(paths.wallet), keys: shq(paths.keys), secrets: shq(paths.secrets) });
}

/** The keystores and the password as the validator's own 0600 files: a secret stdin, in a step of their own. */
export function keyFiles(dataDir: string, pubkeys: string[], v: Pick<ValidatorStack, "keystores" | "password">): HostFile[] {
    const paths = validatorPaths(dataDir);
    const own = { mode: "0600", owner: PRYSM_VALIDATOR.name, group: PRYSM_VALIDATOR.name };
    return [
        { path: paths.password, content: v.password, ...own },
        ...pubkeys.map((k) => ({ path: `${paths.keys}/keystore-${k.slice(2, 18)}.json`, content: v.keystores.apply((ks) => ks[k]), ...own })),
    ];
}

/** The fence on one node of a validating stack; every signer's keys wait for every node's fence. */
export function fenceStep(
    name: string,
    a: { connection: pulumi.Input<Connection>; timing: ChainTiming; dataDir: string; assigned: string[]; after: pulumi.Input<pulumi.Resource>[] },
    opts: pulumi.CustomResourceOptions,
): command.remote.Command {
    return hostStep(name, { connection: a.connection, script: renderFenceScript(a.timing, a.dataDir, a.assigned) }, { ...opts, dependsOn: a.after });
}

export interface ValidatorArgs {
    connection: pulumi.Input<Connection>;
    network: Exclude<Network, "dev">;
    dataDir: string;
    purgeOnDestroy: boolean;
    validator: ValidatorStack;
    /** The keys this node signs for. */
    pubkeys: string[];
    /** The beacon node it speaks to, and every node's fence. */
    after: pulumi.Input<pulumi.Resource>[];
    fences: pulumi.Input<pulumi.Resource>[];
}

/** One node's signer as a component (`ethnode:validator:PrysmValidator`): binary, keys, service. */
export class PrysmValidator extends pulumi.ComponentResource {
    public readonly service: command.remote.Command;
    public readonly keys: command.remote.Command;
    public readonly metricsUrl: pulumi.Output<string>;
    public readonly version: string;
    public readonly spec = PRYSM_VALIDATOR;

    constructor(name: string, args: ValidatorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:validator:PrysmValidator", name, {}, opts);
        const v = args.validator;
        this.version = v.version;
        const binary = clientBinary(v, validatorReleaseUrl(v.version));
        let keys: command.remote.Command | undefined;
        this.service = deployClient(this, name, {
            client: PRYSM_VALIDATOR.name,
            connection: args.connection,
            binary,
            dataDir: args.dataDir,
            purgeOnDestroy: args.purgeOnDestroy,
            unit: renderValidatorUnit({ network: args.network, dataDir: args.dataDir, validator: v }),
            healthTimeoutSec: CLIENT_HEALTH_TIMEOUT_SEC,
            dependsOn: [...args.after, ...args.fences],
            // The keys belong to the validator's user, which the install creates; the service starts on them.
            serviceAfter: (install) => [
                (keys = hostStep(
                    `${name}-keys`,
                    {
                        connection: args.connection,
                        files: keyFiles(args.dataDir, args.pubkeys, v),
                        script: renderKeysScript(args.dataDir, args.pubkeys),
                        deleteScript: renderRemoveKeysScript(args.dataDir),
                    },
                    { parent: this, dependsOn: [install, ...args.fences] },
                )),
            ],
        });
        this.keys = keys as command.remote.Command;
        this.metricsUrl = pulumi.output(`http://${LOOPBACK}:${PRYSM_VALIDATOR.metricsPort}${PRYSM_VALIDATOR.metricsPath}`);
        this.registerOutputs({ metricsUrl: this.metricsUrl });
    }
}
