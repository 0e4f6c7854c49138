//! The hidden subcommands berth re-executes itself as: a container's monitor (`__monitor ROOT ID`), an exec
//! helper (`__exec ROOT ID EXEC-ID`) and a user network's DNS resolver (`__dns ROOT NETWORK`). The binary calls
//! [`entry`] first thing in `main`: these processes fork containers or fork away from their spawner, so they
//! must never start an async runtime.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::container::{EXEC_SUBCOMMAND, run_exec_helper};
use crate::monitor::{self, MONITOR_SUBCOMMAND};
use crate::network::dns::{self, DNS_SUBCOMMAND};

/// When this process was started as one of berth's helpers, runs it to the end and returns its exit code;
/// `None` for an ordinary berth command.
pub fn entry() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    let command = args.next()?;
    let args: Vec<OsString> = args.collect();
    let code = if command == MONITOR_SUBCOMMAND {
        match operands(&args) {
            Some([root, id]) => {
                monitor::phases::mark(Path::new(&root), &id, "exec");
                sealed_and_detached("monitor", &id, |ready| monitor::run(&PathBuf::from(&root), &id, ready))
            }
            None => usage(MONITOR_SUBCOMMAND, "ROOT CONTAINER-ID"),
        }
    } else if command == EXEC_SUBCOMMAND {
        match operands(&args) {
            Some([root, id, exec_id]) => sealed_and_detached("exec helper", &id, |ready| {
                run_exec_helper(&PathBuf::from(&root), &id, &exec_id, ready)
            }),
            None => usage(EXEC_SUBCOMMAND, "ROOT CONTAINER-ID EXEC-ID"),
        }
    } else if command == DNS_SUBCOMMAND {
        match operands(&args) {
            Some([root, network]) => dns::main(&PathBuf::from(root), &network),
            None => usage(DNS_SUBCOMMAND, "ROOT NETWORK"),
        }
    } else {
        return None;
    };
    Some(code.clamp(0, 255) as u8)
}

/// Exactly `N` operands, as text.
fn operands<const N: usize>(args: &[OsString]) -> Option<[String; N]> {
    let ops = <[OsString; N]>::try_from(args.to_vec()).ok()?;
    Some(ops.map(|o| o.to_string_lossy().into_owned()))
}

fn usage(command: &str, operands: &str) -> i32 {
    eprintln!("usage: berth {command} {operands}");
    125
}

/// The monitor's and the exec helper's common start: a session of its own (out of its starter's terminal),
/// run from a sealed read-only copy of the binary (CVE-2019-5736), take the ready pipe, close every other
/// inherited fd, and detach from the spawner.
fn sealed_and_detached(what: &str, id: &str, run: impl FnOnce(Option<monitor::Ready>) -> i32) -> i32 {
    // Fails only for a process group leader, which a spawned helper is not.
    let _ = rustix::process::setsid();
    if let Err(e) = monitor::seal() {
        eprintln!("berth {what}: {e}");
        return 125;
    }
    let ready = monitor::Ready::inherit();
    monitor::cloexec_from(3);
    if let Err(e) = monitor::detach(id) {
        eprintln!("berth {what}: {e}");
        return 125;
    }
    run(ready)
}
