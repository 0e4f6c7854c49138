//! The `run` flags scripts written against docker use, checked from inside real containers: /etc/hosts
//! and resolv.conf (`--add-host`, `--dns`, `--dns-search`), the kernel's view (`--ulimit`, `--shm-size`,
//! `--group-add`, `--sysctl`, `--device`, `--ipc`/`--pid host`), log rotation (`--log-opt`), `--cidfile`,
//! `-a`, and `update` changing a running container's limits. Root; every object is this test's own.

mod rt;
mod support;

use rt::{Env, require_root};

/// Runs `script` in a fresh container with `flags` and returns its stdout.
fn run_sh(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    env.ok(&args)
}

#[test]
fn bfl_hosts_and_resolver_flags_reach_the_etc_files() {
    if !require_root("bfl_hosts_and_resolver_flags_reach_the_etc_files") {
        return;
    }
    let env = Env::new();
    let flags =
        ["--add-host", "bfl-db:10.11.12.13", "--dns", "192.0.2.53", "--dns-search", "bfl.example", "--name", "bfl-etc"];
    env.ok(&[&["create"][..], &flags, &["busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf"]].concat());
    let out = env.ok(&["start", "-a", "bfl-etc"]);
    assert!(out.contains("10.11.12.13\tbfl-db\n"), "{out}");
    assert!(out.contains("nameserver 192.0.2.53\n"), "{out}");
    assert!(out.contains("search bfl.example\n"), "{out}");
    let host = env.inspect("bfl-etc")["HostConfig"].clone();
    assert_eq!(host["ExtraHosts"], serde_json::json!(["bfl-db:10.11.12.13"]));
    assert_eq!(host["Dns"], serde_json::json!(["192.0.2.53"]));
    assert_eq!(host["DnsSearch"], serde_json::json!(["bfl.example"]));
}

#[test]
fn bfl_kernel_flags_are_what_the_container_sees() {
    if !require_root("bfl_kernel_flags_are_what_the_container_sees") {
        return;
    }
    let env = Env::new();
    let flags = [
        "--ulimit",
        "nofile=512:1024",
        "--shm-size",
        "32m",
        "--group-add",
        "4321",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--device",
        "/dev/null:/dev/bflnull:rw",
    ];
    let script = "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -n 1; id -G; cat /proc/sys/net/ipv4/ip_forward; \
                  ls -l /dev/bflnull; echo x > /dev/bflnull && echo wrote";
    let out = run_sh(&env, &flags, script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0..2], ["512", "1024"], "{out}");
    assert_eq!(lines[2].split_whitespace().nth(1), Some("32768"), "{out}");
    assert!(lines[3].split_whitespace().any(|g| g == "4321"), "{out}");
    assert_eq!(lines[4], "1", "{out}");
    assert!(lines[5].starts_with('c') && lines[5].contains("1,") && lines[5].contains("3"), "{out}");
    assert_eq!(lines[6], "wrote", "{out}");
    // Without the flag the device is not there, and the default /dev/shm is Docker's 64 MiB.
    let out = run_sh(&env, &[], "df -k /dev/shm | tail -n 1; test -e /dev/bflnull || echo absent");
    assert_eq!(out.lines().next().and_then(|l| l.split_whitespace().nth(1)), Some("65536"), "{out}");
    assert!(out.contains("absent"), "{out}");
}

#[test]
fn bfl_kernel_flags_show_in_inspect_and_bad_ones_exit_125() {
    if !require_root("bfl_kernel_flags_show_in_inspect_and_bad_ones_exit_125") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "create",
        "--name",
        "bfl-shown",
        "--ulimit",
        "nproc=100:200",
        "--shm-size",
        "16m",
        "--group-add",
        "root",
        "--sysctl",
        "net.ipv4.ping_group_range=0 0",
        "--device",
        "/dev/zero:/dev/bflzero:r",
        "--ipc",
        "host",
        "--pid",
        "host",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "true",
    ]);
    let host = env.inspect("bfl-shown")["HostConfig"].clone();
    assert_eq!(host["Ulimits"], serde_json::json!([{"Name": "nproc", "Soft": 100, "Hard": 200}]));
    assert_eq!(host["ShmSize"], 16 << 20);
    assert_eq!(host["GroupAdd"], serde_json::json!(["root"]));
    assert_eq!(host["Sysctls"], serde_json::json!({"net.ipv4.ping_group_range": "0 0"}));
    assert_eq!(host["Devices"][0]["PathInContainer"], "/dev/bflzero");
    assert_eq!(host["Devices"][0]["CgroupPermissions"], "r");
    assert_eq!((host["IpcMode"].as_str(), host["PidMode"].as_str()), (Some("host"), Some("host")));
    assert_eq!(host["LogConfig"]["Config"], serde_json::json!({"max-size": "1024", "max-file": "2"}));
    for (flag, value) in [
        ("--sysctl", "vm.swappiness=1"),
        ("--ulimit", "nofile=2:1"),
        ("--device", "/dev/bfl-none"),
        ("--add-host", "bfl:nope"),
        ("--dns", "nope"),
        ("--shm-size", "0"),
        ("--pid", "private"),
        ("--log-opt", "mode=x"),
    ] {
        let (code, err) = env.fails(&["run", flag, value, "busybox", "true"]);
        assert_eq!(code, Some(125), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(value.split('=').next().unwrap()), "{flag}: {err}");
    }
    let (code, err) = env.fails(&["run", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("host network namespace"), "{err}");
    let (code, err) = env.fails(&["run", "--ipc", "host", "--sysctl", "kernel.shmmax=1", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("host ipc"), "{err}");
    let (code, err) = env.fails(&["run", "--group-add", "bfl-no-such-group", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("bfl-no-such-group"), "{err}");
    assert_eq!(env.ids().len(), 1, "failed runs left containers");
}

#[test]
fn bfl_host_pid_and_ipc_namespaces_are_the_hosts() {
    if !require_root("bfl_host_pid_and_ipc_namespaces_are_the_hosts") {
        return;
    }
    let env = Env::new();
    let me = std::process::id();
    let ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap().to_string_lossy().into_owned();
    let script = format!("test -d /proc/{me} && echo sees-host; readlink /proc/self/ns/ipc");
    let out = run_sh(&env, &["--pid", "host", "--ipc", "host"], &script);
    assert!(out.contains("sees-host"), "{out}");
    assert!(out.contains(&ipc), "{out}");
    let out = run_sh(&env, &[], &script);
    assert!(!out.contains("sees-host") || me == 1, "{out}");
    assert!(!out.contains(&ipc), "{out}");
}

#[test]
fn bfl_log_opts_rotate_the_json_file() {
    if !require_root("bfl_log_opts_rotate_the_json_file") {
        return;
    }
    let env = Env::new();
    let flags = ["--name", "bfl-log", "--log-opt", "max-size=1k", "--log-opt", "max-file=2"];
    env.ok(&[
        &["run"][..],
        &flags,
        &["busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"],
    ]
    .concat());
    let path = std::path::PathBuf::from(env.inspect("bfl-log")["LogPath"].as_str().unwrap());
    let rotated = std::path::PathBuf::from(format!("{}.1", path.display()));
    let second = std::path::PathBuf::from(format!("{}.2", path.display()));
    assert!(rotated.exists(), "no rotated file next to {}", path.display());
    assert!(!second.exists(), "max-file=2 kept a third file");
    for p in [&path, &rotated] {
        let size = std::fs::metadata(p).unwrap().len();
        assert!(size <= 1024, "{} is {size} bytes", p.display());
    }
    let logs = env.ok(&["logs", "bfl-log"]);
    assert!(logs.ends_with("line-199\n"), "{logs}");
}

#[test]
fn bfl_cidfile_gets_the_id_and_is_never_overwritten() {
    if !require_root("bfl_cidfile_gets_the_id_and_is_never_overwritten") {
        return;
    }
    let env = Env::new();
    let cidfile = env.root().join("bfl.cid");
    let path = cidfile.to_str().unwrap();
    let id = env.ok(&["run", "-d", "--cidfile", path, "busybox", "sleep", "100"]);
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id.trim());
    let (code, err) = env.fails(&["create", "--cidfile", path, "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("Container ID file found"), "{err}");
    assert_eq!(env.ids().len(), 1, "a refused cidfile still created a container");
    env.ok(&["rm", "-f", id.trim()]);
}

#[test]
fn bfl_attach_selects_the_streams_printed() {
    if !require_root("bfl_attach_selects_the_streams_printed") {
        return;
    }
    let env = Env::new();
    let script = "echo bfl-out; echo bfl-err >&2";
    let out = env.run(&["run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script]);
    assert!(out.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("bfl-out") && stderr.contains("bfl-err"), "{stdout} / {stderr}");
    let out = env.run(&["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("bfl-out") && !stderr.contains("bfl-err"), "{stdout} / {stderr}");
    let (code, err) = env.fails(&["run", "-d", "-a", "stdout", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("Conflicting options: -a and -d"), "{err}");
    let (code, err) = env.fails(&["run", "-a", "stdfoo", "busybox", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("STDIN, STDOUT and STDERR"), "{err}");
}

/// The memory limit the host's cgroup holds for container `id`: v2's memory.max, else v1's file.
fn cgroup_memory_limit(id: &str) -> String {
    let v2 = std::path::PathBuf::from("/sys/fs/cgroup/berth").join(id).join("memory.max");
    let v1 = std::path::PathBuf::from("/sys/fs/cgroup/memory/berth").join(id).join("memory.limit_in_bytes");
    let path = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { v2 } else { v1 };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
}

#[test]
fn bfl_update_changes_a_running_containers_limits_and_restart_policy() {
    if !require_root("bfl_update_changes_a_running_containers_limits_and_restart_policy") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "bfl-up", "--memory", "64m", "busybox", "sleep", "1000"]);
    let id = id.trim();
    assert_eq!(cgroup_memory_limit(id), (64u64 << 20).to_string());
    let out = env.ok(&["update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50", "bfl-up"]);
    assert_eq!(out.trim(), "bfl-up");
    assert_eq!(cgroup_memory_limit(id), (128u64 << 20).to_string());
    let host = env.inspect("bfl-up")["HostConfig"].clone();
    assert_eq!((host["Memory"].as_i64(), host["MemorySwap"].as_i64()), (Some(128 << 20), Some(256 << 20)));
    assert_eq!(host["PidsLimit"], 50);
    // Lower again, below the swap limit set above.
    env.ok(&["update", "--memory", "32m", "bfl-up"]);
    assert_eq!(cgroup_memory_limit(id), (32u64 << 20).to_string());
    env.ok(&["update", "--restart", "on-failure:3", "bfl-up"]);
    let policy = env.inspect("bfl-up")["HostConfig"]["RestartPolicy"].clone();
    assert_eq!((policy["Name"].as_str(), policy["MaximumRetryCount"].as_i64()), (Some("on-failure"), Some(3)));

    let (code, err) = env.fails(&["update", "bfl-up"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("you must provide one or more flags"), "{err}");
    let (code, err) = env.fails(&["update", "--memory", "lots", "bfl-up"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("--memory") && err.contains("lots"), "{err}");
    let (_, err) = env.fails(&["update", "--memory-swap", "16m", "bfl-up"]);
    assert!(err.contains("Minimum memoryswap limit should be larger than memory limit"), "{err}");
    let (_, err) = env.fails(&["update", "--memory", "512m", "bfl-up"]);
    assert!(err.contains("update the memoryswap at the same time"), "{err}");
    assert_eq!(cgroup_memory_limit(id), (32u64 << 20).to_string(), "a refused update changed the cgroup");

    env.ok(&["run", "-d", "--rm", "--name", "bfl-auto", "busybox", "sleep", "1000"]);
    let (_, err) = env.fails(&["update", "--restart", "always", "bfl-auto"]);
    assert!(err.contains("AutoRemove is enabled"), "{err}");
    env.ok(&["rm", "-f", "bfl-up", "bfl-auto"]);
}
