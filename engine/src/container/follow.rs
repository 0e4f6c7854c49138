//! `logs` and `logs -f` as one engine operation for every caller (the CLI, the API server): the records a
//! filter selects, then, when following, what the container writes after them until it stops.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ContainerRecord;
use crate::logs::{LogEntry, LogFilter, LogFollower};
use crate::{Engine, Error};

/// How often a follow looks for new records and whether the container still runs.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What `logs -f` reads after the records already returned; [`Engine::next_logs`] advances it.
pub struct LogTail {
    id: String,
    follower: LogFollower,
    /// The time of the last record handed out: records read twice (written between the follower's opening
    /// and the first read) are dropped by it.
    last: Option<DateTime<Utc>>,
    done: bool,
}

impl Engine {
    /// The container's records that pass `filter`, and with `follow` (and no `until`) the tail that
    /// continues them. The tail's follower opens before the records are read, so nothing falls between.
    pub fn open_logs(
        &self,
        name_or_id: &str,
        filter: &LogFilter,
        follow: bool,
    ) -> Result<(ContainerRecord, Vec<LogEntry>, Option<LogTail>), Error> {
        let rec = self.container(name_or_id)?;
        let follower = match follow && filter.until.is_none() {
            true => Some(LogFollower::at_end(&self.container_log_path(&rec)).map_err(|source| {
                super::ContainerError::Io {
                    id: rec.id.clone(),
                    action: "follow log",
                    path: self.container_log_path(&rec),
                    source,
                }
            })?),
            false => None,
        };
        let (rec, entries) = self.container_logs(&rec.id, filter)?;
        let tail = follower.map(|follower| LogTail {
            id: rec.id.clone(),
            follower,
            last: entries.last().map(|e| e.time),
            done: false,
        });
        Ok((rec, entries, tail))
    }

    /// The next records of a followed log, waiting up to a poll interval for them; None once the container
    /// stopped (or went) and its last records were handed out.
    pub async fn next_logs(&self, tail: &mut LogTail) -> Option<Vec<LogEntry>> {
        if tail.done {
            return None;
        }
        let active = self.container(&tail.id).map(|r| r.status.is_active()).unwrap_or(false);
        let last = tail.last;
        let fresh: Vec<LogEntry> =
            tail.follower.poll().unwrap_or_default().into_iter().filter(|e| last.is_none_or(|l| e.time > l)).collect();
        if let Some(e) = fresh.last() {
            tail.last = Some(e.time);
        }
        if !active {
            tail.done = true;
        } else if fresh.is_empty() {
            tokio::time::sleep(FOLLOW_POLL).await;
        }
        Some(fresh)
    }
}
