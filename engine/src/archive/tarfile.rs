//! The outer tar of a saved archive, written entry by entry: a layer's tar goes straight from the layer
//! store into the archive, its length known beforehand, so nothing is staged on disk or held in memory.

use std::io::{self, Write};

use tar::{EntryType, Header};

/// Fixed time for every entry, so the same images always save to the same bytes.
const MTIME: u64 = 0;

pub(crate) struct TarWriter<W> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        TarWriter { out }
    }

    fn header(&mut self, path: &str, kind: EntryType, size: u64, mode: u32) -> io::Result<()> {
        let mut header = Header::new_ustar();
        header.set_path(path)?;
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_cksum();
        self.out.write_all(header.as_bytes())
    }

    pub(crate) fn dir(&mut self, path: &str) -> io::Result<()> {
        self.header(path, EntryType::Directory, 0, 0o755)
    }

    pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.header(path, EntryType::Regular, data.len() as u64, 0o644)?;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }

    /// A file of `size` bytes that `write` puts out; `write` returns how many it wrote, which must be
    /// `size` (the header is already out).
    pub(crate) fn stream<E>(
        &mut self,
        path: &str,
        size: u64,
        write: impl FnOnce(&mut dyn Write) -> Result<u64, E>,
        io_err: impl Fn(io::Error) -> E,
    ) -> Result<(), E> {
        self.header(path, EntryType::Regular, size, 0o644).map_err(&io_err)?;
        let written = write(&mut self.out)?;
        if written != size {
            return Err(io_err(io::Error::other(format!("{path} came out {written} bytes long, not {size}"))));
        }
        self.pad(size).map_err(io_err)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest = (512 - size % 512) % 512;
        self.out.write_all(&[0; 512][..rest as usize])
    }

    /// The two zero blocks that end a tar.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}
