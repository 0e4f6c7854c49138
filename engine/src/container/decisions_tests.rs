//! Lifecycle decisions without root: stop, kill, rm, pause and reconcile run against a fake [`Host`] that
//! records what would have been done to the machine and plays the monitor's part (recording an exit when
//! the container's init gets a signal it honours).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustix::process::Signal;

use super::records::tests::{record, store_with_image};
use super::{ContainerError, ContainerRecord, Exit, Records, Status};
use crate::host::Host;
use crate::network::Networks;
use crate::store::Store;
use crate::{Engine, EngineOptions, Error};

const INIT: i32 = 4242;
const INIT_START: u64 = 77;
const MONITOR: i32 = 4200;
const MONITOR_START: u64 = 70;

#[derive(Default)]
struct Machine {
    /// Live processes by (pid, start time).
    alive: HashSet<(i32, u64)>,
    /// Container id by init pid, so a signal can be traced to its container.
    inits: HashMap<i32, String>,
    /// Signals the fake container dies of.
    honoured: Vec<Signal>,
    /// What teardown fails to remove.
    teardown_problems: Vec<String>,
    calls: Vec<String>,
}

struct FakeHost {
    root: std::path::PathBuf,
    machine: Mutex<Machine>,
}

impl FakeHost {
    fn calls(&self) -> Vec<String> {
        self.machine.lock().unwrap().calls.clone()
    }
}

impl Host for FakeHost {
    fn monitor_alive(&self, rec: &ContainerRecord) -> bool {
        let machine = self.machine.lock().unwrap();
        machine.alive.iter().any(|&(p, s)| p == rec.monitor_pid && (rec.monitor_start == 0 || s == rec.monitor_start))
    }

    fn start_time(&self, pid: i32) -> Option<u64> {
        self.machine.lock().unwrap().alive.iter().find(|(p, _)| *p == pid).map(|(_, s)| *s)
    }

    fn signal(&self, pid: i32, start: u64, signal: Signal) -> std::io::Result<bool> {
        let mut machine = self.machine.lock().unwrap();
        if !machine.alive.contains(&(pid, start)) {
            return Ok(false);
        }
        machine.calls.push(format!("signal {pid} {}", signal.as_raw()));
        if machine.honoured.contains(&signal) {
            // The monitor's part: the init is gone, its exit recorded, the monitor ends.
            machine.alive.retain(|&(p, _)| p != pid && p != MONITOR);
            let id = machine.inits[&pid].clone();
            let store = Store::open(&self.root).unwrap();
            let exit = Exit { code: 128 + signal.as_raw(), oom_killed: false };
            Records::new(&store).set_exit(&id, exit, Status::Exited, "2026-12-06T00:00:00Z").unwrap();
        }
        Ok(true)
    }

    fn freeze(&self, id: &str, frozen: bool) -> Result<(), ContainerError> {
        self.machine.lock().unwrap().calls.push(format!("freeze {id} {frozen}"));
        Ok(())
    }

    fn teardown(&self, _networks: &Networks, rec: &ContainerRecord, _dir: &Path) -> Vec<String> {
        let mut machine = self.machine.lock().unwrap();
        machine.calls.push(format!("teardown {}", rec.name));
        machine.teardown_problems.clone()
    }
}

struct World {
    _dir: tempfile::TempDir,
    engine: Engine,
    host: Arc<FakeHost>,
}

/// An engine over a fresh root holding one container `c` in `status`, its init and monitor alive as
/// `alive` says; `honoured` are the signals it dies of.
fn world(status: Status, alive: bool, honoured: &[Signal], edit: impl FnOnce(&mut ContainerRecord)) -> World {
    let (dir, store) = store_with_image();
    {
        let records = Records::new(&store);
        let mut rec = record(&"c".repeat(64), "c");
        edit(&mut rec);
        records.insert(&mut rec, true).unwrap();
        records.set_monitor(&rec.id, MONITOR, MONITOR_START, 0).unwrap();
        records.set_running(&rec.id, INIT, INIT_START, "2026-12-06T00:00:00Z").unwrap();
        records.set_status(&rec.id, status).unwrap();
        std::fs::create_dir_all(rec.dir(dir.path())).unwrap();
    }
    let mut machine = Machine { honoured: honoured.to_vec(), ..Machine::default() };
    if alive {
        machine.alive.extend([(INIT, INIT_START), (MONITOR, MONITOR_START)]);
    }
    machine.inits.insert(INIT, "c".repeat(64));
    let host = Arc::new(FakeHost { root: dir.path().to_path_buf(), machine: Mutex::new(machine) });
    let opts = EngineOptions { root: dir.path().to_path_buf(), config: crate::Config::default() };
    let engine = Engine::with_host(opts, host.clone()).unwrap();
    World { _dir: dir, engine, host }
}

#[test]
fn reconcile_tears_down_a_container_whose_monitor_died_and_marks_it_exited() {
    let w = world(Status::Running, false, &[], |_| {});
    let rec = w.engine.container("c").unwrap();
    assert_eq!((rec.status, rec.exit_code), (Status::Exited, 255));
    assert!(rec.error.contains("monitor process died"), "{}", rec.error);
    assert_eq!(w.host.calls(), ["teardown c"]);
    // Told once: the next look finds an exited container and touches nothing.
    w.engine.container("c").unwrap();
    assert_eq!(w.host.calls(), ["teardown c"]);
}

#[test]
fn reconcile_marks_the_health_of_a_container_whose_monitor_died_unhealthy() {
    let w = world(Status::Running, false, &[], |_| {});
    let mut health = crate::health::Health::starting(None);
    health.status = crate::health::HealthStatus::Healthy;
    Records::new(w.engine.store()).set_health(&"c".repeat(64), &health).unwrap();
    let rec = w.engine.container("c").unwrap();
    assert_eq!(rec.status, Status::Exited);
    assert_eq!(rec.health.map(|h| h.status), Some(crate::health::HealthStatus::Unhealthy));
}

#[test]
fn reconcile_marks_dead_and_says_why_when_teardown_fails() {
    let w = world(Status::Paused, false, &[], |_| {});
    w.host.machine.lock().unwrap().teardown_problems = vec!["unmount rootfs: busy".into()];
    let rec = w.engine.container("c").unwrap();
    assert_eq!(rec.status, Status::Dead);
    assert!(rec.error.contains("unmount rootfs: busy"), "{}", rec.error);
}

#[test]
fn reconcile_leaves_a_container_with_a_live_monitor_alone() {
    let w = world(Status::Running, true, &[], |_| {});
    assert_eq!(w.engine.container("c").unwrap().status, Status::Running);
    assert!(w.host.calls().is_empty());
}

#[tokio::test]
async fn stop_sends_the_configured_stop_signal_and_returns_once_the_exit_is_recorded() {
    let w = world(Status::Running, true, &[Signal::INT], |r| r.options.stop_signal = Some("SIGINT".into()));
    let rec = w.engine.stop_container("c", Some(30)).await.unwrap();
    assert_eq!((rec.status, rec.exit_code), (Status::Exited, 130));
    assert!(rec.stop_requested, "the restart policy must see that a user stopped it");
    assert_eq!(w.host.calls(), [format!("signal {INIT} {}", libc::SIGINT)]);
}

#[tokio::test]
async fn stop_escalates_to_sigkill_when_the_signal_is_ignored() {
    let w = world(Status::Running, true, &[Signal::KILL], |_| {});
    let rec = w.engine.stop_container("c", Some(0)).await.unwrap();
    assert_eq!(rec.exit_code, 137);
    assert_eq!(
        w.host.calls(),
        [format!("signal {INIT} {}", libc::SIGTERM), format!("signal {INIT} {}", libc::SIGKILL)]
    );
}

#[tokio::test]
async fn stopping_a_paused_container_thaws_it_after_the_signal() {
    let w = world(Status::Paused, true, &[Signal::TERM], |_| {});
    w.engine.stop_container("c", Some(30)).await.unwrap();
    let c = "c".repeat(64);
    assert_eq!(w.host.calls(), [format!("signal {INIT} {}", libc::SIGTERM), format!("freeze {c} false")]);
}

#[tokio::test]
async fn stopping_a_stopped_container_does_nothing() {
    let w = world(Status::Exited, false, &[], |_| {});
    assert_eq!(w.engine.stop_container("c", None).await.unwrap().status, Status::Exited);
    assert!(w.host.calls().is_empty());
}

#[tokio::test]
async fn kill_with_another_signal_only_delivers_it() {
    let w = world(Status::Running, true, &[], |_| {});
    let rec = w.engine.kill_container("c", Some("HUP")).await.unwrap();
    assert_eq!(rec.status, Status::Running);
    assert!(!w.engine.container("c").unwrap().stop_requested, "SIGHUP is no request to stop");
    assert_eq!(w.host.calls(), [format!("signal {INIT} {}", libc::SIGHUP)]);
    let err = w.engine.kill_container("c", Some("NOPE")).await.unwrap_err();
    assert!(matches!(err, Error::Container(ContainerError::InvalidSignal { .. })), "{err}");
}

#[tokio::test]
async fn a_pid_the_kernel_gave_to_another_process_is_never_signalled() {
    // The init exited unnoticed and its pid now belongs to a process that started later.
    let w = world(Status::Running, true, &[], |_| {});
    {
        let mut machine = w.host.machine.lock().unwrap();
        machine.alive.remove(&(INIT, INIT_START));
        machine.alive.insert((INIT, INIT_START + 1000));
    }
    w.engine.kill_container("c", Some("HUP")).await.unwrap();
    assert!(w.host.calls().is_empty(), "the signal reached the stranger: {:?}", w.host.calls());

    // Recorded before start times were kept (pid_start 0) and its monitor gone: the pid may be anyone's,
    // so reconcile tears the container down and nothing is signalled.
    {
        let store = Store::open(w.engine.root()).unwrap();
        store.conn().execute("UPDATE containers SET pid_start = 0", []).unwrap();
        w.host.machine.lock().unwrap().alive.retain(|&(p, _)| p != MONITOR);
    }
    let err = w.engine.kill_container("c", None).await.unwrap_err();
    assert!(matches!(err, Error::Container(ContainerError::InvalidState { .. })), "{err}");
    assert_eq!(w.host.calls(), ["teardown c"]);
}

#[tokio::test]
async fn rm_force_kills_tears_down_and_deletes_the_record() {
    let w = world(Status::Running, true, &[Signal::KILL], |_| {});
    let err = w.engine.remove_container("c", false).await.unwrap_err();
    assert!(matches!(err, Error::Container(ContainerError::RemoveRunning { .. })), "{err}");
    assert!(w.host.calls().is_empty());
    w.engine.remove_container("c", true).await.unwrap();
    assert_eq!(w.host.calls(), [format!("signal {INIT} {}", libc::SIGKILL), "teardown c".into()]);
    assert!(matches!(w.engine.container("c"), Err(Error::Container(ContainerError::NotFound { .. }))));
    assert!(!Path::new(&w.engine.root().join("containers").join("c".repeat(64))).exists());
}

#[tokio::test]
async fn rm_keeps_a_dead_row_when_a_leftover_cannot_be_removed() {
    let w = world(Status::Exited, false, &[], |_| {});
    w.host.machine.lock().unwrap().teardown_problems = vec!["remove address: busy".into()];
    let err = w.engine.remove_container("c", false).await.unwrap_err();
    assert!(err.to_string().contains("remove address: busy"), "{err}");
    let rec = w.engine.container("c").unwrap();
    assert_eq!(rec.status, Status::Dead);
    assert!(rec.error.contains("remove address: busy"));
}

#[test]
fn pause_freezes_only_a_running_container_and_unpause_thaws() {
    let w = world(Status::Running, true, &[], |_| {});
    let c = "c".repeat(64);
    w.engine.pause_container("c").unwrap();
    assert_eq!(w.engine.container("c").unwrap().status, Status::Paused);
    let err = w.engine.pause_container("c").unwrap_err();
    assert!(matches!(err, Error::Container(ContainerError::InvalidState { .. })), "{err}");
    w.engine.unpause_container("c").unwrap();
    assert_eq!(w.engine.container("c").unwrap().status, Status::Running);
    assert_eq!(w.host.calls(), [format!("freeze {c} true"), format!("freeze {c} false")]);
}
