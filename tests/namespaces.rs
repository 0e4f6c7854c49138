//! Containers sharing another container's namespaces (`--network`, `--pid`, `--ipc container:NAME`), as
//! pods are built: the joiner sees the target's interfaces, processes and IPC namespace, reaches a port the
//! target listens on at 127.0.0.1, has no network of its own, and cannot join a target that is stopped or
//! missing; the target cannot be removed while a joiner runs. Needs root (skips loudly otherwise; CI=true
//! forbids skipping).

mod rt;
mod support;

use rt::{Env, require_root};

/// The namespace `kind` of a process in the container, as `/proc/self/ns/<kind>` names it.
fn ns_of_exec(env: &Env, name: &str, kind: &str) -> String {
    env.ok(&["exec", name, "readlink", &format!("/proc/self/ns/{kind}")]).trim().to_string()
}

#[test]
fn bh_a_joiner_shares_the_target_network_and_reaches_its_loopback_port() {
    if !require_root("bh_a_joiner_shares_the_target_network_and_reaches_its_loopback_port") {
        return;
    }
    let env = Env::new();
    let infra = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "bh-infra",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo hello-from-infra > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www",
        ])
        .trim()
        .to_string();
    let target_ns = ns_of_exec(&env, "bh-infra", "net");
    let target_links = env.ok(&["exec", "bh-infra", "ls", "/sys/class/net"]);
    assert!(target_links.contains("eth0"), "{target_links}");

    let joined = [
        "run",
        "--rm",
        "--network",
        "container:bh-infra",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; ls /sys/class/net; hostname; \
         for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1",
    ];
    let out = env.ok(&joined);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(target_ns.as_str()), "{out}");
    for link in target_links.lines() {
        assert!(out.lines().any(|l| l == link), "the joiner misses {link}: {out}");
    }
    assert!(out.lines().any(|l| l == &infra[..12]), "the joiner takes the target's hostname: {out}");
    assert!(out.contains("hello-from-infra"), "{out}");

    env.ok(&["create", "--name", "bh-app", "--network", "container:bh-infra", "busybox", "sleep", "300"]);
    let doc = env.inspect("bh-app");
    assert_eq!(doc["HostConfig"]["NetworkMode"], format!("container:{infra}"));
    env.ok(&["start", "bh-app"]);
    let doc = env.inspect("bh-app");
    assert_eq!(doc["NetworkSettings"]["IPAddress"].as_str().unwrap_or_default(), "", "{doc}");
    assert!(doc["NetworkSettings"]["Networks"].as_object().is_none_or(|n| n.is_empty()), "{doc}");
    assert_eq!(ns_of_exec(&env, "bh-app", "net"), target_ns);
    assert_eq!(
        env.ok(&["exec", "bh-app", "cat", "/etc/hosts"]),
        env.ok(&["exec", "bh-infra", "cat", "/etc/hosts"]),
        "the target's hosts file is shared"
    );

    // The target stays while a container shares its namespace, even with -f.
    let (_, err) = env.fails(&["rm", "-f", "bh-infra"]);
    assert!(err.contains("bh-app shares its network namespace"), "{err}");
    assert_eq!(env.status("bh-infra"), "running");
    let (_, err) = env.fails(&["run", "--network", "container:bh-infra", "-p", "80", "busybox", "true"]);
    assert!(err.contains("--network container does not take published ports"), "{err}");
    env.ok(&["rm", "-f", "bh-app"]);
    env.ok(&["rm", "-f", "bh-infra"]);
}

#[test]
fn bh_pid_and_ipc_namespaces_are_shared_with_a_running_target() {
    if !require_root("bh_pid_and_ipc_namespaces_are_shared_with_a_running_target") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "bh-donor", "--ipc", "shareable", "busybox", "sleep", "4242"]);
    env.ok(&["run", "-d", "--name", "bh-private", "busybox", "sleep", "300"]);

    let ps = env.ok(&["run", "--rm", "--pid", "container:bh-donor", "busybox", "ps", "-o", "pid,args"]);
    assert!(ps.contains("sleep 4242"), "the joiner sees the target's processes: {ps}");
    let pid_ns = env.ok(&["run", "--rm", "--pid", "container:bh-donor", "busybox", "readlink", "/proc/self/ns/pid"]);
    assert_eq!(pid_ns.trim(), ns_of_exec(&env, "bh-donor", "pid"));

    let ipc_ns = env.ok(&["run", "--rm", "--ipc", "container:bh-donor", "busybox", "readlink", "/proc/self/ns/ipc"]);
    let donor_ipc = ns_of_exec(&env, "bh-donor", "ipc");
    assert_eq!(ipc_ns.trim(), donor_ipc);
    let own = env.ok(&["run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc"]);
    assert_ne!(own.trim(), donor_ipc, "without the flag a container has its own IPC namespace");
    assert_eq!(env.inspect("bh-donor")["HostConfig"]["IpcMode"], "shareable");

    // Docker's rule: only a donor made shareable lends its IPC namespace.
    let (_, err) = env.fails(&["run", "--rm", "--ipc", "container:bh-private", "busybox", "true"]);
    assert!(err.contains("non-shareable IPC"), "{err}");
    env.ok(&["rm", "-f", "bh-donor", "bh-private"]);
}

#[test]
fn bh_a_stopped_or_missing_target_cannot_be_joined() {
    if !require_root("bh_a_stopped_or_missing_target_cannot_be_joined") {
        return;
    }
    let env = Env::new();
    env.ok(&["create", "--name", "bh-idle", "--ipc", "shareable", "busybox", "sleep", "300"]);
    for flag in ["--network", "--pid", "--ipc"] {
        let (code, err) = env.fails(&["run", "--rm", flag, "container:bh-idle", "busybox", "true"]);
        assert_eq!(code, Some(125), "{err}");
        assert!(err.contains("non running container (created)"), "{flag}: {err}");
        assert!(err.contains("bh-idle") || err.contains("container "), "{err}");
        let (code, err) = env.fails(&["run", "--rm", flag, "container:bh-nowhere", "busybox", "true"]);
        assert_eq!(code, Some(125), "{err}");
        assert!(err.contains("No such container: bh-nowhere"), "{flag}: {err}");
    }
    // A joiner created while the target ran cannot start once it stopped.
    env.ok(&["start", "bh-idle"]);
    env.ok(&["create", "--name", "bh-late", "--pid", "container:bh-idle", "busybox", "sleep", "300"]);
    env.ok(&["stop", "-t", "1", "bh-idle"]);
    let (_, err) = env.fails(&["start", "bh-late"]);
    assert!(err.contains("cannot join the PID namespace of a non running container (exited)"), "{err}");
    assert_ne!(env.status("bh-late"), "running");
    env.ok(&["rm", "-f", "bh-late", "bh-idle"]);
    assert!(env.ids().is_empty());
}
