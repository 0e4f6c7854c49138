//! The container list as last read, kept while the engine's event journal says nothing happened: every berth
//! process (CLI, monitors, server) records what a container goes through there, and the journal's inotify
//! watch wakes the follower only when a record is appended. So the list the UI asks for every second costs a
//! database read and a poll per monitor only after a change, not every second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_engine::Engine;
use berth_engine::journal::EventQuery;

use super::follow::Subscribers;
use super::{BackendEvent, ContainerRow};

/// How long a kept list is trusted without a record: a monitor killed outright records nothing, and only
/// a list's reconciling finds its container gone.
pub const RECHECK: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Listed {
    /// The journal is being followed: without that, nothing says when a kept list went stale.
    watching: AtomicBool,
    /// A record came since the list was last read.
    changed: AtomicBool,
    rows: Mutex<Option<(Instant, Vec<ContainerRow>)>>,
}

impl Listed {
    /// The kept list, when nothing was recorded since it was read and it is younger than [`RECHECK`].
    pub fn kept(&self, now: Instant) -> Option<Vec<ContainerRow>> {
        // Taken before reading again: a record appended while the list is read marks it changed once more.
        let changed = self.changed.swap(false, Ordering::AcqRel);
        if !self.watching.load(Ordering::Acquire) || changed {
            return None;
        }
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.as_ref().filter(|(at, _)| now.duration_since(*at) < RECHECK).map(|(_, rows)| rows.clone())
    }

    /// Keeps a list just read (`read_at` is when the read began), or forgets the kept one when it failed.
    pub fn keep(&self, read_at: Instant, rows: Option<&[ContainerRow]>) {
        *self.rows.lock().unwrap_or_else(|e| e.into_inner()) = rows.map(|rows| (read_at, rows.to_vec()));
    }

    pub fn changed(&self) {
        self.changed.store(true, Ordering::Release);
    }

    fn watching(&self, on: bool) {
        self.watching.store(on, Ordering::Release);
    }
}

/// Follows the engine's journal: each record marks the kept list changed and tells the UI
/// ([`BackendEvent::Changed`]), which reads its lists again at once. Ends (and stops trusting kept lists)
/// when the journal cannot be read.
pub async fn watch(engine: std::sync::Arc<Engine>, listed: std::sync::Arc<Listed>, subscribers: Subscribers) {
    let mut events = match engine.journal_events(EventQuery::default()).await {
        Ok(events) => events,
        Err(e) => return tracing::warn!("the container list is read every second: {e}"),
    };
    listed.watching(true);
    while let Some(event) = events.next().await {
        if let Err(e) = event {
            tracing::warn!("the container list is read every second from now on: {e}");
            break;
        }
        listed.changed();
        subscribers.send(BackendEvent::Changed);
    }
    listed.watching(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_list_serves_until_a_record_comes_or_it_is_old() {
        let listed = Listed::default();
        let t0 = Instant::now();
        let rows: [ContainerRow; 0] = [];
        listed.keep(t0, Some(&rows));
        assert_eq!(listed.kept(t0), None, "not watching the journal: always read");
        listed.watching(true);
        assert_eq!(listed.kept(t0 + Duration::from_secs(1)).as_deref(), Some(&rows[..]));
        listed.changed();
        assert_eq!(listed.kept(t0 + Duration::from_secs(1)), None, "a record: read again");
        assert_eq!(listed.kept(t0 + Duration::from_secs(1)).as_deref(), Some(&rows[..]), "once");
        assert_eq!(listed.kept(t0 + RECHECK), None, "too old to trust");
        listed.keep(t0, None);
        assert_eq!(listed.kept(t0), None, "a failed read keeps nothing");
    }
}
