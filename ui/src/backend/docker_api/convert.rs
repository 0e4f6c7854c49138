//! The Docker Engine API's answers as the panes' rows and samples, and a run dialog's request as a create
//! body: pure functions, so they are tested without a server.

use std::collections::HashMap;

use berth_engine::network::PortMapping;
use bollard::models::{
    ContainerCreateBody, ContainerStatsResponse, ContainerSummary, ContainerSummaryStateEnum, HostConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};

use super::super::{ContainerRow, ContainerState, LayerState, LogLine, RunRequest, StatsSample};

pub fn container_state(state: Option<ContainerSummaryStateEnum>) -> ContainerState {
    match state {
        Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerSummaryStateEnum::EXITED) => ContainerState::Exited,
        Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
        Some(ContainerSummaryStateEnum::REMOVING) => ContainerState::Removing,
        _ => ContainerState::Created,
    }
}

/// The exit code in a summary's status, `Exited (3) 2 minutes ago`.
fn exit_code(status: &str) -> Option<i32> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

/// A summary's row; start and finish times come from an inspect the caller keeps ([`Times`]).
pub fn container_row(summary: ContainerSummary, times: Option<&Times>) -> ContainerRow {
    let state = container_state(summary.state);
    let status = summary.status.unwrap_or_default();
    let labels: std::collections::BTreeMap<String, String> = summary.labels.unwrap_or_default().into_iter().collect();
    let mut ports: Vec<String> = summary
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let public = p.public_port?;
            let ip = p.ip.unwrap_or_else(|| "0.0.0.0".into());
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            // Docker lists an IPv6 twin of each v4 binding; one is what `ps` shows.
            (!ip.contains(':')).then(|| format!("{ip}:{public}->{}/{proto}", p.private_port))
        })
        .collect();
    ports.sort();
    ports.dedup();
    let name = summary.names.unwrap_or_default().into_iter().next().unwrap_or_default();
    ContainerRow {
        id: summary.id.unwrap_or_default(),
        name: name.trim_start_matches('/').to_string(),
        image: summary.image.unwrap_or_default(),
        started_at: times.and_then(|t| t.started_at.clone()).filter(|_| state.is_up()),
        finished_at: times.and_then(|t| t.finished_at.clone()),
        exit_code: matches!(state, ContainerState::Exited | ContainerState::Dead).then(|| exit_code(&status)).flatten(),
        state,
        ports,
        health: None,
        group: crate::panes::groups::group_of(&labels),
        command: summary.command.unwrap_or_default(),
        created_at: summary.created.and_then(|s| chrono::DateTime::from_timestamp(s, 0)).map(|t| t.to_rfc3339()),
        engine: None,
    }
}

/// What an inspect adds to a summary: the times of the last start and exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Times {
    pub state: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// Docker's zero time for "never".
pub fn real_time(time: Option<String>) -> Option<String> {
    time.filter(|t| !t.starts_with("0001-"))
}

/// CPU as `docker stats` computes it (percent of one core) and memory less the page cache.
pub fn stats_sample(stats: &ContainerStatsResponse) -> StatsSample {
    let cpu = stats.cpu_stats.as_ref();
    let pre = stats.precpu_stats.as_ref();
    let total = |s: Option<&bollard::models::ContainerCpuStats>| {
        s.and_then(|s| s.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
    };
    let system = |s: Option<&bollard::models::ContainerCpuStats>| s.and_then(|s| s.system_cpu_usage).unwrap_or(0);
    let cpu_delta = total(cpu).saturating_sub(total(pre)) as f64;
    let system_delta = system(cpu).saturating_sub(system(pre)) as f64;
    let cpus = cpu
        .and_then(|c| c.online_cpus.map(f64::from))
        .or_else(|| cpu.and_then(|c| c.cpu_usage.as_ref()?.percpu_usage.as_ref().map(|p| p.len() as f64)))
        .unwrap_or(1.0);
    let cpu_percent = if system_delta > 0.0 { cpu_delta / system_delta * cpus * 100.0 } else { 0.0 };
    let memory = stats.memory_stats.as_ref();
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| s.get("inactive_file").or_else(|| s.get("total_inactive_file")).copied())
        .unwrap_or(0);
    let (mut net_rx, mut net_tx) = (0, 0);
    for net in stats.networks.iter().flat_map(|n| n.values()) {
        net_rx += net.rx_bytes.unwrap_or(0);
        net_tx += net.tx_bytes.unwrap_or(0);
    }
    let (mut block_read, mut block_write) = (0, 0);
    let entries = stats.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.as_ref());
    for entry in entries.into_iter().flatten() {
        match entry.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => block_read += entry.value.unwrap_or(0),
            Some("write") => block_write += entry.value.unwrap_or(0),
            _ => {}
        }
    }
    StatsSample {
        cpu_percent,
        memory_bytes: memory.and_then(|m| m.usage).unwrap_or(0).saturating_sub(cache),
        memory_limit: memory.and_then(|m| m.limit).unwrap_or(0),
        net_rx,
        net_tx,
        block_read,
        block_write,
    }
}

/// A pull's status line as a layer's state; None for lines about the whole pull.
pub fn layer_state(status: &str, current: Option<i64>, total: Option<i64>) -> Option<LayerState> {
    Some(match status {
        "Waiting" | "Pulling fs layer" => LayerState::Waiting,
        "Already exists" => LayerState::AlreadyExists,
        "Downloading" => LayerState::Downloading {
            done: current.unwrap_or(0).max(0) as u64,
            total: total.unwrap_or(0).max(0) as u64,
        },
        "Verifying Checksum" => LayerState::Verifying,
        "Download complete" | "Extracting" | "Pull complete" => LayerState::Done,
        s if s.starts_with("Retrying") => LayerState::Retrying { attempt: 1, reason: s.to_string() },
        _ => return None,
    })
}

/// A timestamped log record (`2026-01-02T03:04:05.123456789Z text`) as a line; a line without a stamp keeps
/// `fallback` as its time.
pub fn log_line(record: &str, stderr: bool, fallback: &str) -> LogLine {
    let record = record.strip_suffix('\n').unwrap_or(record);
    let record = record.strip_suffix('\r').unwrap_or(record);
    match record.split_once(' ') {
        Some((time, text)) if chrono::DateTime::parse_from_rfc3339(time).is_ok() => {
            LogLine { time: time.to_string(), stderr, text: text.to_string() }
        }
        _ => LogLine { time: fallback.to_string(), stderr, text: record.to_string() },
    }
}

/// A run dialog's request as the API's create body, after the same parser as `berth run` accepted it.
pub fn create_body(request: &RunRequest) -> Result<ContainerCreateBody, String> {
    super::super::run_spec(request)?;
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for spec in &request.ports {
        let mapping = PortMapping::parse(spec).map_err(|e| e.to_string())?;
        let key = format!("{}/{}", mapping.container_port, mapping.protocol.as_str());
        let binding = PortBinding {
            host_ip: Some(mapping.host_ip.to_string()),
            host_port: Some(if mapping.host_port == 0 { String::new() } else { mapping.host_port.to_string() }),
        };
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
    }
    let restart = request.restart.as_deref().filter(|r| !r.trim().is_empty()).map(|policy| {
        let (name, count) = policy.split_once(':').unwrap_or((policy, ""));
        let name = match name {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        };
        RestartPolicy { name: Some(name), maximum_retry_count: count.parse().ok() }
    });
    let exposed: Vec<String> = bindings.keys().cloned().collect();
    Ok(ContainerCreateBody {
        image: Some(request.image.clone()),
        cmd: (!request.command.is_empty()).then(|| request.command.clone()),
        env: (!request.env.is_empty()).then(|| request.env.clone()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            binds: (!request.volumes.is_empty()).then(|| request.volumes.clone()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            network_mode: request.network.clone().filter(|n| !n.trim().is_empty()),
            restart_policy: restart,
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats, PortSummary};

    use super::*;

    #[test]
    fn br_a_summary_becomes_a_row_with_ps_ports_and_its_exit_code() {
        let summary = ContainerSummary {
            id: Some("abc".into()),
            names: Some(vec!["/web".into()]),
            image: Some("busybox".into()),
            state: Some(ContainerSummaryStateEnum::EXITED),
            status: Some("Exited (3) 2 minutes ago".into()),
            ports: Some(vec![PortSummary {
                ip: Some("127.0.0.1".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: None,
            }]),
            ..ContainerSummary::default()
        };
        let row = container_row(summary, None);
        assert_eq!((row.name.as_str(), row.state, row.exit_code), ("web", ContainerState::Exited, Some(3)));
        assert_eq!(row.ports, ["127.0.0.1:8080->80/tcp"]);
    }

    #[test]
    fn br_cpu_is_percent_of_one_core_and_memory_leaves_out_the_cache() {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), ..Default::default() }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        };
        let stats = ContainerStatsResponse {
            cpu_stats: Some(cpu(150, 1200)),
            precpu_stats: Some(cpu(100, 1000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(3000),
                limit: Some(10000),
                stats: Some([("inactive_file".to_string(), 1000)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sample = stats_sample(&stats);
        assert_eq!((sample.cpu_percent, sample.memory_bytes, sample.memory_limit), (50.0, 2000, 10000));
    }

    #[test]
    fn br_log_records_split_their_stamp_from_their_text() {
        let line = log_line("2026-01-02T03:04:05.5Z hello world\n", true, "x");
        assert_eq!(
            (line.time.as_str(), line.text.as_str(), line.stderr),
            ("2026-01-02T03:04:05.5Z", "hello world", true)
        );
        assert_eq!(log_line("no stamp\r\n", false, "then").time, "then");
    }

    #[test]
    fn br_a_run_request_becomes_a_create_body_and_bad_ports_are_refused() {
        let request = RunRequest {
            image: "nginx".into(),
            ports: vec!["127.0.0.1:8080:80".into()],
            volumes: vec!["/data:/data:ro".into()],
            network: Some("front".into()),
            restart: Some("on-failure:3".into()),
            ..RunRequest::default()
        };
        let body = create_body(&request).unwrap();
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["80/tcp"].clone().unwrap()[0];
        assert_eq!((binding.host_ip.as_deref(), binding.host_port.as_deref()), (Some("127.0.0.1"), Some("8080")));
        assert_eq!(host.network_mode.as_deref(), Some("front"));
        assert_eq!(host.restart_policy.unwrap().maximum_retry_count, Some(3));
        let bad = RunRequest { image: "nginx".into(), ports: vec!["99999:80".into()], ..RunRequest::default() };
        assert!(create_body(&bad).is_err());
    }

    #[test]
    fn br_pull_statuses_map_to_layer_states() {
        assert_eq!(layer_state("Downloading", Some(5), Some(10)), Some(LayerState::Downloading { done: 5, total: 10 }));
        assert_eq!(layer_state("Pull complete", None, None), Some(LayerState::Done));
        assert_eq!(layer_state("Digest: sha256:x", None, None), None);
    }
}
