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

/// A tar of regular files, each with `mode`.
fn tar_of(files: &[(&str, &[u8])], mode: u32) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
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
             RUN <<EOF\necho one > /app/heredoc.txt\necho two >> /app/heredoc.txt\nEOF\n\
             RUN <<EOF\n#!/bin/sh -e\necho \"script $0\" > /app/script.txt\nEOF\n\
             RUN echo \"$GREETING from run\" > /app/run.txt && echo bob:x:1234:1234::/home:/bin/sh >> /etc/passwd && rm /bin/ls\n\
             COPY <<EOF /app/inline.txt\ninline $GREETING\nEOF\n\
             USER bob\nWORKDIR /home/bob/work\nWORKDIR /app\nLABEL team=bbx\nEXPOSE 8080\nENTRYPOINT [\"sh\", \"-c\"]\nCMD [\"cat /app/hello.txt /app/run.txt /data/sub/x; id -u; pwd; stat -c %u /home/bob/work /home/bob /app\"]\n",
        ),
        ("hello.txt", "hi there\n"),
        ("dir/sub/x", "x-file\n"),
    ]);
    let (id, progress) = build(&env, ctx.path(), &["-t", "bbx-img:one"]);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}\n{progress}");
    assert!(progress.contains("#1 [stage-0 1/15] ENV GREETING=hello"), "{progress}");
    let out = env.ok(&["run", "--rm", "bbx-img:one"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["hi there", "hello from run", "x-file", "1234", "/app", "1234", "1234", "0"],
        "{out}"
    );
    let out = env.ok(&["run", "--rm", "--entrypoint", "", "bbx-img:one", "sh", "-c", "ls /bin/ls || echo gone"]);
    assert!(out.contains("gone"), "{out}");
    let out = env.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        "bbx-img:one",
        "cat",
        "/app/heredoc.txt",
        "/app/script.txt",
        "/app/inline.txt",
    ]);
    assert_eq!(out, "one\ntwo\nscript /.berth-heredoc/EOF\ninline hello\n");
    let out = env.ok(&["run", "--rm", "--entrypoint", "", "bbx-img:one", "sh", "-c", "ls -a / | grep -c berth; true"]);
    assert_eq!(out, "0\n", "the heredoc script's mount point must not land in the image");

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
    assert_eq!(cached_steps(&progress), 15, "{progress}");

    // `system df` counts the intermediate images as build cache; `builder prune` takes them, and the
    // tagged image stays and runs.
    let cache_count = |env: &Env| -> String {
        let df = env.ok(&["system", "df"]);
        let row = df.lines().find(|l| l.starts_with("Build Cache")).unwrap_or_else(|| panic!("{df}"));
        row.split_whitespace().nth(2).unwrap_or_default().to_string()
    };
    assert_ne!(cache_count(&env), "0");
    env.ok(&["builder", "prune", "-f"]);
    assert_eq!(cache_count(&env), "0");
    let out = env.ok(&["run", "--rm", "bbx-img:one"]);
    assert!(out.contains("hello from run"), "{out}");
    let (_, progress) = build(&env, ctx.path(), &["-t", "bbx-img:one"]);
    assert!(cached_steps(&progress) < 15, "{progress}");
}

#[test]
fn bbx_ctrl_c_stops_the_running_step_and_leaves_nothing() {
    if !require_root("bbx_ctrl_c_stops_the_running_step_and_leaves_nothing") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 68\n")]);
    let running = || {
        let out = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "sleep 68")
    };
    let child = env
        .command(&["build", ctx.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the build");
    env.wait_for("the step's command", 30, running);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    // Gone at once, not at the next build.
    assert!(!running());
    assert_eq!(container_dirs(&env), 0);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn bbx_stages_copy_from_and_target() {
    if !require_root("bbx_stages_copy_from_and_target") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/artifact\n\
         FROM busybox AS broken\nRUN exit 3\n\
         FROM busybox AS final\nCOPY --from=builder /out/artifact /srv/\nCMD [\"cat\", \"/srv/artifact\"]\n\
         FROM final AS other\nRUN echo other > /srv/other\n",
    )]);
    // The default target is the last stage; `broken` is needed by nothing and never runs.
    let (_, progress) = build(&env, ctx.path(), &["-t", "bbx-stages:all"]);
    assert!(!progress.contains("exit 3"), "{progress}");
    let out = env.ok(&["run", "--rm", "bbx-stages:all", "cat", "/srv/artifact", "/srv/other"]);
    assert_eq!(out, "built\nother\n");
    // --target stops at `final`: no /srv/other.
    build(&env, ctx.path(), &["--target", "final", "-t", "bbx-stages:final"]);
    let out = env.ok(&["run", "--rm", "bbx-stages:final"]);
    assert_eq!(out, "built\n");
    let out = env.ok(&["run", "--rm", "bbx-stages:final", "sh", "-c", "ls /srv"]);
    assert_eq!(out, "artifact\n");
    // The failing stage as target fails.
    let (_, err) = env.fails(&["build", "--target", "broken", ctx.path().to_str().unwrap()]);
    assert!(err.contains("exit code: 3"), "{err}");
}

#[test]
fn bbx_cache_keys_follow_content_not_times() {
    if !require_root("bbx_cache_keys_follow_content_not_times") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nARG FLAVOUR=plain\nCOPY app.txt /app.txt\nRUN echo $FLAVOUR > /flavour\n"),
        ("app.txt", "v1\n"),
        ("unrelated.txt", "a\n"),
    ]);
    let (first, progress) = build(&env, ctx.path(), &[]);
    assert_eq!(cached_steps(&progress), 0, "{progress}");
    // An unrelated edit and a touch of the copied file keep every hit.
    std::fs::write(ctx.path().join("unrelated.txt"), "b\n").unwrap();
    let app = ctx.path().join("app.txt");
    let file = std::fs::File::options().append(true).open(&app).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    drop(file);
    let (again, progress) = build(&env, ctx.path(), &[]);
    assert_eq!(cached_steps(&progress), 2, "{progress}");
    assert_eq!(again, first);
    // An ARG change misses the RUN only.
    let (_, progress) = build(&env, ctx.path(), &["--build-arg", "FLAVOUR=spicy"]);
    assert_eq!(cached_steps(&progress), 1, "{progress}");
    // An edited COPY source misses the COPY and what follows.
    std::fs::write(&app, "v2\n").unwrap();
    let (edited, progress) = build(&env, ctx.path(), &["-t", "bbx-cache:v2"]);
    assert_eq!(cached_steps(&progress), 0, "{progress}");
    assert_ne!(edited, first);
    assert_eq!(env.ok(&["run", "--rm", "bbx-cache:v2", "cat", "/app.txt", "/flavour"]), "v2\nplain\n");
    // --no-cache runs everything again.
    let (_, progress) = build(&env, ctx.path(), &["--no-cache"]);
    assert_eq!(cached_steps(&progress), 0, "{progress}");
}

#[test]
fn bbx_run_layers_keep_deletions_and_replaced_dirs() {
    if !require_root("bbx_run_layers_keep_deletions_and_replaced_dirs") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN mkdir -p /data/old && echo 1 > /data/old/f && echo keep > /data/keep\n\
         RUN rm /data/keep && rm -rf /data/old && mkdir /data/old && echo new > /data/old/g && rm /etc/group\n",
    )]);
    let (id, _) = build(&env, ctx.path(), &["-t", "bbx-wh:1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "bbx-wh:1",
        "sh",
        "-c",
        "ls -A /data; ls -A /data/old; test -e /etc/group || echo no-group; test -e /etc/hosts && echo hosts",
    ]);
    assert_eq!(out, "old\ng\nno-group\nhosts\n");
    // The layers pack back to the diffIDs recorded (the stubs never landed in them): a `save`-ready blob.
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &id])).unwrap();
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 3, "{inspect}");
    // As BuildKit's: only the image itself has an id, the entries below are `<missing>`.
    let history = env.ok(&["history", "-q", "bbx-wh:1"]);
    assert_eq!(history.lines().collect::<Vec<_>>(), [&id[7..19], "<missing>", "<missing>"], "{history}");
    let config = berth_engine::Config::load_from(&env.root().join("config.toml")).unwrap();
    let engine = berth_engine::Engine::open(berth_engine::EngineOptions { root: env.root().to_path_buf(), config })
        .expect("open the engine");
    for chain in &engine.image(&id).unwrap().layers[1..] {
        engine.layer_blob(chain).unwrap_or_else(|e| panic!("layer {chain}: {e}"));
    }
}

#[test]
fn bbx_failing_run_names_its_line_and_leaves_nothing() {
    if !require_root("bbx_failing_run_names_its_line_and_leaves_nothing") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo first > /first\nRUN echo some output && echo to stderr >&2 && exit 7\n",
    )]);
    let images_before = env.ok(&["images", "-q"]);
    let (code, err) = env.fails(&["build", "-t", "bbx-fail:1", ctx.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exit code: 7"), "{err}");
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("RUN echo some output"), "{err}");
    assert!(err.contains("to stderr"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]), images_before);
    assert!(env.fails(&["image", "inspect", "bbx-fail:1"]).1.contains("No such image"));
    assert_eq!(env.ok(&["ps", "-a", "-q"]).trim(), "");
    assert_eq!(container_dirs(&env), 0);
    let tmp: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "{mounts}");
    // What finished is reused.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN echo first > /first\nRUN true\n").unwrap();
    let (_, progress) = build(&env, ctx.path(), &[]);
    assert_eq!(cached_steps(&progress), 1, "{progress}");
}

#[test]
fn bbx_unsupported_or_wrong_steps_are_refused_by_name() {
    if !require_root("bbx_unsupported_or_wrong_steps_are_refused_by_name") {
        return;
    }
    let env = Env::new();
    // The registry's busybox is one image, not an index: pulled for another platform it is refused.
    let foreign = format!("FROM --platform=linux/s390x {}\nRUN true\n", env.reference);
    for (dockerfile, expected) in [
        ("FROM busybox\nRUN --mount=type=ssh true\n", "RUN --mount=type=ssh is not supported by berth"),
        ("FROM busybox\nADD http://127.0.0.1:9/x /x\n", "needs the network, and this build runs with --network none"),
        (foreign.as_str(), "does not match the specified platform: wanted linux/s390x"),
        ("FROM busybox\nCOPY missing.txt /x\n", "Dockerfile:2: COPY: \"/missing.txt\": not found"),
    ] {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        let (_, err) = env.fails(&["build", "--network", "none", ctx.path().to_str().unwrap()]);
        assert!(err.contains(expected), "{dockerfile}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]).trim(), "");
}

#[test]
fn bbx_a_killed_build_leaves_nothing_visible_and_its_finished_steps_are_reused() {
    if !require_root("bbx_a_killed_build_leaves_nothing_visible_and_its_finished_steps_are_reused") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo done > /done\nRUN sleep 67\n")]);
    let mut child = env
        .command(&["build", "-t", "bbx-killed:1", ctx.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the build");
    // The second RUN's container exists once the first step finished.
    env.wait_for("the sleeping step's container", 30, || {
        let out = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "sleep 67")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(env.fails(&["image", "inspect", "bbx-killed:1"]).1.contains("No such image"));
    let images = env.ok(&["images", "-q"]);
    assert_eq!(images.lines().count(), 1, "{images}");
    // The next build removes the orphan's container and reuses the first RUN.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN echo done > /done\nRUN true\n").unwrap();
    let (_, progress) = build(&env, ctx.path(), &[]);
    assert_eq!(cached_steps(&progress), 1, "{progress}");
    assert_eq!(container_dirs(&env), 0);
    let out = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "sleep 67"));
}

#[test]
fn bbx_independent_stages_build_at_once() {
    if !require_root("bbx_independent_stages_build_at_once") {
        return;
    }
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // `a` listens until `b` sends: built one after the other, `a` would time out with nothing. `b` sends from a
    // file, not a pipe: busybox nc reads a ready stdin before the socket, so the listener's half-close (its own
    // stdin is empty) cannot end `b`'s nc before "hello" is written, as it could while `echo` had not yet written.
    let dockerfile = format!(
        "FROM busybox AS a\nRUN timeout 30 nc -l -p {port} > /got; cat /got\n\
         FROM busybox AS b\nRUN echo hello > /msg; i=0; until nc 127.0.0.1 {port} < /msg; do i=$((i+1)); \
         [ $i -gt 150 ] && exit 1; sleep 0.2; done\n\
         FROM busybox\nCOPY --from=a /got /got\nCOPY --from=b /etc/group /b-group\n"
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    let (_, progress) = build(&env, ctx.path(), &["--network", "host", "-t", "bbx-par:1"]);
    assert_eq!(env.ok(&["run", "--rm", "bbx-par:1", "cat", "/got"]), "hello\n", "{progress}");
}

#[test]
fn bbx_add_extracts_local_archives_by_content() {
    if !require_root("bbx_add_extracts_local_archives_by_content") {
        return;
    }
    let env = Env::new();
    let tar_bytes = tar_of(&[("top.txt", b"top\n"), ("sub/inner.txt", b"inner\n")], 0o640);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nADD bundle.bin /opt/x/\nADD plain.txt /opt/plain.txt\n"),
        ("plain.txt", "p\n"),
    ]);
    // A gzip tar under a name that says nothing: ADD goes by content.
    std::fs::write(ctx.path().join("bundle.bin"), gz.finish().unwrap()).unwrap();
    build(&env, ctx.path(), &["-t", "bbx-add:1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "bbx-add:1",
        "sh",
        "-c",
        "cat /opt/x/top.txt /opt/x/sub/inner.txt /opt/plain.txt; stat -c %a /opt/x/top.txt; ls /opt/x",
    ]);
    assert_eq!(out, "top\ninner\np\n640\nsub\ntop.txt\n");
}

#[test]
fn bbx_onbuild_triggers_run_in_the_child_build() {
    if !require_root("bbx_onbuild_triggers_run_in_the_child_build") {
        return;
    }
    let env = Env::new();
    let parent = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD COPY seed.txt /seed.txt\nONBUILD RUN echo triggered > /triggered\n",
    )]);
    build(&env, parent.path(), &["-t", "bbx-onbuild:parent"]);
    assert_eq!(
        env.inspect("bbx-onbuild:parent")["Config"]["OnBuild"],
        serde_json::json!(["COPY seed.txt /seed.txt", "RUN echo triggered > /triggered"]),
        "image inspect shows the triggers as docker does"
    );
    let child = context(&[
        ("Dockerfile", "FROM bbx-onbuild:parent\nRUN cat /seed.txt /triggered > /both\n"),
        ("seed.txt", "seed\n"),
    ]);
    build(&env, child.path(), &["-t", "bbx-onbuild:child"]);
    assert_eq!(env.ok(&["run", "--rm", "bbx-onbuild:child", "cat", "/both"]), "seed\ntriggered\n");
    // The child does not pass the triggers on: a grandchild without seed.txt in its context builds.
    let grandchild = context(&[("Dockerfile", "FROM bbx-onbuild:child\nRUN true\n")]);
    build(&env, grandchild.path(), &[]);
}

#[test]
fn bbx_run_mounts_cache_bind_tmpfs_and_secret() {
    if !require_root("bbx_run_mounts_cache_bind_tmpfs_and_secret") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox AS tools\nRUN mkdir -p /opt/t && echo tool > /opt/t/x && ln -s /opt/t /t-link\n\
             FROM busybox\n\
             RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n\
             RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/f > /copied\n\
             RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && echo tmp-ok > /tmp-ok\n\
             RUN --mount=type=secret,id=tok,required=true wc -c < /run/secrets/tok > /secret-len\n\
             RUN --mount=type=secret,id=tok,env=TOK echo ${#TOK} > /secret-env-len\n\
             RUN --mount=type=bind,from=tools,source=/t-link,target=/tools cat /tools/x > /from-stage\n",
        ),
        ("data/f", "bound\n"),
        ("tok.txt", "s3cret"),
    ]);
    let secret = format!("id=tok,src={}", ctx.path().join("tok.txt").display());
    build(&env, ctx.path(), &["--secret", &secret, "-t", "bbx-mounts:1"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "the from= stage stays mounted: {mounts}");
    let out = env.ok(&[
        "run",
        "--rm",
        "bbx-mounts:1",
        "sh",
        "-c",
        "cat /count /copied /tmp-ok; tr -d ' ' < /secret-len; cat /secret-env-len /from-stage",
    ]);
    assert_eq!(out, "1\nbound\ntmp-ok\n6\n6\ntool\n");
    // The mount targets (and the directories made for them) are not in the image.
    let out = env.ok(&[
        "run",
        "--rm",
        "bbx-mounts:1",
        "sh",
        "-c",
        "ls -d /cache /mnt /scratch /run /tools 2>/dev/null; true",
    ]);
    assert_eq!(out, "");
    let history = env.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "bbx-mounts:1"]);
    assert!(!history.contains("s3cret"), "{history}");
    // The cache mount keeps its content between builds; an edit of a bound file misses the cache.
    std::fs::write(ctx.path().join("data/f"), "bound again\n").unwrap();
    build(&env, ctx.path(), &["--no-cache", "--secret", &secret, "-t", "bbx-mounts:2"]);
    assert_eq!(env.ok(&["run", "--rm", "bbx-mounts:2", "cat", "/count", "/copied"]), "2\nbound again\n");
    let (_, err) = env.fails(&["build", "--no-cache", ctx.path().to_str().unwrap()]);
    assert!(err.contains("secret tok not found"), "{err}");
}

#[test]
fn bbx_copy_keeps_links_and_applies_chown_and_chmod() {
    if !require_root("bbx_copy_keeps_links_and_applies_chown_and_chmod") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo app:x:1500:1600::/:/bin/sh >> /etc/passwd && echo app:x:1600: >> /etc/group\n\
             COPY --chown=app tree /tree\nCOPY --chmod=0750 tree/a.sh /bin/a.sh\nCOPY --chown=7:8 --chmod=u=rw,go= tree/a.sh /x/\n\
             COPY --exclude=*.sh --exclude=sub tree /ex/\nCOPY --parents tree/sub/b ./tree/./a.sh /par/\n",
        ),
        ("tree/a.sh", "echo a\n"),
        ("tree/sub/b", "b\n"),
    ]);
    std::os::unix::fs::symlink("sub/b", ctx.path().join("tree/link")).unwrap();
    std::fs::hard_link(ctx.path().join("tree/sub/b"), ctx.path().join("tree/hard")).unwrap();
    build(&env, ctx.path(), &["-t", "bbx-copy:1"]);
    let out = env.ok(&["run", "--rm", "bbx-copy:1", "sh", "-c", "cd /ex && ls -A; cd /par && find . | sort"]);
    assert_eq!(out, "hard\nlink\n.\n./a.sh\n./tree\n./tree/sub\n./tree/sub/b\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "bbx-copy:1",
        "sh",
        "-c",
        "stat -c '%n %u:%g %a %h' /tree /tree/sub /tree/sub/b /tree/hard /bin/a.sh /x /x/a.sh; readlink /tree/link; \
         test /tree/sub/b -ef /tree/hard && echo same-inode",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/tree 1500:1600 755 3",
            "/tree/sub 1500:1600 755 2",
            "/tree/sub/b 1500:1600 644 2",
            "/tree/hard 1500:1600 644 2",
            "/bin/a.sh 0:0 750 1",
            "/x 7:8 755 2",
            "/x/a.sh 7:8 600 1",
            "sub/b",
            "same-inode"
        ],
        "{out}"
    );
}

/// Runs `berth build -q` with extra environment; returns the image id.
fn build_with_env(env: &Env, ctx: &Path, extra: &[&str], vars: &[(&str, &str)]) -> String {
    let mut args = vec!["build", "-q"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    let mut cmd = env.command(&args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn bbx_source_date_epoch_makes_builds_reproducible() {
    if !require_root("bbx_source_date_epoch_makes_builds_reproducible") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY f /f\nRUN echo ran > /ran && mkdir -p /d/e\nENV A=1\n"),
        ("f", "f\n"),
    ]);
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let first = build_with_env(&env, ctx.path(), &["--no-cache"], &epoch);
    let second = build_with_env(&env, ctx.path(), &["--no-cache"], &epoch);
    assert_eq!(first, second);
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &first])).unwrap();
    assert_eq!(inspect[0]["Created"], "2023-11-14T22:13:20Z");
    // Without it, the times differ and so do the ids.
    let third = build_with_env(&env, ctx.path(), &["--no-cache"], &[]);
    assert_ne!(third, first);
}

#[test]
fn bbx_two_builds_at_once_both_succeed() {
    if !require_root("bbx_two_builds_at_once_both_succeed") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY f /f\nRUN sleep 0.3 && cat /f > /g\n"), ("f", "f\n")]);
    let spawn = |tag: &str| {
        env.command(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("bbx-two:a"), spawn("bbx-two:b"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for tag in ["bbx-two:a", "bbx-two:b"] {
        assert_eq!(env.ok(&["run", "--rm", tag, "cat", "/g"]), "f\n");
    }
    assert_eq!(container_dirs(&env), 0);
}

#[test]
fn bbx_add_downloads_urls_and_checks_their_checksum() {
    if !require_root("bbx_add_downloads_urls_and_checks_their_checksum") {
        return;
    }
    let env = Env::new();
    // The local registry's base endpoint answers `{}`.
    let url = format!("http://{}/v2/", env.registry().host());
    let sum = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD {url} /dl/\nADD --checksum={sum} {url} /checked.json\n"),
    )]);
    build(&env, ctx.path(), &["-t", "bbx-url:1"]);
    let out = env.ok(&["run", "--rm", "bbx-url:1", "sh", "-c", "cat /dl/index.html; echo; stat -c %a /checked.json"]);
    assert_eq!(out, "{}\n600\n");
    let bad = context(&[("Dockerfile", &format!("FROM busybox\nADD --checksum=sha256:{} {url} /x\n", "0".repeat(64)))]);
    let (_, err) = env.fails(&["build", bad.path().to_str().unwrap()]);
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn bbx_dockerignore_and_pull() {
    if !require_root("bbx_dockerignore_and_pull") {
        return;
    }
    let env = Env::new();
    // The registry's own name, so --pull has somewhere to pull from.
    let dockerfile = format!("FROM {}\nCOPY . /ctx/\n", env.reference);
    let ctx = context(&[
        ("Dockerfile", &dockerfile),
        ("Dockerfile.dockerignore", "*.log\n!keep.log\nsecret/\n"),
        ("a.log", "no\n"),
        ("keep.log", "yes\n"),
        ("secret/key", "no\n"),
        ("sub/b.log", "nested logs are not root-level\n"),
    ]);
    let (_, progress) = build(&env, ctx.path(), &["--pull", "-t", "bbx-ignore:1"]);
    assert!(progress.contains(&format!("pulling {}", env.reference)), "{progress}");
    let out = env.ok(&["run", "--rm", "bbx-ignore:1", "sh", "-c", "cd /ctx && find . -type f | sort"]);
    assert_eq!(out, "./Dockerfile\n./Dockerfile.dockerignore\n./keep.log\n./sub/b.log\n");
}

#[test]
fn bbx_scratch_with_files_copied_from_an_image() {
    if !require_root("bbx_scratch_with_files_copied_from_an_image") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\nCOPY hello /hello\n\
             ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"cat\", \"/hello\"]\n",
        ),
        ("hello", "from scratch\n"),
    ]);
    let (id, _) = build(&env, ctx.path(), &["-t", "bbx-scratch:1"]);
    assert_eq!(env.ok(&["run", "--rm", "bbx-scratch:1"]), "from scratch\n");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &id])).unwrap();
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len), Some(2), "{inspect}");
    // A RUN needs a shell in the image; scratch has none.
    let bad = context(&[("Dockerfile", "FROM scratch\nRUN true\n")]);
    let (_, err) = env.fails(&["build", bad.path().to_str().unwrap()]);
    assert!(err.contains("Dockerfile:2: RUN"), "{err}");
}

#[test]
fn bbx_quiet_iidfile_labels_and_stdin_inputs() {
    if !require_root("bbx_quiet_iidfile_labels_and_stdin_inputs") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY f /f\n"), ("f", "from-dir\n")]);
    let iid = ctx.path().join("iid");
    let out = env.run(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "--label",
        "a=b",
        "-t",
        "bbx-q:1",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "bbx-q:1"])).unwrap();
    assert_eq!(inspect[0]["Config"]["Labels"]["a"], "b");

    // `-f -`: the Dockerfile on stdin, the context a directory.
    let mut child = env
        .command(&["build", "-q", "-f", "-", "-t", "bbx-q:2", ctx.path().to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"FROM busybox\nCOPY f /g\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(env.ok(&["run", "--rm", "bbx-q:2", "cat", "/g"]), "from-dir\n");

    // `-`: the context is a tar on stdin, its Dockerfile inside.
    let tar_bytes = tar_of(&[("Dockerfile", b"FROM busybox\nCOPY t /t\n"), ("t", b"from-tar\n")], 0o644);
    let mut child = env
        .command(&["build", "-q", "-t", "bbx-q:3", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar_bytes).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(env.ok(&["run", "--rm", "bbx-q:3", "cat", "/t"]), "from-tar\n");
    let tmp: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "the unpacked context must go with the build: {tmp:?}");
}

/// An archive with owners, modes, set-id bits, times, a symlink, a hardlink and a directory only implied.
fn owned_archive() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let entry = |kind: tar::EntryType, mode: u32, (uid, gid): (u64, u64), mtime: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(mtime);
        header.set_size(0);
        header
    };
    builder.append_data(&mut entry(tar::EntryType::Directory, 0o750, (1234, 5678), 1_000_000), "d/", &[][..]).unwrap();
    let mut file = entry(tar::EntryType::Regular, 0o4755, (42, 43), 1_234_567);
    file.set_size(2);
    builder.append_data(&mut file, "d/f", &b"f\n"[..]).unwrap();
    builder.append_link(&mut entry(tar::EntryType::Symlink, 0o777, (7, 8), 1_000), "d/l", "f").unwrap();
    builder.append_link(&mut entry(tar::EntryType::Link, 0o4755, (42, 43), 1_234_567), "d/h", "d/f").unwrap();
    let mut implied = entry(tar::EntryType::Regular, 0o600, (5, 6), 2_000_000);
    implied.set_size(2);
    builder.append_data(&mut implied, "implied/x", &b"x\n"[..]).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn bbr_add_archives_keep_owners_modes_and_times_in_every_compression() {
    if !require_root("bbr_add_archives_keep_owners_modes_and_times_in_every_compression") {
        return;
    }
    let env = Env::new();
    let tar = owned_archive();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    std::io::Write::write_all(&mut bz, &tar).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, &tar).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nADD a.bin /bz/\nADD b.bin /xz/\nADD plain.tar /plain\nADD --chown=11:12 c.bin /own/new/\n",
    )]);
    // Names that say nothing: ADD goes by content.
    std::fs::write(ctx.path().join("a.bin"), bz.finish().unwrap()).unwrap();
    std::fs::write(ctx.path().join("b.bin"), xz.finish().unwrap()).unwrap();
    std::fs::write(ctx.path().join("c.bin"), gz.finish().unwrap()).unwrap();
    std::fs::write(ctx.path().join("plain.tar"), &tar).unwrap();
    build(&env, ctx.path(), &["-t", "bbr-add:1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "bbr-add:1",
        "sh",
        "-c",
        "for d in /bz /xz /plain; do stat -c '%n %u:%g %a %Y' $d/d $d/d/f $d/implied/x; stat -c '%n %u:%g %h' $d/d/l $d/d/h; \
         stat -c '%n %u:%g %a' $d/implied; done; stat -c '%n %u:%g %a' /own/new/d/f /own/new/d /own/new /own/new/implied/x /own; \
         cat /xz/d/h /plain/implied/x",
    ]);
    let mut expected = String::new();
    for d in ["/bz", "/xz", "/plain"] {
        expected.push_str(&format!(
            "{d}/d 1234:5678 750 1000000\n{d}/d/f 42:43 4755 1234567\n{d}/implied/x 5:6 600 2000000\n\
             {d}/d/l 7:8 1\n{d}/d/h 42:43 2\n{d}/implied 0:0 755\n"
        ));
    }
    // --chown replaces every entry's owner and owns the directory ADD made; the parent it made too.
    expected.push_str(
        "/own/new/d/f 11:12 4755\n/own/new/d 11:12 750\n/own/new 11:12 755\n/own/new/implied/x 11:12 600\n/own 11:12 755\n",
    );
    expected.push_str("f\nx\n");
    assert_eq!(out, expected);
}

/// An HTTP server on 127.0.0.1 serving `/file` (with an ETag and Last-Modified, answering `If-None-Match`
/// with 304) and `/pinned`, counting requests by method and path.
struct CountingServer {
    port: u16,
    file: std::sync::Arc<std::sync::Mutex<(String, String)>>,
    counts: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
}

impl CountingServer {
    fn start() -> CountingServer {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let file = std::sync::Arc::new(std::sync::Mutex::new(("one\n".to_string(), "\"v1\"".to_string())));
        let counts = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let (served, counted) = (file.clone(), counts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(value.trim().to_string());
                    }
                }
                let mut words = request.split_whitespace();
                let (method, path) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
                *counted.lock().unwrap().entry(format!("{method} {path}")).or_insert(0) += 1;
                let (body, etag) = match path.as_str() {
                    "/file" => served.lock().unwrap().clone(),
                    _ => ("pinned\n".to_string(), "\"p\"".to_string()),
                };
                let head =
                    format!("ETag: {etag}\r\nLast-Modified: Tue, 01 Jan 2019 00:00:00 GMT\r\nConnection: close\r\n");
                let response = if if_none_match.as_deref() == Some(etag.as_str()) {
                    format!("HTTP/1.1 304 Not Modified\r\n{head}\r\n")
                } else if method == "HEAD" {
                    format!("HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\n\r\n", body.len())
                } else {
                    format!("HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\n\r\n{body}", body.len())
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        CountingServer { port, file, counts }
    }

    fn count(&self, request: &str) -> usize {
        self.counts.lock().unwrap().get(request).copied().unwrap_or(0)
    }
}

#[test]
fn bbr_add_url_is_not_downloaded_again_while_unchanged() {
    if !require_root("bbr_add_url_is_not_downloaded_again_while_unchanged") {
        return;
    }
    let env = Env::new();
    let server = CountingServer::start();
    let pinned_sum = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"pinned\n")))
    };
    let base = format!("http://127.0.0.1:{}", server.port);
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD {base}/file /dl/\nADD --checksum={pinned_sum} {base}/pinned /p\nRUN cat /dl/file /p > /both\n"
        ),
    )]);
    let (first, _) = build(&env, ctx.path(), &["-t", "bbr-url:1"]);
    assert_eq!((server.count("GET /file"), server.count("GET /pinned")), (1, 1));
    // Unchanged: the ETag is asked about and every step comes from the cache; the pinned URL is not asked
    // about at all (its checksum is its key).
    let (again, progress) = build(&env, ctx.path(), &["-t", "bbr-url:1"]);
    assert_eq!(again, first, "{progress}");
    assert_eq!(cached_steps(&progress), 3, "{progress}");
    assert_eq!((server.count("GET /file"), server.count("HEAD /file")), (1, 1));
    assert_eq!((server.count("GET /pinned"), server.count("HEAD /pinned")), (1, 0));
    // Changed (a new ETag): downloaded again, and the image has the new content.
    *server.file.lock().unwrap() = ("two\n".to_string(), "\"v2\"".to_string());
    let (changed, progress) = build(&env, ctx.path(), &["-t", "bbr-url:1"]);
    assert_ne!(changed, first, "{progress}");
    assert_eq!(server.count("GET /file"), 2);
    assert_eq!(env.ok(&["run", "--rm", "bbr-url:1", "cat", "/both"]), "two\npinned\n");
    // --no-cache asks nothing and downloads everything.
    let heads = server.count("HEAD /file");
    build(&env, ctx.path(), &["--no-cache", "-t", "bbr-url:1"]);
    assert_eq!((server.count("GET /file"), server.count("HEAD /file")), (3, heads));
}

#[test]
fn bbr_cache_mount_from_a_stage_or_image_is_seeded_with_its_source() {
    if !require_root("bbr_cache_mount_from_a_stage_or_image_is_seeded_with_its_source") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS seed\n\
         RUN mkdir -p /data/sub && echo seeded > /data/sub/f && chown -R 7:8 /data && chmod 0750 /data/sub\n\
         FROM busybox\n\
         RUN --mount=type=cache,target=/c,from=seed,source=/data cat /c/sub/f > /out && \
         stat -c '%u:%g %a' /c/sub /c >> /out && echo more > /c/added\n\
         RUN --mount=type=cache,target=/c,from=seed,source=/data cat /c/added >> /out\n\
         RUN --mount=type=cache,target=/e,from=busybox,source=/etc test -s /e/passwd && echo image >> /out\n\
         COPY --from=seed /data /seedcopy\n",
    )]);
    build(&env, ctx.path(), &["-t", "bbr-cachefrom:1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "bbr-cachefrom:1",
        "sh",
        "-c",
        "cat /out; ls /seedcopy; ls /c /e 2>&1 | wc -l; stat -c '%u:%g %a' /seedcopy/sub /seedcopy/sub/f",
    ]);
    // Seeded with owners and modes, kept between steps, the stage itself untouched, nothing in the image;
    // COPY --from keeps the stage's owners too.
    assert_eq!(out, "seeded\n7:8 750\n7:8 755\nmore\nimage\nsub\n2\n7:8 750\n7:8 644\n");
}

#[test]
fn bbr_cache_mount_sharing_locked_waits_and_private_takes_its_own() {
    if !require_root("bbr_cache_mount_sharing_locked_waits_and_private_takes_its_own") {
        return;
    }
    let env = Env::new();
    // Stages a and b build at once; each writes a private cache, waits, reads it back, then appends to a
    // locked one around a wait.
    let stage = |name: &str| {
        format!(
            "FROM busybox AS {name}\n\
             RUN --mount=type=cache,id=pv,target=/p,sharing=private echo {name} > /p/who; sleep 1; cat /p/who > /mine\n\
             RUN --mount=type=cache,id=lk,target=/l,sharing=locked echo start-{name} >> /l/log; sleep 1; echo end-{name} >> /l/log\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox\nCOPY --from=a /mine /a\nCOPY --from=b /mine /b\n\
         RUN --mount=type=cache,id=lk,target=/l,sharing=locked cp /l/log /log\n",
        stage("a"),
        stage("b")
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    build(&env, ctx.path(), &["-t", "bbr-sharing:1"]);
    let out = env.ok(&["run", "--rm", "bbr-sharing:1", "cat", "/a", "/b", "/log"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["a", "b"], "each private cache is its own: {out}");
    // One step at a time in the locked cache: each start followed by its own end.
    let log = &lines[2..];
    assert_eq!(log.len(), 4, "{out}");
    assert!(log[0].starts_with("start-") && log[2].starts_with("start-"), "{out}");
    assert_eq!(log[1], log[0].replace("start", "end"), "{out}");
    assert_eq!(log[3], log[2].replace("start", "end"), "{out}");
}

#[test]
fn bbr_rw_bind_of_the_context_takes_writes_and_discards_them() {
    if !require_root("bbr_rw_bind_of_the_context_takes_writes_and_discards_them") {
        return;
    }
    let env = Env::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=bind,source=src,target=/src,rw echo changed > /src/f && touch /src/new && cat /src/f > /out\n\
             RUN --mount=type=bind,source=one.txt,target=/one,rw echo more >> /one && cat /one >> /out\n\
             RUN --mount=type=bind,source=src,target=/s touch /s/x 2>/dev/null || echo read-only >> /out\n",
        ),
        ("src/f", "original\n"),
        ("one.txt", "one\n"),
    ]);
    build(&env, ctx.path(), &["-t", "bbr-rw:1"]);
    assert_eq!(env.ok(&["run", "--rm", "bbr-rw:1", "cat", "/out"]), "changed\none\nmore\nread-only\n");
    // The user's files are untouched, and no view stays mounted.
    assert_eq!(std::fs::read_to_string(ctx.path().join("src/f")).unwrap(), "original\n");
    assert!(!ctx.path().join("src/new").exists());
    assert_eq!(std::fs::read_to_string(ctx.path().join("one.txt")).unwrap(), "one\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "a view stays mounted: {mounts}");
}
