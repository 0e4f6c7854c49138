//! The Networks pane: each network's driver, subnet, gateway, whether it is internal, and the containers
//! attached now; remove (confirmed) and prune.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, ListState, pane_block};
use crate::backend::{NetworkRow, short_id};
use crate::keymap::Command;

#[derive(Debug, Default)]
pub struct NetworksPane {
    pub rows: Vec<NetworkRow>,
    pub list: ListState,
    pub error: Option<String>,
    /// The first list has arrived: until then the count is unknown, not zero.
    pub loaded: bool,
}

impl NetworksPane {
    /// Rows after the filter, in the backend's order (the default network first).
    pub fn visible(&self) -> Vec<&NetworkRow> {
        self.rows
            .iter()
            .filter(|r| self.list.matches(&format!("{} {} {} {}", r.name, r.driver, r.subnet, r.containers.join(" "))))
            .collect()
    }

    pub fn selected(&self) -> Option<&NetworkRow> {
        self.visible().get(self.list.selected).copied()
    }

    /// Replaces the rows; false when nothing changed, so no redraw is needed.
    pub fn set_rows(&mut self, rows: Vec<NetworkRow>) -> bool {
        if self.loaded && rows == self.rows && self.error.is_none() {
            return false;
        }
        self.loaded = true;
        self.rows = rows;
        self.error = None;
        self.list.clamp(self.visible().len());
        true
    }

    pub fn commands(&self) -> Vec<(Command, bool)> {
        vec![
            (Command::InspectNetwork, self.selected().is_some()),
            (Command::CreateNetwork, true),
            (Command::RemoveNetwork, self.selected().is_some()),
            (Command::PruneNetworks, true),
            (Command::Filter, true),
        ]
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let block = pane_block(
            ctx,
            &format!(" Networks ({}) ", super::count(self.loaded, self.visible().len(), self.rows.len(), 0)),
            &self.list,
        );
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        // Narrow terminals leave out the ID so the attached containers keep room.
        let with_id = area.width >= 100;
        let header = ["NAME", "ID", "DRIVER", "SUBNET", "GATEWAY", "INTERNAL", "CONTAINERS"]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| with_id || *i != 1)
            .map(|(_, h)| h);
        let header = Row::new(header).style(ctx.theme.header());
        let rows = self.visible().into_iter().map(|r| {
            let mut cells = vec![Cell::from(r.name.clone())];
            if with_id {
                cells.push(Cell::from(Span::styled(short_id(&r.id).to_string(), ctx.theme.muted())));
            }
            cells.extend([
                Cell::from(r.driver.clone()),
                Cell::from(r.subnet.clone()),
                Cell::from(r.gateway.clone()),
                Cell::from(if r.internal { "yes" } else { "no" }),
                Cell::from(r.containers.join(", ")),
            ]);
            Row::new(cells)
        });
        let longest = self.rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).clamp(8, 32);
        let mut widths = vec![Constraint::Min(longest as u16)];
        if with_id {
            widths.push(Constraint::Length(12));
        }
        widths.extend([
            Constraint::Length(7),
            Constraint::Length(18),
            Constraint::Length(15),
            Constraint::Length(8),
            Constraint::Fill(1),
        ]);
        let selected = (!self.rows.is_empty()).then_some(self.list.selected);
        super::render_table(frame, area, ctx, Table::new(rows, widths).header(header).block(block), selected);
        if !self.loaded {
            super::hint(frame, area, ctx, super::LOADING);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::TextInput;

    fn row(name: &str, containers: &[&str]) -> NetworkRow {
        NetworkRow {
            id: format!("{name:0<64}"),
            name: name.into(),
            driver: "bridge".into(),
            subnet: "10.88.0.0/16".into(),
            gateway: "10.88.0.1".into(),
            internal: false,
            containers: containers.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn filter_matches_attached_containers_and_removal_needs_a_row() {
        let mut pane = NetworksPane::default();
        assert!(!pane.commands()[0].1);
        assert!(pane.set_rows(vec![row("bridge", &["web"]), row("backend", &["db"])]));
        assert!(!pane.set_rows(vec![row("bridge", &["web"]), row("backend", &["db"])]), "unchanged rows: no redraw");
        pane.list.filter = TextInput::new("db");
        assert_eq!(pane.selected().map(|r| r.name.as_str()), Some("backend"));
        assert!(pane.commands()[0].1);
    }
}
