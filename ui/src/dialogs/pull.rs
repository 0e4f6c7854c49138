//! The pull dialog: type a reference, then watch one progress bar per layer, fed by the engine's pull events.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use super::{centered, dialog_block};
use crate::backend::{LayerState, short_id};
use crate::input::{InputOutcome, TextInput};
use crate::theme::Theme;
use berth_engine::display;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullPhase {
    Editing,
    /// `reference` is the canonical form the engine's events carry.
    Pulling {
        reference: String,
    },
    Done {
        reference: String,
        image_id: String,
    },
    Failed {
        reference: String,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullDialog {
    pub input: TextInput,
    pub phase: PullPhase,
    /// Layer digest and state, in the order the engine first reported them.
    pub layers: Vec<(String, LayerState)>,
}

/// What a key asks the app to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAction {
    Nothing,
    Start(String),
    Close,
    /// Stop the running pull.
    Cancel,
}

impl PullDialog {
    pub fn new(initial: &str) -> PullDialog {
        PullDialog { input: TextInput::new(initial), phase: PullPhase::Editing, layers: Vec::new() }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> PullAction {
        if self.phase != PullPhase::Editing {
            let pulling = matches!(self.phase, PullPhase::Pulling { .. });
            return match key.code {
                crossterm::event::KeyCode::Esc | crossterm::event::KeyCode::Enter => PullAction::Close,
                crossterm::event::KeyCode::Char('c') if pulling => PullAction::Cancel,
                _ => PullAction::Nothing,
            };
        }
        match self.input.handle(key) {
            InputOutcome::Submit if !self.input.value().trim().is_empty() => {
                PullAction::Start(self.input.value().trim().to_string())
            }
            InputOutcome::Cancel => PullAction::Close,
            _ => PullAction::Nothing,
        }
    }

    pub fn reference(&self) -> Option<&str> {
        match &self.phase {
            PullPhase::Editing => None,
            PullPhase::Pulling { reference }
            | PullPhase::Done { reference, .. }
            | PullPhase::Failed { reference, .. } => Some(reference),
        }
    }

    /// Records a layer's progress if it belongs to this dialog's pull; true when it did.
    pub fn progress(&mut self, reference: &str, layer: &str, state: LayerState) -> bool {
        if self.reference() != Some(reference) {
            return false;
        }
        match self.layers.iter_mut().find(|(d, _)| d == layer) {
            Some((_, s)) => *s = state,
            None => self.layers.push((layer.to_string(), state)),
        }
        true
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let height = 9 + self.layers.len() as u16;
        let area = centered(area, 76, height);
        frame.render_widget(Clear, area);
        let block = dialog_block(theme, "Pull image");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [input_area, status_area, _, layers_area, hint_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let cursor = if self.phase == PullPhase::Editing { "▏" } else { "" };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Image: ", theme.header()),
                Span::raw(format!("{}{cursor}", self.input.value())),
            ])),
            input_area,
        );
        let (status, style) = match &self.phase {
            PullPhase::Editing => {
                ("e.g. busybox, docker.io/library/alpine:3.20, localhost:5000/app:1".to_string(), theme.muted())
            }
            PullPhase::Pulling { reference } => (format!("Pulling {reference}…"), theme.base()),
            PullPhase::Done { reference, image_id } => {
                (format!("Pulled {reference} ({})", short_id(image_id)), theme.ok())
            }
            PullPhase::Failed { error, .. } => (error.clone(), theme.error()),
        };
        frame.render_widget(Paragraph::new(status).style(style).wrap(Wrap { trim: true }), status_area);
        let rows = Layout::vertical(vec![Constraint::Length(1); self.layers.len()]).split(layers_area);
        for ((digest, state), row) in self.layers.iter().zip(rows.iter()) {
            let [name_area, bar_area] = Layout::horizontal([Constraint::Length(14), Constraint::Fill(1)]).areas(*row);
            frame.render_widget(Paragraph::new(short_id(digest).to_string()).style(theme.muted()), name_area);
            let (ratio, label) = match state {
                LayerState::Waiting => (0.0, "waiting".to_string()),
                LayerState::AlreadyExists => (1.0, "already exists".to_string()),
                LayerState::Downloading { done, total } => (
                    if *total > 0 { (*done as f64 / *total as f64).min(1.0) } else { 0.0 },
                    format!("{} / {}", display::size(*done), display::size(*total)),
                ),
                LayerState::Retrying { attempt, reason } => (0.0, format!("retry {attempt}: {reason}")),
                LayerState::Verifying => (1.0, "verifying".to_string()),
                LayerState::Done => (1.0, "done".to_string()),
            };
            let gauge = Gauge::default()
                .gauge_style(theme.base().fg(theme.colors.gauge))
                .ratio(ratio)
                .label(Span::styled(label, theme.base()))
                .use_unicode(true);
            frame.render_widget(gauge, bar_area);
        }
        let hint = match self.phase {
            PullPhase::Editing => "Enter pulls · Esc cancels",
            PullPhase::Pulling { .. } => "Esc closes; the pull goes on (Operations: Enter reopens) · c cancels",
            _ => "Enter/Esc closes",
        };
        frame.render_widget(Paragraph::new(hint).style(theme.muted()), hint_area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_other_pulls_is_ignored_and_layers_keep_their_order() {
        let mut dialog = PullDialog::new("busybox");
        assert!(!dialog.progress("docker.io/library/busybox:latest", "sha256:a", LayerState::Waiting));
        dialog.phase = PullPhase::Pulling { reference: "docker.io/library/busybox:latest".into() };
        assert!(dialog.progress("docker.io/library/busybox:latest", "sha256:b", LayerState::Waiting));
        assert!(dialog.progress("docker.io/library/busybox:latest", "sha256:a", LayerState::Waiting));
        assert!(dialog.progress("docker.io/library/busybox:latest", "sha256:b", LayerState::Done));
        assert!(!dialog.progress("docker.io/library/alpine:latest", "sha256:c", LayerState::Done));
        assert_eq!(
            dialog.layers,
            vec![("sha256:b".to_string(), LayerState::Done), ("sha256:a".to_string(), LayerState::Waiting)]
        );
    }
}
