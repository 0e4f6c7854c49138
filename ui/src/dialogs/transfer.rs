//! What the pull and push dialogs share: the reference being typed, a status, one bar per layer and a hint.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use super::{centered, dialog_block};
use crate::backend::short_id;
use crate::theme::Theme;
use berth_engine::display;

pub(super) struct Transfer<'a> {
    pub title: &'a str,
    pub input: &'a str,
    pub editing: bool,
    /// The lines the status may take.
    pub status_lines: u16,
    pub status: (String, Style),
    /// Per layer: its digest, how far along it is (0 to 1) and the bar's label.
    pub bars: Vec<(&'a str, f64, String)>,
    pub hint: &'a str,
}

/// A layer's new state, in place, or appended in the order the engine first names layers.
pub(super) fn record<S>(layers: &mut Vec<(String, S)>, layer: &str, state: S) {
    match layers.iter_mut().find(|(d, _)| d == layer) {
        Some((_, s)) => *s = state,
        None => layers.push((layer.to_string(), state)),
    }
}

/// A bar for bytes moved so far: the ratio and `done / total` in docker's units.
pub(super) fn bytes(done: u64, total: u64) -> (f64, String) {
    let ratio = if total > 0 { (done as f64 / total as f64).min(1.0) } else { 0.0 };
    (ratio, format!("{} / {}", display::size(done), display::size(total)))
}

impl Transfer<'_> {
    pub fn draw(self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let height = 6 + self.status_lines + self.bars.len() as u16;
        let area = centered(area, 76, height);
        frame.render_widget(Clear, area);
        let block = dialog_block(theme, self.title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [input_area, status_area, _, layers_area, hint_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(self.status_lines),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let cursor = if self.editing { "▏" } else { "" };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Image: ", theme.header()),
                Span::raw(format!("{}{cursor}", self.input)),
            ])),
            input_area,
        );
        let (status, style) = self.status;
        frame.render_widget(Paragraph::new(status).style(style).wrap(Wrap { trim: true }), status_area);
        let rows = Layout::vertical(vec![Constraint::Length(1); self.bars.len()]).split(layers_area);
        for ((digest, ratio, label), row) in self.bars.into_iter().zip(rows.iter()) {
            let [name_area, bar_area] = Layout::horizontal([Constraint::Length(14), Constraint::Fill(1)]).areas(*row);
            frame.render_widget(Paragraph::new(short_id(digest).to_string()).style(theme.muted()), name_area);
            let gauge = Gauge::default()
                .gauge_style(theme.base().fg(theme.colors.gauge))
                .ratio(ratio)
                .label(Span::styled(label, theme.base()))
                .use_unicode(true);
            frame.render_widget(gauge, bar_area);
        }
        frame.render_widget(Paragraph::new(self.hint).style(theme.muted()), hint_area);
    }
}
