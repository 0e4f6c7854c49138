//! Image operations beyond pulling, shaped the way Docker reports them (the CLI and the API server share them).

use serde_json::{Value, json};

use crate::store::StoreError;
pub use crate::store::{ImageRecord, LayerRecord, PruneReport, RemovedImage};
use crate::{Engine, Error, reference::Reference};

/// One row of `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUsage {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    /// Bytes on disk, shared layers counted once.
    pub size: u64,
    pub reclaimable: u64,
}

/// An image in `system df -v`: its bytes, those it shares with other images, and how many containers use it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub image: ImageRecord,
    pub size: u64,
    pub shared_size: u64,
    pub containers: usize,
}

/// A container in `system df -v`: what it wrote over its image.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub container: crate::container::ContainerRecord,
    pub size: u64,
}

/// A volume in `system df -v`: how many containers mount it and its bytes.
#[derive(Debug, Clone)]
pub struct VolumeUsage {
    pub name: String,
    pub links: usize,
    pub size: u64,
}

/// `system df`: the summary rows docker prints (Images, Containers, Local Volumes, Build Cache) and, for
/// `-v`, what each row is made of.
#[derive(Debug, Clone)]
pub struct DiskUsageReport {
    pub summary: Vec<DiskUsage>,
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
}

impl Engine {
    pub fn list_images(&self) -> Result<Vec<ImageRecord>, Error> {
        Ok(self.store().list_images()?)
    }

    pub fn image(&self, name_or_id: &str) -> Result<ImageRecord, Error> {
        Ok(self.store().find_image(name_or_id)?)
    }

    /// `docker image inspect` JSON for one image.
    pub fn inspect_image(&self, name_or_id: &str) -> Result<Value, Error> {
        let image = self.image(name_or_id)?;
        let store = self.store();
        let mut lower: Vec<String> =
            image.layers.iter().rev().map(|c| store.layer_path(c).to_string_lossy().into_owned()).collect();
        if lower.is_empty() {
            lower.push(String::new());
        }
        let config = &image.config;
        let mut out = json!({
            "Id": image.id,
            "RepoTags": image.repo_tags,
            "RepoDigests": image.repo_digests,
            "Parent": store.image_parent(&image.id)?.unwrap_or_default(),
            "Comment": config.history().as_ref().and_then(|h| h.last()).and_then(|h| h.comment().clone()).unwrap_or_default(),
            "Created": image.created.clone().unwrap_or_default(),
            "DockerVersion": "",
            "Author": config.author().clone().unwrap_or_default(),
            "Config": config.config().as_ref().map(serde_json::to_value).transpose().map_err(|e| {
                StoreError::CorruptImage { id: image.id.clone(), reason: format!("config: {e}") }
            })?,
            "Architecture": image.architecture,
            "Os": image.os,
            "Size": image.size,
            "GraphDriver": { "Name": "overlay", "Data": { "LowerDir": lower.join(":") } },
            "RootFS": { "Type": "layers", "Layers": config.rootfs().diff_ids() },
            "Metadata": { "LastTagTime": image.pulled_at },
            "Descriptor": { "mediaType": image.manifest_media_type, "digest": image.manifest_digest },
        });
        if let Some(variant) = &image.variant {
            out["Variant"] = json!(variant);
        }
        // oci-spec's typed config has no OnBuild (a Docker extension): take it from the stored JSON.
        if let Some(onbuild) = store
            .blobs()
            .get(&image.id)
            .ok()
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
            .and_then(|raw| raw["config"].get("OnBuild").filter(|v| v.is_array()).cloned())
            && out["Config"].is_object()
        {
            out["Config"]["OnBuild"] = onbuild;
        }
        // A committed or built image has no manifest until it is pushed.
        if image.manifest_digest.is_empty()
            && let Some(map) = out.as_object_mut()
        {
            map.remove("Descriptor");
        }
        Ok(out)
    }

    pub fn tag_image(&self, source: &str, target: &str) -> Result<(), Error> {
        let target = Reference::parse(target)?;
        self.store().tag_image(source, &target)?;
        self.record_tag(&target);
        Ok(())
    }

    /// Docker's `tag` event for an image just tagged `target`.
    pub(crate) fn record_tag(&self, target: &Reference) {
        if let Ok(image) = self.image(&target.to_string()) {
            self.record_event(crate::journal::image_event("tag", &image.id, &target.familiar(), Some(&image)));
        }
    }

    pub fn remove_image(&self, name_or_id: &str, force: bool) -> Result<Vec<RemovedImage>, Error> {
        // Removing one of several tags leaves the image; anything else would delete an image a container runs.
        let image = self.image(name_or_id)?;
        let by_id = image.id.trim_start_matches("sha256:").starts_with(name_or_id.trim_start_matches("sha256:"));
        if by_id || image.repo_tags.len() <= 1 {
            self.ensure_image_unused(&image.id, name_or_id)?;
        }
        let removed = self.store().remove_image(name_or_id, force)?;
        self.record_removed(&removed, Some(&image));
        Ok(removed)
    }

    pub fn prune_images(&self, all: bool) -> Result<PruneReport, Error> {
        let report = self.store().prune_images(all)?;
        self.record_removed(&report.removed, None);
        self.record_event(crate::journal::prune_event(crate::journal::EventType::Image, Some(report.reclaimed)));
        Ok(report)
    }

    /// Docker's `untag` and `delete` events, named by the image's id as moby names them.
    fn record_removed(&self, removed: &[RemovedImage], image: Option<&ImageRecord>) {
        for entry in removed {
            let event = match (entry, image) {
                (RemovedImage::Untagged(_), Some(image)) => {
                    crate::journal::image_event("untag", &image.id, &image.id, Some(image))
                }
                (RemovedImage::Untagged(_), None) => continue,
                (RemovedImage::Deleted(id), _) => crate::journal::image_event("delete", id, id, image),
            };
            self.record_event(event);
        }
    }

    /// `system df`, counted as docker counts: an image a container uses (running or not) is active and its
    /// layers are not reclaimable; a running or paused container is active, the others' writes reclaimable;
    /// a volume a container mounts is active. Build Cache counts the builds' intermediate images and the
    /// bytes of the layers only they use, all reclaimable by `builder prune`.
    pub fn disk_usage(&self) -> Result<DiskUsageReport, Error> {
        use std::collections::{BTreeMap, BTreeSet};
        let images = self.list_images()?;
        let containers = self.list_containers(&crate::container::ListOptions { all: true, filters: Vec::new() })?;
        let volumes = self.volumes(&crate::volume::VolumeFilter::default())?;

        let mut users: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &containers {
            *users.entry(c.image_id.as_str()).or_default() += 1;
        }
        let mut layer_images: BTreeMap<&str, usize> = BTreeMap::new();
        for chain in images.iter().flat_map(|i| i.layers.iter().collect::<BTreeSet<_>>()) {
            *layer_images.entry(chain.as_str()).or_default() += 1;
        }
        let mut layer_size = BTreeMap::new();
        for chain in layer_images.keys() {
            layer_size.insert(*chain, self.store().layer(chain)?.map_or(0, |l| l.size));
        }
        let active_layers: BTreeSet<&str> = images
            .iter()
            .filter(|i| users.contains_key(i.id.as_str()))
            .flat_map(|i| i.layers.iter().map(String::as_str))
            .collect();
        let images_size: u64 = layer_size.values().sum();
        let images_reclaimable: u64 =
            layer_size.iter().filter(|(c, _)| !active_layers.contains(**c)).map(|(_, s)| s).sum();
        let image_rows: Vec<ImageUsage> = images
            .iter()
            .map(|i| {
                let chains: BTreeSet<&str> = i.layers.iter().map(String::as_str).collect();
                let shared = chains.iter().filter(|c| layer_images[**c] > 1).map(|c| layer_size[*c]).sum();
                ImageUsage {
                    size: chains.iter().map(|c| layer_size[*c]).sum(),
                    shared_size: shared,
                    containers: users.get(i.id.as_str()).copied().unwrap_or(0),
                    image: i.clone(),
                }
            })
            .collect();

        let container_rows: Vec<ContainerUsage> =
            containers.iter().map(|c| ContainerUsage { size: self.container_size(c), container: c.clone() }).collect();
        let running = |c: &ContainerUsage| c.container.status.can_stop();
        let containers_size: u64 = container_rows.iter().map(|c| c.size).sum();
        let containers_reclaimable: u64 = container_rows.iter().filter(|c| !running(c)).map(|c| c.size).sum();

        let volume_rows: Vec<VolumeUsage> = volumes
            .iter()
            .map(|v| VolumeUsage {
                name: v.name.clone(),
                links: v.used_by.len(),
                size: crate::container::dir_size(&v.mountpoint),
            })
            .collect();
        let volumes_size: u64 = volume_rows.iter().map(|v| v.size).sum();
        let volumes_reclaimable: u64 = volume_rows.iter().filter(|v| v.links == 0).map(|v| v.size).sum();

        let (cache_count, cache_chains) = self.store().build_cache_usage()?;
        let mut cache_size = 0;
        for chain in cache_chains.iter().filter(|c| !layer_images.contains_key(c.as_str())) {
            cache_size += self.store().layer(chain)?.map_or(0, |l| l.size);
        }
        let summary = vec![
            DiskUsage {
                kind: "Images",
                total: images.len(),
                active: image_rows.iter().filter(|i| i.containers > 0).count(),
                size: images_size,
                reclaimable: images_reclaimable,
            },
            DiskUsage {
                kind: "Containers",
                total: container_rows.len(),
                active: container_rows.iter().filter(|c| running(c)).count(),
                size: containers_size,
                reclaimable: containers_reclaimable,
            },
            DiskUsage {
                kind: "Local Volumes",
                total: volume_rows.len(),
                active: volume_rows.iter().filter(|v| v.links > 0).count(),
                size: volumes_size,
                reclaimable: volumes_reclaimable,
            },
            DiskUsage { kind: "Build Cache", total: cache_count, active: 0, size: cache_size, reclaimable: cache_size },
        ];
        Ok(DiskUsageReport { summary, images: image_rows, containers: container_rows, volumes: volume_rows })
    }

    /// The records of an image's layers, bottom first; `None` for one the store lacks.
    pub fn image_layers(&self, image: &ImageRecord) -> Result<Vec<Option<crate::store::LayerRecord>>, Error> {
        Ok(image.layers.iter().map(|chain| self.store().layer(chain)).collect::<Result<_, _>>()?)
    }
}
