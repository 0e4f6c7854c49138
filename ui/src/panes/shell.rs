//! The Shell pane: terminal emulators (vt100 via tui-term) over exec sessions' pty bytes, drawn beside logs and
//! stats instead of suspending the UI. Several sessions may be open; keys pass through while it has focus.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tui_term::vt100::Parser;
use tui_term::widget::PseudoTerminal;

use super::{Ctx, ListState, pane_block};
use crate::keymap::Command;

/// Scrollback rows each emulator keeps.
const SCROLLBACK: usize = 1000;

pub struct ShellSession {
    pub session: u64,
    pub container: String,
    /// Tells sessions in one container apart: the first opened there is 1.
    pub number: usize,
    pub parser: Parser,
    pub closed: bool,
}

impl ShellSession {
    /// The tab's name: `web #2`.
    pub fn label(&self) -> String {
        format!("{} #{}", self.container, self.number)
    }
}

/// Copy mode: whole lines of what the pane shows, from the mark to the cursor (rows of the screen as
/// scrolled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    pub cursor: u16,
    pub mark: Option<u16>,
}

impl Copy {
    pub fn rows(&self) -> std::ops::RangeInclusive<u16> {
        let mark = self.mark.unwrap_or(self.cursor);
        mark.min(self.cursor)..=mark.max(self.cursor)
    }
}

impl std::fmt::Debug for ShellSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellSession").field("session", &self.session).field("container", &self.container).finish()
    }
}

#[derive(Debug, Default)]
pub struct ShellPane {
    pub sessions: Vec<ShellSession>,
    pub active: usize,
    /// Keys go to the shell, not the UI.
    pub captured: bool,
    pub copy: Option<Copy>,
    pub error: Option<String>,
}

impl ShellPane {
    pub fn add(&mut self, session: u64, container: &str, rows: u16, cols: u16) {
        let number = self.sessions.iter().filter(|s| s.container == container).map(|s| s.number).max().unwrap_or(0) + 1;
        self.sessions.push(ShellSession {
            session,
            container: container.into(),
            number,
            parser: Parser::new(rows, cols, SCROLLBACK),
            closed: false,
        });
        self.copy = None;
        self.active = self.sessions.len() - 1;
        self.captured = true;
        self.error = None;
    }

    pub fn active(&self) -> Option<&ShellSession> {
        self.sessions.get(self.active)
    }

    /// Feeds pty output to its emulator; false for an unknown session.
    pub fn output(&mut self, session: u64, bytes: &[u8]) -> bool {
        match self.sessions.iter_mut().find(|s| s.session == session) {
            Some(s) => {
                s.parser.process(bytes);
                true
            }
            None => false,
        }
    }

    pub fn closed(&mut self, session: u64) -> bool {
        match self.sessions.iter_mut().find(|s| s.session == session) {
            Some(s) => {
                s.closed = true;
                true
            }
            None => false,
        }
    }

    /// Follows a terminal resize; returns the sessions whose pty must learn the new size.
    pub fn resize(&mut self, rows: u16, cols: u16) -> Vec<u64> {
        self.sessions
            .iter_mut()
            .filter(|s| !s.closed && s.parser.screen().size() != (rows, cols))
            .map(|s| {
                s.parser.screen_mut().set_size(rows, cols);
                s.session
            })
            .collect()
    }

    /// Forgets a session (closed by the user); the next one to the left becomes active.
    pub fn remove(&mut self, session: u64) {
        if let Some(index) = self.sessions.iter().position(|s| s.session == session) {
            self.sessions.remove(index);
            if self.active >= index && self.active > 0 {
                self.active -= 1;
            }
        }
        if self.sessions.is_empty() {
            self.captured = false;
        }
    }

    /// Cycles to the next open session.
    pub fn next(&mut self) {
        if !self.sessions.is_empty() {
            self.active = (self.active + 1) % self.sessions.len();
        }
    }

    /// Scrolls the active emulator's view `rows` back (negative: forward), within its scrollback.
    pub fn scroll(&mut self, rows: isize) {
        let Some(session) = self.sessions.get_mut(self.active) else { return };
        let screen = session.parser.screen_mut();
        screen.set_scrollback(screen.scrollback().saturating_add_signed(rows));
    }

    /// Rows the active emulator shows.
    fn height(&self) -> u16 {
        self.active().map_or(0, |s| s.parser.screen().size().0)
    }

    pub fn start_copy(&mut self) {
        let height = self.height();
        if height > 0 {
            self.copy = Some(Copy { cursor: height - 1, mark: None });
        }
    }

    /// Moves the copy cursor; at the screen's edge the view scrolls instead, so any line of the scrollback
    /// can be reached.
    pub fn move_copy(&mut self, down: bool) {
        let height = self.height();
        let Some(copy) = self.copy.as_mut() else { return };
        match (down, copy.cursor) {
            (false, 0) => {
                copy.mark = copy.mark.map(|m| m.saturating_add(1));
                self.scroll(1);
            }
            (false, row) => copy.cursor = row - 1,
            (true, row) if row + 1 >= height => {
                copy.mark = copy.mark.map(|m| m.saturating_sub(1));
                self.scroll(-1);
            }
            (true, row) => copy.cursor = row + 1,
        }
    }

    /// The text of the lines copy mode selects, trailing blanks trimmed.
    pub fn copied(&self) -> Option<String> {
        let (copy, session) = (self.copy?, self.active()?);
        let cols = session.parser.screen().size().1;
        let rows: Vec<String> = session.parser.screen().rows(0, cols).collect();
        let lines: Vec<&str> = copy.rows().filter_map(|r| rows.get(usize::from(r))).map(|l| l.trim_end()).collect();
        Some(lines.join("\n"))
    }

    pub fn commands(&self) -> Vec<(Command, bool)> {
        let open = self.active().is_some_and(|s| !s.closed);
        let idle = !self.captured && self.active().is_some();
        vec![
            (Command::LeaveShell, self.captured),
            (Command::ResumeShell, !self.captured && open),
            (Command::ShellScrollUp, idle),
            (Command::ShellScrollDown, idle),
            (Command::CopyMode, idle),
            (Command::CloseShell, idle),
        ]
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let tabs: Vec<String> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mark = if i == self.active { "*" } else { "" };
                let closed = if s.closed { " (exited)" } else { "" };
                format!("{}{mark}{closed}", s.label())
            })
            .collect();
        let state = match (self.captured, self.copy.is_some()) {
            (_, true) => "· copy ",
            (true, false) => "· typing ",
            (false, false) => "",
        };
        let title = format!(" Shell {} {state}", tabs.join(" | "));
        let mut block = pane_block(ctx, &title, &ListState::default());
        if let Some(session) = self.active() {
            let back = session.parser.screen().scrollback();
            if session.closed {
                block = block.title_bottom(Span::styled(" shell exited · any key closes it ", ctx.theme.error()));
            } else if back > 0 {
                block = block.title_bottom(Span::styled(format!(" {back} lines back "), ctx.theme.muted()));
            }
        }
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        match self.active() {
            Some(session) => {
                let inner = block.inner(area);
                let terminal = PseudoTerminal::new(session.parser.screen()).block(block).style(ctx.theme.base());
                frame.render_widget(terminal, area);
                if let Some(copy) = self.copy {
                    for row in copy.rows().filter(|r| *r < inner.height) {
                        let line = Rect { y: inner.y + row, height: 1, ..inner };
                        frame.buffer_mut().set_style(line, ctx.theme.selected());
                    }
                }
            }
            None => {
                let hint = Line::from(vec![Span::raw("Select a running container and press e for a shell.")]);
                frame.render_widget(Paragraph::new(hint).style(ctx.theme.muted()).block(block), area);
            }
        }
    }
}

/// The bytes a terminal sends for a key, so shells see arrows and control keys, not `^[[A` text.
pub fn key_bytes(key: &KeyEvent) -> Vec<u8> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let mut out = Vec::new();
    if alt {
        out.push(0x1b);
    }
    match key.code {
        KeyCode::Char(c) if ctrl && c.is_ascii_alphabetic() => out.push((c.to_ascii_lowercase() as u8) & 0x1f),
        KeyCode::Char(' ') if ctrl => out.push(0),
        KeyCode::Char(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        KeyCode::Enter => out.push(b'\r'),
        KeyCode::Tab => out.push(b'\t'),
        KeyCode::BackTab => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Backspace => out.push(0x7f),
        KeyCode::Esc => out.push(0x1b),
        KeyCode::Up => out.extend_from_slice(b"\x1b[A"),
        KeyCode::Down => out.extend_from_slice(b"\x1b[B"),
        KeyCode::Right => out.extend_from_slice(b"\x1b[C"),
        KeyCode::Left => out.extend_from_slice(b"\x1b[D"),
        KeyCode::Home => out.extend_from_slice(b"\x1b[H"),
        KeyCode::End => out.extend_from_slice(b"\x1b[F"),
        KeyCode::PageUp => out.extend_from_slice(b"\x1b[5~"),
        KeyCode::PageDown => out.extend_from_slice(b"\x1b[6~"),
        KeyCode::Delete => out.extend_from_slice(b"\x1b[3~"),
        KeyCode::Insert => out.extend_from_slice(b"\x1b[2~"),
        KeyCode::F(n @ 1..=4) => out.extend_from_slice(&[0x1b, b'O', b'P' + n - 1]),
        KeyCode::F(n @ 5..=12) => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            out.extend_from_slice(format!("\x1b[{code}~").as_bytes());
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_terminal_bytes() {
        let k = |code, mods| key_bytes(&KeyEvent::new(code, mods));
        assert_eq!(k(KeyCode::Char('a'), KeyModifiers::NONE), b"a");
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::CONTROL), [3]);
        assert_eq!(k(KeyCode::Up, KeyModifiers::NONE), b"\x1b[A");
        assert_eq!(k(KeyCode::Enter, KeyModifiers::NONE), b"\r");
        assert_eq!(k(KeyCode::Char('x'), KeyModifiers::ALT), b"\x1bx");
        assert_eq!(k(KeyCode::F(5), KeyModifiers::NONE), b"\x1b[15~");
        assert_eq!(k(KeyCode::Char('é'), KeyModifiers::NONE), "é".as_bytes());
    }

    #[test]
    fn output_feeds_the_right_emulator_and_resize_reports_sessions() {
        let mut shell = ShellPane::default();
        shell.add(7, "web", 5, 20);
        shell.add(9, "db", 5, 20);
        assert!(shell.output(7, b"hello\r\n"));
        assert!(!shell.output(8, b"x"));
        assert!(shell.sessions[0].parser.screen().contents().starts_with("hello"));
        assert!(shell.sessions[1].parser.screen().contents().is_empty());
        shell.closed(9);
        assert_eq!(shell.resize(10, 40), vec![7]);
        assert_eq!(shell.resize(10, 40), Vec::<u64>::new());
    }

    #[test]
    fn removing_a_session_activates_its_neighbour() {
        let mut shell = ShellPane::default();
        shell.add(1, "a", 5, 20);
        shell.add(2, "b", 5, 20);
        shell.add(3, "c", 5, 20);
        shell.remove(3);
        assert_eq!(shell.active().map(|s| s.session), Some(2));
        shell.active = 0;
        shell.remove(2);
        assert_eq!(shell.active().map(|s| s.session), Some(1));
        shell.remove(1);
        assert!(shell.active().is_none() && !shell.captured);
    }
}
