//! Container log files: Docker's json-file format (`{"log":"line\n","stream":"stdout","time":"..."}`, one
//! object a line), size-capped with rotation to `container.log.1` … `.N`. The monitor writes; any berth
//! process reads, tails and follows.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Lines longer than this are split into several records, as Docker does.
const MAX_RECORD: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One record: a line (with its `\n` unless it was cut short) from one stream at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    pub text: String,
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: Stream,
    time: String,
}

/// Where a container's log lives.
pub fn log_path(container_dir: &Path) -> PathBuf {
    container_dir.join("container.log")
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The size a log file may reach and the files kept for a container's log options.
fn rotation(opts: &crate::runtime::LogOptions) -> (u64, u32) {
    match (opts.max_size, opts.max_file) {
        (None, None) => (DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES),
        (Some(size), files) => (size, files.unwrap_or(1)),
        (None, Some(files)) => (DEFAULT_MAX_SIZE, files),
    }
}

/// berth's rotation when no `--log-opt` asks for another: 10 MiB per file, three files.
const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
const DEFAULT_MAX_FILES: u32 = 3;

/// Appends records, rotating when the file would pass `max_size`. A record that cannot be written (a full
/// disk) is dropped whole and counted; the next record that can be written is preceded by berth's note of
/// how many were lost.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    partial: [Vec<u8>; 2],
    dropped: u64,
}

impl LogWriter {
    /// Opens the log with the rotation of `--log-opt max-size/max-file`: without either, 10 MiB per file
    /// and the live file plus two rotated ones; `max-size` alone keeps one file, as Docker's json-file.
    pub fn with_options(path: &Path, opts: &crate::runtime::LogOptions) -> io::Result<LogWriter> {
        let (size, files) = rotation(opts);
        LogWriter::open(path, size, files)
    }

    /// Opens (appending) the log at `path`; `max_files` counts the live file too.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
            dropped: 0,
        })
    }

    /// Takes raw output of a stream, writing each complete line as a record and keeping the rest. Every
    /// line is taken (and counted if dropped) even when one could not be written; that failure is returned.
    pub fn write_output(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let slot = stream as usize;
        let mut result = Ok(());
        while !data.is_empty() {
            let room = MAX_RECORD - self.partial[slot].len();
            let take = data.iter().take(room).position(|b| *b == b'\n').map(|i| i + 1);
            let n = match take {
                Some(n) => n,
                None if data.len() >= room => room,
                None => {
                    self.partial[slot].extend_from_slice(data);
                    break;
                }
            };
            self.partial[slot].extend_from_slice(&data[..n]);
            data = &data[n..];
            let flushed = self.flush_partial(stream);
            if result.is_ok() {
                result = flushed;
            }
        }
        result
    }

    /// Writes out a pending unterminated line (at end of output), and the note of dropped records if one is
    /// still owed.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush_partial(Stream::Stdout)?;
        self.flush_partial(Stream::Stderr)?;
        self.note_dropped()
    }

    fn flush_partial(&mut self, stream: Stream) -> io::Result<()> {
        let bytes = std::mem::take(&mut self.partial[stream as usize]);
        if bytes.is_empty() {
            return Ok(());
        }
        let written = self.note_dropped().and_then(|()| self.append(stream, &bytes));
        if written.is_err() {
            self.dropped += 1;
        }
        written
    }

    /// Tells the log reader, once space is back, how many records were lost while it was not.
    fn note_dropped(&mut self) -> io::Result<()> {
        if self.dropped == 0 {
            return Ok(());
        }
        let lines = if self.dropped == 1 { "line was" } else { "lines were" };
        let note = format!("berth: {} log {lines} dropped while the disk was full\n", self.dropped);
        self.append(Stream::Stderr, note.as_bytes())?;
        self.dropped = 0;
        Ok(())
    }

    /// Appends one record whole or not at all: a write cut short is cut off again, so the file stays one
    /// JSON object a line.
    fn append(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let record = Record { log: String::from_utf8_lossy(bytes), stream, time: format_time(Utc::now()) };
        let mut line = serde_json::to_vec(&record).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        if let Err(err) = self.file.write_all(&line) {
            let _ = self.file.set_len(self.size);
            return Err(err);
        }
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files > 1 {
            for n in (1..self.max_files - 1).rev() {
                let from = rotated(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_record(line: &str) -> Option<LogEntry> {
    let r: Record = serde_json::from_str(line).ok()?;
    let time = DateTime::parse_from_rfc3339(&r.time).ok()?.with_timezone(&Utc);
    Some(LogEntry { time, stream: r.stream, text: r.log.into_owned() })
}

/// Which records `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only the last N records.
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl LogFilter {
    fn admits(&self, e: &LogEntry) -> bool {
        self.since.is_none_or(|s| e.time >= s) && self.until.is_none_or(|u| e.time < u)
    }
}

/// Every record of the log and its rotated files, oldest first, filtered. A tail is read backwards from the
/// end, so `logs --tail 100` of a 1 GB log costs the tail's reads and memory, not the log's.
pub fn read(path: &Path, filter: &LogFilter) -> io::Result<Vec<LogEntry>> {
    if let Some(n) = filter.tail {
        return read_tail(path, filter, n);
    }
    let mut entries = Vec::new();
    let mut files: Vec<PathBuf> = (1..100).map(|n| rotated(path, n)).take_while(|p| p.exists()).collect();
    files.reverse();
    files.push(path.to_path_buf());
    for file in files {
        let f = match File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(f).lines() {
            if let Some(entry) = parse_record(&line?).filter(|e| filter.admits(e)) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

/// The last `n` records `filter` admits, oldest first: the live file and then the rotated ones, each read
/// from its end until `n` are found.
fn read_tail(path: &Path, filter: &LogFilter, n: usize) -> io::Result<Vec<LogEntry>> {
    let mut newest_first = Vec::new();
    let files = std::iter::once(path.to_path_buf()).chain((1..100).map(|k| rotated(path, k)));
    for (k, file) in files.enumerate() {
        if newest_first.len() >= n {
            break;
        }
        let f = match File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && k == 0 => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        };
        lines_backwards(&f, |line| {
            let entry = std::str::from_utf8(line).ok().and_then(parse_record).filter(|e| filter.admits(e));
            newest_first.extend(entry);
            newest_first.len() < n
        })?;
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// Calls `each` with the file's lines (without their `\n`), last first, reading blocks from the end, until it
/// returns false or the file's start is reached.
fn lines_backwards(file: &File, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    const BLOCK: u64 = 64 * 1024;
    let mut end = file.metadata()?.len();
    // The start of the line the last block began inside, which the next (earlier) block completes.
    let mut carry = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0; (end - start) as usize];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&carry);
        let mut cut = block.len();
        while let Some(newline) = block[..cut].iter().rposition(|&b| b == b'\n') {
            if !each(&block[newline + 1..cut]) {
                return Ok(());
            }
            cut = newline;
        }
        block.truncate(cut);
        carry = block;
        end = start;
    }
    each(&carry);
    Ok(())
}

/// What [`LogFollower::poll_within`] read, and how many bytes of older output it passed over.
#[derive(Debug, Default)]
pub struct Polled {
    pub entries: Vec<LogEntry>,
    pub skipped: u64,
}

/// Moves `reader` `by` bytes on and then past the rest of the record it lands in; returns the bytes passed.
fn skip(reader: &mut BufReader<File>, by: u64) -> io::Result<u64> {
    reader.seek_relative(by as i64)?;
    let mut partial = Vec::new();
    let rest = reader.read_until(b'\n', &mut partial)?;
    Ok(by + rest as u64)
}

/// Reads records appended after a point, across rotations of the live file.
pub struct LogFollower {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    inode: u64,
    carry: String,
}

impl LogFollower {
    /// Starts at the current end of the log: records already there are `read`'s business.
    pub fn at_end(path: &Path) -> io::Result<LogFollower> {
        let mut follower = LogFollower { path: path.to_path_buf(), reader: None, inode: 0, carry: String::new() };
        if let Ok(mut f) = File::open(path) {
            follower.inode = f.metadata()?.ino();
            f.seek(SeekFrom::End(0))?;
            follower.reader = Some(BufReader::new(f));
        }
        Ok(follower)
    }

    /// Records written since the last call; empty when nothing new.
    pub fn poll(&mut self) -> io::Result<Vec<LogEntry>> {
        Ok(self.poll_within(u64::MAX)?.entries)
    }

    /// Like [`poll`](Self::poll) for a reader that keeps only recent output (a log pane): when more than
    /// `budget` bytes wait, the older ones are passed over and counted (files rotated away meanwhile are not),
    /// so a flood costs one budget a call however much was written.
    pub fn poll_within(&mut self, budget: u64) -> io::Result<Polled> {
        let mut polled = Polled::default();
        let live = std::fs::metadata(&self.path).ok().filter(|m| m.ino() != self.inode);
        let fresh = live.as_ref().map_or(0, |m| m.len());
        if let Some(reader) = self.reader.as_mut() {
            let left = reader.get_ref().metadata()?.len().saturating_sub(reader.stream_position()?);
            let over = (left + fresh).saturating_sub(budget);
            if over >= left && over > 0 {
                polled.skipped += left;
                self.reader = None;
            } else if over > 0 {
                polled.skipped += skip(reader, over)?;
                self.carry.clear();
            }
        }
        self.drain(&mut polled.entries)?;
        // A rotation renamed our file away: finish it (done above), then start on the new one.
        if live.is_some() {
            let file = match File::open(&self.path) {
                Ok(file) => file,
                // Between a rotation's rename and the new file's creation: it is there at the next look.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(polled),
                Err(e) => return Err(e),
            };
            // The file opened, which another rotation may have made since the look above.
            self.inode = file.metadata()?.ino();
            let mut reader = BufReader::new(file);
            self.carry.clear();
            if fresh > budget {
                polled.skipped += skip(&mut reader, fresh - budget)?;
            }
            self.reader = Some(reader);
            self.drain(&mut polled.entries)?;
        }
        Ok(polled)
    }

    fn drain(&mut self, out: &mut Vec<LogEntry>) -> io::Result<()> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if !line.ends_with('\n') {
                // The writer is mid-line; keep it for next time.
                self.carry.push_str(&line);
                return Ok(());
            }
            let full = std::mem::take(&mut self.carry) + &line;
            out.extend(parse_record(full.trim_end()));
        }
    }
}

/// Parses `--since`/`--until`: RFC 3339, a Unix timestamp, or a duration back from `now` (`10m`, `1h30m`, `45s`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(secs) = text.parse::<f64>() {
        let nanos = (secs.fract() * 1e9) as u32;
        return DateTime::from_timestamp(secs.trunc() as i64, nanos);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += value * unit;
    }
    if !number.is_empty() {
        return None;
    }
    Some(now - chrono::Duration::milliseconds((total * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_choose_the_rotation() {
        use crate::runtime::LogOptions;
        assert_eq!(rotation(&LogOptions::default()), (10 << 20, 3));
        assert_eq!(rotation(&LogOptions { max_size: Some(1024), max_file: None }), (1024, 1));
        assert_eq!(rotation(&LogOptions { max_size: Some(1024), max_file: Some(4) }), (1024, 4));
    }

    #[test]
    fn lines_become_records_and_partials_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 1 << 20, 2).unwrap();
        w.write_output(Stream::Stdout, b"hello\nwor").unwrap();
        w.write_output(Stream::Stderr, b"oops\n").unwrap();
        w.write_output(Stream::Stdout, b"ld\ntail").unwrap();
        w.finish().unwrap();
        let got: Vec<(Stream, String)> =
            read(&path, &LogFilter::default()).unwrap().into_iter().map(|e| (e.stream, e.text)).collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, "hello\n".to_string()),
                (Stream::Stderr, "oops\n".to_string()),
                (Stream::Stdout, "world\n".to_string()),
                (Stream::Stdout, "tail".to_string()),
            ]
        );
        let raw = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
        assert_eq!(first["log"], "hello\n");
        assert_eq!(first["stream"], "stdout");
    }

    #[test]
    fn records_lost_to_a_full_disk_are_counted_and_noted_once_space_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 1 << 20, 1).unwrap();
        w.write_output(Stream::Stdout, b"before\n").unwrap();
        let live = std::mem::replace(&mut w.file, OpenOptions::new().append(true).open("/dev/full").unwrap());
        for i in 0..3 {
            assert!(w.write_output(Stream::Stdout, format!("lost {i}\n").as_bytes()).is_err());
        }
        w.file = live;
        w.write_output(Stream::Stdout, b"after\n").unwrap();
        w.finish().unwrap();
        let got: Vec<(Stream, String)> =
            read(&path, &LogFilter::default()).unwrap().into_iter().map(|e| (e.stream, e.text)).collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, "before\n".to_string()),
                (Stream::Stderr, "berth: 3 log lines were dropped while the disk was full\n".to_string()),
                (Stream::Stdout, "after\n".to_string()),
            ]
        );
    }

    #[test]
    fn the_note_is_written_at_the_end_when_nothing_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 1 << 20, 1).unwrap();
        let live = std::mem::replace(&mut w.file, OpenOptions::new().append(true).open("/dev/full").unwrap());
        assert!(w.write_output(Stream::Stderr, b"lost\n").is_err());
        w.file = live;
        w.finish().unwrap();
        let texts: Vec<String> = read(&path, &LogFilter::default()).unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["berth: 1 log line was dropped while the disk was full\n"]);
    }

    #[test]
    fn long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 1 << 20, 1).unwrap();
        let long = vec![b'x'; MAX_RECORD * 2 + 10];
        w.write_output(Stream::Stdout, &long).unwrap();
        w.write_output(Stream::Stdout, b"\n").unwrap();
        let entries = read(&path, &LogFilter::default()).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries.iter().map(|e| e.text.len()).sum::<usize>(), long.len() + 1);
    }

    #[test]
    fn rotation_caps_size_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 400, 3).unwrap();
        for i in 0..40 {
            w.write_output(Stream::Stdout, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 400);
        assert!(rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        let entries = read(&path, &LogFilter::default()).unwrap();
        let numbers: Vec<u32> = entries.iter().map(|e| e.text.trim()[5..].parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert_eq!(*numbers.last().unwrap(), 39);
        assert!(numbers.len() < 40, "old records must have been dropped");
    }

    #[test]
    fn tail_since_until() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut text = String::new();
        for i in 0..5 {
            let r = Record {
                log: format!("{i}\n").into(),
                stream: Stream::Stdout,
                time: format_time(t0 + chrono::Duration::seconds(i)),
            };
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let pick = |f: LogFilter| read(&path, &f).unwrap().into_iter().map(|e| e.text).collect::<String>();
        assert_eq!(pick(LogFilter { tail: Some(2), ..Default::default() }), "3\n4\n");
        assert_eq!(pick(LogFilter { since: Some(t0 + chrono::Duration::seconds(3)), ..Default::default() }), "3\n4\n");
        assert_eq!(pick(LogFilter { until: Some(t0 + chrono::Duration::seconds(2)), ..Default::default() }), "0\n1\n");
    }

    fn records(t0: DateTime<Utc>, range: std::ops::Range<i64>) -> String {
        let mut text = String::new();
        for i in range {
            let time = format_time(t0 + chrono::Duration::seconds(i));
            let r = Record { log: format!("{i}\n").into(), stream: Stream::Stdout, time };
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        text
    }

    #[test]
    fn a_tail_read_from_the_end_matches_the_whole_log_across_blocks_and_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        // Several 64 KiB blocks per file, so records straddle block boundaries.
        std::fs::write(rotated(&path, 2), records(t0, 0..3000)).unwrap();
        std::fs::write(rotated(&path, 1), records(t0, 3000..6000)).unwrap();
        std::fs::write(&path, records(t0, 6000..7000)).unwrap();
        let all = read(&path, &LogFilter::default()).unwrap();
        assert_eq!(all.len(), 7000);
        for n in [0, 1, 999, 1000, 1001, 4500, 7000, 9000] {
            let tail = read(&path, &LogFilter { tail: Some(n), ..Default::default() }).unwrap();
            assert_eq!(tail, all[all.len().saturating_sub(n)..], "tail {n}");
        }
        let until = Some(t0 + chrono::Duration::seconds(6500));
        let filtered = read(&path, &LogFilter { tail: Some(600), until, ..Default::default() }).unwrap();
        let texts: Vec<_> = filtered.iter().map(|e| e.text.trim_end().parse::<i64>().unwrap()).collect();
        assert_eq!(texts, (5900..6500).collect::<Vec<_>>());
    }

    #[test]
    fn a_tail_never_reads_the_start_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        // A start no reader could get through (not UTF-8), 1 MiB before the records; the last record has no
        // newline yet.
        let mut bytes = vec![0xff; 1 << 20];
        bytes.push(b'\n');
        bytes.extend_from_slice(records(t0, 0..3).trim_end().as_bytes());
        std::fs::write(&path, bytes).unwrap();
        let tail = read(&path, &LogFilter { tail: Some(3), ..Default::default() }).unwrap();
        assert_eq!(tail.iter().map(|e| e.text.as_str()).collect::<String>(), "0\n1\n2\n");
    }

    #[test]
    fn follower_sees_new_records_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 300, 2).unwrap();
        w.write_output(Stream::Stdout, b"before\n").unwrap();
        let mut f = LogFollower::at_end(&path).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut seen = Vec::new();
        for i in 0..20 {
            w.write_output(Stream::Stdout, format!("n{i}\n").as_bytes()).unwrap();
            seen.extend(f.poll().unwrap().into_iter().map(|e| e.text));
        }
        let want: Vec<String> = (0..20).map(|i| format!("n{i}\n")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_follower_caught_between_a_rotations_rename_and_the_new_file_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 1 << 20, 2).unwrap();
        let mut f = LogFollower::at_end(&path).unwrap();
        w.write_output(Stream::Stdout, b"a\n").unwrap();
        // The rotation's first half: the live file renamed away, its successor not made yet.
        std::fs::rename(&path, rotated(&path, 1)).unwrap();
        let texts = |f: &mut LogFollower| f.poll().unwrap().into_iter().map(|e| e.text).collect::<Vec<_>>();
        assert_eq!(texts(&mut f), ["a\n"], "what the renamed file holds, and no error");
        let mut w = LogWriter::open(&path, 1 << 20, 2).unwrap();
        w.write_output(Stream::Stdout, b"b\n").unwrap();
        assert_eq!(texts(&mut f), ["b\n"]);
    }

    #[test]
    fn a_follower_within_a_budget_passes_over_a_flood_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, 64 * 1024, 3).unwrap();
        let mut f = LogFollower::at_end(&path).unwrap();
        let line = "x".repeat(100);
        let flood = |w: &mut LogWriter, count: usize| {
            for i in 0..count {
                w.write_output(Stream::Stdout, format!("{i:06} {line}\n").as_bytes()).unwrap();
            }
        };
        flood(&mut w, 100);
        let calm = f.poll_within(1 << 20).unwrap();
        assert_eq!((calm.entries.len(), calm.skipped), (100, 0), "under the budget nothing is passed over");

        flood(&mut w, 5000);
        let polled = f.poll_within(16 * 1024).unwrap();
        let read: usize = polled.entries.iter().map(|e| e.text.len()).sum();
        assert!(read < 16 * 1024, "read {read} bytes of text for a 16 KiB budget");
        // Rotated files that went before the poll are not counted: skipped is a lower bound.
        assert!(polled.skipped > 16 * 1024, "skipped {}", polled.skipped);
        let numbers: Vec<usize> = polled.entries.iter().map(|e| e.text[..6].parse().unwrap()).collect();
        assert_eq!(numbers.last(), Some(&4999), "the newest record is there");
        assert!(numbers[0] > 4800, "only the newest records are read: from {}", numbers[0]);
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "whole records in order after the skip");

        flood(&mut w, 3);
        let after: Vec<String> = f.poll_within(16 * 1024).unwrap().entries.into_iter().map(|e| e.text).collect();
        assert_eq!(after.len(), 3, "following goes on normally: {after:?}");
    }

    #[test]
    fn time_arguments() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_time("10m", now).unwrap(), now - chrono::Duration::minutes(10));
        assert_eq!(parse_time("1h30m", now).unwrap(), now - chrono::Duration::minutes(90));
        assert_eq!(parse_time("1767229200", now).unwrap(), now);
        assert_eq!(parse_time("2026-01-01T00:00:00Z", now).unwrap(), now - chrono::Duration::hours(1));
        assert!(parse_time("soon", now).is_none());
        assert!(parse_time("10", now).is_some());
        assert!(parse_time("5x", now).is_none());
    }
}
