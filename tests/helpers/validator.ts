/**
 * Validator config for tests: keystores of the EIP-2335 shape (what config checks; the consensus tier makes real
 * ones), their public keys, and the stack keys that run them on Prysm.
 */

/** Public key `i` (96 hex digits), as a keystore spells it. */
export const testPubkey = (i: number): string => (i + 1).toString(16).padStart(2, "0").repeat(48);

/** A keystore of the EIP-2335 shape for key `i`; `marker` ends up in its cipher text (grep state for it). */
export function fakeKeystore(i: number, marker = "ks-secret-marker"): Record<string, unknown> {
    return {
        version: 4,
        uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        path: `m/12381/3600/${i}/0/0`,
        pubkey: testPubkey(i),
        crypto: {
            kdf: { function: "pbkdf2", params: { dklen: 32, c: 262144, prf: "hmac-sha256", salt: "00" }, message: "" },
            checksum: { function: "sha256", params: {}, message: "11" },
            cipher: { function: "aes-128-ctr", params: { iv: "22" }, message: `${marker}-${i}` },
        },
    };
}

export const TEST_FEE_RECIPIENT = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
export const TEST_VALIDATOR_PASSWORD = "validator-password-marker";

/** The raw stack keys of a Prysm stack whose `signers` sign for keys 0..n-1 as given: `{node: [key indices]}`. */
export function validatorRaw(signers: Record<number, number[]>): Record<string, unknown> {
    const all = Object.values(signers).flat();
    return {
        consensusClient: "prysm",
        prysm: { version: "7.1.6", sha256: "c".repeat(64) },
        validator: {
            version: "7.1.6",
            sha256: "d".repeat(64),
            feeRecipient: TEST_FEE_RECIPIENT,
            signers: Object.entries(signers).map(([node, keys]) => ({ node: Number(node), pubkeys: keys.map((k) => `0x${testPubkey(k)}`) })),
        },
        validatorKeystores: JSON.stringify(all.map((k) => fakeKeystore(k))),
        validatorPassword: TEST_VALIDATOR_PASSWORD,
    };
}
