import * as child_process from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * A fresh self-signed certificate and its unencrypted key, made by openssl, valid for two days,
 * with the given subject alternative names (e.g. "DNS:localhost,IP:127.0.0.1").
 */
export function selfSignedCertificate(subjectAltNames: string): { cert: string; key: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-cert-"));
    try {
        child_process.execFileSync(
            "openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=datamesh-test", "-addext", `subjectAltName=${subjectAltNames}`,
                "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")],
            { stdio: "ignore" },
        );
        return { cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** A certificate and its unencrypted key, PEM. */
export interface KeyPair {
    cert: string;
    key: string;
}

function openssl(dir: string, args: string[]): void {
    child_process.execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

/** A test CA, made by openssl, valid for two days: a self-signed certificate marked as a CA. */
export function certificateAuthority(commonName: string): KeyPair {
    return withOpenssl(dir => {
        openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${commonName}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "key.pem", "-out", "cert.pem"]);
    });
}

/** A server certificate the CA signs, for the given subject alternative names (e.g. "IP:127.0.0.1"), valid for two days. */
export function issueCertificate(ca: KeyPair, subjectAltNames: string): KeyPair {
    return withOpenssl(dir => {
        fs.writeFileSync(path.join(dir, "ca.pem"), ca.cert);
        fs.writeFileSync(path.join(dir, "ca-key.pem"), ca.key);
        fs.writeFileSync(path.join(dir, "ext.cnf"), `subjectAltName=${subjectAltNames}\nextendedKeyUsage=serverAuth\n`);
        openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=datamesh-test-server", "-keyout", "key.pem", "-out", "request.csr"]);
        openssl(dir, ["x509", "-req", "-in", "request.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "cert.pem"]);
    });
}

function withOpenssl(make: (dir: string) => void): KeyPair {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-cert-"));
    try {
        make(dir);
        return { cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
