//! `--since`/`--until` as Docker reads them (the CLI's `timetypes.GetTimestamp`, then the daemon's
//! `ParseTimestamps`): a Go duration back from now (`10m`, `1h30m`; seconds only), an RFC 3339-like date
//! or time (without a zone it is local time), or a Unix timestamp `SECONDS[.FRACTION]`.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::JournalError;

/// Nanoseconds since the epoch that `value` names, `now` being the reference for durations.
pub fn parse_time(value: &str, now: DateTime<Utc>) -> Result<i64, JournalError> {
    let invalid = |reason: &str| JournalError::InvalidTime { value: value.to_string(), reason: reason.to_string() };
    if value != "0"
        && let Ok(ns) = crate::build::instructions::go_duration(value)
    {
        // Docker's CLI keeps the whole seconds of `now - d`.
        let then = now.timestamp_nanos_opt().ok_or_else(|| invalid("out of range"))? - ns;
        return Ok(then.div_euclid(1_000_000_000) * 1_000_000_000);
    }
    if let Some(t) = parse_date(value) {
        return t.timestamp_nanos_opt().ok_or_else(|| invalid("out of range"));
    }
    if value.contains('-') {
        return Err(invalid("not an RFC 3339 date or time"));
    }
    parse_unix(value).ok_or_else(|| invalid("failed to parse value as time or duration"))
}

/// The layouts `GetTimestamp` picks by the text's shape: with a zone (`Z`, `+`, or a third `-`) or local.
fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if zoned {
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Some(t.with_timezone(&Utc));
        }
        // `2006-01-02Z07:00`, `2006-01-02T15Z07:00`, `2006-01-02T15:04Z07:00`: complete them as RFC 3339.
        let split = value.rfind(['Z', 'z', '+', '-']).filter(|&i| i >= 10)?;
        let (local, zone) = value.split_at(split);
        let zone = if zone.eq_ignore_ascii_case("z") { "+00:00" } else { zone };
        let full = complete_local(local)?;
        return DateTime::parse_from_rfc3339(&format!("{full}{zone}")).ok().map(|t| t.with_timezone(&Utc));
    }
    let full = complete_local(value)?;
    let naive = NaiveDateTime::parse_from_str(&full, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Local.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`, `2006-01-02T15:04:05[.999]` as a full local time text.
fn complete_local(text: &str) -> Option<String> {
    let (date, time) = text.split_once('T').unwrap_or((text, ""));
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = match time.matches(':').count() {
        _ if time.is_empty() => "00:00:00".to_string(),
        0 => format!("{time}:00:00"),
        1 => format!("{time}:00"),
        _ => time.to_string(),
    };
    Some(format!("{date}T{time}"))
}

/// `SECONDS` or `SECONDS.FRACTION`, the fraction scaled to nanoseconds as the daemon scales it.
fn parse_unix(value: &str) -> Option<i64> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: i64 = frac.parse().ok()?;
        let len = i32::try_from(frac.len()).ok()?;
        (digits as f64 * 10f64.powi(9 - len)) as i64
    };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}
