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
