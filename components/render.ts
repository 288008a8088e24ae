/**
 * Pure rendering: typed values in, text out. Templates live in assets/ and are mustache with HTML escaping
 * off — these are config files and scripts, and `&` or `<` must reach them unchanged.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";

export const ASSETS_DIR = path.join(__dirname, "..", "assets");

const cache = new Map<string, string>();

export function readAsset(relPath: string): string {
    let text = cache.get(relPath);
    if (text === undefined) {
        text = fs.readFileSync(path.join(ASSETS_DIR, relPath), "utf8");
        cache.set(relPath, text);
    }
    return text;
}

export function render(relPath: string, view: object): string {
    return Mustache.render(readAsset(relPath), view, {}, { escape: (s: string) => s });
}

export function sha256(...parts: string[]): string {
    const h = crypto.createHash("sha256");
    for (const p of parts) h.update(p).update("\0");
    return h.digest("hex");
}

/** Quotes one word for a POSIX shell. */
export function shq(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A duration as Prometheus, Alertmanager and vmalert write it. */
export const seconds = (s: number) => `${s}s`;

/**
 * The hardening every ethnode unit shares (assets/systemd/hardening.conf): `dataDir` is the one writable path;
 * `jit` allows writable-executable memory (LuaJIT needs it, nothing else does).
 */
export function renderHardening(dataDir: string, jit = false): string {
    return render("systemd/hardening.conf", { dataDir, denyWriteExecute: jit ? "no" : "yes" }).trimEnd();
}
