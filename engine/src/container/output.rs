//! A container's recorded output, for `logs` and a foreground `run`.

use super::ContainerRecord;
use crate::logs::{LogEntry, LogFilter, read};
use crate::{Engine, Error};

impl Engine {
    /// The container's log records (all rotated files, oldest first) that pass `filter`.
    pub fn container_logs(
        &self,
        name_or_id: &str,
        filter: &LogFilter,
    ) -> Result<(ContainerRecord, Vec<LogEntry>), Error> {
        let rec = self.container(name_or_id)?;
        let path = self.container_log_path(&rec);
        let entries = read(&path, filter).map_err(|source| super::ContainerError::Io {
            id: rec.id.clone(),
            action: "read log",
            path,
            source,
        })?;
        Ok((rec, entries))
    }
}
