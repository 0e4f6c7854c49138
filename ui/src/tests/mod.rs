//! Whole-app tests: snapshots of every pane, dialog and theme at two sizes, and state tests that drive the app
//! with keys and backend events through a fake backend.

mod all_engines;
mod app_state;
mod changes;
mod command_line;
mod explorer;
mod fake;
mod fake_api;
mod footers;
mod project;
mod remote;
mod runner;
mod snapshots;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use crate::app::{App, Effect, Msg};
use crate::backend::Backend;
use crate::config::UiConfig;
use crate::theme::Theme;
use fake::FakeBackend;

pub const ROOMY: (u16, u16) = (120, 40);
pub const CRAMPED: (u16, u16) = (80, 24);

/// An app before the backend has answered anything: every list still loading.
pub fn unloaded(config: UiConfig, theme: Theme, size: (u16, u16)) -> App {
    let backend = Arc::new(FakeBackend::new());
    let normalize = Arc::new(move |r: &str| backend.normalize_reference(r));
    App::new(config, theme, fake::now(), Rect::new(0, 0, size.0, size.1), normalize, fake::plan, fake::complete)
}

/// An app over the fixture data, as after the first refresh.
pub fn app_with(config: UiConfig, theme: Theme, size: (u16, u16)) -> App {
    let mut app = unloaded(config, theme, size);
    app.update(Msg::Containers(Ok(fake::containers())));
    app.update(Msg::Images(Ok(fake::images())));
    app.update(Msg::Networks(Ok(fake::networks())));
    app.update(Msg::Volumes(Ok(fake::volumes())));
    app.update(Msg::Usage(Ok(fake::usage())));
    app.take_effects();
    // Drawn, as the runner does once the first answers are in.
    app.drawn();
    app
}

pub fn app(size: (u16, u16)) -> App {
    app_with(UiConfig::default(), Theme::default(), size)
}

pub fn key(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

pub fn ctrl(app: &mut App, c: char) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

pub fn chars(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The effects queued since the last call, minus list refreshes and CPU/memory readings (which the 1 s clock
/// and focus changes queue anyway).
pub fn effects(app: &mut App) -> Vec<Effect> {
    app.take_effects()
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                Effect::RefreshImages
                    | Effect::RefreshContainers
                    | Effect::RefreshNetworks
                    | Effect::RefreshVolumes
                    | Effect::SampleUsage(_)
            )
        })
        .collect()
}

pub fn render(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.area.width, app.area.height)).unwrap();
    terminal.draw(|f| crate::draw::draw(f, app)).unwrap();
    terminal
}
