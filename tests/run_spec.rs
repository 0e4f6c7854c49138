//! `run` as one use case (`Engine::run`): a failed run takes away everything it made, and `run`, `create`
//! and `exec` exit as Docker's do (125 for berth's own errors, 126/127 for a command that cannot run, the
//! container's code otherwise). Real containers as root; every check counts only this test's objects (its
//! state root, its bridge's ports, its nftables table).

mod rt;
mod support;

use std::net::TcpListener;
use std::path::Path;

use rt::{Env, require_root};

/// The interfaces plugged into this Env's default bridge: its containers' veths and no one else's.
fn bridge_ports(env: &Env) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(&env.bridge).join("brif"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The rules of this Env's nftables table that publish `port`.
fn port_rules(env: &Env, port: u16) -> usize {
    let out = std::process::Command::new("nft").args(["list", "table", "inet", &env.table]).output().expect("nft");
    String::from_utf8_lossy(&out.stdout).matches(&format!("dport {port} ")).count()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

fn lines(text: String) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// The 64-hex container id an error message names, if any.
fn id_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_hexdigit()).find(|w| w.len() == 64).map(str::to_string)
}

/// No container, anonymous volume, veth, port rule or mount of this root is left.
fn assert_nothing_left(env: &Env, port: u16, error: &str) {
    assert!(env.ids().is_empty(), "a container row is left: {error}");
    assert!(lines(env.ok(&["volume", "ls", "-q"])).is_empty(), "an anonymous volume is left: {error}");
    assert!(bridge_ports(env).is_empty(), "a veth is left on {}: {:?}", env.bridge, bridge_ports(env));
    assert_eq!(port_rules(env, port), 0, "a rule for port {port} is left");
    let root = env.root().to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mountinfo.contains(&root), "a mount under {root} is left");
    if let Some(id) = id_in(error) {
        env.assert_no_leftovers(&id);
    }
}

#[test]
fn brn_a_run_whose_command_cannot_start_leaves_nothing_and_exits_127() {
    if !require_root("brn_a_run_whose_command_cannot_start_leaves_nothing_and_exits_127") {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let args = ["run", "--name", "brn-bad", "-p", &publish, "-v", "/brn-data", "busybox", "/bin/brn-missing"];
    let (code, err) = env.fails(&args);
    assert_eq!(code, Some(127), "{err}");
    assert!(err.contains("brn-missing"), "{err}");
    assert_nothing_left(&env, port, &err);
    // The name is free again.
    env.ok(&["create", "--name", "brn-bad", "busybox", "true"]);
}

#[test]
fn brn_a_run_whose_port_is_taken_leaves_nothing_of_its_own() {
    if !require_root("brn_a_run_whose_port_is_taken_leaves_nothing_of_its_own") {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&["run", "-d", "--name", "brn-holder", "-p", &publish, "busybox", "sleep", "1000"]);
    let held = (bridge_ports(&env), port_rules(&env, port));
    assert_eq!(held.0.len(), 1, "{held:?}");
    let args = ["run", "-d", "--name", "brn-late", "-p", &publish, "-v", "/brn-data", "busybox", "sleep", "1000"];
    let (code, err) = env.fails(&args);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("already allocated"), "{err}");
    assert_eq!(env.ids().len(), 1, "only the holder is a container");
    env.fails(&["inspect", "brn-late"]);
    assert!(lines(env.ok(&["volume", "ls", "-q"])).is_empty(), "the late run's anonymous volume is left");
    assert_eq!((bridge_ports(&env), port_rules(&env, port)), held, "only the holder's veth and rule remain");
    env.ok(&["rm", "-f", "brn-holder"]);
    assert_nothing_left(&env, port, &err);
}

#[test]
fn brn_run_create_and_exec_exit_as_docker_does() {
    if !require_root("brn_run_create_and_exec_exit_as_docker_does") {
        return;
    }
    let env = Env::new();
    let code = |args: &[&str]| env.run(args).status.code();
    assert_eq!(code(&["run", "--brn-unknown", "busybox", "true"]), Some(125), "an unknown flag");
    assert_eq!(code(&["create", "--memory", "lots", "busybox"]), Some(125), "a bad value");
    assert_eq!(code(&["run", "-p", "80:x", "busybox", "true"]), Some(125), "a bad port");
    assert_eq!(code(&["exec", "--brn-unknown", "x", "true"]), Some(125), "exec's unknown flag");
    assert_eq!(code(&["exec", "brn-nosuch", "true"]), Some(125), "exec into a missing container");
    // Port 9 of the loopback refuses: the image cannot be pulled.
    let (unpullable, err) = env.fails(&["run", "127.0.0.1:9/brn/none:latest", "true"]);
    assert_eq!(unpullable, Some(125), "{err}");
    let (never, err) = env.fails(&["run", "--pull", "never", "127.0.0.1:9/brn/none:latest", "true"]);
    assert_eq!(never, Some(125));
    assert!(err.contains("No such image"), "{err}");
    env.ok(&["create", "--name", "brn-taken", "busybox", "true"]);
    let (conflict, err) = env.fails(&["run", "--name", "brn-taken", "busybox", "true"]);
    assert_eq!(conflict, Some(125));
    assert!(err.contains("is already in use"), "{err}");
    assert_eq!(code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]), Some(3), "the container's code");
    env.ok(&["run", "-d", "--name", "brn-live", "busybox", "sleep", "1000"]);
    assert_eq!(code(&["exec", "brn-live", "/etc/passwd"]), Some(126));
    assert_eq!(code(&["exec", "brn-live", "sh", "-c", "exit 4"]), Some(4));
    assert_eq!(env.ids().len(), 2, "no failed run left a container");
}

#[test]
fn brn_network_prune_keeps_networks_stopped_containers_name() {
    if !require_root("brn_network_prune_keeps_networks_stopped_containers_name") {
        return;
    }
    let env = Env::new();
    let subnet = |k: u8| format!("10.{}.{}.0/24", 210 + k, env.octet);
    env.ok(&["network", "create", "--subnet", &subnet(0), "brn-kept"]);
    env.ok(&["network", "create", "--subnet", &subnet(1), "brn-unused"]);
    env.ok(&["create", "--name", "brn-user", "--network", "brn-kept", "busybox", "true"]);
    let out = env.ok(&["network", "prune", "-f"]);
    assert!(out.contains("brn-unused") && !out.contains("brn-kept"), "{out}");
    let names = env.ok(&["network", "ls"]);
    assert!(names.contains("brn-kept") && !names.contains("brn-unused"), "{names}");
    env.ok(&["start", "brn-user"]);
}

#[test]
fn bn_a_run_rm_rootfs_is_volatile_and_a_kept_containers_is_not() {
    if !require_root("bn_a_run_rm_rootfs_is_volatile_and_a_kept_containers_is_not") {
        return;
    }
    let env = Env::new();
    // Its writes go with it, so its overlay skips syncing the host filesystem when it is unmounted.
    let root_mount = |args: &[&str]| {
        let all = [args, &["busybox", "grep", " / ", "/proc/mounts"]].concat();
        env.ok(&all)
    };
    let discarded = root_mount(&["run", "--rm", "--network", "none"]);
    assert!(discarded.contains("overlay") && discarded.contains("volatile"), "{discarded}");
    let kept = root_mount(&["run", "--network", "none", "--name", "bn-kept"]);
    assert!(kept.contains("overlay") && !kept.contains("volatile"), "{kept}");
    env.ok(&["rm", "bn-kept"]);
    assert!(env.ids().is_empty());
}

#[test]
fn bn_a_bridged_run_rm_releases_its_address_at_once_and_its_veth_right_after() {
    if !require_root("bn_a_bridged_run_rm_releases_its_address_at_once_and_its_veth_right_after") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--rm", "busybox", "ip", "addr", "show", "eth0"]);
    // The record goes before `run` returns; the kernel's veth deletion is finished by the monitor after.
    let doc: serde_json::Value = serde_json::from_str(&env.ok(&["network", "inspect", "bridge"])).expect("inspect");
    assert_eq!(doc[0]["Containers"], serde_json::json!({}), "{doc}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !bridge_ports(&env).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(bridge_ports(&env).is_empty(), "a veth is left on {}: {:?}", env.bridge, bridge_ports(&env));
    assert!(env.ids().is_empty());
}
