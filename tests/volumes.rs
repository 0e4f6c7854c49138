//! Volumes, bind mounts, tmpfs and `cp` with real containers, run by the `berth` binary as a user runs it.
//! Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::path::Path;

use rt::{Env, require_root};
use support::berth::Decoys;
use support::oci::{Compression, LayerBuilder, Meta, busybox_with_volumes};
use support::registry::{PushFormat, Registry};

/// Pushes `image` to a fresh local registry and pulls it into `env` under `name`.
fn add_image(env: &Env, registry: &Registry, image: &support::oci::Image, name: &str) {
    let reference = registry.push_image(image, &format!("{name}:latest"), PushFormat::Oci);
    env.ok(&["pull", "-q", &reference]);
    env.ok(&["tag", &reference, name]);
}

fn volume_names(env: &Env, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    env.ok(&args).lines().map(str::to_string).collect()
}

#[test]
fn named_volume_outlives_its_containers_and_is_refused_removal_while_used() {
    if !require_root("named_volume_outlives_its_containers_and_is_refused_removal_while_used") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
    let out = env.ok(&["run", "--rm", "-v", "data:/srv/d:ro", "busybox", "cat", "/srv/d/f"]);
    assert_eq!(out, "kept\n");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "data"])).unwrap();
    let mountpoint = inspect[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(Path::new(&mountpoint).join("f")).unwrap(), "kept\n");
    assert_eq!((inspect[0]["Driver"].as_str(), inspect[0]["Scope"].as_str()), (Some("local"), Some("local")));

    env.ok(&["create", "--name", "holder", "-v", "data:/data", "busybox", "true"]);
    let mounts = &env.inspect("holder")["Mounts"];
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(mounts[0]["RW"], true);
    let (_, err) = env.fails(&["volume", "rm", "data"]);
    assert!(err.contains("volume is in use") && err.contains("holder"), "{err}");
    assert_eq!(volume_names(&env, &["dangling=false"]), ["data"]);
    env.ok(&["rm", "holder"]);
    assert_eq!(volume_names(&env, &["dangling=true"]), ["data"]);
    assert_eq!(env.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!Path::new(&mountpoint).exists());
    let (_, err) = env.fails(&["volume", "inspect", "data"]);
    assert!(err.contains("no such volume"), "{err}");
}

#[test]
fn bind_mounts_honour_read_only_and_tmpfs_is_tmpfs() {
    if !require_root("bind_mounts_honour_read_only_and_tmpfs_is_tmpfs") {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from host\n").unwrap();
    let bind = format!("{}:/h", host.path().display());
    let out = env.ok(&["run", "--rm", "-v", &bind, "busybox", "sh", "-c", "cat /h/f; echo new > /h/g"]);
    assert_eq!(out, "from host\n");
    assert_eq!(std::fs::read_to_string(host.path().join("g")).unwrap(), "new\n");

    let ro = format!("{bind}:ro");
    let (code, _) = env.fails(&["run", "--rm", "-v", &ro, "busybox", "touch", "/h/x"]);
    assert_ne!(code, Some(0));
    assert!(!host.path().join("x").exists());
    let mount_ro = format!("type=bind,source={},target=/m,readonly", host.path().display());
    let (code, _) = env.fails(&["run", "--rm", "--mount", &mount_ro, "busybox", "sh", "-c", "echo > /m/y"]);
    assert_ne!(code, Some(0));

    let out = env.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=2m,mode=1770",
        "--mount",
        "type=tmpfs,target=/t2",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(scratch|t2) ' /proc/mounts; echo x > /scratch/f && echo written",
    ]);
    let scratch = out.lines().find(|l| l.contains(" /scratch ")).unwrap_or_else(|| panic!("no /scratch: {out}"));
    assert!(scratch.starts_with("tmpfs /scratch tmpfs") && scratch.contains("size=2048k"), "{scratch}");
    assert!(scratch.contains("mode=1770") && scratch.contains("noexec"), "{scratch}");
    assert!(out.lines().any(|l| l.starts_with("tmpfs /t2 tmpfs")) && out.contains("written"), "{out}");

    let (_, err) = env.fails(&["run", "--rm", "-v", "/no/such/berth/dir:/x", "busybox", "true"]);
    assert!(err.contains("bind source path does not exist: /no/such/berth/dir"), "{err}");
    let (_, err) = env.fails(&["run", "--rm", "-v", "data:rel", "busybox", "true"]);
    assert!(err.contains("must be absolute"), "{err}");
    let (_, err) = env.fails(&["run", "--rm", "-v", "aa:/x", "-v", "bb:/x/", "busybox", "true"]);
    assert!(err.contains("Duplicate mount point"), "{err}");
    assert!(env.ids().is_empty(), "failed runs must leave no container");
    assert!(volume_names(&env, &[]).is_empty(), "failed runs must leave no volume: {:?}", volume_names(&env, &[]));
}

#[test]
fn image_volumes_are_seeded_once_and_anonymous_ones_go_with_rm_v() {
    if !require_root("image_volumes_are_seeded_once_and_anonymous_ones_go_with_rm_v") {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let mut top = LayerBuilder::new();
    top.dir("data", Meta::mode(0o750).owner(1000, 1000));
    top.file("data/seed.txt", b"seeded\n", Meta::mode(0o640).owner(1000, 1000));
    top.hardlink("data/again.txt", "data/seed.txt");
    top.symlink("data/link", "seed.txt");
    add_image(&env, &registry, &busybox_with_volumes(top.build(Compression::Gzip), &["/data"], "vol"), "volimg");

    // A named volume, empty on first use, gets the image's content with owners, modes and links.
    let script = "stat -c '%n %u:%g %a' /data; stat -c '%n %u:%g %a %h' /data/seed.txt; readlink /data/link; \
                  cat /data/again.txt";
    let out = env.ok(&["run", "--rm", "-v", "named:/data", "volimg", "sh", "-c", script]);
    assert!(out.contains("/data 1000:1000 750\n"), "{out}");
    assert!(out.contains("/data/seed.txt 1000:1000 640 2\n"), "hardlink kept: {out}");
    assert!(out.contains("seed.txt\nseeded\n"), "{out}");
    // Seeded once: content removed by a container is not put back by the next one.
    env.ok(&["run", "--rm", "-v", "named:/data", "volimg", "rm", "/data/seed.txt", "/data/again.txt", "/data/link"]);
    let out = env.ok(&["run", "--rm", "-v", "named:/data", "volimg", "ls", "-A", "/data"]);
    assert_eq!(out, "");
    // nocopy leaves a fresh volume empty.
    assert_eq!(env.ok(&["run", "--rm", "-v", "bare:/data:nocopy", "volimg", "ls", "-A", "/data"]), "");
    // A volume that already has content is not seeded.
    env.ok(&["run", "--rm", "-v", "other:/x", "busybox", "sh", "-c", "echo mine > /x/own"]);
    let out = env.ok(&["run", "--rm", "-v", "other:/data", "volimg", "ls", "/data"]);
    assert_eq!(out, "own\n");

    // The image's VOLUME makes an anonymous, seeded volume; rm without -v leaves it dangling.
    env.ok(&["create", "--name", "a1", "volimg", "cat", "/data/seed.txt"]);
    let mounts = &env.inspect("a1")["Mounts"];
    let anonymous = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!((anonymous.len(), mounts[0]["Destination"].as_str()), (64, Some("/data")));
    env.ok(&["start", "a1"]);
    assert_eq!(env.ok(&["wait", "a1"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "a1"]), "seeded\n");
    env.ok(&["rm", "a1"]);
    assert_eq!(volume_names(&env, &["dangling=true", &format!("name={anonymous}")]), std::slice::from_ref(&anonymous));
    // rm -v removes the anonymous volume, never a named one.
    env.ok(&["create", "--name", "a2", "-v", "keep:/keep", "volimg", "true"]);
    let anonymous2 = env.inspect("a2")["Mounts"][1]["Name"].as_str().unwrap().to_string();
    env.ok(&["rm", "-v", "a2"]);
    let names = volume_names(&env, &[]);
    assert!(!names.contains(&anonymous2) && names.contains(&"keep".to_string()), "{names:?}");
    // run --rm removes its anonymous volumes too.
    let before = volume_names(&env, &[]).len();
    env.ok(&["run", "--rm", "volimg", "true"]);
    assert_eq!(volume_names(&env, &[]).len(), before);

    // prune takes anonymous unused volumes; --all takes named ones as well.
    let out = env.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anonymous) && out.contains("Total reclaimed space"), "{out}");
    assert!(volume_names(&env, &[]).contains(&"keep".to_string()));
    env.ok(&["volume", "prune", "-f", "--all"]);
    assert!(volume_names(&env, &[]).is_empty());
}

#[test]
fn mount_destinations_through_image_symlinks_stay_in_the_rootfs() {
    if !require_root("mount_destinations_through_image_symlinks_stay_in_the_rootfs") {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let decoys = Decoys::new();
    let mut top = LayerBuilder::new();
    top.symlink("evil", &decoys.path().to_string_lossy());
    top.symlink("climb", &format!("../../../..{}", decoys.path().display()));
    add_image(&env, &registry, &busybox_with_volumes(top.build(Compression::Gzip), &[], "links"), "links");
    let script = "echo planted > /evil/planted; echo planted > /climb/planted2; ls /evil /climb";
    env.ok(&["run", "--rm", "-v", "v1:/evil", "-v", "v2:/climb", "links", "sh", "-c", script]);
    env.ok(&["run", "--rm", "--tmpfs", "/evil", "links", "sh", "-c", "echo x > /evil/secret"]);
    decoys.assert_untouched();
}

#[test]
fn cp_copies_both_ways_for_running_and_stopped_containers() {
    if !require_root("cp_copies_both_ways_for_running_and_stopped_containers") {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("note.txt"), "note\n").unwrap();
    std::fs::create_dir(host.path().join("tree")).unwrap();
    std::fs::write(host.path().join("tree/leaf"), "leaf\n").unwrap();
    let hp = |p: &str| host.path().join(p).to_string_lossy().into_owned();

    env.ok(&["run", "-d", "--name", "live", "-v", "livevol:/data", "busybox", "sleep", "1000"]);
    env.ok(&["cp", &hp("note.txt"), "live:/tmp/"]);
    env.ok(&["cp", &hp("tree"), "live:/data/copied"]);
    env.ok(&["cp", "live:/tmp/note.txt", &hp("back.txt")]);
    assert_eq!(std::fs::read_to_string(hp("back.txt")).unwrap(), "note\n");
    env.ok(&["cp", "live:/data/copied", &hp("out")]);
    assert_eq!(std::fs::read_to_string(hp("out/leaf")).unwrap(), "leaf\n");
    // `SRC/.` copies a directory's content: into an existing directory, or as a new one.
    std::fs::create_dir(hp("merged")).unwrap();
    env.ok(&["cp", "live:/data/copied/.", &hp("merged")]);
    assert_eq!(std::fs::read_to_string(hp("merged/leaf")).unwrap(), "leaf\n");
    env.ok(&["cp", &format!("{}/.", hp("tree")), "live:/tmp"]);
    env.ok(&["cp", &format!("{}/.", hp("tree")), "live:/tmp/fresh"]);
    env.ok(&["cp", "live:/tmp/leaf", &hp("leaf-in-tmp")]);
    env.ok(&["cp", "live:/tmp/fresh/leaf", &hp("leaf-in-fresh")]);
    assert_eq!(std::fs::read_to_string(hp("leaf-in-tmp")).unwrap(), "leaf\n");
    assert_eq!(std::fs::read_to_string(hp("leaf-in-fresh")).unwrap(), "leaf\n");
    let mountpoint = env.inspect("live")["Mounts"][0]["Source"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(Path::new(&mountpoint).join("copied/leaf")).unwrap(), "leaf\n");
    // `-` streams a tar whose top entry is the source's name.
    let tar = env.command(&["cp", "live:/etc/passwd", "-"]).output().unwrap();
    assert!(tar.status.success());
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["passwd"]);

    env.ok(&["create", "--name", "cold", "-v", "coldvol:/data", "busybox", "cat", "/root/note.txt", "/data/note.txt"]);
    env.ok(&["cp", &hp("note.txt"), "cold:/root/note.txt"]);
    env.ok(&["cp", &hp("note.txt"), "cold:/data/"]);
    env.ok(&["cp", "cold:/root/note.txt", &hp("cold.txt")]);
    env.ok(&["cp", "cold:/data", host.path().to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(hp("data/note.txt")).unwrap(), "note\n");
    assert_eq!(std::fs::read_to_string(hp("cold.txt")).unwrap(), "note\n");
    env.ok(&["start", "cold"]);
    assert_eq!(env.ok(&["wait", "cold"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "cold"]), "note\nnote\n");
    env.ok(&["cp", "cold:/root/note.txt", &hp("after-stop.txt")]);
    assert_eq!(std::fs::read_to_string(hp("after-stop.txt")).unwrap(), "note\n");
    env.ok(&["create", "--name", "locked", "--read-only", "-v", "rovol:/ro:ro", "busybox", "true"]);
    let (_, err) = env.fails(&["cp", &hp("note.txt"), "locked:/root/"]);
    assert!(err.contains("container rootfs is marked read-only"), "{err}");
    let (_, err) = env.fails(&["cp", &hp("note.txt"), "locked:/ro/"]);
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
    env.ok(&["cp", "locked:/etc/passwd", &hp("ro-passwd")]);
    env.ok(&["rm", "-f", "live"]);
    let id = env.inspect("cold")["Id"].as_str().unwrap().to_string();
    env.assert_no_leftovers(&id);
    let (_, err) = env.fails(&["cp", "cold:/no/such/file", &hp("x")]);
    assert!(err.contains("/no/such/file"), "{err}");
}

#[test]
fn cp_never_follows_container_symlinks_onto_the_host() {
    if !require_root("cp_never_follows_container_symlinks_onto_the_host") {
        return;
    }
    let env = Env::new();
    let decoys = Decoys::new();
    let decoy = decoys.path().to_string_lossy().into_owned();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("payload"), "payload\n").unwrap();
    let payload = host.path().join("payload").to_string_lossy().into_owned();

    // Static links: to the decoy dir (absent in the container) and to /etc (the container's own).
    let script = format!("ln -s {decoy} /evil; ln -s /etc /etclink; sleep 1000");
    env.ok(&["run", "-d", "--name", "static", "busybox", "sh", "-c", &script]);
    env.wait_for("links", 10, || env.run(&["cp", "static:/etclink", "-"]).status.success());
    let _ = env.run(&["cp", &payload, "static:/evil/planted"]);
    let _ = env.run(&["cp", &payload, "static:/evil/sub/"]);
    let read = env.run(&["cp", "static:/evil/secret", "-"]);
    assert!(!String::from_utf8_lossy(&read.stdout).contains("host secret"), "cp read a host file");
    let passwd = env.run(&["cp", "static:/etclink/passwd", "-"]);
    let text = String::from_utf8_lossy(&passwd.stdout);
    assert!(text.contains("nobody:x:65534:65534:nobody:/home:/bin/false"), "the container's passwd expected");

    // A container swapping a directory and a symlink to the decoy while cp runs, for a stopped copy too.
    // Each state lasts a few milliseconds, so the copies below land on both the directory and the link.
    let swap = format!(
        "while :; do mkdir -p /sw/sub; echo inside > /sw/secret; usleep 3000; rm -rf /sw; ln -s {decoy} /sw; \
         usleep 3000; rm -f /sw; done"
    );
    env.ok(&["run", "-d", "--name", "swapper", "busybox", "sh", "-c", &swap]);
    let (mut wrote, mut read) = (0, 0);
    for _ in 0..40 {
        wrote += env.run(&["cp", &payload, "swapper:/sw/planted"]).status.success() as u32;
        wrote += env.run(&["cp", &payload, "swapper:/sw/sub/inner"]).status.success() as u32;
        let out = env.run(&["cp", "swapper:/sw/secret", "-"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("host secret"), "cp read a host file");
        read += text.contains("inside") as u32;
    }
    assert!(wrote > 0 && read > 0, "the race was never exercised: {wrote} writes, {read} reads succeeded");
    decoys.assert_untouched();
}
