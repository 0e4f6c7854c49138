use std::io::Write;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::segments::{self, SegmentReader};
use super::*;

fn event(action: &str, id: &str) -> Event {
    Event::new(EventType::Container, action, id).attr("name", format!("n-{id}")).attr("image", "busybox")
}

/// Every record in the journal, oldest first, read as a fresh reader would.
fn read_all(dir: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for seq in segments::list(dir).unwrap() {
        SegmentReader::open(dir, seq, false).unwrap().unwrap().read_new(&mut out).unwrap();
    }
    out
}

/// The raw bytes of every segment, to check records never interleave.
fn raw_records(dir: &Path) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for seq in segments::list(dir).unwrap() {
        all.extend(std::fs::read(segments::path(dir, seq)).unwrap());
    }
    all.split(|&b| b == RS).filter(|r| !r.is_empty()).map(<[u8]>::to_vec).collect()
}

#[test]
fn be_records_round_trip_in_docker_shape() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    let mut labels = BTreeMap::new();
    labels.insert("tier".to_string(), "front".to_string());
    labels.insert("name".to_string(), "a label may not override".to_string());
    let e = event("start", "abc").labels(&labels);
    journal.append(&e).unwrap();
    let got = read_all(journal.dir());
    assert_eq!(got, vec![e.clone()]);
    assert_eq!(got[0].actor.attributes["name"], "n-abc");
    let api = serde_json::to_value(e.api_message()).unwrap();
    assert_eq!(api["status"], "start");
    assert_eq!(api["id"], "abc");
    assert_eq!(api["from"], "busybox");
    assert_eq!(api["Type"], "container");
    assert_eq!(api["Actor"]["Attributes"]["tier"], "front");
    assert_eq!(api["scope"], "local");
    assert_eq!(api["time"], e.time_nano / 1_000_000_000);
    let net = serde_json::to_value(Event::new(EventType::Network, "create", "n1").api_message()).unwrap();
    assert!(net.get("status").is_none() && net.get("id").is_none() && net.get("from").is_none());
}

#[test]
fn be_concurrent_threads_never_interleave() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    // Large labels make each write big enough that interleaved bytes would show.
    let big: BTreeMap<String, String> = [("blob".to_string(), "x".repeat(8000))].into();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (journal, big) = (&journal, &big);
            s.spawn(move || {
                for i in 0..50 {
                    journal.append(&event("start", &format!("t{t}-{i}")).labels(big)).unwrap();
                }
            });
        }
    });
    let raw = raw_records(journal.dir());
    assert_eq!(raw.len(), 400);
    for record in &raw {
        serde_json::from_slice::<Event>(record.trim_ascii_end()).expect("every record is whole");
    }
    assert_eq!(read_all(journal.dir()).len(), 400);
}

/// The body of `be_concurrent_processes_never_interleave`'s children: appends when told where.
#[test]
fn be_child_appender() {
    let Some(root) = std::env::var_os("BERTH_JOURNAL_CHILD") else { return };
    let journal = Journal::at(Path::new(&root));
    let big: BTreeMap<String, String> = [("blob".to_string(), "y".repeat(6000))].into();
    for i in 0..100 {
        journal.append(&event("die", &format!("{}-{i}", std::process::id())).labels(&big)).unwrap();
    }
}

#[test]
fn be_concurrent_processes_never_interleave() {
    let root = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "journal::tests::be_child_appender", "--test-threads=1", "-q"])
                .env("BERTH_JOURNAL_CHILD", root.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let dir = root.path().join(JOURNAL_DIR);
    let raw = raw_records(&dir);
    assert_eq!(raw.len(), 400);
    for record in &raw {
        serde_json::from_slice::<Event>(record.trim_ascii_end()).expect("every record is whole");
    }
}

#[test]
fn be_rotation_keeps_the_journal_bounded_and_the_newest_records() {
    let root = tempfile::tempdir().unwrap();
    let limits = Limits { segment_bytes: 2048, segments: 3 };
    let journal = Journal::at(root.path()).with_limits(limits);
    for i in 0..500 {
        journal.append(&event("start", &format!("c{i:04}"))).unwrap();
    }
    let seqs = segments::list(journal.dir()).unwrap();
    assert_eq!(seqs.len(), 3, "{seqs:?}");
    let bytes: u64 = seqs.iter().map(|&s| std::fs::metadata(segments::path(journal.dir(), s)).unwrap().len()).sum();
    // Each segment ends at most one record past its bound.
    assert!(bytes < 3 * (2048 + 200), "{bytes}");
    let got = read_all(journal.dir());
    assert_eq!(got.last().unwrap().actor.id, "c0499");
    assert!(got.iter().all(|e| e.actor.id.as_str() > "c0400"), "old records are dropped");
    let ids: Vec<_> = got.iter().map(|e| e.actor.id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "records stay in order across segments");
}

#[test]
fn be_torn_records_are_skipped() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    journal.append(&event("create", "one")).unwrap();
    let whole = event("start", "two").encode().unwrap();
    let path = segments::path(journal.dir(), 1);
    // A crash in the middle of a record: part of it reached the file.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&whole[..whole.len() / 2]).unwrap();
    let ids = |events: Vec<Event>| events.into_iter().map(|e| e.actor.id).collect::<Vec<_>>();
    assert_eq!(ids(read_all(journal.dir())), ["one"], "a torn last record is skipped");
    journal.append(&event("die", "three")).unwrap();
    assert_eq!(ids(read_all(journal.dir())), ["one", "three"], "the next record starts afresh");
    // Garbage between records, and a damaged record whose newline made it.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\x1e{\"Type\":\"contai\n").unwrap();
    journal.append(&event("destroy", "four")).unwrap();
    assert_eq!(ids(read_all(journal.dir())), ["one", "three", "four"]);
}

#[test]
fn be_a_reader_waits_for_a_record_being_written() {
    let whole = event("start", "x").encode().unwrap();
    let mut buf = whole[..10].to_vec();
    let mut out = Vec::new();
    segments::take_records(&mut buf, &mut out);
    assert!(out.is_empty());
    assert_eq!(buf.len(), 10, "the partial record is kept");
    buf.extend_from_slice(&whole[10..]);
    segments::take_records(&mut buf, &mut out);
    assert_eq!(out.len(), 1);
    assert!(buf.is_empty());
    // A reader that starts in the middle of a record drops its rest.
    let mut buf = whole[5..].to_vec();
    buf.extend_from_slice(&whole);
    let mut out = Vec::new();
    segments::take_records(&mut buf, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn be_oversized_records_lose_their_labels() {
    let big: BTreeMap<String, String> = [("huge".to_string(), "z".repeat(MAX_RECORD))].into();
    let e = event("create", "c").labels(&big);
    let encoded = e.encode().unwrap();
    assert!(encoded.len() < MAX_RECORD);
    let back: Event = serde_json::from_slice(encoded[1..].trim_ascii_end()).unwrap();
    assert_eq!(back.actor.attributes.get("name").map(String::as_str), Some("n-c"));
    assert!(!back.actor.attributes.contains_key("huge"));
}

fn filtered(filters: &[&str], e: &Event) -> bool {
    EventFilters::parse(filters).unwrap().matches(e)
}

#[test]
fn be_filters_match_as_docker_does() {
    let labels: BTreeMap<String, String> =
        [("tier".to_string(), "front".to_string()), ("app".to_string(), "web".to_string())].into();
    let c = Event::new(EventType::Container, "start", "0123456789ab")
        .attr("name", "web1")
        .attr("image", "127.0.0.1:5000/busybox:1.36")
        .labels(&labels);
    let exec = Event::new(EventType::Container, "exec_start: sh -c true", "0123456789ab").attr("name", "web1");
    let img = Event::new(EventType::Image, "tag", "sha256:feed").attr("name", "busybox:latest");
    let net = Event::new(EventType::Network, "connect", "net0001").attr("name", "front").attr("container", "0123");
    let vol = Event::new(EventType::Volume, "create", "data").attr("driver", "local");

    assert!(filtered(&[], &c));
    assert!(filtered(&["container=web1"], &c));
    assert!(filtered(&["container=0123"], &c), "an id prefix");
    assert!(filtered(&["container=web"], &c), "a name prefix, as moby's FuzzyMatch");
    assert!(!filtered(&["container=db"], &c));
    assert!(!filtered(&["container=web1"], &net), "a name filter applies to every type");
    assert!(filtered(&["container=web1", "container=db"], &c), "values of one key are alternatives");
    assert!(filtered(&["type=container"], &c));
    assert!(!filtered(&["type=container"], &img));
    assert!(filtered(&["type=image", "type=network"], &net));
    assert!(filtered(&["event=start"], &c));
    assert!(!filtered(&["event=sta"], &c), "events match exactly");
    assert!(!filtered(&["event=exec_start"], &c));
    assert!(filtered(&["event=exec_start"], &exec), "exec_start matches by prefix");
    assert!(filtered(&["event=start", "event=exec_start"], &exec));
    assert!(filtered(&["label=tier"], &c));
    assert!(filtered(&["label=tier=front"], &c));
    assert!(!filtered(&["label=tier=back"], &c));
    assert!(filtered(&["label=tier=front", "label=app=web"], &c), "every label must hold");
    assert!(!filtered(&["label=tier=front", "label=app=db"], &c));
    assert!(!filtered(&["label=tier"], &vol));
    assert!(filtered(&["image=127.0.0.1:5000/busybox"], &c), "the image without its tag");
    assert!(filtered(&["image=127.0.0.1:5000/busybox:1.36"], &c));
    assert!(!filtered(&["image=busybox"], &c));
    assert!(filtered(&["image=busybox"], &img), "an image event's name");
    assert!(filtered(&["image=sha256:feed"], &img));
    assert!(filtered(&["network=front"], &net));
    assert!(filtered(&["network=net0"], &net));
    assert!(!filtered(&["network=back"], &net));
    assert!(filtered(&["volume=data"], &vol));
    assert!(!filtered(&["volume=other"], &vol));
    assert!(filtered(&["scope=local"], &vol));
    assert!(!filtered(&["scope=swarm"], &vol));
    assert!(matches!(EventFilters::parse(&["colour=red"]), Err(JournalError::InvalidFilter { .. })));
    let map = EventFilters::from_json(r#"{"label":{"tier=front":true},"type":{"container":true}}"#).unwrap();
    let list = EventFilters::from_json(r#"{"label":["tier=front"],"type":["container"]}"#).unwrap();
    assert_eq!(map, EventFilters::parse(&["label=tier=front", "type=container"]).unwrap());
    assert_eq!(map, list);
    assert!(map.matches(&c) && !map.matches(&img));
    assert!(EventFilters::from_json(r#"{"colour":["red"]}"#).is_err());
    assert!(EventFilters::from_json(r#"{"label":7}"#).is_err());
    assert!(EventFilters::from_json("not json").is_err());
    assert!(matches!(EventFilters::parse(&["container"]), Err(JournalError::InvalidFilter { .. })));
}

#[test]
fn be_since_and_until_parse_as_docker_does() {
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 0).unwrap() + chrono::Duration::milliseconds(750);
    let secs = |t: chrono::DateTime<Utc>| t.timestamp() * 1_000_000_000;
    let at = |h, m, s| secs(Utc.with_ymd_and_hms(2026, 12, 6, h, m, s).unwrap());
    assert_eq!(parse_time("10m", now).unwrap(), at(13, 50, 0), "whole seconds of now - 10m");
    assert_eq!(parse_time("1h30m", now).unwrap(), at(12, 30, 0));
    assert_eq!(parse_time("-5s", now).unwrap(), at(14, 0, 5), "a negative duration is ahead");
    assert_eq!(parse_time("1765000000", now).unwrap(), 1_765_000_000 * 1_000_000_000);
    assert_eq!(parse_time("1765000000.5", now).unwrap(), 1_765_000_000 * 1_000_000_000 + 500_000_000);
    assert_eq!(parse_time("1765000000.000000001", now).unwrap(), 1_765_000_000 * 1_000_000_000 + 1);
    assert_eq!(parse_time("0", now).unwrap(), 0, "0 is the epoch, not a duration");
    assert_eq!(parse_time("2026-12-06T13:00:00Z", now).unwrap(), at(13, 0, 0));
    assert_eq!(parse_time("2026-12-06T15:00:00+02:00", now).unwrap(), at(13, 0, 0));
    assert_eq!(parse_time("2026-12-06T13:00:00.25Z", now).unwrap(), at(13, 0, 0) + 250_000_000);
    assert_eq!(parse_time("2026-12-06T13:04Z", now).unwrap(), at(13, 4, 0));
    assert_eq!(parse_time("2026-12-06T13Z", now).unwrap(), at(13, 0, 0));
    assert_eq!(parse_time("2026-12-06Z", now).unwrap(), at(0, 0, 0));
    // Without a zone: local time, as the CLI reads it.
    let local = |text: &str| {
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap();
        chrono::Local.from_local_datetime(&naive).earliest().unwrap().timestamp() * 1_000_000_000
    };
    assert_eq!(parse_time("2026-12-06T13:04:05", now).unwrap(), local("2026-12-06T13:04:05"));
    assert_eq!(parse_time("2026-12-06T13:04", now).unwrap(), local("2026-12-06T13:04:00"));
    assert_eq!(parse_time("2026-12-06", now).unwrap(), local("2026-12-06T00:00:00"));
    assert!(parse_time("2026-13-06", now).is_err());
    assert!(parse_time("yesterday", now).is_err());
    assert!(parse_time("10x", now).is_err());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A guard against a hang, not a timing check.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn be_a_live_reader_hears_what_another_thread_appends() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    journal.append(&event("create", "before")).unwrap();
    runtime().block_on(async {
        let query = EventQuery { filters: EventFilters::parse(&["event=start"]).unwrap(), ..EventQuery::default() };
        let mut stream = EventStream::open(journal.dir(), query).unwrap();
        let writer = journal.clone();
        let appender = std::thread::spawn(move || {
            for i in 0..200 {
                writer.append(&event("create", &format!("c{i}"))).unwrap();
                writer.append(&event("start", &format!("c{i}"))).unwrap();
            }
        });
        for i in 0..200 {
            let got = tokio::time::timeout(PATIENCE, stream.next()).await.expect("delivered").unwrap().unwrap();
            assert_eq!((got.action.as_str(), got.actor.id.as_str()), ("start", format!("c{i}").as_str()));
        }
        appender.join().unwrap();
    });
}

#[test]
fn be_a_live_reader_follows_rotation() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path()).with_limits(Limits { segment_bytes: 600, segments: 2 });
    runtime().block_on(async {
        let mut stream = EventStream::open(journal.dir(), EventQuery::default()).unwrap();
        for i in 0..30 {
            journal.append(&event("start", &format!("c{i}"))).unwrap();
            let got = tokio::time::timeout(PATIENCE, stream.next()).await.expect("delivered").unwrap().unwrap();
            assert_eq!(got.actor.id, format!("c{i}"));
        }
        assert!(segments::newest(journal.dir()).unwrap().unwrap() > 4, "the journal rotated meanwhile");
    });
}

#[test]
fn be_since_replays_and_until_ends_the_stream() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    let mut old = event("create", "old");
    old.time_nano = 1_000;
    journal.append(&old).unwrap();
    let recent = event("start", "recent");
    journal.append(&recent).unwrap();
    runtime().block_on(async {
        let dir = journal.dir();
        let past = |since, until| async move {
            let mut stream = EventStream::open(dir, EventQuery { since, until, ..EventQuery::default() }).unwrap();
            let mut ids = Vec::new();
            while let Some(e) = tokio::time::timeout(PATIENCE, stream.next()).await.expect("ends") {
                ids.push(e.unwrap().actor.id);
            }
            ids
        };
        let now = recent.time_nano + 1;
        assert_eq!(past(Some(0), Some(now)).await, ["old", "recent"]);
        assert_eq!(past(Some(2_000), Some(now)).await, ["recent"]);
        assert_eq!(past(None, Some(2_000)).await, ["old"], "until alone replays up to it");
        // An until a moment ahead: live until then, and then the stream ends.
        let soon = super::follow::now_nanos() + 300_000_000;
        assert_eq!(past(Some(recent.time_nano), Some(soon)).await, ["recent"]);
        assert!(
            EventStream::open(journal.dir(), EventQuery { since: Some(5), until: Some(4), ..Default::default() })
                .is_err()
        );
    });
}

#[test]
fn be_without_since_only_new_events_come() {
    let root = tempfile::tempdir().unwrap();
    let journal = Journal::at(root.path());
    journal.append(&event("create", "old")).unwrap();
    runtime().block_on(async {
        // As a streaming HTTP body takes it: a `Stream` that is Send and 'static.
        let stream = EventStream::open(journal.dir(), EventQuery::default()).unwrap().into_stream();
        let mut stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send + 'static>> = Box::pin(stream);
        journal.append(&event("start", "new")).unwrap();
        let next = futures_util::StreamExt::next(&mut stream);
        let got = tokio::time::timeout(PATIENCE, next).await.expect("delivered").unwrap().unwrap();
        assert_eq!(got.actor.id, "new");
    });
}
