//! Healthchecks on real containers: checks that pass, fail, time out and wait out a start period, the
//! image's HEALTHCHECK from a `berth build`, `--no-healthcheck`, `ps` STATUS and `--filter health=`, and the
//! state across stop and restart. Waits have generous deadlines; nothing asserts how fast a check ran.
//! Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use rt::{Env, require_root};
use serde_json::Value;

/// How long a test waits for a state a one-second interval reaches in a few seconds.
const PATIENCE: u64 = 90;

fn health(env: &Env, name: &str) -> Value {
    env.state(name)["Health"].clone()
}

fn health_status(env: &Env, name: &str) -> String {
    health(env, name)["Status"].as_str().unwrap_or_default().to_string()
}

fn log_len(env: &Env, name: &str) -> usize {
    health(env, name)["Log"].as_array().map_or(0, Vec::len)
}

/// The STATUS column of `ps` for one container.
fn ps_status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_default()
}

/// Names `ps` lists under `filter`.
fn ps_names(env: &Env, filter: &str) -> Vec<String> {
    let mut names: Vec<String> =
        env.ok(&["ps", "--filter", filter, "--format", "{{.Names}}"]).lines().map(str::to_string).collect();
    names.sort();
    names
}

#[test]
fn bh_a_passing_check_makes_the_container_healthy() {
    if !require_root("bh_a_passing_check_makes_the_container_healthy") {
        return;
    }
    let env = Env::new();
    let sleep = ["busybox", "sleep", "300"];
    let run = |name: &str, flags: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&sleep);
        env.ok(&args);
    };
    run("bh-slow", &["--health-cmd", "true", "--health-interval", "1h"]);
    run("bh-good", &["--health-cmd", "echo fine", "--health-interval", "1s"]);
    run("bh-plain", &[]);

    assert_eq!(health_status(&env, "bh-slow"), "starting");
    assert_eq!(health(&env, "bh-slow")["FailingStreak"], 0);
    assert!(ps_status(&env, "bh-slow").ends_with("(health: starting)"), "{}", ps_status(&env, "bh-slow"));
    assert_eq!(health(&env, "bh-plain"), Value::Null, "no healthcheck, no State.Health");
    assert_eq!(env.inspect("bh-plain")["Config"]["Healthcheck"], Value::Null);

    env.wait_for("bh-good to be healthy", PATIENCE, || health_status(&env, "bh-good") == "healthy");
    let h = health(&env, "bh-good");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["ExitCode"].as_i64(), last["Output"].as_str()), (Some(0), Some("fine\n")), "{h}");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap(), "{last}");
    let config = &env.inspect("bh-good")["Config"]["Healthcheck"];
    assert_eq!(config["Test"], serde_json::json!(["CMD-SHELL", "echo fine"]));
    assert_eq!(config["Interval"], 1_000_000_000i64);
    assert!(ps_status(&env, "bh-good").starts_with("Up ") && ps_status(&env, "bh-good").ends_with("(healthy)"));
    // The monitor announces the change right after recording it.
    let health_events = || {
        let filter = ["events", "--since", "0", "--until", "0s", "--filter", "container=bh-good"];
        env.ok(&[&filter[..], &["--format", "{{.Action}}"]].concat())
    };
    env.wait_for("the health_status event", PATIENCE, || {
        health_events().lines().any(|l| l == "health_status: healthy")
    });

    assert_eq!(ps_names(&env, "health=healthy"), ["bh-good"]);
    assert_eq!(ps_names(&env, "health=starting"), ["bh-slow"]);
    assert_eq!(ps_names(&env, "health=none"), ["bh-plain"]);
    assert!(ps_names(&env, "health=unhealthy").is_empty());
    let (_, err) = env.fails(&["ps", "--filter", "health=sick"]);
    assert!(err.contains("health"), "{err}");
    env.ok(&["rm", "-f", "bh-slow", "bh-good", "bh-plain"]);
}

#[test]
fn bh_a_failing_check_turns_unhealthy_after_its_retries() {
    if !require_root("bh_a_failing_check_turns_unhealthy_after_its_retries") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bh-bad",
        "--health-cmd",
        "echo broken >&2; exit 3",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]);
    env.wait_for("bh-bad to be unhealthy", PATIENCE, || health_status(&env, "bh-bad") == "unhealthy");
    let h = health(&env, "bh-bad");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    assert!(log_len(&env, "bh-bad") >= 2, "{h}");
    for entry in h["Log"].as_array().unwrap() {
        assert_eq!((entry["ExitCode"].as_i64(), entry["Output"].as_str()), (Some(3), Some("broken\n")), "{h}");
    }
    // Docker does not restart an unhealthy container, and neither does berth.
    assert_eq!(env.status("bh-bad"), "running");
    assert!(ps_status(&env, "bh-bad").ends_with("(unhealthy)"));
    assert_eq!(ps_names(&env, "health=unhealthy"), ["bh-bad"]);
    env.wait_for("the log to keep only five results", PATIENCE, || {
        health(&env, "bh-bad")["FailingStreak"].as_u64().unwrap_or(0) >= 6
    });
    assert_eq!(log_len(&env, "bh-bad"), 5);
    env.ok(&["rm", "-f", "bh-bad"]);
}

#[test]
fn bh_the_start_period_spares_a_starting_container_and_a_hung_check_is_killed() {
    if !require_root("bh_the_start_period_spares_a_starting_container_and_a_hung_check_is_killed") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bh-warm",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]);
    env.wait_for("three failed checks", PATIENCE, || log_len(&env, "bh-warm") >= 3);
    let h = health(&env, "bh-warm");
    assert_eq!((h["Status"].as_str(), h["FailingStreak"].as_u64()), (Some("starting"), Some(0)), "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1, "{h}");
    env.ok(&["exec", "bh-warm", "touch", "/tmp/ready"]);
    env.wait_for("bh-warm to be healthy", PATIENCE, || health_status(&env, "bh-warm") == "healthy");
    // Once it was healthy, the start period spares nothing: one failure is its one retry.
    env.ok(&["exec", "bh-warm", "rm", "/tmp/ready"]);
    env.wait_for("bh-warm to be unhealthy", PATIENCE, || health_status(&env, "bh-warm") == "unhealthy");

    // Each probe records its pid (the shell execs sleep in place), then hangs past its one-second timeout.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bh-hung",
        "--health-cmd",
        "echo $$ >> /tmp/probes; exec sleep 1000",
        "--health-timeout",
        "1s",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]);
    env.wait_for("bh-hung to be unhealthy", PATIENCE, || health_status(&env, "bh-hung") == "unhealthy");
    let first = &health(&env, "bh-hung")["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{first}");
    assert_eq!(first["Output"], "Health check exceeded timeout (1s)", "{first}");
    let probes = env.ok(&["exec", "bh-hung", "cat", "/tmp/probes"]);
    let pid = probes.lines().next().expect("a probe wrote its pid").trim().to_string();
    let alive = env.run(&["exec", "bh-hung", "test", "-e", &format!("/proc/{pid}")]);
    assert!(!alive.status.success(), "the timed-out probe {pid} still runs");
    env.ok(&["rm", "-f", "bh-warm", "bh-hung"]);
}

#[test]
fn bh_the_image_healthcheck_applies_unless_disabled() {
    if !require_root("bh_the_image_healthcheck_applies_unless_disabled") {
        return;
    }
    let env = Env::new();
    let ctx = tempfile::Builder::new().prefix("bh-ctx-").tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=1s --retries=4 CMD echo from-image\nCMD [\"sleep\", \"300\"]\n",
    )
    .unwrap();
    env.ok(&["build", "--progress", "plain", "-t", "bh-img", ctx.path().to_str().unwrap()]);

    env.ok(&["run", "-d", "--name", "bh-inherit", "bh-img"]);
    env.wait_for("the image's check to pass", PATIENCE, || health_status(&env, "bh-inherit") == "healthy");
    assert_eq!(health(&env, "bh-inherit")["Log"][0]["Output"], "from-image\n");
    let config = &env.inspect("bh-inherit")["Config"]["Healthcheck"];
    assert_eq!(config["Test"], serde_json::json!(["CMD-SHELL", "echo from-image"]));
    assert_eq!(config["Retries"], 4);

    // A flag replaces its own field only; the test and the rest come from the image.
    env.ok(&["create", "--name", "bh-tuned", "--health-retries", "9", "bh-img"]);
    let config = &env.inspect("bh-tuned")["Config"]["Healthcheck"];
    assert_eq!((config["Retries"].as_i64(), config["Interval"].as_i64()), (Some(9), Some(1_000_000_000)));
    assert_eq!(config["Test"], serde_json::json!(["CMD-SHELL", "echo from-image"]));

    env.ok(&["run", "-d", "--name", "bh-off", "--no-healthcheck", "bh-img"]);
    assert_eq!(env.inspect("bh-off")["Config"]["Healthcheck"]["Test"], serde_json::json!(["NONE"]));
    assert_eq!(health(&env, "bh-off"), Value::Null);
    assert_eq!(ps_names(&env, "health=none"), ["bh-off"]);
    assert!(!ps_status(&env, "bh-off").contains('('), "{}", ps_status(&env, "bh-off"));
    let (_, err) = env.fails(&["run", "-d", "--no-healthcheck", "--health-cmd", "true", "bh-img"]);
    assert!(err.contains("--no-healthcheck conflicts with --health-* options"), "{err}");
    env.ok(&["rm", "-f", "bh-inherit", "bh-tuned", "bh-off"]);
}

#[test]
fn bh_stop_ends_the_checks_and_restart_starts_over() {
    if !require_root("bh_stop_ends_the_checks_and_restart_starts_over") {
        return;
    }
    let env = Env::new();
    // The flag lives on a tmpfs, so every start begins without it.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bh-cycle",
        "--tmpfs",
        "/flag",
        "--health-cmd",
        "test -e /flag/ok",
        "--health-interval",
        "1s",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]);
    env.ok(&["exec", "bh-cycle", "touch", "/flag/ok"]);
    env.wait_for("bh-cycle to be healthy", PATIENCE, || health_status(&env, "bh-cycle") == "healthy");

    env.ok(&["stop", "-t", "1", "bh-cycle"]);
    // Docker's record of a container whose checks stopped.
    assert_eq!(health_status(&env, "bh-cycle"), "unhealthy");
    let stopped = log_len(&env, "bh-cycle");
    let results = health(&env, "bh-cycle")["Log"].clone();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(health(&env, "bh-cycle")["Log"], results, "no check may run while the container is stopped");

    env.ok(&["start", "bh-cycle"]);
    assert_eq!(health(&env, "bh-cycle")["FailingStreak"], 0);
    let restarted = health(&env, "bh-cycle")["Log"].as_array().unwrap().last().cloned();
    env.wait_for("a check after the restart", PATIENCE, || {
        health(&env, "bh-cycle")["Log"].as_array().unwrap().last().cloned() != restarted
    });
    let h = health(&env, "bh-cycle");
    assert_eq!(h["Status"], "starting", "a restart starts over, and the start period spares it: {h}");
    assert!(h["Log"].as_array().unwrap().len() >= stopped, "the earlier results are kept: {h}");
    env.ok(&["exec", "bh-cycle", "touch", "/flag/ok"]);
    env.wait_for("bh-cycle to be healthy again", PATIENCE, || health_status(&env, "bh-cycle") == "healthy");
    env.ok(&["rm", "-f", "bh-cycle"]);
}

#[test]
fn bh_a_kill_that_lands_while_a_check_starts_still_stops_the_container() {
    if !require_root("bh_a_kill_that_lands_while_a_check_starts_still_stops_the_container") {
        return;
    }
    let env = Env::new();
    // Checks back to back, so a kill often lands while a probe is half-started: its process dies with the
    // container's pid namespace and must still be reaped, or the namespace's init never finishes exiting.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bh-race",
        "--health-cmd",
        "true",
        "--health-interval",
        "1ms",
        "busybox",
        "sleep",
        "300",
    ]);
    for round in 0..30 {
        env.wait_for("a check to have run", PATIENCE, || log_len(&env, "bh-race") > 0);
        std::thread::sleep(std::time::Duration::from_millis(100 + 7 * round));
        env.ok(&["kill", "bh-race"]);
        assert_eq!(env.status("bh-race"), "exited", "round {round}");
        env.ok(&["start", "bh-race"]);
    }
    env.ok(&["rm", "-f", "bh-race"]);
}
