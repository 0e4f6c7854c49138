//! Several berth state roots on one machine, through the `berth` binary as root: roots whose configs name
//! the same bridge, subnet and nftables table must not share addresses or touch each other's bridge and
//! rules, and a deleted root's rules must not pile up. Bridges, tables and subnets here are this test
//! process's own (`bno` names, 10.22x.<pid>.0/24); traffic goes only into the tests' containers.

mod rt;
mod support;

use std::process::Command;

use berth_engine::network::netlink::Socket;
use rt::{Env, require_root};

/// This run's bridges and table, removed after the roots (declare it before them).
struct HostObjects {
    bridges: Vec<String>,
    table: String,
}

impl HostObjects {
    fn new(test: u32, bridges: usize) -> HostObjects {
        let pid = std::process::id() % 100_000;
        HostObjects {
            bridges: (0..bridges).map(|i| format!("bno{pid}t{test}b{i}")).collect(),
            table: format!("bno_{pid}_{test}"),
        }
    }

    fn rules(&self) -> String {
        let out = Command::new("nft").args(["list", "table", "inet", &self.table]).output().expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Masquerade rules of the table: three per network of a root, however many roots came and went.
    fn masquerades(&self) -> usize {
        self.rules().lines().filter(|l| l.contains("masquerade")).count()
    }
}

impl Drop for HostObjects {
    fn drop(&mut self) {
        for bridge in &self.bridges {
            support::remove_host_network(bridge, &self.table);
        }
    }
}

/// Points `env` at `bridge`, subnet 10.<second>.<octet>.0/24 and `table`.
fn configure(env: &Env, bridge: &str, second: u8, table: &str) {
    let subnet = format!("10.{second}.{}.0/24", env.octet);
    let config = format!(
        "network_default_bridge = \"{bridge}\"\nnetwork_default_subnet = \"{subnet}\"\n\
         network_pool = \"{subnet}\"\nnetwork_firewall_table = \"{table}\"\n"
    );
    std::fs::write(env.root().join("config.toml"), config).expect("write config.toml");
}

fn ip(env: &Env, name: &str) -> (String, String) {
    let settings = env.inspect(name)["NetworkSettings"].clone();
    let text = |key: &str| settings[key].as_str().unwrap_or_default().to_string();
    (text("IPAddress"), text("Gateway"))
}

fn alias(bridge: &str) -> Option<String> {
    Socket::open().expect("netlink").link(bridge).expect("look up bridge").and_then(|l| l.alias)
}

fn owner_id(env: &Env) -> String {
    std::fs::read_to_string(env.root().join("network-owner")).expect("the root's owner id").trim().to_string()
}

/// The container reaches its gateway and still holds its address.
fn assert_connected(env: &Env, name: &str, address: &str, gateway: &str) {
    let out = env.ok(&["exec", name, "sh", "-c", &format!("ip -4 addr show eth0; ping -c 1 -W 2 {gateway}")]);
    assert!(out.contains(&format!("inet {address}/")), "{name} lost {address}:\n{out}");
    assert!(out.contains("1 packets received"), "{name} cannot reach its gateway {gateway}:\n{out}");
}

#[test]
fn roots_sharing_a_config_never_share_a_bridge_or_touch_each_others() {
    if !require_root("roots_sharing_a_config_never_share_a_bridge_or_touch_each_others") {
        return;
    }
    let host = HostObjects::new(1, 2);
    let (shared, own) = (&host.bridges[0], &host.bridges[1]);
    let a = Env::new();
    let b = Env::new();
    configure(&a, shared, 220, &host.table);
    configure(&b, shared, 220, &host.table);
    a.ok(&["run", "-d", "--name", "a1", "busybox", "sleep", "600"]);
    let (a_ip, a_gateway) = ip(&a, "a1");
    assert!(alias(shared).is_some_and(|m| m.contains(&owner_id(&a))), "{:?}", alias(shared));
    let a_rules = host.masquerades();

    // The second root records its default network on the same bridge, then may not use it.
    b.ok(&["network", "ls"]);
    let (_, err) = b.fails(&["run", "-d", "--name", "b1", "busybox", "sleep", "600"]);
    assert!(err.contains("network_default_bridge") && err.contains(&a.root().display().to_string()), "{err}");
    assert!(err.contains(&b.root().join("config.toml").display().to_string()), "{err}");

    // Its own bridge name over the same subnet is refused too; moving its default network off the first
    // root's bridge leaves that bridge alone.
    configure(&b, own, 220, &host.table);
    let (_, err) = b.fails(&["run", "-d", "--name", "b2", "busybox", "sleep", "600"]);
    assert!(err.contains("network_default_subnet") && err.contains(shared.as_str()), "{err}");
    assert_connected(&a, "a1", &a_ip, &a_gateway);

    configure(&b, own, 221, &host.table);
    b.ok(&["run", "-d", "--name", "b3", "busybox", "sleep", "600"]);
    let (b_ip, b_gateway) = ip(&b, "b3");
    assert_ne!(b_ip, a_ip);
    assert!(alias(own).is_some_and(|m| m.contains(&owner_id(&b))), "{:?}", alias(own));
    assert_connected(&b, "b3", &b_ip, &b_gateway);
    assert_connected(&a, "a1", &a_ip, &a_gateway);

    // The second root's teardown (container, then back to the shared name: its own bridge goes, the
    // first root's stays) and its deletion leave the first root's bridge, rules and container as they were.
    b.ok(&["rm", "-f", "b3"]);
    configure(&b, shared, 220, &host.table);
    b.ok(&["network", "ls"]);
    assert!(alias(own).is_none(), "the second root's own bridge is removed with its default network");
    assert!(alias(shared).is_some_and(|m| m.contains(&owner_id(&a))));
    drop(b);
    assert_connected(&a, "a1", &a_ip, &a_gateway);
    let rules = host.rules();
    assert!(rules.contains(&format!("owner:{}", owner_id(&a))), "{rules}");
    assert_eq!(host.masquerades(), a_rules, "{rules}");
}

#[test]
fn a_deleted_roots_rules_and_bridges_do_not_pile_up() {
    if !require_root("a_deleted_roots_rules_and_bridges_do_not_pile_up") {
        return;
    }
    let host = HostObjects::new(2, 4);
    let a = Env::new();
    configure(&a, &host.bridges[0], 222, &host.table);
    a.ok(&["run", "-d", "--name", "a1", "busybox", "sleep", "600"]);
    let a_rules = host.masquerades();
    let mut deleted = Vec::new();
    for i in 1..4 {
        let c = Env::new();
        configure(&c, &host.bridges[i], 222 + i as u8, &host.table);
        c.ok(&["run", "-d", "--name", "c1", "busybox", "sleep", "600"]);
        assert!(host.masquerades() <= 2 * a_rules, "rules of earlier roots are left:\n{}", host.rules());
        c.ok(&["rm", "-f", "c1"]);
        deleted.push(owner_id(&c));
        drop(c);
    }
    // Bridges of the deleted roots went when the next root made its own.
    for bridge in &host.bridges[1..3] {
        assert!(Socket::open().unwrap().link(bridge).unwrap().is_none(), "{bridge} of a deleted root is left");
    }
    a.ok(&["run", "-d", "--name", "a2", "busybox", "sleep", "600"]);
    let rules = host.rules();
    assert_eq!(host.masquerades(), a_rules, "{rules}");
    for id in &deleted {
        assert!(!rules.contains(id.as_str()), "rules of deleted root {id} remain:\n{rules}");
    }
}

#[test]
fn berth_config_naming_a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-config.toml");
    let berth = |config: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("--root").arg(dir.path().join("root")).args(["images", "-q"]).env_remove("BERTH_LOG");
        match config {
            Some(path) => cmd.env("BERTH_CONFIG", path),
            None => cmd.env_remove("BERTH_CONFIG"),
        };
        cmd.output().expect("run berth")
    };
    let out = berth(Some(&missing));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "berth ran with a missing config file");
    assert!(stderr.contains(&missing.display().to_string()) && stderr.contains("does not exist"), "{stderr}");

    std::fs::write(&missing, "max_concurrent_downloads = 2\n").expect("write config");
    assert!(berth(Some(&missing)).status.success());
    // Without BERTH_CONFIG, a missing default file still means defaults.
    if berth_engine::Config::default_path().is_none_or(|path| !path.exists()) {
        let out = berth(None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
