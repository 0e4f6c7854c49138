//! Asks before a dangerous operation (kill, remove, prune); `confirm = false` in tui.toml skips it.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{centered, dialog_block};
use crate::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Undecided,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmDialog<T> {
    pub prompt: String,
    /// What to do on yes.
    pub action: T,
}

impl<T> ConfirmDialog<T> {
    pub fn handle_key(&self, key: &KeyEvent) -> Answer {
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => Answer::Yes,
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Answer::No,
            _ => Answer::Undecided,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = centered(area, 60, 6);
        frame.render_widget(Clear, area);
        let text = vec![
            Line::from(self.prompt.as_str()),
            Line::default(),
            Line::from(vec![
                Span::styled("y", theme.key()),
                Span::raw("/Enter yes   "),
                Span::styled("n", theme.key()),
                Span::raw("/Esc no"),
            ]),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(dialog_block(theme, "Confirm")), area);
    }
}
