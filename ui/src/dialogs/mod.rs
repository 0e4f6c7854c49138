//! One file per dialog; each draws over the panes in a centred box.

pub mod build;
pub mod command_line;
pub mod confirm;
pub mod help;
pub mod inspect;
pub mod pull;
pub mod run;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType};

use crate::theme::Theme;

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
