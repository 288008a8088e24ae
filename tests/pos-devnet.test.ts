/**
 * The validator role against the real binaries (Geth and Prysm at their pins) on a one-node proof-of-stake devnet
 * on loopback, with interop validators: the keystores an operator exports from Prysm's own wallet pass
 * ethnode:validatorKeystores; the keys step (install-validator-keys.sh as a host runs it) builds the wallet; the
 * signer started with the rendered unit's command attests while the chain advances, and the beacon node, started
 * with its rendered flags, reports the series the missed-attestation alert reads; a second signer with the same
 * keys exits on doppelganger without signing; `ethnode slashing-protection` export and import carry the EIP-3076
 * history from one node to another.
 *
 * Each node is a host view (tests/helpers/devnet.ts): steps, CLI and signer run at their real paths
 * (/etc/ethnode, /opt/ethnode, /var/lib/ethnode) and as the validator's own user, in overlays of a private mount
 * namespace; Geth and the beacon node run beside them. Runs where Prysm is in the cache (consensus tier).
 */
import * as pulumi from "@pulumi/pulumi";
import { SpawnSyncReturns } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ConfigSource, EthnodeConfig, parseConfig } from "../components/config";
import { renderCliConfig } from "../components/node";
import { PortMap } from "../components/ports";
import { PRYSM, prysmFlags } from "../components/prysm";
import { bundle, effectiveScript, HostFile } from "../components/remote";
import { ASSETS_DIR, shq } from "../components/render";
import { PRYSM_VALIDATOR, keyFiles, renderKeysScript, renderValidatorUnit, validatorPaths } from "../components/validator";
import { describeConsensus } from "./helpers/consensus";
import { Chain, HostView, SLOTS_PER_EPOCH, chainConfig, operatorKeystores, scrape, startChain, total } from "./helpers/devnet";
import { Proc, execStartArgs, freePort, gethBinary, pinnedVersions, rpc, startProc, tmpDir, waitFor } from "./helpers/proc";
import { ROOT, TEST_DMS_URL, TEST_SLACK_WEBHOOK, TEST_SSH_KEY, resolve } from "./helpers/pulumi";
import { TEST_FEE_RECIPIENT, TEST_VALIDATOR_PASSWORD } from "./helpers/validator";

const VALIDATORS = 8;
/** Short, but long enough for the first block on a busy machine; the mainnet preset keeps 32 slots an epoch. */
const SLOT_SECONDS = 3;
const NETWORK = "mainnet";
const DATA_DIR = "/var/lib/ethnode";
const SIGNER = PRYSM_VALIDATOR.name;
/**
 * Prysm's doppelganger check answers "no duplicate" for a key without local history until the head is past epoch
 * 2 (it compares participation one epoch back), so the second signer starts only from here on.
 */
const CHECKED_FROM_SLOT = 3 * SLOTS_PER_EPOCH;
/** Genesis lies so far back that CHECKED_FROM_SLOT comes this many seconds after the chain is made. */
const LEAD_SECONDS = 30;
/** Where the nodes read the devnet's chain config: a file their signer's user can reach. */
const CHAIN_CONFIG = "/etc/ethnode/devnet-chain.yaml";
const CLI = path.join(ROOT, "assets", "cli", "ethnode");
const PRELUDE = path.join(ASSETS_DIR, "scripts", "prelude.sh");

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const getJson = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

/** The stack config an operator writes for one signer node holding every key. */
function stackSource(keystores: string[], bins: { beacon: string; validator: string }): ConfigSource {
    const version = pinnedVersions().ETHNODE_PRYSM_VERSION;
    const raw: Record<string, unknown> = {
        network: NETWORK,
        host: { provider: "existing", address: "127.0.0.1", dataDir: DATA_DIR },
        geth: { version: pinnedVersions().ETHNODE_GETH_VERSION, commit: "a5790770", sha256: sha256(gethBinary()) },
        consensusClient: "prysm",
        prysm: { version, sha256: sha256(bins.beacon) },
        validator: {
            version,
            sha256: sha256(bins.validator),
            feeRecipient: TEST_FEE_RECIPIENT,
            graffiti: "ethnode-devnet",
            signers: [{ node: 0, pubkeys: keystores.map((k) => JSON.parse(k).pubkey) }],
            monitorIndices: [...Array(VALIDATORS).keys()],
        },
        // As `pulumi config set --secret ethnode:validatorKeystores < keystores.json` stores it.
        validatorKeystores: `[${keystores.join(",")}]`,
        validatorPassword: TEST_VALIDATOR_PASSWORD,
        sshPrivateKey: TEST_SSH_KEY,
        slackWebhookUrl: TEST_SLACK_WEBHOOK,
        deadMansSwitchUrl: TEST_DMS_URL,
    };
    const secrets = ["sshPrivateKey", "slackWebhookUrl", "deadMansSwitchUrl", "validatorKeystores", "validatorPassword"];
    return { get: (k) => raw[k], isSecret: (k) => secrets.includes(k) };
}

/** Files as a step delivers them: on stdin, unpacked by the host's prelude. */
function deliver(view: HostView, files: (HostFile & { content: string })[]): void {
    view.must("bash", ["-c", `source ${shq(PRELUDE)}; unpack_files`], bundle(files));
}

const rootFile = (p: string, content: string): HostFile & { content: string } => ({ path: p, content, mode: "0644", owner: "root", group: "root" });

/** A CLI run's outcome: "ok", or its status and what it said. */
const outcome = (r: SpawnSyncReturns<string>) => (r.status === 0 ? "ok" : `exit ${r.status}: ${r.stderr}`);

/** The node's `ethnode` CLI, as an operator runs it on the host. */
function cli(view: HostView, ...args: string[]) {
    return view.run("bash", [CLI, "--non-interactive", ...args], "", { ETHNODE_LIB: path.join(ASSETS_DIR, "scripts") });
}

/**
 * A signer node as `pulumi up` leaves it before its signer starts: the CLI's config, the validator's user, home
 * and release (its install step), then the keys step with the keystores and password on its stdin. Returns
 * the keys step's output.
 */
async function provision(view: HostView, node: string, cfg: EthnodeConfig, binary: string): Promise<string> {
    const v = cfg.validator!;
    const home = validatorPaths(DATA_DIR).home;
    deliver(view, [
        rootFile("/etc/ethnode/ethnode.conf", renderCliConfig(node, { network: cfg.network, consensus: PRYSM, validator: PRYSM_VALIDATOR, host: cfg.host, gateway: cfg.gateway, cluster: false }, "")),
        rootFile(CHAIN_CONFIG, chainConfig(VALIDATORS, SLOT_SECONDS)),
    ]);
    view.must("bash", ["-c", `source ${shq(PRELUDE)}; ensure_system_user ${SIGNER} ${home}; install -d -m 0750 -o ${SIGNER} -g ${SIGNER} ${home}`]);
    const installed = cli(view, "install", SIGNER, v.version, "--file", binary, "--sha256", v.sha256!);
    if (installed.status !== 0) throw new Error(`ethnode install ${SIGNER} failed: ${installed.stderr}`);
    const pubkeys = v.signers[0].pubkeys;
    const files = await Promise.all(keyFiles(DATA_DIR, pubkeys, v).map(async (f) => ({ ...f, content: await resolve<string>(pulumi, f.content) })));
    return view.must("bash", ["-c", effectiveScript(`${node}-validator-keys`, renderKeysScript(DATA_DIR, pubkeys), true)], bundle(files));
}

/** The beacon node's rendered flags, less what a devnet cannot have, plus what it needs instead. */
function beaconArgs(cfg: EthnodeConfig, chain: Chain, dir: string, ports: Partial<PortMap>): string[] {
    const rendered = prysmFlags({ network: NETWORK, dataDir: dir, prysm: cfg.prysm!, executionEndpoint: chain.engineUrl, jwtPath: chain.jwtFile, ports, monitorIndices: cfg.validator!.monitorIndices });
    return [
        // No checkpoint server serves a devnet: its genesis state is a file. Its chain is a config file, which the
        // beacon node refuses beside a network flag.
        ...rendered.filter((f) => f !== `--${NETWORK}` && !/^--(checkpoint-sync-url|genesis-beacon-api-url)=/.test(f)),
        `--chain-config-file=${chain.configFile}`,
        `--genesis-state=${chain.genesisState}`,
        // One node: no peers to find or to wait for.
        "--no-discovery",
        "--min-sync-peers=0",
        "--p2p-local-ip=127.0.0.1",
    ];
}

/**
 * The signer as its rendered unit runs it, as the unit's user. A devnet's chain is a config file, which no
 * rendered network flag names: `--chain-config-file` is the one flag added (Prysm loads it over `--mainnet`).
 */
function startSigner(view: HostView, cfg: EthnodeConfig, ports: Partial<PortMap>, logFile: string): Proc {
    const unit = renderValidatorUnit({ network: NETWORK, dataDir: DATA_DIR, validator: cfg.validator!, ports });
    const binary = unit.match(/^ExecStart=(\S+)/m)![1];
    return view.spawn(SIGNER, binary, [...execStartArgs(unit), `--chain-config-file=${CHAIN_CONFIG}`], logFile);
}

const exited = (p: Proc) => p.child.exitCode !== null || p.child.signalCode !== null;

const EXITED = Symbol("exited");

/** waitFor, failing at once with the log's last lines if `proc` exits meanwhile. */
async function whileRunning<T>(proc: Proc, what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const r = await waitFor<T | typeof EXITED>(what, async () => (exited(proc) ? EXITED : fn()), timeoutMs);
    if (r === EXITED) throw new Error(`${what}: the process exited: ${proc.log().split("\n").slice(-15).join("\n")}`);
    return r;
}

interface Interchange {
    metadata: { interchange_format_version: string; genesis_validators_root: string };
    data: { pubkey: string; signed_blocks: unknown[]; signed_attestations: { source_epoch: string; target_epoch: string }[] }[];
}
/** An interchange's history by key; a key that signed nothing has nothing to protect, and Prysm exports it or not. */
const byKey = (i: Interchange) =>
    i.data.filter((d) => d.signed_attestations.length + d.signed_blocks.length > 0).sort((x, y) => x.pubkey.localeCompare(y.pubkey));

describeConsensus("prysm", "the validator role on a one-node proof-of-stake devnet", (beaconBin) => {
    const bins = { beacon: beaconBin, validator: path.join(path.dirname(beaconBin), "validator"), prysmctl: path.join(path.dirname(beaconBin), "prysmctl") };
    const nodes = {} as Record<"a" | "b" | "c", { view: HostView; keysOutput: string }>;
    const views: HostView[] = [];
    const procs: Proc[] = [];
    let dir: string;
    let cfg: EthnodeConfig;
    let chain: Chain;
    let beaconApi: string;
    let beaconMetrics: string;
    let signerA: Proc;
    let portsA: Partial<PortMap>;
    let portsB: Partial<PortMap>;
    const timings = { firstBlock: 0, firstAttestation: 0 };
    let exported: Interchange;

    const head = async () => total(await scrape(beaconMetrics, "beacon_head_slot"));
    const signerMetrics = (ports: Partial<PortMap>) => `http://127.0.0.1:${ports.validatorMetrics}/metrics`;

    beforeAll(async () => {
        dir = tmpDir("pos-devnet");
        fs.mkdirSync(path.join(dir, "operator"));
        const keystores = operatorKeystores(bins.validator, path.join(dir, "operator"), VALIDATORS, TEST_VALIDATOR_PASSWORD);
        cfg = parseConfig(stackSource(keystores, bins));
        for (const n of ["a", "b", "c"] as const) {
            fs.mkdirSync(path.join(dir, n));
            const view = await HostView.open(path.join(dir, n));
            views.push(view);
            nodes[n] = { view, keysOutput: await provision(view, `node-${n}`, cfg, bins.validator) };
        }

        const [gethHttp, gethAuthRpc, gethP2p] = [await freePort(), await freePort(), await freePort()];
        const beaconPorts = { beaconHttp: await freePort(), beaconGrpc: await freePort(), beaconMetrics: await freePort(), beaconP2p: await freePort(), beaconQuic: await freePort() };
        portsA = { beaconGrpc: beaconPorts.beaconGrpc, validatorMetrics: await freePort() };
        portsB = { beaconGrpc: beaconPorts.beaconGrpc, validatorMetrics: await freePort() };
        beaconApi = `http://127.0.0.1:${beaconPorts.beaconHttp}`;
        beaconMetrics = `http://127.0.0.1:${beaconPorts.beaconMetrics}/metrics`;

        const genesisTime = Math.floor(Date.now() / 1000) + LEAD_SECONDS - CHECKED_FROM_SLOT * SLOT_SECONDS;
        fs.mkdirSync(path.join(dir, "chain"));
        chain = await startChain(
            { dir: path.join(dir, "chain"), geth: gethBinary(), prysmctl: bins.prysmctl, validators: VALIDATORS, slotSeconds: SLOT_SECONDS, genesisTime },
            { http: gethHttp, engine: gethAuthRpc, p2p: gethP2p },
        );
        procs.push(chain.geth);
        await whileRunning(chain.geth, "geth's JSON-RPC", async () => ((await rpc(chain.rpcUrl, "eth_chainId")).status === 200 ? true : undefined), 60000);
        const beacon = startProc(beaconBin, beaconArgs(cfg, chain, path.join(dir, "chain"), beaconPorts), path.join(dir, "beacon.log"));
        procs.push(beacon);
        await whileRunning(beacon, "the beacon node's API", async () => ((await fetch(`${beaconApi}/eth/v1/node/health`)).status === 200 ? true : undefined), 60000);

        signerA = startSigner(nodes.a.view, cfg, portsA, path.join(dir, "signer-a.log"));
        procs.push(signerA);
        const started = Date.now();
        await whileRunning(signerA, "the first block", async () => ((await head()) > 0 ? true : undefined), 60000);
        timings.firstBlock = Date.now() - started;
        await whileRunning(signerA, "the first attestation", async () => (total(await scrape(signerMetrics(portsA), "validator_successful_attestations")) > 0 ? true : undefined), 60000);
        timings.firstAttestation = Date.now() - started;
    }, 300000);

    afterAll(async () => {
        for (const p of procs.reverse()) await p.stop(p === chain?.geth ? "SIGINT" : "SIGTERM");
        for (const v of views) await v.close();
    }, 120000);

    it("takes the keystores an operator exports from Prysm's wallet as ethnode:validatorKeystores: the genesis's own validators", async () => {
        const genesis = await getJson<{ data: { validator: { pubkey: string } }[] }>(`${beaconApi}/eth/v1/beacon/states/genesis/validators`);
        const genesisKeys = genesis.data.map((v) => v.validator.pubkey).sort();
        expect(genesisKeys).toHaveLength(VALIDATORS);
        expect([...cfg.validator!.signers[0].pubkeys].sort()).toEqual(genesisKeys);
        expect(await pulumi.isSecret(cfg.validator!.keystores)).toBe(true);
        const keystores = await resolve<Record<string, string>>(pulumi, cfg.validator!.keystores);
        expect(Object.keys(keystores).sort()).toEqual(genesisKeys);
    });

    it("builds the wallet in the keys step as the unit's user, and leaves an unchanged set of keys alone", async () => {
        const paths = validatorPaths(DATA_DIR);
        const view = nodes.a.view;
        expect(nodes.a.keysOutput).toContain(`validator keys: wallet holds ${VALIDATORS} key(s)`);
        expect(view.must("cat", [paths.held]).trim().split("\n")).toEqual([...cfg.validator!.signers[0].pubkeys].sort());
        const keystoreFiles = view.must("bash", ["-c", `ls ${shq(paths.keys)}/*.json`]).trim().split("\n");
        expect(keystoreFiles).toHaveLength(VALIDATORS);
        for (const f of [paths.password, ...keystoreFiles]) expect(view.must("stat", ["-c", "%U %a", f]).trim()).toBe(`${SIGNER} 600`);
        expect(view.must("stat", ["-c", "%U", paths.wallet]).trim()).toBe(SIGNER);

        const v = cfg.validator!;
        const files = await Promise.all(keyFiles(DATA_DIR, v.signers[0].pubkeys, v).map(async (f) => ({ ...f, content: await resolve<string>(pulumi, f.content) })));
        const again = view.must("bash", ["-c", effectiveScript("node-a-validator-keys", renderKeysScript(DATA_DIR, v.signers[0].pubkeys), true)], bundle(files));
        expect(again).toContain(`validator keys: the wallet already holds these ${VALIDATORS} key(s)`);
    });

    it("advances the chain at the wall clock's pace, Geth importing its blocks", async () => {
        const [slot0, block0] = [await head(), Number((await rpc(chain.rpcUrl, "eth_blockNumber")).body.result)];
        await whileRunning(signerA, "four more slots", async () => ((await head()) >= slot0 + 4 ? true : undefined), 8 * SLOT_SECONDS * 1000);
        expect(Number((await rpc(chain.rpcUrl, "eth_blockNumber")).body.result)).toBeGreaterThanOrEqual(block0 + 3);
        const [clock, now] = [total(await scrape(beaconMetrics, "beacon_clock_time_slot")), await head()];
        expect(clock - now).toBeLessThanOrEqual(1);
    });

    it("attests with the signer started by the rendered unit's command: its own metrics rise", async () => {
        const url = signerMetrics(portsA);
        const statuses = await scrape(url, PRYSM_VALIDATOR.keySeries);
        expect(statuses.size).toBe(VALIDATORS);
        expect(new Set(statuses.values())).toEqual(new Set([3])); // ACTIVE
        const [attested0, last0] = [total(await scrape(url, "validator_successful_attestations")), Math.max(...(await scrape(url, "validator_last_attested_slot")).values())];
        await whileRunning(signerA, "two more attestations", async () => (total(await scrape(url, "validator_successful_attestations")) >= attested0 + 2 ? true : undefined), SLOTS_PER_EPOCH * SLOT_SECONDS * 1000);
        expect(Math.max(...(await scrape(url, "validator_last_attested_slot")).values())).toBeGreaterThan(last0);
    }, 120000);

    it("reports monitor_timely_target for the rendered --monitor-indices on the beacon node, rising", async () => {
        const indices = () => scrape(beaconMetrics, "monitor_timely_target");
        const first = await whileRunning(signerA, "monitor_timely_target", async () => ((await indices()).size > 0 ? await indices() : undefined), SLOTS_PER_EPOCH * SLOT_SECONDS * 1000);
        const monitored = cfg.validator!.monitorIndices.map((i) => `{validator_index="${i}"}`);
        for (const labels of first.keys()) expect(monitored).toContain(labels);
        await whileRunning(signerA, "monitor_timely_target rising", async () => (total(await indices()) > total(first) ? true : undefined), SLOTS_PER_EPOCH * SLOT_SECONDS * 1000);
    }, 240000);

    it("exits without signing when a second signer with the same keys starts on another node (doppelganger)", async () => {
        // Participation to compare: the head past epoch 2, and one of the first signer's votes included since.
        await whileRunning(
            signerA,
            "a vote included from epoch 3 on",
            async () => ((await head()) >= CHECKED_FROM_SLOT && Math.max(...(await scrape(beaconMetrics, "monitor_inclusion_slot")).values()) >= CHECKED_FROM_SLOT ? true : undefined),
            (LEAD_SECONDS + 2 * SLOTS_PER_EPOCH * SLOT_SECONDS) * 1000,
        );
        const signerB = startSigner(nodes.b.view, cfg, portsB, path.join(dir, "signer-b.log"));
        procs.push(signerB);
        const started = Date.now();
        await waitFor("the second signer's exit", async () => (exited(signerB) ? true : undefined), 60000);
        const doppelganger = Date.now() - started;
        expect(signerB.log()).toContain("Duplicate instances exists in the network");
        expect(signerB.log()).not.toMatch(/Submitted new (block|attestation)/);
        // Its own slashing-protection history, which records everything it signs, holds nothing.
        const own = cli(nodes.b.view, "slashing-protection", "export");
        expect(outcome(own)).toBe("ok");
        const history: Interchange = JSON.parse(nodes.b.view.must("cat", [own.stdout.trim()]));
        expect(history.data.flatMap((e) => [...e.signed_blocks, ...e.signed_attestations])).toEqual([]);
        console.log(
            `pos-devnet (${VALIDATORS} validators, ${SLOT_SECONDS} s slots, genesis backdated ${CHECKED_FROM_SLOT * SLOT_SECONDS - LEAD_SECONDS} s): ` +
                `first block ${seconds(timings.firstBlock)} s and first attestation ${seconds(timings.firstAttestation)} s after the signer started; ` +
                `doppelganger exit ${seconds(doppelganger)} s after the second signer started (exit status ${signerB.child.exitCode})`,
        );
    }, 300000);

    it("exports the stopped signer's history with `ethnode slashing-protection export`: an EIP-3076 interchange", async () => {
        const perKey = await scrape(signerMetrics(portsA), "validator_successful_attestations");
        const attested = [...perKey].filter(([, n]) => n > 0).map(([labels]) => labels.match(/pubkey="(0x[0-9a-f]+)"/)![1]);
        // Its database is locked while it runs: stopped as `systemctl stop` would.
        await signerA.stop();
        const r = cli(nodes.a.view, "slashing-protection", "export");
        expect(outcome(r)).toBe("ok");
        const file = r.stdout.trim();
        expect(file).toBe(validatorPaths(DATA_DIR).interchange);
        expect(nodes.a.view.must("stat", ["-c", "%U %a", file]).trim()).toBe("root 600");

        exported = JSON.parse(nodes.a.view.must("cat", [file]));
        const genesis = await getJson<{ data: { genesis_validators_root: string } }>(`${beaconApi}/eth/v1/beacon/genesis`);
        expect(exported.metadata).toEqual({ interchange_format_version: "5", genesis_validators_root: genesis.data.genesis_validators_root });
        const keys = cfg.validator!.signers[0].pubkeys;
        for (const entry of exported.data) expect(keys).toContain(entry.pubkey);
        expect(attested.length).toBeGreaterThan(0);
        for (const k of attested) {
            const entry = exported.data.find((e) => e.pubkey === k);
            expect(entry?.signed_attestations.length).toBeGreaterThan(0);
        }
    });

    it("imports it with `ethnode slashing-protection import` on the node whose signer exited: the same history", () => {
        const view = nodes.b.view;
        deliver(view, [{ ...rootFile("/var/tmp/interchange.json", JSON.stringify(exported)), mode: "0600" }]);
        const r = cli(view, "slashing-protection", "import", "/var/tmp/interchange.json");
        expect(outcome(r)).toBe("ok");
        const after = cli(view, "slashing-protection", "export");
        expect(byKey(JSON.parse(view.must("cat", [after.stdout.trim()])))).toEqual(byKey(exported));
    });

    it("refuses an import on a rebuilt node whose signer never ran, and changes nothing there", () => {
        const view = nodes.c.view;
        deliver(view, [{ ...rootFile("/var/tmp/interchange.json", JSON.stringify(exported)), mode: "0600" }]);
        const r = cli(view, "slashing-protection", "import", "/var/tmp/interchange.json");
        expect(r.status).toBe(3);
        expect(r.stderr).toContain("has never run on this node, so it has no database to import into");
        expect(view.run("test", ["-e", `${validatorPaths(DATA_DIR).home}/validator.db`]).status).not.toBe(0);
    });
});
