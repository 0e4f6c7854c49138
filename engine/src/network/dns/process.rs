//! The resolver's process: `berth __dns ROOT NETWORK`, which the binary dispatches before it starts any
//! async runtime (as it does the monitor). It forks away at once, so whoever spawned it (a monitor, the
//! CLI, the TUI) reaps the short-lived first half, which waits only until the resolver listens, and never
//! holds a zombie when the resolver ends, which it does when its network has no containers or another
//! resolver already serves the network.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::DnsError;
use crate::network::{NetworkConfig, Networks};

/// The hidden first argument that turns `berth` into a network's resolver.
pub const DNS_SUBCOMMAND: &str = "__dns";

/// Runs `exe __dns ROOT NETWORK` in its own process group and waits for its first half, which exits once
/// the resolver it forked away listens (or another one does, or it failed): a container whose start waits
/// for this has its names served from its first query, as Docker's embedded DNS has them.
pub fn spawn(exe: &Path, root: &Path, network_id: &str) -> Result<(), DnsError> {
    use std::os::unix::process::CommandExt;
    let fail = |source| DnsError::Spawn { network: network_id.to_string(), exe: exe.to_path_buf(), source };
    let mut command = Command::new(exe);
    command
        .arg(DNS_SUBCOMMAND)
        .arg(root)
        .arg(network_id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // Spawned by a monitor, the resolver outlives it: it goes back to the mount namespace the monitor left,
    // so it never keeps the monitor's, with the container's overlay in it, alive.
    if let Some(ns) = crate::monitor::namespace::started_in() {
        // SAFETY: the closure only makes the setns syscall, which is async-signal-safe.
        unsafe { command.pre_exec(move || crate::monitor::namespace::join(ns)) };
    }
    let mut child = command.spawn().map_err(fail)?;
    child.wait().map_err(fail)?;
    Ok(())
}

/// The resolver's main: detaches, then serves the network of the state root `root` until it is idle.
/// Returns the process exit code. Single-threaded until it serves (the relay pool starts then).
pub fn main(root: &Path, network: &str) -> i32 {
    crate::monitor::cloexec_from(3);
    // The resolver closes its end once it listens (or ends, listening or not): the first half leaves then.
    let Ok((listening, listens)) = std::io::pipe() else { return 125 };
    // libc: rustix offers fork only to libc implementors (its unstable `runtime` module).
    // SAFETY: nothing has started a thread yet in this process, so fork cannot deadlock.
    match unsafe { libc::fork() } {
        -1 => return 125,
        0 => {}
        _ => {
            drop(listens);
            let _ = (&listening).read(&mut [0u8; 1]);
            // SAFETY: the first half leaves without running destructors or atexit handlers of the second.
            unsafe { libc::_exit(0) }
        }
    }
    drop(listening);
    let _ = rustix::process::setsid();
    match serve(root, network, move || drop(listens)) {
        Ok(()) => 0,
        // Nobody reads its output (stderr is /dev/null): a resolver that cannot serve just ends.
        Err(_) => 1,
    }
}

fn serve(root: &Path, network: &str, listening: impl FnOnce()) -> Result<(), crate::Error> {
    let store = Arc::new(crate::store::Store::open(root)?);
    // The spawner passes its environment down, so BERTH_CONFIG names the same config file.
    let config = crate::Config::load()?;
    let networks = Networks::new(store, NetworkConfig::from_config(&config))?;
    Ok(networks.run_resolver(network, listening)?)
}
