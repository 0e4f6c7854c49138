//! Images made from containers: `commit`, `diff` and `history` on real containers from the local registry's
//! busybox. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::path::Path;

use berth_engine::{Config, Engine, EngineOptions};
use rt::{Env, require_root};
use sha2::Digest;

/// The engine over a test's root, for what the CLI does not show (layer blobs, as push will ask).
fn engine(env: &Env) -> Engine {
    let config = Config::load_from(&env.root().join("config.toml")).expect("the test's config.toml");
    Engine::open(EngineOptions { root: env.root().to_path_buf(), config }).expect("open the engine")
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn commit_keeps_writes_deletions_hardlinks_and_replaced_dirs() {
    if !require_root("commit_keeps_writes_deletions_hardlinks_and_replaced_dirs") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "bpk-a",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/old && echo 1 > /data/old/f && echo 2 > /data/keep && echo hi > /hello \
         && ln /hello /hello-link && rm /bin/ls",
    ]);
    // docker's lines: the runtime's /etc stubs, /dev, /proc and /sys are no change of the container's.
    let diff = env.ok(&["diff", "bpk-a"]);
    assert_eq!(env.ok(&["container", "diff", "bpk-a"]), diff, "docker's `container diff` alias");
    assert_eq!(
        lines(&diff),
        ["C /bin", "D /bin/ls", "A /data", "A /data/keep", "A /data/old", "A /data/old/f", "A /hello", "A /hello-link"],
        "{diff}"
    );

    let id = env.ok(&["commit", "-m", "first", "bpk-a", "bpk-img:one"]).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = env.ok(&[
        "run",
        "--rm",
        "bpk-img:one",
        "sh",
        "-c",
        "cat /data/old/f /data/keep /hello; ls /bin/ls 2>/dev/null || echo gone; stat -c %h /hello-link",
    ]);
    assert_eq!(lines(&out), ["1", "2", "hi", "gone", "2"]);

    // A directory a lower layer has, replaced: an opaque directory in the upper.
    env.ok(&[
        "run",
        "--name",
        "bpk-b",
        "bpk-img:one",
        "sh",
        "-c",
        "rm -rf /data && mkdir /data && echo fresh > /data/new",
    ]);
    let diff = env.ok(&["diff", "bpk-b"]);
    assert_eq!(lines(&diff), ["D /data", "A /data/new"], "{diff}");
    let two = env.ok(&["commit", "-a", "bpk <bpk@example.com>", "bpk-b", "bpk-img:two"]).trim().to_string();
    let out = env.ok(&["run", "--rm", "bpk-img:two", "sh", "-c", "ls -A /data; cat /data/new; cat /hello"]);
    assert_eq!(lines(&out), ["new", "fresh", "hi"]);

    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "bpk-img:two"])).expect("json");
    let image = &inspect[0];
    assert_eq!(image["Id"], two.as_str());
    assert_eq!(image["Parent"], id.as_str());
    assert_eq!(image["Author"], "bpk <bpk@example.com>");
    assert_eq!(image["RootFS"]["Layers"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        image["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "rm -rf /data && mkdir /data && echo fresh > /data/new"])
    );
    assert!(image.get("Descriptor").is_none(), "a committed image has no manifest yet");

    // As Docker's image store: each entry from the top names the image it made while parents are known
    // (a commit's parent is the container's image), the rest are <missing>.
    let busybox = env.ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"]).trim().to_string();
    let history = env.ok(&["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "bpk-img:two"]);
    assert_eq!(
        lines(&history),
        [
            format!("{two}|sh -c rm -rf /data && mkdir /data && echo fresh > /data/new|"),
            format!(
                "{id}|sh -c mkdir -p /data/old && echo 1 > /data/old/f && echo 2 > /data/keep && echo hi > /hello && ln /hello /hello-link && rm /bin/ls|first"
            ),
            format!("{busybox}|busybox|"),
        ]
    );
    let table = env.ok(&["history", "bpk-img:one"]);
    let rows = lines(&table);
    assert!(rows[0].starts_with("IMAGE ") && rows[0].contains("CREATED BY") && rows[0].contains("COMMENT"), "{table}");
    assert!(rows[1].starts_with(&id[7..19]), "{table}");
    assert!(rows[1].contains("sh -c mkdir -p /data/old && echo 1 > /data/o…"), "created-by cut at 45: {table}");
    assert!(rows[2].starts_with(&busybox[7..19]), "{table}");
    assert_eq!(env.ok(&["history", "-q", "bpk-img:one"]).lines().count(), 2);

    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"]);
    assert!(images.lines().any(|l| l.starts_with("bpk-img:one ") && !l.ends_with(" 0B")), "{images}");
}

#[test]
fn commit_of_stopped_and_never_started_containers_and_rmi_leaves_nothing() {
    if !require_root("commit_of_stopped_and_never_started_containers_and_rmi_leaves_nothing") {
        return;
    }
    let env = Env::new();
    let layers = env.root().join("layers");
    let blobs = env.root().join("blobs/sha256");
    let (layers_before, blobs_before) = (count(&layers), count(&blobs));

    // Never started: nothing written, so no layer, and an empty_layer history entry as Docker's.
    env.ok(&["create", "--name", "bpk-created", "busybox", "true"]);
    env.ok(&["commit", "bpk-created", "bpk-empty"]);
    assert_eq!(count(&layers), layers_before);
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "bpk-empty"])).expect("json");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    let history = env.ok(&["history", "--format", "{{.CreatedBy}} {{.Size}}", "bpk-empty"]);
    assert_eq!(lines(&history)[0], "true 0B");

    // Ran but wrote nothing (the runtime's mount points are no change): no layer either.
    env.ok(&["run", "--name", "bpk-idle", "busybox", "true"]);
    assert_eq!(env.ok(&["diff", "bpk-idle"]), "");
    env.ok(&["commit", "bpk-idle", "bpk-idle-img"]);
    assert_eq!(count(&layers), layers_before);
    let history = env.ok(&["history", "--format", "{{.CreatedBy}} {{.Size}}", "bpk-idle-img"]);
    assert_eq!(lines(&history)[0], "true 0B");

    // Stopped after writing.
    env.ok(&["run", "--name", "bpk-stopped", "busybox", "sh", "-c", "echo x > /x"]);
    assert_eq!(env.status("bpk-stopped"), "exited");
    env.ok(&["commit", "bpk-stopped", "bpk-stopped-img"]);
    assert_eq!(count(&layers), layers_before + 1);
    assert_eq!(env.ok(&["run", "--rm", "bpk-stopped-img", "cat", "/x"]), "x\n");

    // The compressed blob push will ask for: made on request, kept until the layer goes.
    let engine = engine(&env);
    let image = engine.image("bpk-stopped-img").expect("image");
    let top = image.layers.last().expect("a layer").clone();
    let blob = engine.layer_blob(&top).expect("blob of a committed layer");
    assert_eq!(engine.layer_blob(&top).expect("again"), blob);
    assert_eq!(count(&blobs), blobs_before + 4, "three configs and the layer blob");
    // A pulled layer's blob comes from its exact tar (rebuilt from its tar index): it unpacks to the diffID.
    let pulled = engine.layer_blob(&image.layers[0]).expect("blob of a pulled layer");
    let gz = std::fs::read(blobs.join(pulled.digest.trim_start_matches("sha256:"))).expect("the blob is stored");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut tar).expect("gunzip");
    let diff_id = engine.image_layers(&image).expect("layers")[0].as_ref().expect("record").diff_id.clone();
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar))), diff_id);
    assert_eq!(count(&blobs), blobs_before + 5, "and the pulled layer's blob");
    drop(engine);

    env.ok(&["rm", "bpk-created", "bpk-idle", "bpk-stopped"]);
    env.ok(&["rmi", "bpk-empty", "bpk-idle-img", "bpk-stopped-img"]);
    assert_eq!(count(&layers), layers_before, "the committed layer goes with its image");
    assert_eq!(count(&blobs), blobs_before + 1, "so do the configs and the layer blob (busybox's stays)");
    assert_eq!(count(&env.root().join("tmp")), 0, "no work directory is left");
}

#[test]
fn commit_pauses_a_running_container_and_leaves_it_running() {
    if !require_root("commit_pauses_a_running_container_and_leaves_it_running") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "bpk-live", "busybox", "sh", "-c", "echo a > /a; sleep 1000"]);
    env.wait_for("the write", 10, || env.ok(&["diff", "bpk-live"]).contains("A /a"));
    env.ok(&["commit", "bpk-live", "bpk-live:paused"]);
    assert_eq!(env.status("bpk-live"), "running");
    env.ok(&["commit", "--pause=false", "bpk-live", "bpk-live:unpaused"]);
    assert_eq!(env.status("bpk-live"), "running");
    assert_eq!(env.ok(&["run", "--rm", "bpk-live:unpaused", "cat", "/a"]), "a\n");
}

#[test]
fn commit_diff_and_history_errors_name_what_is_missing() {
    if !require_root("commit_diff_and_history_errors_name_what_is_missing") {
        return;
    }
    let env = Env::new();
    let (code, err) = env.fails(&["commit", "bpk-nope", "bpk-x"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("No such container: bpk-nope"), "{err}");
    let (_, err) = env.fails(&["diff", "bpk-nope"]);
    assert!(err.contains("No such container: bpk-nope"), "{err}");
    let (_, err) = env.fails(&["history", "bpk-nope"]);
    assert!(err.contains("No such image: bpk-nope"), "{err}");

    env.ok(&["create", "--name", "bpk-c", "busybox", "true"]);
    let before = env.ok(&["images", "-q"]);
    let (_, err) = env.fails(&["commit", "bpk-c", "BPK-Upper:x"]);
    assert!(err.contains("BPK-Upper"), "{err}");
    let (_, err) =
        env.fails(&["commit", "bpk-c", "bpk@sha256:0000000000000000000000000000000000000000000000000000000000000000"]);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]), before, "a failed commit makes no image");
    assert_eq!(count(&env.root().join("tmp")), 0);

    // A failure midway (the layer is over the configured size cap) leaves no image, layer or work dir.
    env.ok(&["run", "--name", "bpk-big", "busybox", "sh", "-c", "dd if=/dev/zero of=/big bs=1024 count=64"]);
    let config = env.root().join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("max_layer_bytes = 16384\n");
    std::fs::write(&config, text).expect("write config");
    let layers = count(&env.root().join("layers"));
    let (_, err) = env.fails(&["commit", "bpk-big", "bpk-big:img"]);
    assert!(err.contains("bpk-big") && err.contains("16384"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]), before);
    assert_eq!(count(&env.root().join("layers")), layers);
    assert_eq!(count(&env.root().join("tmp")), 0);
}

#[test]
fn history_of_a_pulled_image_shows_its_config_history() {
    if !require_root("history_of_a_pulled_image_shows_its_config_history") {
        return;
    }
    let env = Env::new();
    let image = support::oci::busybox_with("bpk-two");
    let reference = env.registry().push_image(&image, "bpk-two:latest", support::registry::PushFormat::Oci);
    env.ok(&["pull", "-q", &reference]);
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &reference]).trim().to_string();
    let history = env.ok(&["history", "--format", "json", &reference]);
    let rows: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0]["ID"], &id[7..19]);
    assert_eq!(rows[1]["ID"], "<missing>");
    for row in &rows {
        assert_eq!(row["CreatedBy"], "bpk-two");
        assert_ne!(row["Size"], "0B", "each entry has its layer");
    }
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &reference])).expect("json");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(inspect[0]["Parent"], "");
}

/// Each path of a tree: type, mode, owner, contents or link target, and mtime for non-directories.
fn tree(top: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut nodes = std::collections::BTreeMap::new();
    support::berth::walk(top, &mut |path, meta| {
        let rel = path.strip_prefix(top).expect("below top").to_string_lossy().into_owned();
        if rel.is_empty() {
            return;
        }
        let kind = if meta.is_dir() {
            "dir".to_string()
        } else if meta.file_type().is_symlink() {
            format!("symlink {}", std::fs::read_link(path).expect("readlink").display())
        } else {
            format!("file {}", support::oci::digest_of(&std::fs::read(path).expect("read")))
        };
        let mode = if meta.file_type().is_symlink() { 0 } else { meta.permissions().mode() & 0o7777 };
        let mtime = if meta.is_dir() || meta.file_type().is_symlink() { 0 } else { meta.mtime() };
        nodes.insert(
            rel,
            format!(
                "{kind} {mode:o} {}:{} nlink={} mtime={mtime}",
                meta.uid(),
                meta.gid(),
                if meta.is_dir() { 0 } else { meta.nlink() }
            ),
        );
    });
    nodes
}

#[test]
fn a_committed_layer_blob_unpacks_in_umoci_as_berth_stores_it() {
    if !require_root("a_committed_layer_blob_unpacks_in_umoci_as_berth_stores_it") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "bpk-u",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello && ln /hello /bin/hello-link && ln -s /etc/passwd /pw && rm /bin/ls \
         && rm -rf /root && mkdir /root && echo r > /root/f && chown 1000:50 /root/f && chmod 4755 /hello \
         && mkdir -p /srv/a/b && touch -d @1700000000 /srv/a/b/old",
    ]);
    env.ok(&["commit", "bpk-u", "bpk-u:img"]);
    let engine = engine(&env);
    let image = engine.image("bpk-u:img").expect("image");
    let top = image.layers.last().expect("layer").clone();
    let blob = engine.layer_blob(&top).expect("blob");
    let diff_id = engine.image_layers(&image).expect("layers")[1].as_ref().expect("record").diff_id.clone();
    let bytes = std::fs::read(env.root().join("blobs/sha256").join(&blob.digest[7..])).expect("blob bytes");
    let committed = support::oci::Layer { blob: support::oci::Blob::new(&blob.media_type, bytes), diff_id };
    let oci_image = support::oci::Image::new(
        support::oci::Platform::host(),
        vec![support::oci::busybox_layer(), committed],
        &["sh"],
        "bpk",
    );
    let layout = support::oci::OciLayout::of_image(&oci_image, "v1");
    let work = tempfile::Builder::new().prefix("bpk-umoci-").tempdir().expect("work dir");
    let bundle = work.path().join("bundle");
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--image", &layout.image_arg()])
        .arg(&bundle)
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    let expected = tree(&bundle.join("rootfs"));

    // berth's view of the committed image: its layers (directories, or EROFS images mounted read-only) as
    // overlay stacks them.
    let merged = work.path().join("merged");
    std::fs::create_dir(&merged).expect("mkdir");
    let mut views = Vec::new();
    let lowers: Vec<String> = image
        .layers
        .iter()
        .rev()
        .map(|c| {
            let image_file = env.root().join("layers").join(format!("{}.erofs", &c[7..]));
            if !image_file.is_file() {
                return env.root().join("layers").join(&c[7..]).display().to_string();
            }
            let view = work.path().join(&c[7..19]);
            std::fs::create_dir(&view).expect("mkdir view");
            berth_engine::testing::mount_layer_image(&image_file, &view).expect("mount layer image");
            views.push(view.clone());
            view.display().to_string()
        })
        .collect();
    let status = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &format!("ro,lowerdir={}", lowers.join(":"))])
        .arg(&merged)
        .status()
        .expect("mount");
    assert!(status.success());
    let actual = tree(&merged);
    let _ = std::process::Command::new("umount").arg(&merged).status();
    for view in &views {
        let _ = std::process::Command::new("umount").arg(view).status();
    }
    assert!(expected.contains_key("root/f") && !expected.contains_key("bin/ls"), "{expected:#?}");
    let differ: Vec<String> = expected
        .keys()
        .chain(actual.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| format!("{k}: umoci {:?} berth {:?}", expected.get(k), actual.get(k)))
        .collect();
    assert!(differ.is_empty(), "umoci's unpack of the blob differs from berth's layers:\n{}", differ.join("\n"));
}

#[test]
fn source_date_epoch_makes_a_commit_reproducible() {
    if !require_root("source_date_epoch_makes_a_commit_reproducible") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "bpk-r", "busybox", "sh", "-c", "mkdir /out && echo same > /out/f"]);
    let commit = |tag: &str| {
        let out =
            env.command(&["commit", "bpk-r", tag]).env("SOURCE_DATE_EPOCH", "1700000000").output().expect("berth");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let first = commit("bpk-r:1");
    assert_eq!(commit("bpk-r:2"), first, "the same changes at the same SOURCE_DATE_EPOCH are the same image");
    let created = env.ok(&["image", "inspect", "--format", "{{.Created}}", "bpk-r:1"]);
    assert!(created.starts_with("2023-11-14T22:13:20"), "{created}");
    let out = env.ok(&["run", "--rm", "bpk-r:1", "stat", "-c", "%Y", "/out/f"]);
    assert_eq!(out.trim(), "1700000000", "mtimes are clamped to SOURCE_DATE_EPOCH");
}

#[test]
fn commit_changes_set_the_new_images_config_as_dockers_do() {
    if !require_root("commit_changes_set_the_new_images_config_as_dockers_do") {
        return;
    }
    let env = Env::new();
    env.ok(&["create", "--name", "bpk-c", "busybox", "sh"]);
    env.ok(&[
        "commit",
        "-c",
        "ENTRYPOINT [\"echo\"]",
        "--change",
        "CMD [\"changed\"]",
        "-c",
        "ENV GREETING=hello",
        "-c",
        "EXPOSE 8080",
        "-c",
        "WORKDIR /srv",
        "-c",
        "LABEL team=ops",
        "-c",
        "USER nobody",
        "-c",
        "STOPSIGNAL SIGINT",
        "bpk-c",
        "bpk-changed",
    ]);
    let config = env.inspect("bpk-changed")["Config"].clone();
    assert_eq!(config["Entrypoint"], serde_json::json!(["echo"]));
    assert_eq!(config["Cmd"], serde_json::json!(["changed"]), "a CMD set by a change survives a later ENTRYPOINT");
    assert!(config["Env"].as_array().unwrap().iter().any(|e| e == "GREETING=hello"), "{config}");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert_eq!((config["WorkingDir"].as_str(), config["User"].as_str()), (Some("/srv"), Some("nobody")));
    assert_eq!(config["Labels"]["team"], "ops");
    assert_eq!(config["StopSignal"], "SIGINT");

    // What docker refuses is refused before anything is made.
    env.ok(&["container", "commit", "-c", "USER 1000", "bpk-c", "bpk-alias"]);
    assert_eq!(env.inspect("bpk-alias")["Config"]["User"], "1000", "docker's `container commit` alias");
    let images = env.ok(&["images", "-q"]);
    let (_, err) = env.fails(&["commit", "-c", "COPY a /b", "bpk-c", "bpk-refused"]);
    assert!(err.contains("COPY is not a valid change command"), "{err}");
    let (_, err) = env.fails(&["commit", "-c", "NOPE x", "bpk-c", "bpk-refused"]);
    assert!(err.contains("unknown instruction"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]), images, "a refused commit made an image");
}
