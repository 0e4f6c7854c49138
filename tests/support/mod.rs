//! Shared fixtures for berth's integration tests: a real registry, OCI images built in Rust, a
//! fault-injecting fake registry, and a harness that runs the `berth` binary against a temporary root.
//!
//! Each test file includes this with `mod support;` and uses a subset, so unused items are expected.
#![allow(dead_code)]

pub mod berth;
pub mod certs;
pub mod fake;
pub mod oci;
pub mod podman;
pub mod registry;

pub use berth_engine::testing::require_root;

/// The third octet for a run's `10.S.O.0/24` subnets (S from `seconds`): the pid's, or the next one that no
/// interface on the machine holds for any S — a bridge a crashed run left behind would otherwise make berth
/// refuse this run's overlapping subnet.
pub fn free_octet(seconds: &[u32]) -> u32 {
    let out = std::process::Command::new("ip").args(["-o", "-4", "addr", "show"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let used: Vec<(u32, u32)> = text
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("10."))
        .filter_map(|rest| {
            let mut parts = rest.split('.');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    let start = std::process::id() % 250;
    (0..250)
        .map(|i| (start + i) % 250)
        .find(|octet| seconds.iter().all(|s| !used.contains(&(*s, *octet))))
        .unwrap_or(start)
}

/// Deletes a test's own default bridge and nftables table, whatever state the test left them in.
pub fn remove_host_network(bridge: &str, table: &str) {
    if let Ok(mut sock) = berth_engine::network::netlink::Socket::open() {
        let _ = sock.delete_link(bridge);
    }
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "inet", table])
        .stderr(std::process::Stdio::null())
        .status();
}
