//! The layer explorer, dive inside the TUI: an image's layers on the left, the selected layer's file tree on
//! the right with what the layer added, modified and removed marked, either the whole tree merged up to that
//! layer or the layer's own changes only; the header carries the image's wasted space and efficiency.
//!
//! The engine computes every layer's changes once (on the backend's task; "reading layers…" until then).
//! Only the rows of the chosen layer and view are flattened, off the UI thread ([`TreeRequest`], the newest
//! one built): a key that changes the layer, view or filter shows the tree it had until the new one comes,
//! so typing a filter over tens of thousands of files never stalls a frame. Only rows on screen are drawn.

use std::cell::Cell as StdCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Clear, Paragraph, Row, Table, TableState};

use crate::backend::LayerRow;
use crate::input::{InputOutcome, TextInput};
use crate::keymap::Command;
use crate::theme::Theme;
use berth_engine::display;
use berth_engine::local::{EntryKind, ImageChanges, LayerEntry, Mark};

/// One line of the file tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    pub path: String,
    pub depth: usize,
    pub kind: EntryKind,
    pub mark: Mark,
    /// A file's bytes; a directory's is what it holds (removals left out).
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub link: Option<String>,
}

impl TreeRow {
    fn of(entry: &LayerEntry, mark: Mark, depth: usize) -> TreeRow {
        TreeRow {
            path: entry.path.clone(),
            depth,
            kind: entry.kind,
            mark,
            size: entry.size,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            link: entry.link.clone(),
        }
    }

    /// A directory the entries imply but do not list (the layer did not write it, or the filter hid it).
    fn implied(path: &str, depth: usize) -> TreeRow {
        TreeRow {
            path: path.to_string(),
            depth,
            kind: EntryKind::Dir,
            mark: Mark::Unchanged,
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            link: None,
        }
    }

    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }
}

/// What a key asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplorerAction {
    Stay,
    Close,
    Quit,
}

#[derive(Debug, Default)]
pub struct Explorer {
    pub id: String,
    pub name: String,
    /// The image's history lines that made a layer, bottom first: each layer's size and instruction.
    pub layers: Vec<LayerRow>,
    /// `None` while the engine reads the layers.
    pub changes: Option<Result<Arc<ImageChanges>, String>>,
    /// The selected layer, bottom first.
    pub layer: usize,
    /// Keys move in the file tree (else in the layer list).
    pub in_tree: bool,
    /// Only the selected layer's own entries, not the tree merged up to it.
    pub changes_only: bool,
    pub filter: TextInput,
    pub filtering: bool,
    /// Folded directories, by path.
    pub folded: HashSet<String>,
    /// The whole flattened tree of the current layer, view and filter.
    pub rows: Vec<TreeRow>,
    /// Indices into `rows` of the lines not inside a folded directory.
    pub visible: Vec<usize>,
    /// Index into `visible`.
    pub selected: usize,
    /// The first line drawn, kept between frames so the view scrolls only when the selection leaves it.
    offset: StdCell<usize>,
    /// The number of the newest tree asked for; a tree built for an older one is dropped.
    generation: u64,
    /// A tree asked for and not yet come (the rows shown are the previous one's).
    pub building: bool,
    /// The tree to build, for the app to hand to the runner.
    pub wanted: Option<TreeRequest>,
}

/// The work of flattening one layer's tree for one view and filter, done on a blocking thread.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRequest {
    /// The image explored.
    pub id: String,
    pub generation: u64,
    changes: Arc<ImageChanges>,
    layer: usize,
    changes_only: bool,
    filter: String,
}

impl TreeRequest {
    pub fn build(&self) -> Vec<TreeRow> {
        let Some(layer) = self.changes.layers.get(self.layer) else { return Vec::new() };
        let entries: Vec<(&LayerEntry, Mark)> = if self.changes_only {
            layer.iter().map(|c| (&c.entry, c.mark)).collect()
        } else {
            self.changes.merged(self.layer).iter().map(|m| (&m.change.entry, m.mark(self.layer))).collect()
        };
        flatten(&entries, &self.filter)
    }
}

fn is_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

impl Explorer {
    pub fn new(id: String, name: String, layers: Vec<LayerRow>) -> Explorer {
        Explorer { id, name, layers: layers.into_iter().filter(|l| !l.empty).collect(), ..Explorer::default() }
    }

    pub fn set_layers(&mut self, layers: Vec<LayerRow>) {
        self.layers = layers.into_iter().filter(|l| !l.empty).collect();
    }

    pub fn set_changes(&mut self, changes: Result<Arc<ImageChanges>, String>) {
        let top = changes.as_ref().map_or(0, |c| c.layers.len().saturating_sub(1));
        self.changes = Some(changes);
        self.layer = top;
        self.rebuild();
    }

    fn layer_count(&self) -> usize {
        match &self.changes {
            Some(Ok(c)) => c.layers.len(),
            _ => 0,
        }
    }

    /// Asks for the tree of the current layer, view and filter (see [`TreeRequest`]); the rows shown stay
    /// until it comes.
    pub fn rebuild(&mut self) {
        let Some(Ok(changes)) = &self.changes else { return };
        self.generation += 1;
        self.building = true;
        self.wanted = Some(TreeRequest {
            id: self.id.clone(),
            generation: self.generation,
            changes: changes.clone(),
            layer: self.layer,
            changes_only: self.changes_only,
            filter: self.filter.value().to_string(),
        });
    }

    /// Takes a built tree, keeping the selected path when it is still there; false (nothing to draw) for a
    /// tree asked for before the newest one.
    pub fn set_rows(&mut self, generation: u64, rows: Vec<TreeRow>) -> bool {
        if generation != self.generation {
            return false;
        }
        let keep = self.selected_row().map(|r| r.path.clone());
        self.rows = rows;
        self.building = false;
        self.refold();
        if let Some(path) = keep
            && let Some(at) = self.visible.iter().position(|&i| self.rows[i].path == path)
        {
            self.selected = at;
        }
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        true
    }

    fn refold(&mut self) {
        self.visible.clear();
        let mut inside: Option<usize> = None;
        for (i, row) in self.rows.iter().enumerate() {
            if let Some(dir) = inside {
                if is_below(&row.path, &self.rows[dir].path) {
                    continue;
                }
                inside = None;
            }
            self.visible.push(i);
            if row.is_dir() && self.folded.contains(&row.path) {
                inside = Some(i);
            }
        }
    }

    pub fn selected_row(&self) -> Option<&TreeRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    fn toggle_fold(&mut self, fold: Option<bool>) {
        let Some(row) = self.selected_row() else { return };
        if !row.is_dir() {
            return;
        }
        let path = row.path.clone();
        let folded = self.folded.contains(&path);
        match fold.unwrap_or(!folded) {
            true => self.folded.insert(path),
            false => self.folded.remove(&path),
        };
        self.refold();
    }

    /// Handles a key; `command` is what the keymap makes of it, `page` the tree's height.
    pub fn handle_key(&mut self, key: &KeyEvent, command: Option<Command>, page: usize) -> ExplorerAction {
        if self.filtering {
            match self.filter.handle(key) {
                InputOutcome::Submit | InputOutcome::Cancel => self.filtering = false,
                InputOutcome::Changed => {
                    self.selected = 0;
                    self.rebuild();
                }
                InputOutcome::Ignored => {}
            }
            return ExplorerAction::Stay;
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => self.in_tree = !self.in_tree,
            KeyCode::Char('c') => {
                self.changes_only = !self.changes_only;
                self.rebuild();
            }
            KeyCode::Char(' ') | KeyCode::Enter | KeyCode::Char('z') if self.in_tree => self.toggle_fold(None),
            KeyCode::Left | KeyCode::Char('h') if self.in_tree => self.toggle_fold(Some(true)),
            KeyCode::Right | KeyCode::Char('l') if self.in_tree => self.toggle_fold(Some(false)),
            KeyCode::Enter => self.in_tree = true,
            _ => match command {
                Some(Command::Back) if !self.filter.value().is_empty() => {
                    self.filter = TextInput::default();
                    self.rebuild();
                }
                Some(Command::Back) => return ExplorerAction::Close,
                Some(Command::Quit) => return ExplorerAction::Quit,
                Some(Command::Filter) => {
                    self.filtering = true;
                    self.in_tree = true;
                }
                Some(c) if self.in_tree => {
                    let last = self.visible.len().saturating_sub(1);
                    self.selected = moved(self.selected, c, page, last);
                }
                Some(c) => {
                    let last = self.layer_count().saturating_sub(1);
                    let layer = moved(self.layer, c, page, last);
                    if layer != self.layer {
                        self.layer = layer;
                        self.rebuild();
                    }
                }
                None => {}
            },
        }
        ExplorerAction::Stay
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        frame.render_widget(Clear, area);
        let block = Block::bordered()
            .border_type(BorderType::Thick)
            .border_style(theme.border(true))
            .title(Span::styled(format!(" Explore {} ", self.name), theme.header()))
            .title_bottom(Line::from(vec![
                Span::styled(" Tab", theme.key()),
                Span::raw(" layers/files "),
                Span::styled("c", theme.key()),
                Span::raw(" changes only/merged "),
                Span::styled("Space", theme.key()),
                Span::raw(" fold "),
                Span::styled("/", theme.key()),
                Span::raw(" filter "),
                Span::styled("Esc", theme.key()),
                Span::raw(" close "),
            ]))
            .style(theme.base());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
        let changes = match &self.changes {
            None => {
                frame.render_widget(Paragraph::new(Span::styled("Reading layers…", theme.muted())), header);
                return;
            }
            Some(Err(e)) => {
                frame.render_widget(Paragraph::new(Span::styled(e.as_str(), theme.error())), header);
                return;
            }
            Some(Ok(c)) => c,
        };
        let view = if self.changes_only { "this layer's changes" } else { "merged up to this layer" };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Efficiency ", theme.muted()),
                Span::raw(format!("{:.1}%", changes.efficiency * 100.0)),
                Span::styled("  Wasted ", theme.muted()),
                Span::raw(display::size(changes.wasted)),
                Span::styled("  Files ", theme.muted()),
                Span::raw(display::size(changes.total)),
                Span::styled("  View ", theme.muted()),
                Span::raw(view),
            ])),
            header,
        );
        let [left, right] = Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(body);
        self.draw_layers(frame, left, theme, changes);
        self.draw_tree(frame, right, theme);
    }

    fn draw_layers(&self, frame: &mut Frame, area: Rect, theme: &Theme, changes: &ImageChanges) {
        let block = pane(theme, " Layers ", !self.in_tree);
        // Inside the border, less the number, the size and two gaps.
        let room = usize::from(area.width.saturating_sub(2 + 3 + 8 + 2));
        let rows = (0..changes.layers.len()).map(|i| {
            let (size, made) = match self.layers.get(i).filter(|_| self.layers.len() == changes.layers.len()) {
                Some(l) => (display::size(l.size), super::images::instruction(&l.created_by)),
                None => (String::new(), format!("layer {}", i + 1)),
            };
            Row::new([Cell::from(format!("{}", i + 1)), Cell::from(size), Cell::from(super::ellipsis(made, room))])
        });
        let table = Table::new(rows, [Constraint::Length(3), Constraint::Length(8), Constraint::Fill(1)])
            .header(Row::new(["#", "SIZE", "CREATED BY"]).style(theme.header()))
            .block(block)
            .row_highlight_style(highlight(theme, !self.in_tree));
        let mut state = TableState::default().with_selected(Some(self.layer));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn draw_tree(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let building = if self.building { " · building…" } else { "" };
        let mut block = pane(theme, &format!(" Files ({}){building} ", self.rows.len()), self.in_tree);
        if self.filtering || !self.filter.value().is_empty() {
            let cursor = if self.filtering { "▏" } else { "" };
            block = block.title_bottom(Line::from(vec![
                Span::styled(" /", theme.key()),
                Span::raw(format!("{}{cursor} ", self.filter.value())),
            ]));
        }
        let height = usize::from(area.height.saturating_sub(3)).max(1);
        let mut offset = self.offset.get();
        if self.selected < offset {
            offset = self.selected;
        } else if self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        offset = offset.min(self.visible.len().saturating_sub(height));
        self.offset.set(offset);
        // Inside the border, less the mark, mode, owner and size columns and four gaps.
        let room = usize::from(area.width.saturating_sub(2 + 1 + 10 + 9 + 8 + 4));
        let rows = self.visible.iter().skip(offset).take(height).map(|&i| {
            let row = &self.rows[i];
            let style = mark_style(theme, row.mark);
            let glyph = match (row.is_dir(), self.folded.contains(&row.path)) {
                (true, true) => "▸ ",
                (true, false) => "▾ ",
                _ => "  ",
            };
            let mut name = format!("{}{glyph}{}", "  ".repeat(row.depth), row.name());
            match (&row.link, row.kind) {
                (Some(target), EntryKind::Hardlink) => name.push_str(&format!(" ⇒ {target}")),
                (Some(target), _) => name.push_str(&format!(" → {target}")),
                _ => {}
            }
            Row::new([
                Cell::from(mark_letter(row.mark)),
                Cell::from(permissions(row.kind, row.mode)),
                Cell::from(format!("{}:{}", row.uid, row.gid)),
                Cell::from(if row.is_dir() && row.size == 0 { String::new() } else { display::size(row.size) }),
                Cell::from(super::ellipsis(name, room)),
            ])
            .style(style)
        });
        let widths = [
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        let table = Table::new(rows, widths)
            .header(Row::new(["", "MODE", "UID:GID", "SIZE", "PATH"]).style(theme.header()))
            .block(block)
            .row_highlight_style(highlight(theme, self.in_tree));
        let selected = (!self.visible.is_empty()).then(|| self.selected - offset);
        let mut state = TableState::default().with_selected(selected);
        frame.render_stateful_widget(table, area, &mut state);
        if self.visible.is_empty() {
            let line = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
            let text = match (self.building, self.filter.value().is_empty()) {
                (true, _) => "Building the tree…",
                (false, true) => "No files.",
                (false, false) => "No path matches the filter.",
            };
            frame.render_widget(Paragraph::new(Span::styled(text, theme.muted())), line);
        }
    }
}

/// Entries in path order as tree lines: directories the entries imply are added, each directory's size
/// is what it holds, and with a filter only matching paths (and the directories above them) stay.
pub fn flatten(entries: &[(&LayerEntry, Mark)], filter: &str) -> Vec<TreeRow> {
    // Directories' own entries, for those the filter would leave out but a match below them needs.
    let dirs: HashMap<&str, (&LayerEntry, Mark)> = if filter.is_empty() {
        HashMap::new()
    } else {
        entries.iter().filter(|(e, _)| e.kind == EntryKind::Dir).map(|&(e, m)| (e.path.as_str(), (e, m))).collect()
    };
    let mut rows: Vec<TreeRow> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for &(entry, mark) in entries {
        if !filter.is_empty() && !entry.path.contains(filter) {
            continue;
        }
        while let Some(&top) = open.last() {
            if is_below(&entry.path, &rows[top].path) {
                break;
            }
            open.pop();
        }
        let start = open.last().map_or(0, |&top| rows[top].path.len() + 1);
        for (at, _) in entry.path[start..].match_indices('/') {
            let path = &entry.path[..start + at];
            let row = match dirs.get(path) {
                Some(&(e, m)) => TreeRow::of(e, m, open.len()),
                None => TreeRow::implied(path, open.len()),
            };
            open.push(rows.len());
            rows.push(row);
        }
        let row = TreeRow::of(entry, mark, open.len());
        if mark != Mark::Removed && row.size > 0 {
            for &dir in &open {
                rows[dir].size += row.size;
            }
        }
        if row.is_dir() {
            open.push(rows.len());
        }
        rows.push(row);
    }
    rows
}

fn moved(at: usize, command: Command, page: usize, last: usize) -> usize {
    match command {
        Command::Up => at.saturating_sub(1),
        Command::Down => at + 1,
        Command::PageUp => at.saturating_sub(page.max(1)),
        Command::PageDown => at + page.max(1),
        Command::Top => 0,
        Command::Bottom => last,
        _ => at,
    }
    .min(last)
}

fn pane<'a>(theme: &Theme, title: &str, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(theme.border(focused))
        .title(Span::styled(title.to_string(), theme.header()))
}

fn highlight(theme: &Theme, focused: bool) -> Style {
    if focused { theme.selected() } else { Style::new().add_modifier(Modifier::BOLD) }
}

fn mark_style(theme: &Theme, mark: Mark) -> Style {
    match mark {
        Mark::Unchanged => Style::new(),
        Mark::Added => theme.ok(),
        Mark::Modified => Style::new().fg(theme.colors.paused),
        Mark::Removed => theme.error(),
    }
}

fn mark_letter(mark: Mark) -> &'static str {
    match mark {
        Mark::Unchanged => " ",
        Mark::Added => "+",
        Mark::Modified => "~",
        Mark::Removed => "-",
    }
}

/// `ls -l`'s mode column.
pub fn permissions(kind: EntryKind, mode: u32) -> String {
    let mut out = String::with_capacity(10);
    out.push(match kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Other => 'c',
        _ => '-',
    });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}
