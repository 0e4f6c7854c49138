//! Stage between create and start: the container's network namespace exists but its command has not run.
//! The container joins its networks, each user network's name resolver is started, and the /etc/hosts and
//! /etc/resolv.conf that the spec bind-mounts get their content (/etc/hostname gets its own when made).
//!
//! Joining a bridge network (a veth pair, addresses, a route, firewall rules) is several milliseconds of
//! kernel work that needs the container's network namespace, not its init: the monitor makes the
//! namespace before the spec is written ([`new_network_namespace`]), the spec has the init join it, and a
//! child process joins the networks ([`plug`]) while libcontainer creates the container.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::thread::UnshareFlags;

use super::MonitorError;
use crate::container::ContainerRecord;
use crate::network::{ContainerRef, NetworkMode, NetworkSettings, Networks, files};

/// A new network namespace, held by the descriptor returned. A network namespace belongs to a thread, so
/// a short-lived thread makes it and this process's threads never leave their own.
pub(super) fn new_network_namespace(id: &str) -> Result<OwnedFd, MonitorError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| enter_new_network_namespace(id))
            .join()
            .unwrap_or_else(|_| Err(netns_error(id, "make a network namespace", rustix::io::Errno::IO)))
    })
}

/// Moves the calling thread into a new network namespace and opens it. Only for a thread that ends soon
/// after and never runs other work: this process's other threads stay in their own.
fn enter_new_network_namespace(id: &str) -> Result<OwnedFd, MonitorError> {
    // SAFETY: a network namespace is per thread; unsharing it changes nothing another thread shares (no
    // filesystem root, cwd or file table).
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
        .map_err(|e| netns_error(id, "make a network namespace", e))?;
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
    rustix::fs::open("/proc/thread-self/ns/net", flags, rustix::fs::Mode::empty())
        .map_err(|e| netns_error(id, "open the new network namespace", e))
}

fn netns_error(id: &str, action: &'static str, source: rustix::io::Errno) -> MonitorError {
    MonitorError::Io { id: id.to_string(), action, path: "/proc/thread-self/ns/net".into(), source: source.into() }
}

/// A network namespace a standby monitor makes on a thread while it waits for its container, `lo` up: a
/// container on `none` gets it as it is, one on bridge networks before its veths. Made then, its cost (the
/// kernel registers each namespace's sysctls: half a millisecond and more) leaves the container's start.
pub(super) struct SpareNetns(std::thread::JoinHandle<Option<OwnedFd>>);

impl SpareNetns {
    pub(super) fn start() -> Option<SpareNetns> {
        let spawned = std::thread::Builder::new().name("netns".into()).spawn(|| {
            let made = enter_new_network_namespace(super::ASSIGNED_LATER).and_then(|netns| {
                crate::network::loopback_up(None).map_err(|e| MonitorError::Engine(e.into()))?;
                Ok(netns)
            });
            made.inspect_err(|err| tracing::debug!(%err, "making a spare network namespace")).ok()
        });
        spawned.inspect_err(|err| tracing::debug!(%err, "starting the spare network namespace")).ok().map(SpareNetns)
    }

    /// The namespace, once made (or `None` if it could not be). Called before the monitor forks again.
    pub(super) fn wait(self) -> Option<OwnedFd> {
        self.0.join().ok().flatten()
    }
}

/// Where another process of this machine (or this one) reaches the namespace `netns` this process holds.
pub(super) fn namespace_path(netns: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), netns.as_raw_fd()))
}

/// The child process joining a container to its networks; [`Plugging::wait`] has its outcome.
pub(super) struct Plugging {
    id: String,
    pid: i32,
    outcome: std::io::PipeReader,
}

/// Forks a child that joins the container to its bridge networks (`mode`) in the namespace `netns`. A
/// process and not a thread: libcontainer forks the container's processes from this one next, and a thread
/// could hold a lock (the allocator's) at that moment.
pub(super) fn plug(
    networks: &Networks,
    rec: &ContainerRecord,
    netns: &OwnedFd,
    mode: &NetworkMode,
) -> Result<Plugging, MonitorError> {
    let io_err =
        |source| MonitorError::Io { id: rec.id.clone(), action: "fork", path: "the network set-up".into(), source };
    let (reader, mut writer) = std::io::pipe().map_err(io_err)?;
    // libc: rustix offers fork only to libc implementors (its unstable `runtime` module).
    // SAFETY: the monitor is single-threaded here (`run_once` joins every thread it starts before the
    // launch), so the child may allocate and run any code.
    match unsafe { libc::fork() } {
        -1 => Err(io_err(std::io::Error::last_os_error())),
        0 => {
            drop(reader);
            let netns = namespace_path(netns);
            // A panic must end here: unwinding out of this arm would run the monitor's own code on.
            let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let own = networks.reopened()?;
                own.setup(ContainerRef { id: &rec.id, name: &rec.name }, &netns, mode)?;
                Ok::<(), crate::Error>(())
            }));
            let failure = match joined {
                Ok(Ok(())) => String::new(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("joining the networks of container {}: the set-up panicked", rec.id),
            };
            let _ = writer.write_all(failure.as_bytes());
            // SAFETY: leaving without running the destructors of what this process shares with the monitor
            // (its database connection above all).
            unsafe { libc::_exit(i32::from(!failure.is_empty())) }
        }
        pid => {
            drop(writer);
            Ok(Plugging { id: rec.id.clone(), pid, outcome: reader })
        }
    }
}

impl Plugging {
    /// Waits for the child: the container joined every network, or joined none (the child undoes a partial
    /// join, as `Networks::attach` does) and the error says why.
    pub(super) fn wait(mut self) -> Result<(), MonitorError> {
        let mut failure = String::new();
        let read = self.outcome.read_to_string(&mut failure);
        let exited_ok = matches!(crate::session::server::reap(self.pid), Ok(0));
        match (read, exited_ok) {
            (Ok(_), true) if failure.is_empty() => Ok(()),
            _ if !failure.is_empty() => Err(MonitorError::Launch { message: failure, exit_code: 125 }),
            _ => Err(MonitorError::Launch {
                message: format!("joining the networks of container {}: the process doing it died", self.id),
                exit_code: 125,
            }),
        }
    }
}

/// The files the spec bind-mounts over the container's own, kept in the container's directory.
pub(super) fn etc_files(dir: &Path) -> [(String, PathBuf); 3] {
    [
        ("/etc/hosts".into(), dir.join("hosts")),
        ("/etc/resolv.conf".into(), dir.join("resolv.conf")),
        ("/etc/hostname".into(), dir.join("hostname")),
    ]
}

/// Creates the bind-mount sources so the runtime can mount them: hosts and resolv.conf stay empty until
/// [`wire`] fills them; hostname holds the container's hostname, as docker's does.
pub(super) fn create_etc_files(rec: &ContainerRecord, dir: &Path) -> Result<Vec<(String, PathBuf)>, MonitorError> {
    let files = etc_files(dir);
    for (_, path) in &files {
        std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|source| MonitorError::Io {
            id: rec.id.clone(),
            action: "create",
            path: path.clone(),
            source,
        })?;
    }
    let [_, _, (_, hostname_path)] = &files;
    write_in_place(rec, hostname_path, &format!("{}\n", hostname(rec)))?;
    Ok(files.to_vec())
}

/// The container's hostname: `--hostname`, else its short id (as the spec's UTS namespace gets it).
pub(super) fn hostname(rec: &ContainerRecord) -> String {
    rec.options.hostname.clone().unwrap_or_else(|| rec.short_id().to_string())
}

/// Joins the container whose init is `pid` to its networks, unless it joined them already (`plugged`,
/// see [`plug`]), and writes its hosts and resolv.conf. On failure the caller's teardown detaches whatever
/// was joined.
pub(super) fn wire(
    networks: &Networks,
    rec: &ContainerRecord,
    pid: i32,
    mode: &NetworkMode,
    dir: &Path,
    plugged: bool,
) -> Result<(), MonitorError> {
    // Another container's namespace, wired and with its etc files already.
    if let NetworkMode::Container(_) = mode {
        return Ok(());
    }
    let engine = |e: crate::network::NetworkError| MonitorError::Engine(e.into());
    let settings = match (plugged, mode.needs_netns()) {
        (true, _) => networks.settings(&rec.id).map_err(engine)?,
        (false, true) => {
            let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            networks.setup(ContainerRef { id: &rec.id, name: &rec.name }, &netns, mode).map_err(engine)?
        }
        (false, false) => NetworkSettings::default(),
    };
    for name in settings.networks.keys() {
        let network = networks.get(name).map_err(engine)?;
        // /proc/self/exe: the berth binary this monitor runs from, resolved in the child at exec.
        networks.spawn_resolver(Path::new("/proc/self/exe"), &network).map_err(engine)?;
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let o = &rec.options;
    let dns = files::DnsOverrides { servers: &o.dns, search: &o.dns_search };
    let (hosts, resolv) = match mode {
        NetworkMode::Host => {
            let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            hosts.push_str(&files::extra_hosts(&o.extra_hosts));
            let resolv = match o.dns.is_empty() && o.dns_search.is_empty() {
                true => host_resolv,
                false => files::resolv_conf(&host_resolv, None, dns),
            };
            (hosts, resolv)
        }
        _ => (
            files::hosts(&hostname(rec), &settings, &o.extra_hosts),
            files::resolv_conf(&host_resolv, files::resolver_for(&settings), dns),
        ),
    };
    let [(_, hosts_path), (_, resolv_path), _] = etc_files(dir);
    write_in_place(rec, &hosts_path, &hosts)?;
    write_in_place(rec, &resolv_path, &resolv)
}

fn write_in_place(rec: &ContainerRecord, path: &Path, text: &str) -> Result<(), MonitorError> {
    files::rewrite_in_place(path, text).map_err(|source| MonitorError::Io {
        id: rec.id.clone(),
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_new_network_namespace_is_reached_by_its_path_and_leaves_this_thread_in_its_own() {
        if !crate::testing::require_root(
            "a_new_network_namespace_is_reached_by_its_path_and_leaves_this_thread_in_its_own",
        ) {
            return;
        }
        let own = || std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        let before = own();
        let netns = new_network_namespace("test").unwrap();
        let made = rustix::fs::fstat(&netns).unwrap().st_ino;
        assert_ne!(made, before, "a namespace of its own");
        assert_eq!(own(), before, "this thread stays where it was");
        assert_eq!(std::fs::metadata(namespace_path(&netns)).unwrap().ino(), made, "the path the init opens");
        drop(netns);
    }
}
