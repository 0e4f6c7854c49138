//! `berth push` against Debian's docker-registry: images made by `commit` pushed, read back by skopeo and
//! podman, pulled back by digest, pushed again (nothing uploaded) and to another repository (mounted).
//! Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::process::Command;

use rt::{Env, require_root};
use support::podman::Podman;
use support::registry::Registry;

/// Upload sessions the registry's access log shows for repository `name`.
fn uploads(registry: &Registry, name: &str) -> usize {
    registry.log().lines().filter(|l| l.contains(&format!("POST /v2/{name}/blobs/uploads/ "))).count()
}

/// skopeo's view of a pushed image (`skopeo inspect`, or the manifest's bytes with `raw`), anonymous.
fn skopeo_inspect(reference: &str, raw: bool) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    let out = cmd.arg(format!("docker://{reference}")).output().expect("run skopeo");
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The non-empty lines of `text`.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Commits an image on the Env's busybox with a deleted file (a whiteout), a hardlink, and several MiB of
/// random and of repetitive bytes (so its blob is compressed in many chunks, some stored, some deflated).
fn commit_image(env: &Env, container: &str, tag: &str) -> String {
    env.ok(&[
        "run",
        "--name",
        container,
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello && ln /hello /hello-link && rm /bin/ls && mkdir /data && echo 1 > /data/f && \
         head -c 2500000 /dev/urandom > /data/r && yes berth | head -c 3000000 > /data/t",
    ]);
    env.ok(&["commit", container, tag]).trim().to_string()
}

/// md5sum's lines for the big files `commit_image` wrote, as `/data/r` and `/data/t`.
const SUMS: &str = "md5sum /data/r /data/t";

#[test]
fn bp_commit_push_read_back_by_skopeo_podman_and_pull() {
    if !require_root("bp_commit_push_read_back_by_skopeo_podman_and_pull") {
        return;
    }
    let env = Env::new();
    let registry = env.registry();
    let target = registry.repo("bp/app:v1");
    let id = commit_image(&env, "bp-a", &target);
    let sums = env.ok(&["run", "--rm", &target, "sh", "-c", SUMS]);

    let out = env.ok(&["push", &target]);
    let shown = lines(&out);
    assert_eq!(shown[0], format!("The push refers to repository [{}]", registry.repo("bp/app")), "{out}");
    // The busybox base was pulled from this registry: mounted, not uploaded; the commit's layer is uploaded.
    assert!(shown.iter().any(|l| l.ends_with(": Mounted from busybox")), "{out}");
    assert!(shown.iter().any(|l| l.ends_with(": Pushed")), "{out}");
    assert!(shown.iter().any(|l| l.ends_with(": Preparing")), "{out}");
    let last = shown.last().copied().unwrap_or_default();
    let (tag, rest) = last.split_once(": digest: ").unwrap_or_else(|| panic!("closing line: {out}"));
    assert_eq!(tag, "v1");
    let (digest, size) = rest.split_once(" size: ").unwrap_or_else(|| panic!("closing line: {out}"));
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");
    assert_eq!(uploads(registry, "bp/app"), 2, "only the commit's layer and the config are uploaded");

    let raw_bytes = skopeo_inspect(&target, true);
    assert_eq!(raw_bytes.len().to_string(), size, "{out}");
    let raw: serde_json::Value = serde_json::from_slice(&raw_bytes).expect("manifest JSON");
    assert_eq!(raw["config"]["digest"], id.as_str());
    assert_eq!(raw["layers"].as_array().map(Vec::len), Some(2), "{raw}");
    let inspected: serde_json::Value = serde_json::from_slice(&skopeo_inspect(&target, false)).expect("JSON");
    assert_eq!(inspected["Digest"], digest);

    // Byte for byte what the registry serves under the digest berth printed.
    let copy = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{target}"))
        .arg(format!("oci:{}:v1", copy.path().display()))
        .output()
        .expect("run skopeo copy");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    // umoci unpacks the copy (decompressing every layer and checking its diffID) to the same files.
    let bundle = copy.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", copy.path().display()))
        .arg(&bundle)
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("md5sum").args(["data/r", "data/t"]).current_dir(bundle.join("rootfs")).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).replace(" data/", " /data/"),
        sums,
        "umoci's files are the container's"
    );

    // Pushed again: nothing uploaded, every layer already there, the same digest.
    let again = env.ok(&["push", &target]);
    let layer_lines: Vec<&str> =
        lines(&again).into_iter().filter(|l| !l.starts_with("The push") && !l.contains("digest:")).collect();
    let settled: Vec<&str> = layer_lines.iter().copied().filter(|l| !l.ends_with(": Preparing")).collect();
    assert_eq!(settled.len(), 2, "{again}");
    assert!(settled.iter().all(|l| l.ends_with(": Layer already exists")), "{again}");
    assert_eq!(lines(&again).last().copied(), Some(last), "{again}");
    assert_eq!(uploads(registry, "bp/app"), 2, "a second push uploads nothing\n{}", registry.log());

    // Another repository of the same registry: both layers mounted.
    let other = registry.repo("bp/other:v1");
    env.ok(&["tag", &target, &other]);
    let mounted = env.ok(&["push", &other]);
    let settled: Vec<&str> = lines(&mounted)
        .into_iter()
        .filter(|l| !l.starts_with("The push") && !l.contains("digest:") && !l.ends_with(": Preparing"))
        .collect();
    assert_eq!(settled.len(), 2, "{mounted}");
    assert!(settled.iter().all(|l| l.contains(": Mounted from ")), "{mounted}");
    assert_eq!(uploads(registry, "bp/other"), 0, "{}", registry.log());

    // podman pulls and runs it: the whiteout and the hardlink are intact.
    if let Some(podman) = Podman::new("bp") {
        podman.ok(&["pull", "-q", "--tls-verify=false", &target]);
        let out = podman.ok(&[
            "--runtime",
            "runc",
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            &target,
            "sh",
            "-c",
            "cat /hello /data/f; ls /bin/ls 2>/dev/null || echo gone; stat -c %h /hello-link; \
             [ /hello -ef /hello-link ] && echo same; md5sum /data/r /data/t",
        ]);
        let expected: Vec<&str> = ["hi", "1", "gone", "2", "same"].into_iter().chain(lines(&sums)).collect();
        assert_eq!(lines(&out), expected, "{out}");
    }

    // Pulled by digest into a fresh root: the same image id, and it runs.
    let fresh = Env::new();
    let by_digest = format!("{}@{digest}", registry.repo("bp/app"));
    fresh.ok(&["pull", &by_digest]);
    assert_eq!(fresh.inspect(&by_digest)["Id"], id.as_str());
    let out = fresh.ok(&["run", "--rm", &by_digest, "sh", "-c", "cat /hello; ls /bin/ls 2>/dev/null || echo gone"]);
    assert_eq!(lines(&out), ["hi", "gone"]);
    assert_eq!(fresh.ok(&["run", "--rm", &by_digest, "sh", "-c", SUMS]), sums);
}

#[test]
fn bp_pulled_image_pushed_back_unchanged_keeps_its_digest() {
    if !require_root("bp_pulled_image_pushed_back_unchanged_keeps_its_digest") {
        return;
    }
    let env = Env::new();
    let registry = env.registry();
    let original = env.inspect("busybox")["RepoDigests"][0].as_str().unwrap_or_default().to_string();
    let (_, digest) = original.split_once('@').unwrap_or_else(|| panic!("a repo digest: {original}"));
    let target = registry.repo("bp/copy:v1");
    env.ok(&["tag", "busybox", &target]);
    let out = env.ok(&["push", &target]);
    let shown = lines(&out);
    assert!(shown.iter().any(|l| l.ends_with(": Mounted from busybox")), "{out}");
    assert!(!shown.iter().any(|l| l.ends_with(": Pushed")), "{out}");
    assert!(shown.last().is_some_and(|l| l.contains(&format!("digest: {digest} "))), "same digest: {out}");
    assert_eq!(uploads(registry, "bp/copy"), 0, "nothing uploaded, the config mounted too");
    let served = skopeo_inspect(&target, true);
    assert_eq!(skopeo_inspect(&format!("{}@{digest}", registry.repo("busybox")), true), served);
    let names = env.inspect(&target)["RepoDigests"].to_string();
    assert!(names.contains(&format!("{}@{digest}", registry.repo("bp/copy"))), "{names}");

    // --all-tags: every local tag of the repository, each with its closing line; -q prints the references.
    env.ok(&["tag", "busybox", &registry.repo("bp/copy:v2")]);
    let all = env.ok(&["push", "-a", &registry.repo("bp/copy")]);
    let closing: Vec<&str> = lines(&all).into_iter().filter(|l| l.contains(": digest: ")).collect();
    assert_eq!(closing.len(), 2, "{all}");
    assert!(closing[0].starts_with("v1: ") && closing[1].starts_with("v2: "), "{all}");
    let quiet = env.ok(&["push", "-q", &registry.repo("bp/copy:v2")]);
    assert_eq!(lines(&quiet), [registry.repo("bp/copy:v2")], "{quiet}");
    let (_, err) = env.fails(&["push", &registry.repo("bp/none:v1")]);
    assert!(err.contains("An image does not exist locally with the tag"), "{err}");
}
