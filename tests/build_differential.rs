//! `berth build` against `podman build --format docker` on Dockerfiles whose semantics buildah and BuildKit
//! share: the images must hold the same files (paths, types, modes, owners, link targets, contents) where
//! the Dockerfiles write, and the same config. Needs root and podman with runc (scripts/deps.sh); skips
//! loudly otherwise, and CI=true forbids skipping.

mod rt;
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use rt::{Env, require_root};
use support::podman::Podman;

/// One entry of an image's file tree as both engines must agree on it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: String,
    mode: u32,
    owner: (u64, u64),
    link: Option<String>,
    content: Option<String>,
}

/// The entries of a tar stream under `prefixes` (paths without a leading `/`).
fn tree(tar_bytes: &[u8], prefixes: &[&str]) -> BTreeMap<String, Entry> {
    use sha2::Digest;
    use std::io::Read;
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
        if !prefixes.iter().any(|p| path == *p || path.starts_with(&format!("{p}/"))) {
            continue;
        }
        let header = entry.header().clone();
        let kind = format!("{:?}", header.entry_type());
        let link = entry.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let content = if header.entry_type().is_file() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            Some(hex::encode(sha2::Sha256::digest(&data)))
        } else {
            None
        };
        let e = Entry {
            kind,
            mode: header.mode().unwrap() & 0o7777,
            owner: (header.uid().unwrap(), header.gid().unwrap()),
            link,
            content,
        };
        out.insert(path, e);
    }
    // `berth cp` writes every file in full (no hardlink entries) while `podman export` links repeats:
    // compare a hardlink as the file it names.
    let links: Vec<(String, String)> = out
        .iter()
        .filter(|(_, e)| e.kind == "Link")
        .filter_map(|(p, e)| e.link.clone().map(|l| (p.clone(), l.trim_start_matches("./").to_string())))
        .collect();
    for (path, target) in links {
        if let Some(t) = out.get(&target) {
            let resolved =
                Entry { kind: t.kind.clone(), mode: t.mode, owner: t.owner, link: None, content: t.content.clone() };
            out.insert(path, resolved);
        }
    }
    out
}

/// The config fields both engines set, from `image inspect`; buildah's own label left out.
fn config(inspect: &[u8]) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_slice(inspect).unwrap();
    let c = &value[0]["Config"];
    let mut labels = c["Labels"].clone();
    if let Some(map) = labels.as_object_mut() {
        map.remove("io.buildah.version");
    }
    let empty_is_null = |v: &serde_json::Value| match v {
        serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
        serde_json::Value::Array(a) if a.is_empty() => serde_json::Value::Null,
        serde_json::Value::String(s) if s.is_empty() => serde_json::Value::Null,
        other => other.clone(),
    };
    serde_json::json!({
        "Env": empty_is_null(&c["Env"]),
        "Cmd": empty_is_null(&c["Cmd"]),
        "Entrypoint": empty_is_null(&c["Entrypoint"]),
        "WorkingDir": empty_is_null(&c["WorkingDir"]),
        "User": empty_is_null(&c["User"]),
        "ExposedPorts": empty_is_null(&c["ExposedPorts"]),
        "Volumes": empty_is_null(&c["Volumes"]),
        "StopSignal": empty_is_null(&c["StopSignal"]),
        "Labels": empty_is_null(&labels),
    })
}

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("bbx-diff-").tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Builds `ctx` with both engines and compares the trees under `prefixes` and the configs.
fn compare(env: &Env, podman: &Podman, ctx: &Path, prefixes: &[&str]) {
    let ctx = ctx.to_str().unwrap();
    let berth_id = env.ok(&["build", "-q", "--network", "none", ctx]).trim().to_string();
    let podman_id = podman
        .ok(&[
            "build",
            "-q",
            "--format",
            "docker",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            "--tls-verify=false",
            ctx,
        ])
        .trim()
        .to_string();

    let berth_ctr = env.ok(&["create", &berth_id, "true"]).trim().to_string();
    let berth_tar = env.command(&["cp", &format!("{berth_ctr}:/"), "-"]).output().unwrap();
    assert!(berth_tar.status.success(), "{}", String::from_utf8_lossy(&berth_tar.stderr));
    env.ok(&["rm", &berth_ctr]);
    let podman_ctr = podman.ok(&["create", &podman_id, "true"]).trim().to_string();
    let podman_tar = podman.ok_bytes(&["export", &podman_ctr]);
    podman.ok(&["rm", &podman_ctr]);

    // berth's cp archive names the root `./…` or `…`; podman's export has no prefix.
    let ours = tree(&berth_tar.stdout, prefixes);
    let theirs = tree(&podman_tar, prefixes);
    assert!(!theirs.is_empty(), "podman's image has nothing under {prefixes:?}");
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "paths differ");
    for (path, entry) in &theirs {
        assert_eq!(&ours[path], entry, "{path} differs (left berth, right podman)");
    }
    let ours = config(env.ok(&["image", "inspect", &berth_id]).as_bytes());
    let theirs = config(&podman.ok_bytes(&["image", "inspect", &podman_id]));
    assert_eq!(ours, theirs, "configs differ (left berth, right podman)");
}

#[test]
fn bbx_differential_files_and_config_match_podman_build() {
    if !require_root("bbx_differential_files_and_config_match_podman_build") {
        return;
    }
    let Some(podman) = Podman::new("bbx") else { return };
    let env = Env::new();
    podman.ok(&["pull", "-q", "--tls-verify=false", &env.reference]);
    let dockerfile = format!(
        "FROM {}\nARG GREETING=hi\nENV APP=/app MODE=prod\nWORKDIR $APP\nCOPY a.txt b.txt ./\nCOPY dir /data/\n\
         COPY --chown=10:20 a.txt /owned/a\nCOPY --chmod=0600 b.txt /secret/b\nADD bundle.tar /unpacked/\n\
         RUN mkdir -p /made/deep && echo \"$GREETING $MODE\" > /made/deep/f && ln -s deep/f /made/link \
         && ln /made/deep/f /made/hard && rm /data/sub/gone && chmod 0711 /made\n\
         LABEL team=bbx version=1\nEXPOSE 8080 53/udp\nVOLUME /vol\nSTOPSIGNAL SIGTERM\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"cat /app/a.txt\"]\n",
        env.reference
    );
    let ctx = context(&[
        ("Dockerfile", &dockerfile),
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("dir/x", "x\n"),
        ("dir/sub/y", "y\n"),
        ("dir/sub/gone", "gone\n"),
    ]);
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o640);
        header.set_uid(0);
        header.set_gid(0);
        builder.append_data(&mut header, "in/t.txt", &b"tar"[..]).unwrap();
        builder.finish().unwrap();
    }
    std::fs::write(ctx.path().join("bundle.tar"), tar_bytes).unwrap();
    compare(&env, &podman, ctx.path(), &["app", "data", "owned", "secret", "unpacked", "made"]);

    // Stages: COPY --from a stage's directory and file, a link among them, a numeric USER, shell-form CMD.
    let dockerfile = format!(
        "FROM {r} AS build\nRUN mkdir /out && echo built > /out/bin && ln -s bin /out/alias && chmod 750 /out/bin\n\
         FROM {r}\nCOPY --from=build /out /opt/\nCOPY --from=build /out/bin /usr/local/bin/tool\n\
         USER 1000:1000\nCMD echo done\n",
        r = env.reference
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    compare(&env, &podman, ctx.path(), &["opt", "usr"]);
}
