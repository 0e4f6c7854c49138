//! `RUN --mount`: what each mount type becomes for the build container.
//!
//! bind: a path of the context, read-only, or with `rw` a throwaway copy-on-write view of it (an overlay
//! with the context path as its lower, or a copy of a single file), so the step's writes are discarded as
//! BuildKit discards them and never reach the user's files; cache: a directory of the state root kept between
//! builds (`ROOT/build-cache/<id digest>`), never in the cache key; tmpfs: a tmpfs; secret: the secret's
//! bytes in a 0400 file of a work dir, bind-mounted read-only, or an environment variable; never in a key,
//! a layer or the history. A bind `from=` a stage or image binds that state's rootfs ([`HostMount`]); a
//! cache `from=` is a cache of its own per source (BuildKit keys it by id and source), seeded with the
//! source's `source=` directory the first time it is used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::build::instructions::{Mount, MountKind, Sharing};
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
    /// Copy-on-write views of context paths bound `rw`, detached when the step ends, and copies of
    /// single files bound `rw`.
    pub _views: Vec<HostMount>,
    pub _files: Vec<TempDir>,
    /// Locks on `sharing=locked` and `sharing=private` caches, held until the step ends.
    pub _locks: Vec<std::fs::File>,
}

/// How often a step waiting for a `sharing=locked` cache tries again. The wait is polled rather than
/// blocking, since stages of one build share a task.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Takes `dir`'s lock (`<dir>.lock` beside it) without waiting; `None` when another step holds it.
fn try_lock(dir: &Path) -> Result<Option<std::fs::File>, String> {
    let path = dir.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The cache directory a step uses under BuildKit's sharing modes: `shared`, the one directory, used by
/// any number of steps at once; `locked`, the same directory, one step at a time (the others wait);
/// `private`, the first of the directory's instances (`dir`, `dir-1`, …) no running step holds, a new
/// one when all are held.
async fn share(dir: PathBuf, sharing: Sharing, locks: &mut Vec<std::fs::File>) -> Result<PathBuf, String> {
    match sharing {
        Sharing::Shared => Ok(dir),
        Sharing::Locked => loop {
            if let Some(lock) = try_lock(&dir)? {
                locks.push(lock);
                return Ok(dir);
            }
            tokio::time::sleep(LOCK_POLL).await;
        },
        Sharing::Private => {
            for n in 0.. {
                let instance = match n {
                    0 => dir.clone(),
                    n => dir.with_file_name(format!("{}-{n}", dir.file_name().unwrap_or_default().to_string_lossy())),
                };
                if let Some(lock) = try_lock(&instance)? {
                    locks.push(lock);
                    return Ok(instance);
                }
            }
            unreachable!("an unbounded range ends only by returning")
        }
    }
}

/// `rel` inside the host directory `root`, its symlinks resolved inside `root` (a stage's `/etc` link
/// cannot make the bind show the host's), as the host path the monitor binds.
fn resolve_in(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let fail = |e: std::io::Error| format!("bind mount source \"/{rel}\": {e}");
    let dir = crate::inroot::Root::open(root).map_err(fail)?;
    let fd = dir.resolve(rel, rustix::fs::OFlags::PATH).map_err(fail)?;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))).map_err(fail)?;
    let base = std::fs::canonicalize(root).map_err(fail)?;
    if !path.starts_with(&base) {
        return Err(format!("bind mount source \"/{rel}\" resolves outside its stage"));
    }
    Ok(path)
}

/// A stage's or image's layers mounted on the host for `RUN --mount=type=bind,from=`: an overlay of them
/// under a work dir (detached on drop; a build killed before that has its mount detached by the next
/// build, see `remove_orphan_build_containers`).
pub(crate) struct HostMount {
    pub root: PathBuf,
    _dir: TempDir,
    _layers: crate::layer::erofs::MountedLowers,
}

impl HostMount {
    pub(crate) fn new(
        layers: &[PathBuf],
        dir: impl FnOnce() -> Result<TempDir, crate::Error>,
    ) -> Result<HostMount, String> {
        match layers {
            [] => Err("a stage from scratch with no files cannot be bound".into()),
            _ => {
                let dir = dir().map_err(|e| e.to_string())?;
                // A throwaway upper: what a step writes there (`rw`) is discarded with the work dir, and
                // layers stored as EROFS images stack as the runtime stacks them.
                let rootfs = crate::runtime::Rootfs {
                    merged: dir.path().join("merged"),
                    upper: dir.path().join("upper"),
                    work: dir.path().join("work"),
                };
                let layers = rootfs
                    .mount("build", layers, crate::runtime::Upper::Volatile)
                    .map_err(|e| format!("mounting the stage: {e}"))?;
                Ok(HostMount { root: rootfs.merged, _dir: dir, _layers: layers })
            }
        }
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.root, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!("cannot unmount {}: {e}", self.root.display());
        }
    }
}

/// Detaches the `from=` mounts of builds that died (their work dirs are `build-from-<pid>-…`).
pub(crate) fn detach_orphan_mounts(state_root: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let prefix = state_root.join("tmp").join("build-from-");
    let prefix = prefix.to_string_lossy();
    for line in info.lines() {
        let Some(point) = line.split(' ').nth(4) else { continue };
        let Some(rest) = point.strip_prefix(prefix.as_ref()) else { continue };
        let alive = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()).is_some_and(crate::store::pid_alive);
        if !alive && let Err(e) = rustix::mount::unmount(point, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!("cannot unmount {point} a killed build left: {e}");
        }
    }
}

/// A stage or image a mount takes with `from=`: its rootfs mounted on the host (`None` for scratch, which a
/// cache may start from) and its id.
pub(crate) struct FromRoot {
    pub path: Option<PathBuf>,
    pub id: String,
}

/// Fills a new cache directory `dir` with the content of `source` in the stage mounted at `from`, owners,
/// modes and times kept, and the cache dir itself given the source directory's. It is made beside `dir`
/// and renamed into place, so a build killed meanwhile leaves no half-seeded cache, and of two builds
/// seeding at once one copy wins whole.
fn seed_cache(dir: &Path, from: &Path, source: &str) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("seeding the cache from {}: {e}", what.display());
    let partial = dir.with_extension(format!("seed-{}", std::process::id()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| io(&partial, e))?;
    let src = crate::inroot::Root::open(from).map_err(|e| io(from, e))?;
    let top = src
        .resolve(source, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY)
        .and_then(|fd| Ok(rustix::fs::fstat(&fd)?))
        .map_err(|e| format!("cache mount source \"/{source}\": {e}"))?;
    let plan = super::files::SourceRoot { root: &src, ignore: None, exclude: None, host_dir: None }.plan(
        &[if source.is_empty() { ".".to_string() } else { source.to_string() }],
        "/",
        true,
        false,
    )?;
    let dest = crate::inroot::Root::open(&partial).map_err(|e| io(&partial, e))?;
    let attrs = super::files::Attributes { owner: None, chmod: None, keep_owners: true };
    super::files::write(&src, &plan, &dest, &attrs).map_err(|e| io(from, e))?;
    std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(top.st_mode & 0o7777))
        .and_then(|()| std::os::unix::fs::chown(&partial, Some(top.st_uid), Some(top.st_gid)))
        .map_err(|e| io(&partial, e))?;
    if std::fs::rename(&partial, dir).is_err() {
        // Another build seeded it first.
        std::fs::remove_dir_all(&partial).map_err(|e| io(&partial, e))?;
    }
    Ok(())
}

fn cache_dir(root: &Path, id: &str) -> PathBuf {
    let digest = crate::digest::sha256_digest(id.as_bytes());
    root.join("build-cache").join(&digest["sha256:".len()..][..32])
}

/// The mounts of one RUN step. `workdir` makes relative targets absolute; `context` is the context dir.
pub(crate) async fn prepare(
    mounts: &[Mount],
    workdir: &str,
    context: &Path,
    state_root: &Path,
    secrets: &BTreeMap<String, Secret>,
    from_roots: &BTreeMap<String, FromRoot>,
    temp: impl Fn(&str) -> Result<TempDir, crate::Error>,
) -> Result<RunMounts, String> {
    let mut out = RunMounts::default();
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for m in mounts {
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
                let source = match m.from.as_deref() {
                    None => context.join(&rel),
                    Some(from) => {
                        let root = from_roots.get(from).and_then(|r| r.path.as_ref());
                        let root = root.ok_or_else(|| format!("--mount from={from}: not prepared"))?;
                        resolve_in(root, &rel)?
                    }
                };
                let Ok(meta) = std::fs::symlink_metadata(&source) else {
                    return Err(format!("bind mount source \"/{rel}\": not found"));
                };
                // A `from=` stage is already a view with a throwaway upper; a context path gets one.
                let source = if !m.readonly && m.from.is_none() {
                    let work = temp("build-from").map_err(|e| e.to_string())?;
                    if meta.is_dir() {
                        let view = HostMount::new(&[source], || Ok(work))?;
                        let root = view.root.clone();
                        out._views.push(view);
                        root
                    } else {
                        let copy = work.path().join("file");
                        std::fs::copy(&source, &copy).map_err(|e| io(&source, e))?;
                        out._files.push(work);
                        copy
                    }
                } else {
                    source
                };
                out.specs.push(spec(
                    crate::volume::MountKind::Bind,
                    source.to_string_lossy().into_owned(),
                    &target,
                    m.readonly,
                ));
                out.targets.push(target);
            }
            MountKind::Cache => {
                let target = target.ok_or("a cache mount needs a target")?;
                let id = m.id.as_deref().unwrap_or(&target);
                let seed = match m.from.as_deref() {
                    None => None,
                    Some(from) => {
                        Some(from_roots.get(from).ok_or_else(|| format!("--mount from={from}: not prepared"))?)
                    }
                };
                let source = super::files::clean_source(m.source.as_deref().unwrap_or(""));
                let dir = match seed {
                    None => cache_dir(state_root, id),
                    Some(from) => cache_dir(state_root, &format!("{id}\0{}\0{source}", from.id)),
                };
                std::fs::create_dir_all(state_root.join("build-cache")).map_err(|e| io(&dir, e))?;
                let dir = share(dir, m.sharing, &mut out._locks).await?;
                if let Some(path) = seed.and_then(|s| s.path.as_ref())
                    && !dir.exists()
                {
                    seed_cache(&dir, path, &source)?;
                }
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
                    out._secrets = Some(temp("build-secret").map_err(|e| e.to_string())?);
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
