//! Stage four: nothing of a run may outlive it: libcontainer state, cgroup, network endpoints, overlay mount.
//! Also used by any berth process that finds a container whose monitor died.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::STATE_ROOT;
use crate::container::{Cgroup, ContainerRecord, Records};
use crate::layer::erofs::MountedLowers;
use crate::network::Networks;
use crate::runtime::Rootfs;
use crate::store::Store;

/// Removes whatever a run left behind, tolerating parts already gone. Returns the problems it could not fix.
pub(crate) fn teardown(networks: &Networks, rec: &ContainerRecord, dir: &Path) -> Vec<String> {
    teardown_with(networks, rec, dir, false)
}

/// `teardown` of a disposable container's last run but for its veths and its overlay's unmount, which the
/// monitor leaves to threads (`Networks::unplug_in_background`, [`unmount_in_background`]).
pub(crate) fn teardown_disposable(networks: &Networks, rec: &ContainerRecord, dir: &Path) -> Vec<String> {
    teardown_with(networks, rec, dir, true)
}

/// What a run holds mounted besides its overlay: the layer images under it, and the container's own mount
/// namespace. Each one's end waits out an RCU grace period (half a millisecond and more here), so they
/// end with the teardown instead of on the way to the command: a layer's mount dropped once the overlay
/// was made would delay the start, and the namespace, left to the init alone, is torn down in the init's
/// exit, before its monitor can hear of it.
pub(crate) struct Held {
    pub(crate) layers: MountedLowers,
    pub(crate) mount_ns: Option<OwnedFd>,
}

/// Ends the container's mount namespace, detaches its overlay and drops its layers' mounts, on a thread:
/// each takes its mounts out of sight at once, then waits out a grace period (milliseconds on a busy
/// machine) that nothing after it needs to.
pub(crate) fn unmount_in_background(dir: &Path, held: Held) -> Option<std::thread::JoinHandle<()>> {
    let rootfs = Rootfs::in_dir(dir);
    let spawned = std::thread::Builder::new().name("unmount".into()).spawn(move || {
        let Held { layers, mount_ns } = held;
        drop(mount_ns);
        if let Err(err) = rootfs.unmount() {
            tracing::warn!(%err, "unmounting a container's rootfs");
        }
        drop(layers);
    });
    spawned.inspect_err(|err| tracing::warn!(%err, "starting the rootfs unmount")).ok()
}

/// `last_run`: `teardown_disposable`'s.
fn teardown_with(networks: &Networks, rec: &ContainerRecord, dir: &Path, last_run: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let cgroup = Cgroup::for_container(&rec.id);
    if cgroup.exists() {
        kill_all(&cgroup);
        // A frozen process acts on no signal, SIGKILL included, until thawed: a paused container whose
        // monitor died would otherwise stay frozen (D state) for good and hold its cgroup.
        if cgroup.frozen()
            && let Err(err) = cgroup.freeze(false)
        {
            tracing::warn!(id = %rec.id, %err, "thawing the killed container failed");
        }
    }
    if let Err(err) = remove_cgroup_when_empty(&cgroup) {
        problems.push(err.to_string());
    }
    // Veths, addresses and port rules go with the run; the next start allocates them again.
    let detached = match last_run {
        false => networks.detach(&rec.id, None),
        true => networks.detach_leaving_links(&rec.id),
    };
    if let Err(err) = detached {
        problems.push(err.to_string());
    }
    let state = Path::new(STATE_ROOT).join(&rec.id);
    if state.exists()
        && let Err(err) = std::fs::remove_dir_all(&state)
    {
        problems.push(format!("remove {}: {err}", state.display()));
    }
    if !last_run && let Err(err) = Rootfs::in_dir(dir).unmount() {
        problems.push(err.to_string());
    }
    problems
}

/// SIGKILLs every process the cgroup lists, each through a pidfd taken before the cgroup is read again: a
/// pid still listed then is the process the pidfd holds, so a pid reused outside the cgroup is never hit.
fn kill_all(cgroup: &Cgroup) {
    let Ok(pids) = cgroup.pids() else { return };
    let pidfds: Vec<_> = pids.into_iter().filter_map(|pid| Some((pid, super::procfs::pidfd_open(pid).ok()?))).collect();
    let Ok(still) = cgroup.pids() else { return };
    for (_, pidfd) in pidfds.iter().filter(|(pid, _)| still.contains(pid)) {
        // ESRCH: it exited meanwhile, which is what was wanted.
        let _ = rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL);
    }
}

/// A cgroup can only go once its killed processes are really gone; give them a moment.
fn remove_cgroup_when_empty(cgroup: &Cgroup) -> Result<(), crate::container::ContainerError> {
    let mut last = Ok(());
    for _ in 0..50 {
        last = cgroup.remove();
        if last.is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    last
}

/// `--rm` and `berth rm`: the run's leftovers, the container's directory and its row. When a leftover (an
/// address, a port rule, a mount) cannot be removed the row stays, marked dead with the reason, so nothing
/// outlives the record that lets a later `rm` find it.
pub(crate) fn remove_container(
    store: &Store,
    networks: &Networks,
    host: &dyn crate::host::Host,
    rec: &ContainerRecord,
) -> Result<(), crate::Error> {
    if let Some(moved) = remove_record(store, networks, host, rec)? {
        remove_moved(&moved);
    }
    Ok(())
}

/// [`remove_container`] up to the row's deletion, with the container's directory moved into the state root's
/// `removed/` (one rename) rather than deleted: returns where it went, for the caller to delete once it has
/// answered whoever waits (a foreground `run --rm` returns once the row is gone, as Docker's does, not
/// after a few dozen unlinks on a slow disk). A directory left there by a process that died is removed by
/// the next store opening (its name carries the pid).
pub(crate) fn remove_record(
    store: &Store,
    networks: &Networks,
    host: &dyn crate::host::Host,
    rec: &ContainerRecord,
) -> Result<Option<PathBuf>, crate::Error> {
    let dir = rec.dir(store.root());
    let problems = host.teardown(networks, rec, &dir);
    if !problems.is_empty() {
        let problems = problems.join("; ");
        let records = Records::new(store);
        records.set_start_failure(&rec.id, crate::container::Status::Dead, rec.exit_code, &problems)?;
        return Err(crate::container::ContainerError::RemoveFailed { id: rec.id.clone(), problems }.into());
    }
    let io_err = |path: &Path, source| crate::container::ContainerError::Io {
        id: rec.id.clone(),
        action: "remove",
        path: path.to_path_buf(),
        source,
    };
    let mut moved = None;
    if dir.exists() {
        let removed = store.root().join(crate::store::REMOVED_DIR);
        let away = removed.join(format!("removed-{}-{}", std::process::id(), rec.id));
        match std::fs::create_dir_all(&removed).and_then(|()| std::fs::rename(&dir, &away)) {
            Ok(()) => moved = Some(away),
            Err(_) => std::fs::remove_dir_all(&dir).map_err(|source| io_err(&dir, source))?,
        }
    }
    Records::new(store).delete(&rec.id)?;
    crate::journal::record_container(store.root(), rec, crate::journal::container_event(rec, "destroy"));
    Ok(moved)
}

/// Deletes a directory [`remove_record`] moved away; one that cannot be deleted now is left to the sweep.
pub(crate) fn remove_moved(moved: &Path) {
    if let Err(err) = std::fs::remove_dir_all(moved) {
        tracing::warn!(path = %moved.display(), %err, "removing a removed container's directory");
    }
}
