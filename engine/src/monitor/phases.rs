//! Start-up profiling: with `BERTH_LOG` set in its environment (the CLI passes its own down), a monitor appends
//! one line per phase to `ROOT/monitor.log`: wall-clock microseconds, pid, container id and phase, so the
//! lines of the exec, the re-exec, the detached monitor and its teardown line up on one clock.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The phase log's name in the state root.
pub const PHASE_LOG: &str = "monitor.log";

/// Appends `phase` for container `id` to the phase log when `BERTH_LOG` is set; costs one env lookup otherwise.
pub fn mark(root: &Path, id: &str, phase: &str) {
    if std::env::var_os("BERTH_LOG").is_none() {
        return;
    }
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    let line = format!("{micros} {} {id} {phase}\n", std::process::id());
    // Diagnostics only: a log that cannot be written must not stop the container.
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(root.join(PHASE_LOG)) {
        let _ = file.write_all(line.as_bytes());
    }
}
