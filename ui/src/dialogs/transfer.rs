//! What the pull and push dialogs share: the reference being typed, where the transfer is, one state per layer,
//! and the view (a status, one bar per layer and a hint).

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use super::{centered, dialog_block};
use crate::backend::short_id;
use crate::input::{InputOutcome, TextInput};
use crate::theme::Theme;
use berth_engine::display;

/// Where a pull or push is. `reference` is the canonical form the engine's events carry; `result` is the
/// pulled image's id or the pushed manifest's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferPhase {
    Editing,
    Running { reference: String },
    Done { reference: String, result: String },
    Failed { reference: String, error: String },
}

/// A pull or push dialog: the reference typed, the phase, and each layer's state `S` in the order the engine
/// first reported the layers (by digest for a pull, by diffID for a push).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferDialog<S> {
    pub input: TextInput,
    pub phase: TransferPhase,
    pub layers: Vec<(String, S)>,
}

/// What a key typed into the reference asks for.
pub(super) enum Typed {
    Start(String),
    Close,
    Nothing,
}

impl<S> TransferDialog<S> {
    pub fn new(initial: &str) -> TransferDialog<S> {
        TransferDialog { input: TextInput::new(initial), phase: TransferPhase::Editing, layers: Vec::new() }
    }

    pub fn reference(&self) -> Option<&str> {
        match &self.phase {
            TransferPhase::Editing => None,
            TransferPhase::Running { reference }
            | TransferPhase::Done { reference, .. }
            | TransferPhase::Failed { reference, .. } => Some(reference),
        }
    }

    /// Records a layer's progress if it belongs to this dialog's transfer; true when it did.
    pub fn progress(&mut self, reference: &str, layer: &str, state: S) -> bool {
        if self.reference() != Some(reference) {
            return false;
        }
        record(&mut self.layers, layer, state);
        true
    }

    /// A key while the reference is being typed: Enter starts with a non-empty one, Esc closes.
    pub(super) fn edit(&mut self, key: &KeyEvent) -> Typed {
        match self.input.handle(key) {
            InputOutcome::Submit if !self.input.value().trim().is_empty() => {
                Typed::Start(self.input.value().trim().to_string())
            }
            InputOutcome::Cancel => Typed::Close,
            _ => Typed::Nothing,
        }
    }
}

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
fn record<S>(layers: &mut Vec<(String, S)>, layer: &str, state: S) {
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
