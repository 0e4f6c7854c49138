//! `berth stats` over real containers: CPU of a busy loop, memory held by a process, the memory limit, pids,
//! Docker's JSON keys, paused and exited containers, and the live stream ending on Ctrl-C; and the engine's
//! batched CPU and memory reading that the TUI's container list polls. Needs root (skips loudly otherwise;
//! CI=true forbids skipping).

mod rt;
mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_engine::{Config, Engine, EngineOptions};
use rt::{Env, require_root};
use serde_json::Value;

/// `stats --no-stream --format json` rows, by container name.
fn stats_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["stats", "--no-stream", "--format", "json"];
    all.extend_from_slice(args);
    env.ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stats JSON line {l:?}: {e}")))
        .collect()
}

fn row(env: &Env, name: &str) -> Value {
    let rows = stats_json(env, &[name]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}")).to_string()
}

fn percent(v: &Value, key: &str) -> f64 {
    let t = text(v, key);
    t.strip_suffix('%').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{key} is not a percentage: {t}"))
}

/// Bytes of a Docker size: `64.3MiB`, `100MiB`, `1.2kB`, `0B`.
fn bytes(size: &str) -> f64 {
    let split = size.find(|c: char| c.is_ascii_alphabetic()).unwrap_or_else(|| panic!("no unit in {size:?}"));
    let (number, unit) = size.split_at(split);
    let number: f64 = number.parse().unwrap_or_else(|_| panic!("bad size {size:?}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => panic!("unknown unit in {size:?}"),
    };
    number * scale
}

/// CPU % a busy loop shows at the least: well above an idle container's ~0, and below what it gets on a
/// two-core machine that builds and tests other things at the same time (~25% seen there).
const BUSY: f64 = 15.0;

/// `(usage, limit)` from `MemUsage`.
fn memory(v: &Value) -> (f64, f64) {
    let t = text(v, "MemUsage");
    let (usage, limit) = t.split_once(" / ").unwrap_or_else(|| panic!("MemUsage {t:?}"));
    (bytes(usage), bytes(limit))
}

/// Samples until `accept` holds for a row, failing after `secs`; returns the accepted row.
fn until(env: &Env, name: &str, what: &str, secs: u64, accept: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = row(env, name);
        if accept(&last) {
            return last;
        }
    }
    panic!("{what}: last sample {last}");
}

#[test]
fn busy_container_uses_a_core_and_a_paused_one_none() {
    if !require_root("busy_container_uses_a_core_and_a_paused_one_none") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "burn", "busybox", "sh", "-c", "while :; do :; done"]);
    env.ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);
    // A loaded machine (other builds) can starve one reading; a few tries allow for it.
    let busy =
        until(&env, "burn", "a busy loop must show at least 15% of a core", 30, |v| percent(v, "CPUPerc") > BUSY);
    assert_eq!(text(&busy, "Name"), "burn");
    assert_eq!(text(&busy, "Container"), "burn");
    let id = env.ok(&["ps", "-q", "--no-trunc", "--filter", "name=burn"]).trim().to_string();
    assert_eq!(text(&busy, "ID"), id[..12]);
    assert!(percent(&row(&env, "idle"), "CPUPerc") < 5.0, "sleep uses no CPU");

    env.ok(&["pause", "burn"]);
    let paused =
        until(&env, "burn", "a paused container still reports, at 0% CPU", 10, |v| percent(v, "CPUPerc") < 1.0);
    assert_eq!(text(&paused, "PIDs"), "1", "{paused}");
    assert!(memory(&paused).0 > 0.0, "{paused}");
    env.ok(&["unpause", "burn"]);
}

#[test]
fn memory_usage_limit_and_pids() {
    if !require_root("memory_usage_limit_and_pids") {
        return;
    }
    let env = Env::new();
    // tail keeps a line in memory until its end: 64 MiB without a newline stay resident in the container.
    env.ok(&["run", "-d", "--name", "hog", "busybox", "sh", "-c", "(head -c 67108864 /dev/zero; sleep 1000) | tail"]);
    let hog = until(&env, "hog", "64 MiB held by tail must show", 30, |v| memory(v).0 >= 64.0 * 1024.0 * 1024.0);
    let (usage, limit) = memory(&hog);
    assert!(usage < 256.0 * 1024.0 * 1024.0, "{hog}");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    assert!((limit - total_kib * 1024.0).abs() / limit < 0.001, "no limit reads as the host's memory: {hog}");

    env.ok(&["run", "-d", "--name", "capped", "--memory", "100m", "busybox", "sleep", "1000"]);
    let capped = row(&env, "capped");
    assert!(text(&capped, "MemUsage").ends_with(" / 100MiB"), "{capped}");
    let perc = percent(&capped, "MemPerc");
    let expected = memory(&capped).0 / (100.0 * 1024.0 * 1024.0) * 100.0;
    assert!((perc - expected).abs() < 0.05, "MemPerc {perc} against usage/limit {expected}: {capped}");

    env.ok(&["run", "-d", "--name", "family", "busybox", "sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000 & wait"]);
    until(&env, "family", "sh and its three sleeps are four pids", 10, |v| text(v, "PIDs") == "4");
}

#[test]
fn listing_exited_containers_and_the_live_stream() {
    if !require_root("listing_exited_containers_and_the_live_stream") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
    env.ok(&["run", "--name", "done", "busybox", "true"]);

    let running: Vec<String> = stats_json(&env, &[]).iter().map(|v| text(v, "Name")).collect();
    assert_eq!(running, ["up"], "no names: running containers only");
    let mut all: Vec<String> = stats_json(&env, &["-a"]).iter().map(|v| text(v, "Name")).collect();
    all.sort();
    assert_eq!(all, ["done", "up"]);
    // As Docker shows a stopped container it is asked about: a row of zeros.
    let done = row(&env, "done");
    assert_eq!(
        (text(&done, "CPUPerc"), text(&done, "MemUsage"), text(&done, "NetIO"), text(&done, "PIDs")),
        ("0.00%".into(), "0B / 0B".into(), "0B / 0B".into(), "0".into())
    );
    let (_, err) = env.fails(&["stats", "--no-stream", "no-such-box"]);
    assert!(err.contains("No such container: no-such-box"), "{err}");
    assert_eq!(env.ok(&["stats", "--no-stream", "--format", "{{.Name}}", "up"]), "up\n");

    let table = env.ok(&["stats", "--no-stream", "up"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for column in ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"] {
        assert!(lines[0].contains(column), "{column} missing: {table}");
    }
    assert!(lines[1].contains(" up "), "{table}");

    // Without a terminal the live stream prints one table per sample, and Ctrl-C ends it cleanly.
    let mut child = env.command(&["stats", "up"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "Ctrl-C must end stats cleanly: {status:?} {err}");
    let tables = out.matches("CONTAINER ID").count();
    assert!(tables >= 2, "a table per sample expected:\n{out}");
    assert!(!out.contains('\x1b'), "no screen control without a terminal:\n{out}");
    assert!(out.lines().filter(|l| l.contains(" up ")).all(|l| !l.contains("--")), "{out}");
}

/// The engine over a test's root, as the TUI opens it.
fn engine(env: &Env) -> Engine {
    let config = Config::load_from(&env.root().join("config.toml")).expect("the test's config.toml");
    Engine::open(EngineOptions { root: env.root().to_path_buf(), config }).expect("open the engine")
}

fn id(env: &Env, name: &str) -> String {
    env.inspect(name)["Id"].as_str().unwrap_or_else(|| panic!("no Id for {name}")).to_string()
}

#[test]
fn batched_usage_reads_running_containers_and_leaves_out_stopped_ones() {
    if !require_root("batched_usage_reads_running_containers_and_leaves_out_stopped_ones") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "spin", "busybox", "sh", "-c", "while :; do :; done"]);
    env.ok(&["run", "-d", "--name", "nap", "busybox", "sleep", "1000"]);
    env.ok(&["run", "--name", "over", "busybox", "true"]);
    let (spin, nap, over) = (id(&env, "spin"), id(&env, "nap"), id(&env, "over"));
    let ids = [spin.clone(), nap.clone(), over.clone()];
    let engine = engine(&env);

    let mut previous = engine.usage_samples(&ids).unwrap();
    assert!(!previous.contains_key(&over), "an exited container has no reading: {previous:?}");
    assert!(previous[&spin].memory_usage > 0 && previous[&nap].memory_usage > 0, "{previous:?}");
    // CPU % comes from two readings, as the list computes it; a loaded machine may starve one interval.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (busy, idle) = loop {
        std::thread::sleep(Duration::from_secs(1));
        let current = engine.usage_samples(&ids).unwrap();
        let busy = current[&spin].cpu_percent_since(&previous[&spin]);
        let idle = current[&nap].cpu_percent_since(&previous[&nap]);
        if busy > BUSY || Instant::now() > deadline {
            break (busy, idle);
        }
        previous = current;
    };
    assert!(busy > BUSY, "a busy loop must show at least {BUSY}% of a core, got {busy:.1}%");
    assert!(idle < 5.0, "sleep uses no CPU, got {idle:.1}%");

    env.ok(&["kill", "nap"]);
    env.wait_for("nap to exit", 10, || env.status("nap") == "exited");
    let after = engine.usage_samples(&ids).unwrap();
    assert!(after.contains_key(&spin) && !after.contains_key(&nap), "a stopped container drops out: {after:?}");
    // Restarted, in a cgroup made anew at the same path: its counters start over, read through the new
    // files rather than descriptors kept open on the removed ones.
    env.ok(&["restart", "-t", "0", "spin"]);
    let restarted = engine.usage_samples(&ids).unwrap();
    assert!(
        restarted[&spin].cpu_usage_ns < after[&spin].cpu_usage_ns,
        "the new cgroup's CPU time: {restarted:?} after {after:?}"
    );
    let err = engine.usage_samples(&["spin".to_string()]).unwrap_err().to_string();
    assert!(err.contains("not a full container ID"), "names are not IDs: {err}");
}
