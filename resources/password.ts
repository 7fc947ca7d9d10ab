import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { bcryptHashWithSalt, newBcryptSalt } from "../lib/passwordHash";

/** Letters and digits without the look-alikes I, O, l, 0 and 1. */
export const PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/**
 * `length` characters, each drawn uniformly from the alphabet (at most 256 characters). A random
 * byte modulo the alphabet's size would favour the first 256 % size characters, so a byte from
 * the incomplete last round of the alphabet is thrown away and another one drawn.
 */
export function randomString(length: number, alphabet: string, randomBytes: (count: number) => Uint8Array = crypto.randomBytes): string {
    const limit = 256 - (256 % alphabet.length);
    const chars: string[] = [];
    while (chars.length < length) {
        for (const byte of randomBytes(length - chars.length)) {
            if (byte < limit) {
                chars.push(alphabet[byte % alphabet.length]);
            }
        }
    }
    return chars.join("");
}

/*
 * A generated password kept in the stack's state as a secret. It is a dynamic resource rather
 * than a provider plugin so the stack needs no extra binary; once created it never changes. It
 * also carries a bcrypt hash made once, so that files listing users (Trino's password.db) hold
 * no password and stay byte-stable across deployments; the hash is a secret too, since anyone
 * who reads it can test guesses against it.
 */
export const passwordProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: { length: number }) {
        const value = randomString(inputs.length, PASSWORD_ALPHABET);
        const bcryptHash = bcryptHashWithSalt(value, newBcryptSalt());
        return { id: crypto.randomUUID(), outs: { length: inputs.length, value, bcryptHash } };
    },
    async diff(_id: string, olds: { length: number }, news: { length: number }) {
        const changed = olds.length !== news.length;
        return { changes: changed, replaces: changed ? ["length"] : [], deleteBeforeReplace: false };
    },
};

export interface GeneratedPasswordArgs {
    /** Number of characters; letters and digits only, so it is safe in URLs, SQL and shell. */
    length?: number;
}

export class GeneratedPassword extends pulumi.dynamic.Resource {
    /** The password; always a secret. */
    public readonly value!: pulumi.Output<string>;
    /** A bcrypt hash of the password ($2y$, cost 10), for password files; always a secret. */
    public readonly bcryptHash!: pulumi.Output<string>;

    constructor(name: string, args: GeneratedPasswordArgs = {}, opts?: pulumi.CustomResourceOptions) {
        super(
            passwordProvider,
            name,
            { length: args.length ?? 24, value: undefined, bcryptHash: undefined },
            { ...opts, additionalSecretOutputs: ["value", "bcryptHash"] },
            "datamesh",
            "GeneratedPassword",
        );
    }
}

interface SaltInputs {
    user: string;
    cost: number;
}

/*
 * A random bcrypt salt for a password the user chose, made once and kept in the state as a
 * secret. The program hashes the password with it on every deployment: the hash stays the same
 * while the password does, so Trino does not restart, and changes when the password changes.
 */
export const saltProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: SaltInputs) {
        return { id: crypto.randomUUID(), outs: { ...inputs, salt: newBcryptSalt(inputs.cost) } };
    },
    async diff(_id: string, olds: SaltInputs, news: SaltInputs) {
        const replaces = (["user", "cost"] as const).filter(key => olds[key] !== news[key]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

export interface BcryptSaltArgs {
    /** The user whose password the salt is for; another user gets another salt. */
    user: pulumi.Input<string>;
    /** bcrypt's cost, the log2 of its rounds; Trino accepts 8 or more. */
    cost?: number;
}

export class BcryptSalt extends pulumi.dynamic.Resource {
    /** `$2b$<cost>$` and 22 characters of 16 random bytes; always a secret. */
    public readonly salt!: pulumi.Output<string>;

    constructor(name: string, args: BcryptSaltArgs, opts?: pulumi.CustomResourceOptions) {
        super(saltProvider, name, { user: args.user, cost: args.cost ?? 10, salt: undefined }, { ...opts, additionalSecretOutputs: ["salt"] }, "datamesh", "BcryptSalt");
    }
}
