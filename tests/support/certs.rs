//! A test CA made with openssl: a server certificate for 127.0.0.1 and a client certificate, laid out
//! as Docker's `certs.d/HOST:PORT/` wants them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::registry::Tls;

/// The files of one CA and the certificates it signed, in a directory of the test's.
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl TestCa {
    /// A CA, a server certificate for IP 127.0.0.1 and a client certificate, all signed by the CA.
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new().prefix("bp-ca-").tempdir().expect("CA dir");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=berth test CA",
            ],
        );
        std::fs::write(d.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, subject) in [("server", "/CN=127.0.0.1"), ("client", "/CN=berth test client")] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    subject,
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.crt"),
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                ],
            );
        }
        TestCa { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The registry's TLS settings: the server certificate, and client certificates demanded.
    pub fn registry_tls(&self) -> Tls {
        Tls { certificate: self.path("server.crt"), key: self.path("server.key"), client_ca: Some(self.path("ca.crt")) }
    }

    /// Writes `certs.d/HOST/` under `config_dir`: the CA as `ca.crt`, and with `client` the client pair as
    /// `client.cert`/`client.key`.
    pub fn install(&self, config_dir: &Path, host: &str, client: bool) {
        let dir = config_dir.join("certs.d").join(host);
        std::fs::create_dir_all(&dir).expect("certs.d dir");
        std::fs::copy(self.path("ca.crt"), dir.join("ca.crt")).expect("copy ca.crt");
        if client {
            std::fs::copy(self.path("client.crt"), dir.join("client.cert")).expect("copy client.cert");
            std::fs::copy(self.path("client.key"), dir.join("client.key")).expect("copy client.key");
        }
    }
}
