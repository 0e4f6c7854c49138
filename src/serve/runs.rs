//! Container exits as `wait` and `attach` need them. A container this server started has its monitor's
//! word on its first run's exit (the [`StartOutcome`] channel, which keeps the real exit code even when
//! `--rm` removes the record at once); one started by another berth process is watched through the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::container::{ContainerRecord, StartOutcome, Status};
use tokio::sync::watch;

use super::Server;

const POLL: Duration = Duration::from_millis(50);

/// Per container, the exit of its current (or next) run: None until it ends; and the containers whose
/// run this server started and whose exit it has yet to hear.
#[derive(Default)]
pub struct Runs {
    exits: Mutex<HashMap<String, Arc<watch::Sender<Option<i32>>>>>,
    watched: Mutex<std::collections::HashSet<String>>,
}

impl Runs {
    /// The sender of the container's next exit: the pending one, or a fresh one when the last run ended.
    fn pending(&self, id: &str) -> Arc<watch::Sender<Option<i32>>> {
        let mut map = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        // Ended runs nobody watches any more are forgotten.
        map.retain(|_, tx| tx.borrow().is_none() || tx.receiver_count() > 0);
        match map.get(id) {
            Some(tx) if tx.borrow().is_none() => tx.clone(),
            _ => {
                let tx = Arc::new(watch::channel(None).0);
                map.insert(id.to_string(), tx.clone());
                tx
            }
        }
    }

    /// The watch of the container's next exit.
    pub fn next_exit(&self, id: &str) -> watch::Receiver<Option<i32>> {
        self.pending(id).subscribe()
    }

    /// Records a start that failed: whoever waits for the run learns it ended with `code`.
    pub fn failed(&self, id: &str, code: i32) {
        self.pending(id).send_replace(Some(code));
    }

    /// Whether a run this server started has yet to report its exit.
    fn watching(&self, id: &str) -> bool {
        self.watched.lock().unwrap_or_else(|e| e.into_inner()).contains(id)
    }

    /// Records a start by this server: the run's exit is published when its monitor reports it.
    pub fn started(&self, server: &super::Shared, outcome: StartOutcome) {
        let id = outcome.id.clone();
        let tx = self.pending(&id);
        self.watched.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
        let watched = id.clone();
        let server = server.clone();
        // A plain thread, not the runtime's blocking pool: the runtime waits for those at exit, and a
        // container outlives the server.
        let spawned = std::thread::Builder::new().name("berth-run-exit".into()).spawn(move || {
            let code = match outcome.wait_exit_blocking() {
                Some(code) => code,
                None => server.engine.container(&id).map(|r| r.exit_code).unwrap_or(-1),
            };
            tx.send_replace(Some(code));
            server.runs.watched.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch a container's exit: {e}");
            self.watched.lock().unwrap_or_else(|e| e.into_inner()).remove(&watched);
        }
    }
}

/// What `wait` waits for (moby's `condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

impl Condition {
    pub fn parse(text: Option<&str>) -> Result<Condition, super::ApiError> {
        match text.unwrap_or("") {
            "" | "not-running" => Ok(Condition::NotRunning),
            "next-exit" => Ok(Condition::NextExit),
            "removed" => Ok(Condition::Removed),
            other => Err(super::ApiError::bad_request(format!(
                "invalid condition {other:?}: use not-running, next-exit or removed"
            ))),
        }
    }
}

fn active(rec: &ContainerRecord) -> bool {
    matches!(rec.status, Status::Running | Status::Paused | Status::Restarting | Status::Removing)
}

/// Waits until `condition` holds for the container `first` (as read when the wait began); its exit code.
pub async fn wait(server: &Server, first: ContainerRecord, condition: Condition) -> i32 {
    let mut exit = server.runs.next_exit(&first.id);
    let mut last = first.clone();
    if condition == Condition::NotRunning && !active(&first) {
        return first.exit_code;
    }
    loop {
        let reported = *exit.borrow();
        match server.engine.container(&first.id) {
            Ok(now) => {
                let ended = !active(&now) && now.finished_at != first.finished_at && now.finished_at.is_some();
                match condition {
                    Condition::NotRunning if !active(&now) => return reported.unwrap_or(now.exit_code),
                    Condition::NextExit if reported.is_some() || ended => return reported.unwrap_or(now.exit_code),
                    _ => {}
                }
                last = now;
            }
            // Gone: removed (by `rm`, or by its monitor after an --rm run).
            Err(_) => {
                // A run this server started may have ended and been removed (`--rm`) between two looks, the
                // last of which saw it created: unless it was seen finished, its monitor's word, a moment
                // behind the removal it made, has the exit code. One never started here has no word coming.
                let finished = matches!(last.status, Status::Exited | Status::Dead);
                if condition == Condition::Removed && reported.is_none() && !finished && server.runs.watching(&first.id)
                {
                    let _ = tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some)).await;
                }
                let reported = *exit.borrow();
                return reported.unwrap_or(last.exit_code);
            }
        }
        tokio::select! {
            _ = exit.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
