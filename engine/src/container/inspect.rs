//! `berth inspect`: a container as Docker's API shapes it.

use serde_json::{Value, json};

use super::{ContainerRecord, Status};
use crate::network::NetworkSettings;
use crate::runtime::{RestartPolicy, SeccompChoice};

impl crate::Engine {
    /// `berth inspect` of one container: its record, log path and current endpoints in Docker's shape.
    pub fn inspect_container(&self, rec: &ContainerRecord) -> Result<Value, crate::Error> {
        let network = self.container_network_settings(rec)?;
        let mut doc = inspect_json(rec, &self.container_log_path(rec), &network);
        doc["Mounts"] = crate::volume::mounts_json(&rec.options.mounts, self.store().root());
        Ok(doc)
    }
}

/// Docker's "never" timestamp.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The Docker-shaped inspect document; `log_path` is where the container's log lives, `network` its
/// current endpoints (empty while it is stopped).
pub fn inspect_json(rec: &ContainerRecord, log_path: &std::path::Path, network: &NetworkSettings) -> Value {
    let o = &rec.options;
    let running = matches!(rec.status, Status::Running | Status::Paused | Status::Restarting);
    let (path, args) = match rec.command.split_first() {
        Some((first, rest)) => (first.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    let max_retries = match o.restart {
        RestartPolicy::OnFailure { max_retries } => max_retries.unwrap_or(0),
        _ => 0,
    };
    let mut security_opt = Vec::new();
    match &o.seccomp {
        SeccompChoice::Default => {}
        SeccompChoice::Unconfined => security_opt.push("seccomp=unconfined".to_string()),
        SeccompChoice::Profile { path, .. } => security_opt.push(format!("seccomp={path}")),
    }
    if o.no_new_privileges {
        security_opt.push("no-new-privileges".to_string());
    }
    let mut doc = json!({
        "Id": rec.id,
        "Created": rec.created_at,
        "Path": path,
        "Args": args,
        "State": {
            "Status": rec.status.as_str(),
            "Running": running,
            "Paused": rec.status == Status::Paused,
            "Restarting": rec.status == Status::Restarting,
            "OOMKilled": rec.oom_killed,
            "Dead": rec.status == Status::Dead,
            "Pid": if running { rec.pid } else { 0 },
            "ExitCode": rec.exit_code,
            "Error": rec.error,
            "StartedAt": rec.started_at.as_deref().unwrap_or(ZERO_TIME),
            "FinishedAt": rec.finished_at.as_deref().unwrap_or(ZERO_TIME),
        },
        "Image": rec.image_id,
        "LogPath": log_path,
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "HostConfig": {
            "Memory": o.memory.unwrap_or(0),
            "MemorySwap": o.memory_swap.unwrap_or(0),
            "NanoCpus": o.cpus.map_or(0, |c| (c * 1e9) as i64),
            "PidsLimit": o.pids_limit,
            "ReadonlyRootfs": o.read_only,
            "CapAdd": o.cap_add,
            "CapDrop": o.cap_drop,
            "Privileged": o.privileged,
            "SecurityOpt": security_opt,
            "Init": o.init,
            "AutoRemove": o.auto_remove,
            "RestartPolicy": { "Name": o.restart.name(), "MaximumRetryCount": max_retries },
            "NetworkMode": o.network.as_deref().unwrap_or(crate::network::DEFAULT_NETWORK),
            "PublishAllPorts": o.publish_all,
            "ExtraHosts": o.extra_hosts,
            "Dns": o.dns,
            "DnsSearch": o.dns_search,
            "Ulimits": o.ulimits,
            "Devices": o.devices.iter().map(|d| json!({
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.cgroup_permissions,
            })).collect::<Vec<_>>(),
            "ShmSize": o.shm_size.unwrap_or(64 << 20),
            "GroupAdd": o.group_add,
            "Sysctls": o.sysctls,
            "IpcMode": o.ipc_mode.as_deref().unwrap_or("private"),
            "PidMode": o.pid_mode.as_deref().unwrap_or_default(),
            "LogConfig": { "Type": "json-file", "Config": o.log.docker_config() },
        },
        "NetworkSettings": serde_json::to_value(network).unwrap_or(Value::Null),
        "Config": {
            "Hostname": o.hostname.clone().unwrap_or_else(|| rec.short_id().to_string()),
            "User": o.user.clone().unwrap_or_default(),
            "Env": o.env,
            "Cmd": o.cmd,
            "Entrypoint": o.entrypoint,
            "WorkingDir": o.workdir.clone().unwrap_or_default(),
            "Image": rec.image_name,
            "Labels": o.labels,
            "StopSignal": o.stop_signal,
            "StopTimeout": o.stop_timeout,
            "Tty": o.tty,
            "OpenStdin": o.open_stdin,
        },
    });
    // Docker leaves both out for a container without a healthcheck.
    if let Some(health) = &rec.health {
        doc["State"]["Health"] = serde_json::to_value(health).unwrap_or(Value::Null);
    }
    // Docker leaves ExposedPorts out when there are none.
    if !o.exposed_ports.is_empty() {
        let keys: serde_json::Map<String, Value> = o.exposed_ports.iter().map(|k| (k.clone(), json!({}))).collect();
        doc["Config"]["ExposedPorts"] = Value::Object(keys);
    }
    if let Some(config) = &o.healthcheck {
        doc["Config"]["Healthcheck"] = serde_json::to_value(config).unwrap_or(Value::Null);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::record;
    use super::*;

    #[test]
    fn docker_state_shape() {
        let mut rec = record(&"e".repeat(64), "web");
        rec.status = Status::Paused;
        rec.pid = 99;
        rec.options.restart = RestartPolicy::OnFailure { max_retries: Some(3) };
        let settings = NetworkSettings { ip_address: "10.66.0.2".into(), ..NetworkSettings::default() };
        let v = inspect_json(&rec, std::path::Path::new("/l"), &settings);
        assert_eq!(v["NetworkSettings"]["IPAddress"], "10.66.0.2");
        assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
        let state = &v["State"];
        assert_eq!(state["Status"], "paused");
        assert_eq!(state["Running"], true);
        assert_eq!(state["Paused"], true);
        assert_eq!(state["Pid"], 99);
        assert_eq!(state["FinishedAt"], ZERO_TIME);
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);

        rec.status = Status::Exited;
        rec.exit_code = 3;
        let v = inspect_json(&rec, std::path::Path::new("/l"), &NetworkSettings::default());
        assert_eq!((v["State"]["Running"].as_bool(), v["State"]["Pid"].as_i64()), (Some(false), Some(0)));
        assert_eq!(v["State"]["ExitCode"], 3);
    }
}
