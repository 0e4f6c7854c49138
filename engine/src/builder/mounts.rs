//! `RUN --mount`: what each mount type becomes for the build container.
//!
//! bind: a path of the context, read-only (berth does not snapshot the context, so a `rw` bind would write
//! into the user's files: it is mounted read-only too); cache: a directory of the state root kept between
//! builds (`ROOT/build-cache/<id digest>`), never in the cache key; tmpfs: a tmpfs; secret: the secret's
//! bytes in a 0400 file of a work dir, bind-mounted read-only, or an environment variable; never in a key,
//! a layer or the history. `from=` (a stage or image as the source) is refused for now.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::build::instructions::{Mount, MountKind};
use crate::store::TempDir;
use crate::volume::MountSpec;

/// A build secret's bytes, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The container side of a step's mounts.
#[derive(Default)]
pub(crate) struct RunMounts {
    pub specs: Vec<MountSpec>,
    pub env: Vec<String>,
    /// Paths (relative to the root) made in the rootfs only to mount over, for stripping from the layer.
    pub targets: Vec<String>,
    /// Secret files, removed with the step.
    pub _secrets: Option<TempDir>,
}

fn cache_dir(root: &Path, id: &str) -> PathBuf {
    let digest = crate::digest::sha256_digest(id.as_bytes());
    root.join("build-cache").join(&digest["sha256:".len()..][..32])
}

/// The mounts of one RUN step. `workdir` makes relative targets absolute; `context` is the context dir.
pub(crate) fn prepare(
    mounts: &[Mount],
    workdir: &str,
    context: &Path,
    state_root: &Path,
    secrets: &BTreeMap<String, Secret>,
    temp: impl Fn() -> Result<TempDir, crate::Error>,
) -> Result<RunMounts, String> {
    let mut out = RunMounts::default();
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for m in mounts {
        if m.from.is_some() {
            return Err("--mount with from= is not supported by berth's builder yet".into());
        }
        let target = m.target.as_deref().map(|t| super::files::directory(workdir, t));
        let spec = |kind, source: String, target: &str, read_only| MountSpec {
            kind,
            source,
            target: target.to_string(),
            read_only,
            tmpfs_size: None,
            tmpfs_mode: None,
            no_copy: false,
        };
        match m.kind {
            MountKind::Tmpfs => {
                let target = target.ok_or("a tmpfs mount needs a target")?;
                let mut s = spec(crate::volume::MountKind::Tmpfs, String::new(), &target, false);
                s.tmpfs_size = m.size;
                out.specs.push(s);
                out.targets.push(target);
            }
            MountKind::Bind => {
                let target = target.ok_or("a bind mount needs a target")?;
                let rel = super::files::clean_source(m.source.as_deref().unwrap_or(""));
                let source = context.join(&rel);
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(format!("bind mount source \"/{rel}\": not found"));
                }
                out.specs.push(spec(
                    crate::volume::MountKind::Bind,
                    source.to_string_lossy().into_owned(),
                    &target,
                    true,
                ));
                out.targets.push(target);
            }
            MountKind::Cache => {
                let target = target.ok_or("a cache mount needs a target")?;
                let dir = cache_dir(state_root, m.id.as_deref().unwrap_or(&target));
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                    let mode = m.mode.unwrap_or(0o755);
                    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
                        .map_err(|e| io(&dir, e))?;
                    std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
                        .map_err(|e| io(&dir, e))?;
                }
                out.specs.push(spec(
                    crate::volume::MountKind::Bind,
                    dir.to_string_lossy().into_owned(),
                    &target,
                    m.readonly,
                ));
                out.targets.push(target);
            }
            MountKind::Secret => {
                let id = m.id.clone().unwrap_or_default();
                let Some(secret) = secrets.get(&id) else {
                    if m.required {
                        return Err(format!("secret {id} not found"));
                    }
                    continue;
                };
                if let Some(var) = &m.env {
                    out.env.push(format!("{var}={}", String::from_utf8_lossy(&secret.0)));
                }
                let Some(target) = target else { continue };
                if out._secrets.is_none() {
                    out._secrets = Some(temp().map_err(|e| e.to_string())?);
                }
                let dir = out._secrets.as_ref().expect("made above").path().to_path_buf();
                let file = dir.join(format!("secret-{}", out.specs.len()));
                std::fs::write(&file, &secret.0).map_err(|e| io(&file, e))?;
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(m.mode.unwrap_or(0o400)))
                    .map_err(|e| io(&file, e))?;
                std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
                    .map_err(|e| io(&file, e))?;
                out.specs.push(spec(
                    crate::volume::MountKind::Bind,
                    file.to_string_lossy().into_owned(),
                    &target,
                    true,
                ));
                out.targets.push(target);
            }
        }
    }
    Ok(out)
}
