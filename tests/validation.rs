//! Options validated as Docker validates them, failures that name their cause, `cp` edge cases and plain
//! diagnostics on a pipe. The first tests need no container (and no root); the rest run real containers
//! (they skip loudly without root; CI=true forbids skipping). Containers made here are named `bvd-*`.

mod rt;
mod support;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use rt::{Env, require_root};

/// `berth ARGS` against a fresh, empty state root: enough for what fails before an image is needed.
fn bare(args: &[&str]) -> Output {
    let root = tempfile::Builder::new().prefix("berth-bvd-").tempdir().unwrap();
    std::fs::write(root.path().join("config.toml"), "").unwrap();
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root.path())
        .args(args)
        .env_remove("BERTH_LOG")
        .env_remove("NO_COLOR")
        .env("BERTH_CONFIG", root.path().join("config.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("run berth")
}

/// Requires `berth ARGS` to fail with a message containing `wanted`.
fn refused(args: &[&str], wanted: &str) {
    let out = bare(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "berth {args:?} should fail");
    assert!(stderr.contains(wanted), "berth {args:?}: expected {wanted:?} in:\n{stderr}");
}

#[test]
fn limits_outside_dockers_ranges_are_refused_before_anything_runs() {
    let cpus = "Range of CPUs is from 0.01 to";
    refused(&["run", "--cpus", "0.001", "busybox"], cpus);
    refused(&["run", "--cpus", "100000", "busybox"], cpus);
    refused(&["create", "--cpus", "-1", "busybox"], cpus);
    refused(&["run", "-m", "99999999999g", "busybox"], "larger than the kernel's largest memory limit");
    refused(&["run", "--memory", "5m", "busybox"], "Minimum memory limit allowed is 6MB");
    // A refused option stops the run before a pull or a record: the image is never looked for.
    let out = bare(&["run", "--cpus", "0.001", "bvd-no-such-image"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Unable to find image"));
}

#[test]
fn environment_entries_without_a_name_are_refused() {
    refused(&["run", "-e", "=value", "busybox"], "invalid environment variable: =value");
    refused(&["exec", "-e", "=value", "bvd-none", "true"], "invalid environment variable: =value");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "GOOD=1\n=bad\n").unwrap();
    refused(&["run", "--env-file", file.path().to_str().unwrap(), "busybox"], "no variable name on line \"=bad\"");
}

#[test]
fn negative_stop_timeouts_are_values_not_flags() {
    // Parsed as values, these get as far as looking the container up.
    refused(&["stop", "-t", "-1", "bvd-none"], "No such container: bvd-none");
    refused(&["restart", "--time", "-1", "bvd-none"], "No such container: bvd-none");
    refused(&["run", "--stop-timeout", "-1", "--cpus", "0.001", "busybox"], "Range of CPUs");
}

#[test]
fn diagnostics_on_a_pipe_carry_no_colour_codes() {
    // Nothing listens on the discard port: the pull fails after logging its connection attempts.
    let out = bare(&["--log-level", "debug", "pull", "127.0.0.1:9/bvd/none"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG"), "expected debug lines:\n{stderr}");
    assert!(!stderr.contains('\x1b'), "colour codes on a pipe:\n{stderr}");
}

#[test]
fn zero_limits_mean_none_and_a_negative_stop_timeout_waits() {
    if !require_root("zero_limits_mean_none_and_a_negative_stop_timeout_waits") {
        return;
    }
    let env = Env::new();
    env.ok(&["create", "--name", "bvd-zero", "-m", "0", "--cpus", "0", "--stop-timeout", "-1", "busybox", "true"]);
    let doc = env.inspect("bvd-zero");
    assert_eq!(doc["HostConfig"]["Memory"], 0, "{doc}");
    assert_eq!(doc["HostConfig"]["NanoCpus"], 0, "{doc}");
    assert_eq!(doc["Config"]["StopTimeout"], -1, "{doc}");
    // The handler takes its time; with -1 stop waits for it instead of killing.
    let script = "trap 'sleep 1; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "bvd-trap", "busybox", "sh", "-c", script]);
    env.wait_for("the trap", 10, || env.ok(&["logs", "bvd-trap"]).contains("ready"));
    env.ok(&["stop", "-t", "-1", "bvd-trap"]);
    assert_eq!(env.state("bvd-trap")["ExitCode"], 7);
}

#[test]
fn a_command_that_cannot_run_fails_its_start_and_says_why() {
    if !require_root("a_command_that_cannot_run_fails_its_start_and_says_why") {
        return;
    }
    let env = Env::new();
    // /proc/self/exe is the runtime's own binary until the exec, and that is not in the container.
    env.ok(&["create", "--name", "bvd-self", "busybox", "/proc/self/exe"]);
    let (_, err) = env.fails(&["start", "bvd-self"]);
    assert!(err.contains("exec: \"/proc/self/exe\": no such file or directory"), "{err}");
    assert!(err.contains("outside the container"), "{err}");
    let state = env.state("bvd-self");
    assert!(state["Error"].as_str().unwrap().contains("/proc/self/exe"), "{state}");
    assert_eq!(state["ExitCode"], 127, "{state}");
    let out = env.run(&["run", "--rm", "busybox", "/bin/bvd-missing"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exec: \"/bin/bvd-missing\": no such file or directory"));
    let out = env.run(&["run", "--rm", "busybox", "bvd-missing"]);
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exec: \"bvd-missing\": executable file not found in $PATH"), "{err}");

    env.ok(&["run", "-d", "--name", "bvd-live", "busybox", "sleep", "1000"]);
    let out = env.run(&["exec", "bvd-live", "/proc/self/exe"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the container"), "{out:?}");
    let out = env.run(&["exec", "bvd-live", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"/etc/passwd\": permission denied"), "{out:?}");
}

#[test]
fn pids_limits_too_low_or_reached_are_named() {
    if !require_root("pids_limits_too_low_or_reached_are_named") {
        return;
    }
    let env = Env::new();
    let (_, err) = env.fails(&["run", "--rm", "--pids-limit", "1", "busybox", "true"]);
    assert!(err.contains("pids limit") && err.contains("(1) is too low"), "{err}");
    assert_eq!(env.ok(&["run", "--rm", "--pids-limit", "2", "busybox", "echo", "ok"]), "ok\n");

    let script = "sleep 1000 & sleep 1000 & sleep 1000 & echo ready; wait";
    env.ok(&["run", "-d", "--name", "bvd-full", "--pids-limit", "4", "busybox", "sh", "-c", script]);
    env.wait_for("four processes", 10, || env.ok(&["logs", "bvd-full"]).contains("ready"));
    let (_, err) = env.fails(&["exec", "bvd-full", "true"]);
    assert!(err.contains("pids limit (4) is reached"), "{err}");
}

#[test]
fn oversized_environments_are_refused_with_the_cause() {
    if !require_root("oversized_environments_are_refused_with_the_cause") {
        return;
    }
    let env = Env::new();
    // An 8 MiB stack limit makes the kernel's ARG_MAX 2 MiB, whatever this shell's limit is.
    let berth = |args: &[&str]| -> Output {
        let mut cmd = env.command(args);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 8 << 20, rlim_max: 8 << 20 };
                match libc::setrlimit(libc::RLIMIT_STACK, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        cmd.output().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let one_big = dir.path().join("one.env");
    std::fs::write(&one_big, format!("BIG={}\n", "x".repeat(200_000))).unwrap();
    let out = berth(&["run", "--rm", "--env-file", one_big.to_str().unwrap(), "busybox", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("too large") && err.contains("variable BIG"), "{err}");

    // Just under ARG_MAX for the container's own command; an exec adding more is over it.
    let mut many = std::fs::File::create(dir.path().join("many.env")).unwrap();
    for i in 0..16 {
        writeln!(many, "V{i}={}", "y".repeat(120_000)).unwrap();
    }
    let many = dir.path().join("many.env");
    let out =
        berth(&["run", "-d", "--name", "bvd-env", "--env-file", many.to_str().unwrap(), "busybox", "sleep", "1000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let extra = format!("A={}", "z".repeat(120_000));
    let more = format!("B={}", "z".repeat(120_000));
    let out = berth(&["exec", "-e", &extra, "-e", &more, "bvd-env", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("too large") && err.contains("in all"), "{err}");
    assert!(berth(&["exec", "bvd-env", "true"]).status.success());
}

/// A tar built in memory from (path, entry) pairs.
enum Entry<'a> {
    File(&'a str),
    Dir,
    Link(&'a str),
}

fn tar_of(entries: &[(&str, Entry)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o755);
        header.set_size(0);
        match entry {
            Entry::File(data) => {
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, data.as_bytes()).unwrap();
            }
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, path, std::io::empty()).unwrap();
            }
            Entry::Link(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// `berth cp - DEST` fed `tar`.
fn cp_stream(env: &Env, dest: &str, tar: &[u8]) -> Output {
    let mut child = env
        .command(&["cp", "-", dest])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(tar).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cp_streams_make_missing_directories_and_later_entries_win() {
    if !require_root("cp_streams_make_missing_directories_and_later_entries_win") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "bvd-cp", "busybox", "sh", "-c", "mkdir /dir /keep; exec sleep 1000"]);
    env.wait_for("/dir", 10, || env.run(&["exec", "bvd-cp", "test", "-d", "/dir"]).status.success());
    // `tar -cf - a/b` lists no entry for `a`: its entries need their directory made.
    let implicit = tar_of(&[("a/b/", Entry::Dir), ("a/b/f", Entry::File("deep"))]);
    let out = cp_stream(&env, "bvd-cp:/dir", &implicit);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.ok(&["exec", "bvd-cp", "cat", "/dir/a/b/f"]), "deep");
    // A later entry at the same path replaces the earlier one, as tar does; nothing goes through a link.
    let replaced = tar_of(&[
        ("x", Entry::Link("/keep/x")),
        ("x", Entry::File("file wins")),
        ("d", Entry::Link("/keep")),
        ("d", Entry::Dir),
        ("d/inner", Entry::File("in d")),
    ]);
    let out = cp_stream(&env, "bvd-cp:/dir", &replaced);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing =
        env.ok(&["exec", "bvd-cp", "sh", "-c", "cat /dir/x /dir/d/inner; ls -A /keep; test -L /dir/x || echo plain"]);
    assert_eq!(listing, "file winsin dplain\n");
}

#[test]
fn cp_onto_a_dangling_symlink_follows_it_inside_the_container() {
    if !require_root("cp_onto_a_dangling_symlink_follows_it_inside_the_container") {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let payload = host.path().join("payload");
    std::fs::write(&payload, "copied").unwrap();
    let setup = "mkdir -p /srv; ln -s /srv/target /dangling; ln -s /bvd-missing/x /deep; exec sleep 1000";
    env.ok(&["run", "-d", "--name", "bvd-link", "busybox", "sh", "-c", setup]);
    env.wait_for("the links", 10, || env.run(&["exec", "bvd-link", "test", "-L", "/deep"]).status.success());
    env.ok(&["cp", payload.to_str().unwrap(), "bvd-link:/dangling"]);
    assert_eq!(env.ok(&["exec", "bvd-link", "readlink", "/dangling"]), "/srv/target\n", "the link was replaced");
    assert_eq!(env.ok(&["exec", "bvd-link", "cat", "/srv/target"]), "copied");
    // A link into a missing directory is refused, naming where it points.
    let (_, err) = env.fails(&["cp", payload.to_str().unwrap(), "bvd-link:/deep"]);
    assert!(err.contains("symlink to /bvd-missing/x"), "{err}");
    assert_eq!(env.ok(&["exec", "bvd-link", "readlink", "/deep"]), "/bvd-missing/x\n");
    // The same for a stopped container, whose root is its overlay.
    env.ok(&["stop", "-t", "0", "bvd-link"]);
    std::fs::write(&payload, "cold").unwrap();
    env.ok(&["cp", payload.to_str().unwrap(), "bvd-link:/dangling"]);
    let out = env.run(&["cp", "bvd-link:/srv/target", "-"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cold"));
}
