/**
 * High availability on the real engine: the tracked sandbox stack (three nodes, each a systemd guest in a network
 * namespace of its own, scripts/sandbox-host.sh cluster-up) deployed with `npm run sandbox`'s script, then
 *  - every gateway serves, Prometheus on the first node scrapes all three, the peer listener admits peers only;
 *  - a drained node's peers stop choosing it and its own gateway serves from them;
 *  - a Geth version edit rolls through the nodes one at a time under steady read load, no call failing;
 *  - a node powered off outright under that load fails no read, leaves its peers' pools, and ClusterDegraded
 *    reaches the Slack receiver;
 *  - a Geth frozen again past the keeper's hourly cap is left alone and KeeperGaveUp pages;
 *  - every guest's journal reaches VictoriaLogs on the first node within seconds, and a gateway worker killed
 *    on another node reaches the Slack receiver as a log alert (GatewayWorkerDied).
 * Timings are printed by the HA benchmark (npm run bench:ha), not asserted here. The end-to-end suite runs this
 * after its single-node part (tests/sandbox-e2e.test.ts): both own the sandbox, so they never run at once.
 */
import * as path from "path";
import { gethBinary, tmpDir, waitFor } from "./helpers/proc";
import { Sandbox, ok, otherRelease, slackAbout } from "./helpers/sandbox";
import { gatewayHealth, gatewayUrl, gethStarts, killGuest, nodeIp, onGuest, underLoad } from "./helpers/cluster";

const NODES = 3;
let work: string;
let sandbox: Sandbox;

async function rpcResult(url: string, method: string): Promise<unknown> {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: [] }) });
    return ((await res.json()) as { result?: unknown }).result;
}

export function describeCluster(): void {
    describe("three nodes on three guests", () => {
        beforeAll(() => {
            work = tmpDir("sandbox-ha");
            sandbox = new Sandbox(work);
            ok(sandbox.run(["down"]), "sandbox down");
        });

        afterAll(() => {
            sandbox.run(["down"]);
        });

        it("deploys every node, its gateway and one Prometheus scraping them all", async () => {
            ok(sandbox.run(["up"]), "sandbox up");
            for (let i = 0; i < NODES; i++) {
                expect(onGuest(i, "systemctl is-active geth ethnode-gateway prometheus-node-exporter ethnode-keeper").split("\n")).toEqual(["active", "active", "active", "active"]);
                expect(await waitFor(`node-${i}'s gateway`, async () => rpcResult(gatewayUrl(i), "eth_chainId"))).toBe("0x539");
            }
            const targets = await waitFor("every target up", async () => {
                const t = JSON.parse(onGuest(0, "curl -s 127.0.0.1:9090/api/v1/targets")).data.activeTargets as { labels: Record<string, string>; health: string }[];
                return t.length === 13 && t.every((x) => x.health === "up") ? t : undefined;
            }, 60000);
            const byJob = (job: string) => targets.filter((t) => t.labels.job === job).map((t) => t.labels.node).sort();
            for (const job of ["node", "geth", "gateway"]) expect(byJob(job)).toEqual(["node-0", "node-1", "node-2"]);
            for (const job of ["victorialogs", "vmalert"]) expect(byJob(job)).toEqual(["node-0"]);
            expect(sandbox.preview().steps).toEqual([]);
        });

        it("ships every guest's journal to VictoriaLogs on node-0 within seconds; a killed gateway worker reaches Slack", async () => {
            for (let i = 0; i < NODES; i++) expect(onGuest(i, "systemctl is-active systemd-journal-upload")).toBe("active");
            expect(onGuest(0, "systemctl is-active victoria-logs vmalert").split("\n")).toEqual(["active", "active"]);
            // A transient unit's line on every guest, then the same query an operator would run on node-0.
            const marker = `ethnode-logtest-${Date.now()}`;
            const started = Date.now();
            for (let i = 0; i < NODES; i++) onGuest(i, `systemd-run --quiet --wait --unit=${marker}-${i} echo ${marker} from node-${i}`);
            // By unit: systemd's own lines about starting the unit carry the marker too.
            const query = `curl -s 127.0.0.1:9428/select/logsql/query --data-urlencode 'query=_time:5m _SYSTEMD_UNIT:~"^${marker}-"'`;
            const rows = await waitFor(
                "the three lines in VictoriaLogs",
                async () => {
                    const r = onGuest(0, query).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
                    return r.length === NODES ? r : undefined;
                },
                60000,
            );
            console.log(`central logs: a line written on each of ${NODES} guests was queryable on node-0 after ${Date.now() - started} ms`);
            expect(rows.map((r) => `${r._SYSTEMD_UNIT}: ${r._msg}`).sort()).toEqual([0, 1, 2].map((i) => `${marker}-${i}.service: ${marker} from node-${i}`));
            // The other nodes' lines arrived over the bridge, from their own addresses.
            const from = Object.fromEntries(rows.map((r) => [r._SYSTEMD_UNIT, r.remote_ip]));
            expect(from[`${marker}-1.service`]).toBe(nodeIp(1));
            expect(from[`${marker}-2.service`]).toBe(nodeIp(2));

            // A gateway worker on node-1 killed outright: nginx logs it, node-1 ships it, vmalert on node-0 fires.
            const since = Date.now();
            const worker = onGuest(1, "pgrep -f 'nginx: worker process' | head -n 1");
            onGuest(1, `kill -9 ${worker}`);
            const host = onGuest(1, "hostname");
            const alert = await slackAbout("GatewayWorkerDied", since, 120000);
            expect(alert.title).toContain("FIRING");
            expect(alert.text).toContain(host);
            console.log(`central logs: GatewayWorkerDied reached Slack ${Date.now() - since} ms after the kill`);
            // The gateway itself never stopped serving: nginx started another worker.
            expect(await rpcResult(gatewayUrl(1), "eth_chainId")).toBe("0x539");
        });

        it("has every gateway count all three nodes, and admits only the other nodes to its peer listener", async () => {
            for (let i = 0; i < NODES; i++) {
                const h = await waitFor(`node-${i} sees all`, async () => {
                    const x = gatewayHealth(i);
                    return x.healthy === NODES ? x : undefined;
                });
                expect(h.backends.map((b) => b.name)).toEqual([`node-${i}`, ...[0, 1, 2].filter((j) => j !== i).map((j) => `node-${j}`)]);
            }
            // From this machine (not a node): refused. From another node: served.
            expect((await fetch(`http://${nodeIp(1)}:8547/`, { method: "POST", body: "{}" })).status).toBe(403);
            const fromPeer = onGuest(0, `curl -s -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}' http://${nodeIp(1)}:8547/`);
            expect(JSON.parse(fromPeer)).toEqual({ jsonrpc: "2.0", id: 7, result: "0x539" });
        });

        it("drains a node: its peers stop choosing it, its own gateway serves from them, undrain puts it back", async () => {
            const { load } = await underLoad(gatewayUrl(0), 50, async () => {
                onGuest(0, "ethnode drain");
                expect(gatewayHealth(0)).toMatchObject({ drained: true, ready: true });
                expect(gatewayHealth(0).backends[0]).toMatchObject({ name: "node-0", healthy: false, state: "drained" });
                // The drain waits for the other nodes' probes: they already count node-0 out.
                for (const i of [1, 2]) expect(gatewayHealth(i).backends.find((b) => b.name === "node-0")!.healthy).toBe(false);
                onGuest(0, "ethnode undrain");
                await waitFor("node-0 back in its peers' pools", async () => ([1, 2].every((i) => gatewayHealth(i).backends.find((b) => b.name === "node-0")!.healthy) ? true : undefined));
            });
            expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
            expect(load.sent).toBeGreaterThan(100);
        });

        it("rolls a Geth version edit through the nodes one at a time under load, failing no call", async () => {
            const upgraded = otherRelease(gethBinary(), path.join(work, "geth-1.17.9"));
            sandbox.configSet({ "ethnode:geth.version": "1.17.9", "ethnode:geth.binaryPath": upgraded });
            const perNode = ["geth-install", "geth-service", "geth-upload"];
            expect(sandbox.preview().steps).toEqual([0, 1, 2].flatMap((i) => perNode.map((s) => `node-${i}-${s} update`)).sort());
            const before = gethStarts(NODES);
            const { load } = await underLoad(gatewayUrl(0), 100, () => sandbox.up());
            expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
            for (let i = 0; i < NODES; i++) {
                expect(onGuest(i, "readlink -f /proc/$(systemctl show geth -p MainPID --value)/exe")).toBe("/opt/ethnode/geth/1.17.9/geth");
            }
            // One at a time, in node order: each restart after the previous node was back (drain + gate between).
            const after = gethStarts(NODES);
            for (let i = 0; i < NODES; i++) expect(after[i]).toBeGreaterThan(before[i]);
            expect(after[1] - after[0]).toBeGreaterThan(5e6);
            expect(after[2] - after[1]).toBeGreaterThan(5e6);
            // Every node passed its gate and is back in every pool.
            for (let i = 0; i < NODES; i++) {
                expect(onGuest(i, "test -e /run/ethnode/drained && echo drained || echo serving")).toBe("serving");
                await waitFor(`node-${i}'s gateway serving from all`, async () => (gatewayHealth(i).healthy === NODES ? true : undefined));
            }
            expect(sandbox.preview().steps).toEqual([]);
        });

        it("heals a frozen Geth: the keeper restarts it (drained and gated), the node serves again, Slack hears of it", async () => {
            const since = Date.now();
            const frozen = onGuest(1, "systemctl show geth -p MainPID --value");
            onGuest(1, `kill -STOP ${frozen}`);
            const { load } = await underLoad(gatewayUrl(1), 50, async () => {
                await waitFor("a new geth on node-1", async () => (onGuest(1, "systemctl show geth -p MainPID --value") !== frozen ? true : undefined), 120000);
                await waitFor("node-1 serving again", async () => (gatewayHealth(1).backends[0].healthy ? true : undefined), 120000);
            });
            // Calls through node-1's own gateway were served by the other nodes meanwhile.
            expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
            const said = onGuest(1, "journalctl -u ethnode-keeper -o cat --no-pager");
            expect(said).toMatch(new RegExp(`geth: running \\(pid ${frozen}\\) but its API has not answered for \\d+s; restarting it \\(unresponsive; restart 1 of at most 3 this hour\\)`));
            const alert = await slackAbout("KeeperRestartedClient", since, 180000);
            expect(alert.title).toContain("FIRING");
            expect(JSON.parse(onGuest(1, "ethnode status --json || true")).keeper.state).toBe("active");
        });

        it("stops at the cap: a Geth stuck again past keeper.maxRestartsPerHour is left alone and KeeperGaveUp pages", async () => {
            // The heal above was node-1's first restart this hour: with a cap of 1 the next one is over it.
            sandbox.configSet({ "ethnode:keeper.maxRestartsPerHour": "1" });
            sandbox.up();
            const since = Date.now();
            const frozen = onGuest(1, "systemctl show geth -p MainPID --value");
            onGuest(1, `kill -STOP ${frozen}`);
            try {
                const alert = await slackAbout("KeeperGaveUp", since, 180000);
                expect(alert.title).toContain("FIRING");
                expect(onGuest(1, "journalctl -u ethnode-keeper -o cat --no-pager")).toMatch(/geth: .*; NOT restarting: 1 restarts in the last hour \(cap 1\): paging a human/);
                // Nothing was restarted: the same (frozen) Geth is still the unit's process.
                expect(onGuest(1, "systemctl show geth -p MainPID --value")).toBe(frozen);
            } finally {
                onGuest(1, `kill -CONT ${frozen}`);
            }
            // Back to the default cap: under it again, the keeper acts again; the stack is as tracked.
            sandbox.configSet({ "ethnode:keeper.maxRestartsPerHour": "3" });
            sandbox.up();
            await waitFor("node-1 serving again", async () => (gatewayHealth(1).backends[0].healthy ? true : undefined), 60000);
            await waitFor("the keeper acting again", async () => (onGuest(1, "cat /var/lib/prometheus/node-exporter/ethnode_keeper.prom").includes('ethnode_keeper_gave_up{client="geth"} 0') ? true : undefined), 30000);
            expect(sandbox.preview().steps).toEqual([]);
        });

        it("loses a node outright under load: no read fails, its peers drop it, ClusterDegraded reaches Slack", async () => {
            const since = Date.now();
            const { load } = await underLoad(gatewayUrl(0), 100, async () => {
                killGuest(2);
                await waitFor("node-2 out of node-0's pool", async () => (gatewayHealth(0).backends.find((b) => b.name === "node-2")!.healthy ? undefined : true), 30000);
                // Keep the load on while the peers notice and after.
                await new Promise((r) => setTimeout(r, 5000));
            });
            expect({ failed: load.failed, failures: load.failures }).toEqual({ failed: 0, failures: [] });
            const alert = await slackAbout("ClusterDegraded", since, 240000);
            expect(alert.title).toContain("FIRING");
        });
    });
}
