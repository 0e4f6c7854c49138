//! The whole frame: tab bar, the focused screen's panes, status bar and the open dialog. Pure: reads the app.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::{App, Modal};
use crate::keymap::{Command, Scope};
use crate::layout;
use crate::panes::{Ctx, Pane};

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::default().style(app.theme.base()), area);
    let [tabs, body, status] = layout::screen(area);
    draw_tabs(frame, tabs, app);
    let ctx = |pane: Pane| Ctx { theme: &app.theme, focused: app.focus == pane, now: app.now };
    match app.focus {
        Pane::Images => app.images.draw(frame, body, &ctx(Pane::Images)),
        Pane::Operations => app.operations.draw(frame, body, &ctx(Pane::Operations)),
        Pane::Networks => app.networks.draw(frame, body, &ctx(Pane::Networks)),
        Pane::Volumes => app.volumes.draw(frame, body, &ctx(Pane::Volumes)),
        _ => {
            let [list, logs, side] = layout::containers_screen(body);
            app.containers.draw(frame, list, &ctx(Pane::Containers));
            app.logs.draw(frame, logs, &ctx(Pane::Logs));
            let show_shell = app.focus == Pane::Shell || (app.focus != Pane::Stats && !app.shell.sessions.is_empty());
            if show_shell {
                app.shell.draw(frame, side, &ctx(Pane::Shell));
            } else {
                app.stats.draw(frame, side, &ctx(Pane::Stats));
            }
        }
    }
    draw_status(frame, status, app);
    match &app.modal {
        Some(Modal::Confirm(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Help(d)) => d.draw(frame, body, &app.keymap, &app.theme),
        Some(Modal::Inspect(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Explorer(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Pull(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Push(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Build(d)) => d.draw(frame, body, &app.theme, app.now),
        Some(Modal::Run(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::SaveLog(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::Scale(d)) => d.draw(frame, body, &app.theme),
        Some(Modal::CommandLine(d)) => d.draw(frame, area, &app.theme),
        None => {}
    }
}

const TAB_KEYS: [(Pane, Command); 8] = [
    (Pane::Containers, Command::GoContainers),
    (Pane::Images, Command::GoImages),
    (Pane::Logs, Command::GoLogs),
    (Pane::Stats, Command::GoStats),
    (Pane::Shell, Command::GoShell),
    (Pane::Operations, Command::GoOperations),
    (Pane::Networks, Command::GoNetworks),
    (Pane::Volumes, Command::GoVolumes),
];

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    // The engine shown, with the key that switches it, when there are several.
    let mouse = format!("mouse {} ", if app.mouse { "on" } else { "off" });
    // The right side, fullest first: the engine with its key and the mouse, then less, as room allows.
    let rights: Vec<String> = match &app.engine {
        Some(e) => {
            let key = app.keymap.label(Command::SwitchEngine);
            vec![format!("{key} engine {e} · {mouse}"), format!("{key} engine {e} "), format!("{e} ")]
        }
        None => vec![mouse],
    };
    let tabs = |title: fn(Pane) -> &'static str| {
        let mut spans = vec![Span::styled(" berth ", theme.selected())];
        for (pane, command) in TAB_KEYS {
            let style = if app.focus == pane { theme.header() } else { theme.muted() };
            spans.push(Span::raw(" "));
            spans.push(Span::styled(app.keymap.label(command), theme.key()));
            spans.push(Span::styled(format!(" {}", title(pane)), style));
        }
        spans
    };
    // Narrow terminals get short titles rather than losing the last tabs, then less on the right; what still
    // does not fit is cut with an ellipsis.
    let width = usize::from(area.width);
    let fits = |spans: &Vec<Span>, right: &String| Line::from(spans.clone()).width() + right.chars().count() <= width;
    let mut spans = tabs(Pane::title);
    if !fits(&spans, &rights[0]) {
        spans = tabs(Pane::short_title);
    }
    let right = rights.iter().find(|r| fits(&spans, r)).unwrap_or(&rights[rights.len() - 1]).clone();
    let right = crate::fit::cut(Line::from(right), width).to_string();
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(right.chars().count() as u16)]).areas(area);
    let left = crate::fit::cut(Line::from(spans), usize::from(left_area.width));
    frame.render_widget(Paragraph::new(left), left_area);
    frame.render_widget(Paragraph::new(right).style(theme.muted()), right_area);
}

/// The focused pane's usable commands with their live keys (or the latest status message), help and quit
/// always at the right.
fn draw_status(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let bar = ratatui::style::Style::new().fg(theme.colors.status_fg).bg(theme.colors.status_bg);
    let hint = |command: Command| {
        let scope = app.scopes().first().copied().unwrap_or(Scope::Global);
        vec![
            Span::styled(format!(" {}", app.keymap.label(command)), bar.fg(theme.colors.key)),
            Span::raw(format!(" {} ", command.help_in(scope))),
        ]
    };
    let right = Line::from([hint(Command::Help), hint(Command::Quit)].concat());
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(right.width() as u16)]).areas(area);
    let room = usize::from(left_area.width);
    let left = match &app.status {
        Some(status) if status.error => {
            crate::fit::cut(Line::from(Span::styled(format!(" {}", status.text), bar.fg(theme.colors.error))), room)
        }
        Some(status) => crate::fit::cut(Line::from(format!(" {}", status.text)), room),
        // The pane lists its commands most useful first: those that do not fit go from the end.
        None => crate::fit::hints(
            app.pane_commands().into_iter().filter(|(_, on)| *on).map(|(command, _)| hint(command)).collect(),
            room,
        ),
    };
    frame.render_widget(Paragraph::new(left).style(bar), left_area);
    frame.render_widget(Paragraph::new(right).style(bar), right_area);
}
