//! The UI's settings file, `$XDG_CONFIG_HOME/berth/tui.toml` (or `$BERTH_TUI_CONFIG`): theme, mouse,
//! confirmation and a partial `[keys]` table. A missing file means the defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::keymap::{KeyList, Keymap, KeymapError};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` is a berth engine setting; it belongs in berth's config.toml ({engine}), not tui.toml")]
    EngineSetting { path: PathBuf, key: String, engine: String },
    #[error("{path}: {source}")]
    Keymap { path: PathBuf, source: KeymapError },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    theme: Option<String>,
    mouse: Option<bool>,
    confirm: Option<bool>,
    #[serde(default)]
    keys: BTreeMap<String, KeyList>,
    #[serde(default)]
    engines: Vec<crate::engines::EngineConfig>,
}

/// The settings the UI starts with.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub theme: Option<String>,
    /// Capture the mouse at start (off lets the terminal select text).
    pub mouse: bool,
    /// Ask before kill and remove.
    pub confirm: bool,
    pub keymap: Keymap,
    /// The file these came from, named in `?` help.
    pub path: Option<PathBuf>,
    /// Remote engines (`[[engines]]`: name and host), beside berth's own.
    pub engines: Vec<crate::engines::EngineConfig>,
}

impl Default for UiConfig {
    fn default() -> UiConfig {
        UiConfig {
            theme: None,
            mouse: false,
            confirm: true,
            keymap: Keymap::default(),
            path: None,
            engines: Vec::new(),
        }
    }
}

/// The first key of `text` that berth's engine config takes, for a setting put in the wrong file.
fn engine_setting(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table.into_iter().find_map(|(key, value)| {
        let one = toml::Table::from_iter([(key.clone(), value)]);
        let accepted = toml::to_string(&one).ok().and_then(|t| toml::from_str::<berth_engine::config::Config>(&t).ok());
        accepted.map(|_| key)
    })
}

/// `$XDG_CONFIG_HOME/berth`, where `tui.toml` and `themes/` live.
pub fn config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "berth").map(|d| d.config_dir().to_path_buf())
}

impl UiConfig {
    pub fn default_path() -> Option<PathBuf> {
        std::env::var_os("BERTH_TUI_CONFIG").map(PathBuf::from).or_else(|| config_dir().map(|d| d.join("tui.toml")))
    }

    pub fn load(path: &Path) -> Result<UiConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(UiConfig { path: Some(path.into()), ..UiConfig::default() });
            }
            Err(source) => return Err(ConfigError::Read { path: path.into(), source }),
        };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| match engine_setting(&text) {
            Some(key) => {
                let engine = berth_engine::config::Config::default_path()
                    .map_or_else(|| "BERTH_CONFIG".to_string(), |p| p.display().to_string());
                ConfigError::EngineSetting { path: path.into(), key, engine }
            }
            None => ConfigError::Parse { path: path.into(), message: e.message().to_string() },
        })?;
        let keymap =
            Keymap::with_overrides(&file.keys).map_err(|source| ConfigError::Keymap { path: path.into(), source })?;
        Ok(UiConfig {
            theme: file.theme,
            mouse: file.mouse.unwrap_or(false),
            confirm: file.confirm.unwrap_or(true),
            keymap,
            path: Some(path.into()),
            engines: file.engines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::{Command, Key};

    fn load(text: &str) -> Result<UiConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tui.toml");
        std::fs::write(&path, text).unwrap();
        UiConfig::load(&path)
    }

    #[test]
    fn a_missing_file_means_defaults() {
        let config = UiConfig::load(Path::new("/nonexistent/tui.toml")).unwrap();
        assert!(config.confirm && !config.mouse && config.theme.is_none());
    }

    #[test]
    fn partial_file_patches_defaults() {
        let config = load("theme = \"light\"\nconfirm = false\n[keys]\nquit = \"ctrl-q\"\n").unwrap();
        assert_eq!(config.theme.as_deref(), Some("light"));
        assert!(!config.confirm);
        assert_eq!(config.keymap.keys(Command::Quit), &[Key::ctrl('q')]);
        assert_eq!(config.keymap.label(Command::Stop), "S");
    }

    #[test]
    fn a_clash_names_the_file_and_both_commands() {
        let err = load("[keys]\nrestart = \"s\"\n").unwrap_err().to_string();
        assert!(err.contains("tui.toml") && err.contains("start and restart"), "{err}");
    }

    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../README.md");
        let start = readme.find("theme = \"dark\"").expect("the README shows a tui.toml");
        let example = &readme[start..start + readme[start..].find("```").unwrap()];
        let config = load(example).unwrap();
        assert_eq!(config.keymap.keys(Command::Quit), &[Key::ctrl('q')]);
    }

    #[test]
    fn an_engine_setting_here_is_pointed_to_config_toml() {
        let err = load("theme = \"light\"\ninsecure_registries = [\"r:5000\"]\n").unwrap_err();
        assert!(matches!(&err, ConfigError::EngineSetting { key, .. } if key == "insecure_registries"), "{err}");
        assert!(err.to_string().contains("belongs in berth's config.toml"), "{err}");
    }

    #[test]
    fn unknown_settings_are_refused() {
        let err = load("colour = \"red\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }) && err.to_string().contains("colour"), "{err}");
    }
}
