//! `system df`, `system prune`, `info` and `version` over real containers. Needs root (skips loudly
//! otherwise; CI=true forbids skipping).

mod rt;
mod support;

use rt::{Env, require_root};

/// `system df`'s row for `kind`, as its cells.
fn df_row(env: &Env, kind: &str) -> Vec<String> {
    let out = env.ok(&["system", "df"]);
    let line = out.lines().find(|l| l.starts_with(kind)).unwrap_or_else(|| panic!("no {kind} row:\n{out}"));
    line[kind.len()..].split_whitespace().map(str::to_string).collect()
}

#[test]
fn df_info_and_prune_count_as_docker_does() {
    if !require_root("df_info_and_prune_count_as_docker_does") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "up", "-v", "data:/data", "busybox", "sleep", "300"]);
    env.ok(&["run", "--name", "done", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /junk"]);
    env.ok(&["network", "create", "--subnet", &format!("10.231.{}.0/24", env.octet), "idle"]);

    // Images: one, in use, so nothing of it is reclaimable.
    let images = df_row(&env, "Images");
    assert_eq!(&images[..2], ["1", "1"], "{images:?}");
    assert!(images.last().unwrap().ends_with("(0%)"), "{images:?}");
    // Containers: two, one running; the stopped one's 100 kB are reclaimable.
    let containers = df_row(&env, "Containers");
    assert_eq!(&containers[..2], ["2", "1"], "{containers:?}");
    assert_eq!(containers[3], "100kB", "{containers:?}");
    let volumes = df_row(&env, "Local Volumes");
    assert_eq!(&volumes[..2], ["1", "1"], "{volumes:?}");
    assert_eq!(&df_row(&env, "Build Cache")[..2], ["0", "0"]);
    let verbose = env.ok(&["system", "df", "-v"]);
    for section in ["Images space usage:", "Containers space usage:", "Local Volumes space usage:"] {
        assert!(verbose.contains(section), "{verbose}");
    }
    assert!(verbose.contains("done") && verbose.contains("data"), "{verbose}");

    let counts =
        env.ok(&["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}} {{.Images}}"]);
    assert_eq!(counts.trim(), "2 1 1 1");
    let info = env.ok(&["info"]);
    assert!(info.contains(&format!("Docker Root Dir: {}", env.root().display())), "{info}");
    let version = env.ok(&["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));

    let pruned = env.ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:") && pruned.contains("Deleted Networks:\nidle"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space: 100kB"), "{pruned}");
    let left = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left, "up\n", "the running container stays");
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1, "the image a container uses stays");
    assert!(env.ok(&["volume", "ls", "-q"]).contains("data"), "volumes stay without --volumes");
}
