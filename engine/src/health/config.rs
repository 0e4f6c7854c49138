//! What a healthcheck runs and when: Docker's `HealthConfig`, from the image and from `run`'s flags.

use serde::{Deserialize, Serialize};

use crate::run::RunError;

/// Docker's defaults for a zero field.
pub(crate) const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
pub(crate) const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
pub(crate) const DEFAULT_RETRIES: i64 = 3;

/// Below this a non-zero duration is refused, as Docker's daemon does.
const MINIMUM_NS: i64 = 1_000_000;

/// Docker's `Config.Healthcheck`, field for field (durations in nanoseconds, 0 meaning "inherit or default"),
/// so the image config's object reads into it and inspect prints it back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", args...]`, `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `run`'s healthcheck flags as text, as the user gave them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub none: bool,
}

impl HealthFlags {
    /// The container's own healthcheck, as docker's client builds it: None without any flag (the image's
    /// applies), `["NONE"]` for `--no-healthcheck`, else the flags given (zero fields inherit the image's).
    pub fn parse(&self) -> Result<Option<HealthConfig>, RunError> {
        let duration = |flag: &'static str, text: &Option<String>| -> Result<i64, RunError> {
            let Some(text) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else { return Ok(0) };
            let invalid = |reason: String| RunError::InvalidFlag { flag, value: text.to_string(), reason };
            let ns = crate::build::instructions::go_duration(text).map_err(invalid)?;
            if ns < 0 {
                return Err(invalid(format!("{flag} cannot be negative")));
            }
            if ns != 0 && ns < MINIMUM_NS {
                return Err(invalid(format!("{flag} cannot be less than 1ms")));
            }
            Ok(ns)
        };
        let retries = match self.retries.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => 0,
            Some(text) => {
                let invalid = |reason: &str| RunError::InvalidFlag {
                    flag: "--health-retries",
                    value: text.to_string(),
                    reason: reason.to_string(),
                };
                let n: i64 = text
                    .parse()
                    .ok()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or(invalid("expected a whole number"))?;
                if n < 0 {
                    return Err(invalid("--health-retries cannot be negative"));
                }
                n
            }
        };
        let config = HealthConfig {
            test: match self.cmd.as_deref().filter(|c| !c.is_empty()) {
                Some(cmd) => vec!["CMD-SHELL".to_string(), cmd.to_string()],
                None => Vec::new(),
            },
            interval: duration("--health-interval", &self.interval)?,
            timeout: duration("--health-timeout", &self.timeout)?,
            start_period: duration("--health-start-period", &self.start_period)?,
            start_interval: duration("--health-start-interval", &self.start_interval)?,
            retries,
        };
        let any = config != HealthConfig::default();
        if self.none {
            if any {
                return Err(RunError::InvalidFlag {
                    flag: "--no-healthcheck",
                    value: "true".to_string(),
                    reason: "--no-healthcheck conflicts with --health-* options".to_string(),
                });
            }
            return Ok(Some(HealthConfig { test: vec!["NONE".to_string()], ..HealthConfig::default() }));
        }
        Ok(any.then_some(config))
    }
}

impl HealthConfig {
    /// The image config's `Healthcheck`, if it has one that reads.
    pub(crate) fn from_image_config(config: &serde_json::Value) -> Option<HealthConfig> {
        serde_json::from_value(config.get("config")?.get("Healthcheck")?.clone()).ok()
    }

    /// The container's healthcheck over the image's, as docker's daemon merges them: a zero field of the
    /// container's takes the image's.
    pub(crate) fn merge(own: Option<HealthConfig>, image: Option<HealthConfig>) -> Option<HealthConfig> {
        let Some(mut own) = own else { return image };
        let Some(image) = image else { return Some(own) };
        if own.test.is_empty() {
            own.test = image.test;
        }
        for (mine, theirs) in [
            (&mut own.interval, image.interval),
            (&mut own.timeout, image.timeout),
            (&mut own.start_period, image.start_period),
            (&mut own.start_interval, image.start_interval),
            (&mut own.retries, image.retries),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
        Some(own)
    }

    /// Whether a check runs at all: a test that is neither empty nor `NONE`.
    pub fn enabled(&self) -> bool {
        self.test.first().is_some_and(|t| t != "NONE")
    }

    /// The command a check execs: `CMD` arguments as they are, a `CMD-SHELL` line under `shell` (the
    /// image's SHELL, else `/bin/sh -c`). None for a test of another kind.
    pub(crate) fn argv(&self, shell: &[String]) -> Option<Vec<String>> {
        let (kind, rest) = self.test.split_first()?;
        match kind.as_str() {
            "CMD" if !rest.is_empty() => Some(rest.to_vec()),
            "CMD-SHELL" if !rest.is_empty() => {
                let mut argv = if shell.is_empty() { vec!["/bin/sh".into(), "-c".into()] } else { shell.to_vec() };
                argv.push(rest.join(" "));
                Some(argv)
            }
            _ => None,
        }
    }

    pub(crate) fn interval_ns(&self) -> i64 {
        if self.interval > 0 { self.interval } else { DEFAULT_INTERVAL_NS }
    }

    pub(crate) fn timeout_ns(&self) -> i64 {
        if self.timeout > 0 { self.timeout } else { DEFAULT_TIMEOUT_NS }
    }

    /// Docker's start interval defaults to the interval's default (30 s), not to the configured interval.
    pub(crate) fn start_interval_ns(&self) -> i64 {
        if self.start_interval > 0 { self.start_interval } else { DEFAULT_INTERVAL_NS }
    }

    pub(crate) fn retries(&self) -> u32 {
        if self.retries > 0 { u32::try_from(self.retries).unwrap_or(u32::MAX) } else { DEFAULT_RETRIES as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut HealthFlags)) -> Result<Option<HealthConfig>, String> {
        let mut flags = HealthFlags::default();
        f(&mut flags);
        flags.parse().map_err(|e| e.to_string())
    }

    #[test]
    fn flags_build_dockers_config() {
        assert_eq!(flags(|_| {}), Ok(None));
        let c = flags(|f| {
            f.cmd = Some("true".into());
            f.interval = Some("1s".into());
            f.retries = Some("2".into());
        })
        .unwrap()
        .unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "true"]);
        assert_eq!((c.interval, c.timeout, c.retries), (1_000_000_000, 0, 2));
        assert_eq!(flags(|f| f.none = true).unwrap().unwrap().test, ["NONE"]);
        let conflict = flags(|f| {
            f.none = true;
            f.cmd = Some("x".into());
        });
        assert!(conflict.unwrap_err().contains("conflicts with --health-*"));
        assert!(flags(|f| f.interval = Some("-1s".into())).unwrap_err().contains("cannot be negative"));
        assert!(flags(|f| f.timeout = Some("10us".into())).unwrap_err().contains("less than 1ms"));
        assert!(flags(|f| f.retries = Some("-1".into())).unwrap_err().contains("cannot be negative"));
        assert!(flags(|f| f.start_period = Some("soon".into())).unwrap_err().contains("--health-start-period"));
    }

    #[test]
    fn merge_fills_zero_fields_from_the_image() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "check".into()],
            interval: 5,
            timeout: 6,
            retries: 7,
            ..HealthConfig::default()
        };
        let own = HealthConfig { interval: 1, ..HealthConfig::default() };
        let merged = HealthConfig::merge(Some(own), Some(image.clone())).unwrap();
        assert_eq!(
            (merged.test.as_slice(), merged.interval, merged.timeout, merged.retries),
            (&image.test[..], 1, 6, 7)
        );
        assert_eq!(HealthConfig::merge(None, Some(image.clone())), Some(image.clone()));
        let none = HealthConfig { test: vec!["NONE".into()], ..HealthConfig::default() };
        assert!(!HealthConfig::merge(Some(none), Some(image)).unwrap().enabled());
    }

    #[test]
    fn image_config_and_argv() {
        let config =
            serde_json::json!({"config": {"Healthcheck": {"Test": ["CMD-SHELL", "wget -q x"], "Interval": 2}}});
        let h = HealthConfig::from_image_config(&config).unwrap();
        assert_eq!((h.interval_ns(), h.timeout_ns(), h.retries()), (2, DEFAULT_TIMEOUT_NS, 3));
        assert_eq!(h.argv(&[]).unwrap(), ["/bin/sh", "-c", "wget -q x"]);
        assert_eq!(h.argv(&["/bin/bash".into(), "-ec".into()]).unwrap(), ["/bin/bash", "-ec", "wget -q x"]);
        let cmd = HealthConfig { test: vec!["CMD".into(), "a".into(), "b".into()], ..HealthConfig::default() };
        assert_eq!(cmd.argv(&[]).unwrap(), ["a", "b"]);
        assert_eq!(serde_json::to_value(&cmd).unwrap(), serde_json::json!({"Test": ["CMD", "a", "b"]}));
    }
}
