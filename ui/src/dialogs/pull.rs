//! The pull dialog: type a reference, then watch one progress bar per layer, fed by the engine's pull events.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::transfer::{self, Transfer};
use crate::backend::{LayerState, short_id};
use crate::input::{InputOutcome, TextInput};
use crate::theme::Theme;

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
        transfer::record(&mut self.layers, layer, state);
        true
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let status = match &self.phase {
            PullPhase::Editing => {
                ("e.g. busybox, docker.io/library/alpine:3.20, localhost:5000/app:1".to_string(), theme.muted())
            }
            PullPhase::Pulling { reference } => (format!("Pulling {reference}…"), theme.base()),
            PullPhase::Done { reference, image_id } => {
                (format!("Pulled {reference} ({})", short_id(image_id)), theme.ok())
            }
            PullPhase::Failed { error, .. } => (error.clone(), theme.error()),
        };
        let bars = self
            .layers
            .iter()
            .map(|(digest, state)| {
                let (ratio, label) = match state {
                    LayerState::Waiting => (0.0, "waiting".to_string()),
                    LayerState::AlreadyExists => (1.0, "already exists".to_string()),
                    LayerState::Downloading { done, total } => transfer::bytes(*done, *total),
                    LayerState::Retrying { attempt, reason } => (0.0, format!("retry {attempt}: {reason}")),
                    LayerState::Verifying => (1.0, "verifying".to_string()),
                    LayerState::Done => (1.0, "done".to_string()),
                };
                (digest.as_str(), ratio, label)
            })
            .collect();
        let hint = match self.phase {
            PullPhase::Editing => "Enter pulls · Esc cancels",
            PullPhase::Pulling { .. } => "Esc closes; the pull goes on (Operations: Enter reopens) · c cancels",
            _ => "Enter/Esc closes",
        };
        let editing = self.phase == PullPhase::Editing;
        let view =
            Transfer { title: "Pull image", input: self.input.value(), editing, status_lines: 3, status, bars, hint };
        view.draw(frame, area, theme);
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
