//! Making the store tell the truth: a container marked active whose monitor is gone (killed, or the machine
//! rebooted) is torn down (network endpoints included) and marked exited — or dead when its leftovers cannot be removed.

use super::{ContainerRecord, Exit, Records, Status};
use crate::Error;
use crate::host::Host;
use crate::network::Networks;
use crate::store::Store;

/// Docker reports 255 for containers that died with their engine.
const LOST_EXIT_CODE: i32 = 255;

/// Returns the record as it really is, fixing the store first when its monitor has vanished; None when the
/// container was removed meanwhile (an `--rm` container whose monitor finished).
pub(crate) fn reconcile(
    store: &Store,
    networks: &Networks,
    host: &dyn Host,
    rec: ContainerRecord,
) -> Result<Option<ContainerRecord>, Error> {
    if !rec.status.is_active() || host.monitor_alive(&rec) {
        return Ok(Some(rec));
    }
    // The record may predate the monitor's last words: a monitor records the exit, then ends. Read again
    // now that it is known gone, and act only if it really left the container active.
    let records = Records::new(store);
    let Some(rec) = records.lookup(&rec.id)? else {
        return Ok(None);
    };
    if !rec.status.is_active() || host.monitor_alive(&rec) {
        return Ok(Some(rec));
    }
    let problems = host.teardown(networks, &rec, &rec.dir(store.root()));
    let status = if problems.is_empty() { Status::Exited } else { Status::Dead };
    let now = chrono::Utc::now().to_rfc3339();
    records.set_exit(&rec.id, Exit { code: LOST_EXIT_CODE, oom_killed: false }, status, &now)?;
    let mut message = "the container's monitor process died".to_string();
    if !problems.is_empty() {
        message = format!("{message}; cleanup failed: {}", problems.join("; "));
    }
    records.set_start_failure(&rec.id, status, LOST_EXIT_CODE, &message)?;
    let die = crate::journal::container_event(&rec, "die").attr("exitCode", LOST_EXIT_CODE.to_string());
    crate::journal::record_container(store.root(), &rec, die);
    // Its checks died with the monitor: unhealthy, as the monitor itself records when the container stops.
    if let Some(mut health) = rec.health.clone()
        && health.stopped().is_some()
    {
        records.set_health(&rec.id, &health)?;
    }
    records.lookup(&rec.id)
}
