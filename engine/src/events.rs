//! Typed engine events for the UI and the CLI: pull and push progress now; container state changes join later.

use std::sync::{Arc, OnceLock};

use tokio::sync::broadcast;

/// Where one layer of a pull stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerProgress {
    /// Queued behind other downloads, or behind another process working on the same layer.
    Waiting,
    /// Already in the layer store.
    AlreadyExists,
    /// Bytes received so far, of `total` (the manifest's size).
    Downloading {
        done: u64,
        total: u64,
    },
    /// The download failed and is being retried.
    Retrying {
        attempt: u32,
        reason: String,
    },
    /// All bytes in; finishing the unpack and checking digests.
    Verifying,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    /// The reference as pulled (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// The layer's compressed blob digest.
    pub layer: String,
    pub progress: LayerProgress,
}

/// Where one layer of a push stands (docker's push lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushLayerProgress {
    /// Finding or making the layer's compressed blob.
    Preparing,
    /// Queued behind other uploads.
    Waiting,
    /// Bytes sent so far, of `total` (back to 0 when a failed upload starts again).
    Pushing {
        done: u64,
        total: u64,
    },
    Pushed,
    /// The registry has the blob in this repository already.
    AlreadyExists,
    /// The registry linked the blob from another of its repositories.
    Mounted {
        from: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushProgress {
    /// The reference being pushed (`127.0.0.1:5000/app:latest`).
    pub reference: String,
    /// The layer's diffID (what docker's push lines name).
    pub layer: String,
    pub progress: PushLayerProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Pull(PullProgress),
    Push(PushProgress),
}

/// A broadcast of events; a slow subscriber misses old events rather than slowing the engine. The channel is
/// made by the first subscriber: its 4096 slots cost every other command (a `ps`, a `run`) ~0.5 ms of page
/// faults, and an event nobody subscribed to is dropped either way.
#[derive(Debug, Clone, Default)]
pub struct EventBus {
    tx: Arc<OnceLock<broadcast::Sender<Event>>>,
}

/// How many events a subscriber may fall behind before it misses the oldest.
const CAPACITY: usize = 4096;

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.get_or_init(|| broadcast::channel(CAPACITY).0).subscribe()
    }

    pub fn emit(&self, event: Event) {
        // No subscriber is fine: nobody is watching.
        if let Some(tx) = self.tx.get() {
            let _ = tx.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(layer: &str) -> Event {
        Event::Push(PushProgress {
            reference: "127.0.0.1:5000/app:latest".into(),
            layer: layer.into(),
            progress: PushLayerProgress::Preparing,
        })
    }

    #[test]
    fn a_clone_made_before_the_first_subscriber_reaches_it() {
        let bus = EventBus::default();
        let pusher = bus.clone();
        pusher.emit(push("unheard"));
        let mut rx = bus.subscribe();
        pusher.emit(push("heard"));
        assert_eq!(rx.try_recv().unwrap(), push("heard"), "what came before any subscriber is dropped");
        assert!(rx.try_recv().is_err());
    }
}
