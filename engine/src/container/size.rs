//! A container's size as `ps -s` shows it: the bytes its writable layer holds.

use std::path::Path;

use super::ContainerRecord;
use crate::Engine;

impl Engine {
    /// The bytes of the files in the container's upper dir (what it wrote over its image); symlinks count
    /// as themselves, never followed. An unreadable entry counts as 0, as Docker's size walk does.
    pub fn container_size(&self, rec: &ContainerRecord) -> u64 {
        dir_size(&rec.dir(self.store().root()).join("upper"))
    }
}

/// The bytes of the files below `path` (a container's upper dir, a volume's data), symlinks as themselves.
pub(crate) fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_files_below_and_links_as_themselves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 20]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
        assert_eq!(dir_size(dir.path()), 120 + "/usr".len() as u64);
        assert_eq!(dir_size(&dir.path().join("missing")), 0);
    }
}
