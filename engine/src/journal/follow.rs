//! Reading the journal as `/events` does: past records (`since`/`until`), then, unless `until` has passed,
//! records as other processes append them. The directory is watched with inotify, so a reader sleeps until
//! a segment changes and reads only what was appended; nothing polls.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::Stream;
use rustix::fs::inotify;
use tokio::io::unix::AsyncFd;

use super::segments::{self, SegmentReader};
use super::{Event, EventFilters, JournalError};

/// What to read: Docker's `since`, `until` (nanoseconds since the epoch, see [`super::parse_time`]) and
/// filters. Without `since` and `until` only events from now on come; with either, the past ones in range
/// first; with `until` the stream ends at that time.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: EventFilters,
}

/// The events a query asks for, oldest first; ends only when `until` is reached.
#[derive(Debug)]
pub struct EventStream {
    dir: PathBuf,
    /// The segments being read, oldest first: the newest two, since a process that opened the previous one
    /// just before another rotated may still append to it.
    readers: Vec<SegmentReader>,
    ready: VecDeque<Event>,
    query: EventQuery,
    /// The inotify descriptor watching the directory; None once no more events can come.
    watch: Option<AsyncFd<OwnedFd>>,
    deadline: Option<tokio::time::Instant>,
}

pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl EventStream {
    /// Opens the journal in `dir` (made if missing) for `query`. Needs a tokio runtime (the watch is async).
    pub(crate) fn open(dir: &Path, query: EventQuery) -> Result<EventStream, JournalError> {
        if let (Some(since), Some(until)) = (query.since, query.until)
            && until < since
        {
            return Err(JournalError::InvalidTime {
                value: until.to_string(),
                reason: "`since` time cannot be after `until` time".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let now = now_nanos();
        let live = query.until.is_none_or(|until| until > now);
        // The watch comes first, so nothing appended while the past is read goes unnoticed.
        let watch = if live { Some(watch(dir)?) } else { None };
        let deadline = query
            .until
            .filter(|_| live)
            .map(|until| tokio::time::Instant::now() + Duration::from_nanos(u64::try_from(until - now).unwrap_or(0)));
        let replay = query.since.is_some() || query.until.is_some();
        let seqs = segments::list(dir)?;
        let chosen = if replay { &seqs[..] } else { &seqs[seqs.len().saturating_sub(2)..] };
        let mut readers = Vec::new();
        for &seq in chosen {
            readers.extend(SegmentReader::open(dir, seq, !replay)?);
        }
        let mut stream =
            EventStream { dir: dir.to_path_buf(), readers, ready: VecDeque::new(), query, watch, deadline };
        stream.read_appended()?;
        Ok(stream)
    }

    /// The next event; None when the stream is over (`until` reached, or past events only and all read).
    pub async fn next(&mut self) -> Option<Result<Event, JournalError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            let watch = self.watch.as_ref()?;
            let deadline = self.deadline;
            tokio::select! {
                changed = watch.readable() => {
                    let mut guard = match changed {
                        Ok(guard) => guard,
                        Err(source) => return Some(Err(self.watch_error(source))),
                    };
                    if let Err(source) = drain(guard.get_inner()) {
                        return Some(Err(self.watch_error(source)));
                    }
                    guard.clear_ready();
                }
                () = sleep_until(deadline) => {
                    self.watch = None;
                    return None;
                }
            }
            if let Err(err) = self.read_appended() {
                return Some(Err(err));
            }
        }
    }

    /// The events as a `Stream` (for a streaming HTTP body).
    pub fn into_stream(self) -> impl Stream<Item = Result<Event, JournalError>> + Send {
        futures_util::stream::unfold(self, |mut stream| async move { stream.next().await.map(|e| (e, stream)) })
    }

    fn watch_error(&mut self, source: std::io::Error) -> JournalError {
        self.watch = None;
        JournalError::Io { action: "watch", path: self.dir.clone(), source }
    }

    /// Reads what every followed segment gained (starting on segments made since) and queues what the
    /// query wants.
    fn read_appended(&mut self) -> Result<(), JournalError> {
        let newest_held = self.readers.last().map(|r| r.seq);
        for seq in segments::list(&self.dir)? {
            if newest_held.is_none_or(|held| seq > held) {
                self.readers.extend(SegmentReader::open(&self.dir, seq, false)?);
            }
        }
        let mut events = Vec::new();
        for reader in &mut self.readers {
            reader.read_new(&mut events)?;
        }
        let older = self.readers.len().saturating_sub(2);
        self.readers.drain(..older);
        let query = &self.query;
        self.ready.extend(events.into_iter().filter(|e| {
            query.since.is_none_or(|since| e.time_nano >= since)
                && query.until.is_none_or(|until| e.time_nano <= until)
                && query.filters.matches(e)
        }));
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// An inotify descriptor told of every write to, and every file made in, `dir`.
fn watch(dir: &Path) -> Result<AsyncFd<OwnedFd>, JournalError> {
    let fail = |source: std::io::Error| JournalError::Io { action: "watch", path: dir.to_path_buf(), source };
    let fd =
        inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).map_err(|e| fail(e.into()))?;
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO,
    )
    .map_err(|e| fail(e.into()))?;
    // SAFETY: the descriptor is owned by the AsyncFd from here on and closed only when it is dropped.
    unsafe { AsyncFd::register(fd) }.map_err(|e| fail(e.into()))
}

/// Reads the pending notifications; which file changed does not matter, every followed one is read.
fn drain(fd: &OwnedFd) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
