//! `berth pull` and the image commands against a real registry (Debian's docker-registry) filled by
//! skopeo from images the tests build.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use support::berth::{AUTH_WORDS, Berth, Run, short_id, table};
use support::oci;
use support::registry::{PushFormat, Registry};

/// The fixtures themselves: every image kind pushes, and the registry serves what was built.
#[test]
fn fixtures_push_and_serve_what_was_built() {
    let registry = Registry::start_with_auth("alice", "s3cret");
    let busybox = oci::busybox_image();
    registry.push_image(&busybox, "library/busybox:latest", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("library/busybox:latest"), busybox.manifest.bytes);

    let multi = oci::multilayer_image();
    registry.push_image(&multi, "test/multi:v1", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("test/multi:v1"), multi.manifest.bytes);

    let index = oci::multiplatform_index();
    registry.push_index(&index, "test/multi-arch:latest");
    assert_eq!(registry.raw_manifest("test/multi-arch:latest"), index.manifest.bytes);
    let arm = &index.images[1];
    assert_eq!(registry.raw_manifest(&format!("test/multi-arch@{}", arm.digest())), arm.manifest.bytes);

    let zstd = oci::zstd_image();
    registry.push_image(&zstd, "test/zstd:latest", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("test/zstd:latest"), zstd.manifest.bytes);

    registry.push_image(&busybox, "library/busybox:v2s2", PushFormat::DockerV2S2);
    let v2s2: serde_json::Value = serde_json::from_slice(&registry.raw_manifest("library/busybox:v2s2")).unwrap();
    assert_eq!(v2s2["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(v2s2["config"]["digest"], busybox.id());
    assert_eq!(support::registry::http_status(registry.port(), "/v2/"), Some(401));
}

/// Pull output when stdout is not a terminal: progress lines, `Digest:`, `Status:`, the reference.
fn assert_pull_output(run: &Run, reference: &str, digest: &str, fresh: bool) {
    let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.contains(&format!("Digest: {digest}").as_str()), "pull output lacks `Digest: {digest}`:\n{run}");
    let status = if fresh {
        format!("Status: Downloaded newer image for {reference}")
    } else {
        format!("Status: Image is up to date for {reference}")
    };
    assert!(lines.contains(&status.as_str()), "pull output lacks `{status}`:\n{run}");
    assert_eq!(lines.last().copied(), Some(reference), "pull output ends with the full reference:\n{run}");
}

fn blob_path(berth: &Berth, digest: &str) -> PathBuf {
    berth.blobs_dir().join(oci::hex_of(digest))
}

fn blob_files(berth: &Berth) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(berth.blobs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn busybox_pull_and_listing() {
    if !support::require_root("busybox_pull_and_listing") {
        return;
    }
    let registry = Registry::start();
    let busybox = oci::busybox_image();
    let reference = registry.push_image(&busybox, "library/busybox:latest", PushFormat::Oci);
    let berth = Berth::new();

    let run = berth.run(&["pull", &reference]).success();
    assert_pull_output(&run, &reference, busybox.digest(), true);

    let chain = busybox.chain_ids();
    berth.assert_layers_exactly(&chain);
    berth.assert_no_wh_files();
    let layer = berth.layer_view(&chain[0]);
    assert_eq!(std::fs::read(layer.join("bin/busybox")).unwrap(), std::fs::read("/bin/busybox").unwrap());
    assert_eq!(std::fs::read_link(layer.join("bin/sh")).unwrap(), PathBuf::from("busybox"));
    assert_eq!(std::fs::metadata(layer.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
    assert_eq!(std::fs::read(blob_path(&berth, busybox.digest())).unwrap(), busybox.manifest.bytes);
    assert_eq!(std::fs::read(blob_path(&berth, busybox.id())).unwrap(), busybox.config.bytes);

    let repo = registry.repo("library/busybox");
    let rows = table(&berth.run(&["images"]).success().stdout);
    assert_eq!(rows[0], ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert_eq!(rows.len(), 2, "one image listed: {rows:?}");
    assert_eq!(rows[1][..3], [repo.clone(), "latest".to_owned(), short_id(busybox.id())]);

    assert_eq!(berth.image_ids(), [short_id(busybox.id())]);

    let rows = table(&berth.run(&["images", "--digests"]).success().stdout);
    assert_eq!(rows[0][..4], ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID"]);
    assert_eq!(rows[1][..4], [repo.clone(), "latest".to_owned(), busybox.digest().to_owned(), short_id(busybox.id())]);

    let json = berth.run(&["images", "--format", "json"]).success();
    let objects: Vec<serde_json::Value> =
        json.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(objects.len(), 1, "{json}");
    let object = &objects[0];
    assert_eq!(object["Repository"], repo.as_str());
    assert_eq!(object["Tag"], "latest");
    assert_eq!(object["Digest"], busybox.digest());
    let id = object["ID"].as_str().expect("ID string").trim_start_matches("sha256:");
    assert!(id.len() >= 12 && oci::hex_of(busybox.id()).starts_with(id), "ID {id} is the config digest");
    assert!(object["CreatedAt"].as_str().is_some_and(|s| s.contains("2024-01-02")), "CreatedAt: {object}");
    assert!(!object["Size"].is_null(), "Size: {object}");

    let inspect = berth.inspect(&reference);
    assert_eq!(inspect["Id"], busybox.id());
    assert_eq!(inspect["RepoTags"], serde_json::json!([reference]));
    assert_eq!(inspect["RepoDigests"], serde_json::json!([format!("{repo}@{}", busybox.digest())]));
    assert_eq!(inspect["Created"].as_str().map(|c| c.starts_with("2024-01-02T03:04:05")), Some(true), "{inspect}");
    assert_eq!(inspect["Architecture"], oci::Platform::host().architecture.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert!(inspect["Size"].as_u64().is_some_and(|s| s > 1_000_000), "Size counts busybox: {inspect}");
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(inspect["RootFS"]["Type"], "layers");
    assert_eq!(inspect["RootFS"]["Layers"], serde_json::json!([busybox.layers[0].diff_id]));
    assert_eq!(inspect["GraphDriver"]["Name"], "overlay");
    assert_eq!(inspect["GraphDriver"]["Data"]["LowerDir"], berth.layer_path(&chain[0]).display().to_string());

    let run = berth.run(&["pull", &reference]).success();
    assert_pull_output(&run, &reference, busybox.digest(), false);

    let rows = table(&berth.run(&["system", "df"]).success().stdout);
    let images = rows.iter().find(|r| r[0] == "Images").unwrap_or_else(|| panic!("system df lists Images: {rows:?}"));
    assert_eq!(images[1], "1", "one image in system df: {rows:?}");
}

#[test]
fn quiet_pull_prints_only_the_reference() {
    if !support::require_root("quiet_pull_prints_only_the_reference") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let berth = Berth::new();
    let run = berth.run(&["pull", "-q", &reference]).success();
    assert_eq!(run.stdout.trim(), reference, "{run}");
}

#[test]
fn tag_rmi_and_prune() {
    if !support::require_root("tag_rmi_and_prune") {
        return;
    }
    let registry = Registry::start();
    let one = oci::busybox_with("one");
    let two = oci::busybox_with("two");
    let one_ref = registry.push_image(&one, "test/one:latest", PushFormat::Oci);
    let two_ref = registry.push_image(&two, "test/two:latest", PushFormat::Oci);
    let berth = Berth::new();
    berth.run(&["pull", &one_ref]).success();
    berth.run(&["pull", &two_ref]).success();

    berth.run(&["tag", &one_ref, "mybox:v1"]).success();
    let rows = table(&berth.run(&["images"]).success().stdout);
    assert!(rows.iter().any(|r| r[..3] == ["mybox", "v1", &short_id(one.id())]), "tagged image listed: {rows:?}");
    assert_eq!(berth.inspect("mybox:v1")["Id"], one.id());

    let one_id = short_id(one.id());
    berth.run(&["rmi", &one_id]).failure(&[&one_id, "force"]);
    let run = berth.run(&["rmi", "mybox:v1"]).success();
    assert!(run.stdout.contains("Untagged: mybox:v1"), "{run}");
    assert_eq!(berth.image_ids().len(), 2, "untagging one of two tags keeps the image");

    berth.run(&["tag", &one_ref, "mybox:v2"]).success();
    let run = berth.run(&["rmi", "-f", &one_id]).success();
    assert!(run.stdout.contains(&format!("Deleted: {}", one.id())), "{run}");
    assert_eq!(berth.image_ids(), [short_id(two.id())]);
    berth.run(&["image", "inspect", "mybox:v2"]).failure(&["mybox:v2"]);

    berth.run(&["image", "prune", "-f"]).success();
    berth.assert_layers_exactly(&two.chain_ids());
    assert!(
        !blob_path(&berth, one.digest()).exists() && !blob_path(&berth, one.id()).exists(),
        "blobs of the removed image pruned"
    );
    assert!(
        blob_path(&berth, two.digest()).exists() && blob_path(&berth, two.id()).exists(),
        "blobs of the kept image stay"
    );

    berth.run(&["image", "prune", "-a", "-f"]).success();
    assert_eq!(berth.image_ids(), Vec::<String>::new());
    berth.assert_layers_exactly(&[]);
    assert_eq!(blob_files(&berth), Vec::<String>::new(), "prune -a leaves no blob");
}

#[test]
fn shared_base_layer_is_stored_once() {
    if !support::require_root("shared_base_layer_is_stored_once") {
        return;
    }
    let registry = Registry::start();
    let one = oci::busybox_with("one");
    let two = oci::busybox_with("two");
    assert_eq!(one.chain_ids()[0], two.chain_ids()[0], "fixture: same base layer");
    let one_ref = registry.push_image(&one, "test/one:latest", PushFormat::Oci);
    let two_ref = registry.push_image(&two, "test/two:latest", PushFormat::Oci);
    let berth = Berth::new();
    berth.run(&["pull", &one_ref]).success();
    berth.run(&["pull", &two_ref]).success();
    let mut all = one.chain_ids();
    all.extend(two.chain_ids());
    berth.assert_layers_exactly(&all);
    assert_eq!(berth.layer_entries().len(), 3);
    // The base's stored form, a directory or an image, whichever this kernel's store chose.
    let base = berth.layer_path(&one.chain_ids()[0]).display().to_string();
    for reference in [&one_ref, &two_ref] {
        let lower = berth.inspect(reference)["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap_or_default().to_owned();
        assert!(lower.ends_with(&format!(":{base}")), "{reference} stacks on the shared base: {lower}");
    }
}

#[test]
fn pull_by_digest_and_by_tag_at_digest() {
    if !support::require_root("pull_by_digest_and_by_tag_at_digest") {
        return;
    }
    let registry = Registry::start();
    let busybox = oci::busybox_image();
    registry.push_image(&busybox, "library/busybox:latest", PushFormat::Oci);
    let repo = registry.repo("library/busybox");
    let by_digest = format!("{repo}@{}", busybox.digest());

    let berth = Berth::new();
    let run = berth.run(&["pull", &by_digest]).success();
    assert_pull_output(&run, &by_digest, busybox.digest(), true);
    let inspect = berth.inspect(&by_digest);
    assert_eq!(inspect["Id"], busybox.id());
    assert_eq!(inspect["RepoDigests"], serde_json::json!([by_digest]));
    let rows = table(&berth.run(&["images", "--digests"]).success().stdout);
    assert_eq!(rows[1][..4], [repo.clone(), "<none>".to_owned(), busybox.digest().to_owned(), short_id(busybox.id())]);

    let other = Berth::new();
    let tag_at_digest = format!("{repo}:latest@{}", busybox.digest());
    let run = other.run(&["pull", &tag_at_digest]).success();
    assert!(run.stdout.contains(&format!("Digest: {}", busybox.digest())), "{run}");
    assert_eq!(other.inspect(&by_digest)["Id"], busybox.id());

    let wrong = format!("{repo}@sha256:{}", "0".repeat(64));
    other.run(&["pull", &wrong]).failure(&[&"0".repeat(64)]);
}

#[test]
fn docker_v2s2_manifest_pulls() {
    if !support::require_root("docker_v2s2_manifest_pulls") {
        return;
    }
    let registry = Registry::start();
    let busybox = oci::busybox_image();
    let reference = registry.push_image(&busybox, "library/busybox:v2s2", PushFormat::DockerV2S2);
    let manifest = registry.raw_manifest("library/busybox:v2s2");
    let digest = oci::digest_of(&manifest);
    assert_ne!(digest, busybox.digest(), "fixture: skopeo converted the manifest");

    let berth = Berth::new();
    let run = berth.run(&["pull", &reference]).success();
    assert_pull_output(&run, &reference, &digest, true);
    let inspect = berth.inspect(&reference);
    assert_eq!(inspect["Id"], busybox.id());
    assert_eq!(inspect["RepoDigests"], serde_json::json!([format!("{}@{digest}", registry.repo("library/busybox"))]));
    assert_eq!(inspect["RootFS"]["Layers"], serde_json::json!([busybox.layers[0].diff_id]));
    berth.assert_layers_exactly(&busybox.chain_ids());
}

#[test]
fn index_picks_host_or_requested_platform() {
    if !support::require_root("index_picks_host_or_requested_platform") {
        return;
    }
    let registry = Registry::start();
    let index = oci::multiplatform_index();
    let reference = registry.push_index(&index, "test/multi-arch:latest");
    let repo_digest = format!("{}@{}", registry.repo("test/multi-arch"), index.digest());
    let (amd64, arm64) = (&index.images[0], &index.images[1]);

    let host = Berth::new();
    let run = host.run(&["pull", &reference]).success();
    assert_pull_output(&run, &reference, index.digest(), true);
    let inspect = host.inspect(&reference);
    assert_eq!(inspect["Id"], amd64.id(), "default platform is the host's (linux/amd64)");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["RepoDigests"], serde_json::json!([repo_digest]));
    host.assert_layers_exactly(&amd64.chain_ids());

    let arm = Berth::new();
    arm.run(&["pull", "--platform", "linux/arm64", &reference]).success();
    let inspect = arm.inspect(&reference);
    assert_eq!(inspect["Id"], arm64.id());
    assert_eq!(inspect["Architecture"], "arm64");
    assert_eq!(inspect["Variant"], "v8");
    arm.assert_layers_exactly(&arm64.chain_ids());
    let arch_file = arm.layer_view(&arm64.chain_ids()[0]).join("etc/arch");
    assert_eq!(std::fs::read(arch_file).unwrap(), b"arm64\n");

    let none = Berth::new();
    none.run(&["pull", "--platform", "linux/s390x", &reference]).failure(&["linux/s390x"]);
    none.assert_failed_pull_left_nothing();
}

#[test]
fn zstd_layer_unpacks() {
    if !support::require_root("zstd_layer_unpacks") {
        return;
    }
    let registry = Registry::start();
    let image = oci::zstd_image();
    let reference = registry.push_image(&image, "test/zstd:latest", PushFormat::Oci);
    let berth = Berth::new();
    berth.run(&["pull", &reference]).success();
    berth.assert_layers_exactly(&image.chain_ids());
    let data = berth.layer_view(&image.chain_ids()[1]).join("zstd/data");
    assert_eq!(std::fs::read(data).unwrap(), oci::pattern(64 * 1024));
}

#[test]
fn htpasswd_registry_needs_login() {
    if !support::require_root("htpasswd_registry_needs_login") {
        return;
    }
    let registry = Registry::start_with_auth("alice", "s3cret");
    let busybox = oci::busybox_image();
    let reference = registry.push_image(&busybox, "library/busybox:latest", PushFormat::Oci);
    let berth = Berth::new();
    let host = registry.host();

    berth.run(&["pull", &reference]).failure(&[&reference]).mentions_any(AUTH_WORDS);
    berth.assert_failed_pull_left_nothing();

    berth.run(&["login", "-u", "alice", "-p", "wrong", &host]).failure(&[&host]);
    berth.run_with_stdin(&["login", "-u", "alice", "--password-stdin", &host], "s3cret\n").success();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(berth.docker_config_dir().join("config.json")).expect("login writes DOCKER_CONFIG/config.json"),
    )
    .expect("config.json is JSON");
    assert!(config["auths"][&host].is_object(), "credentials stored for {host}: {config}");

    berth.run(&["pull", &reference]).success();
    assert_eq!(berth.image_ids(), [short_id(busybox.id())]);

    berth.run(&["logout", &host]).success();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(berth.docker_config_dir().join("config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(&host).is_none(), "logout removes {host}: {config}");
    berth.run(&["rmi", &reference]).success();
    berth.run(&["pull", &reference]).failure(&[&reference]).mentions_any(AUTH_WORDS);

    berth.run(&["login", "-u", "alice", "-p", "s3cret", &host]).success();
    berth.run(&["pull", &reference]).success();
}

#[test]
fn bad_reference_and_missing_tag_fail_clearly() {
    if !support::require_root("bad_reference_and_missing_tag_fail_clearly") {
        return;
    }
    let registry = Registry::start();
    registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let berth = Berth::new();

    let bad = format!("{}/Upper/Case:tag", registry.host());
    berth.run(&["pull", &bad]).failure(&[&bad]);
    berth.run(&["pull", "busybox:bad tag"]).failure(&["busybox:bad tag"]);

    let missing = format!("{}:nosuchtag", registry.repo("library/busybox"));
    berth.run(&["pull", &missing]).failure(&["nosuchtag"]);
    let missing_repo = registry.repo("library/nosuchrepo");
    berth.run(&["pull", &missing_repo]).failure(&["nosuchrepo"]);
    berth.assert_failed_pull_left_nothing();
}
