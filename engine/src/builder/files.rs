//! COPY and ADD sources: which files a step takes (globs, `.dockerignore`), their content digest for the
//! cache key, and writing them into a step's rootfs.
//!
//! Both sides are directory fds: the source is the context directory or a stage's or image's mounted
//! rootfs, the destination the step's overlay. Every lookup resolves inside its root (`inroot`) and every
//! entry is made relative to its parent's fd without following a symlink at its name.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, Timestamps};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use super::cache::FileStamp;
use crate::build::ignore::Ignore;
use crate::build::instructions::Chmod;
use crate::inroot::{ParentTimes, Root};

/// One entry to copy: where it comes from (relative to the source root) and where it goes (absolute in
/// the destination rootfs).
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub src: String,
    pub dest: String,
    pub stat: Stat,
    /// A top-level symlink source is followed: its target's content is copied.
    pub follow: bool,
}

/// Where a step's sources are read from.
pub(crate) struct SourceRoot<'a> {
    pub root: &'a Root,
    /// The context's ignore rules; `None` for a stage or image.
    pub ignore: Option<&'a Ignore>,
    /// COPY `--exclude` patterns, matched as `.dockerignore` patterns against source paths.
    pub exclude: Option<&'a Ignore>,
    /// The context directory on the host, for the stat cache's paths; `None` for a stage or image.
    pub host_dir: Option<&'a Path>,
}

/// Go's `filepath.Match` (`*` and `?` never cross `/`, classes with `^` or `!`, `\` escapes).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        let mut i = 1;
        let negate = matches!(p.get(1), Some('^') | Some('!'));
        if negate {
            i += 1;
        }
        let mut hit = false;
        let mut first = true;
        while i < p.len() && (first || p[i] != ']') {
            first = false;
            let mut lo = p[i];
            if lo == '\\' {
                i += 1;
                lo = *p.get(i)?;
            }
            let mut hi = lo;
            if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|c| *c != ']') {
                hi = p[i + 2];
                if hi == '\\' {
                    hi = *p.get(i + 3)?;
                    i += 1;
                }
                i += 2;
            }
            if lo <= c && c <= hi {
                hit = true;
            }
            i += 1;
        }
        (i < p.len()).then_some((hit != negate, i + 1))
    }
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != '/').any(|i| go(&p[1..], &s[i..])),
            Some('?') => s.first().is_some_and(|c| *c != '/') && go(&p[1..], &s[1..]),
            Some('[') => match (s.first(), class(p, *s.first().unwrap_or(&'/'))) {
                (Some(c), Some((true, used))) if *c != '/' => go(&p[used..], &s[1..]),
                _ => false,
            },
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s)
}

fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// A source path as BuildKit takes it: relative to the source root, `..` and a leading `/` gone.
pub(crate) fn clean_source(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn lstat_in(root: &Root, path: &str) -> io::Result<Option<Stat>> {
    let (parent, name) = split(path);
    let parent_fd = match root.lookup(parent, OFlags::PATH | OFlags::DIRECTORY) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(e),
    };
    if name.is_empty() {
        return rustix::fs::fstat(&parent_fd).map(Some).map_err(Into::into);
    }
    crate::inroot::lstat_at(parent_fd.as_fd(), OsStr::new(name))
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", path),
    }
}

fn is_dir(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// The names in directory `dir` (relative to the root), sorted.
fn children(root: &Root, dir: &str) -> io::Result<Vec<String>> {
    let fd = root.open_dir_beneath(dir)?;
    let mut names = Vec::new();
    for entry in Dir::read_from(&fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(String::from_utf8_lossy(name).into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

impl SourceRoot<'_> {
    /// Left out of the context (`path` from the source root), or by `--exclude` (`rel`: the path below the
    /// directory being copied, or the matched path itself for a source that is not a directory, as
    /// BuildKit's copy matches it).
    fn excluded(&self, path: &str, rel: &str) -> bool {
        let ignored = self.ignore.is_some_and(|i| !path.is_empty() && i.is_excluded(path));
        ignored || self.exclude.is_some_and(|i| !rel.is_empty() && i.is_excluded(rel))
    }

    /// Whether an excluded directory must be walked for exceptions below it.
    fn may_include_below(&self, path: &str, rel: &str) -> bool {
        let walk = |i: &Ignore, p: &str| !i.is_excluded(p) || i.may_include_below(p);
        self.ignore.is_none_or(|i| walk(i, path)) && self.exclude.is_none_or(|i| walk(i, rel))
    }

    /// Everything below directory `dir` not excluded, parents first, as (source, path below `dir`).
    fn walk(&self, dir: &str, below: &str, out: &mut Vec<(String, String, Stat)>) -> io::Result<()> {
        for name in children(self.root, dir)? {
            let src = join(dir, &name);
            let rel = join(below, &name);
            let Some(stat) = lstat_in(self.root, &src)? else { continue };
            let excluded = self.excluded(&src, &rel);
            if !excluded {
                out.push((src.clone(), rel.clone(), stat));
            }
            if is_dir(&stat) && (!excluded || self.may_include_below(&src, &rel)) {
                self.walk(&src, &rel, out)?;
            }
        }
        Ok(())
    }

    /// The paths a source pattern names (a glob matches names at each level; excluded paths are not there).
    fn matches(&self, pattern: &str) -> io::Result<Vec<String>> {
        if !has_meta(pattern) {
            let exists = lstat_in(self.root, pattern)?.is_some() && !self.excluded(pattern, pattern);
            return Ok(if exists { vec![pattern.to_string()] } else { Vec::new() });
        }
        let mut found = vec![String::new()];
        for part in pattern.split('/') {
            let mut next = Vec::new();
            for dir in &found {
                if !has_meta(part) {
                    let path = join(dir, part);
                    if lstat_in(self.root, &path)?.is_some() {
                        next.push(path);
                    }
                    continue;
                }
                match lstat_in(self.root, dir)? {
                    Some(s) if is_dir(&s) => {}
                    _ => continue,
                }
                for name in children(self.root, dir)? {
                    if glob_match(part, &name) {
                        next.push(join(dir, &name));
                    }
                }
            }
            found = next;
        }
        found.retain(|p| !self.excluded(p, p));
        Ok(found)
    }

    /// What a COPY of `sources` to `dest` (already made absolute against the working directory) writes,
    /// in order. Docker's rules: several sources, a glob or a trailing `/` make `dest` a directory; a
    /// directory source copies its content; `dest_is_dir` says whether `dest` already is one. With
    /// `parents` (`--parents`) each source keeps its path below `dest`, from the `/./` pivot when the
    /// source has one.
    pub(crate) fn plan(
        &self,
        sources: &[String],
        dest: &str,
        dest_is_dir: bool,
        parents: bool,
    ) -> Result<Vec<Planned>, String> {
        let io_err = |what: &str, e: io::Error| format!("{what}: {e}");
        let into_dir = sources.len() > 1 || dest.ends_with('/') || dest_is_dir || parents;
        let dest = dest.trim_end_matches('/');
        let dest = if dest.is_empty() { "/" } else { dest };
        let mut out = Vec::new();
        for raw in sources {
            let pattern = clean_source(raw);
            let matched = if pattern.is_empty() {
                vec![String::new()]
            } else {
                self.matches(&pattern).map_err(|e| io_err(raw, e))?
            };
            if matched.is_empty() {
                if has_meta(&pattern) {
                    continue;
                }
                return Err(format!("\"/{pattern}\": not found"));
            }
            let several = matched.len() > 1 || into_dir || has_meta(&pattern);
            for src in matched {
                let lstat =
                    lstat_in(self.root, &src).map_err(|e| io_err(&src, e))?.ok_or(format!("{src}: not found"))?;
                let (stat, follow) = if FileType::from_raw_mode(lstat.st_mode) == FileType::Symlink {
                    match self.root.resolve(&src, OFlags::PATH) {
                        Ok(fd) => (rustix::fs::fstat(&fd).map_err(|e| io_err(&src, e.into()))?, true),
                        Err(_) => (lstat, false),
                    }
                } else {
                    (lstat, false)
                };
                // `--parents`: the path below the pivot (`a/./b/c` keeps `b/c`), else the whole path.
                let kept = match raw.split_once("/./") {
                    Some((pivot, _)) => {
                        let pivot = clean_source(pivot);
                        src.strip_prefix(&pivot).unwrap_or(&src).trim_start_matches('/').to_string()
                    }
                    None => src.clone(),
                };
                if is_dir(&stat) {
                    let dir = if follow { resolved_path(self.root, &src)? } else { src.clone() };
                    let mut below = Vec::new();
                    self.walk(&dir, "", &mut below).map_err(|e| io_err(&src, e))?;
                    // The directory itself takes the place of `dest` (its mode and owner, as BuildKit).
                    let top = if parents && !kept.is_empty() { join_abs(dest, &kept) } else { dest.to_string() };
                    out.push(Planned { src: dir.clone(), dest: top.clone(), stat, follow: false });
                    for (s, rel, st) in below {
                        out.push(Planned { src: s, dest: join_abs(&top, &rel), stat: st, follow: false });
                    }
                } else {
                    let name = src.rsplit('/').next().unwrap_or(&src).to_string();
                    let target = if parents {
                        join_abs(dest, &kept)
                    } else if several {
                        join_abs(dest, &name)
                    } else {
                        dest.to_string()
                    };
                    out.push(Planned { src, dest: target, stat, follow });
                }
            }
        }
        Ok(out)
    }
}

fn join_abs(dir: &str, rel: &str) -> String {
    if dir == "/" { format!("/{rel}") } else { format!("{dir}/{rel}") }
}

/// The in-root path a symlink resolves to, for walking a directory a top-level link names.
fn resolved_path(root: &Root, src: &str) -> Result<String, String> {
    let fd = root.resolve(src, OFlags::PATH).map_err(|e| format!("{src}: {e}"))?;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)))
        .map_err(|e| format!("{src}: {e}"))?;
    let base = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&root.fd())))
        .map_err(|e| format!("{src}: {e}"))?;
    Ok(link.strip_prefix(&base).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default())
}

fn stamp(stat: &Stat) -> FileStamp {
    FileStamp {
        dev: stat.st_dev,
        ino: stat.st_ino,
        size: stat.st_size as u64,
        mtime_ns: stat.st_mtime * 1_000_000_000 + stat.st_mtime_nsec as i64,
        ctime_ns: stat.st_ctime * 1_000_000_000 + stat.st_ctime_nsec as i64,
        mode: stat.st_mode,
    }
}

/// The content digest of what a step copies: each entry's destination, type, mode, link target and data
/// (never its times). Regular files of the context are looked up in the stat cache first; `lookup` and
/// `learned` are that cache's read and the digests read afresh.
pub(crate) fn digest(
    source: &SourceRoot<'_>,
    planned: &[Planned],
    lookup: &dyn Fn(&str, &FileStamp) -> Option<String>,
    learned: &mut Vec<(String, FileStamp, String)>,
) -> io::Result<String> {
    let mut hash = Sha256::new();
    for p in planned {
        let kind = FileType::from_raw_mode(p.stat.st_mode);
        hash.update(p.dest.as_bytes());
        hash.update([0]);
        hash.update(format!("{:?} {:o} {} {}", kind, p.stat.st_mode & 0o7777, p.stat.st_uid, p.stat.st_gid));
        hash.update([0]);
        match kind {
            FileType::Symlink => hash.update(read_link(source.root, &p.src)?.as_bytes()),
            FileType::RegularFile => {
                let host = source.host_dir.map(|d| d.join(&p.src).to_string_lossy().into_owned());
                let st = stamp(&p.stat);
                let known = host.as_deref().and_then(|h| lookup(h, &st));
                let content = match known {
                    Some(d) => d,
                    None => {
                        let mut file = open_source(source.root, p)?;
                        let mut h = Sha256::new();
                        io::copy(&mut file, &mut h)?;
                        let d = hex::encode(h.finalize());
                        if let Some(h) = host {
                            learned.push((h, st, d.clone()));
                        }
                        d
                    }
                };
                hash.update(content.as_bytes());
            }
            _ => {}
        }
        hash.update([0]);
    }
    Ok(format!("sha256:{}", hex::encode(hash.finalize())))
}

fn read_link(root: &Root, src: &str) -> io::Result<String> {
    let (parent, name) = split(src);
    let fd = root.open_dir_beneath(parent)?;
    let target = rustix::fs::readlinkat(&fd, name, Vec::new())?;
    Ok(String::from_utf8_lossy(target.as_bytes()).into_owned())
}

pub(crate) fn open_source(root: &Root, p: &Planned) -> io::Result<File> {
    let flags = if p.follow { OFlags::RDONLY } else { OFlags::RDONLY | OFlags::NOFOLLOW };
    Ok(File::from(root.resolve(&p.src, flags | OFlags::CLOEXEC)?))
}

/// Owner and mode changes a COPY asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attributes {
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<Chmod>,
    /// Without `owner`, keep the source's owners rather than 0:0 (COPY --from, a cache seeded from a stage).
    pub keep_owners: bool,
}

/// Directory `parent` of the destination, made as needed; with `--chown` the directories it made get the
/// owner too, as BuildKit does.
fn make_parent(dest: &Root, parent: &str, owner: Option<(u32, u32)>) -> io::Result<std::os::fd::OwnedFd> {
    let mut made = Vec::new();
    let parent_fd = dest.create_dir_all(parent, ParentTimes::Touch, &mut made)?;
    if let Some((uid, gid)) = owner {
        for dir in &made {
            let fd = dest.open_dir(dir)?;
            rustix::fs::chownat(
                &fd,
                "",
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::EMPTY_PATH,
            )?;
        }
    }
    Ok(parent_fd)
}

/// Writes the planned entries from `source` into `dest`. Times are kept; owners are 0:0 (or the source's
/// with `keep_owners`) unless `--chown`, and the directories made for the destination get that owner.
pub(crate) fn write(source: &Root, planned: &[Planned], dest: &Root, attrs: &Attributes) -> io::Result<()> {
    // Files linked to each other in the source (same inode) stay hardlinks: the first copy, then links.
    let mut linked: std::collections::HashMap<(u64, u64), String> = std::collections::HashMap::new();
    for p in planned {
        let (parent, name) = split(p.dest.trim_start_matches('/'));
        let parent_fd = make_parent(dest, parent, attrs.owner)?;
        let kind = FileType::from_raw_mode(p.stat.st_mode);
        let mode = match &attrs.chmod {
            Some(chmod) => chmod.apply(p.stat.st_mode & 0o7777, kind == FileType::Directory),
            None => p.stat.st_mode & 0o7777,
        };
        let (uid, gid) = match (attrs.owner, attrs.keep_owners) {
            (Some(owner), _) => owner,
            (None, true) => (p.stat.st_uid, p.stat.st_gid),
            (None, false) => (0, 0),
        };
        if name.is_empty() {
            // The destination is the root itself: only its metadata could change, and BuildKit keeps it.
            continue;
        }
        let name = OsStr::new(name);
        let times = Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: p.stat.st_mtime, tv_nsec: p.stat.st_mtime_nsec as _ },
            last_modification: rustix::fs::Timespec { tv_sec: p.stat.st_mtime, tv_nsec: p.stat.st_mtime_nsec as _ },
        };
        match kind {
            FileType::Directory => {
                match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                let fd = match rustix::fs::openat(
                    &parent_fd,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    // Something else is there: the directory replaces it, as BuildKit's copy does.
                    Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
                        rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty())?;
                        rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755))?;
                        rustix::fs::openat(
                            &parent_fd,
                            name,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )?
                    }
                    Err(e) => return Err(e.into()),
                };
                rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
            }
            FileType::RegularFile if p.stat.st_nlink > 1 && linked.contains_key(&(p.stat.st_dev, p.stat.st_ino)) => {
                let first = &linked[&(p.stat.st_dev, p.stat.st_ino)];
                let (first_parent, first_name) = split(first.trim_start_matches('/'));
                let first_dir = dest.open_dir(first_parent)?;
                remove_existing(&parent_fd, name)?;
                rustix::fs::linkat(&first_dir, first_name, &parent_fd, name, AtFlags::empty())?;
            }
            FileType::RegularFile => {
                if p.stat.st_nlink > 1 && !p.follow {
                    linked.insert((p.stat.st_dev, p.stat.st_ino), p.dest.clone());
                }
                let mut input = open_source(source, p)?;
                let fd = create_file(&parent_fd, name)?;
                let mut file = File::from(fd);
                io::copy(&mut input, &mut file)?;
                rustix::fs::fchown(&file, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
                rustix::fs::futimens(&file, &times)?;
            }
            FileType::Symlink => {
                let target = read_link(source, &p.src)?;
                remove_existing(&parent_fd, name)?;
                rustix::fs::symlinkat(target.as_str(), &parent_fd, name)?;
                rustix::fs::chownat(
                    &parent_fd,
                    name,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            other => {
                return Err(io::Error::other(format!("{}: cannot copy a {other:?}", p.src)));
            }
        }
    }
    // Directory times last: writing into them moved their mtimes.
    for p in planned.iter().rev().filter(|p| is_dir(&p.stat)) {
        let path = p.dest.trim_start_matches('/');
        if path.is_empty() {
            continue;
        }
        let fd = dest.open_dir(path)?;
        let times = Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: p.stat.st_mtime, tv_nsec: p.stat.st_mtime_nsec as _ },
            last_modification: rustix::fs::Timespec { tv_sec: p.stat.st_mtime, tv_nsec: p.stat.st_mtime_nsec as _ },
        };
        rustix::fs::utimensat(&fd, "", &times, AtFlags::EMPTY_PATH)?;
    }
    Ok(())
}

/// Writes a heredoc source's bytes at `path` (absolute in `dest`): 0644 unless `--chmod`, owned as
/// `--chown` says (its new parent directories too), its time the build's (`SOURCE_DATE_EPOCH` or now).
pub(crate) fn write_inline(
    dest: &Root,
    path: &str,
    data: &[u8],
    attrs: &Attributes,
    epoch: Option<i64>,
) -> io::Result<()> {
    let (parent, name) = split(path.trim_start_matches('/'));
    let parent_fd = make_parent(dest, parent, attrs.owner)?;
    let (uid, gid) = attrs.owner.unwrap_or((0, 0));
    let mode = attrs.chmod.as_ref().map_or(0o644, |c| c.apply(0o644, false));
    let mut file = File::from(create_file(&parent_fd, OsStr::new(name))?);
    io::Write::write_all(&mut file, data)?;
    rustix::fs::fchown(&file, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
    if let Some(epoch) = epoch {
        let at = rustix::fs::Timespec { tv_sec: epoch, tv_nsec: 0 };
        rustix::fs::futimens(&file, &Timestamps { last_access: at, last_modification: at })?;
    }
    Ok(())
}

/// Opens `name` in `dir` for writing, replacing whatever non-directory is there (never following a link).
fn create_file(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(fd),
        Err(Errno::LOOP) | Err(Errno::ISDIR) => {
            remove_existing(dir, name)?;
            Ok(rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o600))?)
        }
        Err(e) => Err(e.into()),
    }
}

fn remove_existing(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match crate::inroot::lstat_at(dir.as_fd(), name)? {
        None => Ok(()),
        Some(st) => crate::inroot::remove_at(dir.as_fd(), name, is_dir(&st)),
    }
}

/// Whether `path` is a directory in `root` (symlinks followed inside it).
pub(crate) fn is_dir_in(root: &Root, path: &str) -> bool {
    root.open_dir(path.trim_start_matches('/')).is_ok()
}

/// A rootfs path made absolute against the working directory and cleaned (`.` and `..` resolved, never
/// above `/`), as WORKDIR and COPY's destination are; a trailing `/` is kept, since it means a directory.
pub(crate) fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{workdir}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    let dir_like = path.ends_with('/') || path.ends_with("/.") || path == "." || path == "..";
    if dir_like && out != "/" {
        out.push('/');
    }
    out
}

/// A directory path (WORKDIR, a mount target) made absolute and cleaned, without a trailing `/`.
pub(crate) fn directory(workdir: &str, path: &str) -> String {
    let path = absolute(workdir, path);
    match path.trim_end_matches('/') {
        "" => "/".to_string(),
        trimmed => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbx_glob_is_go_filepath_match() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("a", "ab"));
    }

    #[test]
    fn bbx_sources_are_cleaned_and_destinations_made_absolute() {
        assert_eq!(clean_source("../../a/./b/"), "a/b");
        assert_eq!(clean_source("/"), "");
        assert_eq!(absolute("/app", "x/"), "/app/x/");
        assert_eq!(absolute("", "x"), "/x");
        assert_eq!(absolute("/app", "/y"), "/y");
        assert_eq!(absolute("/app", "."), "/app/");
        assert_eq!(absolute("/app", "../x/./y"), "/x/y");
        assert_eq!(absolute("/", ".."), "/");
        assert_eq!(directory("/app", "./sub/"), "/app/sub");
        assert_eq!(directory("/app", ".."), "/");
    }

    #[test]
    fn bbx_plan_follows_docker_destination_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/inner"), "i").unwrap();
        std::fs::write(dir.path().join("d/skip.log"), "s").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let ignore = Ignore::parse("d/*.log\n").unwrap();
        let src = SourceRoot { root: &root, ignore: Some(&ignore), exclude: None, host_dir: None };
        let dests = |sources: &[&str], dest: &str| -> Vec<String> {
            let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
            src.plan(&sources, dest, false, false).unwrap().into_iter().map(|p| p.dest).collect()
        };
        assert_eq!(dests(&["a.txt"], "/x"), ["/x"]);
        assert_eq!(dests(&["a.txt"], "/x/"), ["/x/a.txt"]);
        assert_eq!(dests(&["*.txt"], "/x"), ["/x/a.txt", "/x/b.txt"]);
        assert_eq!(dests(&["d"], "/x"), ["/x", "/x/inner"]);
        assert_eq!(dests(&["nothing*"], "/x"), Vec::<String>::new());
        let err = src.plan(&["missing".to_string()], "/x", false, false).unwrap_err();
        assert!(err.contains("not found"), "{err}");
        let parents = |sources: &[&str]| -> Vec<String> {
            let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
            src.plan(&sources, "/x", false, true).unwrap().into_iter().map(|p| p.dest).collect()
        };
        assert_eq!(parents(&["d/inner"]), ["/x/d/inner"]);
        assert_eq!(parents(&["./d/./inner"]), ["/x/inner"]);
        assert_eq!(parents(&["d"]), ["/x/d", "/x/d/inner"]);
        let exclude = Ignore::from_patterns(&["*.txt", "d/*.log"]).unwrap();
        let src = SourceRoot { root: &root, ignore: None, exclude: Some(&exclude), host_dir: None };
        let all: Vec<String> =
            src.plan(&[".".to_string()], "/x", false, false).unwrap().into_iter().map(|p| p.dest).collect();
        assert_eq!(all, ["/x", "/x/d", "/x/d/inner"]);
    }
}
