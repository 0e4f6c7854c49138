//! Pulling an image: resolve the manifest, then download and unpack every layer at once, each streamed
//! from the network through the decompressor into its directory without ever being held whole.
//!
//! Per layer: take the layer's lock (another process may be on it) → skip if stored → download while
//! unpacking into a work dir, hashing both the compressed bytes (blob digest) and the tar (diffID) →
//! wait for the parent layer → link hardlinks that point into lower layers → rename into place and
//! record. The image row is written last, so a pull cut short at any moment leaves no image visible, and
//! the layers a killed pull finished are reused by the next one; a pull that fails removes what it stored.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use oci_spec::image::Descriptor;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::events::{Event, EventBus, LayerProgress, PullProgress};
use crate::layer::erofs::PendingImage;
use crate::layer::{self, Compression, LayerError, UnpackOptions, UnpackReport};
use crate::reference::Reference;
use crate::registry::{Platform, Registry, RegistryError, ResolvedImage};
use crate::store::{
    BlobLocation, LayerDriver, LayerRecord, NewImage, Store, StoreError, TempDir, WORK_IMAGE, chain_ids,
};

#[derive(Debug, Error)]
pub enum PullError {
    #[error("pulling {image}: {source}")]
    Registry { image: String, source: Box<RegistryError> },
    #[error("pulling {image}: manifest lists {layers} layers but the config has {diff_ids} diff ids")]
    LayerCount { image: String, layers: usize, diff_ids: usize },
    #[error("pulling {image}: layer {layer} has unsupported media type {media_type:?}")]
    UnsupportedLayer { image: String, layer: String, media_type: String },
    #[error("pulling {image}: layer {layer} failed verification: expected digest {expected}, got {actual}")]
    DigestMismatch { image: String, layer: String, expected: String, actual: String },
    #[error("pulling {image}: layer {layer} is truncated: received {received} of {expected} bytes")]
    Truncated { image: String, layer: String, received: u64, expected: u64 },
    #[error("pulling {image}: layer {layer} is larger than its manifest says ({expected} bytes)")]
    Oversized { image: String, layer: String, expected: u64 },
    #[error("pulling {image}: layer {layer} failed verification: expected diff id {expected}, got {actual}")]
    DiffIdMismatch { image: String, layer: String, expected: String, actual: String },
    #[error("pulling {image}: layer {layer}: download failed after {received} of {expected} bytes: {source}")]
    Download { image: String, layer: String, received: u64, expected: u64, source: Box<RegistryError> },
    #[error("pulling {image}: layer {layer}: {source}")]
    Unpack { image: String, layer: String, source: Box<LayerError> },
    #[error("pulling {image}: {source}")]
    Store { image: String, source: StoreError },
    #[error("pulling {image}: layer {layer} not stored because a lower layer failed")]
    ParentFailed { image: String, layer: String },
    #[error("pulling {image}: internal task failed: {reason}")]
    Task { image: String, reason: String },
}

impl PullError {
    /// Worth another attempt at the same layer: the network failed, not the content.
    fn retryable(&self) -> bool {
        matches!(self, PullError::Download { .. } | PullError::Truncated { .. })
    }
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Platform to pick from an index; the host's when unset.
    pub platform: Option<Platform>,
}

/// The outcome of a pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: Reference,
    pub image_id: String,
    /// What the reference resolved to: the index digest for multi-platform images, else the manifest's.
    pub digest: String,
    /// False when the tag already pointed at this image ("Image is up to date").
    pub updated: bool,
}

/// Everything the per-layer tasks of one pull share.
struct PullJob {
    store: Arc<Store>,
    registry: Registry,
    events: EventBus,
    reference: Reference,
    image: String,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    chains: Vec<String>,
    downloads: Semaphore,
    unpack: UnpackOptions,
    driver: LayerDriver,
    max_attempts: u32,
}

/// A downloaded layer: the unpacker's report, for the EROFS store the image still to be finished, and the
/// work dir holding the layer's tar index (`TAR_INDEX`) when one was kept.
type Unpacked = (UnpackReport, Option<PendingImage>, Option<TempDir>);

/// The tar index's name inside its work dir.
const TAR_INDEX: &str = "tar-index";

/// Runs a whole pull. Called by [`crate::Engine::pull`].
pub(crate) async fn pull(
    store: Arc<Store>,
    registry: Registry,
    events: EventBus,
    settings: &crate::config::Config,
    reference: &str,
    opts: PullOptions,
) -> Result<Pulled, crate::Error> {
    let reference = Reference::parse(reference)?;
    let image = reference.to_string();
    let platform = opts.platform.unwrap_or_else(Platform::host);
    let resolved = registry
        .resolve(&reference, &platform)
        .await
        .map_err(|source| PullError::Registry { image: image.clone(), source: Box::new(source) })?;
    let diff_ids: Vec<String> = resolved.config.rootfs().diff_ids().to_vec();
    let layers: Vec<Descriptor> = resolved.manifest.layers().to_vec();
    if diff_ids.len() != layers.len() {
        return Err(PullError::LayerCount { image, layers: layers.len(), diff_ids: diff_ids.len() }.into());
    }
    let gc_store = store.clone();
    let gc = blocking(&image, move || gc_store.gc_shared_lock())
        .await?
        .map_err(|source| PullError::Store { image: image.clone(), source })?;
    let chains = chain_ids(&diff_ids);
    let job = Arc::new(PullJob {
        store: store.clone(),
        registry,
        events,
        image: image.clone(),
        reference,
        layers,
        diff_ids,
        chains: chains.clone(),
        downloads: Semaphore::new(settings.max_concurrent_downloads),
        unpack: UnpackOptions {
            max_bytes: settings.max_layer_bytes,
            preserve_owners: rustix::process::geteuid().is_root(),
        },
        driver: store.layer_driver(&settings.layer_store),
        max_attempts: settings.registry_max_attempts,
    });
    let stored = store_image(job, &resolved).await;
    if stored.is_err() {
        // What this pull stored goes with it, so a pull that failed on a full disk gives the space back.
        drop(gc);
        let blobs = [resolved.manifest_digest.clone(), resolved.config_digest.clone()];
        let discard = blocking(&image, move || store.discard_unused(&chains, &blobs)).await?;
        if let Err(err) = discard {
            tracing::warn!(%image, %err, "cannot remove what the failed pull stored");
        }
    }
    stored
}

/// Stores the manifest and config, every layer, then the image row. The caller holds the gc lock shared.
async fn store_image(job: Arc<PullJob>, resolved: &ResolvedImage) -> Result<Pulled, crate::Error> {
    let store_err = |source| PullError::Store { image: job.image.clone(), source };
    job.store.blobs().put(&resolved.manifest_digest, &resolved.manifest_bytes).map_err(store_err)?;
    job.store.blobs().put(&resolved.config_digest, &resolved.config_bytes).map_err(store_err)?;
    fetch_all_layers(job.clone()).await?;
    let locations: Vec<BlobLocation> = job
        .layers
        .iter()
        .chain([resolved.manifest.config()])
        .map(|d| BlobLocation {
            digest: d.digest().to_string(),
            registry: job.reference.registry.clone(),
            repository: job.reference.repository.clone(),
            media_type: d.media_type().to_string(),
            size: d.size(),
        })
        .collect();
    job.store.record_blob_locations(&locations).map_err(store_err)?;
    Ok(record_image(&job.store, &job.reference, resolved, job.chains.clone()).map_err(store_err)?)
}

fn record_image(
    store: &Store,
    reference: &Reference,
    resolved: &ResolvedImage,
    chains: Vec<String>,
) -> Result<Pulled, StoreError> {
    let digest = resolved.index_digest.clone().unwrap_or_else(|| resolved.manifest_digest.clone());
    let config = &resolved.config;
    let updated = store.add_image(&NewImage {
        id: resolved.config_digest.clone(),
        manifest_digest: resolved.manifest_digest.clone(),
        manifest_media_type: resolved.manifest_media_type.clone(),
        architecture: config.architecture().to_string(),
        os: config.os().to_string(),
        variant: config.variant().clone(),
        created: config.created().clone(),
        layers: chains,
        blobs: vec![resolved.manifest_digest.clone(), resolved.config_digest.clone()],
        tag: reference.tag.as_ref().map(|t| reference.with_tag(t).to_string()),
        repo_digest: format!("{}@{digest}", reference.name()),
    })?;
    if reference.tag.is_some() {
        let platform =
            Platform::new(&config.os().to_string(), &config.architecture().to_string(), config.variant().as_deref());
        store.record_platform_image(reference, &platform.to_string(), &resolved.config_digest)?;
    }
    Ok(Pulled { reference: reference.clone(), image_id: resolved.config_digest.clone(), digest, updated })
}

/// Runs one task per layer; the first failure stops the rest.
async fn fetch_all_layers(job: Arc<PullJob>) -> Result<(), PullError> {
    let n = job.layers.len();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| watch::channel(false)).unzip();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, done) in senders.into_iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| receivers[p].clone());
        tasks.spawn(fetch_layer(job.clone(), i, parent, done));
    }
    while let Some(joined) = tasks.join_next().await {
        let outcome =
            joined.map_err(|e| PullError::Task { image: job.image.clone(), reason: e.to_string() }).and_then(|r| r);
        if let Err(e) = outcome {
            tasks.abort_all();
            // Let aborted tasks drop their work dirs and locks before reporting.
            while tasks.join_next().await.is_some() {}
            return Err(e);
        }
    }
    Ok(())
}

/// Brings layer `i` into the store; `done` turns true once it is recorded (dropped unset on failure).
async fn fetch_layer(
    job: Arc<PullJob>,
    i: usize,
    parent: Option<watch::Receiver<bool>>,
    done: watch::Sender<bool>,
) -> Result<(), PullError> {
    let desc = &job.layers[i];
    let chain = job.chains[i].clone();
    let store_err = |source| PullError::Store { image: job.image.clone(), source };
    job.progress(desc, LayerProgress::Waiting);
    let lock_store = job.store.clone();
    let lock_chain = chain.clone();
    let _lock = blocking(&job.image, move || lock_store.layer_lock(&lock_chain)).await?.map_err(store_err)?;
    if job.store.layer(&chain).map_err(store_err)?.is_some() && job.store.layer_stored(&chain) {
        job.progress(desc, LayerProgress::AlreadyExists);
        done.send_replace(true);
        return Ok(());
    }
    let (dir, (report, pending, index)) = {
        let _permit = job
            .downloads
            .acquire()
            .await
            .map_err(|e| PullError::Task { image: job.image.clone(), reason: e.to_string() })?;
        download_with_retries(&job, i).await?
    };
    if let Some(mut parent) = parent
        && parent.wait_for(|stored| *stored).await.is_err()
    {
        return Err(PullError::ParentFailed { image: job.image.clone(), layer: desc.digest().to_string() });
    }
    let unpack_err = |source| PullError::Unpack {
        image: job.image.clone(),
        layer: desc.digest().to_string(),
        source: Box::new(source),
    };
    let lowers: Vec<PathBuf> = job.chains[..i].iter().rev().map(|c| job.store.layer_path(c)).collect();
    let needs_lowers = !report.deferred_links.is_empty() || !report.implicit_dirs.is_empty();
    if let Some(mut pending) = pending {
        blocking(&job.image, move || {
            if needs_lowers {
                let mounted = layer::erofs::MountedLowers::mount(&lowers)?;
                pending.take_from_lowers(mounted.paths())?;
            }
            pending.write().map(|_| ())
        })
        .await?
        .map_err(unpack_err)?;
    } else if needs_lowers {
        let dest = dir.path().to_path_buf();
        let (links, mut dirs) = (report.deferred_links.clone(), report.implicit_dirs.clone());
        blocking(&job.image, move || {
            dirs.extend(layer::link_from_lowers(&dest, &lowers, &links)?);
            layer::inherit_from_lowers(&dest, &lowers, &dirs)
        })
        .await?
        .map_err(unpack_err)?;
    }
    let record = LayerRecord {
        chain_id: chain,
        diff_id: job.diff_ids[i].clone(),
        parent: i.checked_sub(1).map(|p| job.chains[p].clone()),
        blob_digest: desc.digest().to_string(),
        size: report.size,
    };
    let store = job.store.clone();
    let image = job.driver == LayerDriver::Erofs;
    blocking(&job.image, move || {
        if let Some(index) = index {
            store.commit_layer_index(&record.chain_id, &index.path().join(TAR_INDEX))?;
        }
        if image { store.commit_layer_image(dir, &record) } else { store.commit_layer(dir, &record) }
    })
    .await?
    .map_err(store_err)?;
    job.progress(desc, LayerProgress::Done);
    done.send_replace(true);
    Ok(())
}

async fn download_with_retries(job: &PullJob, i: usize) -> Result<(TempDir, Unpacked), PullError> {
    let desc = &job.layers[i];
    let mut attempt = 1;
    loop {
        let dir = job
            .store
            .temp_dir("layer")
            .map(Arc::new)
            .map_err(|source| PullError::Store { image: job.image.clone(), source })?;
        match download_once(job, i, &dir).await {
            Ok(report) => {
                // The unpacker has returned, and its share of the directory with it.
                let dir = Arc::into_inner(dir).ok_or_else(|| PullError::Task {
                    image: job.image.clone(),
                    reason: "the unpacker still holds its work dir".into(),
                })?;
                return Ok((dir, report));
            }
            Err(e) if e.retryable() && attempt < job.max_attempts => {
                drop(dir);
                job.progress(desc, LayerProgress::Retrying { attempt, reason: e.to_string() });
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(6))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt: stream the blob into the unpacker on a blocking thread, hashing as it goes. The unpacker
/// holds its own share of the work dir, so a pull aborted midway removes the dir only once the unpacker has
/// stopped writing into it (removing it under a live unpacker left `tmp/layer-*` behind).
async fn download_once(job: &PullJob, i: usize, dir: &Arc<TempDir>) -> Result<Unpacked, PullError> {
    let desc = &job.layers[i];
    let layer = desc.digest().to_string();
    let image = || job.image.clone();
    let media_type = desc.media_type().to_string();
    let compression = Compression::from_media_type(&media_type).ok_or_else(|| PullError::UnsupportedLayer {
        image: image(),
        layer: layer.clone(),
        media_type,
    })?;
    let expected_size = desc.size();
    let mut blob = job.registry.blob(&job.reference, &layer).await.map_err(|source| PullError::Download {
        image: image(),
        layer: layer.clone(),
        received: 0,
        expected: expected_size,
        source: Box::new(source),
    })?;

    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(32);
    let work = dir.clone();
    // Shared with the unpacker for the same reason as the layer's work dir.
    let index_dir =
        Arc::new(job.store.temp_dir("index").map_err(|source| PullError::Store { image: job.image.clone(), source })?);
    let index_work = index_dir.clone();
    let opts = job.unpack.clone();
    let driver = job.driver;
    let unpacker = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader::new(rx);
        let index = index_work.path().join(TAR_INDEX);
        match driver {
            LayerDriver::Dir => layer::unpack_indexed(reader, compression, work.path(), &opts, Some(&index))
                .map(|(report, kept)| (report, None, kept)),
            LayerDriver::Erofs => {
                let image = work.path().join(WORK_IMAGE);
                layer::erofs::unpack_image_indexed(reader, compression, &image, &opts, Some(&index))
                    .map(|(r, p, kept)| (r, Some(p), kept))
            }
        }
    });

    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut last_report: u64 = 0;
    let mut stream_error = None;
    let mut unpacker_stopped = false;
    while let Some(chunk) = blob.stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(source) => {
                stream_error = Some(source);
                break;
            }
        };
        received += chunk.len() as u64;
        if received > expected_size {
            drop(tx);
            let _ = unpacker.await;
            return Err(PullError::Oversized { image: image(), layer, expected: expected_size });
        }
        hasher.update(&chunk);
        if received - last_report >= (expected_size / 100).max(256 << 10) || received == expected_size {
            last_report = received;
            job.progress(desc, LayerProgress::Downloading { done: received, total: expected_size });
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The unpacker stopped early; its error says why.
            unpacker_stopped = true;
            break;
        }
    }
    if let Some(source) = &stream_error {
        let _ = tx.send(Err(std::io::Error::other(source.to_string()))).await;
    }
    drop(tx);
    let unpacked = unpacker.await.map_err(|e| PullError::Task { image: image(), reason: e.to_string() })?;
    if let Some(source) = stream_error {
        return Err(PullError::Download {
            image: image(),
            layer,
            received,
            expected: expected_size,
            source: Box::new(source),
        });
    }
    job.progress(desc, LayerProgress::Verifying);
    // Bad bytes explain a failed unpack better than the unpack error does, so check them first.
    if !unpacker_stopped {
        if received < expected_size {
            return Err(PullError::Truncated { image: image(), layer, received, expected: expected_size });
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != layer {
            return Err(PullError::DigestMismatch { image: image(), layer: layer.clone(), expected: layer, actual });
        }
    }
    let (report, pending, kept) = match unpacked {
        Ok(_) if unpacker_stopped => {
            return Err(PullError::Task {
                image: image(),
                reason: format!("unpacking {layer} ended before its download"),
            });
        }
        unpacked => unpacked.map_err(|source| PullError::Unpack {
            image: image(),
            layer: layer.clone(),
            source: Box::new(source),
        })?,
    };
    if report.diff_id != job.diff_ids[i] {
        return Err(PullError::DiffIdMismatch {
            image: image(),
            layer,
            expected: job.diff_ids[i].clone(),
            actual: report.diff_id,
        });
    }
    let index = if kept { Arc::into_inner(index_dir) } else { None };
    Ok((report, pending, index))
}

impl PullJob {
    fn progress(&self, desc: &Descriptor, progress: LayerProgress) {
        self.events.emit(Event::Pull(PullProgress {
            reference: self.image.clone(),
            layer: desc.digest().to_string(),
            progress,
        }));
    }
}

/// Runs blocking work (locks, renames) off the async threads.
async fn blocking<T: Send + 'static>(image: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T, PullError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PullError::Task { image: image.to_string(), reason: e.to_string() })
}

/// The blocking side of the download pipe: reads the chunks the async side sends.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        ChannelReader { rx, current: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
