//! The pull dialog: type a reference, then watch one progress bar per layer, fed by the engine's pull events.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::transfer::{self, Transfer, TransferDialog, TransferPhase, Typed};
use crate::backend::{LayerState, short_id};
use crate::theme::Theme;

pub type PullDialog = TransferDialog<LayerState>;

/// What a key asks the app to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAction {
    Nothing,
    Start(String),
    Close,
    /// Stop the running pull.
    Cancel,
}

impl TransferDialog<LayerState> {
    pub fn handle_key(&mut self, key: &KeyEvent) -> PullAction {
        match (&self.phase, key.code) {
            (TransferPhase::Editing, _) => match self.edit(key) {
                Typed::Start(reference) => PullAction::Start(reference),
                Typed::Close => PullAction::Close,
                Typed::Nothing => PullAction::Nothing,
            },
            (_, KeyCode::Esc | KeyCode::Enter) => PullAction::Close,
            (TransferPhase::Running { .. }, KeyCode::Char('c')) => PullAction::Cancel,
            _ => PullAction::Nothing,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let status = match &self.phase {
            TransferPhase::Editing => {
                ("e.g. busybox, docker.io/library/alpine:3.20, localhost:5000/app:1".to_string(), theme.muted())
            }
            TransferPhase::Running { reference } => (format!("Pulling {reference}…"), theme.base()),
            TransferPhase::Done { reference, result } => {
                (format!("Pulled {reference} ({})", short_id(result)), theme.ok())
            }
            TransferPhase::Failed { error, .. } => (error.clone(), theme.error()),
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
            TransferPhase::Editing => "Enter pulls · Esc cancels",
            TransferPhase::Running { .. } => "Esc closes; the pull goes on (Operations: Enter reopens) · c cancels",
            _ => "Enter/Esc closes",
        };
        let editing = self.phase == TransferPhase::Editing;
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
        dialog.phase = TransferPhase::Running { reference: "docker.io/library/busybox:latest".into() };
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
