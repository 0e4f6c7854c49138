//! `berth push` (and pull) against private registries: htpasswd Basic auth through docker's config.json,
//! and TLS with a test CA and client certificates in berth's own `certs.d` (beside BERTH_CONFIG's file).
//! Images are built FROM scratch, so every blob is berth's own. Needs root (skips loudly otherwise).

mod rt;
mod support;

use std::process::Output;

use rt::{Env, require_root};
use support::certs::TestCa;
use support::registry::Registry;

/// Builds a one-file image FROM scratch tagged `tag`; returns its id.
fn scratch_image(env: &Env, tag: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    std::fs::write(ctx.path().join("f"), tag).unwrap();
    env.ok(&["build", "-q", "-t", tag, &ctx.path().to_string_lossy()]).trim().to_string()
}

fn with_docker_config(env: &Env, docker: &std::path::Path, args: &[&str]) -> Output {
    env.command(args).env("DOCKER_CONFIG", docker).output().expect("run berth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bp_push_with_basic_auth_from_docker_config() {
    if !require_root("bp_push_with_basic_auth_from_docker_config") {
        return;
    }
    let registry = Registry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let target = registry.repo("bp/auth:v1");
    let id = scratch_image(&env, &target);
    let docker = tempfile::tempdir().unwrap();

    let out = with_docker_config(&env, docker.path(), &["push", &target]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("push access denied") && err.contains(&format!("berth login {}", registry.host())), "{err}");

    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let config = serde_json::json!({"auths": {registry.host(): {"auth": auth}}});
    std::fs::write(docker.path().join("config.json"), config.to_string()).unwrap();
    let out = with_docker_config(&env, docker.path(), &["push", &target]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains(": Pushed"), "{}", text(&out.stdout));
    let manifest: serde_json::Value = serde_json::from_slice(&registry.raw_manifest("bp/auth:v1")).unwrap();
    assert_eq!(manifest["config"]["digest"], id.as_str());
}

#[test]
fn bp_push_and_pull_over_tls_with_a_client_certificate() {
    if !require_root("bp_push_and_pull_over_tls_with_a_client_certificate") {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start_with_tls(&ca.registry_tls());
    let env = Env::new();
    let target = registry.repo("bp/tls:v1");
    let id = scratch_image(&env, &target);

    // Without certs.d the loopback registry is spoken to in plain HTTP, which a TLS server refuses.
    let (_, err) = env.fails(&["push", &target]);
    assert!(err.contains(&target) && err.contains("http://") && err.contains("400"), "{err}");
    // A certs.d directory without the CA: HTTPS, and the registry's certificate is not trusted; the error
    // says where its CA goes.
    let host_dir = env.root().join("certs.d").join(registry.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    let (_, err) = env.fails(&["push", &target]);
    let advice = err.contains("unknown authority") && err.contains("ca.crt in");
    assert!(advice && err.contains(&host_dir.display().to_string()), "{err}");
    // The CA alone: the server is trusted, but it wants a client certificate.
    ca.install(env.root(), &registry.host(), false);
    let (_, err) = env.fails(&["push", &target]);
    // TLS 1.3 refuses the client after the handshake: its alert, or the connection dropped under the
    // request (hyper says its channel closed when the drop comes as the request is handed over), whichever
    // reaches the client first. The alert comes with where a client certificate goes.
    let refused = ["BadCertificate", "connection", "channel closed"].iter().any(|says| err.contains(says));
    assert!(err.contains(&target) && err.contains("https://") && refused, "{err}");
    if err.contains("BadCertificate") || err.contains("CertificateRequired") {
        assert!(err.contains("client.cert and client.key in"), "{err}");
    }

    ca.install(env.root(), &registry.host(), true);
    let out = env.ok(&["push", &target]);
    let last = out.lines().last().unwrap_or_default().to_string();
    let digest = last.split(" digest: ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or_default().to_string();
    assert!(digest.starts_with("sha256:"), "{out}");

    env.ok(&["rmi", &target]);
    let by_digest = format!("{}@{digest}", registry.repo("bp/tls"));
    env.ok(&["pull", &by_digest]);
    assert_eq!(env.inspect(&by_digest)["Id"], id.as_str());
}
