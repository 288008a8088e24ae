/**
 * Proof of stake on the real engine, where the pinned Prysm binaries are in the cache (the consensus-client tier,
 * tests/helpers/consensus.ts; skipped with what it lacked elsewhere): `npm run sandbox`'s script makes a devnet of
 * its own (scripts/devnet-genesis.ts, 64 validators, 6 s slots) and deploys it onto two guests — Geth and Prysm
 * on each, node 0 signing for three quarters of the validators and node 1 for the rest — then, as an operator
 * would:
 *  - a second signer started with node 0's keys on node 1 refuses to sign (doppelganger), and nothing is slashed;
 *  - node 1's signer stopped: ValidatorMissedAttestations and ValidatorBalanceFalling reach the Slack receiver;
 *    started again: both resolve;
 *  - the chain finalizes on both nodes, the same checkpoint and the same execution block;
 *  - `ethnode:nodes` 2 -> 3: the new node checkpoint-syncs from node 0's beacon API (through node 0's gateway
 *    peer listener), catches up and serves;
 *  - a Prysm version edit rolls through the three nodes under read load: no read fails, finality goes on;
 *  - `sandbox down` destroys it all.
 * The end-to-end suite runs this after its dev-chain parts (tests/sandbox-e2e.test.ts): all own the sandbox.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { PRYSM } from "../components/prysm";
import { PORTS } from "../components/ports";
import { consensusBinary } from "./helpers/consensus";
import { SLOTS_PER_EPOCH } from "./helpers/devnet";
import { gatewayHealth, gatewayUrl, onGuest, underLoad } from "./helpers/cluster";
import { execStartArgs, tmpDir, waitFor } from "./helpers/proc";
import { ROOT } from "./helpers/pulumi";
import { Sandbox, ok, otherRelease, slackMessages } from "./helpers/sandbox";

/** scripts/sandbox.sh's devnet: its slot time, and so the length of an epoch. */
const SLOT_SECONDS = 6;
const EPOCH_MS = SLOTS_PER_EPOCH * SLOT_SECONDS * 1000;
const BEACON_API = `http://127.0.0.1:${PRYSM.apiPort}`;
const SECOND_SIGNER = "ethnode-second-signer";

interface Checkpoint {
    epoch: number;
    root: string;
}

const beacon = <T = any>(i: number, route: string): T => JSON.parse(onGuest(i, `curl -fsS -m 5 ${BEACON_API}${route}`)) as T;
const headSlot = (i: number): number => Number(beacon(i, "/eth/v1/node/syncing").data.head_slot);
const finalized = (i: number): Checkpoint => {
    const f = beacon(i, "/eth/v1/beacon/states/head/finality_checkpoints").data.finalized;
    return { epoch: Number(f.epoch), root: f.root };
};

/** A PromQL query on node 0's Prometheus: its samples' values by their label sets. */
function promQuery(query: string): { metric: Record<string, string>; value: [number, string] }[] {
    return JSON.parse(onGuest(0, `curl -fsS -m 5 --data-urlencode ${JSON.stringify(`query=${query}`)} http://127.0.0.1:9090/api/v1/query`)).data.result;
}

/** The first Slack message whose title starts with `[STATUS` and names `alert` (and `node`), since `since`. */
function slackSays(status: "FIRING" | "RESOLVED", alert: string, since: number, timeoutMs: number, node?: string) {
    const wanted = (title: string) => title.startsWith(`[${status}`) && title.includes(` ${alert}`) && (node === undefined || title.endsWith(` on ${node}`));
    return waitFor(`[${status}] ${alert}${node ? ` on ${node}` : ""} at the Slack receiver`, async () => (await slackMessages()).find((m) => m.at >= since && wanted(m.title)), timeoutMs);
}

/** `waitFor` at the pace of a chain of 6 s slots: a look every few seconds, not a stream of SSH sessions. */
function poll<T>(what: string, fn: () => T | undefined, timeoutMs: number, everyMs = 3000): Promise<T> {
    let last = 0;
    return waitFor(
        what,
        async () => {
            if (Date.now() - last < everyMs) return undefined;
            last = Date.now();
            return fn();
        },
        timeoutMs,
    );
}

/** Every node's finalized checkpoint once all are at `epoch` or later and agree on one. */
function agreedFinality(nodes: number[], epoch: number, timeoutMs: number): Promise<Checkpoint> {
    return poll(
        `finalized epoch >= ${epoch} on nodes ${nodes.join(", ")}, the same checkpoint on all`,
        () => {
            const seen = nodes.map(finalized);
            // Nodes finalize an epoch within a slot of each other: look again until they report the same one.
            return seen[0].epoch >= epoch && seen.every((c) => c.epoch === seen[0].epoch && c.root === seen[0].root) ? seen[0] : undefined;
        },
        timeoutMs,
    );
}

/**
 * Runs `fn`; when it throws, the error carries what each node's beacon node logged in the last minutes (its
 * restarts, peers and sync; not the per-validator lines), since the suite's guests do not outlive it.
 */
function withBeaconJournals<T>(nodes: number[], fn: () => T): T {
    try {
        return fn();
    } catch (e) {
        const journals = nodes.map((i) => {
            try {
                const lines = onGuest(i, "journalctl -u prysm -o cat --no-pager --since -15min | grep -v -e monitor: -e Subscribed -e Unsubscribed -e rpc/validator -e 'Synced new block' -e 'Finished applying' -e 'Forkchoice updated' -e 'broadcast sync committee' | tail -n 150");
                return `node-${i}'s beacon node, last 15 min:\n${lines}`;
            } catch (err) {
                return `node-${i}'s beacon node journal unreadable: ${String(err)}`;
            }
        });
        throw new Error(`${(e as Error).message}\n${journals.join("\n")}`);
    }
}

/** The validator indices an alert message names ("Validator 51 …"), sorted. */
const indicesIn = (text: string): number[] => [...text.matchAll(/Validator (\d+) /g)].map((m) => Number(m[1])).sort((a, b) => a - b);

/** The execution block every node's gateway calls finalized, once they agree. */
async function finalizedBlock(nodes: number[]): Promise<string> {
    return waitFor(`the same finalized execution block on nodes ${nodes.join(", ")}`, async () => {
        const hashes = await Promise.all(
            nodes.map(async (i) => {
                const res = await fetch(gatewayUrl(i), {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: ["finalized", false] }),
                });
                return ((await res.json()) as { result?: { hash: string; number: string } }).result;
            }),
        );
        return hashes.every((h) => h && h.hash === hashes[0]!.hash && parseInt(h.number, 16) > 0) ? hashes[0]!.hash : undefined;
    }, 60000);
}

/** The sandbox stack file with two nodes, both starting from genesis (a third joins later). */
function twoNodeStackFile(dir: string): string {
    const doc = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.sandbox.yaml"), "utf8")) as { config: Record<string, any> };
    const c = doc.config;
    c["ethnode:nodes"] = 2;
    c["ethnode:host"].addresses = c["ethnode:host"].addresses.slice(0, 2);
    c["ethnode:monitoring"].minHealthyNodes = 2;
    c["ethnode:devnet"] = { genesisNodes: 2 };
    const file = path.join(dir, "Pulumi.sandbox.yaml");
    fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
    return file;
}

export function describePosSandbox(): void {
    const prysm = consensusBinary("prysm");
    if ("missing" in prysm) {
        describe.skip(`the proof-of-stake sandbox [skipped: ${prysm.missing}]`, () => {
            it("finalizes, shows penalties at Slack, refuses a second signer, checkpoint-syncs a new node, upgrades Prysm under load", () => undefined);
        });
        return;
    }

    describe(`the proof-of-stake sandbox (prysm ${prysm.version})`, () => {
        let work: string;
        let sandbox: Sandbox;

        beforeAll(() => {
            work = tmpDir("sandbox-pos");
            sandbox = new Sandbox(work, twoNodeStackFile(work), true);
            ok(sandbox.run(["down"]), "sandbox down");
        });

        afterAll(() => {
            sandbox.run(["down"]);
        });

        it("deploys a devnet of its own onto two guests: the nodes peer with each other only and follow one head", async () => {
            ok(sandbox.run(["up"]), "sandbox up");
            for (const i of [0, 1]) {
                expect(onGuest(i, "systemctl is-active geth prysm prysm-validator ethnode-gateway ethnode-keeper").split("\n")).toEqual(Array(5).fill("active"));
            }
            // Node 0 signs for 48 keys, node 1 for 16: both produce the chain, which moves past slot 1.
            await poll("the chain moving on both nodes", () => ([0, 1].every((i) => headSlot(i) > 2) ? true : undefined), 10 * 60000);
            // Prysm may drop and redial its one peer in the first epochs: the two must be connected, not at one look.
            await poll("each beacon node connected to the other", () => ([0, 1].every((i) => Number(beacon(i, "/eth/v1/node/peer_count").data.connected) === 1) ? true : undefined), 3 * 60000);
            for (const i of [0, 1]) {
                // Static peers only: each Geth knows exactly the other one.
                expect(JSON.parse(onGuest(i, `curl -s -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"net_peerCount","params":[]}' http://127.0.0.1:${PORTS.gethHttp}`)).result).toBe("0x1");
            }
            // Every gateway serves with the default lag limit: the nodes share one chain now.
            for (const i of [0, 1]) await poll(`node-${i}'s gateway counting both nodes`, () => (gatewayHealth(i).healthy === 2 ? true : undefined), 120000);
            expect(sandbox.preview().steps).toEqual([]);
        }, 30 * 60000);

        it("refuses a second signer with node 0's keys on node 1 (doppelganger): it signs nothing and nothing is slashed", async () => {
            // Doppelganger compares the previous epoch's participation: from epoch 3 on, node 0's keys are live.
            await poll("the head past epoch 3", () => (headSlot(0) >= 3 * SLOTS_PER_EPOCH + 4 ? true : undefined), 6 * EPOCH_MS);
            const home = "/var/lib/ethnode/prysm-validator";
            // What an operator who copied a signer's wallet to another machine would run there: the same command.
            const wallet = onGuest(0, `tar -C ${home} -czf - wallet | base64 -w0`);
            onGuest(1, `rm -rf /var/tmp/second && mkdir -p /var/tmp/second/home && echo ${wallet} | base64 -d | tar -C /var/tmp/second -xzf - && chown -R prysm-validator: /var/tmp/second`);
            const unit = onGuest(1, "cat /etc/systemd/system/prysm-validator.service");
            const argv = [unit.match(/^ExecStart=(\S+)/m)![1], ...execStartArgs(unit)].map((a) =>
                a.startsWith("--datadir=") ? "--datadir=/var/tmp/second/home" : a.startsWith("--wallet-dir=") ? "--wallet-dir=/var/tmp/second/wallet" : a.startsWith("--monitoring-port=") ? "--monitoring-port=8099" : a,
            );
            onGuest(1, `systemd-run --quiet --unit=${SECOND_SIGNER} --property=User=prysm-validator --property=Group=prysm-validator ${argv.join(" ")}`);
            const log = await poll("the second signer's exit", () => {
                const state = onGuest(1, `systemctl is-active ${SECOND_SIGNER} || true`);
                return state === "active" || state === "activating" ? undefined : onGuest(1, `journalctl -u ${SECOND_SIGNER} -o cat --no-pager`);
            }, 120000, 1000);
            expect(log).toContain("Duplicate instances exists in the network");
            expect(log).not.toMatch(/Submitted new (block|attestation)/);
            // The first signer goes on; no validator of the chain is slashed, and no slashing waits in the pool.
            expect(onGuest(0, "systemctl is-active prysm-validator")).toBe("active");
            const validators = beacon(0, "/eth/v1/beacon/states/head/validators").data as { validator: { slashed: boolean } }[];
            expect(validators).toHaveLength(64);
            expect(validators.filter((v) => v.validator.slashed)).toEqual([]);
            expect(beacon(0, "/eth/v2/beacon/pool/attester_slashings").data).toEqual([]);
            expect(beacon(0, "/eth/v1/beacon/pool/proposer_slashings").data).toEqual([]);
            onGuest(1, "rm -rf /var/tmp/second");
        }, 30 * 60000);

        it("shows node 1's signer stopped at Slack (missed attestations, falling balances) and both resolve once it is back", async () => {
            // Every watched key has its series: the beacon nodes' votes and the keepers' balances.
            await poll("64 keys' timely target votes and balances on both nodes", () => {
                const votes = promQuery("count(monitor_timely_target)")[0]?.value[1];
                const balances = promQuery("count(ethnode_validator_balance_gwei)")[0]?.value[1];
                return votes === "128" && balances === "128" ? true : undefined;
            }, 3 * EPOCH_MS);
            const stopped = Date.now();
            onGuest(1, "systemctl stop prysm-validator");
            const [missed, falling, down] = await Promise.all([
                slackSays("FIRING", "ValidatorMissedAttestations", stopped, 8 * EPOCH_MS, "node-0"),
                slackSays("FIRING", "ValidatorBalanceFalling", stopped, 8 * EPOCH_MS),
                slackSays("FIRING", "ValidatorClientDown", stopped, 8 * EPOCH_MS, "node-1"),
            ]);
            // Node 1's keys (indices 48-63), and only they: seen by node 0's beacon node, and by the keepers.
            expect(missed.title).toMatch(/^\[FIRING:\d+\] ValidatorMissedAttestations on node-0$/);
            expect(falling.title).toMatch(/^\[FIRING:\d+\] ValidatorBalanceFalling$/);
            expect(down.title).toBe("[FIRING:1] ValidatorClientDown on node-1");
            for (const m of [missed, falling]) {
                expect(indicesIn(m.text).length).toBeGreaterThan(0);
                expect(indicesIn(m.text).filter((k) => k < 48 || k > 63)).toEqual([]);
            }
            const back = Date.now();
            onGuest(1, "systemctl start prysm-validator");
            await Promise.all([
                slackSays("RESOLVED", "ValidatorMissedAttestations", back, 4 * EPOCH_MS, "node-0"),
                slackSays("RESOLVED", "ValidatorBalanceFalling", back, 5 * EPOCH_MS),
                slackSays("RESOLVED", "ValidatorClientDown", back, 2 * EPOCH_MS, "node-1"),
            ]);
            expect(onGuest(1, "systemctl is-active prysm-validator")).toBe("active");
            console.log(
                `pos sandbox: node-1's signer stopped -> ValidatorMissedAttestations at Slack after ${((missed.at - stopped) / 1000).toFixed(0)} s, ` +
                    `ValidatorBalanceFalling after ${((falling.at - stopped) / 1000).toFixed(0)} s (${SLOT_SECONDS} s slots)`,
            );
        }, 40 * 60000);

        it("finalizes on both nodes: one checkpoint, one finalized execution block", async () => {
            const cp = await agreedFinality([0, 1], 3, 6 * EPOCH_MS);
            expect(cp.root).toMatch(/^0x[0-9a-f]{64}$/);
            await finalizedBlock([0, 1]);
        }, 15 * 60000);

        it("grows to three nodes: the new one checkpoint-syncs from node 0 through its peer listener, catches up and serves", async () => {
            // The third guest joins the running two (their state, chain and signers stay).
            ok(spawnSync("bash", [path.join(ROOT, "scripts", "sandbox-host.sh"), "cluster-up", "3"], { encoding: "utf8" }), "cluster-up 3");
            const before = finalized(0);
            sandbox.configSet({ "ethnode:nodes": "3", "ethnode:host.addresses[2]": "10.77.0.13", "ethnode:monitoring.minHealthyNodes": "3" });
            const { steps } = sandbox.preview();
            expect(steps.filter((s) => !/ (create|update)$/.test(s))).toEqual([]);
            expect(steps).toEqual(expect.arrayContaining(["node-2-prysm-service create", "node-2-geth-service create"]));
            sandbox.up();
            const said = onGuest(2, "journalctl -u prysm -o cat --no-pager");
            expect(said).toContain("Checkpoint sync - Downloading origin state and block");
            // It asked node 0's gateway peer listener, the only beacon API it was told of.
            expect(onGuest(2, "systemctl cat prysm")).toContain("--checkpoint-sync-url=http://10.77.0.11:8547");
            expect(onGuest(0, "systemctl cat prysm")).not.toContain("--checkpoint-sync-url");
            await poll("node-2's beacon node synced to the others' head", () => {
                const s = beacon(2, "/eth/v1/node/syncing").data;
                return !s.is_syncing && Number(s.head_slot) >= headSlot(0) - 2 ? true : undefined;
            }, 10 * 60000);
            const cp = await agreedFinality([0, 1, 2], before.epoch + 1, 4 * EPOCH_MS);
            expect(cp.epoch).toBeGreaterThan(before.epoch);
            for (let i = 0; i < 3; i++) await poll(`node-${i}'s gateway counting all three`, () => (gatewayHealth(i).healthy === 3 ? true : undefined), 5 * 60000);
            await finalizedBlock([0, 1, 2]);
            expect(sandbox.preview().steps).toEqual([]);
        }, 40 * 60000);

        it("rolls a Prysm version edit through the three nodes under read load: no read fails, finality goes on", async () => {
            const next = "7.1.7";
            const upgraded = otherRelease(prysm.path, path.join(work, `beacon-chain-${next}`));
            sandbox.configSet({ "ethnode:prysm.version": next, "ethnode:prysm.binaryPath": upgraded });
            const { steps } = sandbox.preview();
            expect(steps.length).toBeGreaterThan(0);
            expect(steps.filter((s) => !/^node-[0-2]-prysm-[a-z-]+ update$/.test(s))).toEqual([]);
            const before = Math.max(...[0, 1, 2].map((i) => finalized(i).epoch));
            const { load } = await underLoad(gatewayUrl(0), 50, () => withBeaconJournals([0, 1, 2], () => sandbox.up()));
            expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
            expect(load.sent).toBeGreaterThan(100);
            for (let i = 0; i < 3; i++) expect(onGuest(i, "readlink -f /proc/$(systemctl show prysm -p MainPID --value)/exe")).toContain(`/${next}/`);
            await agreedFinality([0, 1, 2], before + 1, 4 * EPOCH_MS);
            expect(sandbox.preview().steps).toEqual([]);
        }, 40 * 60000);

        it("destroys the devnet stack: every step's delete runs, the genesis bundle's included", () => {
            ok(sandbox.run(["down"]), "sandbox down");
        }, 10 * 60000);
    });
}
