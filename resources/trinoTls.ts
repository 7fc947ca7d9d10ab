import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { runToCompletion, withScratchDir } from "../platforms/local/process";

/*
 * The coordinator's own TLS identity: a self-signed certificate whose subject alternative names
 * cover every name clients use, in a PKCS12 keystore locked with a generated password. keytool
 * reads that password from its environment, so it never appears on a command line.
 */

interface TlsInputs {
    keytool: string;
    hostnames: string[];
    ipAddresses: string[];
    keystorePassword: string;
    validityDays: number;
}

function generate(inputs: TlsInputs): { keystoreBase64: string; certificatePem: string } {
    return withScratchDir(dir => {
        const keystore = path.join(dir, "keystore.p12");
        const env = { ...process.env, DATAMESH_KEYSTORE_PASSWORD: inputs.keystorePassword };
        const san = [...inputs.hostnames.map(h => `dns:${h}`), ...inputs.ipAddresses.map(ip => `ip:${ip}`)].join(",");
        runToCompletion(
            inputs.keytool,
            ["-genkeypair", "-alias", "trino", "-keyalg", "RSA", "-keysize", "2048", "-validity", String(inputs.validityDays), "-dname", `CN=${inputs.hostnames[0]},O=datamesh`,
                "-ext", `SAN=${san}`, "-keystore", keystore, "-storetype", "PKCS12", "-storepass:env", "DATAMESH_KEYSTORE_PASSWORD", "-keypass:env", "DATAMESH_KEYSTORE_PASSWORD"],
            { env, what: "trino: generating the TLS keystore" },
        );
        const certificatePem = runToCompletion(inputs.keytool, ["-exportcert", "-rfc", "-alias", "trino", "-keystore", keystore, "-storepass:env", "DATAMESH_KEYSTORE_PASSWORD"], {
            env,
            what: "trino: exporting the TLS certificate",
        });
        const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certificatePem);
        if (!pem) {
            throw new Error(`trino: keytool did not print a PEM certificate:\n${certificatePem}`);
        }
        // keytool writes CRLF line ends; PEM files here use LF.
        return { keystoreBase64: fs.readFileSync(keystore).toString("base64"), certificatePem: `${pem[0].replace(/\r\n/g, "\n")}\n` };
    });
}

/** How long before its expiry an `up` renews the certificate. */
export const RENEW_WITHIN_DAYS = 30;

/** Whether a certificate expires within RENEW_WITHIN_DAYS of `now` (or already has). */
export function renewalDue(certificatePem: string, now = new Date()): boolean {
    const validTo = new Date(new crypto.X509Certificate(certificatePem).validTo);
    return validTo.getTime() - now.getTime() < RENEW_WITHIN_DAYS * 24 * 3600 * 1000;
}

export const tlsProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TlsInputs) {
        return { id: crypto.randomUUID(), outs: { ...inputs, ...generate(inputs) } };
    },
    async diff(_id: string, olds: TlsInputs & { certificatePem?: string }, news: TlsInputs) {
        const names = (i: TlsInputs) => JSON.stringify([i.hostnames, i.ipAddresses, i.keystorePassword, i.validityDays]);
        const changed = names(olds) !== names(news);
        // Nothing else renews a self-signed certificate: the `up` that finds it near its end makes a new one.
        const expiring = olds.certificatePem !== undefined && renewalDue(olds.certificatePem);
        return { changes: changed || expiring || olds.keytool !== news.keytool, replaces: changed ? ["hostnames"] : [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: TlsInputs & { keystoreBase64: string; certificatePem: string }, news: TlsInputs) {
        if (renewalDue(olds.certificatePem)) {
            return { outs: { ...news, ...generate(news) } };
        }
        return { outs: { ...news, keystoreBase64: olds.keystoreBase64, certificatePem: olds.certificatePem } };
    },
};

export interface TrinoTlsMaterialArgs {
    /** keytool of the JDK that runs the deployment. */
    keytool: pulumi.Input<string>;
    /** DNS names the certificate covers; the first is its common name. */
    hostnames: pulumi.Input<string[]>;
    /** IP addresses the certificate covers. */
    ipAddresses: pulumi.Input<string[]>;
    /** Locks the keystore; secret. */
    keystorePassword: pulumi.Input<string>;
    /** How long the certificate is valid. */
    validityDays?: number;
}

export class TrinoTlsMaterial extends pulumi.dynamic.Resource {
    /** The PKCS12 keystore, base64 (secret). */
    public readonly keystoreBase64!: pulumi.Output<string>;
    /** The self-signed certificate, PEM: what clients trust. */
    public readonly certificatePem!: pulumi.Output<string>;

    constructor(name: string, args: TrinoTlsMaterialArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            tlsProvider,
            name,
            { ...args, validityDays: args.validityDays ?? 825, keystoreBase64: undefined, certificatePem: undefined },
            { ...opts, additionalSecretOutputs: ["keystoreBase64", "keystorePassword"] },
            "datamesh",
            "TrinoTlsMaterial",
        );
    }
}
