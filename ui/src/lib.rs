//! berth's terminal UI: a keyboard-driven container workstation over the engine.
//!
//! State ([`app`]) is apart from drawing ([`draw`]); engine work goes through [`backend::Backend`] and runs in
//! the background ([`runner`]), so the UI never blocks and redraws only when something changed.

#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod cli;
pub mod config;
mod dialogs;
pub mod draw;
pub mod engines;
mod fit;
mod input;
pub mod keymap;
mod layout;
pub mod panes;
mod runner;
mod terminal;
pub mod theme;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use berth_engine::Engine;
use ratatui::layout::Rect;
use thiserror::Error;

use crate::app::App;
use crate::backend::{Backend, EngineBackend};
use crate::cli::CliLink;
use crate::config::{ConfigError, UiConfig};
use crate::theme::{Theme, ThemeError};

#[derive(Debug, Error)]
pub enum UiError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error("terminal: cannot {action}: {source}")]
    Terminal { action: &'static str, source: std::io::Error },
}

/// What the command line passes to the UI.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// `--theme`: a theme name or a path to a theme file; overrides tui.toml.
    pub theme: Option<String>,
    /// The settings file; `$BERTH_TUI_CONFIG` or `$XDG_CONFIG_HOME/berth/tui.toml` when unset.
    pub config: Option<PathBuf>,
    /// The berth CLI for the `:` command line.
    pub cli: CliLink,
}

/// Loads settings and theme (errors end here, before the screen changes), then runs the UI until `q`.
pub async fn run(engine: Engine, options: UiOptions) -> Result<(), UiError> {
    let config = match options.config.or_else(UiConfig::default_path) {
        Some(path) => UiConfig::load(&path)?,
        None => UiConfig::default(),
    };
    let theme_name = options.theme.or_else(|| config.theme.clone()).unwrap_or_else(|| "dark".into());
    let themes_dir = config::config_dir().map(|d| d.join("themes"));
    let theme = Theme::find(&theme_name, themes_dir.as_deref())?;
    let engine = Arc::new(engine);
    let local: Arc<dyn Backend> = Arc::new(EngineBackend::new(engine.clone(), options.cli.program));
    let found =
        engines::discover(&config.engines, std::env::var("DOCKER_HOST").ok(), engines::docker_config_dir().as_deref());
    let (remotes, problems) = engines::connect_all(found);
    let several = !remotes.is_empty();
    let backend = Arc::new(engines::Engines::new([("berth".to_string(), local)].into_iter().chain(remotes).collect()));
    let (mut tty, _guard) =
        terminal::enter(config.mouse).map_err(|source| UiError::Terminal { action: "enter raw mode", source })?;
    let size = tty.size().map_err(|source| UiError::Terminal { action: "read its size", source })?;
    let normalizer = backend.clone();
    let normalize = Arc::new(move |r: &str| normalizer.normalize_reference(r));
    let area = Rect::new(0, 0, size.width, size.height);
    let mut app = App::new(config, theme, chrono::Utc::now(), area, normalize, options.cli.plan, options.cli.complete);
    let history = engine.root().join("tui-history");
    app.history = dialogs::command_line::load_history(&history);
    app.history_file = Some(history);
    if several {
        app.engine = Some("berth".into());
    }
    if !problems.is_empty() {
        app.fail(problems.join("; "));
    }
    let result = runner::run(backend, app, &mut tty).await;
    // A build still running as the UI quits would leave its RUN step running unseen: remove its container,
    // as `berth build` does on Ctrl-C.
    if let Err(e) = engine.abandon_builds().await {
        tracing::warn!("cannot remove the containers of unfinished builds: {e}");
    }
    result
}
