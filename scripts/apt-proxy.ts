/**
 * The sandbox cluster's way to Debian's mirror: its guests live in network namespaces of their own, joined by a
 * bridge to this machine and nothing else, so apt in a guest uses this HTTP proxy on the bridge address. It
 * forwards plain-HTTP GET/HEAD for the allowed mirror hosts only; anything else is refused (403).
 *
 *   node apt-proxy.js <address> <port> <host>[,<host>...]
 */
import * as http from "http";

export function startAptProxy(address: string, port: number, allowed: string[]): Promise<http.Server> {
    const server = http.createServer((req, res) => {
        let target: URL;
        try {
            target = new URL(req.url ?? "");
        } catch {
            res.writeHead(400).end("absolute URL expected\n");
            return;
        }
        if (target.protocol !== "http:" || !allowed.includes(target.hostname) || !["GET", "HEAD"].includes(req.method ?? "")) {
            res.writeHead(403).end(`not a mirror this proxy serves: ${target.hostname}\n`);
            return;
        }
        const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
        delete headers["proxy-connection"];
        const upstream = http.request(
            { host: target.hostname, port: target.port || 80, path: target.pathname + target.search, method: req.method, headers },
            (answer) => {
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(res);
            },
        );
        upstream.on("error", (e) => {
            if (!res.headersSent) res.writeHead(502);
            res.end(`mirror unreachable: ${e.message}\n`);
        });
        upstream.end();
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, address, () => resolve(server));
    });
}

if (require.main === module) {
    const [address, port, hosts] = process.argv.slice(2);
    startAptProxy(address, Number(port), (hosts ?? "").split(",").filter(Boolean)).then(
        () => console.log(`apt proxy on http://${address}:${port}/ for ${hosts}`),
        (e) => {
            console.error(`apt proxy: ${e.message}`);
            process.exit(1);
        },
    );
}
