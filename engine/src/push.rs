//! Pushing an image: every layer blob the registry lacks, then the config, then the manifest last, so a
//! push cut short never leaves a manifest naming a missing blob and the next push carries on where it
//! stopped (blobs already sent answer the existence check).
//!
//! Per layer: a blob whose digest berth knows (a local layer's kept blob, or a pulled layer's original)
//! is first looked for in the target repository (HEAD), then mounted from another repository of the same
//! registry where berth saw it (`blob_locations`); only then is a blob made (`Engine::layer_blob`,
//! compressed once and kept, so every later push sends the same bytes) and uploaded, streamed from its
//! file. A pulled image whose blobs the registry all has goes back with its original manifest bytes, so
//! its digest does not change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::try_join_all;
use serde_json::json;
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::events::{Event, PushLayerProgress, PushProgress};
use crate::reference::Reference;
use crate::registry::{BlobFile, DOCKER_MANIFEST, MountOutcome, OCI_MANIFEST, Registry, RegistryError, UploadProgress};
use crate::store::{BlobLocation, ImageRecord, LayerRecord, StoreError};
use crate::{Engine, Error};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Debug, Error)]
pub enum PushError {
    #[error("An image does not exist locally with the tag: {name}")]
    NoSuchTag { name: String },
    #[error("pushing {image}: {source}")]
    Registry { image: String, source: Box<RegistryError> },
    #[error("pushing {image}: layer {layer}: {source}")]
    Layer { image: String, layer: String, source: Box<RegistryError> },
    #[error("pushing {image}: layer {layer}: the registry lacks its blob and berth cannot make it: {reason}")]
    NoBlob { image: String, layer: String, reason: String },
    #[error("pushing {image}: {source}")]
    Store { image: String, source: StoreError },
    #[error("pushing {image}: internal task failed: {reason}")]
    Task { image: String, reason: String },
}

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Push every local tag of the repository, not only the one named.
    pub all_tags: bool,
}

/// One tag pushed: docker's closing line `TAG: digest: DIGEST size: SIZE`.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: Reference,
    pub tag: String,
    pub digest: String,
    /// Bytes of the manifest.
    pub size: usize,
    /// The manifest's media type, as an index entry names it.
    pub media_type: String,
}

/// A blob as a manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Desc {
    media_type: String,
    digest: String,
    size: u64,
}

/// What is known about one layer of the image being pushed.
struct LayerPlan {
    record: LayerRecord,
    desc: Option<Desc>,
    /// The blob on disk, when berth has it.
    file: Option<PathBuf>,
    /// Already in the target repository (found there or mounted).
    present: bool,
}

/// What one push shares between its layer tasks.
struct Job<'a> {
    engine: &'a Engine,
    registry: Registry,
    target: Reference,
    image: String,
    uploads: Semaphore,
}

impl Engine {
    /// Pushes `reference` (`NAME[:TAG]`, `latest` by default; every local tag of NAME with `all_tags`) to
    /// its registry. Progress per layer goes to the event stream.
    pub async fn push(&self, reference: &str, opts: PushOptions) -> Result<Vec<Pushed>, Error> {
        let r = Reference::parse(reference)?;
        let tags: Vec<(String, String)> = if opts.all_tags {
            let found = self.store().repository_tags(&r.name())?;
            if found.is_empty() {
                return Err(PushError::NoSuchTag { name: r.familiar_name() }.into());
            }
            found
        } else {
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            let name = r.with_tag(&tag);
            let image = self.store().find_image(&name.to_string()).map_err(|e| match e {
                StoreError::ImageNotFound { .. } => {
                    PushError::NoSuchTag { name: name.familiar_tagged().unwrap_or_default() }.into()
                }
                other => Error::from(other),
            })?;
            vec![(tag, image.id)]
        };
        let registry = self.registry()?;
        let mut pushed = Vec::new();
        for (tag, id) in tags {
            let target = r.with_tag(&tag);
            let image = self.store().image(&id)?;
            let done = self.push_image(&registry, target.clone(), image.clone(), false).await?;
            self.record_event(crate::journal::image_event("push", &image.id, &target.familiar(), Some(&image)));
            pushed.push(done);
        }
        Ok(pushed)
    }

    /// Pushes one image's blobs and manifest to `target`'s repository; the manifest goes under the tag, or
    /// with `by_digest` under its own digest only (an index's child).
    pub(crate) async fn push_image(
        &self,
        registry: &Registry,
        target: Reference,
        image: ImageRecord,
        by_digest: bool,
    ) -> Result<Pushed, Error> {
        let name = target.to_string();
        let store_err = |source| PushError::Store { image: name.clone(), source };
        let job = Job {
            engine: self,
            registry: registry.clone(),
            target: target.clone(),
            image: name.clone(),
            uploads: Semaphore::new(self.config().max_concurrent_downloads),
        };
        let original = self.original_manifest(&image).map_err(store_err)?;
        let mut plans = Vec::new();
        for (i, record) in self.store().image_layers(&image.id).map_err(store_err)?.into_iter().enumerate() {
            job.progress(&record, PushLayerProgress::Preparing);
            let original_desc = original.as_ref().and_then(|(_, m)| m.get(i).cloned());
            plans.push(self.plan_layer(record, original_desc).map_err(store_err)?);
        }
        // Blobs the registry may have already: found there or mounted, never uploaded.
        try_join_all(plans.iter_mut().filter(|p| p.desc.is_some()).map(|p| job.find_remote(p))).await?;
        self.send_missing(&job, &mut plans)?;

        let config = Bytes::from(self.store().blobs().get(&image.id).map_err(store_err)?);
        let registry_err = |source| PushError::Registry { image: name.clone(), source: Box::new(source) };
        if job.remote_blob(&image.id).await.map_err(registry_err)?.is_none() {
            registry.push_blob(&target, &image.id, config.clone()).await.map_err(registry_err)?;
        }
        let descs: Vec<Desc> = plans.iter().filter_map(|p| p.desc.clone()).collect();
        let (media_type, manifest) = match original {
            Some((bytes, layers)) if layers == descs => (image.manifest_media_type.clone(), bytes),
            _ => build_manifest(&image.id, config.len() as u64, &descs),
        };
        let target = match by_digest {
            true => target.with_digest(&crate::digest::sha256_digest(&manifest)),
            false => target,
        };
        let digest = registry.push_manifest(&target, &media_type, manifest.clone()).await.map_err(registry_err)?;
        let config_desc = Desc { media_type: OCI_CONFIG.into(), digest: image.id.clone(), size: config.len() as u64 };
        let locations: Vec<BlobLocation> = descs
            .iter()
            .chain([&config_desc])
            .map(|d| BlobLocation {
                digest: d.digest.clone(),
                registry: target.registry.clone(),
                repository: target.repository.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
            })
            .collect();
        self.store().record_blob_locations(&locations).map_err(store_err)?;
        self.store().add_repo_digest(&format!("{}@{digest}", target.name()), &image.id).map_err(store_err)?;
        let tag = target.tag.clone().unwrap_or_default();
        Ok(Pushed { reference: target, tag, digest, size: manifest.len(), media_type })
    }

    /// The manifest a push of `image` would send, for an index entry made before the push: a pulled
    /// image's own, else one built over its layers' blobs (made now if need be, and kept, so the push
    /// sends these same bytes).
    pub(crate) fn image_manifest(&self, image: &ImageRecord) -> Result<(String, Bytes), Error> {
        let name = image.id.clone();
        let store_err = |source| PushError::Store { image: name.clone(), source };
        let original = self.original_manifest(image).map_err(store_err)?;
        if let Some((bytes, _)) = original {
            return Ok((image.manifest_media_type.clone(), bytes));
        }
        let mut descs = Vec::new();
        for record in self.store().image_layers(&image.id).map_err(store_err)? {
            let desc = match self.plan_layer(record.clone(), None).map_err(store_err)?.desc {
                Some(desc) => desc,
                None => {
                    let blob = self.layer_blob(&record.chain_id).map_err(|e| PushError::NoBlob {
                        image: image.id.clone(),
                        layer: record.diff_id.clone(),
                        reason: e.to_string(),
                    })?;
                    Desc { media_type: blob.media_type, digest: blob.digest, size: blob.size }
                }
            };
            descs.push(desc);
        }
        let config = self.store().blobs().get(&image.id).map_err(store_err)?;
        Ok(build_manifest(&image.id, config.len() as u64, &descs))
    }

    /// A pulled image's manifest bytes and its layer descriptors; None for an image made here or one
    /// whose manifest was an index child berth cannot read back.
    fn original_manifest(&self, image: &ImageRecord) -> Result<Option<(Bytes, Vec<Desc>)>, StoreError> {
        if image.manifest_digest.is_empty() || !self.store().blobs().contains(&image.manifest_digest) {
            return Ok(None);
        }
        let bytes = self.store().blobs().get(&image.manifest_digest)?;
        let Ok(manifest) = serde_json::from_slice::<oci_spec::image::ImageManifest>(&bytes) else {
            return Ok(None);
        };
        if manifest.config().digest().to_string() != image.id {
            return Ok(None);
        }
        let layers = manifest
            .layers()
            .iter()
            .map(|d| Desc { media_type: d.media_type().to_string(), digest: d.digest().to_string(), size: d.size() })
            .collect();
        Ok(Some((Bytes::from(bytes), layers)))
    }

    /// What berth knows of a layer's blob without making one.
    fn plan_layer(&self, record: LayerRecord, original: Option<Desc>) -> Result<LayerPlan, StoreError> {
        let store = self.store();
        if let Some(blob) = store.layer_blob(&record.chain_id)? {
            let file = store.blobs().path(&blob.digest)?;
            let desc = Desc { media_type: blob.media_type, digest: blob.digest, size: blob.size };
            return Ok(LayerPlan { record, desc: Some(desc), file: Some(file), present: false });
        }
        let desc = if record.blob_digest.is_empty() {
            None
        } else if let Some(original) = original.filter(|d| d.digest == record.blob_digest) {
            Some(original)
        } else {
            store.blob_locations(&record.blob_digest)?.into_iter().next().map(|l| Desc {
                media_type: l.media_type,
                digest: l.digest,
                size: l.size,
            })
        };
        Ok(LayerPlan { record, desc, file: None, present: false })
    }

    /// Sends every layer the registry does not have yet, on worker threads: each takes the next layer,
    /// makes its blob when berth has none (`Engine::layer_blob`, compressed on every core), looks once more
    /// (a blob made just now may be one the registry holds from an earlier push), and uploads it, so one
    /// layer uploads while the next compresses. The first failure stops the workers taking more.
    fn send_missing(&self, job: &Job<'_>, plans: &mut [LayerPlan]) -> Result<(), Error> {
        let queue: Mutex<Vec<&mut LayerPlan>> = Mutex::new(plans.iter_mut().filter(|p| !p.present).rev().collect());
        let pending = queue.lock().map(|q| q.len()).unwrap_or_default();
        if pending == 0 {
            return Ok(());
        }
        // Compression already uses every core per layer: more workers would only hold more chunks.
        let workers = pending.min(self.config().max_concurrent_downloads.max(1));
        let handle = tokio::runtime::Handle::current();
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let work = || {
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        while !failed.load(Ordering::SeqCst) {
                            let Some(plan) = queue.lock().ok().and_then(|mut q| q.pop()) else { break };
                            if let Err(e) = self.send_layer(job, plan, &handle) {
                                failed.store(true, Ordering::SeqCst);
                                if let Ok(mut first) = first_error.lock() {
                                    first.get_or_insert(e);
                                }
                            }
                        }
                    });
                }
            })
        };
        match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
            _ => work(),
        }
        first_error.into_inner().ok().flatten().map_or(Ok(()), Err)
    }

    /// One layer on a worker thread: its blob made if need be, then uploaded unless the registry has it.
    fn send_layer(&self, job: &Job<'_>, plan: &mut LayerPlan, handle: &tokio::runtime::Handle) -> Result<(), Error> {
        if plan.file.is_none() {
            let blob = self.layer_blob(&plan.record.chain_id).map_err(|e| PushError::NoBlob {
                image: job.image.clone(),
                layer: plan.desc.as_ref().map_or_else(|| plan.record.diff_id.clone(), |d| d.digest.clone()),
                reason: e.to_string(),
            })?;
            plan.file = Some(self.store().blobs().path(&blob.digest)?);
            plan.desc = Some(Desc { media_type: blob.media_type, digest: blob.digest, size: blob.size });
            handle.block_on(job.find_remote(plan))?;
            if plan.present {
                return Ok(());
            }
        }
        handle.block_on(job.upload(plan))
    }
}

impl Job<'_> {
    fn progress(&self, record: &LayerRecord, progress: PushLayerProgress) {
        self.engine.events().emit(Event::Push(PushProgress {
            reference: self.image.clone(),
            layer: record.diff_id.clone(),
            progress,
        }));
    }

    fn layer_err(&self, plan: &LayerPlan, source: RegistryError) -> PushError {
        let layer = plan.desc.as_ref().map_or_else(|| plan.record.diff_id.clone(), |d| d.digest.clone());
        PushError::Layer { image: self.image.clone(), layer, source: Box::new(source) }
    }

    /// Marks the layer present when the target repository has its blob or the registry mounts it from
    /// another repository where berth saw it.
    async fn find_remote(&self, plan: &mut LayerPlan) -> Result<(), Error> {
        let Some(desc) = plan.desc.clone() else { return Ok(()) };
        if let Some(found) = self.remote_blob(&desc.digest).await.map_err(|e| self.layer_err(plan, e))? {
            plan.present = true;
            self.progress(&plan.record, found);
        }
        Ok(())
    }

    /// `AlreadyExists` when the target repository has the blob, `Mounted` when the registry links it from
    /// another of its repositories where berth saw it; None when it must be uploaded.
    async fn remote_blob(&self, digest: &str) -> Result<Option<PushLayerProgress>, RegistryError> {
        if self.registry.blob_exists(&self.target, digest).await? {
            return Ok(Some(PushLayerProgress::AlreadyExists));
        }
        // A store error here only costs the mount: the blob is uploaded instead.
        let locations = self.engine.store().blob_locations(digest).unwrap_or_default();
        let sources = locations
            .into_iter()
            .filter(|l| l.registry == self.target.registry && l.repository != self.target.repository);
        for source in sources {
            if self.registry.mount_blob(&self.target, digest, &source.repository).await? == MountOutcome::Mounted {
                return Ok(Some(PushLayerProgress::Mounted { from: source.repository }));
            }
        }
        Ok(None)
    }

    /// Uploads a layer whose blob berth has on disk.
    async fn upload(&self, plan: &mut LayerPlan) -> Result<(), Error> {
        let (Some(desc), Some(path)) = (plan.desc.clone(), plan.file.clone()) else {
            return Err(PushError::NoBlob {
                image: self.image.clone(),
                layer: plan.record.diff_id.clone(),
                reason: "no blob was made for it".into(),
            }
            .into());
        };
        self.progress(&plan.record, PushLayerProgress::Waiting);
        let _permit = self
            .uploads
            .acquire()
            .await
            .map_err(|e| PushError::Task { image: self.image.clone(), reason: e.to_string() })?;
        let events = self.engine.events().clone();
        let (reference, layer, total) = (self.image.clone(), plan.record.diff_id.clone(), desc.size);
        let step = (total / 100).max(256 << 10);
        let last = Arc::new(AtomicU64::new(0));
        let progress: UploadProgress = Arc::new(move |done| {
            let before = last.load(Ordering::Relaxed);
            if done < before || done - before >= step || done == total {
                last.store(done, Ordering::Relaxed);
                events.emit(Event::Push(PushProgress {
                    reference: reference.clone(),
                    layer: layer.clone(),
                    progress: PushLayerProgress::Pushing { done, total },
                }));
            }
        });
        let file = BlobFile { path, size: desc.size };
        self.registry
            .upload_blob(&self.target, &desc.digest, &file, Some(progress))
            .await
            .map_err(|e| self.layer_err(plan, e))?;
        plan.present = true;
        self.progress(&plan.record, PushLayerProgress::Pushed);
        Ok(())
    }
}

/// A manifest for the config and layers: Docker's v2 schema 2 when a layer carries a Docker media type
/// (a base pulled as a Docker image) and every layer is gzip, as docker itself pushes such images; OCI
/// otherwise. serde_json writes the keys in one order, so the same image always gives the same bytes.
fn build_manifest(config_digest: &str, config_size: u64, layers: &[Desc]) -> (String, Bytes) {
    let docker = layers.iter().any(|d| d.media_type.starts_with("application/vnd.docker."))
        && layers.iter().all(|d| d.media_type == DOCKER_LAYER_GZIP || d.media_type == OCI_LAYER_GZIP);
    let (media_type, config_type) = if docker { (DOCKER_MANIFEST, DOCKER_CONFIG) } else { (OCI_MANIFEST, OCI_CONFIG) };
    let layer_type = |d: &Desc| if docker { DOCKER_LAYER_GZIP.to_string() } else { d.media_type.clone() };
    let layers: Vec<serde_json::Value> =
        layers.iter().map(|d| json!({"mediaType": layer_type(d), "digest": d.digest, "size": d.size})).collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    (media_type.to_string(), Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(media_type: &str, n: u8) -> Desc {
        Desc { media_type: media_type.into(), digest: format!("sha256:{}", hex::encode([n; 32])), size: n.into() }
    }

    #[test]
    fn manifests_are_oci_unless_a_layer_is_docker_and_always_the_same_bytes() {
        let ours = desc(OCI_LAYER_GZIP, 1);
        let (media_type, bytes) = build_manifest("sha256:cc", 10, std::slice::from_ref(&ours));
        assert_eq!(media_type, OCI_MANIFEST);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(value["layers"][0]["digest"], ours.digest);
        assert_eq!(build_manifest("sha256:cc", 10, std::slice::from_ref(&ours)).1, bytes);

        let (media_type, bytes) = build_manifest("sha256:cc", 10, &[desc(DOCKER_LAYER_GZIP, 2), ours.clone()]);
        assert_eq!(media_type, DOCKER_MANIFEST);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(value["layers"][1]["mediaType"], DOCKER_LAYER_GZIP);

        let zstd = desc("application/vnd.oci.image.layer.v1.tar+zstd", 3);
        assert_eq!(build_manifest("sha256:cc", 10, &[desc(DOCKER_LAYER_GZIP, 2), zstd]).0, OCI_MANIFEST);
    }
}
