//! Typed engine events for the UI and the CLI: pull and push progress now; container state changes join later.

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

/// A broadcast of events; a slow subscriber misses old events rather than slowing the engine.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { tx: broadcast::channel(4096).0 }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub fn emit(&self, event: Event) {
        // No subscriber is fine: nobody is watching.
        let _ = self.tx.send(event);
    }
}
