//! Scrollable text over the panes: the inspect output (JSON) of an image or container, or what a berth command
//! run from `:` printed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Paragraph};

use super::dialog_block;
use crate::keymap::Command;
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectDialog {
    pub title: String,
    pub text: String,
    pub scroll: u16,
}

impl InspectDialog {
    pub fn scroll_by(&mut self, command: Command) {
        let max = self.text.lines().count().saturating_sub(1).min(u16::MAX as usize) as u16;
        self.scroll = match command {
            Command::Up => self.scroll.saturating_sub(1),
            Command::Down => self.scroll.saturating_add(1),
            Command::PageUp => self.scroll.saturating_sub(20),
            Command::PageDown => self.scroll.saturating_add(20),
            Command::Top => 0,
            Command::Bottom => max,
            _ => self.scroll,
        }
        .min(max);
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(2),
        };
        frame.render_widget(Clear, area);
        let paragraph =
            Paragraph::new(self.text.as_str()).scroll((self.scroll, 0)).block(dialog_block(theme, &self.title));
        frame.render_widget(paragraph, area);
    }
}
