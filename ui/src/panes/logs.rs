//! The Logs pane: the selected container's log in a ring buffer bounded in lines and bytes, so a 1 GB log costs
//! a few MB; live follow, scroll back, search with next/previous match and a match count, a filter mode
//! that shows only matching lines, timestamps and wrap toggles.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, ListState, pane_block};
use crate::backend::LogLine;
use crate::keymap::Command;

/// Lines kept; older ones fall off the front.
pub const MAX_LINES: usize = 20_000;
/// Bytes kept across all lines: with the rest of the TUI, under 50 MB resident however much a followed log
/// writes (`bench/tui.sh` follows a 1 GB flood).
pub const MAX_BYTES: usize = 8 << 20;
/// A longer line is cut (and says so) so one 90k-character line cannot stall a frame.
pub const MAX_LINE_CHARS: usize = 4096;

/// Whether the log file holds lines older than the oldest one here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// Not known before the first lines arrive.
    Unknown,
    /// There may be: scrolling to the top asks for them.
    Available,
    Loading,
    /// The oldest line here is the log's first.
    None,
}

/// A request for the lines before the oldest one held: its stamp, and how many held lines share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OlderRequest {
    pub before: String,
    pub skip: usize,
}

#[derive(Debug)]
pub struct LogsPane {
    /// The container whose log this is (ID) and its name for the title.
    pub container: Option<(String, String)>,
    lines: VecDeque<LogLine>,
    bytes: usize,
    /// Lines dropped off the front since the log was opened.
    pub dropped: u64,
    pub follow: bool,
    pub timestamps: bool,
    pub wrap: bool,
    /// Lines up from the bottom the view is scrolled (0 = newest at the bottom).
    pub scroll: usize,
    /// The search field: `/` types into it, `n`/`N` move between matches.
    pub search: ListState,
    /// The search text lowercased, as lines are matched against it.
    needle: String,
    /// Kept lines that match the search.
    pub matches: usize,
    /// Which match the view was last moved to, counted from the oldest (1-based).
    pub current_match: Option<usize>,
    /// Only matching lines show (while there is a search).
    pub only_matches: bool,
    pub older: Older,
    /// Newer lines were let go to make room for older ones: live lines wait until the log is opened again.
    pub newer_cut: bool,
    pub error: Option<String>,
    /// A compose project's log: its containers (ID, name), whose lines are held interleaved by time under
    /// `name | ` prefixes, coloured per container. Empty for one container's log.
    pub members: Vec<(String, String)>,
}

impl Default for LogsPane {
    fn default() -> LogsPane {
        LogsPane {
            container: None,
            lines: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            follow: true,
            timestamps: false,
            wrap: false,
            scroll: 0,
            search: ListState::default(),
            needle: String::new(),
            matches: 0,
            current_match: None,
            only_matches: false,
            older: Older::Unknown,
            newer_cut: false,
            error: None,
            members: Vec::new(),
        }
    }
}

impl LogsPane {
    /// Starts over for another container.
    pub fn open(&mut self, id: &str, name: &str) {
        *self = LogsPane { container: Some((id.into(), name.into())), ..LogsPane::default() };
    }

    /// Starts over for a compose project's containers: `title` names it; older history is not read (the
    /// tails of every member are what it starts from).
    pub fn open_project(&mut self, title: &str, members: Vec<(String, String)>) {
        *self = LogsPane { container: Some((title.into(), title.into())), members, ..LogsPane::default() };
        self.older = Older::None;
    }

    /// Whether `id`'s lines belong here: the container shown, or a member of the project shown.
    pub fn shows(&self, id: &str) -> bool {
        if self.members.is_empty() {
            self.container.as_ref().is_some_and(|(c, _)| c == id)
        } else {
            self.members.iter().any(|(m, _)| m == id)
        }
    }

    /// Lines of one of the project's containers: prefixed with its name (padded to the longest), and put in
    /// time order among the others' (a member's first batch is its tail, older than lines held already).
    pub fn push_member(&mut self, id: &str, lines: Vec<LogLine>) {
        let width = self.members.iter().map(|(_, n)| n.chars().count()).max().unwrap_or(0);
        let Some((_, name)) = self.members.iter().find(|(m, _)| m == id) else { return };
        let prefixed: Vec<LogLine> =
            lines.into_iter().map(|l| LogLine { text: format!("{name:width$} | {}", l.text), ..l }).collect();
        let in_order = match (self.lines.back(), prefixed.first()) {
            (Some(last), Some(first)) => last.time <= first.time,
            _ => true,
        };
        if in_order {
            prefixed.into_iter().for_each(|l| self.push(l));
            return;
        }
        let mut all: Vec<LogLine> = self.lines.drain(..).chain(prefixed).collect();
        all.sort_by(|a, b| a.time.cmp(&b.time));
        self.bytes = 0;
        self.matches = 0;
        all.into_iter().for_each(|l| self.push(l));
    }

    /// The member whose `name | ` prefix starts a line, by its place in the project (for its colour).
    fn member_of(&self, text: &str) -> Option<(usize, usize)> {
        let width = self.members.iter().map(|(_, n)| n.chars().count()).max().unwrap_or(0);
        self.members.iter().enumerate().find_map(|(i, (_, name))| {
            let prefix = format!("{name:width$} | ");
            text.starts_with(&prefix).then_some((i, prefix.len()))
        })
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn lines(&self) -> impl Iterator<Item = &LogLine> {
        self.lines.iter()
    }

    fn hit(&self, line: &LogLine) -> bool {
        !self.needle.is_empty() && line.text.to_lowercase().contains(&self.needle)
    }

    /// Whether only matching lines show now.
    fn filtering(&self) -> bool {
        self.only_matches && !self.needle.is_empty()
    }

    /// Lines the view can show: every kept one, or the matches in filter mode.
    fn shown_count(&self) -> usize {
        if self.filtering() { self.matches } else { self.lines.len() }
    }

    /// Indices of the lines the view shows, newest first.
    fn shown_newest_first(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.lines.len()).rev().filter(|i| !self.filtering() || self.hit(&self.lines[*i]))
    }

    /// Takes the search field's text as the search: matches are counted again.
    pub fn search_changed(&mut self) {
        let needle = self.search.filter.value().to_lowercase();
        if needle == self.needle {
            return;
        }
        self.needle = needle;
        self.matches = self.lines.iter().filter(|l| self.hit(l)).count();
        self.current_match = None;
        self.scroll = self.scroll.min(self.shown_count().saturating_sub(1));
    }

    pub fn toggle_only_matches(&mut self) {
        self.only_matches = !self.only_matches;
        self.scroll = 0;
        self.follow = true;
    }

    /// Takes a batch from the followed log. The first is the tail asked for on open: a full `tail` of lines
    /// means older ones may be in the file.
    pub fn push_batch(&mut self, lines: Vec<LogLine>, tail: usize) {
        if self.older == Older::Unknown {
            self.older = if lines.len() >= tail { Older::Available } else { Older::None };
        }
        if self.newer_cut {
            return;
        }
        for line in lines {
            self.push(line);
        }
    }

    /// Whether the view is at the oldest line held.
    pub fn at_top(&self, page: usize) -> bool {
        self.scroll >= self.shown_count().saturating_sub(page.max(1))
    }

    /// When the view is at the top and older lines may exist: what to ask for (marked as loading).
    pub fn want_older(&mut self, page: usize) -> Option<OlderRequest> {
        if self.older != Older::Available || !self.at_top(page) {
            return None;
        }
        let request = self.before_oldest()?;
        self.older = Older::Loading;
        Some(request)
    }

    /// What asks for the lines before the oldest held.
    fn before_oldest(&self) -> Option<OlderRequest> {
        let oldest = self.lines.front()?;
        let skip = self.lines.iter().take_while(|l| l.time == oldest.time).count();
        Some(OlderRequest { before: oldest.time.clone(), skip })
    }

    /// Older lines read from the file for `request` go in front; the view stays on the lines it showed. Fewer
    /// than asked means the log's start was reached. Over the bounds, the newest lines go instead. Lines that
    /// come while a flood pushed the oldest held out meanwhile would leave a gap: they are let go, and the next
    /// look at the top asks again.
    pub fn prepend(&mut self, request: &OlderRequest, older: Vec<LogLine>, asked: usize) {
        if self.before_oldest().as_ref() != Some(request) {
            self.older = Older::Available;
            return;
        }
        self.older = if older.len() < asked { Older::None } else { Older::Available };
        for mut line in older.into_iter().rev() {
            if let Some((cut, _)) = line.text.char_indices().nth(MAX_LINE_CHARS) {
                line.text.truncate(cut);
            }
            self.matches += usize::from(self.hit(&line));
            self.bytes += line.text.len();
            self.lines.push_front(line);
        }
        self.current_match = None;
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            let Some(new) = self.lines.pop_back() else { break };
            self.bytes -= new.text.len();
            let shown = !self.filtering() || self.hit(&new);
            self.matches -= usize::from(self.hit(&new));
            self.newer_cut = true;
            self.follow = false;
            if shown {
                self.scroll = self.scroll.saturating_sub(1);
            }
        }
    }

    pub fn push(&mut self, mut line: LogLine) {
        if let Some((cut, _)) = line.text.char_indices().nth(MAX_LINE_CHARS) {
            let rest = line.text.len() - cut;
            line.text.truncate(cut);
            line.text.push_str(&format!("… [{rest} more bytes]"));
        }
        let hit = self.hit(&line);
        self.matches += usize::from(hit);
        self.bytes += line.text.len();
        self.lines.push_back(line);
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            let Some(old) = self.lines.pop_front() else { break };
            self.bytes -= old.text.len();
            self.dropped += 1;
            // What falls off the front is still in the file (a log opened short, then flooded).
            if self.older == Older::None {
                self.older = Older::Available;
            }
            if self.hit(&old) {
                self.matches -= 1;
                self.current_match = self.current_match.and_then(|m| m.checked_sub(1));
            }
        }
        if !self.follow && self.scroll > 0 && (hit || !self.filtering()) {
            // Keep the lines on screen still while new ones arrive below.
            self.scroll = (self.scroll + 1).min(self.shown_count().saturating_sub(1));
        }
    }

    /// Scrolls for a navigation command; the top shows a full page (`page` rows) of the oldest lines.
    pub fn scroll_by(&mut self, command: Command, page: usize) -> bool {
        let max = self.shown_count().saturating_sub(page.max(1));
        self.scroll = match command {
            Command::Up => (self.scroll + 1).min(max),
            Command::Down => self.scroll.saturating_sub(1),
            Command::PageUp => (self.scroll + page).min(max),
            Command::PageDown => self.scroll.saturating_sub(page),
            Command::Top => max,
            Command::Bottom => 0,
            _ => return false,
        };
        self.follow = self.scroll == 0;
        true
    }

    /// Moves the view to the next match above (`older`) or below, wrapping around; false when nothing
    /// matches. In filter mode every shown line matches, so this moves one line.
    pub fn jump_to_match(&mut self, older: bool) -> bool {
        if self.matches == 0 || self.lines.is_empty() {
            return false;
        }
        if self.filtering() {
            return self.scroll_by(if older { Command::Up } else { Command::Down }, 1);
        }
        let len = self.lines.len();
        let current = len - 1 - self.scroll.min(len - 1);
        let hit = |i: &usize| self.hit(&self.lines[*i]);
        let found = if older {
            (0..current).rev().find(hit).or_else(|| (current..len).rev().find(hit))
        } else {
            (current + 1..len).find(hit).or_else(|| (0..=current).find(hit))
        };
        let Some(i) = found else { return false };
        self.scroll = len - 1 - i;
        self.follow = self.scroll == 0;
        self.current_match = Some(self.lines.range(..=i).filter(|l| self.hit(l)).count());
        true
    }

    /// The match count for the search field's corner: `3/17`, `17 matches`, or `no match`.
    pub fn match_count(&self) -> Option<String> {
        if self.needle.is_empty() {
            return None;
        }
        Some(match (self.matches, self.current_match) {
            (0, _) => "no match".to_string(),
            (n, Some(at)) if !self.filtering() => format!("match {at}/{n}"),
            (1, _) => "1 match".to_string(),
            (n, _) => format!("{n} matches"),
        })
    }

    pub fn commands(&self) -> Vec<(Command, bool)> {
        let has_query = !self.search.filter.value().is_empty();
        vec![
            (Command::Follow, self.container.is_some()),
            (Command::Timestamps, true),
            (Command::Wrap, true),
            (Command::Filter, true),
            (Command::NextMatch, has_query),
            (Command::PrevMatch, has_query),
            (Command::OnlyMatches, has_query),
            (Command::SaveLog, !self.lines.is_empty()),
        ]
    }

    /// The text a saved file holds: the kept lines as shown (only the matches in filter mode), with
    /// timestamps when they show.
    pub fn export(&self) -> String {
        let mut out = String::with_capacity(self.bytes + self.lines.len() * 32);
        for line in self.lines.iter().filter(|l| !self.filtering() || self.hit(l)) {
            if self.timestamps {
                out.push_str(&line.time);
                out.push(' ');
            }
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }

    fn styled<'a>(&self, line: &'a LogLine, ctx: &Ctx) -> Line<'a> {
        let mut spans = Vec::new();
        if self.timestamps {
            spans.push(Span::styled(format!("{} ", line.time), ctx.theme.muted()));
        }
        let needle = self.search.filter.value();
        let base = if line.stderr { ctx.theme.error() } else { ctx.theme.base() };
        let mut text = line.text.as_str();
        if let Some((index, len)) = self.member_of(text) {
            spans.push(Span::styled(&text[..len], ctx.theme.member(index)));
            text = &text[len..];
        }
        spans.extend(styled_text(text, needle, base, ctx));
        Line::from(spans)
    }

    /// Rows a line takes at this width.
    fn rows_of(&self, line: &LogLine, width: usize) -> usize {
        if !self.wrap || width == 0 {
            return 1;
        }
        let stamp = if self.timestamps { line.time.chars().count() + 1 } else { 0 };
        (stamp + line.text.chars().count()).div_ceil(width).max(1)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let name = self.container.as_ref().map_or("", |(_, n)| n.as_str());
        let flags = format!(
            "{}{}{}",
            if self.follow { " follow" } else { "" },
            if self.timestamps { " time" } else { "" },
            if self.wrap { " wrap" } else { "" }
        );
        let only = if self.filtering() { " only matches" } else { "" };
        let older = match (self.older, self.newer_cut) {
            (_, true) => " · newest let go (G reloads)",
            (Older::Available, false) => " · ↑ older in file",
            (Older::Loading, false) => " · loading older…",
            _ => "",
        };
        let title = format!(" Logs {name} ·{flags}{only}{older} ");
        let mut block = pane_block(ctx, &title, &self.search);
        if let Some(count) = self.match_count() {
            let style = if self.matches == 0 { ctx.theme.error() } else { ctx.theme.muted() };
            block = block.title_bottom(Line::from(Span::styled(format!(" {count} "), style)).right_aligned());
        }
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        if self.container.is_none() {
            frame.render_widget(
                Paragraph::new("Select a container and press l.").style(ctx.theme.muted()).block(block),
                area,
            );
            return;
        }
        let inner = block.inner(area);
        let (height, width) = (inner.height as usize, inner.width as usize);
        // Walk up from the bottom-most shown line until the rows are full; only those lines are styled.
        let mut shown = Vec::new();
        let mut rows = 0;
        for i in self.shown_newest_first().skip(self.scroll) {
            if rows >= height {
                break;
            }
            rows += self.rows_of(&self.lines[i], width);
            shown.push(i);
        }
        let lines: Vec<Line> = shown.iter().rev().map(|i| self.styled(&self.lines[*i], ctx)).collect();
        let overflow = rows.saturating_sub(height) as u16;
        let mut paragraph = Paragraph::new(lines).block(block).scroll((overflow, 0));
        if self.wrap {
            paragraph = paragraph.wrap(Wrap { trim: false });
        }
        frame.render_widget(paragraph, area);
    }
}

/// A line's text with the search's matches marked.
fn styled_text<'a>(text: &'a str, needle: &str, base: Style, ctx: &Ctx) -> Vec<Span<'a>> {
    let lower = text.to_lowercase();
    // Highlighting is only attempted when lowercasing kept byte offsets (ASCII and most text).
    if needle.is_empty() || lower.len() != text.len() {
        return vec![Span::styled(text, base)];
    }
    let needle = needle.to_lowercase();
    let mut spans = Vec::new();
    let mut at = 0;
    for (start, _) in lower.match_indices(&needle) {
        spans.push(Span::styled(&text[at..start], base));
        spans.push(Span::styled(&text[start..start + needle.len()], ctx.theme.search_match()));
        at = start + needle.len();
    }
    spans.push(Span::styled(&text[at..], base));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theme::Theme;

    fn line(text: &str) -> LogLine {
        LogLine { time: "2026-01-01T00:00:00.000000000Z".into(), stderr: false, text: text.into() }
    }

    #[test]
    fn the_buffer_is_bounded_in_lines() {
        let mut logs = LogsPane::default();
        for i in 0..MAX_LINES + 10 {
            logs.push(line(&format!("line {i}")));
        }
        assert_eq!(logs.len(), MAX_LINES);
        assert_eq!(logs.dropped, 10);
        assert_eq!(logs.lines().next().unwrap().text, "line 10");
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes_and_long_lines_are_cut() {
        let mut logs = LogsPane::default();
        let long = "x".repeat(100_000);
        for _ in 0..(MAX_BYTES / MAX_LINE_CHARS) + 50 {
            logs.push(line(&long));
        }
        assert!(logs.bytes <= MAX_BYTES);
        let first = logs.lines().next().unwrap();
        assert!(first.text.ends_with("… [95904 more bytes]"), "{}", &first.text[4000..]);
    }

    #[test]
    fn search_moves_between_matches_and_wraps() {
        let mut logs = LogsPane::default();
        for text in ["a error", "b", "c error", "d"] {
            logs.push(line(text));
        }
        logs.search.filter = crate::input::TextInput::new("ERROR");
        logs.search_changed();
        assert_eq!(logs.match_count().as_deref(), Some("2 matches"));
        assert!(logs.jump_to_match(true));
        assert_eq!(logs.match_count().as_deref(), Some("match 2/2"));
        assert_eq!(logs.scroll, 1, "c error is one up from the bottom");
        assert!(!logs.follow);
        assert!(logs.jump_to_match(true));
        assert_eq!(logs.scroll, 3);
        assert!(logs.jump_to_match(true), "wraps around to the newest match");
        assert_eq!(logs.scroll, 1);
        assert!(logs.jump_to_match(false));
        assert_eq!(logs.scroll, 3);
        logs.search.filter = crate::input::TextInput::new("nothing");
        logs.search_changed();
        assert!(!logs.jump_to_match(false));
        assert_eq!(logs.match_count().as_deref(), Some("no match"));
    }

    #[test]
    fn filter_mode_shows_and_saves_only_the_matches() {
        let mut logs = LogsPane::default();
        for text in ["a error", "b", "c error", "d"] {
            logs.push(line(text));
        }
        logs.search.filter = crate::input::TextInput::new("error");
        logs.search_changed();
        logs.toggle_only_matches();
        assert_eq!(logs.export(), "a error\nc error\n", "no timestamps while they do not show");
        logs.push(line("e error"));
        logs.push(line("f"));
        assert_eq!((logs.matches, logs.shown_count()), (3, 3));
        logs.timestamps = true;
        assert!(logs.export().starts_with("2026-01-01T00:00:00.000000000Z a error\n"));
    }

    #[test]
    fn older_lines_past_the_bound_let_the_newest_go_and_hold_live_ones_back() {
        let mut logs = LogsPane::default();
        logs.push_batch((0..MAX_LINES).map(|i| line(&format!("new {i}"))).collect(), MAX_LINES);
        assert_eq!(logs.older, Older::Available);
        logs.scroll_by(Command::Top, 10);
        let request = logs.want_older(10).unwrap();
        logs.prepend(&request, (0..100).map(|i| line(&format!("old {i}"))).collect(), 100);
        assert_eq!(logs.len(), MAX_LINES, "still bounded");
        assert!(logs.newer_cut && !logs.follow);
        assert_eq!(logs.lines().next().unwrap().text, "old 0");
        assert_eq!(logs.lines().last().unwrap().text, format!("new {}", MAX_LINES - 101));
        logs.push_batch(vec![line("live")], MAX_LINES);
        assert!(logs.lines().all(|l| l.text != "live"), "a live line would leave a gap");
    }

    #[test]
    fn a_log_opened_short_then_flooded_reads_what_fell_off_from_the_file() {
        let mut logs = LogsPane::default();
        logs.push_batch(vec![line("first")], 100);
        assert_eq!(logs.older, Older::None, "the whole log is held");
        logs.push_batch((0..MAX_LINES).map(|i| line(&format!("flood {i}"))).collect(), 100);
        assert_eq!(logs.older, Older::Available, "\"first\" fell off the front");
        logs.scroll_by(Command::Top, 10);
        assert!(logs.want_older(10).is_some());
    }

    #[test]
    fn older_lines_asked_before_a_flood_pushed_the_oldest_out_are_let_go() {
        let mut logs = LogsPane::default();
        logs.push_batch((0..MAX_LINES).map(|i| line(&format!("a {i}"))).collect(), MAX_LINES);
        logs.scroll_by(Command::Top, 10);
        let request = logs.want_older(10).unwrap();
        let mut later = line("b");
        later.time = "2026-01-01T00:00:01.000000000Z".into();
        for _ in 0..10 {
            logs.push(later.clone());
        }
        logs.prepend(&request, vec![line("before a 0")], 1);
        assert!(logs.lines().all(|l| l.text != "before a 0"), "it would sit before a gap");
        assert_eq!(logs.older, Older::Available, "asked again from the oldest held now");
        assert_eq!(logs.want_older(10).unwrap().skip, MAX_LINES - 10);
    }

    #[test]
    fn a_project_line_s_prefix_takes_its_member_s_colour_from_the_theme() {
        let mut logs = LogsPane::default();
        logs.open_project("shop", vec![("a1".into(), "web".into()), ("b2".into(), "db".into())]);
        logs.push_member("b2", vec![line("ready")]);
        let theme = Theme::find("light", None).unwrap();
        let ctx = Ctx { theme: &theme, focused: true, now: chrono::Utc::now() };
        let held = logs.lines().next().unwrap().clone();
        let styled = logs.styled(&held, &ctx);
        assert_eq!(styled.spans[0].content, "db  | ");
        assert_eq!(styled.spans[0].style, theme.member(1));
        assert_ne!(theme.member(1), Theme::default().member(1), "the light theme has its own");
    }

    #[test]
    fn the_top_shows_a_full_page() {
        let mut logs = LogsPane::default();
        for i in 0..50 {
            logs.push(line(&i.to_string()));
        }
        logs.scroll_by(Command::Top, 10);
        assert_eq!(logs.scroll, 40, "lines 0 to 9 fill the page");
        logs.scroll_by(Command::Up, 10);
        assert_eq!(logs.scroll, 40, "and it stops there");
    }

    #[test]
    fn scrolling_up_stops_follow_and_new_lines_keep_the_view_still() {
        let mut logs = LogsPane::default();
        for i in 0..5 {
            logs.push(line(&i.to_string()));
        }
        logs.scroll_by(Command::Up, 2);
        assert!(!logs.follow);
        logs.push(line("5"));
        assert_eq!(logs.scroll, 2);
        logs.scroll_by(Command::Bottom, 10);
        assert!(logs.follow && logs.scroll == 0);
    }
}
