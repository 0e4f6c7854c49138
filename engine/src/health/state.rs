//! A container's health as its monitor records it after each check: Docker's `State.Health`.

use serde::{Deserialize, Serialize};

/// Docker keeps the last five results.
const MAX_LOG_ENTRIES: usize = 5;

/// Docker keeps the first 4 KiB of a check's output (stdout and stderr together).
pub(crate) const MAX_OUTPUT_LEN: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// How `ps` shows it after `Up …`: `(health: starting)`, `(healthy)`, `(unhealthy)`.
    pub fn ps_suffix(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "(health: starting)",
            HealthStatus::Healthy => "(healthy)",
            HealthStatus::Unhealthy => "(unhealthy)",
        }
    }
}

/// One check's result, as Docker's `HealthcheckResult` (times in RFC 3339 with nanoseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    /// 0 healthy; anything else a failure; -1 when the check could not run or timed out.
    pub exit_code: i64,
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl Health {
    /// The state at each start: starting with no failures; a restart keeps the earlier log, as Docker does.
    pub(crate) fn starting(previous: Option<Health>) -> Health {
        Health { status: HealthStatus::Starting, failing_streak: 0, log: previous.map(|h| h.log).unwrap_or_default() }
    }

    /// Applies a result as Docker's `handleProbeResult` does: a pass makes the container healthy; a failure
    /// counts towards `retries` unless the container is still starting within its start period. Returns the
    /// new status when it changed (Docker's `health_status` event).
    pub(crate) fn record(&mut self, result: HealthResult, in_start_period: bool, retries: u32) -> Option<HealthStatus> {
        let before = self.status;
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            self.log.drain(..self.log.len() - MAX_LOG_ENTRIES);
        }
        (self.status != before).then_some(self.status)
    }

    /// Docker marks a container whose checks stopped (it exited) unhealthy. The new status when it changed.
    pub(crate) fn stopped(&mut self) -> Option<HealthStatus> {
        let before = self.status;
        self.status = HealthStatus::Unhealthy;
        (before != self.status).then_some(self.status)
    }
}

/// A check's output as Docker keeps it: the first [`MAX_OUTPUT_LEN`] bytes, `...` when there was more.
pub(crate) fn output_text(kept: &[u8], truncated: bool) -> String {
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if truncated {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthResult {
        HealthResult { start: "s".into(), end: "e".into(), exit_code: code, output: format!("{code}") }
    }

    #[test]
    fn passes_fail_and_retries_as_docker_counts() {
        let mut h = Health::starting(None);
        assert_eq!(h.record(result(1), false, 2), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        assert_eq!(h.record(result(1), false, 2), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(result(0), false, 2), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(result(2), false, 2), None, "one failure of a healthy container is not enough");
        assert_eq!(h.status, HealthStatus::Healthy);
    }

    #[test]
    fn start_period_failures_do_not_count_while_starting() {
        let mut h = Health::starting(None);
        for _ in 0..5 {
            assert_eq!(h.record(result(1), true, 1), None);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        h.record(result(0), true, 1);
        assert_eq!(h.record(result(1), true, 1), Some(HealthStatus::Unhealthy), "only a starting container is spared");
    }

    #[test]
    fn log_keeps_five_and_restart_resets() {
        let mut h = Health::starting(None);
        for code in 0..7 {
            h.record(result(code), false, 100);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [2, 3, 4, 5, 6]);
        assert_eq!(h.stopped(), Some(HealthStatus::Unhealthy), "a stopped container reads unhealthy");
        assert_eq!(h.stopped(), None);
        let again = Health::starting(Some(h));
        assert_eq!((again.status, again.failing_streak, again.log.len()), (HealthStatus::Starting, 0, 5));
        let json = serde_json::to_value(&again).unwrap();
        assert_eq!(json["Status"], "starting");
        assert_eq!(json["Log"][0]["ExitCode"], 2);
        assert_eq!(output_text(b"abc", true), "abc...");
    }
}
