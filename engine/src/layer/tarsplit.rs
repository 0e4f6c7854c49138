//! A layer's exact tar, kept as docker and containers-storage keep it (tar-split): while a layer is
//! unpacked, every byte of the tar stream that is not a regular file's content (headers, PAX records,
//! padding, the end blocks and anything after them) is recorded, and each file's content is recorded only
//! as the path that now holds it. Reading the file back from the stored layer then gives the very tar,
//! whose sha256 the caller checks against the diffID.
//!
//! The index is a small file next to the layer: a header (magic, the tar's length) and a zstd stream of
//! records, `R` + u32 length + raw bytes, or `F` + u64 size + u32 length + path.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::{Hashing, LayerError};
use crate::inroot::Root;
use rustix::fs::OFlags;

const MAGIC: &[u8; 8] = b"berthts1";
pub(super) const RAW: u8 = b'R';
pub(super) const FILE: u8 = b'F';
/// Raw bytes gathered before they are written as one record.
const RAW_CHUNK: usize = 64 * 1024;
/// Read size for file contents when the tar is rebuilt.
const COPY_BUFFER: usize = 1 << 20;

/// A file's content still to come in the stream, recorded as its path.
struct Hole {
    start: u64,
    end: u64,
    path: PathBuf,
    emitted: bool,
}

/// Records the index of a tar stream as it is read.
pub(crate) struct Recorder {
    out: zstd::Encoder<'static, BufWriter<File>>,
    path: PathBuf,
    raw: Vec<u8>,
    pos: u64,
    hole: Option<Hole>,
    /// An entry's content could not be told apart from the raw bytes (never expected from the tar
    /// reader); the index is then not written and the layer packs as one without an index.
    broken: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).field("pos", &self.pos).finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts an index at `path` (created or truncated).
    pub(crate) fn create(path: &Path) -> Result<Recorder, LayerError> {
        let mut file = File::create(path).map_err(LayerError::io(path, "create tar index"))?;
        file.write_all(MAGIC)
            .and_then(|()| file.write_all(&0u64.to_le_bytes()))
            .map_err(LayerError::io(path, "write tar index"))?;
        let out = zstd::Encoder::new(BufWriter::new(file), 3).map_err(LayerError::io(path, "start tar index"))?;
        Ok(Recorder {
            out,
            path: path.to_path_buf(),
            raw: Vec::with_capacity(RAW_CHUNK),
            pos: 0,
            hole: None,
            broken: false,
        })
    }

    /// Takes the next bytes of the decompressed tar stream. A failed write of the index only drops it.
    pub(crate) fn bytes(&mut self, data: &[u8]) {
        if !self.broken && self.record(data).is_err() {
            self.broken = true;
        }
    }

    fn record(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let hole = self.hole.as_ref().map(|h| (h.start, h.end, h.emitted));
            let take = match hole {
                Some((start, end, emitted)) if self.pos >= start => {
                    if !emitted {
                        let path = self.hole.as_ref().map(|h| h.path.clone()).unwrap_or_default();
                        self.file_record(end - start, &path)?;
                        if let Some(h) = &mut self.hole {
                            h.emitted = true;
                        }
                    }
                    let take = (end - self.pos).min(data.len() as u64) as usize;
                    if self.pos + take as u64 == end {
                        self.hole = None;
                    }
                    take
                }
                Some((start, _, _)) => {
                    let take = (start - self.pos).min(data.len() as u64) as usize;
                    self.raw.extend_from_slice(&data[..take]);
                    take
                }
                None => {
                    self.raw.extend_from_slice(data);
                    data.len()
                }
            };
            self.pos += take as u64;
            data = &data[take..];
            if self.raw.len() >= RAW_CHUNK {
                self.flush_raw()?;
            }
        }
        Ok(())
    }

    /// Marks `size` bytes from stream offset `start` as the content of the regular file now at `path`
    /// (relative to the layer root).
    pub(crate) fn file(&mut self, path: &Path, start: u64, size: u64) {
        if size == 0 {
            return;
        }
        if self.hole.is_some() || start < self.pos {
            self.broken = true;
            return;
        }
        self.hole = Some(Hole { start, end: start + size, path: path.to_path_buf(), emitted: false });
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        self.out.write_all(&[RAW])?;
        self.out.write_all(&(self.raw.len() as u32).to_le_bytes())?;
        self.out.write_all(&self.raw)?;
        self.raw.clear();
        Ok(())
    }

    fn file_record(&mut self, size: u64, path: &Path) -> io::Result<()> {
        self.flush_raw()?;
        let name = path.as_os_str().as_bytes();
        self.out.write_all(&[FILE])?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&(name.len() as u32).to_le_bytes())?;
        self.out.write_all(name)
    }

    /// Ends the index once the whole stream went through; false when it could not be kept (then it is
    /// removed).
    pub(crate) fn finish(mut self) -> Result<bool, LayerError> {
        if self.broken || self.hole.is_some() {
            let _ = std::fs::remove_file(&self.path);
            return Ok(false);
        }
        let path = self.path.clone();
        let err = LayerError::io(&path, "write tar index");
        let written = (|| {
            self.flush_raw()?;
            let mut file = self.out.finish()?.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
            file.write_all(&self.pos.to_le_bytes())?;
            file.sync_all()
        })();
        written.map_err(err)?;
        Ok(true)
    }
}

/// A stored tar index.
pub struct TarIndex {
    path: PathBuf,
    tar_len: u64,
}

impl TarIndex {
    /// Opens the index at `path`; `None` when there is none.
    pub fn open(path: &Path) -> Result<Option<TarIndex>, LayerError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LayerError::Io { path: path.into(), op: "open tar index", source: e }),
        };
        let mut header = [0u8; 16];
        file.read_exact(&mut header).map_err(LayerError::io(path, "read tar index"))?;
        if &header[..8] != MAGIC {
            return Err(LayerError::Io {
                path: path.into(),
                op: "read tar index",
                source: io::Error::new(io::ErrorKind::InvalidData, "not a berth tar index"),
            });
        }
        let tar_len = u64::from_le_bytes(header[8..].try_into().unwrap_or_default());
        Ok(Some(TarIndex { path: path.into(), tar_len }))
    }

    /// Length of the tar it gives.
    pub fn tar_len(&self) -> u64 {
        self.tar_len
    }

    /// Writes the layer's tar to `out`, file contents read from `root` (the layer's directory, or its
    /// image mounted) through the in-root resolver. Returns the tar's `sha256:` digest and length; the
    /// caller compares the digest with the diffID.
    pub fn write_tar(&self, root: &Path, out: impl Write) -> Result<(String, u64), LayerError> {
        let root_fd = Root::open(root).map_err(LayerError::io(root, "open layer"))?;
        let file = File::open(&self.path).map_err(LayerError::io(&self.path, "open tar index"))?;
        let mut reader = io::BufReader::new(file);
        reader.seek(SeekFrom::Start(16)).map_err(LayerError::io(&self.path, "read tar index"))?;
        let mut records = zstd::Decoder::with_buffer(reader).map_err(LayerError::io(&self.path, "read tar index"))?;
        let mut out = Hashing::new(out);
        let bad = |e: io::Error| LayerError::Io { path: self.path.clone(), op: "read tar index", source: e };
        let mut buf = Vec::new();
        let mut content = vec![0; COPY_BUFFER];
        loop {
            let mut tag = [0u8; 1];
            match records.read(&mut tag) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(bad(e)),
            }
            match tag[0] {
                RAW => {
                    let len = read_u32(&mut records).map_err(bad)? as usize;
                    buf.resize(len, 0);
                    records.read_exact(&mut buf).map_err(bad)?;
                    out.write_all(&buf).map_err(|source| LayerError::Output { source })?;
                }
                FILE => {
                    let size = read_u64(&mut records).map_err(bad)?;
                    let len = read_u32(&mut records).map_err(bad)? as usize;
                    let mut name = vec![0; len];
                    records.read_exact(&mut name).map_err(bad)?;
                    let name = PathBuf::from(std::ffi::OsString::from_vec(name));
                    let fd = root_fd
                        .resolve(&name, OFlags::RDONLY | OFlags::NOFOLLOW)
                        .map_err(LayerError::io(&name, "open layer file"))?;
                    let file = File::from(fd);
                    let actual = file.metadata().map_err(LayerError::io(&name, "stat layer file"))?.len();
                    if actual != size {
                        return Err(LayerError::Io {
                            path: name,
                            op: "read layer file",
                            source: io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("holds {actual} bytes, its tar entry {size}"),
                            ),
                        });
                    }
                    let copied = copy_file(&file, &name, size, &mut content, &mut out)?;
                    if copied != size {
                        return Err(LayerError::Io {
                            path: name,
                            op: "read layer file",
                            source: io::Error::new(io::ErrorKind::UnexpectedEof, "shorter than its tar entry"),
                        });
                    }
                }
                other => {
                    return Err(bad(io::Error::new(io::ErrorKind::InvalidData, format!("unknown record {other:#x}"))));
                }
            }
        }
        let (_, digest, bytes) = out.into_parts();
        Ok((digest, bytes))
    }
}

/// Copies up to `size` bytes of `file` (the layer's `name`) to `out` through `buf`, in large reads;
/// returns how many there were.
fn copy_file(file: &File, name: &Path, size: u64, buf: &mut [u8], out: &mut impl Write) -> Result<u64, LayerError> {
    let mut file = file.take(size);
    let mut copied = 0;
    loop {
        let n = match file.read(buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LayerError::Io { path: name.into(), op: "read layer file", source: e }),
        };
        out.write_all(&buf[..n]).map_err(|source| LayerError::Output { source })?;
        copied += n as u64;
    }
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};
    use tar::{EntryType, Header};

    use super::*;
    use crate::layer::{Compression, UnpackOptions, erofs, unpack_indexed};
    use crate::testing::require_root;

    fn opts() -> UnpackOptions {
        UnpackOptions { max_bytes: 1 << 30, preserve_owners: rustix::process::geteuid().is_root() }
    }

    fn header(kind: EntryType, size: u64, mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    /// A tar with what layers hold: directories, files (empty, large, under a long GNU name, with a PAX
    /// xattr record), a symlink, a hardlink, a whiteout, a file written through a symlinked directory, and
    /// the zero padding docker's writer leaves after the end blocks.
    fn layer_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut header(EntryType::Directory, 0, 0o755), "etc/", io::empty()).unwrap();
        b.append_data(&mut header(EntryType::Regular, 5, 0o644), "etc/hostname", &b"berth"[..]).unwrap();
        b.append_data(&mut header(EntryType::Regular, 0, 0o644), "etc/empty", io::empty()).unwrap();
        let big: Vec<u8> = (0..300_001u32).map(|i| (i % 251) as u8).collect();
        b.append_data(&mut header(EntryType::Regular, big.len() as u64, 0o755), "bin/big", big.as_slice()).unwrap();
        let long = format!("deep/{}/file", "n".repeat(150));
        b.append_data(&mut header(EntryType::Regular, 3, 0o600), &long, &b"abc"[..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.note", &b"hi"[..])]).unwrap();
        b.append_data(&mut header(EntryType::Regular, 4, 0o644), "noted", &b"note"[..]).unwrap();
        let mut link = header(EntryType::Symlink, 0, 0o777);
        b.append_link(&mut link, "lib", "bin").unwrap();
        let mut hard = header(EntryType::Link, 0, 0o644);
        b.append_link(&mut hard, "bin/big-again", "bin/big").unwrap();
        b.append_data(&mut header(EntryType::Regular, 0, 0o644), "old/.wh.gone", io::empty()).unwrap();
        b.append_data(&mut header(EntryType::Regular, 6, 0o644), "lib/through", &b"linked"[..]).unwrap();
        let mut tar = b.into_inner().unwrap();
        tar.resize(tar.len() + 9 * 512, 0);
        tar
    }

    fn diff_id(tar: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(tar)))
    }

    fn rebuilt(index: &Path, root: &Path) -> (Vec<u8>, String) {
        let index = TarIndex::open(index).unwrap().expect("index kept");
        let mut out = Vec::new();
        let (digest, len) = index.write_tar(root, &mut out).unwrap();
        assert_eq!(len, index.tar_len());
        assert_eq!(len, out.len() as u64);
        (out, digest)
    }

    #[test]
    fn a_directory_layer_gives_back_its_exact_tar() {
        let tar = layer_tar();
        let tmp = tempfile::tempdir().unwrap();
        let (dest, index) = (tmp.path().join("layer"), tmp.path().join("index"));
        std::fs::create_dir(&dest).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let (report, kept) = unpack_indexed(gz.as_slice(), Compression::Gzip, &dest, &opts(), Some(&index)).unwrap();
        assert!(kept);
        assert_eq!(report.diff_id, diff_id(&tar));
        let (out, digest) = rebuilt(&index, &dest);
        assert_eq!(digest, report.diff_id);
        assert!(out == tar, "the rebuilt tar differs");
        let size = std::fs::metadata(&index).unwrap().len();
        assert!(size < 4096, "the index holds headers, not contents ({size} bytes)");
    }

    #[test]
    fn a_file_replaced_later_in_the_stream_no_longer_rebuilds_the_tar() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut header(EntryType::Regular, 3, 0o644), "f", &b"one"[..]).unwrap();
        b.append_data(&mut header(EntryType::Regular, 3, 0o644), "f", &b"two"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (dest, index) = (tmp.path().join("layer"), tmp.path().join("index"));
        std::fs::create_dir(&dest).unwrap();
        let (report, _) = unpack_indexed(tar.as_slice(), Compression::None, &dest, &opts(), Some(&index)).unwrap();
        let (_, digest) = rebuilt(&index, &dest);
        assert_ne!(digest, report.diff_id, "the caller's digest check is what catches it");
    }

    #[test]
    fn an_erofs_layer_gives_back_its_exact_tar() {
        if !require_root("an_erofs_layer_gives_back_its_exact_tar") {
            return;
        }
        let tar = layer_tar();
        let tmp = tempfile::tempdir().unwrap();
        let (image, index) = (tmp.path().join("layer.erofs"), tmp.path().join("index"));
        let (report, pending, kept) =
            erofs::unpack_image_indexed(tar.as_slice(), Compression::None, &image, &opts(), Some(&index)).unwrap();
        assert!(kept);
        pending.write().unwrap();
        let mounted = erofs::MountedLowers::mount(std::slice::from_ref(&image)).unwrap();
        let (out, digest) = rebuilt(&index, &mounted.paths()[0]);
        assert_eq!(digest, report.diff_id);
        assert!(out == tar, "the rebuilt tar differs");
    }
}
