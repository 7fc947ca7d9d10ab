import * as crypto from "crypto";

const BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Trino reads bcrypt hashes only with the $2y$ prefix; bcryptjs writes $2b$ (or $2a$), the same algorithm. */
export function asTrinoBcrypt(hash: string): string {
    return hash.replace(/^\$2[ab]\$/, "$2y$");
}

/**
 * A bcrypt hash ($2y$, as Trino's password file wants it) of a password the user chose. The salt
 * is derived from the password and a context (stack and user), so the hash, and with it Trino's
 * password file, stays the same from one deployment to the next; a random salt would restart
 * Trino on every `pulumi up`.
 */
export function stableBcryptHash(password: string, context: string, cost = 10): string {
    const bcrypt = require("bcryptjs");
    const digest = crypto.createHmac("sha256", context).update(password).digest();
    const salt = Array.from(digest.subarray(0, 22), byte => BCRYPT_ALPHABET[byte % 64]).join("");
    return asTrinoBcrypt(bcrypt.hashSync(password, `$2b$${String(cost).padStart(2, "0")}$${salt}`));
}
