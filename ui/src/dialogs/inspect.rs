//! Scrollable text over the panes: the inspect output (JSON) of an image or container, or what a berth command
//! run from `:` printed. It wraps on request, searches (`/`, then `n`/`N`) and copies (`y`).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::dialog_block;
use crate::input::{InputOutcome, TextInput};
use crate::keymap::Command;
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectDialog {
    pub title: String,
    pub text: String,
    /// The first line shown.
    pub scroll: usize,
    pub wrap: bool,
    /// The search being typed.
    pub typing: Option<TextInput>,
    /// The last search, lowercased.
    pub query: String,
    /// The line of the match last moved to.
    pub hit: Option<usize>,
    /// What the last search or copy said.
    pub note: Option<String>,
}

/// What a key asks of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectAction {
    Stay,
    Close,
    /// Copy the whole text.
    Copy(String),
}

/// The rows and columns inside a text popup drawn over `body`.
pub fn inner(body: Rect) -> (usize, usize) {
    (usize::from(body.height.saturating_sub(4)), usize::from(body.width.saturating_sub(6)))
}

/// The first row a popup of `rows` rows may start at so its last row is the text's last: scrolling stops
/// there rather than running into empty space. `heights` gives each line's rows, from the last up.
pub fn max_scroll(heights: impl DoubleEndedIterator<Item = usize> + ExactSizeIterator, rows: usize) -> usize {
    let len = heights.len();
    let mut used = 0;
    for (taken, height) in heights.rev().enumerate() {
        used += height;
        if used > rows {
            return len - taken;
        }
    }
    0
}

/// A navigation command's new first line, between 0 and `max`.
pub fn scrolled(scroll: usize, command: Command, page: usize, max: usize) -> usize {
    match command {
        Command::Up => scroll.saturating_sub(1),
        Command::Down => scroll + 1,
        Command::PageUp => scroll.saturating_sub(page.max(1)),
        Command::PageDown => scroll + page.max(1),
        Command::Top => 0,
        Command::Bottom => max,
        _ => scroll,
    }
    .min(max)
}

impl InspectDialog {
    pub fn new(title: String, text: String) -> InspectDialog {
        InspectDialog { title, text, scroll: 0, wrap: false, typing: None, query: String::new(), hit: None, note: None }
    }

    /// The last first line for a popup of `rows` by `cols`.
    fn max(&self, rows: usize, cols: usize) -> usize {
        let heights: Vec<usize> = self
            .text
            .lines()
            .map(|l| if self.wrap { l.chars().count().div_ceil(cols.max(1)).max(1) } else { 1 })
            .collect();
        max_scroll(heights.into_iter(), rows)
    }

    /// Moves to the next line holding the search below the last match (`down`) or above it, wrapping around; a
    /// `fresh` search starts from the first line shown.
    fn find(&mut self, down: bool, fresh: bool) {
        let hits: Vec<usize> = self
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| !self.query.is_empty() && l.to_lowercase().contains(&self.query))
            .map(|(i, _)| i)
            .collect();
        let from = if fresh { None } else { self.hit };
        let next = match (down, from) {
            (true, None) => hits.iter().find(|i| **i >= self.scroll),
            (true, Some(hit)) => hits.iter().find(|i| **i > hit),
            (false, None) => hits.iter().rev().find(|i| **i < self.scroll),
            (false, Some(hit)) => hits.iter().rev().find(|i| **i < hit),
        };
        let next = next.or(if down { hits.first() } else { hits.last() });
        self.hit = next.copied();
        self.note = Some(match next {
            Some(i) => {
                self.scroll = *i;
                let at = hits.iter().position(|h| h == i).unwrap_or(0) + 1;
                format!("match {at}/{}", hits.len())
            }
            None => format!("no match for {:?}", self.query),
        });
    }

    /// Handles a key; `command` is what the lists' keymap makes of it, `rows` and `cols` the popup's inside.
    pub fn handle_key(&mut self, key: &KeyEvent, command: Option<Command>, rows: usize, cols: usize) -> InspectAction {
        if let Some(input) = self.typing.as_mut() {
            match input.handle(key) {
                InputOutcome::Submit => {
                    self.query = input.value().to_lowercase();
                    self.typing = None;
                    self.find(true, true);
                    self.scroll = self.scroll.min(self.max(rows, cols));
                }
                InputOutcome::Cancel => self.typing = None,
                InputOutcome::Changed | InputOutcome::Ignored => {}
            }
            return InspectAction::Stay;
        }
        self.note = None;
        match (key.code, command) {
            (_, Some(Command::Back)) => return InspectAction::Close,
            (_, Some(Command::Filter)) => self.typing = Some(TextInput::default()),
            (KeyCode::Char('n'), _) => self.find(true, false),
            (KeyCode::Char('N'), _) => self.find(false, false),
            (KeyCode::Char('w'), _) => self.wrap = !self.wrap,
            (KeyCode::Char('y'), _) => return InspectAction::Copy(self.text.clone()),
            (_, Some(c)) => self.scroll = scrolled(self.scroll, c, rows, self.max(rows, cols)),
            _ => {}
        }
        self.scroll = self.scroll.min(self.max(rows, cols));
        InspectAction::Stay
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(2),
        };
        frame.render_widget(Clear, area);
        let (rows, _) = inner(Rect { height: area.height + 2, ..area });
        let lines: Vec<Line> =
            self.text.lines().skip(self.scroll).take(rows.max(1)).map(|l| self.highlighted(l, theme)).collect();
        let status = match (&self.typing, &self.note) {
            (Some(input), _) => format!(" /{}▏ ", input.value()),
            (None, Some(note)) => format!(" {note} "),
            (None, None) => " / search  n/N next/prev  w wrap  y copy  Esc close ".to_string(),
        };
        let block = dialog_block(theme, &self.title)
            .title_bottom(Line::from(Span::styled(status, theme.muted())).right_aligned());
        let mut paragraph = Paragraph::new(lines).block(block);
        if self.wrap {
            paragraph = paragraph.wrap(Wrap { trim: false });
        }
        frame.render_widget(paragraph, area);
    }

    /// A line with the search's matches marked (when lowercasing keeps byte offsets, as for JSON).
    fn highlighted<'a>(&self, line: &'a str, theme: &Theme) -> Line<'a> {
        let lower = line.to_lowercase();
        if self.query.is_empty() || lower.len() != line.len() {
            return Line::from(line);
        }
        let mut spans = Vec::new();
        let mut at = 0;
        for (start, _) in lower.match_indices(&self.query) {
            spans.push(Span::raw(&line[at..start]));
            spans.push(Span::styled(&line[start..start + self.query.len()], theme.search_match()));
            at = start + self.query.len();
        }
        spans.push(Span::raw(&line[at..]));
        Line::from(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn press(dialog: &mut InspectDialog, code: KeyCode, command: Option<Command>) -> InspectAction {
        dialog.handle_key(&KeyEvent::new(code, KeyModifiers::NONE), command, 10, 20)
    }

    fn text() -> String {
        (0..50).map(|i| format!("\"key{i}\": {i}")).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn scrolling_stops_with_the_last_line_at_the_bottom() {
        let mut dialog = InspectDialog::new("t".into(), text());
        press(&mut dialog, KeyCode::End, Some(Command::Bottom));
        assert_eq!(dialog.scroll, 40, "lines 40 to 49 fill the 10 rows");
        press(&mut dialog, KeyCode::Down, Some(Command::Down));
        press(&mut dialog, KeyCode::PageDown, Some(Command::PageDown));
        assert_eq!(dialog.scroll, 40);
        press(&mut dialog, KeyCode::Home, Some(Command::Top));
        assert_eq!(dialog.scroll, 0);
        let mut short = InspectDialog::new("t".into(), "a\nb".into());
        press(&mut short, KeyCode::Char('G'), Some(Command::Bottom));
        assert_eq!(short.scroll, 0, "a text that fits does not scroll");
    }

    #[test]
    fn wrapped_lines_count_their_rows_at_the_end() {
        let mut dialog = InspectDialog::new("t".into(), vec!["x".repeat(100); 3].join("\n"));
        press(&mut dialog, KeyCode::End, Some(Command::Bottom));
        assert_eq!(dialog.scroll, 0, "three lines fit ten rows unwrapped");
        press(&mut dialog, KeyCode::Char('w'), None);
        press(&mut dialog, KeyCode::End, Some(Command::Bottom));
        assert_eq!(dialog.scroll, 1, "wrapped, each takes five rows: the last two fill the popup");
    }

    #[test]
    fn search_finds_counts_and_says_no_match() {
        let mut dialog = InspectDialog::new("t".into(), text());
        press(&mut dialog, KeyCode::Char('/'), Some(Command::Filter));
        for c in "KEY4".chars() {
            press(&mut dialog, KeyCode::Char(c), None);
        }
        press(&mut dialog, KeyCode::Enter, None);
        assert_eq!((dialog.scroll, dialog.note.as_deref()), (4, Some("match 1/11")));
        press(&mut dialog, KeyCode::Char('n'), None);
        assert_eq!((dialog.scroll, dialog.note.as_deref()), (40, Some("match 2/11")), "then the 40s");
        press(&mut dialog, KeyCode::Char('n'), None);
        assert_eq!((dialog.scroll, dialog.note.as_deref()), (40, Some("match 3/11")), "line 41 shows at the end");
        press(&mut dialog, KeyCode::Char('n'), None);
        assert_eq!(dialog.note.as_deref(), Some("match 4/11"), "and n goes on past it");
        press(&mut dialog, KeyCode::Char('N'), None);
        press(&mut dialog, KeyCode::Char('N'), None);
        press(&mut dialog, KeyCode::Char('N'), None);
        assert_eq!(dialog.scroll, 4);
        press(&mut dialog, KeyCode::Char('/'), Some(Command::Filter));
        press(&mut dialog, KeyCode::Char('z'), None);
        press(&mut dialog, KeyCode::Enter, None);
        assert_eq!(dialog.note.as_deref(), Some("no match for \"z\""));
        assert_eq!(press(&mut dialog, KeyCode::Char('y'), None), InspectAction::Copy(text()));
        assert_eq!(press(&mut dialog, KeyCode::Esc, Some(Command::Back)), InspectAction::Close);
    }
}
