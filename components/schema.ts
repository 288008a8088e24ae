/**
 * Small combinators for typed stack config. Each field knows its type (for the error message and the README
 * table), its documentation, and its default — which may depend on the network. A bad value fails with a
 * message that names the full key and what was expected, so `pulumi preview` stops before anything is touched.
 */

export const NETWORKS = ["mainnet", "sepolia", "hoodi", "devnet", "dev"] as const;
export type Network = (typeof NETWORKS)[number];

export class ConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

/** What a default may look at: fields parsed before it. */
export interface DefaultContext {
    network: Network;
    /** How many nodes the stack runs (`ethnode:nodes`). */
    nodes: number;
}

export interface Field<T> {
    /** Human description of the accepted values, used in errors and in the README. */
    readonly expected: string;
    readonly doc: string;
    /** Absent means required. */
    readonly default?: T | ((ctx: DefaultContext) => T);
    /** How the default reads in the README when it is computed. */
    readonly defaultDoc?: string;
    parse(value: unknown, key: string): T;
}

type FieldOptions<T> = { doc: string; default?: T | ((ctx: DefaultContext) => T); defaultDoc?: string };

function show(value: unknown): string {
    return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

function fail(key: string, expected: string, value: unknown): never {
    throw new ConfigError(`${key} must be ${expected}; got ${show(value)}`);
}

export function oneOf<const V extends string>(values: readonly V[], opts: FieldOptions<V>): Field<V> {
    const expected = `one of ${values.join(", ")}`;
    return {
        ...opts,
        expected,
        parse(value, key) {
            if (typeof value === "string" && (values as readonly string[]).includes(value)) return value as V;
            return fail(key, expected, value);
        },
    };
}

export function integer(min: number, max: number, opts: FieldOptions<number>): Field<number> {
    const expected = `an integer from ${min} to ${max}`;
    return {
        ...opts,
        expected,
        parse(value, key) {
            // `pulumi config set --path` stores numbers as strings; accept both spellings of an integer.
            const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
            if (typeof n === "number" && Number.isInteger(n) && n >= min && n <= max) return n;
            return fail(key, expected, value);
        },
    };
}

export function boolean(opts: FieldOptions<boolean>): Field<boolean> {
    const expected = "true or false";
    return {
        ...opts,
        expected,
        parse(value, key) {
            if (typeof value === "boolean") return value;
            if (value === "true" || value === "false") return value === "true";
            return fail(key, expected, value);
        },
    };
}

export function text(pattern: RegExp, expected: string, opts: FieldOptions<string>): Field<string> {
    return {
        ...opts,
        expected,
        parse(value, key) {
            if (typeof value === "string" && pattern.test(value)) return value;
            return fail(key, expected, value);
        },
    };
}

export function list<T>(item: Field<T>, opts: FieldOptions<T[]> & { minItems?: number }): Field<T[]> {
    const expected = `a list of ${item.expected}${opts.minItems ? ` (at least ${opts.minItems})` : ""}`;
    return {
        ...opts,
        expected,
        parse(value, key) {
            if (!Array.isArray(value)) return fail(key, expected, value);
            if (opts.minItems && value.length < opts.minItems) return fail(key, expected, value);
            return value.map((v, i) => item.parse(v, `${key}[${i}]`));
        },
    };
}

/** Optional field: `undefined` when unset; the value's own rules apply when set. */
export function optional<T>(field: Field<T>): Field<T | undefined> {
    return { ...field, default: undefined, defaultDoc: field.defaultDoc ?? "unset" };
}

export type Section = Record<string, Field<unknown>>;
export type Parsed<S extends Section> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function hasDefault(field: Field<unknown>): boolean {
    return "default" in field;
}

/**
 * Parses one config object against its section. Unknown keys are errors: a typo such as `dataVolumGb`
 * would otherwise silently fall back to the default.
 */
export function parseSection<S extends Section>(
    prefix: string,
    section: S,
    raw: unknown,
    ctx: DefaultContext,
): Parsed<S> {
    if (raw !== undefined && (typeof raw !== "object" || raw === null || Array.isArray(raw))) {
        fail(prefix, "an object", raw);
    }
    const input = (raw ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(input)) {
        if (!(key in section)) {
            throw new ConfigError(
                `${prefix}.${key} is not a known key; known keys are ${Object.keys(section).join(", ")}`,
            );
        }
    }
    const out: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(section)) {
        const key = `${prefix}.${name}`;
        const value = input[name];
        if (value === undefined || value === null) {
            if (!hasDefault(field)) throw new ConfigError(`${key} is required: ${field.expected}`);
            const d = field.default;
            out[name] = typeof d === "function" ? (d as (c: DefaultContext) => unknown)(ctx) : d;
        } else {
            out[name] = field.parse(value, key);
        }
    }
    return out as Parsed<S>;
}

/** Patterns shared by several sections. */
export const PATTERNS = {
    semver: /^\d+\.\d+\.\d+$/,
    sha256: /^[0-9a-f]{64}$/,
    https: /^https:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[^\s"'`$\\]*)?$/,
    absPath: /^\/[A-Za-z0-9._/-]*$/,
    cidr: /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$/,
    hostname: /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    unixUser: /^[a-z_][a-z0-9_-]{0,31}$/,
    shortCommit: /^[0-9a-f]{8}$/,
} as const;
