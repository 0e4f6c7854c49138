//! The Images pane: tags, ID, size, age, users; beside it the selected image's layers with the command that
//! made each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::{Ctx, ListState, pane_block};
use crate::backend::{ImageRow, LayerRow, short_id};
use crate::keymap::Command;
use berth_engine::display;

/// A history line as the instruction it was: the shell wrapper and the markers of Docker's and BuildKit's
/// forms dropped (`/bin/sh -c #(nop)  CMD ["sh"]` → `CMD ["sh"]`, `RUN /bin/sh -c make # buildkit` → `RUN make`).
pub(crate) fn instruction(created_by: &str) -> String {
    let line = created_by.trim_end().trim_end_matches("# buildkit").trim();
    let line = line.trim_start_matches("/bin/sh -c ").trim_start_matches("#(nop) ").trim();
    match line.strip_prefix("RUN /bin/sh -c ") {
        Some(command) => format!("RUN {command}"),
        None => line.to_string(),
    }
}

#[derive(Debug, Default)]
pub struct ImagesPane {
    pub rows: Vec<ImageRow>,
    pub list: ListState,
    /// The layers of `layers_of`, once loaded.
    pub layers: Vec<LayerRow>,
    pub layers_of: Option<String>,
    pub error: Option<String>,
    /// The first list has arrived: until then the count is unknown, not zero.
    pub loaded: bool,
    /// An image to select once a list holds it: a build's result.
    pub select: Option<String>,
}

impl ImagesPane {
    pub fn visible(&self) -> Vec<&ImageRow> {
        let mut rows: Vec<&ImageRow> =
            self.rows.iter().filter(|r| self.list.matches(&format!("{} {}", r.tags.join(" "), r.id))).collect();
        // Untagged images last.
        rows.sort_by(|a, b| {
            (a.tags.is_empty(), a.tags.first()).cmp(&(b.tags.is_empty(), b.tags.first())).then(a.id.cmp(&b.id))
        });
        rows
    }

    pub fn selected(&self) -> Option<&ImageRow> {
        self.visible().get(self.list.selected).copied()
    }

    pub fn set_rows(&mut self, rows: Vec<ImageRow>) -> bool {
        if self.loaded && rows == self.rows && self.error.is_none() {
            return false;
        }
        self.loaded = true;
        self.rows = rows;
        self.error = None;
        self.list.clamp(self.visible().len());
        if self.layers_of.as_ref().is_some_and(|id| !self.rows.iter().any(|r| &r.id == id)) {
            self.layers_of = None;
            self.layers.clear();
        }
        true
    }

    /// Selects the pending image if the list now holds it; true when it did.
    pub fn select_pending(&mut self) -> bool {
        let Some(id) = &self.select else { return false };
        let Some(index) = self.visible().iter().position(|r| &r.id == id) else { return false };
        self.list.selected = index;
        self.select = None;
        true
    }

    pub fn commands(&self) -> Vec<(Command, bool)> {
        let one = self.selected().is_some();
        vec![
            (Command::Pull, true),
            (Command::Push, self.selected().is_some_and(|r| !r.tags.is_empty())),
            (Command::Build, true),
            (Command::RunImage, one),
            (Command::Layers, one),
            (Command::InspectImage, one),
            (Command::TagImage, one),
            (Command::Repull, self.selected().is_some_and(|r| !r.tags.is_empty())),
            (Command::RemoveImage, one),
            (Command::Prune, true),
            (Command::Filter, true),
        ]
    }

    pub fn name(row: &ImageRow) -> String {
        row.tags.first().cloned().unwrap_or_else(|| "<none>:<none>".into())
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        // Narrow terminals give the list the whole width until layers are asked for.
        let split = if area.width >= 110 || self.layers_of.is_some() { 62 } else { 100 };
        let [list_area, layer_area] =
            Layout::horizontal([Constraint::Percentage(split), Constraint::Percentage(100 - split)]).areas(area);
        let block = pane_block(
            ctx,
            &format!(" Images ({}) ", super::count(self.loaded, self.visible().len(), self.rows.len(), 0)),
            &self.list,
        );
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), list_area);
        } else {
            let header = Row::new(["REPOSITORY:TAG", "ID", "SIZE", "CREATED", "USED BY"]).style(ctx.theme.header());
            // The name column is as wide as the longest name (up to a limit) before USED BY gets any room.
            let longest = self.rows.iter().map(|r| Self::name(r).chars().count()).max().unwrap_or(0).clamp(14, 48);
            let widths = [
                Constraint::Min(longest as u16),
                Constraint::Length(12),
                Constraint::Length(8),
                Constraint::Length(15),
                Constraint::Fill(1),
            ];
            // The widths the table will give, so a text cut short ends in `…` rather than mid-word.
            let inner = block.inner(list_area);
            let room: Vec<usize> =
                Layout::horizontal(widths).spacing(1).split(inner).iter().map(|r| usize::from(r.width)).collect();
            let cut = |i: usize, text: String| super::ellipsis(text, room.get(i).copied().unwrap_or(0));
            let rows = self.visible().into_iter().map(|r| {
                let created = r.created.as_deref().and_then(|c| display::since(c, ctx.now));
                Row::new([
                    Cell::from(cut(0, Self::name(r))),
                    Cell::from(Span::styled(short_id(&r.id).to_string(), ctx.theme.muted())),
                    Cell::from(cut(2, display::size(r.size))),
                    Cell::from(cut(3, created.map(|c| format!("{c} ago")).unwrap_or_default())),
                    Cell::from(cut(4, r.used_by.join(", "))),
                ])
            });
            let selected = (!self.rows.is_empty()).then_some(self.list.selected);
            super::render_table(frame, list_area, ctx, Table::new(rows, widths).header(header).block(block), selected);
            if !self.loaded {
                super::hint(frame, list_area, ctx, super::LOADING);
            }
        }
        if layer_area.width > 0 {
            self.draw_layers(frame, layer_area, ctx);
        }
    }

    fn draw_layers(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let name = self
            .layers_of
            .as_ref()
            .and_then(|id| self.rows.iter().find(|r| &r.id == id))
            .map(Self::name)
            .unwrap_or_default();
        let block = Block::bordered()
            .border_style(ctx.theme.border(false))
            .title(Span::styled(format!(" Layers {name} "), ctx.theme.header()))
            .style(ctx.theme.base());
        if self.layers_of.is_none() {
            frame.render_widget(
                Paragraph::new("Enter shows the selected image's layers.").style(ctx.theme.muted()).block(block),
                area,
            );
            return;
        }
        let rows = self.layers.iter().map(|l| {
            let (size, kind) = if l.empty {
                (Span::styled("0B", ctx.theme.muted()), Span::styled("empty", ctx.theme.muted()))
            } else {
                (Span::raw(display::size(l.size)), Span::raw("layer"))
            };
            Row::new([Cell::from(size), Cell::from(kind), Cell::from(instruction(&l.created_by))])
        });
        let block = block.title_bottom(Span::styled(" Enter again: explore the files ", ctx.theme.muted()));
        let table = Table::new(rows, [Constraint::Length(9), Constraint::Length(5), Constraint::Fill(1)])
            .header(Row::new(["SIZE", "KIND", "CREATED BY"]).style(ctx.theme.header()))
            .block(block);
        frame.render_widget(table, area);
    }
}

#[cfg(test)]
mod tests {
    use super::instruction;

    #[test]
    fn history_lines_read_as_instructions() {
        assert_eq!(instruction("/bin/sh -c #(nop)  CMD [\"sh\"]"), "CMD [\"sh\"]");
        assert_eq!(instruction("/bin/sh -c #(nop) ADD file:abc in / "), "ADD file:abc in /");
        assert_eq!(instruction("/bin/sh -c apk add curl"), "apk add curl");
        assert_eq!(instruction("RUN /bin/sh -c make # buildkit"), "RUN make");
        assert_eq!(instruction("WORKDIR /app"), "WORKDIR /app");
    }
}
