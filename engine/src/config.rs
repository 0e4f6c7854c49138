//! berth's own settings file (`config.toml`), separate from Docker's credentials file.
//!
//! Looked up at `$BERTH_CONFIG`, else `$XDG_CONFIG_HOME/berth/config.toml` (`/etc/berth/config.toml` for
//! root). A missing default file means defaults, but a file `$BERTH_CONFIG` names must exist: a mistyped
//! path silently giving defaults would give a test or second root the system's bridge and table. A
//! malformed file is an error naming the file and the field.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config file {path} (named by BERTH_CONFIG) does not exist")]
    Missing { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid config file {path}: {field} must be {rule}")]
    Invalid { path: PathBuf, field: &'static str, rule: &'static str },
    #[error(
        "config file {path}: `{key}` is a TUI setting; it belongs in tui.toml ($XDG_CONFIG_HOME/berth/tui.toml, or the file BERTH_TUI_CONFIG names)"
    )]
    TuiSetting { path: PathBuf, key: String },
}

/// The TUI's settings (`tui.toml`), told apart so one put here by mistake is pointed to its file.
const TUI_SETTINGS: [&str; 4] = ["keys", "theme", "mouse", "confirm"];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Registries (host[:port]) reached over plain HTTP; loopback hosts always are.
    pub insecure_registries: Vec<String>,
    /// Layers downloaded at once during a pull.
    pub max_concurrent_downloads: usize,
    /// Cap on one layer's decompressed size, against decompression bombs.
    pub max_layer_bytes: u64,
    /// Attempts for each registry request and each layer download.
    pub registry_max_attempts: u32,
    /// A connection that delivers nothing for this long is dropped and retried.
    pub registry_read_timeout_secs: u64,
    pub registry_connect_timeout_secs: u64,
    /// Linux bridge of the default `bridge` network.
    pub network_default_bridge: String,
    pub network_default_subnet: ipnet::Ipv4Net,
    /// User networks without `--subnet` get the first free /24 of this range.
    pub network_pool: ipnet::Ipv4Net,
    /// berth's own nftables table (`inet <name>`); berth touches no other table.
    pub network_firewall_table: String,
    /// `nftables`, or `none` when the host's firewall is managed elsewhere (no NAT, no published ports).
    pub network_firewall_driver: String,
    /// How layers are stored: `erofs` (one image file per layer, mounted by the kernel), `dir` (unpacked
    /// directories), or `auto`: `erofs` when this kernel mounts file-backed EROFS images.
    pub layer_store: String,
    /// The file these settings came from (or would have), for messages that tell the user what to edit.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            insecure_registries: Vec::new(),
            max_concurrent_downloads: 3,
            max_layer_bytes: 64 << 30,
            registry_max_attempts: 4,
            registry_read_timeout_secs: 30,
            registry_connect_timeout_secs: 10,
            network_default_bridge: "berth0".into(),
            network_default_subnet: ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 66, 0, 0), 16).unwrap_or_default(),
            network_pool: ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 67, 0, 0), 16).unwrap_or_default(),
            network_firewall_table: "berth".into(),
            network_firewall_driver: "nftables".into(),
            layer_store: "auto".into(),
            path: None,
        }
    }
}

impl Config {
    /// The config file berth reads when BERTH_CONFIG names none.
    pub fn default_path() -> Option<PathBuf> {
        if rustix::process::geteuid().is_root() {
            return Some(PathBuf::from("/etc/berth/config.toml"));
        }
        directories::ProjectDirs::from("", "", "berth").map(|d| d.config_dir().join("config.toml"))
    }

    /// Loads the file BERTH_CONFIG names (which must exist), else the default file, or defaults when
    /// there is none.
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_named(std::env::var_os("BERTH_CONFIG"))
    }

    /// `load` with BERTH_CONFIG's value passed in; an empty value counts as unset.
    fn load_named(named: Option<OsString>) -> Result<Config, ConfigError> {
        match named.filter(|p| !p.is_empty()).map(PathBuf::from) {
            Some(path) => Self::load_file(&path, false),
            None => match Self::default_path() {
                Some(path) => Self::load_from(&path),
                None => Ok(Config::default()),
            },
        }
    }

    /// Loads `path`; a missing file means defaults.
    pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
        Self::load_file(path, true)
    }

    fn load_file(path: &Path, missing_ok: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => {
                return Ok(Config { path: Some(path.into()), ..Config::default() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing { path: path.into() });
            }
            Err(source) => return Err(ConfigError::Read { path: path.into(), source }),
        };
        let mut config: Config = toml::from_str(&text).map_err(|source| {
            let table: Option<toml::Table> = toml::from_str(&text).ok();
            match table.and_then(|t| t.keys().find(|k| TUI_SETTINGS.contains(&k.as_str())).cloned()) {
                Some(key) => ConfigError::TuiSetting { path: path.into(), key },
                None => ConfigError::Parse { path: path.into(), source },
            }
        })?;
        config.path = Some(path.into());
        let invalid = |field, rule| ConfigError::Invalid { path: path.into(), field, rule };
        if config.max_concurrent_downloads == 0 {
            return Err(invalid("max_concurrent_downloads", "at least 1"));
        }
        if config.registry_max_attempts == 0 {
            return Err(invalid("registry_max_attempts", "at least 1"));
        }
        if config.registry_read_timeout_secs == 0 || config.registry_connect_timeout_secs == 0 {
            return Err(invalid("registry_*_timeout_secs", "at least 1"));
        }
        let name_ok = |n: &str| {
            !n.is_empty() && n.len() <= 15 && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        };
        if !name_ok(&config.network_default_bridge) {
            return Err(invalid(
                "network_default_bridge",
                "an interface name of 1 to 15 letters, digits, '_', '.', '-'",
            ));
        }
        if config.network_firewall_table.is_empty()
            || !config.network_firewall_table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid("network_firewall_table", "letters, digits and '_'"));
        }
        if !matches!(config.network_firewall_driver.as_str(), "nftables" | "none") {
            return Err(invalid("network_firewall_driver", "nftables or none"));
        }
        if !matches!(config.layer_store.as_str(), "auto" | "dir" | "erofs") {
            return Err(invalid("layer_store", "auto, dir or erofs"));
        }
        Ok(config)
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.registry_read_timeout_secs)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.registry_connect_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_means_defaults_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load_from(&path).unwrap().max_concurrent_downloads, 3);
        std::fs::write(&path, "max_concurrent_downloads = 0\n").unwrap();
        let err = Config::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("max_concurrent_downloads must be at least 1"), "{err}");
        std::fs::write(&path, "insecure_registries = [\"r.example:5000\"]\nmax_layer_bytes = 10\n").unwrap();
        let c = Config::load_from(&path).unwrap();
        assert_eq!((c.insecure_registries.len(), c.max_layer_bytes), (1, 10));
        std::fs::write(&path, "network_firewall_driver = \"iptables\"\n").unwrap();
        assert!(Config::load_from(&path).unwrap_err().to_string().contains("nftables or none"));
        std::fs::write(&path, "network_default_bridge = \"much-too-long-name\"\n").unwrap();
        assert!(Config::load_from(&path).unwrap_err().to_string().contains("network_default_bridge"));
        std::fs::write(&path, "network_default_subnet = \"10.1.0.0/16\"\nnetwork_firewall_table = \"b_t\"\n").unwrap();
        let c = Config::load_from(&path).unwrap();
        assert_eq!(
            (c.network_default_subnet.to_string(), c.network_firewall_table.as_str()),
            ("10.1.0.0/16".into(), "b_t")
        );
        std::fs::write(&path, "layer_store = \"zfs\"\n").unwrap();
        assert!(Config::load_from(&path).unwrap_err().to_string().contains("layer_store must be auto, dir or erofs"));
        std::fs::write(&path, "layer_store = \"dir\"\n").unwrap();
        assert_eq!(Config::load_from(&path).unwrap().layer_store, "dir");
        std::fs::write(&path, "unknown_key = 1\n").unwrap();
        assert!(Config::load_from(&path).unwrap_err().to_string().contains("unknown_key"));
    }

    #[test]
    fn a_tui_setting_here_is_pointed_to_tui_toml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "max_concurrent_downloads = 2
[keys]
quit = \"ctrl-q\"
",
        )
        .unwrap();
        let err = Config::load_from(&path).unwrap_err();
        assert!(matches!(&err, ConfigError::TuiSetting { key, .. } if key == "keys"), "{err}");
        assert!(err.to_string().contains("belongs in tui.toml"), "{err}");
    }

    #[test]
    fn a_file_berth_config_names_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("typo.toml");
        let err = Config::load_named(Some(missing.clone().into())).unwrap_err();
        assert!(matches!(&err, ConfigError::Missing { path } if *path == missing), "{err}");
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
        std::fs::write(&missing, "max_concurrent_downloads = 5\n").unwrap();
        let config = Config::load_named(Some(missing.clone().into())).unwrap();
        assert_eq!((config.max_concurrent_downloads, config.path), (5, Some(missing)));
        // Unset or empty: the default file, whose absence means defaults.
        let default = Config::default_path();
        if default.as_ref().is_none_or(|path| !path.exists()) {
            assert!(Config::load_named(Some("".into())).is_ok_and(|c| c.path == default));
        }
    }
}
