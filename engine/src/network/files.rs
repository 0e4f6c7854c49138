//! The /etc/hosts and /etc/resolv.conf a container gets, as text for the runtime to write into it.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::NetworkSettings;

const LOCAL_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Rewrites a file a container bind-mounts (hosts, resolv.conf, hostname) in place, so the mount of this
/// inode sees the new text. Shortened only when it was longer: a truncation to zero makes ext4 write the
/// file out at close (its replace-via-truncate guard), a disk write on every container start.
pub fn rewrite_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(text.as_bytes())?;
    if file.metadata()?.len() > text.len() as u64 {
        file.set_len(text.len() as u64)?;
    }
    Ok(())
}

/// Loopback names, `--add-host` entries (`NAME:IP`), then one line per network address naming the
/// container (hostname, then aliases), in Docker's order.
pub fn hosts(hostname: &str, settings: &NetworkSettings, extra: &[String]) -> String {
    let mut out = String::from(LOCAL_HOSTS);
    out.push_str(&extra_hosts(extra));
    for endpoint in settings.networks.values() {
        let mut names = vec![hostname.to_string()];
        let mut seen = BTreeSet::from([hostname.to_string()]);
        names.extend(endpoint.aliases.iter().filter(|a| seen.insert(a.to_string())).cloned());
        out.push_str(&format!("{}\t{}\n", endpoint.ip_address, names.join(" ")));
    }
    out
}

/// `--add-host` entries as /etc/hosts lines.
pub fn extra_hosts(extra: &[String]) -> String {
    extra
        .iter()
        .filter_map(|e| crate::runtime::split_extra_host(e))
        .map(|(name, ip)| format!("{ip}\t{name}\n"))
        .collect()
}

/// `--dns` and `--dns-search` of a container: they replace the host's servers and search list.
#[derive(Clone, Copy, Debug, Default)]
pub struct DnsOverrides<'a> {
    pub servers: &'a [String],
    pub search: &'a [String],
}

/// The resolver a container should use: the gateway of its first network with name resolution (user
/// networks; the default bridge has none), whose resolver `Networks::spawn_resolver` starts.
pub fn resolver_for(settings: &NetworkSettings) -> Option<Ipv4Addr> {
    settings.networks.values().find(|e| !e.dns_names.is_empty()).and_then(|e| e.gateway.parse().ok())
}

/// The nameserver lines of a resolv.conf.
pub fn nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A container's resolv.conf from the host's. On a network with berth's resolver (`resolver` is its
/// address) that resolver answers; otherwise the host's servers, minus loopback ones the container cannot
/// reach, falling back to public resolvers as Docker does. `search` and `options` lines are kept.
/// `--dns` servers replace the host's (berth's resolver, when there is one, still answers first), and
/// `--dns-search` the search list (`.` leaves none).
pub fn resolv_conf(host_resolv_conf: &str, resolver: Option<Ipv4Addr>, overrides: DnsOverrides<'_>) -> String {
    let chosen: Vec<IpAddr> = overrides.servers.iter().filter_map(|s| s.parse().ok()).collect();
    let servers: Vec<IpAddr> = match resolver {
        Some(ip) => vec![ip.into()],
        None if !chosen.is_empty() => chosen,
        None => {
            let reachable: Vec<IpAddr> =
                nameservers(host_resolv_conf).into_iter().filter(|ip| !ip.is_loopback()).collect();
            if reachable.is_empty() {
                vec![Ipv4Addr::new(8, 8, 8, 8).into(), Ipv4Addr::new(8, 8, 4, 4).into()]
            } else {
                reachable
            }
        }
    };
    let mut out = String::new();
    let search: Vec<&str> = overrides.search.iter().map(String::as_str).filter(|d| *d != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for line in host_resolv_conf.lines().map(str::trim) {
        if (line.starts_with("search ") && overrides.search.is_empty()) || line.starts_with("options ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    for ip in servers {
        out.push_str(&format!("nameserver {ip}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::EndpointSettings;
    use super::*;

    #[test]
    fn a_rewrite_keeps_the_inode_and_leaves_no_old_tail() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "").unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        for text in ["a longer first text\n", "short\n", "", "grown again, longer than before\n"] {
            rewrite_in_place(&path, text).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "the bind-mounted inode stays");
        }
        assert!(rewrite_in_place(&dir.path().join("missing"), "x").is_err(), "never creates the file");
    }

    #[test]
    fn hosts_names_the_container_on_each_network_once() {
        let mut settings = NetworkSettings::default();
        let endpoint = |ip: &str, aliases: &[&str]| EndpointSettings {
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            network_id: "n".into(),
            endpoint_id: "e".into(),
            gateway: "10.0.0.1".into(),
            ip_address: ip.into(),
            ip_prefix_len: 24,
            mac_address: String::new(),
            dns_names: vec![],
        };
        settings.networks.insert("a".into(), endpoint("10.0.0.2", &["web", "web", "box"]));
        settings.networks.insert("b".into(), endpoint("10.0.1.2", &["box"]));
        assert_eq!(resolver_for(&settings), None);
        settings.networks.get_mut("b").unwrap().dns_names = vec!["box".into()];
        assert_eq!(resolver_for(&settings), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let text = hosts("box", &settings, &["db:10.9.9.9".into()]);
        assert!(text.contains("\n10.9.9.9\tdb\n"), "{text}");
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        assert!(text.ends_with("10.0.0.2\tbox web\n10.0.1.2\tbox\n"), "{text}");
    }

    #[test]
    fn resolv_conf_uses_the_network_resolver_or_reachable_host_servers() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, Some(Ipv4Addr::new(10, 1, 0, 1)), DnsOverrides::default()),
            "search corp.example\noptions edns0\nnameserver 10.1.0.1\n"
        );
        assert_eq!(
            resolv_conf(host, None, DnsOverrides::default()),
            "search corp.example\noptions edns0\nnameserver 192.0.2.53\n"
        );
        let none = DnsOverrides::default();
        assert_eq!(resolv_conf("nameserver 127.0.0.1\n", None, none), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn dns_flags_replace_the_hosts_servers_and_search_list() {
        let host = "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n";
        let servers = ["198.51.100.1".to_string()];
        let search = ["a.example".to_string(), "b.example".to_string()];
        let both = DnsOverrides { servers: &servers, search: &search };
        assert_eq!(
            resolv_conf(host, None, both),
            "search a.example b.example\noptions edns0\nnameserver 198.51.100.1\n"
        );
        let cleared = [".".to_string()];
        let text = resolv_conf(host, None, DnsOverrides { servers: &[], search: &cleared });
        assert_eq!(text, "options edns0\nnameserver 192.0.2.53\n");
    }
}
