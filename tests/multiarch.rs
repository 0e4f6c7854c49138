//! Multi-platform images: `pull --platform` keeping each platform's image, `run`/`create --platform`
//! picking among them, and `berth manifest` lists of per-platform images pushed to Debian's
//! docker-registry and read back with skopeo. Needs root (skips loudly otherwise; CI=true forbids skipping).
//!
//! The "foreign" image is the host's busybox under another platform's name, so it runs here: what a test
//! checks is which image was picked (each carries `/platform` naming its platform), not emulation.

mod rt;
mod support;

use rt::{Env, require_root};
use serde_json::Value;
use support::oci::{Compression, Image, Index, LayerBuilder, Meta, Platform, busybox_layer};

/// The other platform of these tests: arm64 on an amd64 host, amd64 elsewhere.
fn foreign() -> Platform {
    match Platform::host().architecture.as_str() {
        "amd64" => Platform::new("linux", "arm64", Some("v8")),
        _ => Platform::new("linux", "amd64", None),
    }
}

fn spelled(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// busybox for `platform`, with `/platform` naming it.
fn image_for(platform: Platform) -> Image {
    let mut marker = LayerBuilder::new();
    marker.file("platform", spelled(&platform).as_bytes(), Meta::mode(0o644));
    let label = format!("busybox-{}", platform.architecture);
    Image::new(platform, vec![busybox_layer(), marker.build(Compression::Gzip)], &["sh"], &label)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn image_id(env: &Env, name: &str) -> String {
    env.inspect(name)["Id"].as_str().unwrap_or_default().to_string()
}

/// Pulls both platforms of a two-platform index into the Env and tags each under REG/bm/app:ARCH.
/// Returns (host image id, foreign image id, index reference).
fn pull_both(env: &Env) -> (String, String, String) {
    let (host, other) = (image_for(Platform::host()), image_for(foreign()));
    let (host_id, other_id) = (host.id().to_string(), other.id().to_string());
    let reference = env.registry().push_index(&Index::with_attestation(vec![host, other]), "bm/multi:latest");
    env.ok(&["pull", "-q", "--platform", &spelled(&foreign()), &reference]);
    assert_eq!(image_id(env, &reference), other_id, "the tag points at what was pulled last");
    env.ok(&["pull", "-q", &reference]);
    assert_eq!(image_id(env, &reference), host_id);
    (host_id, other_id, reference)
}

#[test]
fn bm_run_and_create_pick_the_local_image_of_the_platform() {
    if !require_root("bm_run_and_create_pick_the_local_image_of_the_platform") {
        return;
    }
    let env = Env::new();
    let (host_id, other_id, reference) = pull_both(&env);
    let run = |platform: &Platform| {
        let p = spelled(platform);
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            "never",
            "--platform",
            &p,
            &reference,
            "cat",
            "/platform",
        ])
    };
    assert_eq!(run(&foreign()), spelled(&foreign()), "the foreign image, found without a pull");
    assert_eq!(run(&Platform::host()), spelled(&Platform::host()));

    let created = env.ok(&[
        "create",
        "--network",
        "none",
        "--pull",
        "never",
        "--platform",
        &spelled(&foreign()),
        "--name",
        "bm-c",
        &reference,
    ]);
    assert!(!created.trim().is_empty());
    let inspected = env.inspect("bm-c");
    assert_eq!(inspected["Image"], other_id.as_str(), "{inspected}");
    assert_eq!(inspected["Config"]["Image"], reference.as_str(), "the name stays as given");
    env.ok(&["rm", "bm-c"]);

    // A platform never pulled: --pull never refuses naming both platforms; the default policy pulls it
    // and refuses what the index does not offer.
    let (_, err) = env.fails(&["run", "--rm", "--pull", "never", "--platform", "linux/s390x", &reference, "true"]);
    assert!(
        err.contains("does not match the specified platform: wanted linux/s390x")
            && err.contains(&format!("actual: {}", spelled(&Platform::host()))),
        "{err}"
    );
    let (_, err) = env.fails(&["run", "--rm", "--network", "none", "--platform", "linux/s390x", &reference, "true"]);
    assert!(err.contains("no image for platform linux/s390x"), "{err}");
    let (_, err) = env.fails(&["run", "--rm", "--platform", "linux", &reference, "true"]);
    assert!(err.contains("--platform") && err.contains("linux"), "{err}");
    // Nothing was lost: both images are still there.
    assert_eq!(image_id(&env, &reference), host_id);
    assert_eq!(image_id(&env, &other_id), other_id);
}

#[test]
fn bm_loaded_imported_and_built_images_under_short_names_are_found_by_platform() {
    if !require_root("bm_loaded_imported_and_built_images_under_short_names_are_found_by_platform") {
        return;
    }
    let env = Env::new();
    let (host_id, other_id, reference) = pull_both(&env);
    let dir = tempfile::tempdir().unwrap();
    let archive = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let image_of = |env: &Env, platform: &Platform, name: &str| {
        let args = ["create", "--network", "none", "--pull", "never", "--platform", &spelled(platform), name, "true"];
        let id = env.ok(&args);
        let image = env.inspect(id.trim())["Image"].as_str().unwrap_or_default().to_string();
        env.ok(&["rm", id.trim()]);
        image
    };
    // Each platform's image saved under one short name, both loaded into another store: the tag names the
    // last, `--platform` finds the first again.
    for (id, file) in [(&host_id, "host.tar"), (&other_id, "other.tar")] {
        env.ok(&["tag", id, "bm-short:v1"]);
        env.ok(&["save", "-o", &archive(file), "bm-short:v1"]);
    }
    let fresh = Env::new();
    fresh.ok(&["load", "-q", "-i", &archive("host.tar")]);
    fresh.ok(&["load", "-q", "-i", &archive("other.tar")]);
    assert_eq!(image_id(&fresh, "bm-short:v1"), other_id);
    assert_eq!(image_of(&fresh, &Platform::host(), "bm-short:v1"), host_id);

    // An import under a short name is the host's image of that name.
    let flat = archive("flat.tar");
    env.ok(&["export", "-o", &flat, env.ok(&["create", "--network", "none", &reference]).trim()]);
    let imported = fresh.ok(&["import", &flat, "bm-short:v1"]);
    fresh.ok(&["tag", &other_id, "bm-short:v1"]);
    assert_eq!(image_of(&fresh, &Platform::host(), "bm-short:v1"), imported.trim());

    // A build for two platforms under a short name: each found by its platform.
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {reference}\nLABEL built=yes\n")).unwrap();
    let both = format!("{},{}", spelled(&foreign()), spelled(&Platform::host()));
    env.ok(&["build", "-q", "--platform", &both, "-t", "bm-built:v1", context.path().to_str().unwrap()]);
    let foreign_built = image_of(&env, &foreign(), "bm-built:v1");
    assert_eq!(env.inspect(&foreign_built)["Architecture"], foreign().architecture.as_str());
    assert_ne!(foreign_built, image_id(&env, "bm-built:v1"), "the tag names the host's image");
}

#[test]
fn bm_manifest_list_of_per_platform_images_pushed_and_read_back() {
    if !require_root("bm_manifest_list_of_per_platform_images_pushed_and_read_back") {
        return;
    }
    let env = Env::new();
    let registry = env.registry();
    let (host_id, other_id, _) = pull_both(&env);
    let (host_tag, other_tag) = (registry.repo("bm/app:host"), registry.repo("bm/app:other"));
    env.ok(&["tag", &host_id, &host_tag]);
    env.ok(&["tag", &other_id, &other_tag]);
    // A committed image has no manifest yet: the list makes one as a push would.
    env.ok(&["run", "--name", "bm-commit", "--network", "none", "busybox", "sh", "-c", "echo made > /made"]);
    let local_tag = registry.repo("bm/local:v1");
    let local_id = env.ok(&["commit", "bm-commit", &local_tag]).trim().to_string();

    let list = registry.repo("bm/list:v1");
    let out = env.ok(&["manifest", "create", &list, &host_tag, &other_tag]);
    assert_eq!(out.trim(), format!("Created manifest list {list}"));
    let (_, err) = env.fails(&["manifest", "create", &list, &host_tag]);
    assert!(err.contains("refusing to amend an existing manifest list with no --amend flag"), "{err}");

    env.ok(&["manifest", "annotate", "--os-features", "bm1", &list, &other_tag]);
    let (_, err) = env.fails(&["manifest", "annotate", "--arch", "bogus", &list, &other_tag]);
    assert!(err.contains("unsupported os/arch combination: linux/bogus"), "{err}");
    let (_, err) = env.fails(&["manifest", "annotate", &list, &local_tag]);
    assert!(err.contains(&format!("manifest for image {local_tag} does not exist in {list}")), "{err}");

    let local = json(&env.ok(&["manifest", "inspect", &list]));
    let entries = local["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{local}");
    assert_eq!(entries[1]["platform"]["architecture"], foreign().architecture.as_str());
    assert_eq!(entries[1]["platform"]["os.features"], serde_json::json!(["bm1"]));
    let verbose = json(&env.ok(&["manifest", "inspect", "--verbose", &list]));
    assert_eq!(verbose[0]["Ref"], host_tag.as_str(), "{verbose}");
    assert_eq!(verbose[0]["OCIManifest"]["config"]["digest"], host_id.as_str(), "{verbose}");

    let out = env.ok(&["manifest", "push", &list]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "two children by digest, then the index's digest: {out}");
    assert!(lines[..2].iter().all(|l| l.starts_with(&format!("Pushed ref {}@sha256:", registry.repo("bm/list")))));
    let digest = lines[2].trim();

    // skopeo sees the index, and each child resolves by digest to its image.
    let raw = registry.raw_manifest("bm/list:v1");
    assert_eq!(support::oci::digest_of(&raw), digest);
    let index: Value = serde_json::from_slice(&raw).expect("index JSON");
    let children = index["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 2, "{index}");
    for (child, id) in children.iter().zip([&host_id, &other_id]) {
        let child_digest = child["digest"].as_str().unwrap_or_default();
        let manifest: Value =
            serde_json::from_slice(&registry.raw_manifest(&format!("bm/list@{child_digest}"))).expect("manifest");
        assert_eq!(manifest["config"]["digest"], id.as_str(), "{manifest}");
    }
    // The registry's copy, inspected once the local list is gone, is the same index.
    env.ok(&["manifest", "rm", &list]);
    let remote = json(&env.ok(&["manifest", "inspect", &list]));
    assert_eq!(remote, index);
    let (_, err) = env.fails(&["manifest", "rm", &list]);
    assert!(err.contains(&format!("No such manifest: {list}")), "{err}");

    // A list naming a committed image pushes that image's blobs and manifest by digest first.
    let list2 = registry.repo("bm/list2:v1");
    env.ok(&["manifest", "create", &list2, &local_tag, &other_tag]);
    let out = env.ok(&["manifest", "push", "--purge", &list2]);
    let digest = out.lines().last().unwrap_or_default().trim().to_string();
    let raw = registry.raw_manifest("bm/list2:v1");
    assert_eq!(support::oci::digest_of(&raw), digest);
    let index: Value = serde_json::from_slice(&raw).expect("index JSON");
    let first = index["manifests"][0]["digest"].as_str().unwrap_or_default().to_string();
    let manifest: Value = serde_json::from_slice(&registry.raw_manifest(&format!("bm/list2@{first}"))).expect("JSON");
    assert_eq!(manifest["config"]["digest"], local_id.as_str(), "{manifest}");
    let (_, err) = env.fails(&["manifest", "push", &list2]);
    assert!(err.contains(&format!("No such manifest: {list2}")), "--purge removed the list: {err}");
    // And berth runs the pushed index's foreign image by platform after pulling it back.
    let pulled = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        &spelled(&foreign()),
        "--pull",
        "always",
        &registry.repo("bm/list:v1"),
        "cat",
        "/platform",
    ]);
    assert_eq!(pulled, spelled(&foreign()));
}

/// Whether this machine's binfmt_misc already runs `qemu`'s binaries with the fix-binary flag.
fn emulated(qemu: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/sys/fs/binfmt_misc") else { return false };
    dir.flatten().any(|e| {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        text.starts_with("enabled")
            && text.contains(&format!("qemu-{qemu}"))
            && text.lines().any(|l| l.starts_with("flags:") && l.contains('F'))
    })
}

#[test]
fn bm_build_for_several_platforms_tags_the_host_image_and_leaves_an_index() {
    if !require_root("bm_build_for_several_platforms_tags_the_host_image_and_leaves_an_index") {
        return;
    }
    let env = Env::new();
    let registry = env.registry();
    let (_, _, base) = pull_both(&env);
    let context = tempfile::tempdir().expect("context dir");
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {base}\nARG TARGETPLATFORM\nARG TARGETARCH\nARG BUILDPLATFORM\n\
             LABEL target=$TARGETPLATFORM arch=$TARGETARCH build=$BUILDPLATFORM\n"
        ),
    )
    .expect("write Dockerfile");
    let tag = registry.repo("bm/built:v1");
    let (host, other) = (Platform::host(), foreign());
    let both = format!("{},{}", spelled(&other), spelled(&host));
    let ctx = context.path().to_str().unwrap_or_default();
    env.ok(&["build", "-q", "--platform", &both, "-t", &tag, ctx]);

    let labels = |name: &str| env.inspect(name)["Config"]["Labels"].clone();
    let host_spelling = format!("linux/{}", host.architecture);
    let built = labels(&tag);
    assert_eq!(built["target"], host_spelling.as_str(), "the tag names the host's image: {built}");
    assert_eq!(built["build"], host_spelling.as_str());
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "never",
        "--platform",
        &spelled(&other),
        &tag,
        "cat",
        "/platform",
    ]);
    assert_eq!(out, spelled(&other), "the foreign image is built from the base's foreign image");
    let other_id = env.ok(&["create", "--network", "none", "--pull", "never", "--platform", &spelled(&other), &tag]);
    let foreign_image = env.inspect(other_id.trim())["Image"].as_str().unwrap_or_default().to_string();
    env.ok(&["rm", other_id.trim()]);
    let foreign_labels = labels(&foreign_image);
    assert_eq!(foreign_labels["target"], format!("linux/{}", other.architecture).as_str(), "{foreign_labels}");
    assert_eq!(foreign_labels["arch"], other.architecture.as_str());
    assert_eq!(foreign_labels["build"], host_spelling.as_str());
    assert_eq!(env.inspect(&foreign_image)["Architecture"], other.architecture.as_str());

    // The tag also names a local list over both images, pushed as an index.
    let local = json(&env.ok(&["manifest", "inspect", &tag]));
    let archs: Vec<&str> = local["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(archs, [other.architecture.as_str(), host.architecture.as_str()], "{local}");
    let out = env.ok(&["manifest", "push", &tag]);
    let digest = out.lines().last().unwrap_or_default().trim().to_string();
    let raw = registry.raw_manifest("bm/built:v1");
    assert_eq!(support::oci::digest_of(&raw), digest);

    // A RUN step for the foreign platform needs QEMU: without a handler the build says so.
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {base}\nRUN true\n")).expect("write Dockerfile");
    let qemu = if other.architecture == "arm64" { "aarch64" } else { "x86_64" };
    let args = ["build", "--progress", "plain", "--platform", &spelled(&other), ctx];
    if emulated(qemu) {
        env.ok(&args);
    } else {
        let (_, err) = env.fails(&args);
        assert!(
            err.contains(&format!("a RUN step for {} needs QEMU user emulation", spelled(&other)))
                && err.contains("berth system binfmt install"),
            "{err}"
        );
    }
}

/// Where scripts/deps.sh unpacks qemu-user-static and the arm64 busybox-static (never installed).
fn qemu_cache() -> std::path::PathBuf {
    std::env::var_os("BERTH_QEMU_CACHE").map_or_else(|| "/var/cache/berth-test/qemu".into(), Into::into)
}

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// Runs `script` in a mount namespace of its own where binfmt_misc is mounted, so the host's mounts stay
/// as they are; `"$@"` are `args`.
fn with_binfmt(script: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let wrapped = format!("(mountpoint -q {BINFMT} || mount -t binfmt_misc binfmt_misc {BINFMT}) && {script}");
    std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &wrapped, "sh"])
        .args(args)
        .output()
        .expect("run unshare")
}

/// The registration line of a fix-binary handler `name` for aarch64 ELF binaries (QEMU's magic and mask).
fn aarch64_handler(name: &str, interpreter: &std::path::Path) -> String {
    let magic = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
    let mask = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
    format!(":{name}:M::{magic}:{mask}:{}:F", interpreter.display())
}

/// berth with binfmt_misc mounted in its mount namespace (which the check before a foreign RUN reads).
fn berth_with_binfmt(env: &Env, args: &[&str]) -> std::process::Output {
    let cmd = env.command(args);
    let mut argv: Vec<&std::ffi::OsStr> = vec![cmd.get_program()];
    argv.extend(cmd.get_args());
    let config = format!("BERTH_CONFIG={}", env.root().join("config.toml").display());
    let mut full: Vec<std::ffi::OsString> = vec!["env".into(), config.into()];
    full.extend(argv.iter().map(|a| a.to_os_string()));
    let refs: Vec<&std::ffi::OsStr> = full.iter().map(|a| a.as_os_str()).collect();
    with_binfmt("exec \"$@\"", &refs)
}

#[test]
fn bm_build_for_arm64_runs_its_run_step_under_qemu() {
    if !require_root("bm_build_for_arm64_runs_its_run_step_under_qemu") {
        return;
    }
    if std::env::consts::ARCH != "x86_64" {
        eprintln!(
            "bm_build_for_arm64_runs_its_run_step_under_qemu: skipped, scripts/deps.sh fetches QEMU for amd64 hosts"
        );
        return;
    }
    let (qemu, arm_busybox) =
        (qemu_cache().join("usr/bin/qemu-aarch64-static"), qemu_cache().join("arm64/bin/busybox"));
    assert!(
        qemu.is_file() && arm_busybox.is_file(),
        "{} and {} are missing: run scripts/deps.sh",
        qemu.display(),
        arm_busybox.display()
    );
    let env = Env::new();
    let mut layer = LayerBuilder::new();
    layer.dir("bin", Meta::mode(0o755));
    layer.file("bin/busybox", &std::fs::read(&arm_busybox).expect("read arm64 busybox"), Meta::mode(0o755));
    for applet in ["sh", "uname", "cat", "true"] {
        layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    layer.dir("tmp", Meta::mode(0o1777));
    let arm64 = Platform::new("linux", "arm64", Some("v8"));
    let image = Image::new(arm64, vec![layer.build(Compression::Gzip)], &["sh"], "busybox-arm64");
    let base = env.registry().push_image(&image, "bm/arm64-busybox:latest", support::registry::PushFormat::Oci);
    let context = tempfile::tempdir().expect("context dir");
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {base}\nRUN uname -m > /arch\n")).expect("write");
    let ctx = context.path().to_str().unwrap_or_default();
    let build = ["build", "--progress", "plain", "--platform", "linux/arm64", "-t", "bm-arm:1", ctx];

    if !emulated("aarch64") {
        let out = berth_with_binfmt(&env, &build);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("no binfmt_misc handler runs aarch64 binaries"), "{err}");
    }
    // One shell holds the handler: registered, used by berth (ls, the build, a run of the result) and
    // removed on its way out whatever happened (a binfmt_misc mount's handlers also go with its last mount).
    let name = format!("bm-qemu-aarch64-{}", std::process::id());
    let out_dir = tempfile::tempdir().expect("output dir");
    let script = format!(
        "trap '[ ! -e {BINFMT}/{name} ] || echo -1 > {BINFMT}/{name}' EXIT\n\
         printf '%s' '{line}' > {BINFMT}/register || exit 91\n\
         \"$0\" --root \"$1\" system binfmt ls > \"$2/ls\" 2>&1 || exit 92\n\
         \"$0\" --root \"$1\" build --progress plain --platform linux/arm64 -t bm-arm:1 \"$3\" > \"$2/build\" 2>&1 || exit 93\n\
         \"$0\" --root \"$1\" run --rm --network none --platform linux/arm64 bm-arm:1 cat /arch > \"$2/run\" 2>&1 || exit 94\n",
        line = aarch64_handler(&name, &qemu)
    );
    let cmd = env.command(&[]);
    let berth = cmd.get_program().to_os_string();
    let config = env.root().join("config.toml");
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("(mountpoint -q {BINFMT} || mount -t binfmt_misc binfmt_misc {BINFMT}) || exit 90\n{script}"))
        .arg(&berth)
        .arg(env.root())
        .arg(out_dir.path())
        .arg(ctx)
        .env("BERTH_CONFIG", &config)
        .env_remove("BERTH_LOG")
        .output()
        .expect("run unshare");
    let read = |f: &str| std::fs::read_to_string(out_dir.path().join(f)).unwrap_or_default();
    assert!(
        out.status.success(),
        "step {:?} failed: {}\nls: {}\nbuild: {}\nrun: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        read("ls"),
        read("build"),
        read("run")
    );
    let listed = read("ls");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("enabled") && l.contains(qemu.to_str().unwrap_or("?"))),
        "{listed}"
    );
    assert_eq!(read("run"), "aarch64\n", "build: {}", read("build"));
    assert_eq!(env.inspect("bm-arm:1")["Architecture"], "arm64");
    let gone = with_binfmt(&format!("[ ! -e {BINFMT}/{name} ]"), &[]);
    assert!(gone.status.success(), "the handler {name} is still registered");
}
