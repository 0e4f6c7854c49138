//! Shared fixtures for berth's integration tests: a real registry, OCI images built in Rust, a
//! fault-injecting fake registry, and a harness that runs the `berth` binary against a temporary root.
//!
//! Each test file includes this with `mod support;` and uses a subset, so unused items are expected.
#![allow(dead_code)]

pub mod berth;
pub mod fake;
pub mod oci;
pub mod registry;

/// Whether this process may do what the tests need root for (device nodes, chown, overlay mounts).
///
/// Off root the test is skipped loudly; under `CI=true` a skip is a failure, so CI cannot go green
/// by skipping.
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("SKIPPED {test}: needs root (device nodes, ownership, overlay mounts)");
    false
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
