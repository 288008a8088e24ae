/**
 * A Slack incoming-webhook stand-in on loopback: Alertmanager's Slack notifications land here, so a newcomer
 * can watch an alert arrive from the sandbox and tests can assert on it. Each message is printed as one line
 * ("<time> <title>") and kept; `GET /` answers the kept messages as JSON.
 *
 *   node slack-receiver.js <port> [<jsonl file>] [<address>...]   (default address 127.0.0.1)
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

/** `messages` may be shared by receivers on several addresses: each answers GET with all of them. */
export function startSlackReceiver(
    port: number,
    onMessage: (m: SlackMessage) => void,
    address = "127.0.0.1",
    messages: SlackMessage[] = [],
): Promise<http.Server> {
    const server = http.createServer((req, res) => {
        if (req.method === "GET") {
            res.setHeader("content-type", "application/json");
            res.end(JSON.stringify(messages));
            return;
        }
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
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
    const [port, file, ...addresses] = process.argv.slice(2);
    // One list of messages whichever address a message came to (the sandbox's guests post to their bridge's).
    const seen: SlackMessage[] = [];
    const onMessage = (m: SlackMessage) => {
        console.log(`${new Date(m.at).toISOString()} ${m.title}`);
        if (file) fs.appendFileSync(file, JSON.stringify(m) + "\n");
    };
    const listening = (addresses.length ? addresses : ["127.0.0.1"]).map((a) => startSlackReceiver(Number(port), onMessage, a, seen));
    Promise.all(listening).then(
        () => console.log(`slack receiver on port ${port} of ${(addresses.length ? addresses : ["127.0.0.1"]).join(", ")}`),
        (e) => {
            console.error(`slack receiver: ${e.message}`);
            process.exit(1);
        },
    );
}
