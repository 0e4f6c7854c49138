//! The streams the engine backend pushes to the UI unasked: who listens, and the background tasks that follow
//! a container's log until the UI looks elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::io;
use std::path::Path;

use berth_engine::logs::{self, LogEntry, LogFilter, LogFollower, Stream};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::{BackendEvent, LogLine};

/// How often a followed log that is being written is looked at again: new lines show within this.
const LOG_POLL: Duration = Duration::from_millis(200);

/// Without a directory watch, a quiet log is looked at ever less often, down to this (a stat and a read
/// each time): the first line after a silence shows within it.
const LOG_POLL_QUIET: Duration = Duration::from_secs(1);

/// Log bytes read a tick at most. A container that writes faster (a flood) has its older output passed over
/// with a note, so following costs the UI a bounded amount of memory and work however much is written;
/// `berth logs` still has all of it.
const LOG_BUDGET: u64 = 1 << 20;

/// Lines per [`BackendEvent::Log`], so a burst arrives in pieces the UI folds into its bounded buffer.
const LOG_BATCH: usize = 1024;

/// Everyone who called `subscribe`; closed receivers are dropped on the next send.
#[derive(Clone, Default)]
pub struct Subscribers(Arc<Mutex<Vec<UnboundedSender<BackendEvent>>>>);

impl Subscribers {
    pub fn add(&self, tx: UnboundedSender<BackendEvent>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    pub fn send(&self, event: BackendEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|tx| tx.send(event.clone()).is_ok());
    }
}

/// Background tasks by container ID; a new follow of the same container replaces the old one.
#[derive(Default)]
pub struct Tasks(Mutex<HashMap<String, AbortHandle>>);

impl Tasks {
    pub fn replace(&self, id: String, task: AbortHandle) {
        if let Some(old) = self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(id, task) {
            old.abort();
        }
    }

    pub fn stop(&self, id: &str) {
        if let Some(task) = self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
            task.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.0.get_mut().unwrap_or_else(|e| e.into_inner()).values() {
            task.abort();
        }
    }
}

/// A log record as the Logs pane shows it: one line, without its newline.
pub fn log_line(entry: LogEntry) -> LogLine {
    let mut text = entry.text;
    if text.ends_with('\n') {
        text.pop();
    }
    LogLine {
        time: entry.time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        stderr: entry.stream == Stream::Stderr,
        text,
    }
}

/// The line that stands for output passed over while following.
fn skipped_note(bytes: u64) -> LogLine {
    LogLine {
        time: chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        stderr: false,
        text: format!(
            "[berth: {:.1} MiB of output passed over to keep up; `berth logs` has it all]",
            bytes as f64 / 1048576.0
        ),
    }
}

/// Sends `entries` as log events of at most [`LOG_BATCH`] lines.
pub fn send_lines(subscribers: &Subscribers, container: &str, entries: Vec<LogEntry>) {
    let mut lines = entries.into_iter().map(log_line).peekable();
    while lines.peek().is_some() {
        let batch: Vec<LogLine> = lines.by_ref().take(LOG_BATCH).collect();
        subscribers.send(BackendEvent::Log { container: container.to_string(), lines: batch });
    }
}

/// Up to `count` records of the log at `path` (rotated files included) written before the one stamped
/// `before`, oldest first, less the `skip` last ones stamped `before` itself. Records that share a stamp are
/// in file order, so the caller's oldest `skip` lines are exactly those left out. Only `count + skip`
/// records are held at once, however large the log.
pub fn older_lines(path: &Path, before: &str, skip: usize, count: usize) -> io::Result<Vec<LogLine>> {
    let before = DateTime::parse_from_rfc3339(before)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("log time {before:?}: {e}")))?
        .with_timezone(&Utc);
    let filter = LogFilter { tail: Some(count + skip), until: Some(before + TimeDelta::nanoseconds(1)), since: None };
    let mut entries = logs::read(path, &filter)?;
    entries.truncate(entries.len().saturating_sub(skip));
    Ok(entries.into_iter().map(log_line).collect())
}

/// Sends what is appended to the log until aborted, or until the log can no longer be read (the container
/// was removed). While lines come it reads again every [`LOG_POLL`], so a flood arrives in batches; once the
/// log is quiet it waits for `watch` to say the log's directory changed (without one, it polls ever less
/// often).
pub async fn follow_log(
    mut follower: LogFollower,
    container: String,
    subscribers: Subscribers,
    mut watch: Option<berth_engine::log_watch::LogWatch>,
) {
    let mut pause = LOG_POLL;
    loop {
        match &watch {
            Some(w) if pause > LOG_POLL => {
                if let Err(e) = w.changed().await {
                    tracing::warn!("log of {container} is polled from now on: {e}");
                    watch = None;
                }
            }
            _ => tokio::time::sleep(pause).await,
        }
        let polled = tokio::task::spawn_blocking(move || {
            let polled = follower.poll_within(LOG_BUDGET);
            (follower, polled)
        })
        .await;
        let Ok((returned, Ok(polled))) = polled else { return };
        follower = returned;
        pause =
            if polled.entries.is_empty() && polled.skipped == 0 { (pause * 2).min(LOG_POLL_QUIET) } else { LOG_POLL };
        if polled.skipped > 0 {
            subscribers
                .send(BackendEvent::Log { container: container.clone(), lines: vec![skipped_note(polled.skipped)] });
        }
        send_lines(&subscribers, &container, polled.entries);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use chrono::{TimeZone, Utc};

    use super::*;

    /// A json-file log of `n` records, three to a timestamp (as a fast writer's share a stamp), the first
    /// `rotated_at` in the rotated file.
    fn write_log(path: &Path, n: usize, rotated_at: usize) {
        let start = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut old = std::io::BufWriter::new(std::fs::File::create(format!("{}.1", path.display())).unwrap());
        let mut live = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for i in 0..n {
            let time = (start + TimeDelta::microseconds((i / 3) as i64)).to_rfc3339_opts(SecondsFormat::Nanos, true);
            let out: &mut dyn Write = if i < rotated_at { &mut old } else { &mut live };
            writeln!(out, r#"{{"log":"line {i}\n","stream":"stdout","time":"{time}"}}"#).unwrap();
        }
    }

    #[test]
    fn older_lines_page_back_through_a_large_log_to_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container-json.log");
        let total = 100_000;
        write_log(&path, total, 40_000);
        // The pane's start: the tail, as following gives it (1000 lines: 999 is a multiple of three, so the
        // oldest held line shares its stamp with the two lines before it).
        let tail = logs::read(&path, &LogFilter { tail: Some(1000), ..LogFilter::default() }).unwrap();
        let mut held: std::collections::VecDeque<LogLine> = tail.into_iter().map(log_line).collect();
        let page = 15_000;
        loop {
            let oldest = held.front().unwrap().time.clone();
            let skip = held.iter().take_while(|l| l.time == oldest).count();
            let older = older_lines(&path, &oldest, skip, page).unwrap();
            let got = older.len();
            for line in older.into_iter().rev() {
                held.push_front(line);
            }
            if got < page {
                break;
            }
        }
        assert_eq!(held.len(), total, "every line once, none twice");
        assert!(held.iter().enumerate().all(|(i, l)| l.text == format!("line {i}")), "in order");
        assert!(older_lines(&path, &held[0].time, 3, 10).unwrap().is_empty(), "nothing before the first");
    }

    fn entry(text: &str, stream: Stream) -> LogEntry {
        LogEntry { time: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(), stream, text: text.into() }
    }

    #[test]
    fn a_record_becomes_one_line_without_its_newline() {
        let line = log_line(entry("hello\n", Stream::Stderr));
        assert_eq!(line, LogLine { time: "2026-01-02T03:04:05.000000000Z".into(), stderr: true, text: "hello".into() });
        assert_eq!(log_line(entry("cut sho", Stream::Stdout)).text, "cut sho");
    }

    #[test]
    fn lines_go_to_every_live_subscriber_in_batches() {
        let subscribers = Subscribers::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (gone, gone_rx) = tokio::sync::mpsc::unbounded_channel();
        subscribers.add(tx);
        subscribers.add(gone);
        drop(gone_rx);
        let entries = (0..LOG_BATCH + 1).map(|i| entry(&format!("{i}\n"), Stream::Stdout)).collect();
        send_lines(&subscribers, "c1", entries);
        let mut sizes = Vec::new();
        while let Ok(BackendEvent::Log { container, lines }) = rx.try_recv() {
            assert_eq!(container, "c1");
            sizes.push(lines.len());
        }
        assert_eq!(sizes, vec![LOG_BATCH, 1]);
        assert_eq!(subscribers.0.lock().unwrap().len(), 1, "the closed subscriber was dropped");
    }

    #[tokio::test]
    async fn a_flood_arrives_as_a_note_and_the_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = berth_engine::logs::log_path(dir.path());
        let mut writer = berth_engine::logs::LogWriter::open(&path, 64 << 20, 2).unwrap();
        let subscribers = Subscribers::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        subscribers.add(tx);
        let follower = LogFollower::at_end(&path).unwrap();
        let line = "y".repeat(1000);
        for i in 0..4000 {
            writer.write_output(Stream::Stdout, format!("{i} {line}\n").as_bytes()).unwrap();
        }
        let task = tokio::spawn(follow_log(follower, "c1".into(), subscribers, None));
        let mut lines = Vec::new();
        while !lines.last().is_some_and(|l: &LogLine| l.text.starts_with("3999 ")) {
            let event = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
            let BackendEvent::Log { lines: more, .. } = event else { panic!("expected log lines, got {event:?}") };
            lines.extend(more);
        }
        task.abort();
        assert!(lines[0].text.contains("MiB of output passed over"), "a note first: {:?}", lines[0].text);
        let bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        assert!(bytes as u64 <= LOG_BUDGET + 2048, "{bytes} bytes reached the UI of about 4 MB written");
    }

    #[tokio::test]
    async fn following_sends_appended_records_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = berth_engine::logs::log_path(dir.path());
        let mut writer = berth_engine::logs::LogWriter::open(&path, 1 << 20, 2).unwrap();
        writer.write_output(Stream::Stdout, b"before\n").unwrap();
        let subscribers = Subscribers::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        subscribers.add(tx);
        let tasks = Tasks::default();
        let follower = LogFollower::at_end(&path).unwrap();
        let watch = berth_engine::log_watch::LogWatch::new(&path).ok();
        assert!(watch.is_some(), "the log's directory can be watched");
        tasks.replace("c1".into(), tokio::spawn(follow_log(follower, "c1".into(), subscribers, watch)).abort_handle());
        writer.write_output(Stream::Stdout, b"after\n").unwrap();
        let event = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        let BackendEvent::Log { lines, .. } = event else { panic!("expected log lines, got {event:?}") };
        assert_eq!(lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), vec!["after"]);
        tasks.stop("c1");
        writer.write_output(Stream::Stdout, b"unseen\n").unwrap();
        tokio::time::sleep(LOG_POLL_QUIET * 2).await;
        assert!(rx.try_recv().is_err(), "no lines after unfollow");
    }
}
