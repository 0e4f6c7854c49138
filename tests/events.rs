//! `berth events` over real containers run by other berth processes: live delivery, `--since` replay,
//! `--until`, filters, `--format`, and what each operation records. Needs root (skips loudly otherwise).

mod rt;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rt::{Env, require_root};
use serde_json::Value;

/// A guard against a hang, not a timing check.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `berth events` whose output lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(env: &Env, args: &[&str]) -> Follower {
        let mut child = env
            .command(&[&["events", "--format", "json"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("berth events");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Blocks until the follower is reading live: creates marker containers until one is heard of.
    fn wait_live(&self, env: &Env) {
        for n in 0.. {
            assert!(n < 100, "berth events never reported a marker");
            let id = env.ok(&["create", "--label", "marker=1", "busybox", "true"]).trim().to_string();
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(300)) {
                let event: Value = serde_json::from_str(&line).unwrap();
                if event["Actor"]["Attributes"]["marker"] == "1" {
                    env.ok(&["rm", &id]);
                    // Whatever else the markers made is not this test's business.
                    while self.lines.recv_timeout(Duration::from_millis(300)).is_ok() {}
                    return;
                }
            }
            env.ok(&["rm", &id]);
        }
    }

    /// The next event, parsed.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(PATIENCE).expect("an event");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Events until one with `action` for `id`, returning the actions seen for `id`.
    fn actions_until(&self, id: &str, last: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let event = self.next();
            if event["Actor"]["ID"] != id {
                continue;
            }
            let action = event["Action"].as_str().unwrap().to_string();
            seen.push(action.clone());
            if action == last {
                return seen;
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Now as a Unix timestamp with nanoseconds, as docker's CLI sends `--since`/`--until`.
fn now_secs() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// `berth events ARGS` that must end by itself (an `--until` in the past); its output lines.
fn past_events(env: &Env, args: &[&str]) -> Vec<String> {
    let mut child = env.command(&[&["events"], args].concat()).stdout(Stdio::piped()).spawn().expect("berth events");
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(stdout).lines().map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    lines
}

fn json_events(env: &Env, args: &[&str]) -> Vec<Value> {
    past_events(env, &[&["--format", "json"], args].concat())
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The actions recorded for `id`, in order.
fn actions_of(events: &[Value], id: &str) -> Vec<String> {
    events.iter().filter(|e| e["Actor"]["ID"] == id).map(|e| e["Action"].as_str().unwrap().to_string()).collect()
}

#[test]
fn be_live_follower_sees_another_process_run_a_container() {
    if !require_root("be_live_follower_sees_another_process_run_a_container") {
        return;
    }
    let env = Env::new();
    let follower = Follower::start(&env, &["--filter", "type=container"]);
    follower.wait_live(&env);
    let out = env.run(&["run", "--rm", "--name", "ev1", "--label", "team=a", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    // Late news of the markers may come first.
    let first = std::iter::repeat_with(|| follower.next()).find(|e| e["Actor"]["Attributes"]["name"] == "ev1").unwrap();
    assert_eq!(first["Action"], "create");
    assert_eq!(first["Type"], "container");
    assert_eq!(first["status"], "create");
    assert_eq!(first["from"], "busybox");
    assert_eq!(first["scope"], "local");
    let attributes = &first["Actor"]["Attributes"];
    assert_eq!(attributes["name"], "ev1");
    assert_eq!(attributes["image"], "busybox");
    assert_eq!(attributes["team"], "a");
    let id = first["Actor"]["ID"].as_str().unwrap().to_string();
    assert_eq!(first["id"], id);
    assert!(first["timeNano"].as_i64().unwrap() / 1_000_000_000 == first["time"].as_i64().unwrap());
    let rest = follower.actions_until(&id, "destroy");
    assert_eq!(rest, ["start", "die", "destroy"]);
    // The die came from the monitor, with the exit code.
    let replay = json_events(&env, &["--since", "0", "--until", &now_secs(), "--filter", "event=die"]);
    let die = replay.iter().find(|e| e["Actor"]["ID"] == id).expect("die replayed");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
}

#[test]
fn be_lifecycle_operations_record_dockers_events() {
    if !require_root("be_lifecycle_operations_record_dockers_events") {
        return;
    }
    let env = Env::new();
    let since = now_secs();
    let id = env.ok(&["run", "-d", "--name", "ev2", "busybox", "sleep", "300"]).trim().to_string();
    env.ok(&["pause", "ev2"]);
    env.ok(&["unpause", "ev2"]);
    env.ok(&["rename", "ev2", "ev2b"]);
    env.ok(&["update", "--restart", "no", "ev2b"]);
    env.ok(&["commit", "--pause=false", "ev2b", "evimg:1"]);
    // The exec helper records exec_die before the client hears the exit code, so it precedes the kill below.
    assert_eq!(env.run(&["exec", "ev2b", "sh", "-c", "exit 4"]).status.code(), Some(4));
    env.ok(&["kill", "-s", "USR1", "ev2b"]);
    env.ok(&["stop", "-t", "1", "ev2b"]);
    env.ok(&["rm", "ev2b"]);
    let events = json_events(&env, &["--since", &since, "--until", &now_secs()]);
    let actions = actions_of(&events, &id);
    assert_eq!(
        actions,
        [
            "create",
            "start",
            "pause",
            "unpause",
            "rename",
            "update",
            "commit",
            "exec_create: sh -c exit 4",
            "exec_start: sh -c exit 4",
            "exec_die",
            "kill",
            "kill",
            "kill",
            "die",
            "stop",
            "destroy"
        ],
        "{events:#?}"
    );
    let of =
        |action: &str| events.iter().filter(|e| e["Actor"]["ID"] == id && e["Action"] == action).collect::<Vec<_>>();
    assert_eq!(of("rename")[0]["Actor"]["Attributes"]["oldName"], "/ev2");
    assert_eq!(of("rename")[0]["Actor"]["Attributes"]["name"], "ev2b");
    assert_eq!(of("commit")[0]["Actor"]["Attributes"]["imageRef"], "evimg:1");
    let image_id = of("commit")[0]["Actor"]["Attributes"]["imageID"].as_str().unwrap().to_string();
    assert!(
        events.iter().any(|e| e["Type"] == "image"
            && e["Action"] == "tag"
            && e["Actor"]["ID"] == image_id
            && e["Actor"]["Attributes"]["name"] == "evimg:1"),
        "{events:#?}"
    );
    assert_eq!(of("exec_die")[0]["Actor"]["Attributes"]["exitCode"], "4");
    let signals: Vec<&Value> = of("kill").iter().map(|e| &e["Actor"]["Attributes"]["signal"]).collect();
    // USR1, then stop's TERM (which sleep ignores as pid 1), then the KILL after the timeout.
    assert_eq!(signals, ["10", "15", "9"]);
    assert_eq!(of("die")[0]["Actor"]["Attributes"]["exitCode"], "137");
}

#[test]
fn be_since_until_filters_and_format() {
    if !require_root("be_since_until_filters_and_format") {
        return;
    }
    let env = Env::new();
    let since = now_secs();
    env.ok(&["run", "--rm", "--name", "lab", "--label", "team=a", "busybox", "true"]);
    env.ok(&["run", "--rm", "--name", "other", "--label", "team=b", "busybox", "true"]);
    let until = now_secs();
    env.ok(&["run", "--rm", "--name", "later", "busybox", "true"]);

    let names = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                format!("{} {}", e["Actor"]["Attributes"]["name"].as_str().unwrap(), e["Action"].as_str().unwrap())
            })
            .collect()
    };
    // The range holds the first two runs only.
    let all = json_events(&env, &["--since", &since, "--until", &until]);
    assert!(names(&all).contains(&"lab destroy".to_string()), "{all:#?}");
    assert!(!names(&all).iter().any(|n| n.starts_with("later")), "{all:#?}");
    let labelled = json_events(&env, &["--since", &since, "--until", &until, "--filter", "label=team=a"]);
    assert_eq!(names(&labelled), ["lab create", "lab start", "lab die", "lab destroy"]);
    let dies = json_events(
        &env,
        &["--since", &since, "--filter", "event=die", "--filter", "type=container", "--until", &now_secs()],
    );
    assert_eq!(names(&dies), ["lab die", "other die", "later die"]);
    assert!(json_events(&env, &["--since", &since, "--until", &now_secs(), "--filter", "type=image"]).is_empty());
    let by_name =
        json_events(&env, &["--since", &since, "--until", &now_secs(), "-f", "container=other", "-f", "event=start"]);
    assert_eq!(names(&by_name), ["other start"]);

    let formatted = past_events(
        &env,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "label=team=b",
            "--format",
            "{{.Type}} {{.Status}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(
        formatted,
        ["container create other", "container start other", "container die other", "container destroy other"]
    );
    // Docker's default line: time, type, action, id, then the attributes by key.
    let lines = past_events(&env, &["--since", &since, "--until", &until, "-f", "label=team=a", "-f", "event=die"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let words: Vec<&str> = lines[0].splitn(5, ' ').collect();
    assert!(chrono::DateTime::parse_from_rfc3339(words[0]).is_ok(), "{}", lines[0]);
    assert_eq!(&words[1..3], ["container", "die"]);
    assert_eq!(words[3].len(), 64);
    assert!(
        words[4].starts_with("(execDuration=") && words[4].ends_with("image=busybox, name=lab, team=a)"),
        "{}",
        lines[0]
    );

    // An --until ahead: the past first, then it ends by itself once that time comes.
    let ahead = past_events(
        &env,
        &["--since", &since, "--until", "-2s", "-f", "event=destroy", "--format", "{{.Actor.Attributes.name}}"],
    );
    assert_eq!(ahead, ["lab", "other", "later"]);
    let (_, err) = env.fails(&["events", "--since", "yesterday"]);
    assert!(err.contains("yesterday"), "{err}");
    let (_, err) = env.fails(&["events", "--filter", "colour=red"]);
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn be_image_network_and_volume_events() {
    if !require_root("be_image_network_and_volume_events") {
        return;
    }
    let env = Env::new();
    // The Env pulled its image and tagged it, each through berth.
    let images = json_events(&env, &["--since", "0", "--until", &now_secs(), "--filter", "type=image"]);
    let pulled = env.reference.trim_start_matches("docker.io/").to_string();
    assert_eq!(images[0]["Action"], "pull", "{images:#?}");
    assert_eq!(images[0]["Actor"]["ID"], pulled);
    assert_eq!(images[0]["Actor"]["Attributes"]["name"], pulled);
    assert_eq!(images[1]["Action"], "tag");
    assert_eq!(images[1]["Actor"]["Attributes"]["name"], "busybox:latest");
    let image_id = images[1]["Actor"]["ID"].as_str().unwrap().to_string();
    assert!(image_id.starts_with("sha256:"), "{image_id}");

    let since = now_secs();
    env.ok(&["tag", "busybox", "extra:1"]);
    env.ok(&["rmi", "extra:1"]);
    let net = format!("bev{}", std::process::id());
    let vol = format!("bevvol{}", std::process::id());
    let net_id =
        env.ok(&["network", "create", "--subnet", &format!("10.196.{}.0/24", env.octet), &net]).trim().to_string();
    let mount = format!("{vol}:/data");
    let id =
        env.ok(&["create", "--name", "evc", "--network", &net, "-v", &mount, "busybox", "true"]).trim().to_string();
    assert_eq!(env.run(&["start", "-a", "evc"]).status.code(), Some(0));
    env.ok(&["rm", "evc"]);
    env.ok(&["network", "rm", &net]);
    env.ok(&["volume", "rm", &vol]);
    let events = json_events(&env, &["--since", &since, "--until", &now_secs()]);
    let seen: Vec<String> = events
        .iter()
        .map(|e| {
            let actor = e["Actor"]["ID"].as_str().unwrap();
            let who = if actor == id {
                "evc"
            } else if actor == net_id {
                "net"
            } else if actor == vol {
                "vol"
            } else {
                actor
            };
            format!("{} {} {who}", e["Type"].as_str().unwrap(), e["Action"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        [
            format!("image tag {image_id}"),
            format!("image untag {image_id}"),
            "network create net".to_string(),
            "volume create vol".to_string(),
            "container create evc".to_string(),
            // Docker connects first; berth's monitor mounts the rootfs (volumes included) before wiring.
            "volume mount vol".to_string(),
            "network connect net".to_string(),
            "container start evc".to_string(),
            "container die evc".to_string(),
            "network disconnect net".to_string(),
            "volume unmount vol".to_string(),
            "container destroy evc".to_string(),
            "network destroy net".to_string(),
            "volume destroy vol".to_string(),
        ],
        "{events:#?}"
    );
    let find = |kind: &str, action: &str| events.iter().find(|e| e["Type"] == kind && e["Action"] == action).unwrap();
    assert_eq!(find("image", "tag")["Actor"]["Attributes"]["name"], "extra:1");
    assert_eq!(find("network", "connect")["Actor"]["Attributes"]["container"], id);
    assert_eq!(find("network", "connect")["Actor"]["Attributes"]["name"], net);
    assert_eq!(find("network", "connect")["Actor"]["Attributes"]["type"], "bridge");
    assert_eq!(find("volume", "mount")["Actor"]["Attributes"]["destination"], "/data");
    assert_eq!(find("volume", "mount")["Actor"]["Attributes"]["read/write"], "true");
    assert_eq!(find("volume", "create")["Actor"]["Attributes"]["driver"], "local");
    env.ok(&["volume", "prune", "-f"]);
    let pruned = json_events(&env, &["--since", &since, "--until", &now_secs(), "-f", "event=prune"]);
    assert_eq!(pruned.len(), 1, "{pruned:#?}");
    assert_eq!(pruned[0]["Type"], "volume");
    assert_eq!(pruned[0]["Actor"]["Attributes"]["reclaimed"], "0");
    // Filters by network and volume name.
    let by_net = json_events(&env, &["--since", &since, "--until", &now_secs(), "-f", &format!("network={net}")]);
    assert_eq!(by_net.len(), 4, "{by_net:#?}");
    let by_vol = json_events(&env, &["--since", &since, "--until", &now_secs(), "-f", &format!("volume={vol}")]);
    assert_eq!(by_vol.len(), 4, "{by_vol:#?}");
}
