//! Crashes and full disks: a paused container whose monitor died, a state root on a full tmpfs (stop, kill,
//! rm -f and exec of the container that filled it, log lines lost meanwhile, a pull that cannot fit), and a
//! damaged state database or container row. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use rt::{Env, pid_alive, require_root};
use support::oci::{Compression, Image, LayerBuilder, Meta, Platform, busybox_layer};
use support::registry::PushFormat;

/// The monitor pid the engine recorded for a container.
fn recorded_monitor_pid(env: &Env, id: &str) -> i32 {
    db(env).query_row("SELECT monitor_pid FROM containers WHERE id = ?1", [id], |r| r.get(0)).expect("monitor pid")
}

fn db(env: &Env) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(env.root().join("berth.db")).expect("open berth.db");
    conn.busy_timeout(std::time::Duration::from_secs(30)).expect("busy timeout");
    conn
}

/// Nothing of container `id` is left (its mount, cgroup, libcontainer state, directory) while others run on.
fn assert_gone(env: &Env, id: &str) {
    let dir = env.root().join("containers").join(id);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounts: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&*dir.to_string_lossy())).collect();
    assert!(mounts.is_empty(), "mounts left of {id}: {mounts:#?}");
    for cgroup in rt::cgroup_dirs(id) {
        assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
    }
    assert!(!Path::new("/run/berth/libcontainer").join(id).exists(), "libcontainer state left for {id}");
    assert!(!dir.exists(), "directory left: {}", dir.display());
}

/// The state letter of /proc/<pid>/stat (`D` for a process stuck frozen), None once it is gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[test]
fn a_paused_container_whose_monitor_died_is_thawed_killed_and_removable() {
    if !require_root("a_paused_container_whose_monitor_died_is_thawed_killed_and_removable") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "brs-paused", "busybox", "sleep", "1000"]).trim().to_string();
    let pid = env.state("brs-paused")["Pid"].as_i64().expect("pid") as i32;
    env.ok(&["pause", "brs-paused"]);
    let monitor = recorded_monitor_pid(&env, &id);
    assert!(monitor > 0 && pid_alive(monitor), "the recorded monitor {monitor} runs");
    // SAFETY: SIGKILL to the monitor this test's container has.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    env.wait_for("the monitor to die", 10, || !pid_alive(monitor));

    env.ok(&["rm", "-f", "brs-paused"]);
    env.wait_for("the container's process to go", 10, || proc_state(pid).is_none_or(|s| s == 'Z'));
    assert!(!env.ids().contains(&id), "removed");
    assert_gone(&env, &id);
}

#[test]
fn a_damaged_state_database_is_an_error_not_a_fresh_start() {
    if !require_root("a_damaged_state_database_is_an_error_not_a_fresh_start") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["create", "--name", "brs-kept", "busybox", "true"]).trim().to_string();
    let files: Vec<PathBuf> = ["berth.db", "berth.db-wal", "berth.db-shm"]
        .iter()
        .map(|f| env.root().join(f))
        .filter(|p| p.exists())
        .collect();
    let saved: Vec<(PathBuf, Vec<u8>)> = files.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();

    for damage in [&b""[..], b"garbage where the state database was, longer than a database header......"] {
        for p in &files {
            let _ = std::fs::remove_file(p);
        }
        std::fs::write(env.root().join("berth.db"), damage).unwrap();
        for args in [&["ps", "-a"][..], &["run", "--rm", "busybox", "true"]] {
            let (_, err) = env.fails(args);
            assert!(err.contains("berth.db") && err.contains("damaged"), "berth {args:?} must say so: {err}");
        }
        assert_eq!(std::fs::read(env.root().join("berth.db")).unwrap(), damage, "the damaged file is left as it was");
    }

    for (p, bytes) in &saved {
        std::fs::write(p, bytes).unwrap();
    }
    assert!(env.ids().contains(&id), "restored, the database finds its container again");
}

#[test]
fn a_damaged_container_row_is_listed_and_removable() {
    if !require_root("a_damaged_container_row_is_listed_and_removable") {
        return;
    }
    let env = Env::new();
    let good = env.ok(&["run", "-d", "--name", "brs-good", "busybox", "sleep", "1000"]).trim().to_string();
    let bad = env.ok(&["run", "-d", "--name", "brs-bad", "busybox", "sleep", "1000"]).trim().to_string();
    db(&env).execute("UPDATE containers SET options = '{\"broken' WHERE id = ?1", [&bad]).unwrap();

    let listed = env.ok(&["ps", "-a"]);
    assert!(listed.contains("brs-good") && listed.contains("brs-bad"), "both listed:\n{listed}");
    let state = env.state("brs-bad");
    let error = state["Error"].as_str().unwrap_or_default();
    assert!(error.contains("damaged") && error.contains("options"), "inspect names the damage: {state}");
    let (_, err) = env.fails(&["exec", "brs-bad", "true"]);
    assert!(err.contains("damaged"), "nothing runs on a guess: {err}");

    env.ok(&["rm", "-f", "brs-bad"]);
    assert_eq!(env.ids(), [good]);
    assert_gone(&env, &bad);
    assert_eq!(env.status("brs-good"), "running");
}

/// A tmpfs mounted on a directory the test made; unmounted and removed on drop, failure included.
struct Tmpfs {
    dir: PathBuf,
    fillers: std::cell::Cell<u32>,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::Builder::new().prefix("brs-tmpfs-").tempdir().expect("mount point").keep();
        let options = std::ffi::CString::new(format!("size={mib}m")).unwrap();
        rustix::mount::mount("tmpfs", &dir, "tmpfs", rustix::mount::MountFlags::empty(), options.as_c_str())
            .expect("mount tmpfs");
        Tmpfs { dir, fillers: std::cell::Cell::new(0) }
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn free(&self) -> u64 {
        let s = rustix::fs::statvfs(&self.dir).expect("statvfs");
        s.f_bavail * s.f_frsize
    }

    /// Takes every free byte, as a container writing on would (the test's own files, beside the root).
    fn fill(&self) {
        let n = self.fillers.get();
        self.fillers.set(n + 1);
        let mut file = std::fs::File::create(self.dir.join(format!("filler-{n}"))).expect("create filler");
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![1u8; chunk];
            while file.write_all(&bytes).is_ok() {}
        }
        assert_eq!(self.free(), 0, "the disk is full");
    }

    fn unfill(&self) {
        for n in 0..self.fillers.get() {
            let _ = std::fs::remove_file(self.dir.join(format!("filler-{n}")));
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.dir, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An Env whose state root is on `disk`.
fn env_on(disk: &Tmpfs) -> Env {
    Env::in_dir(tempfile::Builder::new().prefix("brs-root-").tempdir_in(disk.path()).expect("root on the tmpfs"))
}

/// Gives the disk back, lets berth make its space reserve again (any command does), then takes every byte.
fn full_again(env: &Env, disk: &Tmpfs) {
    disk.unfill();
    env.ok(&["ps"]);
    assert!(env.root().join("reserve").exists(), "berth set its reserve aside again");
    disk.fill();
}

#[test]
fn stop_kill_rm_and_exec_work_on_a_disk_a_container_filled() {
    if !require_root("stop_kill_rm_and_exec_work_on_a_disk_a_container_filled") {
        return;
    }
    // Declared first, dropped last: every container is gone before the tmpfs is unmounted.
    let disk = Tmpfs::mount(96);
    let signals = tempfile::Builder::new().prefix("brs-signals-").tempdir().unwrap();
    let sig = |name: &str| signals.path().join(name);
    let bind = format!("{}:/sig", signals.path().display());
    let env = env_on(&disk);
    assert!(env.root().join("reserve").exists(), "a root with room sets its reserve aside");
    for name in ["brs-stop", "brs-kill", "brs-rm"] {
        env.ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    }
    let lines = 3000;
    let script = format!(
        "until [ -e /sig/go ]; do sleep 0.05; done; i=0; while [ $i -lt {lines} ]; do \
         echo \"line $i of output written while the disk is full\"; i=$((i+1)); done; touch /sig/echoed; \
         until [ -e /sig/more ]; do sleep 0.05; done; echo back; sleep 1000"
    );
    env.ok(&["run", "-d", "--name", "brs-log", "-v", &bind, "busybox", "sh", "-c", &script]);
    // The container fills the disk from its upper dir, and gives it back when told (a file the host
    // removed from under a mounted overlay may stay pinned by the overlay's caches).
    env.ok(&[
        "run",
        "-d",
        "--name",
        "brs-fill",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/fill bs=64k; touch /sig/filled; until [ -e /sig/unfill ]; do sleep 0.05; done; \
         rm /fill; touch /sig/unfilled; sleep 1000",
    ]);
    env.wait_for("the container to fill the disk", 60, || sig("filled").exists());
    assert!(disk.free() < 64 << 10, "the container filled the disk: {} bytes free", disk.free());

    let out = env.ok(&["exec", "brs-fill", "echo", "exec on a full disk"]);
    assert_eq!(out.trim(), "exec on a full disk");
    std::fs::write(sig("unfill"), b"").unwrap();
    env.wait_for("the container to give the disk back", 20, || sig("unfilled").exists());

    full_again(&env, &disk);
    env.ok(&["stop", "-t", "1", "brs-stop"]);
    assert_eq!(env.status("brs-stop"), "exited");

    full_again(&env, &disk);
    env.ok(&["kill", "brs-kill"]);
    env.wait_for("the killed container to be exited", 20, || env.status("brs-kill") == "exited");

    full_again(&env, &disk);
    let removed = env.inspect("brs-rm")["Id"].as_str().unwrap().to_string();
    env.ok(&["rm", "-f", "brs-rm"]);
    assert!(!env.ids().contains(&removed));
    assert_gone(&env, &removed);

    // Output written while the disk is full is lost, and the log says how much once space is back.
    full_again(&env, &disk);
    std::fs::write(sig("go"), b"").unwrap();
    env.wait_for("the container to write its lines", 60, || sig("echoed").exists());
    disk.unfill();
    std::fs::write(sig("more"), b"").unwrap();
    env.wait_for("output after space is back", 20, || env.ok(&["logs", "brs-log"]).contains("back"));
    let id = env.inspect("brs-log")["Id"].as_str().unwrap().to_string();
    let raw = std::fs::read_to_string(env.root().join("containers").join(id).join("container.log")).unwrap();
    let records: Vec<String> = raw
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object a line")["log"].to_string())
        .collect();
    let kept = records.iter().filter(|r| r.starts_with("\"line ")).count();
    let notes: Vec<&String> = records.iter().filter(|r| r.starts_with("\"berth: ")).collect();
    assert!(!notes.is_empty(), "no note in:\n{raw}");
    let mut dropped = 0;
    for note in &notes {
        assert!(note.ends_with("dropped while the disk was full\\n\""), "{note}");
        dropped += note.split_whitespace().nth(1).and_then(|n| n.parse::<usize>().ok()).expect("a count");
    }
    assert_eq!(kept + dropped, lines, "every line is either in the log or counted: {notes:?}");
    assert!(dropped > 0, "lines were lost");
    assert_eq!(records.last().map(String::as_str), Some("\"back\\n\""), "written once space was back");
}

#[test]
fn a_pull_that_cannot_fit_leaves_nothing_behind() {
    if !require_root("a_pull_that_cannot_fit_leaves_nothing_behind") {
        return;
    }
    let disk = Tmpfs::mount(48);
    let env = env_on(&disk);
    let listing = |sub: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(env.root().join(sub))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = (listing("blobs/sha256"), listing("layers"));
    let free = disk.free();

    // A small first layer that fits and a second that unpacks to more than the disk holds (it downloads
    // small: zeros compress well).
    let mut small = LayerBuilder::new();
    small.file("srv/small", b"fits", Meta::mode(0o644));
    let mut big = LayerBuilder::new();
    big.file("srv/big", &vec![0u8; 64 << 20], Meta::mode(0o644));
    let layers = vec![busybox_layer(), small.build(Compression::Gzip), big.build(Compression::Gzip)];
    let image = Image::new(Platform::host(), layers, &["sh"], "brs-too-big");
    let reference = env.registry().push_image(&image, "brs-too-big:latest", PushFormat::Oci);

    let (_, err) = env.fails(&["pull", "-q", &reference]);
    assert!(err.to_lowercase().contains("no space"), "the failure names the full disk: {err}");
    assert_eq!(listing("tmp"), Vec::<String>::new(), "no work dir is left");
    assert_eq!((listing("blobs/sha256"), listing("layers")), before, "no blob or layer of the failed pull is left");
    let images = env.ok(&["images", "-q"]);
    assert_eq!(images.lines().count(), 1, "only busybox: {images}");
    assert!(disk.free() + (1 << 20) >= free, "the space is given back: {} bytes free, {free} before", disk.free());
}
