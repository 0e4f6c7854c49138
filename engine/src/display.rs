//! What docker prints, worded and rounded as docker does: sizes, memory, ages and STATUS strings. The CLI and
//! the TUI both print through here, so the two never disagree (`4.26MB` in one, `4.261MB` in the other).

use chrono::{DateTime, Utc};

use crate::container::Status;

const DECIMAL: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
const BINARY: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Image and container sizes as `docker images` and `docker ps -s` print them: decimal units, three
/// significant digits (`4.26MB`, `1.2GB`, `512B`).
pub fn size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &DECIMAL, 3)
}

/// Memory as `docker stats` prints it: binary units, four significant digits (`1.5MiB`, `7.714GiB`).
pub fn memory(bytes: u64) -> String {
    scaled(bytes, 1024.0, &BINARY, 4)
}

fn scaled(bytes: u64, base: f64, units: &[&str; 7], digits: i32) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    format!("{}{}", significant(value, digits), units[unit])
}

/// Go's `%.Ng` for the values sizes take (0 ≤ value < 1024): `digits` significant digits, no trailing zeros.
fn significant(value: f64, digits: i32) -> String {
    let integer_digits = if value < 1.0 { 1 } else { value.log10().floor() as i32 + 1 };
    let decimals = (digits - integer_digits).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Docker's wording of a span of time (`Less than a second`, `About a minute`, `3 weeks`), as
/// go-units' `HumanDuration`: hours are rounded, days and longer are counted from the rounded hours.
pub fn duration(secs: i64) -> String {
    let hours = (secs + 1800) / 3600;
    match secs {
        ..1 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{secs} seconds"),
        60..120 => "About a minute".into(),
        120..3600 => format!("{} minutes", secs / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// The span from an RFC 3339 time to `now` in docker's words; `None` when the time does not parse.
pub fn since(rfc3339: &str, now: DateTime<Utc>) -> Option<String> {
    let then = DateTime::parse_from_rfc3339(rfc3339).ok()?.with_timezone(&Utc);
    Some(duration((now - then).num_seconds().max(0)))
}

/// `3 hours ago`, or `N/A` for a missing or unreadable time, as docker's CREATED columns say.
pub fn ago(rfc3339: Option<&str>, now: DateTime<Utc>) -> String {
    rfc3339.and_then(|t| since(t, now)).map_or_else(|| "N/A".to_string(), |s| format!("{s} ago"))
}

/// What docker's STATUS column is made from.
#[derive(Debug, Clone, Copy)]
pub struct StatusFields<'a> {
    pub status: Status,
    pub exit_code: i64,
    pub started_at: Option<&'a str>,
    pub finished_at: Option<&'a str>,
    /// The healthcheck's state; shown after `Up …` while running.
    pub health: Option<crate::health::HealthStatus>,
}

/// Docker's STATUS column: `Up 5 minutes`, `Up 2 hours (Paused)`, `Exited (0) 3 seconds ago`, `Created`.
pub fn status(fields: StatusFields<'_>, now: DateTime<Utc>) -> String {
    let up = || fields.started_at.and_then(|t| since(t, now)).unwrap_or_else(|| duration(0));
    let finished = || fields.finished_at.and_then(|t| since(t, now)).map(|s| format!(" {s} ago")).unwrap_or_default();
    match fields.status {
        Status::Created => "Created".to_string(),
        Status::Running => match fields.health {
            Some(health) => format!("Up {} {}", up(), health.ps_suffix()),
            None => format!("Up {}", up()),
        },
        Status::Paused => format!("Up {} (Paused)", up()),
        Status::Restarting => format!("Restarting ({}){}", fields.exit_code, finished()),
        Status::Exited => format!("Exited ({}){}", fields.exit_code, finished()),
        Status::Dead => "Dead".to_string(),
        Status::Removing => "Removal In Progress".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn sizes_have_three_significant_digits() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(1_200_000_000), "1.2GB");
        assert_eq!(size(123_456_789), "123MB");
        assert_eq!(size(10_000), "10kB");
        assert_eq!(size(2_000_000_000), "2GB");
    }

    #[test]
    fn memory_is_binary_with_four_significant_digits() {
        assert_eq!(memory(512), "512B");
        assert_eq!(memory(1536 * 1024), "1.5MiB");
        assert_eq!(memory(100 << 20), "100MiB");
        assert_eq!(memory(12_900_000), "12.3MiB");
        assert_eq!(memory(8_283_750_000), "7.715GiB");
        assert_eq!(memory(3 << 30), "3GiB");
    }

    #[test]
    fn durations_follow_go_units() {
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(59), "59 seconds");
        assert_eq!(duration(90), "About a minute");
        assert_eq!(duration(3599), "59 minutes");
        assert_eq!(duration(3600 + 1799), "About an hour");
        assert_eq!(duration(3600 + 1800), "2 hours");
        assert_eq!(duration(3 * 3600), "3 hours");
        assert_eq!(duration(20 * 86400), "2 weeks");
        assert_eq!(duration(90 * 86400), "3 months");
        assert_eq!(duration(800 * 86400), "2 years");
    }

    #[test]
    fn status_strings_match_docker() {
        let now = at("2026-01-02T00:00:00Z");
        let fields = |status, started: Option<&'static str>, finished: Option<&'static str>| StatusFields {
            status,
            exit_code: 137,
            started_at: started,
            finished_at: finished,
            health: None,
        };
        assert_eq!(status(fields(Status::Created, None, None), now), "Created");
        assert_eq!(status(fields(Status::Running, Some("2026-01-01T23:55:00Z"), None), now), "Up 5 minutes");
        assert_eq!(status(fields(Status::Paused, Some("2026-01-01T22:00:00Z"), None), now), "Up 2 hours (Paused)");
        let healthy = StatusFields {
            health: Some(crate::health::HealthStatus::Starting),
            ..fields(Status::Running, Some("2026-01-01T23:55:00Z"), None)
        };
        assert_eq!(status(healthy, now), "Up 5 minutes (health: starting)");
        assert_eq!(
            status(fields(Status::Exited, None, Some("2026-01-01T23:59:57Z")), now),
            "Exited (137) 3 seconds ago"
        );
        assert_eq!(status(fields(Status::Exited, None, None), now), "Exited (137)");
        assert_eq!(status(fields(Status::Removing, None, None), now), "Removal In Progress");
        assert_eq!(ago(Some("2026-01-01T23:00:00Z"), now), "About an hour ago");
        assert_eq!(ago(Some("yesterday"), now), "N/A");
        assert_eq!(ago(None, now), "N/A");
    }
}
