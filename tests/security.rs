//! A container's view of its own confinement: cgroupfs, capabilities, seccomp, masked and read-only paths,
//! devices, compared with Docker's documented defaults. Needs root (skips loudly otherwise; CI=true forbids
//! skipping).

mod rt;
mod support;

use rt::{Env, require_root};

/// The limit files a container could try to raise, as (v1 path, v2 file) below the container's cgroup.
const LIMITS: [(&str, &str); 3] = [
    ("memory/memory.limit_in_bytes", "memory.max"),
    ("pids/pids.max", "pids.max"),
    ("cpu/cpu.cfs_quota_us", "cpu.max"),
];

/// The container's limit files as the host sees them, v1 or v2, whichever this host has.
fn host_limits(id: &str) -> Vec<String> {
    LIMITS
        .iter()
        .map(|(v1, v2)| {
            let (ctrl, file) = v1.split_once('/').unwrap();
            let v1 = format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}");
            let v2 = format!("/sys/fs/cgroup/berth/{id}/{v2}");
            std::fs::read_to_string(&v1)
                .or_else(|_| std::fs::read_to_string(&v2))
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect()
}

/// Inside the container: try to raise each limit and make a sub-cgroup, v1 paths and v2 files alike, and
/// report each attempt on a path that exists.
const ESCAPE: &str = r#"
try() { if [ -e "$2" ]; then (echo "$1" > "$2") 2>/dev/null && echo "wrote $2" || echo "refused $2"; fi; }
try 1073741824 /sys/fs/cgroup/memory/memory.limit_in_bytes
try max /sys/fs/cgroup/memory.max
try max /sys/fs/cgroup/pids/pids.max
try max /sys/fs/cgroup/pids.max
try -1 /sys/fs/cgroup/cpu/cpu.cfs_quota_us
try max /sys/fs/cgroup/cpu.max
for d in /sys/fs/cgroup/memory /sys/fs/cgroup; do
  if [ -w "$d" ] || [ -d "$d" ]; then mkdir "$d/escape" 2>/dev/null && echo "made $d/escape" || echo "refused mkdir $d"; fi
done
grep -E ' /sys/fs/cgroup' /proc/self/mountinfo | awk '{print $5, $6}'
"#;

#[test]
fn cgroupfs_is_read_only_unless_privileged() {
    if !require_root("cgroupfs_is_read_only_unless_privileged") {
        return;
    }
    let env = Env::new();
    for (name, extra) in [("plain", &[][..]), ("capless", &["--cap-drop", "ALL"][..])] {
        let mut args = vec!["run", "-d", "--name", name, "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "300"]);
        let id = env.ok(&args).trim().to_string();
        let before = host_limits(&id);
        assert!(before.iter().all(|l| !l.is_empty()), "{name}: limits not found on the host: {before:?}");

        let out = env.ok(&["exec", name, "sh", "-c", ESCAPE]);
        assert!(out.contains("refused"), "{name}: no attempt was made:\n{out}");
        assert!(!out.contains("wrote") && !out.contains("made"), "{name}: the container changed its cgroup:\n{out}");
        // What the container reaches at each mount point is the last mount made there (read-only remounts are
        // stacked on the runtime's first mounts).
        let mut top = std::collections::BTreeMap::new();
        for line in out.lines().filter(|l| l.starts_with("/sys/fs/cgroup")) {
            let (point, opts) = line.split_once(' ').unwrap_or_default();
            top.insert(point, opts);
        }
        assert!(top.len() > 1 || top.contains_key("/sys/fs/cgroup"), "{name}: no cgroup mount seen:\n{out}");
        for (point, opts) in &top {
            assert!(opts.split(',').any(|o| o == "ro"), "{name}: {point} is not read-only ({opts})\n{out}");
        }
        assert_eq!(host_limits(&id), before, "{name}: the host's limits changed");
        env.ok(&["rm", "-f", name]);
        env.assert_no_leftovers(&id);
    }
}

#[test]
fn sub_cgroups_of_a_privileged_container_do_not_block_removal() {
    if !require_root("sub_cgroups_of_a_privileged_container_do_not_block_removal") {
        return;
    }
    let env = Env::new();
    // A privileged container may write cgroupfs, as in Docker: it nests cgroups and moves itself down.
    let script = "d=/sys/fs/cgroup/memory; [ -d $d ] || d=/sys/fs/cgroup; \
                  mkdir -p $d/sub/deeper && echo $$ > $d/sub/deeper/cgroup.procs && echo nested; exec sleep 300";
    let id =
        env.ok(&["run", "-d", "--privileged", "--name", "nester", "busybox", "sh", "-c", script]).trim().to_string();
    env.wait_for("the container to nest its cgroup", 10, || env.ok(&["logs", "nester"]).contains("nested"));
    env.ok(&["rm", "-f", "nester"]);
    env.assert_no_leftovers(&id);
    assert!(env.ids().is_empty(), "the container must be gone");
}

/// Docker's documented defaults for a container run without options, as `POSTURE` prints them: the 14 default
/// capabilities (none inheritable or ambient), no no_new_privs, a seccomp filter, the masked paths empty, the
/// read-only paths and cgroupfs read-only, its own /dev with the standard devices, and the device cgroup
/// allowing mknod but no access to host block devices. One known difference: runc also links /dev/core to
/// /proc/kcore, a masked path; libcontainer makes no such link.
const DOCKER_DEFAULTS: &str = "\
CapInh:\t0000000000000000
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t2
masked /proc/asound
masked /proc/acpi
masked /proc/interrupts
masked /proc/kcore
masked /proc/keys
masked /proc/latency_stats
masked /proc/timer_list
masked /proc/timer_stats
masked /proc/sched_debug
masked /proc/scsi
masked /sys/firmware
masked /sys/devices/virtual/powercap
ro /proc/bus
ro /proc/fs
ro /proc/irq
ro /proc/sys
ro /proc/sysrq-trigger
ro /sys
ro /sys/fs/cgroup
devices: fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero
mknod: allowed
block device: refused
";

/// Prints the container's view of its confinement in `DOCKER_DEFAULTS`' shape. A masked path reads as empty
/// (or is absent on this kernel); a read-only path is one whose mount says `ro` (or is absent).
const POSTURE: &str = r#"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
for p in /proc/asound /proc/acpi /proc/interrupts /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list \
         /proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware /sys/devices/virtual/powercap; do
  if [ ! -e $p ]; then echo "masked $p"
  elif [ -d $p ]; then [ -z "$(ls -A $p)" ] && echo "masked $p" || echo "visible $p"
  else [ "$(head -c 1 $p 2>/dev/null | wc -c)" = 0 ] && echo "masked $p" || echo "visible $p"; fi
done
mount_opts() { awk -v m="$1" '$5 == m {o=$6} END {print o}' /proc/self/mountinfo; }
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger /sys /sys/fs/cgroup; do
  if [ ! -e $p ]; then echo "ro $p"; else
    case ",$(mount_opts $p)," in *,ro,*) echo "ro $p";; *) echo "rw $p";; esac
  fi
done
echo "devices: $(ls /dev | tr '\n' ' ' | sed 's/ $//')"
mknod /tmp/blk b 7 0 2>/dev/null && echo "mknod: allowed" || echo "mknod: refused"
head -c 1 /tmp/blk >/dev/null 2>&1 && echo "block device: readable" || echo "block device: refused"
"#;

#[test]
fn security_posture_matches_dockers_defaults() {
    if !require_root("security_posture_matches_dockers_defaults") {
        return;
    }
    let env = Env::new();
    let view = env.ok(&["run", "--rm", "busybox", "sh", "-c", POSTURE]);
    assert_eq!(view, DOCKER_DEFAULTS, "the container's view (left) differs from Docker's defaults (right)");
}

/// What the monitor holds open while it makes a container (its procfs handle, the layer images' mounts, the
/// container's mount namespace) is close-on-exec: the command starts with its stdio alone, whether its
/// monitor stood by before the container was made (`run`) or was started for it (`create` then `start`).
#[test]
fn a_containers_command_starts_with_its_stdio_alone() {
    if !require_root("a_containers_command_starts_with_its_stdio_alone") {
        return;
    }
    let env = Env::new();
    let list = "ls -l /proc/$$/fd";
    let created = env.ok(&["create", "--network", "none", "busybox", "sh", "-c", list]).trim().to_string();
    for out in
        [env.ok(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", list]), env.ok(&["start", "-a", &created])]
    {
        // `... 1 -> pipe:[123]`: the fd ends what is left of the arrow.
        let fds: Vec<(&str, &str)> = out
            .lines()
            .filter_map(|l| l.split_once(" -> "))
            .map(|(left, target)| (left.rsplit(' ').next().unwrap_or_default(), target))
            .collect();
        assert_eq!(fds.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(), ["0", "1", "2"], "{out}");
        assert_eq!(fds[0].1, "/dev/null", "{out}");
        assert!(fds[1..].iter().all(|(_, target)| target.starts_with("pipe:")), "{out}");
    }
    env.ok(&["rm", &created]);
}
