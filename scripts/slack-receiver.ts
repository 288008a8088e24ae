/**
 * A Slack incoming-webhook stand-in on loopback: Alertmanager's Slack notifications land here, so a newcomer
 * can watch an alert arrive from the sandbox and tests can assert on it. Each message is printed as one line
 * ("<time> <title>") and kept; `GET /` answers the kept messages as JSON.
 *
 * It is also the sandbox's dead man's switch: a POST to a path under /deadman/ (Alertmanager's Watchdog route,
 * through ethnode:deadMansSwitchUrl) is a ping, printed and counted, not a message. A path is watched from its
 * first ping (before it, the stack may not be up yet); when it has been silent for longer than the threshold, a
 * message "[DEADMAN] no Watchdog from <path> for N s" is kept like the Slack ones, once per silence, and a ping
 * after it adds "[DEADMAN RESOLVED] …". `GET /deadman/<name>` answers that path's pings as JSON.
 *
 *   node slack-receiver.js [--deadman-after=<seconds>] <port> [<jsonl file>] [<address>...]
 *
 * (default address 127.0.0.1; default threshold $DEADMAN_AFTER_SEC, else 180: three times the Watchdog route's
 * repeat_interval of 1m in assets/monitoring/alertmanager.yml, so one late or lost ping is not a page.)
 */
import * as fs from "fs";
import * as http from "http";

export interface SlackMessage {
    at: number;
    channel?: string;
    title: string;
    text: string;
}

/** Reads Alertmanager's Slack payload: the channel and the first attachment's title and text. */
export function slackMessage(body: string, at = Date.now()): SlackMessage {
    const payload = JSON.parse(body);
    const a = payload.attachments?.[0] ?? {};
    return { at, channel: payload.channel, title: a.title ?? payload.text ?? "", text: a.text ?? "" };
}

/** Where a dead man's switch is pinged: every path under it is a switch of its own. */
export const DEADMAN_PREFIX = "/deadman/";
/** Three Watchdog repeat intervals (1m on its route). */
export const DEADMAN_AFTER_SEC_DEFAULT = 180;

export interface DeadmanPings {
    path: string;
    count: number;
    first: number;
    last: number;
    /** Whether the current silence has been reported. */
    silent: boolean;
}

/**
 * The dead man's switch: pings by path, and a message for each path silent longer than `afterMs`. Its clock is
 * the caller's (`check(now)`), so the logic is tested without waiting; `start()` checks on a timer.
 */
export class DeadMansSwitch {
    private readonly paths = new Map<string, DeadmanPings>();
    private timer?: NodeJS.Timeout;

    constructor(
        readonly afterMs: number,
        private readonly report: (m: SlackMessage) => void,
    ) {}

    ping(path: string, at = Date.now()): void {
        const p = this.paths.get(path);
        if (p === undefined) {
            this.paths.set(path, { path, count: 1, first: at, last: at, silent: false });
            return;
        }
        if (p.silent) {
            this.report({ at, title: `[DEADMAN RESOLVED] Watchdog from ${path} again after ${Math.round((at - p.last) / 1000)} s`, text: `ping ${p.count + 1}` });
        }
        p.count++;
        p.last = at;
        p.silent = false;
    }

    /** Reports each path silent for longer than the threshold, once per silence. */
    check(now = Date.now()): void {
        for (const p of this.paths.values()) {
            if (p.silent || now - p.last <= this.afterMs) continue;
            p.silent = true;
            this.report({
                at: now,
                title: `[DEADMAN] no Watchdog from ${p.path} for ${Math.round((now - p.last) / 1000)} s`,
                text: `last ping ${new Date(p.last).toISOString()} (${p.count} since ${new Date(p.first).toISOString()}); threshold ${this.afterMs / 1000} s: the stack's Alertmanager, or the host it runs on, is down or cut off`,
            });
        }
    }

    pings(path: string): DeadmanPings | undefined {
        const p = this.paths.get(path);
        return p && { ...p };
    }

    /** Checks a few times per threshold (at least once a second), so a message is at most that late. */
    start(): this {
        this.timer = setInterval(() => this.check(), Math.min(1000, Math.max(50, this.afterMs / 4)));
        this.timer.unref();
        return this;
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
    }
}

/**
 * `messages` may be shared by receivers on several addresses: each answers GET with all of them. With a
 * `deadman`, POSTs under /deadman/ are its pings (`onPing` hears of each).
 */
export function startSlackReceiver(
    port: number,
    onMessage: (m: SlackMessage) => void,
    address = "127.0.0.1",
    messages: SlackMessage[] = [],
    deadman?: DeadMansSwitch,
    onPing: (path: string) => void = () => {},
): Promise<http.Server> {
    const server = http.createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0];
        const isDeadman = deadman !== undefined && path.startsWith(DEADMAN_PREFIX) && path.length > DEADMAN_PREFIX.length;
        if (req.method === "GET") {
            res.setHeader("content-type", "application/json");
            if (isDeadman) {
                const p = deadman.pings(path);
                res.statusCode = p ? 200 : 404;
                res.end(JSON.stringify(p ?? { path, count: 0 }));
                return;
            }
            res.end(JSON.stringify(messages));
            return;
        }
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            if (isDeadman) {
                deadman.ping(path);
                onPing(path);
                res.end("ok");
                return;
            }
            try {
                const m = slackMessage(body);
                messages.push(m);
                onMessage(m);
                res.end("ok");
            } catch {
                res.statusCode = 400;
                res.end("invalid_payload");
            }
        });
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, address, () => resolve(server));
    });
}

if (require.main === module) {
    const argv = process.argv.slice(2);
    const flag = argv.find((a) => a.startsWith("--deadman-after="));
    const [port, file, ...addresses] = argv.filter((a) => a !== flag);
    const afterSec = Number(flag?.slice("--deadman-after=".length) ?? process.env.DEADMAN_AFTER_SEC ?? DEADMAN_AFTER_SEC_DEFAULT);
    if (!Number.isFinite(afterSec) || afterSec <= 0) {
        console.error(`slack receiver: the dead man's switch threshold must be a positive number of seconds; got ${flag ?? process.env.DEADMAN_AFTER_SEC}`);
        process.exit(2);
    }
    const listen = addresses.length ? addresses : ["127.0.0.1"];
    // One list of messages whichever address a message came to (the sandbox's guests post to their bridge's).
    const seen: SlackMessage[] = [];
    const onMessage = (m: SlackMessage) => {
        console.log(`${new Date(m.at).toISOString()} ${m.title}`);
        if (file) fs.appendFileSync(file, JSON.stringify(m) + "\n");
    };
    const deadman = new DeadMansSwitch(afterSec * 1000, (m) => {
        seen.push(m);
        onMessage(m);
    }).start();
    const onPing = (path: string) => console.log(`${new Date().toISOString()} ping ${path} (${deadman.pings(path)!.count})`);
    Promise.all(listen.map((a) => startSlackReceiver(Number(port), onMessage, a, seen, deadman, onPing))).then(
        () => console.log(`slack receiver on port ${port} of ${listen.join(", ")}; dead man's switch under ${DEADMAN_PREFIX} after ${afterSec} s`),
        (e) => {
            console.error(`slack receiver: ${e.message}`);
            process.exit(1);
        },
    );
}
