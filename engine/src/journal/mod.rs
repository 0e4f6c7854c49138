//! The event journal every berth process appends to and `berth events` (and the API's `/events`) reads:
//! Docker's event messages (`Type`, `Action`, `Actor{ID, Attributes}`, time) for what containers, images,
//! networks and volumes went through, from whichever process did it (CLI, TUI, monitor, exec helper, server).
//!
//! `ROOT/events/` holds numbered segment files of RFC 7464 JSON text sequences (`0x1E` JSON `\n` per record).
//! Each record is one `write` to a file opened `O_APPEND`, so records of concurrent processes never
//! interleave; a record cut short by a crash or a full disk is skipped on read, and the next record's `0x1E`
//! starts afresh. A segment past its size bound (1 MiB) makes the appender start the next one and drop
//! the oldest beyond 8 segments, so the journal stays bounded without a lock. Nothing is fsynced:
//! events are a record of what happened, not state, and a machine crash may lose its last seconds of them.
//! Readers follow the directory with inotify (`follow.rs`), so a live reader hears of a record at once
//! without polling anything.

mod filter;
mod follow;
mod objects;
mod segments;
#[cfg(test)]
mod tests;
mod time;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use filter::EventFilters;
pub(crate) use follow::now_nanos;
pub use follow::{EventQuery, EventStream};
pub(crate) use objects::{image_event, network_event, prune_event, volume_event};
pub use time::parse_time;

/// The journal's directory in the state root.
pub const JOURNAL_DIR: &str = "events";

/// The record separator of RFC 7464 that starts every record.
const RS: u8 = 0x1e;

/// A record longer than this loses its labels (and is refused if still longer): one `write` of it must stay
/// well within what the kernel writes to a file in one go, and readers buffer at most one record.
const MAX_RECORD: usize = 64 << 10;

/// Failures of the journal, each naming the path.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("event {action} of {id} is {size} bytes, over the journal's record limit")]
    TooLarge { action: String, id: String, size: usize },
    #[error("invalid filter {filter:?}: {reason}")]
    InvalidFilter { filter: String, reason: String },
    #[error("invalid time {value:?}: {reason}")]
    InvalidTime { value: String, reason: String },
}

/// What an event is about, Docker's `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Container,
    Image,
    Network,
    Volume,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Volume => "volume",
        }
    }
}

/// The object an event is about: its id (a container's or network's id, a volume's name, an image's id or
/// reference) and Docker's attributes (name, image, labels, exitCode, signal, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One journal record, in the shape of Docker's `events.Message` less what is derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Nanoseconds since the Unix epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// Docker's `/events` message: the record plus its scope, its time in seconds and, for containers and
/// images, the legacy `status`/`id`/`from` fields old clients read.
#[derive(Debug, Clone, Serialize)]
pub struct ApiMessage<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub from: &'a str,
    #[serde(rename = "Type")]
    pub kind: EventType,
    #[serde(rename = "Action")]
    pub action: &'a str,
    #[serde(rename = "Actor")]
    pub actor: &'a Actor,
    pub scope: &'static str,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event happening now.
    pub fn new(kind: EventType, action: impl Into<String>, id: impl Into<String>) -> Event {
        let time_nano = now_nanos();
        Event { kind, action: action.into(), actor: Actor { id: id.into(), attributes: BTreeMap::new() }, time_nano }
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.actor.attributes.insert(key.into(), value.into());
        self
    }

    /// Adds labels as attributes, as Docker does for containers and images (its own keys win).
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Event {
        for (k, v) in labels {
            self.actor.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }

    /// The message as Docker's API and `docker events --format json` send it.
    pub fn api_message(&self) -> ApiMessage<'_> {
        let legacy = matches!(self.kind, EventType::Container | EventType::Image);
        let (status, id) = if legacy { (self.action.as_str(), self.actor.id.as_str()) } else { ("", "") };
        let from = match self.kind {
            EventType::Container => self.actor.attributes.get("image").map_or("", String::as_str),
            _ => "",
        };
        ApiMessage {
            status,
            id,
            from,
            kind: self.kind,
            action: &self.action,
            actor: &self.actor,
            scope: "local",
            time: self.time_nano.div_euclid(1_000_000_000),
            time_nano: self.time_nano,
        }
    }

    /// The record as written: `0x1E`, compact JSON (which escapes every control byte, so neither `0x1E` nor a
    /// newline can occur inside), `\n`. An oversized one keeps only Docker's own attributes.
    fn encode(&self) -> Result<Vec<u8>, JournalError> {
        let mut out = encode_record(self);
        if out.len() > MAX_RECORD {
            let mut slim = self.clone();
            slim.actor.attributes.retain(|k, _| CORE_ATTRIBUTES.contains(&k.as_str()));
            out = encode_record(&slim);
        }
        if out.len() > MAX_RECORD {
            return Err(JournalError::TooLarge {
                action: self.action.clone(),
                id: self.actor.id.clone(),
                size: out.len(),
            });
        }
        Ok(out)
    }
}

/// The attributes an oversized record keeps: those berth itself sets.
const CORE_ATTRIBUTES: &[&str] = &["name", "image", "exitCode", "signal", "execID", "container", "driver", "type"];

fn encode_record(event: &Event) -> Vec<u8> {
    let mut out = vec![RS];
    // Serializing plain strings and maps into a Vec cannot fail.
    serde_json::to_writer(&mut out, event).expect("an event serializes");
    out.push(b'\n');
    out
}

/// How large the journal may grow: `segments` files of about `segment_bytes` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) segment_bytes: u64,
    pub(crate) segments: usize,
}

impl Default for Limits {
    /// 8 × 1 MiB: some 30,000 events of a few hundred bytes (Docker's daemon keeps 256 in memory).
    fn default() -> Self {
        Limits { segment_bytes: 1 << 20, segments: 8 }
    }
}

/// The journal of one state root: where events are appended and read from.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    limits: Limits,
}

impl Journal {
    /// The journal of the state root `root`.
    pub fn at(root: &Path) -> Journal {
        Journal { dir: root.join(JOURNAL_DIR), limits: Limits::default() }
    }

    /// The same journal with small bounds, to see it rotate.
    #[cfg(test)]
    pub(crate) fn with_limits(self, limits: Limits) -> Journal {
        Journal { limits, ..self }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record with a single `O_APPEND` write, then rotates when the segment is full. Costs a
    /// directory listing, an open and a write; no fsync (see the module's comment).
    pub fn append(&self, event: &Event) -> Result<(), JournalError> {
        let record = event.encode()?;
        let seq = match segments::newest(&self.dir)? {
            Some(seq) => seq,
            None => {
                std::fs::create_dir_all(&self.dir).map_err(|source| JournalError::Io {
                    action: "create",
                    path: self.dir.clone(),
                    source,
                })?;
                1
            }
        };
        let path = segments::path(&self.dir, seq);
        let io = |action: &'static str| {
            let path = path.clone();
            move |source| JournalError::Io { action, path, source }
        };
        let mut file =
            std::fs::OpenOptions::new().append(true).create(true).mode(0o644).open(&path).map_err(io("open"))?;
        // One write call, never a retried remainder: a second write could land after another process's record.
        let written = file.write(&record).map_err(io("append to"))?;
        if written < record.len() {
            return Err(io("append to")(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write")));
        }
        let end = file.metadata().map_err(io("stat"))?.len();
        if end >= self.limits.segment_bytes {
            segments::rotate(&self.dir, seq, self.limits.segments)?;
        }
        Ok(())
    }
}

/// Appends `event` to the journal of `root`; a journal that cannot be written is logged, never an error of
/// the operation that happened (the container did start even if the disk is full).
pub fn record(root: &Path, event: Event) {
    if let Err(err) = Journal::at(root).append(&event) {
        tracing::warn!(%err, "recording event {} {}", event.kind.as_str(), event.action);
    }
}

/// A container's event with Docker's attributes: its labels, `image` as the user named it, `name`.
pub fn container_event(rec: &crate::container::ContainerRecord, action: impl Into<String>) -> Event {
    Event::new(EventType::Container, action, rec.id.clone())
        .attr("image", rec.image_name.clone())
        .attr("name", rec.name.clone())
        .labels(&rec.options.labels)
}

/// Records a container's event unless the container is a build step (hidden, as BuildKit's are).
pub(crate) fn record_container(root: &Path, rec: &crate::container::ContainerRecord, event: Event) {
    if !rec.options.build_step {
        record(root, event);
    }
}

impl crate::Engine {
    /// Appends `event` to the state root's journal; a failure is logged, never the caller's error.
    pub fn record_event(&self, event: Event) {
        record(self.root(), event);
    }

    /// The journal's events for `query`: those in its time range that were recorded already, then (unless
    /// `until` has passed) those recorded from now on by any berth process, until `until`.
    pub async fn journal_events(&self, query: EventQuery) -> Result<EventStream, crate::Error> {
        Ok(EventStream::open(&self.root().join(JOURNAL_DIR), query)?)
    }
}
