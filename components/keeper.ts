/**
 * The keeper (assets/keeper/ethnode-keeper): a small daemon on every node that restarts a client which hangs,
 * or whose head stalls while the chain moves on elsewhere, through `ethnode restart` (drained and gated on a
 * cluster) — with a grace period, backoff, an hourly cap after which it pages, and no action on a network-wide
 * stall. It reports through node_exporter's textfile collector (ethnode_keeper_*), so it opens no port.
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

export function renderKeeperConf(k: KeeperConfig): string {
    return render("keeper/keeper.conf", { ...k, stateDir: KEEPER_STATE_DIR, metricsFile: KEEPER_METRICS_FILE });
}

export function renderKeeperUnit(): string {
    return render("systemd/ethnode-keeper.service", { hardening: renderHardening(KEEPER_STATE_DIR), metricsDir: TEXTFILE_DIR });
}

export function renderInstallKeeper(k: KeeperConfig): string {
    return render("scripts/install-keeper.sh", {
        enabled: shq(String(k.enabled)),
        stateDir: shq(KEEPER_STATE_DIR),
        metricsDir: shq(TEXTFILE_DIR),
        metricsFile: shq(KEEPER_METRICS_FILE),
    });
}

export interface KeeperArgs {
    connection: pulumi.Input<Connection>;
    keeper: KeeperConfig;
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
                { path: "/etc/ethnode/keeper.conf", content: renderKeeperConf(args.keeper), ...root },
                { path: "/etc/systemd/system/ethnode-keeper.service", content: renderKeeperUnit(), ...root },
            ],
            script: renderInstallKeeper(args.keeper),
            deleteScript: render("scripts/remove-keeper.sh", { metricsFile: shq(KEEPER_METRICS_FILE), stateDir: shq(KEEPER_STATE_DIR) }),
        },
        pulumi.mergeOptions(opts, { dependsOn: args.after }),
    );
}
