//! Lifecycle of real containers across berth processes: every transition, stop escalation, restart
//! policies, pause freezing, OOM kills, following logs, surviving the starter, recovering from a killed
//! monitor, and parallel creators. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rt::{Env, monitor_pid, monitor_pids, pid_alive, require_root};

/// Lines the container has logged so far.
fn log_lines(env: &Env, name: &str) -> usize {
    env.ok(&["logs", name]).lines().count()
}

#[test]
fn every_transition_from_created_to_removed() {
    if !require_root("every_transition_from_created_to_removed") {
        return;
    }
    let env = Env::new();
    let id = env
        .ok(&[
            "create",
            "--name",
            "counter",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(env.status("counter"), "created");
    assert!(env.ok(&["ps"]).lines().count() == 1, "ps without -a hides created containers");
    assert!(env.ok(&["ps", "-a"]).contains("counter"));

    env.ok(&["start", "counter"]);
    let state = env.state("counter");
    assert_eq!(state["Status"], "running");
    assert_eq!(state["Running"], true);
    assert!(state["Pid"].as_i64().unwrap() > 0);
    // As docker: starting a running container is no error and changes nothing.
    let pid = state["Pid"].clone();
    assert_eq!(env.ok(&["start", "counter"]).trim(), "counter");
    assert_eq!(env.state("counter")["Pid"], pid);

    env.wait_for("output", 10, || log_lines(&env, "counter") >= 3);
    env.ok(&["pause", "counter"]);
    assert_eq!(env.state("counter")["Paused"], true);
    assert_eq!(env.status("counter"), "paused");
    let frozen = log_lines(&env, "counter");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(log_lines(&env, "counter"), frozen, "a paused container must not advance");
    let (_, err) = env.fails(&["pause", "counter"]);
    assert!(err.contains("paused"), "{err}");
    env.ok(&["unpause", "counter"]);
    env.wait_for("the counter to resume", 10, || log_lines(&env, "counter") > frozen + 2);
    let top = env.ok(&["top", "counter"]);
    assert!(top.contains("PID") && top.contains("sh -c"), "{top}");

    let pid = env.state("counter")["Pid"].as_i64().unwrap() as i32;
    env.ok(&["stop", "-t", "5", "counter"]);
    let state = env.state("counter");
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["Running"], false);
    assert!(!pid_alive(pid));
    assert_ne!(state["FinishedAt"], "0001-01-01T00:00:00Z");
    let (_, err) = env.fails(&["unpause", "counter"]);
    assert!(err.contains("exited"), "{err}");

    env.ok(&["restart", "counter"]);
    assert_eq!(env.status("counter"), "running");
    env.ok(&["rename", "counter", "renamed"]);
    assert_eq!(env.inspect(&id[..12])["Name"], "/renamed");
    let (_, err) = env.fails(&["rm", "renamed"]);
    assert!(err.contains("running"), "{err}");
    env.ok(&["kill", "renamed"]);
    env.wait_for("kill", 10, || env.status("renamed") == "exited");
    assert_eq!(env.state("renamed")["ExitCode"], 137);
    env.ok(&["rm", "renamed"]);
    assert!(env.ids().is_empty());
    env.assert_no_leftovers(&id);
}

#[test]
fn wait_rm_and_prune() {
    if !require_root("wait_rm_and_prune") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "busybox", "sh", "-c", "sleep 0.3; exit 5"]).trim().to_string();
    assert_eq!(env.ok(&["wait", &id[..8]]).trim(), "5");
    assert_eq!(env.state(&id)["ExitCode"], 5);

    let gone = env.ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.2"]).trim().to_string();
    env.wait_for("--rm removal", 10, || !env.ids().contains(&gone));
    env.assert_no_leftovers(&gone);

    let running = env.ok(&["run", "-d", "busybox", "sleep", "100"]).trim().to_string();
    env.ok(&["create", "busybox"]);
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains(&id) && pruned.contains("Total reclaimed containers: 2"), "{pruned}");
    assert_eq!(env.ids(), vec![running.clone()]);
    env.ok(&["rm", "-f", &running]);
    assert!(env.ids().is_empty());
    env.assert_no_leftovers(&running);
    env.assert_no_leftovers(&id);
}

#[test]
fn stop_escalates_to_sigkill_after_the_timeout() {
    if !require_root("stop_escalates_to_sigkill_after_the_timeout") {
        return;
    }
    let env = Env::new();
    // PID 1 in its namespace ignores SIGTERM without a handler: only SIGKILL ends it.
    env.ok(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"]);
    let started = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "stop returned after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    assert_eq!(env.state("stubborn")["ExitCode"], 137);

    // A container that handles the stop signal exits without escalation.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    env.ok(&["stop", "-t", "10", "polite"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(env.state("polite")["ExitCode"], 3);
}

#[test]
fn restart_policies() {
    if !require_root("restart_policies") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"]);
    env.wait_for("on-failure to give up", 20, || {
        env.status("flaky") == "exited" && env.inspect("flaky")["RestartCount"] == 2
    });
    assert_eq!(env.state("flaky")["ExitCode"], 3);

    env.ok(&["run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true"]);
    env.wait_for("exit", 10, || env.status("fine") == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.inspect("fine")["RestartCount"], 0, "a zero exit is not a failure");

    env.ok(&["run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.1"]);
    env.wait_for("restarts", 20, || env.inspect("forever")["RestartCount"].as_u64().unwrap_or(0) >= 2);
    env.ok(&["stop", "forever"]);
    let count = env.inspect("forever")["RestartCount"].clone();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(env.status("forever"), "exited", "a stopped container stays stopped");
    assert_eq!(env.inspect("forever")["RestartCount"], count);

    env.ok(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "100"]);
    env.ok(&["kill", "unless"]);
    env.wait_for("exit", 10, || env.status("unless") == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.status("unless"), "exited");

    env.ok(&["run", "-d", "--name", "never", "busybox", "sh", "-c", "exit 1"]);
    env.wait_for("exit", 10, || env.status("never") == "exited");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.inspect("never")["RestartCount"], 0);
}

#[test]
fn memory_limit_breach_is_an_oom_kill() {
    if !require_root("memory_limit_breach_is_an_oom_kill") {
        return;
    }
    let env = Env::new();
    // `tail` keeps its whole (endless, newline-free) input in memory.
    let out = env.run(&["run", "--name", "hog", "--memory", "16m", "busybox", "sh", "-c", "tail /dev/zero"]);
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    let state = env.state("hog");
    assert_eq!(state["OOMKilled"], true);
    assert_eq!(state["ExitCode"], 137);
    assert_eq!(env.inspect("hog")["HostConfig"]["Memory"], 16 * 1024 * 1024);
}

#[test]
fn limits_reach_the_cgroup() {
    if !require_root("limits_reach_the_cgroup") {
        return;
    }
    let env = Env::new();
    let id =
        env.ok(&["run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20", "busybox", "sleep", "100"]);
    let id = id.trim();
    let read =
        |candidates: &[String]| candidates.iter().find_map(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let base = |ctrl: &str, file: &str| {
        vec![format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}"), format!("/sys/fs/cgroup/berth/{id}/{file}")]
    };
    let mem = read(&[base("memory", "memory.limit_in_bytes"), base("", "memory.max")].concat());
    assert_eq!(mem.trim(), (64 * 1024 * 1024).to_string());
    let pids = read(&[base("pids", "pids.max"), base("", "pids.max")].concat());
    assert_eq!(pids.trim(), "20");
    let quota =
        read(&[base("cpu", "cpu.cfs_quota_us"), base("cpu,cpuacct", "cpu.cfs_quota_us"), base("", "cpu.max")].concat());
    assert!(quota.trim() == "50000" || quota.starts_with("50000 100000"), "cpu quota: {quota:?}");
    // The pids limit is enforced: a fork bomb stops at the limit.
    let forks = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 5 & done 2>&1 | grep -c -i 'resource\\|fork' ; true",
    ]);
    assert!(forks.status.success());
    let count: u32 = String::from_utf8_lossy(&forks.stdout).trim().parse().unwrap_or(0);
    assert!(count > 0, "forks beyond the pids limit must fail");
}

#[test]
fn logs_follow_tail_and_timestamps() {
    if !require_root("logs_follow_tail_and_timestamps") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done; echo bye >&2",
    ]);
    let started = Instant::now();
    let followed = env.run(&["logs", "-f", "talker"]);
    assert!(started.elapsed() >= Duration::from_millis(600), "logs -f must follow until the container exits");
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(String::from_utf8_lossy(&followed.stderr), "bye\n");
    assert_eq!(env.ok(&["logs", "--tail", "2", "talker"]), "line5\n");
    let stamped = env.ok(&["logs", "-t", "--tail", "5", "talker"]);
    let first = stamped.lines().next().unwrap();
    let (time, text) = first.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{first}");
    assert_eq!(text, "line2");
    assert!(env.ok(&["logs", "--since", "1h", "talker"]).contains("line1"));
    assert_eq!(env.ok(&["logs", "--until", "1h", "talker"]), "");
}

#[test]
fn containers_outlive_their_starter_and_a_dead_monitor_is_detected() {
    if !require_root("containers_outlive_their_starter_and_a_dead_monitor_is_detected") {
        return;
    }
    let env = Env::new();
    // The starting process exits at once; the container keeps running.
    let id = env.ok(&["run", "-d", "--name", "survivor", "busybox", "sleep", "100"]).trim().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.status("survivor"), "running");
    let pid = env.state("survivor")["Pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(pid));
    let ps = env.ok(&["ps", "--format", "json"]);
    let line: serde_json::Value = serde_json::from_str(ps.lines().next().unwrap()).unwrap();
    assert_eq!(line["Names"], "survivor");
    assert_eq!(line["State"], "running");

    let monitor = monitor_pid(&id).expect("the monitor process");
    assert_ne!(monitor, std::process::id() as i32);
    // CVE-2019-5736: the monitor's binary (and so the exe of the container's init before it execs) is
    // reached only through a read-only mount, so no container process can overwrite it.
    let exe = rustix::fs::statvfs(format!("/proc/{monitor}/exe").as_str()).expect("statvfs monitor exe");
    assert!(exe.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY), "monitor binary must be on a read-only mount");
    let host_exe = rustix::fs::statvfs(env!("CARGO_BIN_EXE_berth")).unwrap();
    assert!(!host_exe.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY), "the test needs a writable binary");
    Command::new("kill").args(["-9", &monitor.to_string()]).status().unwrap();
    env.wait_for("the monitor to die", 10, || !pid_alive(monitor));

    // The next command notices, cleans up and reports the container as Docker would.
    let state = env.state("survivor");
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 255);
    assert!(state["Error"].as_str().unwrap().contains("monitor"));
    env.wait_for("the container process to be gone", 10, || !pid_alive(pid));
    env.assert_no_leftovers(&id);
    env.ok(&["start", "survivor"]);
    assert_eq!(env.status("survivor"), "running");
    env.ok(&["rm", "-f", "survivor"]);
    env.assert_no_leftovers(&id);
}

#[test]
fn twenty_parallel_creators_get_unique_names_and_ids() {
    if !require_root("twenty_parallel_creators_get_unique_names_and_ids") {
        return;
    }
    let env = Env::new();
    let spawned: Vec<_> = (0..20)
        .map(|_| {
            env.command(&["run", "-d", "busybox", "sleep", "30"]).stdout(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in spawned {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    let names: Vec<String> = env
        .ok(&["ps", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"].as_str().unwrap().to_string())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), 20, "all 20 running");
    assert_eq!(unique.len(), 20, "names must be unique: {names:?}");
}

#[test]
fn kill_returns_once_the_container_is_down_so_rm_follows() {
    if !require_root("kill_returns_once_the_container_is_down_so_rm_follows") {
        return;
    }
    let env = Env::new();
    // A container that ignores SIGTERM and whose monitor has cleanup to do: each `kill && rm` must hold.
    for round in 0..5 {
        let name = format!("victim{round}");
        env.ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", "trap '' TERM; sleep 300"]);
        env.ok(&["kill", &name]);
        assert_ne!(env.status(&name), "running", "round {round}: kill returned while it still ran");
        env.ok(&["rm", &name]);
    }
    assert!(env.ids().is_empty());
}

#[test]
fn rm_force_of_an_rm_container_never_loses_the_race_to_its_monitor() {
    if !require_root("rm_force_of_an_rm_container_never_loses_the_race_to_its_monitor") {
        return;
    }
    let env = Env::new();
    // `rm -f` kills; the `--rm` monitor then removes too. Whoever claims it first removes it, the other
    // waits: `rm -f` always succeeds and the anonymous volume goes with the container either way.
    for round in 0..8 {
        let name = format!("raced{round}");
        let id = env.ok(&["run", "-d", "--rm", "-v", "/data", "--name", &name, "busybox", "sleep", "300"]);
        let volumes = env.ok(&["volume", "ls", "-q"]);
        assert_eq!(volumes.lines().count(), 1, "round {round}: {volumes}");
        env.ok(&["rm", "-f", &name]);
        assert!(!env.ids().contains(&id.trim().to_string()), "round {round}: still listed");
        env.wait_for("the anonymous volume's removal", 10, || env.ok(&["volume", "ls", "-q"]).trim().is_empty());
        env.assert_no_leftovers(id.trim());
    }
    // `wait` on an `--rm` container reports its exit code, not that it vanished.
    let id = env.ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.5; exit 3"]);
    assert_eq!(env.ok(&["wait", id.trim()]).trim(), "3");
}

/// The state letter of /proc/<pid>/stat (`T` once stopped).
fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the init's stat");
    stat[stat.rfind(')').unwrap() + 1..].trim_start().chars().next().unwrap()
}

/// A signal goes to the container's init only while that pid is the process berth started: with the
/// recorded start time changed, as if the pid now belonged to another process, `kill` reaches nothing.
#[test]
fn a_signal_never_reaches_a_process_other_than_the_recorded_init() {
    if !require_root("a_signal_never_reaches_a_process_other_than_the_recorded_init") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "brx-reused", "busybox", "sleep", "300"]).trim().to_string();
    let pid = env.state("brx-reused")["Pid"].as_i64().unwrap() as i32;
    let db = rusqlite::Connection::open(env.root().join("berth.db")).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    let start: i64 = db.query_row("SELECT pid_start FROM containers WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
    assert!(start > 0, "the init's start time is recorded");

    db.execute("UPDATE containers SET pid_start = ?2 WHERE id = ?1", rusqlite::params![id, start + 1]).unwrap();
    env.ok(&["kill", "-s", "STOP", "brx-reused"]);
    let state = proc_state(pid);
    // Restored before asserting, so the cleanup of a failed run can still kill the container.
    db.execute("UPDATE containers SET pid_start = ?2 WHERE id = ?1", rusqlite::params![id, start]).unwrap();
    assert_ne!(state, 'T', "the signal reached a process other than the one berth recorded");

    env.ok(&["kill", "-s", "STOP", "brx-reused"]);
    env.wait_for("the recorded init to stop", 10, || proc_state(pid) == 'T');
    env.ok(&["kill", "-s", "CONT", "brx-reused"]);
    env.ok(&["rm", "-f", "brx-reused"]);
    env.assert_no_leftovers(&id);
}

/// Runs `berth ARGS` once per entry of `ops`, all at the same moment; returns each one's output.
fn all_at_once(env: &Env, ops: &[&[&str]]) -> Vec<(Vec<String>, std::process::Output)> {
    let children: Vec<_> = ops
        .iter()
        .map(|args| {
            let mut cmd = env.command(args);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            (args.iter().map(|a| a.to_string()).collect(), cmd.spawn().expect("spawn berth"))
        })
        .collect();
    children.into_iter().map(|(args, child)| (args, child.wait_with_output().expect("wait berth"))).collect()
}

fn assert_all_succeeded(results: &[(Vec<String>, std::process::Output)]) {
    for (args, out) in results {
        assert!(
            out.status.success(),
            "berth {args:?} failed while other berths worked on the same container: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn lifecycle_operations_from_many_berth_processes_take_turns() {
    if !require_root("lifecycle_operations_from_many_berth_processes_take_turns") {
        return;
    }
    let env = Env::new();
    let script = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    let id = env.ok(&["create", "--name", "turns", "busybox", "sh", "-c", script]).trim().to_string();

    // Six starts at once: one launches the monitor, the others find it running, all succeed.
    let start: &[&str] = &["start", "turns"];
    assert_all_succeeded(&all_at_once(&env, &[start; 6]));
    assert_eq!(env.status("turns"), "running");
    assert_eq!(monitor_pids(&id).len(), 1, "concurrent starts launched more than one monitor");

    // Restarts, stops and starts racing each other: each is one whole step, so every one succeeds and the
    // container ends in one consistent state, with exactly the monitors that state implies.
    let restart: &[&str] = &["restart", "-t", "1", "turns"];
    let stop: &[&str] = &["stop", "-t", "1", "turns"];
    for round in 0..3 {
        assert_all_succeeded(&all_at_once(&env, &[restart, stop, restart, start, restart, stop]));
        let status = env.status("turns");
        let monitors = monitor_pids(&id);
        match status.as_str() {
            "running" => {
                assert_eq!(monitors.len(), 1, "round {round}: running with monitors {monitors:?}");
                let pid = env.state("turns")["Pid"].as_i64().unwrap() as i32;
                assert!(pid_alive(pid), "round {round}: the recorded init {pid} is gone");
            }
            "exited" => assert!(monitors.is_empty(), "round {round}: exited but monitors {monitors:?} live"),
            other => panic!("round {round}: left {other}"),
        }
    }

    // Three forced removals at once: one removes it, the others find it gone (as docker says it).
    let rm: &[&str] = &["rm", "-f", "turns"];
    let results = all_at_once(&env, &[rm; 3]);
    assert!(results.iter().any(|(_, out)| out.status.success()), "no rm -f succeeded");
    for (_, out) in results.iter().filter(|(_, out)| !out.status.success()) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No such container"), "a losing rm -f must say the container is gone: {err}");
    }
    assert!(env.ids().is_empty());
    assert!(monitor_pids(&id).is_empty());
    env.assert_no_leftovers(&id);
}

#[test]
fn bst_the_monitor_starts_sealed_without_a_second_exec() {
    if !require_root("bst_the_monitor_starts_sealed_without_a_second_exec") {
        return;
    }
    let env = Env::new();
    // BERTH_LOG makes the monitor write its phases to ROOT/monitor.log (the launcher's, the exec's and the
    // detached monitor's lines).
    let out = env.command(&["run", "--rm", "--network", "none", "busybox", "true"]).env("BERTH_LOG", "warn").output();
    assert!(out.expect("run berth").status.success());
    let log = std::fs::read_to_string(env.root().join("monitor.log")).expect("the monitor's phase log");
    let phases: Vec<&str> = log.lines().filter_map(|l| l.splitn(4, ' ').nth(3)).collect();
    // The launcher executes the monitor through a sealed descriptor: the monitor never re-executes itself.
    assert_eq!(phases.iter().filter(|p| **p == "exec").count(), 1, "phases: {phases:?}");
    for phase in ["spawn", "detached", "prepared", "launched", "started", "exited", "removed"] {
        assert!(phases.contains(&phase), "no {phase} in {phases:?}");
    }
}

#[test]
fn bst_a_run_that_ends_leaves_no_cgroup_or_runtime_state() {
    if !require_root("bst_a_run_that_ends_leaves_no_cgroup_or_runtime_state") {
        return;
    }
    let env = Env::new();
    // A run that ends takes its cgroup, a left-behind child and the runtime state with it.
    let id =
        env.ok(&["run", "-d", "--network", "none", "busybox", "sh", "-c", "sleep 100 & exit 3"]).trim().to_string();
    env.wait_for("the container to exit", 20, || env.status(&id) == "exited");
    assert_eq!(env.state(&id)["ExitCode"], 3);
    for cgroup in rt::cgroup_dirs(&id) {
        assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
    }
    assert!(!std::path::Path::new("/run/berth/libcontainer").join(&id).exists(), "libcontainer state left");
    env.ok(&["start", &id]);
    env.wait_for("the container to exit again", 20, || env.status(&id) == "exited");
    env.ok(&["rm", &id]);
}

#[test]
fn an_exec_let_go_before_its_session_never_runs_and_its_helper_leaves() {
    if !require_root("an_exec_let_go_before_its_session_never_runs_and_its_helper_leaves") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "--network", "none", "busybox", "sleep", "600"]);
    let config = berth_engine::Config::load_from(&env.root().join("config.toml")).expect("the test's config.toml");
    let engine = berth_engine::Engine::open(berth_engine::EngineOptions { root: env.root().to_path_buf(), config })
        .expect("open the engine");
    // The exec helpers of this test's root, by their command line; not the child a helper forks to keep
    // the cgroup lock warm (see `container::migration`), which has the same one.
    let helpers = || {
        let root = env.root().to_string_lossy().into_owned();
        let ours = rt::helper_pids(|args| {
            args.get(1).map(String::as_str) == Some("__exec") && args.get(2).map(String::as_str) == Some(root.as_str())
        });
        ours.iter().filter(|pid| !rt::parent_pid(**pid).is_some_and(|parent| ours.contains(&parent))).count()
    };
    berth_engine::testing::use_monitor_executable(env!("CARGO_BIN_EXE_berth").into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options =
        berth_engine::container::ExecOptions { cmd: vec!["touch".into(), "/tmp/ran".into()], ..Default::default() };
    // What the API server holds while it answers its client: the helper listens, the process waits.
    let pending = runtime.block_on(engine.exec_pending("box", options)).unwrap().expect("an attached exec");
    assert_eq!(helpers(), 1, "the helper waits for the session");
    // The client left before the stream began: nobody will connect.
    drop(pending);
    env.wait_for("the helper to give up", 5, || helpers() == 0);
    let (_, err) = env.fails(&["exec", "box", "ls", "/tmp/ran"]);
    assert!(err.contains("No such file"), "the command ran: {err}");
    env.ok(&["rm", "-f", "box"]);
}

#[test]
fn a_run_or_build_stopped_before_its_container_starts_leaves_no_monitor() {
    if !require_root("a_run_or_build_stopped_before_its_container_starts_leaves_no_monitor") {
        return;
    }
    let env = Env::new();
    let root = env.root().to_string_lossy().into_owned();
    let monitors = || {
        rt::helper_pids(|args| {
            args.get(1).map(String::as_str) == Some("__monitor") && args.get(2).map(String::as_str) == Some(&root)
        })
    };
    // `run` starts its monitor before it looks up the image; one it never hands a container must be gone
    // when the command returns, not a moment later.
    let (code, err) = env.fails(&["run", "--pull", "never", "--network", "none", "nosuch:1", "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("nosuch"), "{err}");
    assert!(monitors().is_empty(), "a monitor outlived the failed run: {:?}", monitors());
    // So does a --no-cache build, for its first RUN step, which a missing COPY source stops before.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nCOPY missing /m\nRUN true\n").unwrap();
    let (code, err) = env.fails(&["build", "--no-cache", "--network", "none", &ctx.path().to_string_lossy()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("missing"), "{err}");
    assert!(monitors().is_empty(), "a monitor outlived the failed build: {:?}", monitors());
    // A container the standby monitor runs is found by its id in the command line, as any other's.
    let id = env.ok(&["run", "-d", "--network", "none", "busybox", "sleep", "30"]).trim().to_string();
    assert_eq!(monitor_pids(&id).len(), 1, "{:?}", monitors());
    assert_eq!(monitors().len(), 1);
    env.ok(&["rm", "-f", &id]);
    env.assert_no_leftovers(&id);
    assert!(monitors().is_empty());
}
