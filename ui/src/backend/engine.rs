//! [`Backend`] over the in-process engine: images and pulls today; containers, logs, stats and shells answer
//! `Unsupported` until the engine's runtime offers them.

use std::sync::Arc;

use berth_engine::events::{Event, LayerProgress};
use berth_engine::reference::Reference;
use berth_engine::store::{ImageRecord, RemovedImage};
use berth_engine::{Engine, pull::PullOptions};
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, mpsc};

use super::{
    Backend, BackendError, BackendEvent, ContainerOp, ContainerRow, ImageRow, LayerRow, LayerState, RunRequest,
};

/// The engine has no container runtime yet; every container call says so.
const NO_RUNTIME: &str = "the engine has no container runtime yet";

pub struct EngineBackend {
    engine: Arc<Engine>,
}

impl EngineBackend {
    pub fn new(engine: Arc<Engine>) -> EngineBackend {
        EngineBackend { engine }
    }

    /// Runs a blocking engine call (SQLite, filesystem) off the async threads.
    async fn blocking<T, F>(&self, operation: &'static str, target: String, f: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, berth_engine::Error> + Send + 'static,
    {
        let engine = self.engine.clone();
        let failed_target = target.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| BackendError::Failed { operation, target: failed_target, message: e.to_string() })?
            .map_err(|e| BackendError::Failed { operation, target, message: e.to_string() })
    }
}

fn unsupported<T: Send + 'static>(
    operation: &'static str,
    target: String,
) -> BoxFuture<'static, Result<T, BackendError>> {
    Box::pin(async move { Err(BackendError::Unsupported { operation, target, reason: NO_RUNTIME }) })
}

fn image_row(record: ImageRecord) -> ImageRow {
    ImageRow { id: record.id, tags: record.repo_tags, size: record.size, created: record.created, used_by: Vec::new() }
}

fn layer_state(progress: LayerProgress) -> LayerState {
    match progress {
        LayerProgress::Waiting => LayerState::Waiting,
        LayerProgress::AlreadyExists => LayerState::AlreadyExists,
        LayerProgress::Downloading { done, total } => LayerState::Downloading { done, total },
        LayerProgress::Retrying { attempt, reason } => LayerState::Retrying { attempt, reason },
        LayerProgress::Verifying => LayerState::Verifying,
        LayerProgress::Done => LayerState::Done,
    }
}

/// Pairs the image's history with its layers: entries marked `empty_layer` made none.
fn layer_rows(engine: &Engine, image: &ImageRecord) -> Result<Vec<LayerRow>, berth_engine::Error> {
    let history: Vec<(String, bool)> = image
        .config
        .history()
        .iter()
        .flatten()
        .map(|h| (h.created_by().clone().unwrap_or_default(), !h.empty_layer().unwrap_or(false)))
        .collect();
    let made_layers = history.iter().filter(|(_, layer)| *layer).count();
    // Layers the history does not account for (a config without history) get an empty command.
    let unexplained = image.layers.len().saturating_sub(made_layers);
    let entries = history.into_iter().chain(std::iter::repeat_n((String::new(), true), unexplained));
    let mut layers = image.layers.iter();
    let mut rows = Vec::new();
    for (created_by, makes_layer) in entries {
        let record = match makes_layer.then(|| layers.next()).flatten() {
            Some(chain) => engine.store().layer(chain)?,
            None => None,
        };
        rows.push(LayerRow {
            digest: record.as_ref().map(|l| l.blob_digest.clone()).unwrap_or_default(),
            size: record.map_or(0, |l| l.size),
            created_by,
        });
    }
    Ok(rows)
}

impl Backend for EngineBackend {
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>) {
        let mut rx = self.engine.events().subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(Event::Pull(p)) => {
                        let event = BackendEvent::PullProgress {
                            reference: p.reference,
                            layer: p.layer,
                            state: layer_state(p.progress),
                        };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError> {
        Reference::parse(reference).map(|r| r.to_string()).map_err(|e| BackendError::Failed {
            operation: "pull",
            target: reference.to_string(),
            message: e.to_string(),
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>> {
        Box::pin(
            self.blocking("list images", String::new(), |e| Ok(e.list_images()?.into_iter().map(image_row).collect())),
        )
    }

    fn image_layers(&self, id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>> {
        Box::pin(self.blocking("layers of", id.clone(), move |e| {
            let image = e.image(&id)?;
            layer_rows(e, &image)
        }))
    }

    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(self.blocking("inspect", id.clone(), move |e| {
            let value = e.inspect_image(&id)?;
            Ok(serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()))
        }))
    }

    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            self.engine
                .pull(&reference, PullOptions::default())
                .await
                .map(|p| p.image_id)
                .map_err(|e| BackendError::Failed { operation: "pull", target: reference, message: e.to_string() })
        })
    }

    fn remove_image(&self, id: String, force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(self.blocking("remove", id.clone(), move |e| {
            Ok(e.remove_image(&id, force)?
                .into_iter()
                .map(|r| match r {
                    RemovedImage::Untagged(name) => format!("untagged {name}"),
                    RemovedImage::Deleted(id) => format!("deleted {id}"),
                })
                .collect())
        }))
    }

    fn prune_images(&self, all: bool) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(self.blocking("prune", "images".into(), move |e| Ok(e.prune_images(all)?.reclaimed)))
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>> {
        unsupported("list", "containers".into())
    }

    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>> {
        unsupported(op.verb(), id)
    }

    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        unsupported("inspect", id)
    }

    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        unsupported("run", request.image)
    }

    fn follow_logs(&self, id: String, _tail: usize) -> BoxFuture<'_, Result<(), BackendError>> {
        unsupported("logs", id)
    }

    fn unfollow_logs(&self, _id: String) {}

    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>> {
        unsupported("stats", id)
    }

    fn unfollow_stats(&self, _id: String) {}

    fn open_shell(&self, id: String, _cols: u16, _rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        unsupported("exec", id)
    }

    fn shell_input(&self, _session: u64, _bytes: Vec<u8>) {}

    fn resize_shell(&self, _session: u64, _cols: u16, _rows: u16) {}
}
