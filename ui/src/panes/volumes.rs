//! The Volumes pane: each volume's name (anonymous ones shortened), driver, mountpoint, the containers that
//! mount it and its age; remove (confirmed; refusals name the users) and prune.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, ListState, pane_block};
use crate::backend::{VolumeRow, short_id};
use crate::keymap::Command;
use berth_engine::display;

#[derive(Debug, Default)]
pub struct VolumesPane {
    pub rows: Vec<VolumeRow>,
    pub list: ListState,
    pub error: Option<String>,
    /// The first list has arrived: until then the count is unknown, not zero.
    pub loaded: bool,
}

impl VolumesPane {
    /// Rows after the filter: named volumes first, each group by name.
    pub fn visible(&self) -> Vec<&VolumeRow> {
        let mut rows: Vec<&VolumeRow> = self
            .rows
            .iter()
            .filter(|r| self.list.matches(&format!("{} {} {}", r.name, r.driver, r.used_by.join(" "))))
            .collect();
        rows.sort_by(|a, b| (a.anonymous, &a.name).cmp(&(b.anonymous, &b.name)));
        rows
    }

    pub fn selected(&self) -> Option<&VolumeRow> {
        self.visible().get(self.list.selected).copied()
    }

    /// Replaces the rows; false when nothing changed, so no redraw is needed.
    pub fn set_rows(&mut self, rows: Vec<VolumeRow>) -> bool {
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
        let one = self.selected().is_some();
        vec![
            (Command::InspectVolume, one),
            (Command::CreateVolume, true),
            (Command::RemoveVolume, one),
            (Command::PruneVolumes, true),
            (Command::Filter, true),
        ]
    }

    /// The name as shown: an anonymous volume's 64 hex digits cut to 12, as IDs are.
    pub fn display_name(row: &VolumeRow) -> &str {
        if row.anonymous { short_id(&row.name) } else { &row.name }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let block = pane_block(
            ctx,
            &format!(" Volumes ({}) ", super::count(self.loaded, self.visible().len(), self.rows.len(), 0)),
            &self.list,
        );
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        let header = Row::new(["NAME", "DRIVER", "USED BY", "CREATED", "MOUNTPOINT"]).style(ctx.theme.header());
        let rows = self.visible().into_iter().map(|r| {
            let name = if r.anonymous {
                Span::styled(Self::display_name(r).to_string(), ctx.theme.muted())
            } else {
                Span::raw(r.name.clone())
            };
            let created = display::since(&r.created, ctx.now).map(|c| format!("{c} ago")).unwrap_or_default();
            Row::new([
                Cell::from(name),
                Cell::from(r.driver.clone()),
                Cell::from(r.used_by.join(", ")),
                Cell::from(created),
                Cell::from(Span::styled(r.mountpoint.clone(), ctx.theme.muted())),
            ])
        });
        let longest = self.rows.iter().map(|r| Self::display_name(r).chars().count()).max().unwrap_or(0).clamp(12, 32);
        let widths = [
            Constraint::Min(longest as u16),
            Constraint::Length(7),
            Constraint::Fill(1),
            Constraint::Length(15),
            Constraint::Fill(2),
        ];
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

    fn row(name: &str, anonymous: bool) -> VolumeRow {
        VolumeRow {
            name: name.into(),
            anonymous,
            driver: "local".into(),
            mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
            used_by: Vec::new(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn named_volumes_come_first_and_anonymous_names_are_shortened() {
        let anonymous = row(&"ab".repeat(32), true);
        assert_eq!(VolumesPane::display_name(&anonymous), "abababababab");
        let mut pane = VolumesPane::default();
        pane.set_rows(vec![anonymous, row("zdata", false), row("cache", false)]);
        let names: Vec<&str> = pane.visible().iter().map(|r| VolumesPane::display_name(r)).collect();
        assert_eq!(names, ["cache", "zdata", "abababababab"]);
        assert_eq!(VolumesPane::display_name(&row("data", false)), "data");
    }
}
