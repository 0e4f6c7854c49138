//! Namespaces shared with another container (`--network`, `--pid`, `--ipc container:NAME`), which pods are
//! built from. `create` names the target by its full id, as Docker stores it (`container:<id>` in inspect);
//! each start joins the target's namespaces through `/proc/<its pid>/ns/…`, so the target must be running
//! then. A container that shares another's network has no network of its own: no address, no published
//! ports, no DNS entry; it sees the target's interfaces and uses the target's hosts, resolv.conf and
//! hostname. While such a container runs, the target cannot be removed (stopping it is allowed: a joined
//! network namespace lives on with its joiner, a joined PID namespace ends with its init).

use std::path::PathBuf;

use super::{ContainerError, ContainerRecord, Records, Status};
use crate::Error;
use crate::runtime::{RunOptions, RuntimeError, SharedNamespace};
use crate::store::Store;

const PREFIX: &str = "container:";

/// The container a mode joins (`container:NAME` → `NAME`).
fn joined_id(mode: Option<&str>) -> Option<&str> {
    mode?.strip_prefix(PREFIX)
}

fn modes(o: &RunOptions) -> [(SharedNamespace, Option<&str>); 3] {
    [
        (SharedNamespace::Network, o.network.as_deref()),
        (SharedNamespace::Pid, o.pid_mode.as_deref()),
        (SharedNamespace::Ipc, o.ipc_mode.as_deref()),
    ]
}

/// At create: every `container:NAME` becomes `container:<id>` of an existing container, and what Docker
/// refuses beside a shared network (a hostname, DNS settings, extra hosts, `-P`) is refused.
pub(crate) fn resolve_targets(records: &Records<'_>, options: &mut RunOptions) -> Result<(), Error> {
    for slot in [&mut options.network, &mut options.pid_mode, &mut options.ipc_mode] {
        if let Some(name) = joined_id(slot.as_deref()) {
            let rec = records.find(name)?;
            *slot = Some(format!("{PREFIX}{}", rec.id));
        }
    }
    let Some(network) = options.network.as_deref().filter(|n| joined_id(Some(n)).is_some()) else { return Ok(()) };
    let conflicts = [
        ("--hostname", options.hostname.is_some()),
        ("--dns", !options.dns.is_empty() || !options.dns_search.is_empty()),
        ("--add-host", !options.extra_hosts.is_empty()),
        ("--publish-all", options.publish_all),
    ];
    match conflicts.into_iter().find(|(_, given)| *given) {
        Some((option, _)) => Err(RuntimeError::InvalidOption {
            option,
            value: network.to_string(),
            reason: format!("conflicting options: {option} and the network mode {network}"),
        }
        .into()),
        None => Ok(()),
    }
}

/// A namespace a container enters at start, and the container whose it is.
pub(crate) struct Joined {
    pub(crate) kind: SharedNamespace,
    pub(crate) path: PathBuf,
    /// The container named, or for a network the one at the end of a chain of joiners: the one whose
    /// hosts, resolv.conf and hostname the network's users share.
    pub(crate) owner: ContainerRecord,
}

/// Chains of `--network container:` longer than this are refused rather than followed.
const MAX_CHAIN: usize = 16;

/// The namespaces `rec` joins, each checked as Docker checks it: the target runs (its init the process
/// recorded, by start time), and an IPC donor was made `--ipc shareable`.
pub(crate) fn joined_namespaces(store: &Store, rec: &ContainerRecord) -> Result<Vec<Joined>, Error> {
    let records = Records::new(store);
    let mut joined = Vec::new();
    for (kind, mode) in modes(&rec.options) {
        let Some(id) = joined_id(mode) else { continue };
        let refuse = |reason: String| ContainerError::Join { id: rec.id.clone(), kind, target: id.to_string(), reason };
        let Some(target) = records.lookup(id)? else {
            return Err(refuse("No such container".into()).into());
        };
        let running = matches!(target.status, Status::Running | Status::Paused)
            && target.pid > 0
            && crate::monitor::procfs::start_time(target.pid)
                .is_some_and(|t| target.pid_start == 0 || t == target.pid_start);
        if !running {
            return Err(refuse(format!(
                "cannot join the {kind} namespace of a non running container ({})",
                target.status
            ))
            .into());
        }
        if kind == SharedNamespace::Ipc && target.options.ipc_mode.as_deref() != Some("shareable") {
            return Err(refuse("non-shareable IPC (hint: use --ipc shareable for the donor container)".into()).into());
        }
        let path = PathBuf::from(format!("/proc/{}/ns/{}", target.pid, kind.proc_name()));
        let mut owner = target;
        if kind == SharedNamespace::Network {
            for _ in 0..MAX_CHAIN {
                let Some(next) = joined_id(owner.options.network.as_deref()) else { break };
                owner =
                    records.lookup(next)?.ok_or_else(|| refuse(format!("the container it joins, {next}, is gone")))?;
            }
            if joined_id(owner.options.network.as_deref()).is_some() {
                return Err(refuse(format!("more than {MAX_CHAIN} containers join each other's networks")).into());
            }
        }
        joined.push(Joined { kind, path, owner });
    }
    Ok(joined)
}

/// A running container that joined one of `id`'s namespaces, with the namespace: `id` must stay while it runs.
pub(crate) fn joiner_of(records: &Records<'_>, id: &str) -> Result<Option<(String, SharedNamespace)>, Error> {
    Ok(records.all()?.into_iter().filter(|r| r.status.is_active() && r.id != id).find_map(|r| {
        modes(&r.options)
            .into_iter()
            .find(|(_, mode)| joined_id(*mode) == Some(id))
            .map(|(kind, _)| (r.name.clone(), kind))
    }))
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::{record, store_with_image};
    use super::*;

    #[test]
    fn create_names_targets_by_id_and_refuses_what_a_shared_network_cannot_take() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut infra = record(&"a".repeat(64), "infra");
        records.insert(&mut infra, true).unwrap();
        let mut options = RunOptions {
            network: Some("container:infra".into()),
            pid_mode: Some(format!("container:{}", &infra.id[..8])),
            ipc_mode: Some("shareable".into()),
            ..RunOptions::default()
        };
        resolve_targets(&records, &mut options).unwrap();
        let by_id = format!("container:{}", infra.id);
        assert_eq!((options.network.as_deref(), options.pid_mode.as_deref()), (Some(&*by_id), Some(&*by_id)));
        assert_eq!(options.ipc_mode.as_deref(), Some("shareable"));

        let mut missing = RunOptions { ipc_mode: Some("container:nope".into()), ..RunOptions::default() };
        assert!(resolve_targets(&records, &mut missing).unwrap_err().to_string().contains("No such container: nope"));
        let mut named =
            RunOptions { network: Some("container:infra".into()), hostname: Some("h".into()), ..RunOptions::default() };
        let err = resolve_targets(&records, &mut named).unwrap_err().to_string();
        assert!(err.contains("conflicting options: --hostname"), "{err}");
    }

    #[test]
    fn a_stopped_target_cannot_be_joined_and_a_running_joiner_keeps_its_target() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut infra = record(&"a".repeat(64), "infra");
        records.insert(&mut infra, true).unwrap();
        let mut app = record(&"b".repeat(64), "app");
        app.options.network = Some(format!("container:{}", infra.id));
        records.insert(&mut app, true).unwrap();
        let app = records.get(&app.id).unwrap();
        let err = joined_namespaces(&store, &app).err().unwrap().to_string();
        assert!(err.contains("cannot join the network namespace of a non running container (created)"), "{err}");
        assert_eq!(joiner_of(&records, &infra.id).unwrap(), None, "a joiner that does not run holds nothing");
        records.set_status(&app.id, Status::Running).unwrap();
        assert_eq!(joiner_of(&records, &infra.id).unwrap(), Some(("app".to_string(), SharedNamespace::Network)));
    }
}
