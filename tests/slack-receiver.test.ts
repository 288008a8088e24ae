/**
 * The sandbox's Slack-format receiver (scripts/slack-receiver.ts) as its dead man's switch: the logic on a clock
 * the test moves, then the receiver compiled and started the way scripts/sandbox.sh `receiver_up` does, pinged
 * like Alertmanager's Watchdog route pings it, with a threshold of 2 s.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DeadMansSwitch, SlackMessage } from "../scripts/slack-receiver";
import { ROOT } from "./helpers/pulumi";
import { freePort, tmpDir, waitFor } from "./helpers/proc";

describe("the dead man's switch", () => {
    const run = () => {
        const said: SlackMessage[] = [];
        return { said, dms: new DeadMansSwitch(60000, (m) => said.push(m)) };
    };

    it("reports a path silent for longer than the threshold, once per silence, and its return", () => {
        const { said, dms } = run();
        dms.ping("/deadman/a", 0);
        dms.ping("/deadman/a", 30000);
        dms.check(90000); // exactly the threshold: not yet
        expect(said).toEqual([]);
        dms.check(90001);
        dms.check(150000);
        expect(said.map((m) => m.title)).toEqual(["[DEADMAN] no Watchdog from /deadman/a for 60 s"]);
        expect(said[0].at).toBe(90001);
        expect(said[0].text).toBe("last ping 1970-01-01T00:00:30.000Z (2 since 1970-01-01T00:00:00.000Z); threshold 60 s: the stack's Alertmanager, or the host it runs on, is down or cut off");
        dms.ping("/deadman/a", 200000);
        expect(said.map((m) => m.title)).toEqual(["[DEADMAN] no Watchdog from /deadman/a for 60 s", "[DEADMAN RESOLVED] Watchdog from /deadman/a again after 170 s"]);
        // Armed again: the next silence is reported again.
        dms.check(260001);
        expect(said[2].title).toBe("[DEADMAN] no Watchdog from /deadman/a for 60 s");
        expect(dms.pings("/deadman/a")).toEqual({ path: "/deadman/a", count: 3, first: 0, last: 200000, silent: true });
    });

    it("watches a path from its first ping, each path on its own", () => {
        const { said, dms } = run();
        dms.check(1e9);
        dms.ping("/deadman/a", 0);
        dms.ping("/deadman/b", 50000);
        dms.check(100000);
        expect(said.map((m) => m.title)).toEqual(["[DEADMAN] no Watchdog from /deadman/a for 100 s"]);
        expect(dms.pings("/deadman/c")).toBeUndefined();
    });
});

describe("the receiver as the sandbox runs it", () => {
    let proc: ChildProcess;
    let url: string;
    let out = "";
    let jsonl: string;
    const messages = async () => (await (await fetch(`${url}/`)).json()) as SlackMessage[];
    // What Alertmanager's deadmans-switch receiver (a Slack config) posts.
    const ping = (p: string) => fetch(`${url}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ attachments: [{ title: "Watchdog", text: "ethnode monitoring is alive" }] }) });

    beforeAll(async () => {
        const dir = tmpDir("slack-receiver");
        // The compile receiver_up runs: one file, strict.
        execFileSync(
            path.join(ROOT, "node_modules", ".bin", "tsc"),
            ["--outDir", dir, "--module", "commonjs", "--target", "ES2022", "--types", "node", "--strict", "--skipLibCheck", path.join(ROOT, "scripts", "slack-receiver.ts")],
            { stdio: "inherit" },
        );
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        jsonl = path.join(dir, "slack.jsonl");
        proc = spawn(process.execPath, [path.join(dir, "slack-receiver.js"), "--deadman-after=2", String(port), jsonl], { stdio: ["ignore", "pipe", "pipe"] });
        proc.stdout!.on("data", (d) => (out += d));
        proc.stderr!.on("data", (d) => (out += d));
        await waitFor("the receiver", async () => ((await fetch(`${url}/`)).ok ? true : undefined));
    }, 60000);

    afterAll(async () => {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
    });

    it("keeps Slack messages as before, and counts the Watchdog's pings apart from them", async () => {
        expect(out).toContain(`slack receiver on port ${new URL(url).port} of 127.0.0.1; dead man's switch under /deadman/ after 2 s`);
        await fetch(`${url}/services/sandbox`, { method: "POST", body: JSON.stringify({ attachments: [{ title: "[FIRING:1] ExecutionClientDown", text: "x" }] }) });
        for (let i = 0; i < 3; i++) {
            expect((await ping("/deadman/sandbox")).status).toBe(200);
            await new Promise((r) => setTimeout(r, 500));
        }
        expect((await messages()).map((m) => m.title)).toEqual(["[FIRING:1] ExecutionClientDown"]);
        const pings = (await (await fetch(`${url}/deadman/sandbox`)).json()) as { count: number; silent: boolean };
        expect(pings).toMatchObject({ path: "/deadman/sandbox", count: 3, silent: false });
        expect(out).toMatch(/^\S+Z ping \/deadman\/sandbox \(3\)$/m);
        expect((await fetch(`${url}/deadman/never`)).status).toBe(404);
    });

    it("adds [DEADMAN] to the messages once the pings stop for longer than the threshold, and [DEADMAN RESOLVED] when they resume", async () => {
        await ping("/deadman/sandbox");
        const stopped = Date.now();
        const said = await waitFor("the dead man's message", async () => (await messages()).find((m) => m.title.startsWith("[DEADMAN]")), 10000);
        expect(said.title).toMatch(/^\[DEADMAN\] no Watchdog from \/deadman\/sandbox for [23] s$/);
        expect(said.at - stopped).toBeGreaterThan(2000);
        expect(said.at - stopped).toBeLessThan(5000);
        // Once per silence; in the log and the jsonl file like a Slack message.
        await new Promise((r) => setTimeout(r, 2500));
        expect((await messages()).filter((m) => m.title.startsWith("[DEADMAN"))).toHaveLength(1);
        expect(out).toContain(` ${said.title}\n`);
        expect(fs.readFileSync(jsonl, "utf8").trim().split("\n").map((l) => JSON.parse(l).title)).toEqual(["[FIRING:1] ExecutionClientDown", said.title]);
        await ping("/deadman/sandbox");
        const back = (await messages()).at(-1)!;
        expect(back.title).toMatch(/^\[DEADMAN RESOLVED\] Watchdog from \/deadman\/sandbox again after \d+ s$/);
        expect(Number(/after (\d+) s$/.exec(back.title)![1])).toBeGreaterThanOrEqual(4);
    });
});
