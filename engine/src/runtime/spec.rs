//! The OCI runtime spec (`config.json`) for one container: the image's Entrypoint/Cmd/Env/WorkingDir/User
//! merged with the run options, under Docker's security defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder,
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder, get_default_mounts,
};

use super::options::{RunOptions, SeccompChoice};
use super::seccomp::{DEFAULT_PROFILE, SeccompProfile};
use super::{RuntimeError, caps, user};
use crate::inroot::Root;

/// Where `--init`'s binary is bind-mounted inside the container.
const INIT_PATH_IN_CONTAINER: &str = "/dev/init";

/// Static init binaries (catatonit, tini) looked for on the host for `--init`, in order.
const INIT_CANDIDATES: [&str; 5] = [
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
    "/usr/bin/tini-static",
    "/usr/bin/tini",
    "/usr/bin/docker-init",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's masked paths: readable host information a container has no business seeing.
const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Where the container sees cgroupfs.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// cgroupfs as read-only paths: `/sys/fs/cgroup` and, below it, every cgroup hierarchy the host mounts there.
///
/// Docker and Podman give non-privileged containers a read-only cgroupfs, so a container cannot raise its own
/// limits or make sub-cgroups. The spec's cgroup mount says `ro`, but on cgroup v1 libcontainer mounts a
/// writable tmpfs and binds each controller's cgroup into it read-write, whatever the options say. Read-only
/// paths are remounted read-only after every mount is made, one mount each (not recursively), so the tmpfs
/// and each controller's bind are listed; on v2 the first entry covers the single cgroup2 mount. A hierarchy
/// libcontainer did not mount is skipped by the runtime (a missing read-only path is not an error).
fn cgroup_readonly_paths(mountinfo: &str) -> Vec<String> {
    let mut paths = vec![CGROUP_MOUNT.to_string()];
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else { continue };
        let mount_point = before.split(' ').nth(4).unwrap_or_default();
        let fs_type = after.split(' ').next().unwrap_or_default();
        let Some(name) = mount_point.strip_prefix(CGROUP_MOUNT).and_then(|rest| rest.strip_prefix('/')) else {
            continue;
        };
        if matches!(fs_type, "cgroup" | "cgroup2") && !name.is_empty() && !name.contains('/') {
            let path = format!("{CGROUP_MOUNT}/{name}");
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// Everything the spec is generated from.
pub struct SpecInput<'a> {
    /// The container id: names errors and gives the default hostname.
    pub id: &'a str,
    pub image: &'a ImageConfiguration,
    pub options: &'a RunOptions,
    /// The mounted rootfs; /etc/passwd and /etc/group are read from it to resolve `--user`.
    pub rootfs: &'a Path,
    /// cgroup path relative to the cgroup root of each controller, e.g. `/berth/<id>`.
    pub cgroups_path: &'a str,
    /// The host binary bind-mounted as the container's init, when `--init` was given.
    pub init_binary: Option<&'a Path>,
    /// Whether the container gets its own network namespace (not with `--network host`).
    pub network_namespace: bool,
    /// Host files bind-mounted over files of the container, e.g. `/etc/hosts` (destination, source).
    pub etc_files: &'a [(String, PathBuf)],
    /// Namespaces joined rather than made (`container:NAME` modes): each kind with its `/proc/PID/ns/...`.
    pub joined: &'a [(SharedNamespace, PathBuf)],
}

/// A namespace another container can share (`--network`, `--pid`, `--ipc container:NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedNamespace {
    Network,
    Pid,
    Ipc,
}

impl SharedNamespace {
    /// Its name under `/proc/PID/ns/`.
    pub fn proc_name(&self) -> &'static str {
        match self {
            SharedNamespace::Network => "net",
            SharedNamespace::Pid => "pid",
            SharedNamespace::Ipc => "ipc",
        }
    }

    fn oci(&self) -> LinuxNamespaceType {
        match self {
            SharedNamespace::Network => LinuxNamespaceType::Network,
            SharedNamespace::Pid => LinuxNamespaceType::Pid,
            SharedNamespace::Ipc => LinuxNamespaceType::Ipc,
        }
    }
}

impl std::fmt::Display for SharedNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SharedNamespace::Network => "network",
            SharedNamespace::Pid => "PID",
            SharedNamespace::Ipc => "IPC",
        })
    }
}

/// Looks for an init binary on the host for `--init`.
pub fn find_init_binary() -> Result<PathBuf, RuntimeError> {
    INIT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| RuntimeError::NoInitBinary { searched: INIT_CANDIDATES.join(", ") })
}

/// Builds the container's OCI runtime spec.
pub fn build_spec(input: &SpecInput<'_>) -> Result<Spec, RuntimeError> {
    let opts = input.options;
    let image = input.image.config().as_ref();

    let args = command_line(input)?;
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(RuntimeError::RelativeWorkdir { dir: cwd });
    }

    let user_spec = opts.user.clone().or_else(|| image.and_then(|c| c.user().clone()));
    let read = |path: &str| read_in_rootfs(input.rootfs, path);
    let group_file = read("/etc/group")?;
    let mut identity =
        user::resolve(input.id, user_spec.as_deref(), read("/etc/passwd")?.as_deref(), group_file.as_deref())?;
    for entry in &opts.group_add {
        let gid = user::group_id(entry, group_file.as_deref())
            .ok_or_else(|| RuntimeError::UnknownGroup { id: input.id.to_string(), group: entry.clone() })?;
        if !identity.additional_gids.contains(&gid) {
            identity.additional_gids.push(gid);
        }
    }

    let hostname = opts.hostname.clone().unwrap_or_else(|| input.id.chars().take(12).collect());
    let mut env = environment(image.and_then(|c| c.env().as_ref()), &opts.env, &hostname, identity.home.as_deref());
    // Docker's `-t`: a terminal type for programs that need one, unless the image or user chose.
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }

    let capabilities = caps::resolve(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    let seccomp = match (&opts.seccomp, opts.privileged) {
        (_, true) | (SeccompChoice::Unconfined, _) => None,
        (SeccompChoice::Default, false) => {
            Some(SeccompProfile::parse("default", DEFAULT_PROFILE)?.to_oci(&capabilities)?)
        }
        (SeccompChoice::Profile { path, json }, false) => {
            Some(SeccompProfile::parse(path, json)?.to_oci(&capabilities)?)
        }
    };

    let invalid = |what: &str, err: oci_spec::OciSpecError| RuntimeError::InvalidOption {
        option: "spec",
        value: what.to_string(),
        reason: err.to_string(),
    };

    let mut user = UserBuilder::default().uid(identity.uid).gid(identity.gid);
    if !identity.additional_gids.is_empty() {
        user = user.additional_gids(identity.additional_gids.clone());
    }
    let mut process = ProcessBuilder::default()
        .terminal(opts.tty)
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(user.build().map_err(|e| invalid("user", e))?)
        .capabilities(capability_sets(capabilities).map_err(|e| invalid("capabilities", e))?)
        .rlimits(rlimits(opts).map_err(|e| invalid("rlimits", e))?)
        .build()
        .map_err(|e| invalid("process", e))?;
    // Unset rather than false: libcontainer loads seccomp before dropping capabilities only when the field
    // is absent; with `false` it would load it later, unprivileged, and fail.
    process.set_no_new_privileges(opts.no_new_privileges.then_some(true));

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces(input.network_namespace, opts, input.joined).map_err(|e| invalid("namespaces", e))?)
        .devices(devices(opts).map_err(|e| invalid("--device", e))?)
        .cgroups_path(PathBuf::from(input.cgroups_path))
        .resources(resources(opts).map_err(|e| invalid("resources", e))?);
    let (masked, readonly): (Vec<String>, Vec<String>) = if opts.privileged {
        (Vec::new(), Vec::new())
    } else {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let readonly = READONLY_PATHS.iter().map(|p| p.to_string()).chain(cgroup_readonly_paths(&mountinfo));
        (MASKED_PATHS.iter().map(|p| p.to_string()).collect(), readonly.collect())
    };
    linux = linux.masked_paths(masked).readonly_paths(readonly);
    if let Some(seccomp) = seccomp {
        linux = linux.seccomp(seccomp);
    }
    if !opts.sysctls.is_empty() {
        linux = linux.sysctl(opts.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>());
    }

    let annotations: HashMap<String, String> = opts.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    SpecBuilder::default()
        .version("1.0.2")
        .hostname(hostname)
        .root(
            RootBuilder::default()
                .path(input.rootfs.to_path_buf())
                .readonly(opts.read_only)
                .build()
                .map_err(|e| invalid("root", e))?,
        )
        .process(process)
        .mounts(mounts(opts, input.init_binary, input.etc_files).map_err(|e| invalid("mounts", e))?)
        .linux(linux.build().map_err(|e| invalid("linux", e))?)
        .annotations(annotations)
        .build()
        .map_err(|e| invalid("spec", e))
}

/// A small text file of the image (`/etc/passwd`), symlinks followed inside `rootfs`; `None` when missing.
fn read_in_rootfs(rootfs: &Path, path: &str) -> Result<Option<String>, RuntimeError> {
    Root::open(rootfs)
        .and_then(|root| root.read_to_string(path))
        .map_err(|err| RuntimeError::io("read", rootfs.join(path.trim_start_matches('/')), err))
}

/// An exec's `-u user[:group]` resolved against the container's /etc/passwd and /etc/group under `rootfs`:
/// uid, gid and supplementary gids.
pub fn resolve_user_in(id: &str, rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>), RuntimeError> {
    let read = |path: &str| read_in_rootfs(rootfs, path);
    let identity = user::resolve(id, Some(user), read("/etc/passwd")?.as_deref(), read("/etc/group")?.as_deref())?;
    Ok((identity.uid, identity.gid, identity.additional_gids))
}

/// Every capability this process may grant, as a spec's capability sets: `exec --privileged`.
pub fn privileged_capabilities() -> Result<oci_spec::runtime::LinuxCapabilities, RuntimeError> {
    capability_sets(caps::resolve(&[], &[], true)?).map_err(|e| RuntimeError::InvalidOption {
        option: "--privileged",
        value: "capabilities".to_string(),
        reason: e.to_string(),
    })
}

/// Docker's rule: `--entrypoint` replaces the image's Entrypoint and drops its Cmd; arguments after
/// the image replace Cmd.
pub fn effective_command(image: &ImageConfiguration, opts: &RunOptions) -> Vec<String> {
    let image = image.config().as_ref();
    let (entrypoint, image_cmd) = match &opts.entrypoint {
        Some(ep) => (ep.clone(), Vec::new()),
        None => (
            image.and_then(|c| c.entrypoint().clone()).unwrap_or_default(),
            image.and_then(|c| c.cmd().clone()).unwrap_or_default(),
        ),
    };
    let cmd = if opts.cmd.is_empty() { image_cmd } else { opts.cmd.clone() };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The process's argv: the effective command, behind the init binary with `--init`.
fn command_line(input: &SpecInput<'_>) -> Result<Vec<String>, RuntimeError> {
    let mut args = effective_command(input.image, input.options);
    if args.is_empty() {
        return Err(RuntimeError::NoCommand { id: input.id.to_string() });
    }
    if input.init_binary.is_some() {
        let mut with_init = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    Ok(args)
}

/// Image Env, then `-e` entries replacing same-named ones; PATH, HOSTNAME and HOME filled in when absent.
fn environment(
    image_env: Option<&Vec<String>>,
    user_env: &[String],
    hostname: &str,
    home: Option<&str>,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let key = |entry: &str| entry.split_once('=').map_or(entry.to_string(), |(k, _)| k.to_string());
    let set = |entry: &str, env: &mut Vec<String>| {
        let k = key(entry);
        env.retain(|e| key(e) != k);
        env.push(entry.to_string());
    };
    if !image_env.is_some_and(|e| e.iter().any(|e| key(e) == "PATH")) {
        set(DEFAULT_PATH, &mut env);
    }
    set(&format!("HOSTNAME={hostname}"), &mut env);
    for entry in image_env.into_iter().flatten().chain(user_env) {
        set(entry, &mut env);
    }
    if let Some(home) = home.filter(|h| !h.is_empty())
        && !env.iter().any(|e| key(e) == "HOME")
    {
        env.push(format!("HOME={home}"));
    }
    env
}

fn capability_sets(caps: Capabilities) -> Result<oci_spec::runtime::LinuxCapabilities, oci_spec::OciSpecError> {
    LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
}

/// Open files: as high as this process may grant (root here lacks CAP_SYS_RESOURCE, so asking for
/// more than the current hard limit would fail the container with EPERM), at most Docker's 1048576.
fn nofile_rlimit() -> Result<oci_spec::runtime::PosixRlimit, oci_spec::OciSpecError> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum.unwrap_or(1_048_576).min(1_048_576);
    PosixRlimitBuilder::default().typ(PosixRlimitType::RlimitNofile).hard(hard).soft(hard).build()
}

/// `nofile` as [`nofile_rlimit`] sets it, then each `--ulimit` (replacing `nofile` when given).
fn rlimits(opts: &RunOptions) -> Result<Vec<oci_spec::runtime::PosixRlimit>, oci_spec::OciSpecError> {
    let mut limits = Vec::new();
    if !opts.ulimits.iter().any(|u| u.name == "nofile") {
        limits.push(nofile_rlimit()?);
    }
    for u in &opts.ulimits {
        let typ = match u.name.as_str() {
            "core" => PosixRlimitType::RlimitCore,
            "cpu" => PosixRlimitType::RlimitCpu,
            "data" => PosixRlimitType::RlimitData,
            "fsize" => PosixRlimitType::RlimitFsize,
            "locks" => PosixRlimitType::RlimitLocks,
            "memlock" => PosixRlimitType::RlimitMemlock,
            "msgqueue" => PosixRlimitType::RlimitMsgqueue,
            "nice" => PosixRlimitType::RlimitNice,
            "nofile" => PosixRlimitType::RlimitNofile,
            "nproc" => PosixRlimitType::RlimitNproc,
            "rss" => PosixRlimitType::RlimitRss,
            "rtprio" => PosixRlimitType::RlimitRtprio,
            "rttime" => PosixRlimitType::RlimitRttime,
            "sigpending" => PosixRlimitType::RlimitSigpending,
            _ => PosixRlimitType::RlimitStack,
        };
        limits.push(PosixRlimitBuilder::default().typ(typ).soft(u.soft_value()).hard(u.hard_value()).build()?);
    }
    Ok(limits)
}

/// `--device` nodes the runtime makes in the container's /dev, with the host node's mode and owner.
fn devices(opts: &RunOptions) -> Result<Vec<LinuxDevice>, oci_spec::OciSpecError> {
    opts.devices
        .iter()
        .map(|d| {
            LinuxDeviceBuilder::default()
                .path(PathBuf::from(&d.path_in_container))
                .typ(device_type(&d.kind))
                .major(d.major)
                .minor(d.minor)
                .file_mode(d.file_mode)
                .uid(d.uid)
                .gid(d.gid)
                .build()
        })
        .collect()
}

fn device_type(kind: &str) -> LinuxDeviceType {
    if kind == "b" { LinuxDeviceType::B } else { LinuxDeviceType::C }
}

/// The container's namespaces: all of them, less the ones it shares with the host (`--network host`,
/// `--ipc host`, `--pid host`); a joined one (`container:NAME`) carries the path the runtime enters.
fn namespaces(
    network: bool,
    opts: &RunOptions,
    joined: &[(SharedNamespace, PathBuf)],
) -> Result<Vec<oci_spec::runtime::LinuxNamespace>, oci_spec::OciSpecError> {
    let path = |typ: LinuxNamespaceType| joined.iter().find(|(kind, _)| kind.oci() == typ).map(|(_, p)| p.clone());
    [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ]
    .into_iter()
    .filter(|typ| match typ {
        LinuxNamespaceType::Network => network || path(*typ).is_some(),
        LinuxNamespaceType::Ipc => !opts.host_ipc(),
        LinuxNamespaceType::Pid => !opts.host_pid(),
        _ => true,
    })
    .map(|typ| {
        let mut builder = LinuxNamespaceBuilder::default().typ(typ);
        if let Some(p) = path(typ) {
            builder = builder.path(p);
        }
        builder.build()
    })
    .collect()
}

/// Docker's device allowlist: deny all, then mknod of any device, and the usual character devices.
fn device_rules(opts: &RunOptions) -> Result<Vec<LinuxDeviceCgroup>, oci_spec::OciSpecError> {
    let privileged = opts.privileged;
    let rule = |allow: bool, typ: Option<LinuxDeviceType>, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(access.to_string());
        if let Some(typ) = typ {
            b = b.typ(typ);
        }
        if let Some(major) = major {
            b = b.major(major);
        }
        if let Some(minor) = minor {
            b = b.minor(minor);
        }
        b.build()
    };
    if privileged {
        return Ok(vec![rule(true, None, None, None, "rwm")?]);
    }
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![
        rule(false, None, None, None, "rwm")?,
        rule(true, c, None, None, "m")?,
        rule(true, Some(LinuxDeviceType::B), None, None, "m")?,
        rule(true, c, Some(1), Some(3), "rwm")?,    // null
        rule(true, c, Some(1), Some(5), "rwm")?,    // zero
        rule(true, c, Some(1), Some(7), "rwm")?,    // full
        rule(true, c, Some(1), Some(8), "rwm")?,    // random
        rule(true, c, Some(1), Some(9), "rwm")?,    // urandom
        rule(true, c, Some(5), Some(0), "rwm")?,    // tty
        rule(true, c, Some(5), Some(2), "rwm")?,    // ptmx
        rule(true, c, Some(136), None, "rwm")?,     // pts
        rule(true, c, Some(10), Some(200), "rwm")?, // tun
    ];
    for d in &opts.devices {
        rules.push(rule(true, Some(device_type(&d.kind)), Some(d.major), Some(d.minor), &d.cgroup_permissions)?);
    }
    Ok(rules)
}

fn resources(opts: &RunOptions) -> Result<oci_spec::runtime::LinuxResources, oci_spec::OciSpecError> {
    let mut r = LinuxResourcesBuilder::default().devices(device_rules(opts)?);
    if let Some(limit) = opts.memory {
        let mut memory = LinuxMemoryBuilder::default().limit(limit);
        if let Some(swap) = opts.memory_swap {
            memory = memory.swap(swap);
        }
        r = r.memory(memory.build()?);
    }
    if let Some(cpus) = opts.cpus {
        let period: u64 = 100_000;
        let quota = (cpus * period as f64).round() as i64;
        r = r.cpu(LinuxCpuBuilder::default().period(period).quota(quota).build()?);
    }
    if let Some(pids) = opts.pids_limit {
        r = r.pids(LinuxPidsBuilder::default().limit(pids).build()?);
    }
    r.build()
}

fn mounts(
    opts: &RunOptions,
    init_binary: Option<&Path>,
    etc_files: &[(String, PathBuf)],
) -> Result<Vec<Mount>, oci_spec::OciSpecError> {
    let mut mounts = get_default_mounts();
    if opts.privileged {
        // A privileged container may write to /sys, as in Docker.
        for m in mounts.iter_mut().filter(|m| m.destination() == Path::new("/sys")) {
            m.set_options(Some(vec!["nosuid".into(), "noexec".into(), "nodev".into()]));
        }
    }
    if let Some(size) = opts.shm_size {
        for m in mounts.iter_mut().filter(|m| m.destination() == Path::new("/dev/shm")) {
            let options = m.options().clone().unwrap_or_default().into_iter().filter(|o| !o.starts_with("size="));
            m.set_options(Some(options.chain([format!("size={size}")]).collect()));
        }
    }
    if let Some(init) = init_binary {
        mounts.push(
            MountBuilder::default()
                .destination(INIT_PATH_IN_CONTAINER)
                .typ("bind")
                .source(init.to_path_buf())
                .options(vec!["bind".into(), "ro".into(), "nosuid".into(), "nodev".into()])
                .build()?,
        );
    }
    for (destination, source) in etc_files {
        mounts.push(
            MountBuilder::default()
                .destination(destination)
                .typ("bind")
                .source(source.clone())
                .options(vec!["rbind".into(), "rprivate".into(), "nosuid".into(), "nodev".into(), "noexec".into()])
                .build()?,
        );
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

    struct Fixture {
        rootfs: tempfile::TempDir,
        image: ImageConfiguration,
    }

    fn fixture() -> Fixture {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(rootfs.path().join("etc")).unwrap();
        std::fs::write(
            rootfs.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.path().join("etc/group"), "root:x:0:\nwww:x:33:\n").unwrap();
        let config = ConfigBuilder::default()
            .entrypoint(vec!["/entry".to_string()])
            .cmd(vec!["serve".to_string(), "--port=80".to_string()])
            .env(vec!["PATH=/opt/bin:/bin".to_string(), "MODE=image".to_string()])
            .working_dir("/srv".to_string())
            .user("www".to_string())
            .build()
            .unwrap();
        let image = ImageConfigurationBuilder::default().config(config).build().unwrap();
        Fixture { rootfs, image }
    }

    fn spec_for(f: &Fixture, options: &RunOptions, init: Option<&Path>) -> Result<Spec, RuntimeError> {
        build_spec(&SpecInput {
            id: "0123456789abcdef0123",
            image: &f.image,
            options,
            rootfs: f.rootfs.path(),
            cgroups_path: "/berth/0123456789abcdef0123",
            init_binary: init,
            network_namespace: options.network.as_deref() != Some("host"),
            etc_files: &[],
            joined: &[],
        })
    }

    #[test]
    fn kernel_flags_shape_the_spec() {
        use super::super::{DeviceMapping, Ulimit};
        let f = fixture();
        let opts = RunOptions {
            ulimits: vec![Ulimit::parse("nofile=100:200").unwrap(), Ulimit::parse("nproc=5").unwrap()],
            devices: vec![DeviceMapping::parse("/dev/null:/dev/n:r").unwrap()],
            shm_size: Some(1 << 20),
            group_add: vec!["www".into(), "777".into()],
            sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
            ipc_mode: Some("host".into()),
            pid_mode: Some("host".into()),
            ..RunOptions::default()
        };
        let spec = spec_for(&f, &opts, None).unwrap();
        let process = spec.process().as_ref().unwrap();
        let limits: Vec<_> =
            process.rlimits().as_ref().unwrap().iter().map(|r| (r.typ(), r.soft(), r.hard())).collect();
        assert_eq!(limits, [(PosixRlimitType::RlimitNofile, 100, 200), (PosixRlimitType::RlimitNproc, 5, 5)]);
        assert_eq!(process.user().additional_gids().as_ref().unwrap(), &vec![33, 777]);
        let linux = spec.linux().as_ref().unwrap();
        let kinds: Vec<_> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        assert!(!kinds.contains(&LinuxNamespaceType::Ipc) && !kinds.contains(&LinuxNamespaceType::Pid), "{kinds:?}");
        assert_eq!(linux.sysctl().as_ref().unwrap()["net.ipv4.ip_forward"], "1");
        let device = &linux.devices().as_ref().unwrap()[0];
        assert_eq!((device.path().to_str(), device.major(), device.minor()), (Some("/dev/n"), 1, 3));
        let rule = linux.resources().as_ref().unwrap().devices().as_ref().unwrap().last().unwrap().clone();
        assert_eq!(
            (rule.allow(), rule.major(), rule.minor(), rule.access().as_deref()),
            (true, Some(1), Some(3), Some("r"))
        );
        let shm = spec.mounts().as_ref().unwrap().iter().find(|m| m.destination() == Path::new("/dev/shm")).unwrap();
        assert!(shm.options().as_ref().unwrap().contains(&"size=1048576".to_string()));
    }

    #[test]
    fn tty_gives_a_terminal_and_a_term() {
        let f = fixture();
        let plain = spec_for(&f, &RunOptions::default(), None).unwrap();
        let p = plain.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(false));
        assert!(!p.env().as_ref().unwrap().iter().any(|e| e.starts_with("TERM=")));
        let tty = spec_for(&f, &RunOptions { tty: true, ..RunOptions::default() }, None).unwrap();
        let p = tty.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert!(p.env().as_ref().unwrap().contains(&"TERM=xterm".to_string()));
        let own = RunOptions { tty: true, env: vec!["TERM=vt100".into()], ..RunOptions::default() };
        let env = spec_for(&f, &own, None).unwrap().process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(env.iter().filter(|e| e.starts_with("TERM=")).collect::<Vec<_>>(), vec!["TERM=vt100"]);
    }

    #[test]
    fn exec_users_resolve_in_the_rootfs() {
        let f = fixture();
        assert_eq!(resolve_user_in("c", f.rootfs.path(), "www").unwrap(), (33, 33, Vec::new()));
        assert_eq!(resolve_user_in("c", f.rootfs.path(), "1000:33").unwrap().0, 1000);
        assert!(resolve_user_in("c", f.rootfs.path(), "nobody-here").is_err());
    }

    #[test]
    fn image_config_drives_the_process() {
        let f = fixture();
        let spec = spec_for(&f, &RunOptions::default(), None).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &vec!["/entry", "serve", "--port=80"]);
        assert_eq!(p.cwd(), Path::new("/srv"));
        assert_eq!((p.user().uid(), p.user().gid()), (33, 33));
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&"PATH=/opt/bin:/bin".to_string()));
        assert!(env.contains(&"HOSTNAME=0123456789ab".to_string()));
        assert!(env.contains(&"HOME=/var/www".to_string()));
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
    }

    #[test]
    fn run_options_override_the_image() {
        let f = fixture();
        let opts = RunOptions {
            cmd: vec!["echo".into(), "hi".into()],
            env: vec!["MODE=run".into(), "EXTRA=1".into()],
            workdir: Some("/tmp".into()),
            user: Some("1000:1000".into()),
            hostname: Some("box".into()),
            read_only: true,
            ..RunOptions::default()
        };
        let spec = spec_for(&f, &opts, None).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &vec!["/entry", "echo", "hi"]);
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&"MODE=run".to_string()) && !env.contains(&"MODE=image".to_string()));
        assert!(env.contains(&"EXTRA=1".to_string()));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(spec.hostname().as_deref(), Some("box"));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));

        let cleared = RunOptions { entrypoint: Some(vec![]), cmd: vec!["sh".into()], ..RunOptions::default() };
        let spec = spec_for(&f, &cleared, None).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().args().as_ref().unwrap(), &vec!["sh"]);

        let replaced = RunOptions { entrypoint: Some(vec!["/bin/top".into()]), ..RunOptions::default() };
        let spec = spec_for(&f, &replaced, None).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().args().as_ref().unwrap(), &vec!["/bin/top"]);
    }

    #[test]
    fn cgroupfs_is_read_only_on_v1_hybrid_and_v2() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            50 23 0:40 / /sys/fs/cgroup/memory/berth/x rw - cgroup cgroup rw,memory\n\
            60 1 0:41 / /srv/sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            cgroup_readonly_paths(hybrid),
            [
                "/sys/fs/cgroup",
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified"
            ]
        );
        let v2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup_readonly_paths(v2), ["/sys/fs/cgroup"]);
        assert_eq!(cgroup_readonly_paths(""), ["/sys/fs/cgroup"]);
    }

    #[test]
    fn docker_security_defaults() {
        let f = fixture();
        let spec = spec_for(&f, &RunOptions::default(), None).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        assert_eq!(caps.effective().as_ref().unwrap().len(), 14);
        assert!(caps.ambient().as_ref().unwrap().is_empty());
        assert!(linux.masked_paths().as_ref().unwrap().contains(&"/proc/kcore".to_string()));
        assert!(linux.readonly_paths().as_ref().unwrap().contains(&"/proc/sys".to_string()));
        assert!(linux.readonly_paths().as_ref().unwrap().contains(&"/sys/fs/cgroup".to_string()));
        assert!(linux.seccomp().is_some());
        let kinds: Vec<_> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        for k in [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing");
        }
        let devices = linux.resources().as_ref().unwrap().devices().as_ref().unwrap();
        assert!(!devices[0].allow() && devices[0].typ().is_none());
        assert!(devices.iter().any(|d| d.allow() && d.major() == Some(1) && d.minor() == Some(3)));
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/berth/0123456789abcdef0123")));
        assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), None);
        let nnp = spec_for(&f, &RunOptions { no_new_privileges: true, ..RunOptions::default() }, None).unwrap();
        assert_eq!(nnp.process().as_ref().unwrap().no_new_privileges(), Some(true));
    }

    #[test]
    fn host_network_drops_the_namespace_and_etc_files_are_bound() {
        let f = fixture();
        let host = RunOptions { network: Some("host".into()), ..RunOptions::default() };
        let spec = spec_for(&f, &host, None).unwrap();
        let kinds: Vec<_> =
            spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        assert!(!kinds.contains(&LinuxNamespaceType::Network) && kinds.contains(&LinuxNamespaceType::Pid));
        let files = [("/etc/hosts".to_string(), PathBuf::from("/state/c/hosts"))];
        let spec = build_spec(&SpecInput {
            id: "0123456789abcdef0123",
            image: &f.image,
            options: &RunOptions::default(),
            rootfs: f.rootfs.path(),
            cgroups_path: "/berth/0123456789abcdef0123",
            init_binary: None,
            network_namespace: true,
            etc_files: &files,
            joined: &[],
        })
        .unwrap();
        let hosts = spec.mounts().as_ref().unwrap().iter().find(|m| m.destination() == Path::new("/etc/hosts"));
        assert_eq!(hosts.and_then(|m| m.source().clone()), Some(PathBuf::from("/state/c/hosts")));
    }

    #[test]
    fn joined_namespaces_carry_their_paths() {
        let f = fixture();
        let joined = [
            (SharedNamespace::Network, PathBuf::from("/proc/7/ns/net")),
            (SharedNamespace::Ipc, PathBuf::from("/proc/7/ns/ipc")),
        ];
        let spec = build_spec(&SpecInput {
            id: "0123456789abcdef0123",
            image: &f.image,
            options: &RunOptions::default(),
            rootfs: f.rootfs.path(),
            cgroups_path: "/berth/0123456789abcdef0123",
            init_binary: None,
            network_namespace: false,
            etc_files: &[],
            joined: &joined,
        })
        .unwrap();
        let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let path = |typ| namespaces.iter().find(|n| n.typ() == typ).map(|n| n.path().clone());
        assert_eq!(path(LinuxNamespaceType::Network), Some(Some(PathBuf::from("/proc/7/ns/net"))));
        assert_eq!(path(LinuxNamespaceType::Ipc), Some(Some(PathBuf::from("/proc/7/ns/ipc"))));
        assert_eq!(path(LinuxNamespaceType::Pid), Some(None), "a namespace not joined is the container's own");
    }

    #[test]
    fn privileged_and_unconfined() {
        let f = fixture();
        let spec = spec_for(&f, &RunOptions { privileged: true, ..RunOptions::default() }, None).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().as_ref().is_none_or(|p| p.is_empty()));
        assert!(linux.readonly_paths().as_ref().is_none_or(|p| p.is_empty()));
        let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        assert!(caps.effective().as_ref().unwrap().len() > 14);

        let spec =
            spec_for(&f, &RunOptions { seccomp: SeccompChoice::Unconfined, ..RunOptions::default() }, None).unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        assert!(spec.linux().as_ref().unwrap().masked_paths().is_some());
    }

    #[test]
    fn limits_become_resources() {
        let f = fixture();
        let opts =
            RunOptions { memory: Some(64 << 20), cpus: Some(1.5), pids_limit: Some(50), ..RunOptions::default() };
        let spec = spec_for(&f, &opts, None).unwrap();
        let r = spec.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
    }

    #[test]
    fn init_wraps_the_command() {
        let f = fixture();
        let spec = spec_for(&f, &RunOptions::default(), Some(Path::new("/usr/bin/catatonit"))).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().as_ref().unwrap(),
            &vec!["/dev/init", "--", "/entry", "serve", "--port=80"]
        );
        assert!(spec.mounts().as_ref().unwrap().iter().any(|m| m.destination() == Path::new("/dev/init")
            && m.source().as_deref() == Some(Path::new("/usr/bin/catatonit"))));
    }

    #[test]
    fn bad_inputs_are_named_errors() {
        let f = fixture();
        let empty = ImageConfiguration::default();
        let err = build_spec(&SpecInput {
            id: "abc",
            image: &empty,
            options: &RunOptions::default(),
            rootfs: f.rootfs.path(),
            cgroups_path: "/berth/abc",
            init_binary: None,
            network_namespace: true,
            etc_files: &[],
            joined: &[],
        })
        .unwrap_err();
        assert!(matches!(err, RuntimeError::NoCommand { ref id } if id == "abc"));
        let err = spec_for(&f, &RunOptions { workdir: Some("rel".into()), ..RunOptions::default() }, None).unwrap_err();
        assert!(matches!(err, RuntimeError::RelativeWorkdir { .. }));
        let err = spec_for(&f, &RunOptions { user: Some("nobody".into()), ..RunOptions::default() }, None).unwrap_err();
        assert!(matches!(err, RuntimeError::UnknownUser { .. }));
        let err =
            spec_for(&f, &RunOptions { cap_add: vec!["WINGS".into()], ..RunOptions::default() }, None).unwrap_err();
        assert!(matches!(err, RuntimeError::UnknownCapability { .. }));
    }

    #[test]
    fn spec_serializes_to_runtime_json() {
        let f = fixture();
        let spec = spec_for(&f, &RunOptions::default(), None).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["process"]["capabilities"]["effective"].as_array().unwrap().len(), 14);
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(
            json["linux"]["seccomp"]["architectures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().unwrap().starts_with("SCMP_ARCH_"))
        );
    }
}
