//! An instruction's `--flags`, checked as BuildKit's `BFlags` checks them: each instruction declares the
//! flags it takes; unknown, duplicated or valueless flags are refused with BuildKit's words.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Bool,
    String,
    /// May repeat; each use adds a value.
    Strings,
}

#[derive(Debug, Default)]
pub(super) struct Flags {
    kinds: HashMap<&'static str, Kind>,
    values: HashMap<&'static str, Vec<String>>,
}

impl Flags {
    pub(super) fn parse(given: &[String], declared: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let mut flags = Flags { kinds: declared.iter().copied().collect(), values: HashMap::new() };
        for arg in given {
            if arg == "--" {
                break;
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some((&key, &kind)) = flags.kinds.get_key_value(name) else {
                let mut known: Vec<&str> = declared.iter().map(|(n, _)| *n).collect();
                known.sort_unstable();
                return Err(crate::build::suggest::hint(format!("unknown flag: --{name}"), name, &known, true));
            };
            if kind != Kind::Strings && flags.values.contains_key(key) {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match kind {
                Kind::Bool => match value.map(str::to_ascii_lowercase).as_deref() {
                    Some("") => return Err(format!("missing a value on flag: --{name}")),
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {}",
                            value.unwrap_or_default()
                        ));
                    }
                },
                Kind::String | Kind::Strings => match value {
                    Some(v) => v.to_string(),
                    None => return Err(format!("missing a value on flag: --{name}")),
                },
            };
            flags.values.entry(key).or_default().push(value);
        }
        Ok(flags)
    }

    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// `None` when the flag was not given.
    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// A duration as Go's `time.ParseDuration` reads it (`1h2m3.5s`, `300ms`, `0`), in nanoseconds.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..num_end];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale: f64 = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += number.parse::<f64>().map_err(|_| invalid())? * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if negative { -ns } else { ns })
}
