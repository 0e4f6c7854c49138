//! The push dialog: the selected image's tag (editable), then one progress bar per layer as docker's push
//! lines name them (preparing, waiting, pushing, pushed, already exists, mounted), fed by the engine's push
//! events. Closing it while the push runs leaves the push going; its end lands in the operations log.

use berth_engine::events::PushLayerProgress;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::transfer::{self, Transfer, TransferDialog, TransferPhase, Typed};
use crate::theme::Theme;

/// What a failed push says when the registry wants credentials (the engine's `try \`berth login …\``): the
/// UI cannot prompt for a password, so the login happens in a terminal.
const LOGIN_HINT: &str =
    "Log in from a terminal with the berth login above (it asks for the password), then push again.";

pub type PushDialog = TransferDialog<PushLayerProgress>;

/// What a key asks the app to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAction {
    Nothing,
    Start(String),
    Close,
}

impl TransferDialog<PushLayerProgress> {
    pub fn handle_key(&mut self, key: &KeyEvent) -> PushAction {
        match (&self.phase, key.code) {
            (TransferPhase::Editing, _) => match self.edit(key) {
                Typed::Start(reference) => PushAction::Start(reference),
                Typed::Close => PushAction::Close,
                Typed::Nothing => PushAction::Nothing,
            },
            (_, KeyCode::Esc | KeyCode::Enter) => PushAction::Close,
            _ => PushAction::Nothing,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let status = match &self.phase {
            TransferPhase::Editing => {
                ("to the registry its name says, e.g. localhost:5000/app:1".to_string(), theme.muted())
            }
            TransferPhase::Running { reference } => (format!("Pushing {reference}…"), theme.base()),
            TransferPhase::Done { reference, result } => (format!("Pushed {reference}\n{result}"), theme.ok()),
            TransferPhase::Failed { error, .. } if error.contains("berth login") => {
                (format!("{error}\n{LOGIN_HINT}"), theme.error())
            }
            TransferPhase::Failed { error, .. } => (error.clone(), theme.error()),
        };
        let bars = self
            .layers
            .iter()
            .map(|(layer, state)| {
                let (ratio, label) = match state {
                    PushLayerProgress::Preparing => (0.0, "preparing".to_string()),
                    PushLayerProgress::Waiting => (0.0, "waiting".to_string()),
                    PushLayerProgress::Pushing { done, total } => transfer::bytes(*done, *total),
                    PushLayerProgress::Pushed => (1.0, "pushed".to_string()),
                    PushLayerProgress::AlreadyExists => (1.0, "layer already exists".to_string()),
                    PushLayerProgress::Mounted { from } => (1.0, format!("mounted from {from}")),
                };
                (layer.as_str(), ratio, label)
            })
            .collect();
        let hint = match self.phase {
            TransferPhase::Editing => "Enter pushes · Esc cancels",
            TransferPhase::Running { .. } => "Esc closes; the push goes on (its end shows in the operations log)",
            _ => "Enter/Esc closes",
        };
        let editing = self.phase == TransferPhase::Editing;
        let view =
            Transfer { title: "Push image", input: self.input.value(), editing, status_lines: 6, status, bars, hint };
        view.draw(frame, area, theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_other_pushes_is_ignored_and_layers_keep_their_order() {
        let mut dialog = PushDialog::new("localhost:5000/app:1");
        assert!(!dialog.progress("localhost:5000/app:1", "sha256:a", PushLayerProgress::Preparing));
        dialog.phase = TransferPhase::Running { reference: "localhost:5000/app:1".into() };
        assert!(dialog.progress("localhost:5000/app:1", "sha256:b", PushLayerProgress::Preparing));
        assert!(dialog.progress("localhost:5000/app:1", "sha256:a", PushLayerProgress::Waiting));
        assert!(dialog.progress("localhost:5000/app:1", "sha256:b", PushLayerProgress::Pushed));
        assert!(!dialog.progress("localhost:5000/other:1", "sha256:c", PushLayerProgress::Pushed));
        assert_eq!(
            dialog.layers,
            vec![
                ("sha256:b".to_string(), PushLayerProgress::Pushed),
                ("sha256:a".to_string(), PushLayerProgress::Waiting)
            ]
        );
    }
}
