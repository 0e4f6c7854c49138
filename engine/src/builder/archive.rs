//! ADD of a local archive, as BuildKit unpacks one. A file is an archive when, decompressed by what its
//! first bytes say (gzip, bzip2, xz, zstd, else as it is), it starts with a valid tar header: its name
//! says nothing. The entries are unpacked inside the destination directory (absolute links resolve there)
//! with the archive's numeric owners (unless `--chown`), modes (set-id bits too), times and
//! `SCHILY.xattr` extended attributes, as `tar -x` run as root keeps them; a later entry replaces
//! what an earlier one left at its name; directories the archive implies are made 0755, owned by root.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use crate::inroot::{ParentTimes, Root};

/// How an archive's bytes are compressed, told by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    pub(crate) fn of(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The decompressed stream (concatenated members and streams read through, as the tools do).
    pub(crate) fn reader<'a>(self, input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        })
    }
}

/// The compression of `file` when it is a tar archive: its first decompressed block is a tar header
/// whose checksum holds (what Go's tar reader takes as a first entry, BuildKit's test); `None` for any
/// other file, one that does not decompress included.
pub(crate) fn detect(file: File) -> Option<Compression> {
    let mut input = BufReader::new(file);
    let compression = Compression::of(input.fill_buf().ok()?);
    let mut block = [0u8; 512];
    compression.reader(input).ok()?.read_exact(&mut block).ok()?;
    header_checksum_holds(&block).then_some(compression)
}

/// A tar header's checksum (octal at 148..156) against the sum of its bytes with that field as spaces,
/// unsigned or signed as old tars wrote it. An all-zero block (the end marker) is no header.
fn header_checksum_holds(block: &[u8; 512]) -> bool {
    let field = &block[148..156];
    let text: String =
        field.iter().map(|&b| b as char).filter(|c| *c != ' ' && *c != '\0').collect::<String>().trim().to_string();
    let Ok(recorded) = i64::from_str_radix(&text, 8) else { return false };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as i64;
        signed += b as i8 as i64;
    }
    block.iter().any(|&b| b != 0) && (recorded == unsigned || recorded == signed)
}

/// An entry's path inside the destination: `/` and `.` dropped, `..` resolved; an error when it climbs
/// out (BuildKit refuses such an archive), `None` for the destination itself.
fn clean(raw: &[u8]) -> io::Result<Option<PathBuf>> {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(io::Error::other(format!("archive path {text:?} is outside extraction root")));
                }
            }
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.iter().collect()))
}

/// A header's numeric field: blank (NULs and spaces, as some writers leave it) is 0, as Go's reader takes
/// it; anything else must parse.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') { Ok(0) } else { parsed }
}

fn chown_at(dir: BorrowedFd<'_>, name: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
    let flags = if name.as_os_str().is_empty() { AtFlags::EMPTY_PATH } else { AtFlags::SYMLINK_NOFOLLOW };
    rustix::fs::chownat(dir, name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), flags)?;
    Ok(())
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec { tv_sec: mtime, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

/// Extended attributes the entry's PAX records carry; any the filesystem refuses are skipped.
fn set_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let Some(records) = entry.pax_extensions()? else { return Ok(()) };
    for record in records {
        let record = record?;
        let Some(name) = record.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) else { continue };
        match rustix::fs::fsetxattr(fd, name, record.value_bytes(), rustix::fs::XattrFlags::empty()) {
            Ok(()) | Err(Errno::OPNOTSUPP | Errno::PERM) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Unpacks `input` (decompressed) into directory `dir` of `dest`, made if missing (with `--chown`'s
/// owner on what it made, as BuildKit's `MkdirAll`); `chown` replaces every entry's owner.
pub(crate) fn extract(input: impl Read, dest: &Root, dir: &str, chown: Option<(u32, u32)>) -> io::Result<()> {
    let mut made = Vec::new();
    let dir_fd = dest.create_dir_all(dir.trim_matches('/'), ParentTimes::Touch, &mut made)?;
    if let Some(owner) = chown {
        for path in &made {
            chown_at(dest.open_dir(path)?.as_fd(), Path::new(""), owner)?;
        }
    }
    let root = Root::at(dir_fd.as_fd())?;
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let Some(path) = clean(&entry.path_bytes())? else { continue };
        let header = entry.header();
        let old = header.as_old();
        let owner = match chown {
            Some(owner) => owner,
            None => (numeric(&old.uid, header.uid())? as u32, numeric(&old.gid, header.gid())? as u32),
        };
        let mode = numeric(&old.mode, header.mode().map(u64::from))? as u32 & 0o7777;
        // Out-of-range times become the epoch, as BuildKit bounds them.
        let mtime = i64::try_from(numeric(&old.mtime, header.mtime())?).unwrap_or(0);
        let (parent, name) = (path.parent().unwrap_or(Path::new("")), Path::new(path.file_name().expect("cleaned")));
        let parent_fd = root.create_dir_all(parent, ParentTimes::Touch, &mut Vec::new())?;
        let existing = crate::inroot::lstat_at(parent_fd.as_fd(), name.as_os_str())?
            .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
        match (existing, kind) {
            (Some(true), tar::EntryType::Directory) => {}
            (Some(is_dir), _) => crate::inroot::remove_at(parent_fd.as_fd(), name.as_os_str(), is_dir)?,
            (None, _) => {}
        }
        let perm = Mode::from_raw_mode(mode & 0o777);
        match kind {
            tar::EntryType::Directory => {
                match rustix::fs::mkdirat(&parent_fd, name, perm) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(&parent_fd, name, flags, Mode::empty())?;
                chown_at(fd.as_fd(), Path::new(""), owner)?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
                set_xattrs(&mut entry, fd.as_fd())?;
                dirs.push((path.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let mut file = File::from(rustix::fs::openat(&parent_fd, name, flags, perm)?);
                io::copy(&mut entry, &mut file)?;
                // The owner first: chown clears set-id bits, chmod puts them back.
                chown_at(file.as_fd(), Path::new(""), owner)?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
                set_xattrs(&mut entry, file.as_fd())?;
                rustix::fs::futimens(&file, &times(mtime))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
                rustix::fs::symlinkat(std::ffi::OsStr::from_bytes(&target), &parent_fd, name)?;
                chown_at(parent_fd.as_fd(), name, owner)?;
                rustix::fs::utimensat(&parent_fd, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            tar::EntryType::Link => {
                let raw = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
                let target = clean(&raw)?.ok_or_else(|| io::Error::other(format!("{path:?} links to the root")))?;
                let target_dir = root.open_dir(target.parent().unwrap_or(Path::new("")))?;
                let target_name = target.file_name().expect("cleaned");
                rustix::fs::linkat(&target_dir, target_name, &parent_fd, name, AtFlags::empty())?;
                chown_at(parent_fd.as_fd(), name, owner)?;
                let stat = rustix::fs::statat(&parent_fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                    rustix::fs::chmodat(&parent_fd, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
                    rustix::fs::utimensat(&parent_fd, name, &times(mtime), AtFlags::empty())?;
                }
            }
            tar::EntryType::Fifo => {
                rustix::fs::mknodat(&parent_fd, name, FileType::Fifo, perm, 0)?;
                chown_at(parent_fd.as_fd(), name, owner)?;
                rustix::fs::chmodat(&parent_fd, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
                rustix::fs::utimensat(&parent_fd, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            other => {
                return Err(io::Error::other(format!("{}: unsupported tar entry type {other:?}", path.display())));
            }
        }
    }
    // Directory times last, deepest first: writing into a directory changes its time.
    for (path, mtime) in dirs.iter().rev() {
        let fd = root.resolve(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)?;
        rustix::fs::futimens(&fd, &times(*mtime))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(header: tar::Header, data: &[u8]) -> Vec<u8> {
        let mut header = header;
        header.set_size(data.len() as u64);
        header.set_path("f").unwrap();
        header.set_mode(0o644);
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(1024 + 512, 0);
        out
    }

    fn detected(bytes: &[u8]) -> Option<Compression> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, bytes).unwrap();
        detect(File::open(&path).unwrap())
    }

    #[test]
    fn bbr_archives_are_told_by_content_whatever_the_compression() {
        let ustar = tar_with(tar::Header::new_ustar(), b"hi");
        let old = tar_with(tar::Header::new_old(), b"hi");
        assert_eq!(detected(&ustar), Some(Compression::None));
        // A v7 tar has no `ustar` magic, yet Go's reader (so BuildKit) takes it.
        assert_eq!(detected(&old), Some(Compression::None));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &ustar).unwrap();
        assert_eq!(detected(&gz.finish().unwrap()), Some(Compression::Gzip));
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        io::Write::write_all(&mut bz, &ustar).unwrap();
        assert_eq!(detected(&bz.finish().unwrap()), Some(Compression::Bzip2));
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        io::Write::write_all(&mut xz, &ustar).unwrap();
        assert_eq!(detected(&xz.finish().unwrap()), Some(Compression::Xz));
        assert_eq!(detected(&zstd::encode_all(&ustar[..], 1).unwrap()), Some(Compression::Zstd));
        // Not archives: text, a gzip of text, a block with a broken checksum, zeros, a truncated gzip.
        assert_eq!(detected(b"just text\n"), None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &[b'x'; 2000]).unwrap();
        assert_eq!(detected(&gz.finish().unwrap()), None);
        let mut broken = ustar.clone();
        broken[0] ^= 1;
        assert_eq!(detected(&broken), None);
        assert_eq!(detected(&[0u8; 1024]), None);
        assert_eq!(detected(&[0x1f, 0x8b, 8, 0]), None);
    }

    #[test]
    fn bbr_entry_paths_stay_inside_the_destination() {
        assert_eq!(clean(b"/a/./b/").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(clean(b"a/../b").unwrap(), Some(PathBuf::from("b")));
        assert_eq!(clean(b"./").unwrap(), None);
        assert!(clean(b"a/../../etc").is_err());
    }
}
