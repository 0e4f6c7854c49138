//! Images made on this machine: layers adopted from overlay uppers, `commit`, `diff` and `history`.
//!
//! A layer made here is a directory in overlay format (an upper) whose diffID comes from packing it once
//! (`layer::pack`, hash only). Its compressed blob is made only when something asks for it
//! ([`Engine::layer_blob`]), once, and then kept (`store::local`).

mod commit;
mod diff;
mod explore;
mod history;
#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::path::PathBuf;

use thiserror::Error;

pub use commit::CommitOptions;
pub(crate) use commit::{apply_changes, parse_changes};
pub use diff::{Change, ChangeKind};
pub use explore::{EntryKind, ImageChanges, LayerChange, LayerEntry, Mark, MergedEntry, path_cmp};
pub use history::HistoryEntry;

use crate::layer::erofs::MountedLowers;
use crate::layer::{LayerError, PackOptions};
use crate::store::{LayerBlob, LayerRecord, TempDir};
use crate::{Engine, Error};

/// The media type of the blobs berth compresses.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// diffID of an empty tar (two zero blocks): a step that changed nothing, which Docker records as an
/// `empty_layer` history entry instead of a layer.
pub const EMPTY_LAYER_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Paths the runtime makes in a container's rootfs to mount over (Docker keeps them in an init layer):
/// none of what the container wrote, so commit and diff leave them out when the image lacks them.
pub(crate) const RUNTIME_STUBS: &[&str] =
    &["dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", ".dockerenv"];

#[derive(Debug, Error)]
pub enum LocalError {
    #[error("packing the changes of {what}: {source}")]
    Layer {
        what: String,
        #[source]
        source: LayerError,
    },
    #[error("reading the entries of {what}: {source}")]
    Entries {
        what: String,
        #[source]
        source: Box<LayerError>,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("dockerfile parse error on line 1: {command} is not a valid change command ({change:?})")]
    Change { change: String, command: String },
    #[error("invalid change {change:?}: {reason}")]
    BadChange { change: String, reason: String },
    #[error("refusing to create a tag with a digest reference: {reference}")]
    DigestReference { reference: String },
    #[error("image {image}: its config cannot be {action}: {reason}")]
    Config { image: String, action: &'static str, reason: String },
    #[error(
        "layer {chain_id} gives a tar of diffID {actual}, not its recorded {expected}: berth kept no exact tar of it \
         (pulled before berth kept tar indexes), so its blob must come from the registry it was pulled from"
    )]
    NotReproducible { chain_id: String, expected: String, actual: String },
}

/// Writes an image config to the blob store under its digest (the image id); true when it was not there
/// yet, so a failure after may remove it again. `what` names the image for messages.
pub(crate) fn store_config(
    store: &crate::store::Store,
    config: &serde_json::Value,
    what: &str,
) -> Result<(String, bool), Error> {
    let bytes = serde_json::to_vec(config).map_err(|e| LocalError::Config {
        image: what.to_string(),
        action: "written",
        reason: e.to_string(),
    })?;
    let id = crate::digest::sha256_digest(&bytes);
    if store.blobs().contains(&id) {
        return Ok((id, false));
    }
    store.blobs().put(&id, &bytes)?;
    Ok((id, true))
}

impl Engine {
    /// The layers below `parent` (a chain id) as directories, top-most first, as packing wants them:
    /// layers stored as EROFS images are mounted (detached) for as long as the result lives.
    pub(crate) fn lowers_of(&self, parent: Option<&str>) -> Result<MountedLowers, Error> {
        let mut dirs = Vec::new();
        let mut next = parent.map(str::to_string);
        while let Some(chain) = next {
            let layer = self.store().layer(&chain)?.ok_or_else(|| crate::store::StoreError::CorruptImage {
                id: chain.clone(),
                reason: "layer missing".into(),
            })?;
            dirs.push(self.store().layer_path(&chain));
            next = layer.parent;
        }
        Ok(MountedLowers::mount(&dirs)
            .map_err(|source| LocalError::Layer { what: "the lower layers".into(), source })?)
    }

    /// The layers of `image` as directories, top-most first (images mounted while the result lives).
    pub(crate) fn image_lowers(&self, image: &crate::store::ImageRecord) -> Result<MountedLowers, Error> {
        let layers: Vec<PathBuf> = image.layers.iter().rev().map(|c| self.store().layer_path(c)).collect();
        Ok(MountedLowers::mount(&layers)
            .map_err(|source| LocalError::Layer { what: format!("the layers of image {}", image.id), source })?)
    }

    /// Records `dir` (an overlay upper, now owned by the store) as the layer above `parent`, given its
    /// diffID and size. The directory is renamed into place, not copied. When the same layer is already
    /// stored, `dir` is dropped and the stored one returned.
    pub(crate) fn record_layer(
        &self,
        dir: TempDir,
        parent: Option<&str>,
        diff_id: &str,
        size: u64,
    ) -> Result<LayerRecord, Error> {
        let chain_id = match parent {
            None => diff_id.to_string(),
            Some(parent) => {
                crate::store::chain_ids(&[parent.to_string(), diff_id.to_string()]).pop().unwrap_or_default()
            }
        };
        let store = self.store();
        let _lock = store.layer_lock(&chain_id)?;
        if let Some(existing) = store.layer(&chain_id)? {
            return Ok(existing);
        }
        let record = LayerRecord {
            chain_id,
            diff_id: diff_id.to_string(),
            parent: parent.map(str::to_string),
            blob_digest: String::new(),
            size,
        };
        store.commit_layer(dir, &record)?;
        Ok(record)
    }

    /// Adopts an overlay upper directory as the layer above `parent`: its diffID from packing it once
    /// (nothing written), then the directory itself becomes the layer. `None` when the upper holds no
    /// change (Docker's empty layer); the directory is then dropped.
    pub fn adopt_layer(
        &self,
        dir: TempDir,
        parent: Option<&str>,
        opts: &PackOptions,
    ) -> Result<Option<LayerRecord>, Error> {
        let lowers = self.lowers_of(parent)?;
        self.adopt_layer_over(dir, parent, lowers.paths(), opts)
    }

    /// [`Engine::adopt_layer`] with the layers below `parent` at hand already, as directories top-most first
    /// (a RUN step has them mounted for its stub check: mounting them again cost about half a millisecond a step).
    pub(crate) fn adopt_layer_over(
        &self,
        dir: TempDir,
        parent: Option<&str>,
        lowers: &[PathBuf],
        opts: &PackOptions,
    ) -> Result<Option<LayerRecord>, Error> {
        let report = crate::layer::pack(dir.path(), lowers, opts, io::sink())
            .map_err(|source| LocalError::Layer { what: dir.path().display().to_string(), source })?;
        if report.diff_id == EMPTY_LAYER_DIFF_ID {
            return Ok(None);
        }
        self.record_layer(dir, parent, &report.diff_id, report.size).map(Some)
    }

    /// The gzip blob of a stored layer, made on first request and kept: every later push or save of
    /// the layer sends the same bytes. Its tar is the layer's exact one ([`Engine::write_layer_tar`]).
    pub fn layer_blob(&self, chain_id: &str) -> Result<LayerBlob, Error> {
        let store = self.store();
        if let Some(blob) = store.layer_blob(chain_id)? {
            return Ok(blob);
        }
        let _lock = store.layer_lock(chain_id)?;
        if let Some(blob) = store.layer_blob(chain_id)? {
            return Ok(blob);
        }
        let layer = self.stored_layer(chain_id)?;
        let work = store.temp_dir("blob")?;
        let path = work.path().join("layer.tar.gz");
        let io_err = |op| {
            let path = path.clone();
            move |source| LocalError::Io { op, path, source }
        };
        let file = std::fs::File::create(&path).map_err(io_err("create"))?;
        let (_, digest, size) = crate::layer::gzip_blob(
            io::BufWriter::new(file),
            |out| self.write_layer_tar(&layer, out),
            |source| Error::from(io_err("write")(source)),
        )?;
        let blob = LayerBlob { digest, size, media_type: LAYER_MEDIA_TYPE.to_string() };
        store.record_layer_blob(chain_id, &path, &blob)?;
        Ok(blob)
    }

    /// A layer's record, which must exist.
    pub(crate) fn stored_layer(&self, chain_id: &str) -> Result<LayerRecord, Error> {
        Ok(self.store().layer(chain_id)?.ok_or_else(|| crate::store::StoreError::CorruptImage {
            id: chain_id.to_string(),
            reason: "layer missing".into(),
        })?)
    }

    /// The length of a stored layer's exact tar: from its tar index when it has one, else by packing it
    /// once (hashed, so a layer that does not pack back to its diffID fails here, before anything is sent).
    pub(crate) fn layer_tar_len(&self, layer: &LayerRecord) -> Result<u64, Error> {
        let store = self.store();
        let what = || format!("layer {}", layer.chain_id);
        if let Some(index) = crate::layer::TarIndex::open(&store.layer_index(&layer.chain_id))
            .map_err(|source| LocalError::Layer { what: what(), source })?
        {
            return Ok(index.tar_len());
        }
        self.write_layer_tar(layer, &mut io::sink())
    }

    /// Writes a stored layer's exact tar, the one its diffID names, to `out`; returns its length. A layer
    /// with a tar index (pulled or loaded) is rebuilt from it, its file contents read from the layer; one
    /// without (made here, or pulled before berth kept indexes) is packed, which gives the tar back for
    /// layers made here. Either way the tar's digest is checked against the diffID as it is written.
    pub(crate) fn write_layer_tar(&self, layer: &LayerRecord, out: &mut dyn Write) -> Result<u64, Error> {
        let store = self.store();
        let chain_id = &layer.chain_id;
        let layer_err = |source| LocalError::Layer { what: format!("layer {chain_id}"), source };
        let own = MountedLowers::mount(&[store.layer_path(chain_id)]).map_err(layer_err)?;
        let index = crate::layer::TarIndex::open(&store.layer_index(chain_id)).map_err(layer_err)?;
        let (diff_id, len) = match index {
            Some(index) => index.write_tar(&own.paths()[0], out).map_err(layer_err)?,
            None => {
                let lowers = self.lowers_of(layer.parent.as_deref())?;
                let report = crate::layer::pack(&own.paths()[0], lowers.paths(), &PackOptions::default(), out)
                    .map_err(layer_err)?;
                (report.diff_id, report.tar_bytes)
            }
        };
        if diff_id != layer.diff_id {
            return Err(LocalError::NotReproducible {
                chain_id: chain_id.to_string(),
                expected: layer.diff_id.clone(),
                actual: diff_id,
            }
            .into());
        }
        Ok(len)
    }
}

/// `SOURCE_DATE_EPOCH` when set to a number: the time every made layer and config claims, at most.
pub(crate) fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok())
}

/// How a container's upper is packed: without the runtime's stubs, times clamped to `epoch`.
fn container_pack_options(epoch: Option<i64>) -> PackOptions {
    PackOptions { source_date_epoch: epoch, exclude: RUNTIME_STUBS.iter().map(PathBuf::from).collect() }
}
