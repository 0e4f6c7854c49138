//! `berth push` of a committed image to the fault-injecting fake registry (which serves the busybox the
//! image is made on, so only the commit's layer and the config are uploaded): each fault either heals
//! by a retry or fails naming the image, the layer and the cause, and never leaves a manifest naming a
//! blob the registry lacks. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use rt::{Env, require_root};
use support::fake::{FakeRegistry, Fault, REPO};
use support::oci;

/// A committed image on the Env's busybox, tagged for the fake; returns (reference, the layer's diffID).
fn committed(env: &Env, fake: &FakeRegistry, name: &str) -> String {
    env.ok(&["run", "--name", name, "busybox", "sh", "-c", "echo pushed > /f && rm /bin/ls"]);
    let target = format!("{}/{REPO}:v1", fake.host());
    env.ok(&["commit", name, &target]);
    target
}

#[test]
fn bp_patch_failing_once_is_retried() {
    if !require_root("bp_patch_failing_once_is_retried") {
        return;
    }
    let env = Env::new();
    let fake = FakeRegistry::start(&oci::busybox_image(), Fault::PatchFailsOnce);
    let target = committed(&env, &fake, "bp-f1");
    let out = env.ok(&["push", &target]);
    assert!(out.contains(": Layer already exists") && out.contains(": Pushed"), "{out}");
    assert_eq!(fake.count("PATCH "), 2, "one 500, then the upload again: {:?}", fake.requests());
    assert!(fake.pushed_manifest("v1").is_some());
}

#[test]
fn bp_put_answering_another_digest_fails_then_the_next_push_continues() {
    if !require_root("bp_put_answering_another_digest_fails_then_the_next_push_continues") {
        return;
    }
    let env = Env::new();
    let fake = FakeRegistry::start(&oci::busybox_image(), Fault::PutWrongDigestOnce);
    let target = committed(&env, &fake, "bp-f2");
    let (_, err) = env.fails(&["push", &target]);
    let pushed = fake.pushed_blobs();
    assert_eq!(pushed.len(), 1, "the layer reached the registry: {pushed:?}");
    assert!(err.contains(&target) && err.contains(&pushed[0]), "names the image and the layer: {err}");
    assert!(err.contains(&oci::digest_of(b"other")), "names the digest the registry answered: {err}");
    assert!(fake.pushed_manifest("v1").is_none(), "no manifest after a failed layer: {:?}", fake.requests());
    assert_eq!(fake.count("PUT /v2/test/image/manifests/"), 0);

    let out = env.ok(&["push", &target]);
    assert!(!out.contains(": Pushed"), "the layer sent before is not sent again: {out}");
    assert_eq!(out.matches(": Layer already exists").count(), 2, "{out}");
    assert_eq!(fake.count("PATCH "), 1, "{:?}", fake.requests());
    assert!(fake.pushed_manifest("v1").is_some());
}

#[test]
fn bp_token_expiring_midway_is_renewed_and_no_credentials_hint_login() {
    if !require_root("bp_token_expiring_midway_is_renewed_and_no_credentials_hint_login") {
        return;
    }
    let env = Env::new();
    let fake = FakeRegistry::start_with_bearer(&oci::busybox_image(), Fault::TokenExpiresAtPatch, "bob", "pw");
    let target = committed(&env, &fake, "bp-f3");
    let docker = tempfile::tempdir().unwrap();
    let no_creds = env.command(&["push", &target]).env("DOCKER_CONFIG", docker.path()).output().unwrap();
    let err = String::from_utf8_lossy(&no_creds.stderr);
    assert!(!no_creds.status.success());
    assert!(err.contains("push access denied") && err.contains(&format!("berth login {}", fake.host())), "{err}");

    let auth = base64_auth("bob:pw");
    let config = serde_json::json!({"auths": {fake.host(): {"auth": auth}}});
    std::fs::write(docker.path().join("config.json"), config.to_string()).unwrap();
    let out = env.command(&["push", &target]).env("DOCKER_CONFIG", docker.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fake.count("PATCH "), 2, "the 401'd PATCH is sent again: {:?}", fake.requests());
    let scopes: Vec<String> = fake.token_requests().into_iter().filter_map(|t| t.scope).collect();
    assert!(scopes.iter().all(|s| s.contains(":pull")), "{scopes:?}");
    assert!(scopes.iter().any(|s| s == &format!("repository:{REPO}:pull,push")), "{scopes:?}");
    assert!(fake.pushed_manifest("v1").is_some());
}

#[test]
fn bp_connection_dropped_mid_layer_is_retried() {
    if !require_root("bp_connection_dropped_mid_layer_is_retried") {
        return;
    }
    let env = Env::new();
    let fake = FakeRegistry::start(&oci::busybox_image(), Fault::DropMidLayer);
    let target = committed(&env, &fake, "bp-f4");
    let out = env.ok(&["push", &target]);
    assert!(out.contains(": Pushed"), "{out}");
    assert_eq!(fake.count("PATCH "), 2, "{:?}", fake.requests());
    assert_eq!(fake.count("POST /v2/test/image/blobs/uploads/"), 3, "layer twice, config once");
    assert!(fake.pushed_manifest("v1").is_some());
}

#[test]
fn bp_unknown_repository_names_the_registry_code() {
    if !require_root("bp_unknown_repository_names_the_registry_code") {
        return;
    }
    let env = Env::new();
    let fake = FakeRegistry::start(&oci::busybox_image(), Fault::None);
    // Made here entirely (no pulled layer), so berth has every blob and reaches the upload.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    std::fs::write(ctx.path().join("f"), "x").unwrap();
    let target = format!("{}/elsewhere/app:v1", fake.host());
    env.ok(&["build", "-q", "-t", &target, &ctx.path().to_string_lossy()]);
    let (_, err) = env.fails(&["push", &target]);
    assert!(err.contains("NAME_UNKNOWN") && err.contains(&target), "{err}");
}

fn base64_auth(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
