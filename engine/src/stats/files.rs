//! Counter files kept open between readings. A sampler reads the same cgroup files and `/proc/stat` every
//! second or two; opening one walks its path through kernfs each time, which was most of an idle TUI's CPU.
//! These files are generated afresh by every read from offset 0, so a kept descriptor reads current
//! figures. One whose file went away (a removed cgroup reads ENODEV, a removed regular file has no links
//! left) is opened again by its path, which then says whether the file exists.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most counter files fit one read of this size (v1's `memory.stat` is about 1 KiB).
const READ_SIZE: usize = 8 << 10;

#[derive(Debug, Default)]
pub struct OpenFiles {
    files: Mutex<HashMap<PathBuf, File>>,
}

impl OpenFiles {
    /// The whole text of the file at `path`, through a descriptor kept from an earlier read when it still
    /// names that file.
    pub fn read(&self, path: &Path) -> io::Result<String> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = files.get(path) {
            match read_whole(file) {
                Ok(text) if file.metadata().is_ok_and(|m| m.nlink() > 0) => return Ok(text),
                _ => {
                    files.remove(path);
                }
            }
        }
        let file = File::open(path)?;
        let text = read_whole(&file)?;
        files.insert(path.to_path_buf(), file);
        Ok(text)
    }

    /// Closes the files `keep` says no longer matter (those of containers no longer asked about).
    pub fn retain(&self, keep: impl Fn(&Path) -> bool) {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).retain(|path, _| keep(path));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Reads from offset 0 to the end: a short read is the end, as for the generated files this is for.
fn read_whole(file: &File) -> io::Result<String> {
    let mut buf = vec![0u8; READ_SIZE];
    let mut len = 0;
    loop {
        let n = file.read_at(&mut buf[len..], len as u64)?;
        len += n;
        if n == 0 || len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_reads_its_current_text_until_it_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.current");
        std::fs::write(&path, "1\n").unwrap();
        let files = OpenFiles::default();
        assert_eq!(files.read(&path).unwrap(), "1\n");
        std::fs::write(&path, "22\n").unwrap();
        assert_eq!(files.read(&path).unwrap(), "22\n", "rewritten in place: read again from the start");
        let big = "x".repeat(3 * READ_SIZE + 5);
        std::fs::write(&path, &big).unwrap();
        assert_eq!(files.read(&path).unwrap(), big, "longer than one read");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(files.read(&path).unwrap_err().kind(), io::ErrorKind::NotFound, "gone: not its old text");
        std::fs::write(&path, "3\n").unwrap();
        assert_eq!(files.read(&path).unwrap(), "3\n", "made again: opened again");
        files.retain(|p| p != path);
        assert_eq!(files.len(), 0);
    }

    #[test]
    fn proc_files_read_fresh_through_a_kept_descriptor() {
        // The `cpu` line counts every CPU's ticks, idle ones too: it grows with time alone.
        let ticks = |text: String| -> u64 {
            text.lines().next().unwrap().split_whitespace().skip(1).map(|f| f.parse::<u64>().unwrap()).sum()
        };
        let files = OpenFiles::default();
        let path = Path::new("/proc/stat");
        let before = ticks(files.read(path).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(ticks(files.read(path).unwrap()) > before, "read afresh, not the first text again");
        assert_eq!(files.len(), 1);
    }
}
