//! `info` and `version`: what docker reports about its engine, read from this host and this state root.
//! The CLI prints it; the API server (`berth serve`) answers `/info` and `/version` from the same data.

use serde::Serialize;

use crate::container::{ListOptions, Status};
use crate::{Engine, Error};

/// berth's version, the engine's and the CLI's alike (one binary).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Docker's `info` fields that berth can answer truthfully, under docker's JSON names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub server_version: String,
    /// overlayfs over unpacked layer directories.
    pub driver: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub default_runtime: String,
    pub security_options: Vec<String>,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    pub mem_total: u64,
    pub name: String,
    pub docker_root_dir: String,
}

/// What `version` says of the machine: no state root involved.
#[derive(Debug, Clone)]
pub struct Host {
    pub kernel_version: String,
    /// The kernel's name for the machine (`x86_64`, `aarch64`).
    pub architecture: String,
    pub name: String,
}

/// The running kernel's release, machine and host name.
pub fn host() -> Host {
    let uname = rustix::system::uname();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    Host { kernel_version: text(uname.release()), architecture: text(uname.machine()), name: text(uname.nodename()) }
}

impl Engine {
    /// `berth info`: containers by state, images, and the host's kernel, OS, CPUs and memory.
    pub fn info(&self) -> Result<SystemInfo, Error> {
        let containers = self.list_containers(&ListOptions { all: true, filters: Vec::new() })?;
        let count = |wanted: &[Status]| containers.iter().filter(|c| wanted.contains(&c.status)).count();
        let host = host();
        let cgroup_version = match crate::stats::host_layout() {
            crate::stats::Layout::V1 => "1",
            crate::stats::Layout::V2 => "2",
        };
        Ok(SystemInfo {
            containers: containers.len(),
            containers_running: count(&[Status::Running, Status::Restarting]),
            containers_paused: count(&[Status::Paused]),
            containers_stopped: count(&[Status::Created, Status::Exited, Status::Dead, Status::Removing]),
            images: self.list_images()?.len(),
            server_version: VERSION.to_string(),
            driver: "overlay".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            default_runtime: "libcontainer".into(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            kernel_version: host.kernel_version,
            operating_system: operating_system(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
            os_type: "linux".into(),
            architecture: host.architecture,
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: crate::stats::host_memory().unwrap_or(0),
            name: host.name,
            docker_root_dir: self.store().root().display().to_string(),
        })
    }
}

/// `PRETTY_NAME` of os-release, as docker's "Operating System" line.
fn operating_system(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pretty_name_names_the_system() {
        let debian = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(operating_system(debian), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(operating_system(""), "Linux");
    }

    #[test]
    fn json_names_are_dockers() {
        let info = SystemInfo {
            containers: 3,
            containers_running: 1,
            containers_paused: 0,
            containers_stopped: 2,
            images: 1,
            server_version: VERSION.into(),
            driver: "overlay".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: "1".into(),
            default_runtime: "libcontainer".into(),
            security_options: vec![],
            kernel_version: "6.1".into(),
            operating_system: "Linux".into(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            ncpu: 2,
            mem_total: 1,
            name: "h".into(),
            docker_root_dir: "/r".into(),
        };
        let v = serde_json::to_value(&info).unwrap();
        for key in
            ["ContainersRunning", "OSType", "NCPU", "MemTotal", "DockerRootDir", "KernelVersion", "CgroupVersion"]
        {
            assert!(v.get(key).is_some(), "{key} missing: {v}");
        }
    }
}
