//! `berth pull` against a fake registry that misbehaves in one way per test: each failure must name the
//! image and the problem, leave the store consistent (nothing listed, no temp layer dirs), and a good
//! pull afterwards must work.

mod support;

use std::time::{Duration, Instant};

use support::berth::{AUTH_WORDS, Berth};
use support::fake::{self, FakeRegistry, Fault};
use support::oci::{self, Image};

/// A small retry budget, so faults that never heal fail fast.
const FEW_ATTEMPTS: &str = "max_concurrent_downloads = 3\nregistry_max_attempts = 2\nregistry_read_timeout_secs = 5\nregistry_connect_timeout_secs = 5\n";

/// Two layers, so a failure in the first leaves the second possibly downloaded.
fn image() -> Image {
    oci::busybox_with("faults")
}

/// The store after a failed pull is consistent, and the same image then pulls from a healthy registry.
fn assert_recovers(berth: &Berth, image: &Image) {
    berth.assert_failed_pull_left_nothing();
    berth.assert_no_wh_files();
    let good = FakeRegistry::start(image, Fault::None);
    berth.run(&["pull", &good.reference()]).success();
    assert_eq!(berth.inspect(&good.reference())["Id"], image.id());
    berth.assert_layers_exactly(&image.chain_ids());
}

#[test]
fn layer_failing_twice_is_retried() {
    if !support::require_root("layer_failing_twice_is_retried") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::LayerFailsTwice);
    let berth = Berth::new();
    berth.run(&["pull", &fake.reference()]).success();
    assert_eq!(
        fake.blob_gets(&image.layers[0].blob.digest),
        3,
        "two 500s, then the good answer: {:?}",
        fake.requests()
    );
    assert_eq!(berth.inspect(&fake.reference())["Id"], image.id());
    berth.assert_layers_exactly(&image.chain_ids());
}

#[test]
fn truncated_layer_fails_clearly() {
    if !support::require_root("truncated_layer_fails_clearly") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::TruncatedLayer);
    let berth = Berth::with_config(FEW_ATTEMPTS);
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference(), &image.layers[0].blob.digest]);
    assert!(fake.layer_bytes_sent() > 0, "the fake sent part of the layer");
    assert_recovers(&berth, &image);
}

#[test]
fn wrong_digest_names_layer_expected_and_actual() {
    if !support::require_root("wrong_digest_names_layer_expected_and_actual") {
        return;
    }
    let image = image();
    let layer = &image.layers[0].blob;
    let actual = oci::digest_of(&fake::corrupted(&layer.bytes));
    let fake = FakeRegistry::start(&image, Fault::WrongDigest);
    let berth = Berth::with_config(FEW_ATTEMPTS);
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference(), &layer.digest, oci::hex_of(&actual)]);
    assert_recovers(&berth, &image);
}

#[test]
fn manifest_with_wrong_content_type_but_media_type_in_json_pulls() {
    if !support::require_root("manifest_with_wrong_content_type_but_media_type_in_json_pulls") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::ManifestContentType { media_type_in_json: true });
    let berth = Berth::new();
    let run = berth.run(&["pull", &fake.reference()]).success();
    assert!(run.stdout.contains(&format!("Digest: {}", fake.manifest_digest())), "{run}");
    assert_eq!(berth.inspect(&fake.reference())["Id"], image.id());
    berth.assert_layers_exactly(&image.chain_ids());
}

#[test]
fn manifest_with_wrong_content_type_and_no_media_type_fails_clearly() {
    if !support::require_root("manifest_with_wrong_content_type_and_no_media_type_fails_clearly") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::ManifestContentType { media_type_in_json: false });
    let berth = Berth::new();
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference(), "application/octet-stream"]);
    assert_recovers(&berth, &image);
}

#[test]
fn oversized_manifest_is_refused() {
    if !support::require_root("oversized_manifest_is_refused") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::OversizedManifest);
    let berth = Berth::new();
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference(), "manifest"]).mentions_any(&[
        "too large",
        "too big",
        "exceeds",
        "limit",
        "size",
    ]);
    assert_eq!(fake.blob_gets(&image.layers[0].blob.digest), 0, "no layer fetched for a refused manifest");
    assert_recovers(&berth, &image);
}

#[test]
fn stalled_layer_times_out() {
    if !support::require_root("stalled_layer_times_out") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start(&image, Fault::StalledLayer);
    let berth = Berth::with_config(
        "registry_max_attempts = 2\nregistry_read_timeout_secs = 1\nregistry_connect_timeout_secs = 5\n",
    );
    let started = Instant::now();
    berth
        .run(&["pull", &fake.reference()])
        .failure(&[&fake.reference(), &image.layers[0].blob.digest])
        .mentions_any(&["timed out", "timeout", "time out"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "two 1 s read timeouts should not take {took:?}");
    assert!(fake.blob_gets(&image.layers[0].blob.digest) >= 1);
    assert_recovers(&berth, &image);
}

#[test]
fn blob_redirect_to_other_host_drops_authorization() {
    if !support::require_root("blob_redirect_to_other_host_drops_authorization") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start_with_bearer(&image, Fault::RedirectBlobs, "alice", "s3cret");
    let berth = Berth::new();
    berth.write_docker_auth(&fake.host(), "alice", "s3cret");
    berth.run(&["pull", &fake.reference()]).success();
    let redirected = fake.redirected_authorization();
    assert!(redirected.len() >= image.layers.len(), "blobs came through the redirect target: {redirected:?}");
    assert!(redirected.iter().all(Option::is_none), "Authorization leaked across hosts: {redirected:?}");
    assert_eq!(berth.inspect(&fake.reference())["Id"], image.id());
}

#[test]
fn bearer_token_auth_uses_docker_config_credentials() {
    if !support::require_root("bearer_token_auth_uses_docker_config_credentials") {
        return;
    }
    let image = image();
    let fake = FakeRegistry::start_with_bearer(&image, Fault::None, "alice", "s3cret");
    let berth = Berth::new();
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference()]).mentions_any(AUTH_WORDS);
    berth.assert_failed_pull_left_nothing();

    berth.write_docker_auth(&fake.host(), "alice", "wrong");
    berth.run(&["pull", &fake.reference()]).failure(&[&fake.reference()]).mentions_any(AUTH_WORDS);

    berth.write_docker_auth(&fake.host(), "alice", "s3cret");
    berth.run(&["pull", &fake.reference()]).success();
    let requests = fake.token_requests();
    let granted =
        requests.iter().find(|r| r.basic_user.as_deref() == Some("alice")).expect("a token request with credentials");
    assert_eq!(granted.service.as_deref(), Some("berth-fake"), "{requests:?}");
    assert_eq!(granted.scope.as_deref(), Some(format!("repository:{}:pull", fake::REPO).as_str()), "{requests:?}");
    assert_eq!(berth.inspect(&fake.reference())["Id"], image.id());
    berth.assert_layers_exactly(&image.chain_ids());
}

/// The fixture itself: skopeo, a real client, copies the image out of the fake through Bearer auth and
/// the cross-host redirect, byte for byte.
#[test]
fn fake_registry_speaks_the_distribution_protocol() {
    let image = image();
    for fault in [Fault::None, Fault::RedirectBlobs] {
        let fake = FakeRegistry::start_with_bearer(&image, fault.clone(), "alice", "s3cret");
        let out_dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false", "--src-creds", "alice:s3cret"])
            .arg(format!("docker://{}", fake.reference()))
            .arg(format!("oci:{}:copied", out_dir.path().display()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy from the fake ({fault:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for blob in image.blobs() {
            let copied = std::fs::read(out_dir.path().join("blobs/sha256").join(oci::hex_of(&blob.digest)));
            assert_eq!(copied.ok().as_deref(), Some(blob.bytes.as_slice()), "blob {} copied intact", blob.digest);
        }
        assert!(fake.token_requests().iter().any(|r| r.basic_user.as_deref() == Some("alice")));
        if matches!(fault, Fault::RedirectBlobs) {
            assert!(!fake.redirected_authorization().is_empty(), "skopeo followed the redirect");
        }
    }
}
