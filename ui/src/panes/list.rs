//! Selection, scrolling and `/` filtering shared by every list pane.

use crate::input::TextInput;
use crate::keymap::Command;

#[derive(Debug, Clone, Default)]
pub struct ListState {
    /// Index into the visible (filtered) rows.
    pub selected: usize,
    pub filter: TextInput,
    /// The filter field has the keyboard.
    pub filtering: bool,
}

/// How far PageUp/PageDown move.
const PAGE: usize = 10;

impl ListState {
    /// Moves the selection for a navigation command; false when the command is not navigation.
    pub fn navigate(&mut self, command: Command, len: usize) -> bool {
        let last = len.saturating_sub(1);
        self.selected = match command {
            Command::Up => self.selected.saturating_sub(1),
            Command::Down => (self.selected + 1).min(last),
            Command::Top => 0,
            Command::Bottom => last,
            Command::PageUp => self.selected.saturating_sub(PAGE),
            Command::PageDown => (self.selected + PAGE).min(last),
            _ => return false,
        };
        true
    }

    /// Keeps the selection inside a list that shrank.
    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// Whether a row's text passes the filter (case-insensitive substring).
    pub fn matches(&self, text: &str) -> bool {
        let needle = self.filter.value();
        needle.is_empty() || text.to_lowercase().contains(&needle.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_stays_in_bounds() {
        let mut list = ListState::default();
        list.navigate(Command::Up, 3);
        assert_eq!(list.selected, 0);
        list.navigate(Command::PageDown, 3);
        assert_eq!(list.selected, 2);
        list.navigate(Command::Down, 3);
        assert_eq!(list.selected, 2);
        list.clamp(1);
        assert_eq!(list.selected, 0);
        assert!(!list.navigate(Command::Quit, 3));
    }

    #[test]
    fn filter_is_a_case_insensitive_substring() {
        let mut list = ListState { filter: TextInput::new("WEB"), ..ListState::default() };
        assert!(list.matches("my-web-1"));
        assert!(!list.matches("db"));
        list.filter = TextInput::default();
        assert!(list.matches("db"));
    }
}
