/** Trino reads bcrypt hashes only with the $2y$ prefix; bcryptjs writes $2b$ (or $2a$), the same algorithm. */
export function asTrinoBcrypt(hash: string): string {
    return hash.replace(/^\$2[ab]\$/, "$2y$");
}

/** A bcrypt salt with its version and cost, e.g. `$2b$10$` and 22 characters of 16 random bytes. */
export function newBcryptSalt(cost = 10): string {
    const bcrypt = require("bcryptjs");
    return bcrypt.genSaltSync(cost);
}

/**
 * A bcrypt hash ($2y$, as Trino's password file wants it) of a password, with a salt kept from an
 * earlier deployment: the same salt gives the same hash, so Trino's password file stays the same
 * from one `pulumi up` to the next. The salt must be random (newBcryptSalt), never derived from
 * the password or anything public, or the hash could be attacked faster than bcrypt allows.
 */
export function bcryptHashWithSalt(password: string, salt: string): string {
    if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{22}$/.test(salt)) {
        throw new Error("not a bcrypt salt: expected $2b$<cost>$ and 22 characters");
    }
    const bcrypt = require("bcryptjs");
    return asTrinoBcrypt(bcrypt.hashSync(password, salt));
}
