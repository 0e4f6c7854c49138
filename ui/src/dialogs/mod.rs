//! One file per dialog; each draws over the panes in a centred box.

pub mod build;
pub mod command_line;
pub mod confirm;
pub mod help;
pub mod inspect;
pub mod pull;
pub mod push;
pub mod run;
pub mod save_log;
pub mod scale;
pub mod transfer;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType};

use crate::input::{InputOutcome, TextInput};
use crate::theme::Theme;

/// What a key does to a form of text fields.
pub enum FormKey {
    /// Enter in a field: the form's values are to be checked and used.
    Submit,
    Cancel,
    /// Focus moved or a field changed (a change clears the shown error).
    Handled,
}

/// The keys every form dialog shares: Tab/Down and BackTab/Up move between `fields`, the rest goes to the
/// focused field.
pub fn form_key(fields: &mut [TextInput], focus: &mut usize, error: &mut Option<String>, key: &KeyEvent) -> FormKey {
    match key.code {
        KeyCode::Tab | KeyCode::Down => *focus = (*focus + 1) % fields.len(),
        KeyCode::BackTab | KeyCode::Up => *focus = (*focus + fields.len() - 1) % fields.len(),
        _ => match fields[*focus].handle(key) {
            InputOutcome::Submit => return FormKey::Submit,
            InputOutcome::Cancel => return FormKey::Cancel,
            InputOutcome::Changed => *error = None,
            InputOutcome::Ignored => {}
        },
    }
    FormKey::Handled
}

/// A box `width` columns by `height` rows (capped by the area) in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(row);
    cell
}

pub fn dialog_block<'a>(theme: &Theme, title: &str) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .title(Span::styled(format!(" {title} "), theme.header()))
        .style(theme.base())
}
