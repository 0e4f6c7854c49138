//! `berth build` on real Dockerfiles from the local registry's busybox: RUN, COPY, metadata, stages,
//! the cache, failures and what they leave behind. Needs root (skips loudly otherwise; CI=true forbids
//! skipping).

mod rt;
mod support;

use std::path::Path;

use rt::{Env, require_root};

/// A build context with these files (`Dockerfile` among them).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("bbx-ctx-").tempdir().expect("context dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn build(env: &Env, ctx: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let ctx = ctx.to_str().unwrap();
    args.push(ctx);
    let out = env.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "berth {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
    (stdout.trim().to_string(), stderr)
}

fn cached_steps(progress: &str) -> usize {
    progress.lines().filter(|l| l.ends_with(" CACHED")).count()
}

/// Containers, including hidden ones: the state root's container directories.
fn container_dirs(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("containers")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn bbx_run_copy_and_metadata_make_a_working_image() {
    if !require_root("bbx_run_copy_and_metadata_make_a_working_image") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV GREETING=hello\nWORKDIR /app\nCOPY hello.txt ./\nCOPY dir/ /data/\n\
             RUN echo \"$GREETING from run\" > /app/run.txt && echo bob:x:1234:1234::/home:/bin/sh >> /etc/passwd && rm /bin/ls\n\
             USER bob\nLABEL team=bbx\nEXPOSE 8080\nENTRYPOINT [\"sh\", \"-c\"]\nCMD [\"cat /app/hello.txt /app/run.txt /data/sub/x; id -u; pwd\"]\n",
        ),
        ("hello.txt", "hi there\n"),
        ("dir/sub/x", "x-file\n"),
    ]);
    let (id, progress) = build(&env, ctx.path(), &["-t", "bbx-img:one"]);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}\n{progress}");
    assert!(progress.contains("#1 [stage-0 1/10] ENV GREETING=hello"), "{progress}");
    let out = env.ok(&["run", "--rm", "bbx-img:one"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["hi there", "hello from run", "x-file", "1234", "/app"], "{out}");
    let out = env.ok(&["run", "--rm", "--entrypoint", "", "bbx-img:one", "sh", "-c", "ls /bin/ls || echo gone"]);
    assert!(out.contains("gone"), "{out}");

    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "bbx-img:one"])).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "bob");
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["Labels"]["team"], "bbx");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert!(config["Env"].as_array().unwrap().iter().any(|e| e == "GREETING=hello"), "{config}");
    let history = env.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "bbx-img:one"]);
    assert!(history.contains("RUN /bin/sh -c echo \"$GREETING from run\""), "{history}");
    assert!(history.contains("COPY hello.txt ./ # buildkit"), "{history}");

    // Only the built image shows; no build container is left, visible or not.
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.lines().filter(|l| !l.contains("busybox")).collect::<Vec<_>>(), ["bbx-img:one"], "{images}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]).trim(), "");
    assert_eq!(container_dirs(&env), 0);

    // Everything again: every step from the cache, the same image.
    let (again, progress) = build(&env, ctx.path(), &["-t", "bbx-img:one"]);
    assert_eq!(again, id, "{progress}");
    assert_eq!(cached_steps(&progress), 10, "{progress}");

    // `builder prune` takes the intermediate images; the tagged one stays and runs.
    env.ok(&["builder", "prune", "-f"]);
    let out = env.ok(&["run", "--rm", "bbx-img:one"]);
    assert!(out.contains("hello from run"), "{out}");
    let (_, progress) = build(&env, ctx.path(), &["-t", "bbx-img:one"]);
    assert!(cached_steps(&progress) < 10, "{progress}");
}
