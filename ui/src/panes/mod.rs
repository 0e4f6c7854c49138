//! One file per pane: each holds its state, the commands it offers and a `draw` that only reads that state.

mod columns;
pub mod containers;
pub mod explorer;
pub mod groups;
pub mod images;
mod list;
pub mod logs;
pub mod networks;
pub mod operations;
pub mod shell;
pub mod stats;
pub mod volumes;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Table, TableState};

pub use list::ListState;

use crate::theme::Theme;

/// What every pane's `draw` needs besides its own state.
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub focused: bool,
    /// The clock for ages and uptimes, fixed per frame (and in tests).
    pub now: DateTime<Utc>,
}

/// The panes focus moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Containers,
    Logs,
    Stats,
    Shell,
    Images,
    Operations,
    Networks,
    Volumes,
}

impl Pane {
    /// Tab order, as the tab bar shows them.
    pub const ALL: [Pane; 8] = [
        Pane::Containers,
        Pane::Images,
        Pane::Logs,
        Pane::Stats,
        Pane::Shell,
        Pane::Operations,
        Pane::Networks,
        Pane::Volumes,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Containers => "Containers",
            Pane::Logs => "Logs",
            Pane::Stats => "Stats",
            Pane::Shell => "Shell",
            Pane::Images => "Images",
            Pane::Operations => "Operations",
            Pane::Networks => "Networks",
            Pane::Volumes => "Volumes",
        }
    }

    /// The tab bar's label when the full titles do not fit.
    pub fn short_title(self) -> &'static str {
        match self {
            Pane::Containers => "Cont",
            Pane::Logs => "Logs",
            Pane::Stats => "Stats",
            Pane::Shell => "Shell",
            Pane::Images => "Img",
            Pane::Operations => "Ops",
            Pane::Networks => "Net",
            Pane::Volumes => "Vol",
        }
    }
}

/// A list pane's row count for its title: `…` until the first list has arrived, so an empty list is never
/// claimed before it was read; `shown/all` while a filter hides rows, and the marks when there are any
/// (`25/36, 3 marked`).
pub fn count(loaded: bool, shown: usize, all: usize, marked: usize) -> String {
    if !loaded {
        return "…".to_string();
    }
    let mut text = if shown == all { all.to_string() } else { format!("{shown}/{all}") };
    if marked > 0 {
        text.push_str(&format!(", {marked} marked"));
    }
    text
}

/// A muted line in a list pane's first row, under the header: why there are no rows.
pub fn hint(frame: &mut Frame, area: Rect, ctx: &Ctx, text: &str) {
    let line = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
    frame.render_widget(Paragraph::new(Span::styled(text.to_string(), ctx.theme.muted())), line);
}

/// `text` as it fits in `width` columns: whole, or cut with `…` as its last character.
pub fn ellipsis(text: String, width: usize) -> String {
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}

/// What a list pane shows before its first list arrives.
pub const LOADING: &str = "Loading…";

/// Draws a list pane's table with its selection: the theme's highlight while focused, bold otherwise.
pub fn render_table(frame: &mut Frame, area: Rect, ctx: &Ctx, table: Table, selected: Option<usize>) {
    let highlight = if ctx.focused { ctx.theme.selected() } else { Style::new().add_modifier(Modifier::BOLD) };
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table.row_highlight_style(highlight), area, &mut state);
}

/// A pane's frame: focused panes get the accent border; an active or typed filter shows in the title.
pub fn pane_block<'a>(ctx: &Ctx, title: &str, list: &ListState) -> Block<'a> {
    let mut block = Block::bordered()
        .border_type(if ctx.focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(ctx.theme.border(ctx.focused))
        .title(Span::styled(title.to_string(), ctx.theme.header()))
        .style(ctx.theme.base());
    if list.filtering || !list.filter.value().is_empty() {
        let cursor = if list.filtering { "▏" } else { "" };
        block = block.title_bottom(Line::from(vec![
            Span::styled(" /", ctx.theme.key()),
            Span::raw(format!("{}{cursor} ", list.filter.value())),
        ]));
    }
    block
}
