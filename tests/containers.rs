//! Real containers, run by the `berth` binary as a user runs it: security defaults inside a container,
//! run options, exit codes and errors. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use rt::{Env, require_root};
use support::oci::{Image, Platform, busybox_layer};
use support::registry::PushFormat;

/// Output of a throwaway container.
fn sh(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    env.ok(&args)
}

#[test]
fn default_container_has_dockers_security_defaults() {
    if !require_root("default_container_has_dockers_security_defaults") {
        return;
    }
    let env = Env::new();
    let out = sh(
        &env,
        &[],
        "echo pid=$$; grep -E '^(CapEff|Seccomp|SigIgn|SigBlk):' /proc/self/status; \
         echo pipeline=$(yes | head -c 3 | wc -c); \
         mount -t tmpfs none /mnt 2>/dev/null && echo mount=allowed || echo mount=refused; \
         unshare -m true 2>/dev/null && echo unshare=allowed || echo unshare=refused; \
         echo 1 > /proc/sys/vm/overcommit_memory 2>/dev/null && echo procsys=writable || echo procsys=readonly; \
         echo keys=$(wc -c < /proc/keys); echo timer=$(wc -c < /proc/timer_list); \
         ping -c1 -W2 127.0.0.1 >/dev/null 2>&1 && echo lo=up || echo lo=down; echo links=$(ls /sys/class/net)",
    );
    assert!(out.contains("pid=1\n"), "the command must be PID 1:\n{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "CapEff must be Docker's default set:\n{out}");
    assert!(out.contains("Seccomp:\t2"), "seccomp filter mode expected:\n{out}");
    // berth is Rust, which ignores SIGPIPE; the command must not inherit that (or `yes | head` never ends).
    assert!(out.contains("SigIgn:\t0000000000000000") && out.contains("SigBlk:\t0000000000000000"), "{out}");
    assert!(out.contains("pipeline=3\n"), "{out}");
    assert!(out.contains("mount=refused") && out.contains("unshare=refused"), "{out}");
    assert!(out.contains("procsys=readonly"), "{out}");
    // Its own network namespace on the default bridge: loopback up, and eth0.
    assert!(out.contains("lo=up") && out.contains("links=eth0 lo\n"), "{out}");
    // Masked paths read as empty (bind-mounted /dev/null) although the host's are not.
    assert!(std::fs::read("/proc/keys").map(|k| !k.is_empty()).unwrap_or(true));
    assert!(out.contains("keys=0") && out.contains("timer=0"), "masked paths must be empty:\n{out}");
    if std::path::Path::new("/proc/kcore").exists() {
        let kcore = sh(&env, &[], "wc -c < /proc/kcore");
        assert_eq!(kcore.trim(), "0", "/proc/kcore must be masked");
    }
}

#[test]
fn run_options_shape_the_process() {
    if !require_root("run_options_shape_the_process") {
        return;
    }
    let env = Env::new();
    let out = sh(
        &env,
        &["--hostname", "box1", "-e", "GREETING=hi there", "-u", "65534:65534", "-w", "/work/dir", "--label", "a=b"],
        "echo host=$(hostname); echo file=$(cat /etc/hostname); echo env=$GREETING; echo id=$(id -u):$(id -g); \
         echo cwd=$(pwd)",
    );
    assert!(out.contains("host=box1") && out.contains("file=box1"), "{out}");
    assert!(out.contains("env=hi there"), "{out}");
    assert!(out.contains("id=65534:65534"), "{out}");
    assert!(out.contains("cwd=/work/dir"), "{out}");

    let named = sh(&env, &["-u", "nobody"], "id -un");
    assert_eq!(named.trim(), "nobody");

    let ro =
        sh(&env, &["--read-only"], "touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y 2>/dev/null; echo done");
    assert!(ro.contains("ro\n"), "--read-only must make / read-only: {ro}");
    let rw = sh(&env, &[], "touch /x && echo rw");
    assert!(rw.contains("rw"), "{rw}");

    let ep = env.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"]);
    assert_eq!(ep.trim(), "from entrypoint");

    let caps = sh(&env, &["--cap-drop", "ALL", "--cap-add", "KILL"], "grep CapEff /proc/self/status");
    assert!(caps.contains("0000000000000020"), "only CAP_KILL expected: {caps}");
    let privileged = sh(&env, &["--privileged"], "grep -E 'CapEff|Seccomp:' /proc/self/status");
    assert!(privileged.contains("Seccomp:\t0"), "{privileged}");
    assert!(!privileged.contains("CapEff:\t00000000a80425fb"), "{privileged}");
    let nnp = sh(&env, &["--security-opt", "no-new-privileges"], "grep NoNewPrivs /proc/self/status");
    assert!(nnp.contains("NoNewPrivs:\t1"), "{nnp}");
}

#[test]
fn seccomp_profile_file_changes_what_is_allowed() {
    if !require_root("seccomp_profile_file_changes_what_is_allowed") {
        return;
    }
    let env = Env::new();
    let mut profile: serde_json::Value = serde_json::from_str(include_str!("../assets/seccomp-default.json")).unwrap();
    let names = profile["syscalls"][0]["names"].as_array_mut().unwrap();
    names.retain(|n| n != "mkdir" && n != "mkdirat");
    let path = env.root().join("no-mkdir.json");
    std::fs::write(&path, serde_json::to_vec(&profile).unwrap()).unwrap();

    let allowed = sh(&env, &[], "mkdir /tmp/d && echo made");
    assert!(allowed.contains("made"), "{allowed}");
    let seccomp = format!("seccomp={}", path.display());
    let denied = sh(&env, &["--security-opt", &seccomp], "mkdir /tmp/d 2>&1; echo rc=$?");
    assert!(denied.contains("rc=1"), "mkdir must be refused by the custom profile: {denied}");
    assert!(denied.contains("Operation not permitted"), "{denied}");
    let unconfined = sh(&env, &["--security-opt", "seccomp=unconfined"], "grep Seccomp: /proc/self/status");
    assert!(unconfined.contains("Seccomp:\t0"), "{unconfined}");
}

#[test]
fn exit_codes_and_errors_are_dockers() {
    if !require_root("exit_codes_and_errors_are_dockers") {
        return;
    }
    let env = Env::new();
    let out = env.run(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let (code, err) = env.fails(&["run", "busybox", "no-such-command"]);
    assert_eq!(code, Some(127), "{err}");
    assert!(err.contains("no-such-command") && err.contains("not found"), "{err}");
    assert!(env.ids().is_empty(), "a failed run must leave no container");
    let (code, err) = env.fails(&["run", "busybox", "/etc/passwd"]);
    assert_eq!(code, Some(126), "{err}");

    env.ok(&["create", "--name", "taken", "busybox"]);
    let (_, err) = env.fails(&["create", "--name", "taken", "busybox"]);
    assert!(err.contains("already in use"), "{err}");
    let (_, err) = env.fails(&["run", "--memory", "lots", "busybox", "true"]);
    assert!(err.contains("--memory") && err.contains("lots"), "{err}");
    let (_, err) = env.fails(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert!(err.contains("--restart"), "{err}");
    let (_, err) = env.fails(&["run", "--cap-add", "WINGS", "busybox", "true"]);
    assert!(err.contains("WINGS"), "{err}");
    let (_, err) = env.fails(&["start", "nothing-here"]);
    assert!(err.contains("No such container: nothing-here"), "{err}");
    let (_, err) = env.fails(&["pause", "taken"]);
    assert!(err.contains("created"), "pausing a created container must name its state: {err}");
    let (_, err) = env.fails(&["run", "no-such-image-here:1", "true"]);
    assert!(err.contains("no-such-image-here"), "{err}");
    assert_eq!(env.ids().len(), 1, "only the created container remains");
    let id = env.ids()[0].clone();
    env.ok(&["rm", "taken"]);
    env.assert_no_leftovers(&id);
}

#[test]
fn init_reaps_and_rm_is_immediate() {
    if !require_root("init_reaps_and_rm_is_immediate") {
        return;
    }
    let env = Env::new();
    let out = sh(&env, &["--init"], "echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '");
    assert!(!out.contains("pid=1\n"), "with --init the command is not PID 1: {out}");
    assert!(out.contains("/dev/init"), "PID 1 must be the init binary: {out}");
    // `run --rm` returns once the container is gone.
    env.ok(&["run", "--rm", "busybox", "true"]);
    assert!(env.ids().is_empty());
}

#[test]
fn rmi_refuses_an_image_a_container_uses() {
    if !require_root("rmi_refuses_an_image_a_container_uses") {
        return;
    }
    let env = Env::new();
    env.ok(&["create", "--name", "user", "busybox"]);
    let id = env.inspect("user")["Image"].as_str().unwrap().to_string();
    // Removing one of two names only untags; the image stays for the container.
    env.ok(&["rmi", "busybox"]);
    let (_, err) = env.fails(&["rmi", &env.reference]);
    assert!(err.contains("in use"), "{err}");
    let (_, err) = env.fails(&["rmi", "-f", &id]);
    assert!(err.contains("in use"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1, "the image must still be there");
    env.ok(&["rm", "user"]);
    env.ok(&["rmi", &env.reference]);
    assert!(env.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn run_pulls_a_missing_image() {
    if !require_root("run_pulls_a_missing_image") {
        return;
    }
    let env = Env::new();
    // Forget the registry name (the `busybox` tag keeps the image), so `run` must pull it again.
    env.ok(&["rmi", &env.reference]);
    let out = env.run(&["run", "--rm", &env.reference, "echo", "pulled"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pulled\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unable to find image"));
    assert!(env.ok(&["images"]).contains("busybox"));
}

#[test]
fn etc_hostname_names_the_container_and_can_be_copied_out() {
    if !require_root("etc_hostname_names_the_container_and_can_be_copied_out") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]).trim().to_string();
    let inside = env.ok(&["exec", "web", "cat", "/etc/hostname"]);
    assert_eq!(inside, format!("{}\n", &id[..12]), "docker's /etc/hostname holds the short id");
    // The README's own example.
    let out = tempfile::tempdir().unwrap();
    env.ok(&["cp", "web:/etc/hostname", &out.path().to_string_lossy()]);
    assert_eq!(std::fs::read_to_string(out.path().join("hostname")).unwrap(), inside);
    env.ok(&["rm", "-f", "web"]);
}

#[test]
fn image_prune_all_keeps_what_containers_use() {
    if !require_root("image_prune_all_keeps_what_containers_use") {
        return;
    }
    let env = Env::new();
    let other = Image::new(Platform::host(), vec![busybox_layer()], &["true"], "other");
    let other_ref = env.registry().push_image(&other, "other:1", PushFormat::Oci);
    env.ok(&["pull", "-q", &other_ref]);
    env.ok(&["create", "--name", "keeper", "busybox", "true"]);
    let before = env.ok(&["images", "-q"]);
    assert_eq!(before.lines().count(), 2, "{before}");

    let pruned = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains(&format!("untagged: {other_ref}")), "{pruned}");
    let after = env.ok(&["images", "-q"]);
    assert_eq!(after.lines().count(), 1, "only the image the container uses stays: {after}");
    assert!(before.contains(after.trim()), "{before} / {after}");
    assert!(env.ok(&["images"]).contains("busybox"), "the kept image keeps its tags");
    // The kept image is whole: its container still runs.
    env.ok(&["start", "-a", "keeper"]);
    env.ok(&["rm", "keeper"]);
    env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(env.ok(&["images", "-q"]), "", "with no container left, -a takes every image");
}

#[test]
fn containers_run_from_either_layer_store() {
    if !require_root("containers_run_from_either_layer_store") {
        return;
    }
    for store in ["dir", "erofs"] {
        let env = Env::with_store(store);
        let layers = || -> Vec<std::path::PathBuf> {
            // Beside each pulled layer, its tar index.
            std::fs::read_dir(env.root().join("layers"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_none_or(|e| e != "tarsplit"))
                .collect()
        };
        let stored = layers();
        assert!(!stored.is_empty(), "{store}: the pull stored no layer");
        for layer in &stored {
            let image = layer.is_file() && layer.extension().is_some_and(|e| e == "erofs");
            assert_eq!(image, store == "erofs", "{store}: layer {layer:?}");
        }
        assert_eq!(sh(&env, &[], "echo hi > /x && cat /x && ls /bin/sh"), "hi\n/bin/sh\n", "{store}");
        env.ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "60"]);
        assert_eq!(env.ok(&["exec", "bg", "cat", "/etc/hostname"]).trim().len(), 12, "{store}");
        env.ok(&["rm", "-f", "bg"]);
        // Layer images are mounted detached, held by the overlays alone: none is left once they are gone.
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = env.root().to_string_lossy().into_owned();
        assert!(!info.lines().any(|l| l.contains(&root)), "{store}: mounts left under the root:\n{info}");
        env.ok(&["rmi", "busybox"]);
        env.ok(&["rmi", &env.reference]);
        assert!(layers().is_empty(), "{store}: rmi left layers {:?}", layers());
    }
}
