//! The Containers pane: every container with its state, uptime and ports; filter, sort, marks for bulk work.

use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, ListState, pane_block};
use crate::backend::{ContainerRow, ContainerState};
use crate::format;
use crate::keymap::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Image,
    State,
    Created,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Image,
            SortKey::Image => SortKey::State,
            SortKey::State => SortKey::Created,
            SortKey::Created => SortKey::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Image => "image",
            SortKey::State => "state",
            SortKey::Created => "started",
        }
    }
}

#[derive(Debug, Default)]
pub struct ContainersPane {
    pub rows: Vec<ContainerRow>,
    pub list: ListState,
    /// IDs marked for a bulk operation.
    pub marked: BTreeSet<String>,
    pub sort: SortKey,
    /// Why the list could not be read, shown instead of rows.
    pub error: Option<String>,
}

impl ContainersPane {
    /// Rows after filter and sort, as drawn.
    pub fn visible(&self) -> Vec<&ContainerRow> {
        let mut rows: Vec<&ContainerRow> = self
            .rows
            .iter()
            .filter(|r| self.list.matches(&format!("{} {} {} {}", r.name, r.image, r.state, r.id)))
            .collect();
        match self.sort {
            SortKey::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
            SortKey::Image => rows.sort_by(|a, b| a.image.cmp(&b.image).then(a.name.cmp(&b.name))),
            SortKey::State => rows.sort_by(|a, b| a.state.as_str().cmp(b.state.as_str()).then(a.name.cmp(&b.name))),
            SortKey::Created => rows.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.name.cmp(&b.name))),
        }
        rows
    }

    pub fn selected(&self) -> Option<&ContainerRow> {
        self.visible().get(self.list.selected).copied()
    }

    /// Replaces the rows; false when nothing changed, so no redraw is needed.
    pub fn set_rows(&mut self, rows: Vec<ContainerRow>) -> bool {
        if rows == self.rows && self.error.is_none() {
            return false;
        }
        self.marked.retain(|id| rows.iter().any(|r| &r.id == id));
        self.rows = rows;
        self.error = None;
        self.list.clamp(self.visible().len());
        true
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
    }

    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.selected().map(|r| r.id.clone())
            && !self.marked.remove(&id)
        {
            self.marked.insert(id);
        }
    }

    /// The containers an operation applies to: the marked ones, else the selected one.
    pub fn targets(&self) -> Vec<&ContainerRow> {
        if self.marked.is_empty() {
            self.selected().into_iter().collect()
        } else {
            self.visible().into_iter().filter(|r| self.marked.contains(&r.id)).collect()
        }
    }

    /// The commands this pane offers now, each with whether the selection allows it.
    pub fn commands(&self) -> Vec<(Command, bool)> {
        let targets = self.targets();
        let any = |f: fn(ContainerState) -> bool| targets.iter().any(|r| f(r.state));
        let one = self.selected().is_some();
        vec![
            (Command::Start, any(ContainerState::can_start)),
            (Command::Stop, any(ContainerState::can_stop)),
            (Command::Restart, any(ContainerState::can_stop) || any(ContainerState::can_start)),
            (Command::PauseToggle, any(ContainerState::can_pause) || any(ContainerState::can_unpause)),
            (Command::Kill, any(ContainerState::can_stop)),
            (Command::RemoveContainer, any(ContainerState::can_remove)),
            (Command::Logs, one),
            (Command::Exec, self.selected().is_some_and(|r| r.state.can_exec())),
            (Command::Attach, self.selected().is_some_and(|r| r.state.can_exec())),
            (Command::InspectContainer, one),
            (Command::Mark, one),
            (Command::Sort, true),
            (Command::Filter, true),
            (Command::RunNew, true),
        ]
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let title = format!(" Containers ({}) · sort: {} ", self.rows.len(), self.sort.label());
        let block = pane_block(ctx, &title, &self.list);
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        let header = Row::new(["", "NAME", "IMAGE", "STATE", "STATUS", "PORTS", "ID"]).style(ctx.theme.header());
        let rows = self.visible().into_iter().map(|r| {
            let mark = if self.marked.contains(&r.id) { "●" } else { " " };
            let status = match (r.state, &r.started_at, r.exit_code) {
                (ContainerState::Running, Some(t), _) => format!("Up {}", format::span(t, ctx.now).unwrap_or_default()),
                (ContainerState::Paused, Some(t), _) => {
                    format!("Up {} (Paused)", format::span(t, ctx.now).unwrap_or_default())
                }
                (ContainerState::Exited, _, Some(code)) => format!("Exited ({code})"),
                _ => String::new(),
            };
            Row::new([
                Cell::from(Span::styled(mark, ctx.theme.colors.marked)),
                Cell::from(r.name.clone()),
                Cell::from(r.image.clone()),
                Cell::from(Span::styled(r.state.as_str(), ctx.theme.state(r.state))),
                Cell::from(status),
                Cell::from(r.ports.join(", ")),
                Cell::from(Span::styled(crate::backend::short_id(&r.id).to_string(), ctx.theme.muted())),
            ])
        });
        let widths = [
            Constraint::Length(1),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Length(24),
            Constraint::Fill(2),
            Constraint::Length(12),
        ];
        let empty = self.rows.is_empty();
        let selected = (!empty).then_some(self.list.selected);
        super::render_table(frame, area, ctx, Table::new(rows, widths).header(header).block(block), selected);
        if empty {
            let hint = Line::from(vec![Span::styled("No containers. ", ctx.theme.muted())]);
            let inner = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
            frame.render_widget(Paragraph::new(hint), inner);
        }
    }
}
