//! Helpers for the container tests: a temporary state root with a busybox image, the `berth` binary,
//! and cleanup (containers, mounts, cgroups) on success and failure alike.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::oci::{Image, Platform, busybox_layer};
use crate::support::registry::{PushFormat, Registry};
pub use crate::support::require_root;

/// A state root with a busybox image tagged `busybox:latest`, pulled from a local registry.
pub struct Env {
    dir: tempfile::TempDir,
    registry: Registry,
    /// The image's name in the registry (`127.0.0.1:PORT/busybox:latest`).
    pub reference: String,
    /// This run's default bridge, nftables table and subnet third octet (written to its config.toml).
    pub bridge: String,
    pub table: String,
    pub octet: u8,
}

/// Envs made by this test process, to give each its own bridge, table and subnets.
static ENVS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Env {
    pub fn new() -> Env {
        Env::in_dir(tempfile::Builder::new().prefix("berth-ctr-").tempdir().expect("temp root"))
    }

    /// An Env whose layers go to `store` (`dir` or `erofs`).
    pub fn with_store(store: &str) -> Env {
        let dir = tempfile::Builder::new().prefix("berth-ctr-").tempdir().expect("temp root");
        Env::configured(dir, &format!("layer_store = \"{store}\"\n"))
    }

    /// An Env whose state root is `dir` (a test that needs the root on a filesystem of its own).
    pub fn in_dir(dir: tempfile::TempDir) -> Env {
        Env::configured(dir, "")
    }

    fn configured(dir: tempfile::TempDir, extra: &str) -> Env {
        let n = ENVS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let (bridge, table) = (format!("bc{}x{n}", pid % 100_000), format!("berth_c{pid}_{n}"));
        let (default, pool) = (150 + n % 20, 170 + n % 20);
        let octet = crate::support::free_octet(&[default, pool]) as u8;
        // Default bridge and table of this run only; user networks in tests name their --subnet.
        let config = format!(
            "network_default_bridge = \"{bridge}\"\nnetwork_default_subnet = \"10.{default}.{octet}.0/24\"\n\
             network_pool = \"10.{pool}.{octet}.0/24\"\nnetwork_firewall_table = \"{table}\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config + extra).expect("write config.toml");
        let registry = Registry::start();
        let reference = pull_busybox(dir.path(), &registry);
        Env { dir, registry, reference, bridge, table, octet }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The local registry the busybox image came from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("BERTH_LOG")
            .env("BERTH_CONFIG", self.root().join("config.toml"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run berth")
    }

    /// Runs berth and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs berth and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "berth {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let text = self.ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("inspect JSON");
        v[0].clone()
    }

    pub fn state(&self, name: &str) -> serde_json::Value {
        self.inspect(name)["State"].clone()
    }

    pub fn status(&self, name: &str) -> String {
        self.state(name)["Status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls until `cond` holds, failing the test after `secs`.
    pub fn wait_for(&self, what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.ok(&["ps", "-aq", "--no-trunc"]).lines().map(str::to_string).collect()
    }

    /// Nothing of `id` may remain: no mount under this root, no cgroup directory, no libcontainer state.
    pub fn assert_no_leftovers(&self, id: &str) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.root().to_string_lossy().into_owned();
        let mounts: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&root)).collect();
        assert!(mounts.is_empty(), "mounts left under {root}: {mounts:#?}");
        for dir in cgroup_dirs(id) {
            assert!(!dir.exists(), "cgroup left: {}", dir.display());
        }
        assert!(!Path::new("/run/berth/libcontainer").join(id).exists(), "libcontainer state left for {id}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // On success and failure: kill and remove every container of this root, so no process, mount or
        // cgroup outlives the test.
        let ids: Vec<String> = self
            .command(&["ps", "-aq", "--no-trunc"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
            .unwrap_or_default();
        for id in ids {
            let _ = self.command(&["rm", "-f", &id]).output();
        }
        let listed = self.command(&["network", "ls", "-q", "--no-trunc"]).output();
        for id in listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines() {
            let _ = self.command(&["network", "rm", id]).output();
        }
        crate::support::remove_host_network(&self.bridge, &self.table);
    }
}

/// Every place a container's cgroup could be: v2 and each v1 controller.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/berth").join(id)];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            dirs.push(e.path().join("berth").join(id));
        }
    }
    dirs
}

/// The pid of a container's monitor process, found by its command line.
pub fn monitor_pid(id: &str) -> Option<i32> {
    monitor_pids(id).first().copied()
}

/// Every live monitor process of container `id` (there must never be more than one).
pub fn monitor_pids(id: &str) -> Vec<i32> {
    helper_pids(|args| {
        args.get(1).map(String::as_str) == Some("__monitor") && args.get(3).map(String::as_str) == Some(id)
    })
}

/// Live processes whose command line (`berth __monitor ROOT ID`, `berth __exec ROOT ID EXEC`, ...) `matches`.
pub fn helper_pids(matches: impl Fn(&[String]) -> bool) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if matches(&args) && pid_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// A process's parent, from /proc/<pid>/stat.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

pub fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

/// Pushes a one-layer busybox image (the host's busybox-static) to a fresh local registry and pulls it
/// into `root` with `berth pull`, as a user would; then tags it `busybox`. Returns the registry reference.
fn pull_busybox(root: &Path, registry: &Registry) -> String {
    let image = Image::new(Platform::host(), vec![busybox_layer()], &["sh"], "busybox");
    let reference = registry.push_image(&image, "busybox:latest", PushFormat::Oci);
    let berth = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(root)
            .args(args)
            .env("BERTH_CONFIG", root.join("config.toml"))
            .output()
            .expect("berth");
        assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    berth(&["pull", "-q", &reference]);
    berth(&["tag", &reference, "busybox"]);
    reference
}
