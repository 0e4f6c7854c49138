//! Sizes and ages the way Docker prints them, so the UI and the CLI read alike.

use chrono::{DateTime, Utc};

/// `1.23MB`, decimal units like `docker images`.
pub fn size(bytes: u64) -> String {
    match scaled(bytes, 1000.0, ["B", "kB", "MB", "GB", "TB"]) {
        (_, "B") => format!("{bytes}B"),
        (value, unit) => format!("{value:.3}{unit}").replace(".000", ""),
    }
}

/// `bytes` in the largest of `units` (each `base` times the one before) that keeps the value at least 1.
fn scaled(bytes: u64, base: f64, units: [&'static str; 5]) -> (f64, &'static str) {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    (value, units[unit])
}

/// `12.3MiB`: memory in binary units as `docker stats` counts it, at most seven characters (`1023MiB`).
pub fn memory(bytes: u64) -> String {
    let (value, unit) = scaled(bytes, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB"]);
    match unit {
        "B" => format!("{bytes}B"),
        // 99.95 and up would round to a fourth digit.
        _ if value >= 99.95 => format!("{value:.0}{unit}"),
        _ => format!("{value:.1}{unit}"),
    }
}

/// `5 minutes`, `About an hour`, `3 days`: the span from `since` to `now`.
pub fn span(since: &str, now: DateTime<Utc>) -> Option<String> {
    let since = DateTime::parse_from_rfc3339(since).ok()?.with_timezone(&Utc);
    let secs = (now - since).num_seconds().max(0);
    Some(match secs {
        0..=1 => "Less than a second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", secs / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", secs / 3600),
        172_800..=1_209_599 => format!("{} days", secs / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", secs / 604_800),
        5_184_000..=63_071_999 => format!("{} months", secs / 2_592_000),
        _ => format!("{} years", secs / 31_536_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_000), "4.261MB");
        assert_eq!(size(2_000_000_000), "2GB");
    }

    #[test]
    fn memory_is_binary_and_short() {
        assert_eq!(memory(512), "512B");
        assert_eq!(memory(12_900_000), "12.3MiB");
        assert_eq!(memory(99_990 * 1024), "97.6MiB");
        assert_eq!(memory((1 << 20) * 9990 / 100), "99.9MiB");
        assert_eq!(memory((1 << 20) * 9996 / 100), "100MiB", "not 100.0MiB");
        assert_eq!(memory(1023 << 20), "1023MiB");
        assert_eq!(memory(3 << 30), "3.0GiB");
    }

    #[test]
    fn spans() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(span("2026-01-01T23:59:30Z", now).as_deref(), Some("30 seconds"));
        assert_eq!(span("2026-01-01T23:00:00Z", now).as_deref(), Some("About an hour"));
        assert_eq!(span("2025-12-29T00:00:00Z", now).as_deref(), Some("4 days"));
        assert_eq!(span("yesterday", now), None);
    }
}
