import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { asTrinoBcrypt } from "../lib/passwordHash";

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
 * no password and stay byte-stable across deployments.
 */
export const passwordProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: { length: number }) {
        const bcrypt = require("bcryptjs");
        const value = randomString(inputs.length, PASSWORD_ALPHABET);
        const bcryptHash = asTrinoBcrypt(bcrypt.hashSync(value, 10));
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
    /** A bcrypt hash of the password ($2y$, cost 10), for password files. */
    public readonly bcryptHash!: pulumi.Output<string>;

    constructor(name: string, args: GeneratedPasswordArgs = {}, opts?: pulumi.CustomResourceOptions) {
        super(passwordProvider, name, { length: args.length ?? 24, value: undefined, bcryptHash: undefined }, { ...opts, additionalSecretOutputs: ["value"] }, "datamesh", "GeneratedPassword");
    }
}
