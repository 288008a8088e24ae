/**
 * The keeper (assets/keeper/ethnode-keeper): a small daemon on every node that restarts a client which hangs,
 * or whose head stalls while the chain moves on elsewhere, through `ethnode restart` (drained and gated on a
 * cluster) — with a grace period, backoff, an hourly cap after which it pages, and no action on a network-wide
 * stall. It reports through node_exporter's textfile collector (ethnode_keeper_*), so it opens no port. On a node
 * with a consensus client it also reads the watched validators' balances from the Beacon API into that collector
 * (ethnode_validator_balance_gwei): the balance alert's series, there while a signer is down.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { KeeperConfig } from "./config";
import { Connection, hostStep } from "./remote";
import { readAsset, render, renderHardening, shq } from "./render";

export const KEEPER_STATE_DIR = "/var/lib/ethnode-keeper";
/** node_exporter's textfile directory (install-node-exporter.sh passes it). */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";
export const KEEPER_METRICS_FILE = `${TEXTFILE_DIR}/ethnode_keeper.prom`;
export const BALANCES_FILE = `${TEXTFILE_DIR}/ethnode_validators.prom`;
/** What the keeper leaves in the textfile directory, as a shell word list: removed with it, or when it is off. */
const OUTPUT_FILES = [KEEPER_METRICS_FILE, BALANCES_FILE].map(shq).join(" ");

/** `watchedValidators`: the validator indices whose balances the keeper reads from this node's beacon node. */
export function renderKeeperConf(k: KeeperConfig, watchedValidators: number[] = []): string {
    return render("keeper/keeper.conf", {
        ...k,
        stateDir: KEEPER_STATE_DIR,
        metricsFile: KEEPER_METRICS_FILE,
        balancesFile: BALANCES_FILE,
        watchedValidators: watchedValidators.join(" "),
    });
}

export function renderKeeperUnit(): string {
    return render("systemd/ethnode-keeper.service", { hardening: renderHardening(KEEPER_STATE_DIR), metricsDir: TEXTFILE_DIR });
}

export function renderInstallKeeper(k: KeeperConfig): string {
    return render("scripts/install-keeper.sh", {
        enabled: shq(String(k.enabled)),
        stateDir: shq(KEEPER_STATE_DIR),
        metricsDir: shq(TEXTFILE_DIR),
        metricsFiles: OUTPUT_FILES,
    });
}

export interface KeeperArgs {
    connection: pulumi.Input<Connection>;
    keeper: KeeperConfig;
    /** Validator indices whose balances it reads (a node with a consensus client, in a stack that watches some). */
    watchedValidators?: number[];
    /** The node's CLI (the keeper restarts through it) and its last client step. */
    after: pulumi.Input<pulumi.Resource>[];
}

/** Installs (or, when disabled, stops) the keeper on one node. */
export function keeperStep(name: string, args: KeeperArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const root = { mode: "0644", owner: "root", group: "root" };
    return hostStep(
        name,
        {
            connection: args.connection,
            files: [
                { path: "/usr/local/bin/ethnode-keeper", content: readAsset("keeper/ethnode-keeper"), ...root, mode: "0755" },
                { path: "/etc/ethnode/keeper.conf", content: renderKeeperConf(args.keeper, args.watchedValidators), ...root },
                { path: "/etc/systemd/system/ethnode-keeper.service", content: renderKeeperUnit(), ...root },
            ],
            script: renderInstallKeeper(args.keeper),
            deleteScript: render("scripts/remove-keeper.sh", { metricsFiles: OUTPUT_FILES, stateDir: shq(KEEPER_STATE_DIR) }),
        },
        pulumi.mergeOptions(opts, { dependsOn: args.after }),
    );
}
