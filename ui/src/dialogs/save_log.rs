//! Ctrl-S in the Logs pane: asks where to save the log, with a default path ready to take or edit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{centered, dialog_block};
use crate::input::TextInput;
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveLogDialog {
    pub path: TextInput,
}

impl SaveLogDialog {
    pub fn new(default: &str) -> SaveLogDialog {
        SaveLogDialog { path: TextInput::new(default) }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = centered(area, 72, 6);
        frame.render_widget(Clear, area);
        // The end of a long path is what tells files apart: it stays in sight.
        let room = usize::from(area.width.saturating_sub(4));
        let chars: Vec<char> = self.path.value().chars().collect();
        let shown: String = if chars.len() < room {
            chars.iter().collect()
        } else {
            std::iter::once('…').chain(chars[chars.len() + 2 - room..].iter().copied()).collect()
        };
        let lines = vec![
            Line::from(Span::styled("Save the log as shown to", theme.header())),
            Line::from(format!("{shown}▏")),
            Line::from(Span::styled("Enter saves · Esc cancels · ctrl-u clears", theme.muted())),
        ];
        frame.render_widget(Paragraph::new(lines).block(dialog_block(theme, "Save log")), area);
    }
}
