//! Images as files: `save`, `load`, `export` and `import` on images from the local registry and images
//! made here, read back by berth and by podman. Needs root (skips loudly otherwise; CI=true forbids
//! skipping); the podman round trips need podman with runc (scripts/deps.sh).

mod rt;
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use rt::{Env, require_root};
use sha2::{Digest, Sha256};
use support::podman::Podman;

/// The files of a tar archive by path (`./` dropped), symlinks as `-> target`.
fn entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("path").to_string_lossy().trim_start_matches("./").to_string();
        let mut data = Vec::new();
        if entry.header().entry_type().is_symlink() {
            let target = entry.link_name().ok().flatten().map(|t| t.to_string_lossy().into_owned());
            data = format!("-> {}", target.unwrap_or_default()).into_bytes();
        } else {
            entry.read_to_end(&mut data).expect("read entry");
        }
        out.insert(path, data);
    }
    out
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).expect("JSON")
}

fn image_id(env: &Env, name: &str) -> String {
    env.ok(&["image", "inspect", "--format", "{{.Id}}", name]).trim().to_string()
}

/// Layers and images of the root, and its work files: what a failed load must leave as it found it.
fn store_state(env: &Env) -> (Vec<String>, Vec<PathBuf>, usize) {
    let images = env.ok(&["images", "-q"]).lines().map(str::to_string).collect();
    let mut layers: Vec<PathBuf> =
        std::fs::read_dir(env.root().join("layers")).unwrap().map(|e| e.unwrap().path()).collect();
    layers.sort();
    let tmp = std::fs::read_dir(env.root().join("tmp")).map(|d| d.count()).unwrap_or(0);
    (images, layers, tmp)
}

/// Checks a saved archive: Docker 25's layout, every layer blob named by its content's digest, the
/// diffIDs of the image's config. Returns the archive's files.
fn check_saved(archive: &Path, tag: &str) -> BTreeMap<String, Vec<u8>> {
    let files = entries(&std::fs::read(archive).expect("read archive"));
    assert_eq!(json(&files["oci-layout"])["imageLayoutVersion"], "1.0.0");
    let manifest = json(&files["manifest.json"]);
    let image = manifest.as_array().unwrap().iter().find(|i| i["RepoTags"].to_string().contains(tag)).expect(tag);
    let config = json(&files[image["Config"].as_str().unwrap()]);
    let layers: Vec<&str> = image["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let diff_ids: Vec<String> =
        config["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    assert_eq!(layers.len(), diff_ids.len());
    for (path, diff_id) in layers.iter().zip(&diff_ids) {
        assert_eq!(&sha256(&files[*path]), diff_id, "{path} is the layer's exact tar");
        assert_eq!(format!("blobs/sha256/{}", diff_id.trim_start_matches("sha256:")), *path);
    }
    let index = json(&files["index.json"]);
    let names: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["annotations"]["io.containerd.image.name"].to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains(tag)), "{names:?}");
    files
}

fn save_pulled_image_gives_exact_layers(store: &str) {
    let env = Env::with_store(store);
    let id = image_id(&env, "busybox");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    check_saved(&archive, "busybox:latest");

    // save → rmi → load: the same image, by ID, runnable.
    env.ok(&["rmi", "-f", &id]);
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: busybox:latest");
    assert_eq!(image_id(&env, "busybox"), id);
    assert_eq!(env.ok(&["run", "--rm", "busybox", "echo", "loaded"]).trim(), "loaded");
    // The loaded layers keep their exact tars too: saving again gives the same archive.
    let again = dir.path().join("again.tar");
    env.ok(&["save", "-o", again.to_str().unwrap(), "busybox"]);
    assert!(std::fs::read(&archive).unwrap() == std::fs::read(&again).unwrap(), "save is deterministic");
}

#[test]
fn ba_save_of_a_pulled_image_reproduces_its_diff_ids_dir_store() {
    if !require_root("ba_save_of_a_pulled_image_reproduces_its_diff_ids_dir_store") {
        return;
    }
    save_pulled_image_gives_exact_layers("dir");
}

#[test]
fn ba_save_of_a_pulled_image_reproduces_its_diff_ids_erofs_store() {
    if !require_root("ba_save_of_a_pulled_image_reproduces_its_diff_ids_erofs_store") {
        return;
    }
    save_pulled_image_gives_exact_layers("erofs");
}

#[test]
fn ba_committed_images_round_trip_through_save_and_load() {
    if !require_root("ba_committed_images_round_trip_through_save_and_load") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "ba-src", "busybox", "sh", "-c", "echo made > /made && rm /bin/ls"]);
    env.ok(&["commit", "ba-src", "ba-img:one"]);
    env.ok(&["tag", "ba-img:one", "ba-img:two"]);
    let id = image_id(&env, "ba-img:one");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("two.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "ba-img:one", "ba-img:two", "busybox"]);
    let files = check_saved(&archive, "ba-img:one");
    let repositories = json(&files["repositories"]);
    assert!(repositories["ba-img"]["two"].is_string(), "{repositories}");

    env.ok(&["rm", "ba-src"]);
    env.ok(&["rmi", "-f", &id]);
    // Through a pipe, gzip-compressed as a whole.
    let gz = dir.path().join("two.tar.gz");
    let status = Command::new("gzip").arg("-k").arg(&archive).status().unwrap();
    assert!(status.success());
    let out = env.command(&["load"]).stdin(std::fs::File::open(&gz).unwrap()).output().expect("load from stdin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for tag in ["ba-img:one", "ba-img:two", "busybox:latest"] {
        assert!(text.contains(&format!("Loaded image: {tag}")), "{text}");
    }
    assert_eq!(image_id(&env, "ba-img:two"), id);
    let out = env.ok(&["run", "--rm", "ba-img:one", "sh", "-c", "cat /made; ls /bin/ls 2>/dev/null || echo gone"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["made", "gone"]);

    // stdout must not be a terminal; a file or a pipe is fine.
    let out = env.command(&["save", "ba-img:one"]).output().unwrap();
    assert!(out.status.success());
    assert!(entries(&out.stdout).contains_key("manifest.json"));
}

/// A docker-archive whose manifest.json is `manifest`, holding `files`.
fn archive_with(manifest: serde_json::Value, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, path, data).unwrap();
    };
    for (path, data) in files {
        add(path, data);
    }
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap()
}

#[test]
fn ba_hostile_archives_are_refused_and_leave_nothing() {
    if !require_root("ba_hostile_archives_are_refused_and_leave_nothing") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    env.ok(&["save", "-o", good.to_str().unwrap(), "busybox"]);
    let files = entries(&std::fs::read(&good).unwrap());
    let manifest = json(&files["manifest.json"]);
    let config_path = manifest[0]["Config"].as_str().unwrap().to_string();
    let layer_path = manifest[0]["Layers"][0].as_str().unwrap().to_string();
    let (config, layer) = (files[&config_path].clone(), files[&layer_path].clone());
    let before = store_state(&env);

    let load = |name: &str, tar: Vec<u8>| -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, tar).unwrap();
        let (_, err) = env.fails(&["load", "-i", path.to_str().unwrap()]);
        assert_eq!(store_state(&env), before, "{name} left something behind");
        err
    };
    let entry = |config: &str, layers: &[&str]| serde_json::json!([{"Config": config, "RepoTags": ["ba-bad:x"], "Layers": layers}]);

    // The config named outside the archive.
    let err = load("outside.tar", archive_with(entry("../../etc/passwd", &[&layer_path]), &[(&layer_path, &layer)]));
    assert!(err.contains("manifest.json") && err.contains("../../etc/passwd") && err.contains("outside"), "{err}");
    // A layer named outside, absolutely.
    let err = load(
        "absolute.tar",
        archive_with(entry(&config_path, &["/etc/shadow"]), &[(&config_path, &config), (&layer_path, &layer)]),
    );
    assert!(err.contains("/etc/shadow") && err.contains("outside"), "{err}");
    // A missing layer blob.
    let err =
        load("missing.tar", archive_with(entry(&config_path, &["blobs/sha256/nothere"]), &[(&config_path, &config)]));
    assert!(err.contains("blobs/sha256/nothere") && err.contains("does not hold"), "{err}");
    // A layer whose tar is not the one the config names.
    let mut other = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    other.append_data(&mut header, "evil", &b"evil\n"[..]).unwrap();
    let other = other.into_inner().unwrap();
    let err = load(
        "diffid.tar",
        archive_with(entry(&config_path, &[&layer_path]), &[(&config_path, &config), (&layer_path, &other)]),
    );
    assert!(err.contains("diffID") && err.contains(&layer_path), "{err}");
    assert!(env.fails(&["image", "inspect", "ba-bad:x"]).1.contains("ba-bad"));
}

#[test]
fn ba_podman_loads_and_runs_what_berth_saves() {
    if !require_root("ba_podman_loads_and_runs_what_berth_saves") {
        return;
    }
    let Some(podman) = Podman::new("ba") else { return };
    let env = Env::new();
    env.ok(&["run", "--name", "ba-pm", "busybox", "sh", "-c", "echo from-berth > /greeting"]);
    env.ok(&["commit", "ba-pm", "ba-pm-img:v1"]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("out.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "ba-pm-img:v1"]);
    // Both readers of the hybrid archive see the same image.
    for transport in ["docker-archive", "oci-archive"] {
        let out = Command::new("skopeo")
            .args(["inspect", "--config", &format!("{transport}:{}", archive.display())])
            .output()
            .expect("skopeo");
        assert!(out.status.success(), "{transport}: {}", String::from_utf8_lossy(&out.stderr));
        let config = json(&out.stdout);
        assert_eq!(config["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(2), "{transport}");
    }
    let out = podman.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("ba-pm-img:v1"), "{out}");
    let out = podman.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        "docker.io/library/ba-pm-img:v1",
        "cat",
        "/greeting",
    ]);
    assert_eq!(out.trim(), "from-berth");
}

#[test]
fn ba_berth_loads_and_runs_what_podman_saves() {
    if !require_root("ba_berth_loads_and_runs_what_podman_saves") {
        return;
    }
    let Some(podman) = Podman::new("ba") else { return };
    let env = Env::new();
    podman.ok(&["pull", "-q", "--tls-verify=false", &env.reference]);
    podman.ok(&["tag", &env.reference, "localhost/ba-from-podman:v1"]);
    let dir = tempfile::tempdir().unwrap();
    for format in ["docker-archive", "oci-archive"] {
        let archive = dir.path().join(format!("{format}.tar"));
        podman.ok(&["save", "--format", format, "-o", archive.to_str().unwrap(), "localhost/ba-from-podman:v1"]);
        let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.contains("Loaded image: localhost/ba-from-podman:v1"), "{format}: {out}");
        let out = env.ok(&["run", "--rm", "localhost/ba-from-podman:v1", "echo", format]);
        assert_eq!(out.trim(), format);
        env.ok(&["rmi", "localhost/ba-from-podman:v1"]);
    }
    // An OCI layout directory, as skopeo writes one.
    let layout = dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());
    let out = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &format!("docker://{}", env.reference), &oci])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.ok(&["load", "-i", layout.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image ID: sha256:"), "a bare OCI ref name names no image: {out}");
    let id = out.trim().trim_start_matches("Loaded image ID: ").to_string();
    assert_eq!(id, image_id(&env, "busybox"));
}

#[test]
fn ba_export_is_the_flat_filesystem_and_import_with_changes_runs() {
    if !require_root("ba_export_is_the_flat_filesystem_and_import_with_changes_runs") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "ba-exp",
        "busybox",
        "sh",
        "-c",
        "echo exported > /greeting && rm /bin/ls && mkdir -p /data && echo x > /data/f",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("flat.tar");
    env.ok(&["export", "-o", tar.to_str().unwrap(), "ba-exp"]);
    let files = entries(&std::fs::read(&tar).unwrap());
    assert!(files.keys().all(|p| !p.split('/').any(|n| n.starts_with(".wh."))), "whiteouts in {files:?}");
    assert_eq!(files["greeting"], b"exported\n");
    assert!(files.contains_key("bin/busybox") && !files.contains_key("bin/ls"));
    for stub in ["etc/hosts", "etc/resolv.conf", "etc/hostname", ".dockerenv", "proc", "sys", "dev"] {
        assert!(!files.contains_key(stub), "the runtime's {stub} is no part of the image");
    }
    // Through stdout as well, from a running container.
    env.ok(&["run", "-d", "--name", "ba-live", "busybox", "sleep", "60"]);
    let out = env.command(&["export", "ba-live"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(entries(&out.stdout).contains_key("bin/busybox"));
    env.ok(&["rm", "-f", "ba-live"]);

    let id = env
        .ok(&[
            "import",
            "-c",
            r#"CMD ["cat", "/greeting"]"#,
            "-c",
            "ENV BA_IMPORTED=yes",
            "-m",
            "flat copy",
            tar.to_str().unwrap(),
            "ba-imp:v1",
        ])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(env.ok(&["run", "--rm", "ba-imp:v1"]).trim(), "exported");
    assert_eq!(
        env.ok(&["run", "--rm", "ba-imp:v1", "sh", "-c", "echo $BA_IMPORTED; ls /bin/ls || true"]).trim(),
        "yes"
    );
    let history = env.ok(&["history", "--format", "{{.Comment}}", "ba-imp:v1"]);
    assert_eq!(history.trim(), "flat copy");

    // From stdin, gzip-compressed, and from an http URL on 127.0.0.1.
    let gz = dir.path().join("flat.tar.gz");
    assert!(Command::new("gzip").arg("-k").arg(&tar).status().unwrap().success());
    let out = env.command(&["import", "-", "ba-imp:stdin"]).stdin(std::fs::File::open(&gz).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.ok(&["run", "--rm", "ba-imp:stdin", "cat", "/greeting"]).trim(), "exported");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = std::fs::read(&gz).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        let mut stream = stream;
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
        stream.write_all(&body).unwrap();
    });
    env.ok(&["import", &format!("http://127.0.0.1:{port}/flat.tar.gz"), "ba-imp:url"]);
    server.join().unwrap();
    let history = env.ok(&["history", "--format", "{{.Comment}}", "ba-imp:url"]);
    assert_eq!(history.trim(), format!("Imported from http://127.0.0.1:{port}/flat.tar.gz"));
    assert_eq!(env.ok(&["run", "--rm", "ba-imp:url", "cat", "/greeting"]).trim(), "exported");
}

#[test]
fn ba_loaded_layers_keep_the_unpack_safety_rules() {
    if !require_root("ba_loaded_layers_keep_the_unpack_safety_rules") {
        return;
    }
    use support::berth::{Berth, Decoys, STORES};
    use support::oci::{Compression, Image, LayerBuilder, Meta, OciLayout, Platform};
    for store in STORES {
        let decoys = Decoys::new();
        let marker = format!("pwned-{}", hex::encode(rand::random::<[u8; 6]>()));
        let target = decoys.path().display().to_string();
        let mut layer = LayerBuilder::new();
        layer
            .symlink("evil", &target)
            .file(&format!("evil/{marker}"), b"through an absolute symlink\n", Meta::mode(0o644))
            .file("evil/secret", b"overwrite through the symlink\n", Meta::mode(0o644))
            .raw(format!("../../../{marker}").as_bytes(), tar::EntryType::Regular, b"", b"climbing\n");
        let image = Image::new(Platform::host(), vec![layer.build(Compression::Gzip)], &["sh"], "hostile");
        let layout = OciLayout::of_image(&image, "v1");
        let berth = Berth::with_store(store);
        let run = berth.run(&["load", "-i", layout.path().to_str().unwrap()]);
        decoys.assert_untouched();
        berth.assert_no_escape(&marker);
        berth.assert_no_wh_files();
        if run.code == Some(0) {
            berth.assert_layers_exactly(&image.chain_ids());
            assert_eq!(berth.inspect(image.id())["Id"], image.id());
        } else {
            berth.assert_failed_pull_left_nothing();
        }
    }
}

#[test]
fn ba_old_docker_archives_with_layer_dirs_and_symlinked_layers_load() {
    if !require_root("ba_old_docker_archives_with_layer_dirs_and_symlinked_layers_load") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    let files = entries(&std::fs::read(&saved).unwrap());
    let manifest = json(&files["manifest.json"]);
    let config = files[manifest[0]["Config"].as_str().unwrap()].clone();
    let layer = files[manifest[0]["Layers"][0].as_str().unwrap()].clone();
    let id = sha256(&config);

    // Docker before 25: a directory per layer (VERSION, json, layer.tar), `<config hex>.json`; a layer
    // shared with an earlier image is a symlink to its first copy.
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, path, data).unwrap();
    };
    add("aaaa/VERSION", b"1.0");
    add("aaaa/json", b"{}");
    add("aaaa/layer.tar", &layer);
    add(&format!("{}.json", &id[7..]), &config);
    let old = serde_json::json!([{"Config": format!("{}.json", &id[7..]), "RepoTags": ["ba-old:v1"], "Layers": ["bbbb/layer.tar"]}]);
    add("manifest.json", &serde_json::to_vec(&old).unwrap());
    add("repositories", br#"{"ba-old":{"v1":"bbbb"}}"#);
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    b.append_link(&mut link, "bbbb/layer.tar", "../aaaa/layer.tar").unwrap();
    let archive = dir.path().join("old.tar");
    std::fs::write(&archive, b.into_inner().unwrap()).unwrap();

    env.ok(&["rmi", "-f", &image_id(&env, "busybox")]);
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: ba-old:v1");
    assert_eq!(image_id(&env, "ba-old:v1"), id);
    assert_eq!(env.ok(&["run", "--rm", "ba-old:v1", "echo", "old"]).trim(), "old");
}

#[test]
fn ba_bzip2_and_xz_archives_load() {
    if !require_root("ba_bzip2_and_xz_archives_load") {
        return;
    }
    let env = Env::new();
    let id = image_id(&env, "busybox");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    for (tool, suffix) in [("bzip2", "bz2"), ("xz", "xz")] {
        let status = Command::new(tool).arg("-k").arg(&archive).status().unwrap();
        assert!(status.success(), "{tool}");
        env.ok(&["rmi", "-f", &id]);
        let compressed = dir.path().join(format!("busybox.tar.{suffix}"));
        let out = env.ok(&["load", "-i", compressed.to_str().unwrap()]);
        assert!(out.contains("Loaded image: busybox:latest"), "{tool}: {out}");
        assert_eq!(image_id(&env, "busybox"), id, "{tool}");
    }
    let out = env.ok(&["run", "--rm", "busybox", "echo", "loaded"]);
    assert_eq!(out.trim(), "loaded");
}

/// A pulled image copied to an OCI archive as the registry serves it (skopeo keeps its compressed blobs
/// and manifest), removed, loaded again and pushed back: no blob is made again, every digest stays.
#[test]
fn ba_loaded_oci_archive_pushes_its_own_blobs_and_manifest() {
    if !require_root("ba_loaded_oci_archive_pushes_its_own_blobs_and_manifest") {
        return;
    }
    let env = Env::new();
    let registry = env.registry();
    let original = env.inspect("busybox")["RepoDigests"][0].as_str().unwrap_or_default().to_string();
    let (_, digest) = original.split_once('@').unwrap_or_else(|| panic!("a repo digest: {original}"));
    let target = registry.repo("ba/loaded:v1");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}", env.reference))
        .arg(format!("oci-archive:{}:{target}", archive.display()))
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    let diff_id = env.inspect("busybox")["RootFS"]["Layers"][0].as_str().unwrap_or_default().to_string();
    env.ok(&["rmi", "-f", &image_id(&env, "busybox")]);

    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {target}")), "{out}");
    let loaded = env.inspect(&target);
    assert_eq!(loaded["Descriptor"]["digest"], digest, "the archive's manifest is the image's");
    assert_eq!(loaded["RootFS"]["Layers"][0], diff_id.as_str());
    let blobs = env.root().join("blobs/sha256");
    let before: Vec<_> = std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().file_name()).collect();

    let out = env.ok(&["push", &target]);
    assert!(out.lines().last().is_some_and(|l| l.contains(&format!("digest: {digest} "))), "same digest: {out}");
    let after: Vec<_> = std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), after.len(), "no blob was made for the push");
    let raw = |reference: &str| {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .output()
            .expect("run skopeo");
        assert!(out.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_eq!(raw(&target), raw(&env.reference), "the registry serves the same manifest bytes");
}
