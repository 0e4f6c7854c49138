//! A real registry for pull tests: Debian's `docker-registry` (Distribution 2.8) on 127.0.0.1, filled with
//! `skopeo copy` from OCI layouts the tests built.
//!
//! Distribution 2.8 serves htpasswd Basic auth over plain HTTP (checked: no TLS is demanded), so the
//! authenticated registry is plain HTTP too; berth treats 127.0.0.1 as plain HTTP anyway.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::oci::{Image, Index, OciLayout};

const BINARY: &str = "/usr/bin/docker-registry";

/// A running `docker-registry` with its own storage; killed (by PID) and removed on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    creds: Option<(String, String)>,
}

/// TLS for the registry: its certificate and key, and the CA whose client certificates it demands.
#[derive(Clone, Debug)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// How `skopeo copy` writes the image into the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushFormat {
    /// The OCI manifest as built, digests unchanged.
    Oci,
    /// Converted to a Docker v2 schema 2 manifest (new manifest digest, same config and layers).
    DockerV2S2,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Registry {
        Registry::launch(None, None)
    }

    /// A registry that demands htpasswd Basic auth for `user`/`password`.
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Some((user.to_owned(), password.to_owned())), None)
    }

    /// An anonymous registry serving HTTPS only.
    pub fn start_with_tls(tls: &Tls) -> Registry {
        Registry::launch(None, Some(tls))
    }

    fn launch(creds: Option<(String, String)>, tls: Option<&Tls>) -> Registry {
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("temp dir for registry");
        if let Some((user, password)) = &creds {
            let out =
                Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
            fs::write(dir.path().join("htpasswd"), &out.stdout).expect("write htpasswd file");
        }
        for _ in 0..5 {
            let port = free_port();
            let mut yaml = config_yaml(dir.path(), port, creds.is_some());
            if let Some(tls) = tls {
                let secret = "  secret: berth-test-secret\n";
                yaml = yaml.replace(secret, &format!("{secret}{}", tls_yaml(tls)));
            }
            fs::write(dir.path().join("config.yml"), yaml).expect("write registry config");
            let log = fs::File::create(dir.path().join("registry.log")).expect("create registry log");
            let mut child = Command::new(BINARY)
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {BINARY}: {e}"));
            match wait_ready(&mut child, port, tls.is_some()) {
                Ok(()) => return Registry { child, dir, port, creds },
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
                    assert!(log.contains("address already in use"), "docker-registry on port {port}: {why}\n{log}");
                }
            }
        }
        panic!("docker-registry: no free port after 5 tries");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/NAME` for a repository name like `library/busybox`.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// The registry's own log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes `image` as `NAME:TAG`; returns the full reference `127.0.0.1:PORT/NAME:TAG`.
    pub fn push_image(&self, image: &Image, name_tag: &str, format: PushFormat) -> String {
        let tag = tag_of(name_tag);
        let layout = OciLayout::of_image(image, tag);
        self.copy(&layout, name_tag, format, false)
    }

    /// Pushes an index and every image it lists as `NAME:TAG`.
    pub fn push_index(&self, index: &Index, name_tag: &str) -> String {
        let tag = tag_of(name_tag);
        let layout = OciLayout::of_index(index, tag);
        self.copy(&layout, name_tag, PushFormat::Oci, true)
    }

    fn copy(&self, layout: &OciLayout, name_tag: &str, format: PushFormat, all: bool) -> String {
        let reference = self.repo(name_tag);
        let policy = self.dir.path().join("policy.json");
        fs::write(&policy, br#"{"default":[{"type":"insecureAcceptAnything"}]}"#).expect("write skopeo policy");
        let mut cmd = Command::new("skopeo");
        cmd.arg("--policy").arg(&policy).args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((user, password)) = &self.creds {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        match format {
            PushFormat::Oci => cmd.args(["--format", "oci"]),
            PushFormat::DockerV2S2 => cmd.args(["--format", "v2s2"]),
        };
        if all {
            cmd.arg("--all");
        }
        cmd.arg(format!("oci:{}", layout.image_arg())).arg(format!("docker://{reference}"));
        let out = cmd.output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy to {reference} failed:\n{}\nregistry log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        reference
    }

    /// The manifest (or index) bytes the registry serves for `NAME:TAG` or `NAME@DIGEST`, read with
    /// `skopeo inspect --raw`.
    pub fn raw_manifest(&self, name_ref: &str) -> Vec<u8> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some((user, password)) = &self.creds {
            cmd.arg("--creds").arg(format!("{user}:{password}"));
        }
        let target = if name_ref.contains('@') || name_ref.contains(':') {
            format!("docker://{}/{name_ref}", self.host())
        } else {
            format!("docker://{}/{name_ref}:latest", self.host())
        };
        let out = cmd.arg(&target).output().expect("run skopeo inspect");
        assert!(out.status.success(), "skopeo inspect {target} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tag_of(name_tag: &str) -> &str {
    match name_tag.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => "latest",
    }
}

fn config_yaml(dir: &std::path::Path, port: u16, auth: bool) -> String {
    let storage: PathBuf = dir.join("storage");
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n",
        storage.display()
    );
    if auth {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    yaml
}

/// The `http.tls` section, written after `http.secret`.
fn tls_yaml(tls: &Tls) -> String {
    let mut yaml = format!("  tls:\n    certificate: {}\n    key: {}\n", tls.certificate.display(), tls.key.display());
    if let Some(ca) = &tls.client_ca {
        yaml.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
    }
    yaml
}

/// Polls `GET /v2/` until the registry answers (200, or 401 when auth is on; a TLS registry answers
/// plain HTTP with 400).
fn wait_ready(child: &mut Child, port: u16, tls: bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        match http_status(port, "/v2/") {
            Some(200 | 401) => return Ok(()),
            Some(400) if tls => return Ok(()),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("no answer on /v2/ within 15 s".to_owned())
}

/// A port that was free a moment ago (the registry binds it itself; a lost race is retried).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The status code of a plain `GET path` on 127.0.0.1:port, or None when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
