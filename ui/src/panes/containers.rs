//! The Containers pane: every container with its state, uptime, ports, CPU and memory; filter, sort, marks
//! for bulk work.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::columns::{Column, Fitted};
use super::groups::{Entry, entries, group_key, row_group_key};
use super::{Ctx, ListState, pane_block};
use crate::backend::{ContainerOp, ContainerRow, ContainerState, ContainerUsage};
use crate::keymap::Command;
use berth_engine::container::Status;
use berth_engine::display;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    /// Offered only in the all-engines view.
    Engine,
    Image,
    State,
    Created,
    /// Busiest first.
    Cpu,
    /// Largest first.
    Memory,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Engine,
            SortKey::Engine => SortKey::Image,
            SortKey::Image => SortKey::State,
            SortKey::State => SortKey::Created,
            SortKey::Created => SortKey::Cpu,
            SortKey::Cpu => SortKey::Memory,
            SortKey::Memory => SortKey::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Engine => "engine",
            SortKey::Image => "image",
            SortKey::State => "state",
            SortKey::Created => "started",
            SortKey::Cpu => "cpu",
            SortKey::Memory => "mem",
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
    /// The sort turned around.
    pub reverse: bool,
    /// Why the list could not be read, shown instead of rows.
    pub error: Option<String>,
    /// The first list has arrived: until then the count is unknown, not zero.
    pub loaded: bool,
    /// CPU and memory of the running containers by ID, polled while the pane shows.
    pub usage: HashMap<String, ContainerUsage>,
    /// Why CPU and memory could not be read; reported once, until a reading succeeds again.
    pub usage_error: Option<String>,
    /// Groups (pods, compose projects) shown folded, by title.
    pub collapsed: BTreeSet<String>,
    /// Operations asked of the engine and not yet answered, by container ID: the row says `stopping…`.
    pub pending: HashMap<String, ContainerOp>,
}

impl ContainersPane {
    /// Rows after filter and sort, as drawn.
    pub fn visible(&self) -> Vec<&ContainerRow> {
        let mut rows: Vec<&ContainerRow> = self
            .rows
            .iter()
            .filter(|r| {
                let engine = r.engine.as_deref().unwrap_or_default();
                // Without a filter every row passes: no text is made for it.
                self.list.filter.value().is_empty()
                    || self.list.matches(&format!("{} {} {} {} {engine}", r.name, r.image, r.state, r.id))
            })
            .collect();
        // Rows the same by the sort's key keep one order: by name, then (in the all-engines view) by engine.
        rows.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.engine.cmp(&b.engine)));
        match self.sort {
            SortKey::Name => {}
            SortKey::Engine => rows.sort_by(|a, b| a.engine.cmp(&b.engine)),
            SortKey::Image => rows.sort_by(|a, b| a.image.cmp(&b.image)),
            SortKey::State => rows.sort_by(|a, b| a.state.as_str().cmp(b.state.as_str())),
            SortKey::Created => rows.sort_by(|a, b| b.started_at.cmp(&a.started_at)),
            SortKey::Cpu => {
                let cpu = |r: &ContainerRow| self.usage.get(&r.id).and_then(|u| u.cpu_percent).unwrap_or(-1.0);
                rows.sort_by(|a, b| cpu(b).total_cmp(&cpu(a)));
            }
            SortKey::Memory => {
                let memory = |r: &ContainerRow| self.usage.get(&r.id).map_or(0, |u| u.memory_bytes);
                rows.sort_by_key(|r| std::cmp::Reverse(memory(r)));
            }
        }
        if self.reverse {
            rows.reverse();
        }
        rows
    }

    /// The list as drawn: the visible rows with their groups' rows; the selection indexes this.
    pub fn entries(&self) -> Vec<Entry<'_>> {
        entries(&self.visible(), &self.collapsed)
    }

    /// The selected container; None on a group's row.
    pub fn selected(&self) -> Option<&ContainerRow> {
        match self.entries().get(self.list.selected) {
            Some(Entry::Row { row, .. }) => Some(row),
            _ => None,
        }
    }

    /// Folds or unfolds the selected group (or the group of the selected container, which then selects the
    /// group's row).
    pub fn toggle_group(&mut self) {
        let entries = self.entries();
        let key = match entries.get(self.list.selected) {
            Some(Entry::Group { title, engine, .. }) => group_key(title, *engine),
            Some(Entry::Row { row, grouped: true }) => row_group_key(row).unwrap_or_default(),
            _ => return,
        };
        let at = entries
            .iter()
            .position(|e| matches!(e, Entry::Group { title, engine, .. } if group_key(title, *engine) == key));
        if !self.collapsed.remove(&key) {
            self.collapsed.insert(key);
        }
        self.list.selected = at.unwrap_or(self.list.selected);
    }

    /// Replaces the rows; false when nothing changed, so no redraw is needed.
    pub fn set_rows(&mut self, rows: Vec<ContainerRow>) -> bool {
        if self.loaded && rows == self.rows && self.error.is_none() {
            return false;
        }
        self.marked.retain(|id| rows.iter().any(|r| &r.id == id));
        self.keeping_selection(|pane| {
            pane.rows = rows;
            pane.error = None;
            pane.loaded = true;
        });
        true
    }

    /// Applies a change to the rows or their order and keeps the highlight on the same container wherever
    /// its row moved; when that container is gone, on the row that took its place.
    fn keeping_selection(&mut self, change: impl FnOnce(&mut Self)) {
        // A container by its engine and id (two engines may list one container), a group's row by its key.
        let key = |e: &Entry| match e {
            Entry::Row { row, .. } => format!("{} {}", row.engine.as_deref().unwrap_or_default(), row.id),
            Entry::Group { title, engine, .. } => format!("group {}", group_key(title, *engine)),
        };
        let was = self.entries().get(self.list.selected).map(key);
        change(self);
        let entries = self.entries();
        match was.and_then(|k| entries.iter().position(|e| key(e) == k)) {
            Some(at) => self.list.selected = at,
            None => self.list.clamp(entries.len()),
        }
    }

    /// Rows of containers a list drawn in `area` shows at once: inside its border, under the header.
    pub fn rows_shown(area: Rect) -> usize {
        usize::from(area.height.saturating_sub(3))
    }

    /// The containers on screen when `rows` fit (group rows left out).
    pub fn on_screen(&self, rows: usize) -> Vec<&ContainerRow> {
        let entries = self.entries();
        entries[window(self.list.selected, entries.len(), rows)]
            .iter()
            .filter_map(|e| match e {
                Entry::Row { row, .. } => Some(*row),
                Entry::Group { .. } => None,
            })
            .collect()
    }

    /// The containers whose CPU and memory are worth reading: those on screen when `rows` fit, with processes
    /// (running or paused). Rows scrolled out of sight cost nothing, however long the list.
    pub fn usage_targets(&self, rows: usize) -> Vec<String> {
        self.on_screen(rows).into_iter().filter(|r| r.state.is_up()).map(|r| r.id.clone()).collect()
    }

    /// Replaces the CPU and memory figures; false when no cell would read differently, so no redraw is needed.
    pub fn set_usage(&mut self, usage: HashMap<String, ContainerUsage>) -> bool {
        let before: Vec<_> = self.rows.iter().map(|r| self.usage_cells(r)).collect();
        let order: Vec<String> = self.visible().iter().map(|r| r.id.clone()).collect();
        // Sorted by CPU or memory, new figures may reorder the rows: the selection stays on its container.
        self.keeping_selection(|pane| pane.usage = usage);
        let moved = self.visible().iter().map(|r| &r.id).ne(order.iter());
        self.rows.iter().map(|r| self.usage_cells(r)).ne(before) || moved
    }

    /// A row's CPU and MEM cells: blank unless it has processes, `-` until a reading (and for CPU, two) came.
    fn usage_cells(&self, row: &ContainerRow) -> (String, String) {
        if !row.state.is_up() {
            return (String::new(), String::new());
        }
        match self.usage.get(&row.id) {
            Some(u) => {
                (u.cpu_percent.map_or_else(|| "-".into(), |c| format!("{c:.1}%")), display::memory(u.memory_bytes))
            }
            None => ("-".into(), "-".into()),
        }
    }

    /// The next sort; by engine only when the rows come from several.
    pub fn cycle_sort(&mut self) {
        let engines = self.rows.iter().any(|r| r.engine.is_some());
        self.keeping_selection(|pane| {
            pane.sort = pane.sort.next();
            if pane.sort == SortKey::Engine && !engines {
                pane.sort = pane.sort.next();
            }
        });
    }

    pub fn reverse_sort(&mut self) {
        self.keeping_selection(|pane| pane.reverse = !pane.reverse);
    }

    /// Marks every row shown (all, or those the filter passes); when they all are marked already, unmarks
    /// them.
    pub fn mark_all(&mut self) {
        let shown: Vec<String> = self.visible().iter().map(|r| r.id.clone()).collect();
        if shown.iter().all(|id| self.marked.contains(id)) {
            for id in &shown {
                self.marked.remove(id);
            }
        } else {
            self.marked.extend(shown);
        }
    }

    /// Marks or unmarks the selected container; on a group's row, all its members (marked unless all were).
    pub fn toggle_mark(&mut self) {
        let ids: Vec<String> = self.selection().iter().map(|r| r.id.clone()).collect();
        if ids.iter().all(|id| self.marked.contains(id)) {
            for id in &ids {
                self.marked.remove(id);
            }
        } else {
            self.marked.extend(ids);
        }
    }

    /// The selected container, or every member of the selected group.
    fn selection(&self) -> Vec<&ContainerRow> {
        match self.entries().get(self.list.selected) {
            Some(Entry::Row { row, .. }) => vec![*row],
            Some(Entry::Group { members, .. }) => members.clone(),
            None => Vec::new(),
        }
    }

    /// The compose project of the selected group's row or member, with that member's name.
    pub fn selected_project(&self) -> Option<(String, Option<String>)> {
        match self.entries().get(self.list.selected)? {
            Entry::Group { title, .. } => Some((super::groups::project_name(title)?.to_string(), None)),
            Entry::Row { row, .. } => {
                let project = super::groups::project_name(row.group.as_deref()?)?;
                Some((project.to_string(), Some(row.name.clone())))
            }
        }
    }

    /// The members of the selected group's row (none when a container is selected).
    pub fn selected_members(&self) -> Vec<&ContainerRow> {
        match self.entries().get(self.list.selected) {
            Some(Entry::Group { members, .. }) => members.clone(),
            _ => Vec::new(),
        }
    }

    /// The containers an operation applies to: the marked ones, else the selected one or group.
    pub fn targets(&self) -> Vec<&ContainerRow> {
        if self.marked.is_empty() {
            self.selection()
        } else {
            self.visible().into_iter().filter(|r| self.marked.contains(&r.id)).collect()
        }
    }

    /// The commands this pane offers now, each with whether the selection allows it.
    pub fn commands(&self) -> Vec<(Command, bool)> {
        let targets = self.targets();
        let any = |f: fn(ContainerState) -> bool| targets.iter().any(|r| f(r.state));
        // The list is filtered and sorted once here: the footer asks for these on every frame.
        let entries = self.entries();
        let selected = match entries.get(self.list.selected) {
            Some(Entry::Row { row, .. }) => Some(*row),
            _ => None,
        };
        let one = selected.is_some();
        let group = matches!(entries.get(self.list.selected), Some(Entry::Group { .. }))
            || selected.is_some_and(|r| r.group.is_some());
        let project = self.selected_project().is_some();
        let project_row = project && !one;
        let mut list = vec![
            (Command::Start, any(ContainerState::can_start)),
            (Command::Stop, any(ContainerState::can_stop)),
            (Command::Restart, any(ContainerState::can_stop) || any(ContainerState::can_start)),
            (Command::PauseToggle, any(ContainerState::can_pause) || any(ContainerState::can_unpause)),
            (Command::Kill, any(ContainerState::can_stop)),
            (Command::RemoveContainer, any(ContainerState::can_remove)),
            (Command::Logs, one || project_row),
            (Command::Exec, selected.is_some_and(|r| r.state.can_exec())),
            (Command::Attach, selected.is_some_and(|r| r.state.can_exec())),
            (Command::InspectContainer, one),
            (Command::Mark, one || group),
            (Command::ToggleGroup, group),
            (Command::Sort, true),
            (Command::ReverseSort, true),
            (Command::MarkAll, !entries.is_empty()),
            (Command::Filter, true),
            (Command::RunNew, true),
        ];
        let project_keys = [Command::ProjectUp, Command::ProjectDown, Command::ProjectRestart, Command::ProjectScale];
        let keys = project_keys.into_iter().map(|c| (c, project));
        if !project_row {
            list.extend(keys);
            return list;
        }
        // On a project's row its own keys (and its logs) come first, so the footer shows them.
        list.retain(|(c, _)| *c != Command::Logs);
        keys.chain([(Command::Logs, true)]).chain(list).collect()
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let visible = self.visible();
        let count = super::count(self.loaded, visible.len(), self.rows.len(), self.marked.len());
        let order = if self.reverse { " reversed" } else { "" };
        let title = format!(" Containers ({count}) · sort: {}{order} ", self.sort.label());
        let block = pane_block(ctx, &title, &self.list);
        if let Some(error) = &self.error {
            frame.render_widget(Paragraph::new(error.as_str()).style(ctx.theme.error()).block(block), area);
            return;
        }
        let entries = self.entries();
        // Each entry's NAME, STATUS, COMMAND and CREATED text: a group's row shows its fold, title, size and how
        // many are up; its members are indented under it; a row the engine is acting on says what it does.
        let texts: Vec<[String; 4]> = entries
            .iter()
            .map(|e| match e {
                Entry::Group { title, members, collapsed, .. } => {
                    let fold = if *collapsed { "▸" } else { "▾" };
                    let up = members.iter().filter(|r| r.state.is_up()).count();
                    let name = format!("{fold} {title} ({})", members.len());
                    [name, format!("{up}/{} up", members.len()), String::new(), String::new()]
                }
                Entry::Row { row, grouped } => {
                    let indent = if *grouped { "  " } else { "" };
                    let status =
                        self.pending.get(&row.id).map_or_else(|| status(row, ctx.now), |op| op.progress().to_string());
                    let created = display::ago(row.created_at.as_deref(), ctx.now);
                    [format!("{indent}{}", row.name), status, format!("\"{}\"", row.command), created]
                }
            })
            .collect();
        let columns = columns(&visible, &texts);
        let fitted = Fitted::new(&columns, area.width.saturating_sub(2));
        let header = Row::new(fitted.keep(columns.map(|c| c.header))).style(ctx.theme.header());
        // Only the rows on screen are built (the same window the CPU and memory readings are taken for); the
        // widths above come from every row, so scrolling does not move the columns.
        let window = window(self.list.selected, entries.len(), Self::rows_shown(area));
        let rows = entries[window.clone()].iter().zip(&texts[window.clone()]).map(
            |(entry, [name, status, command, created])| {
                let r = match entry {
                    Entry::Row { row, .. } => row,
                    Entry::Group { members, engine, .. } => {
                        let all = !members.is_empty() && members.iter().all(|r| self.marked.contains(&r.id));
                        let mark = if all { "●" } else { " " };
                        let mut texts: [String; 12] = Default::default();
                        texts[..3].clone_from_slice(&[mark.into(), name.clone(), engine.unwrap_or_default().into()]);
                        texts[7] = status.clone();
                        let cells = fitted.cut(texts).into_iter().enumerate().map(|(at, text)| match at {
                            0 => Cell::from(Span::styled(text, ctx.theme.colors.marked)),
                            1 => Cell::from(Span::styled(text, ctx.theme.header())),
                            _ => Cell::from(text),
                        });
                        return Row::new(fitted.keep(cells));
                    }
                };
                let mark = if self.marked.contains(&r.id) { "●" } else { " " };
                let (cpu, memory) = self.usage_cells(r);
                // Text longer than its column ends in `…`, so a cut is never mistaken for the whole.
                let texts = fitted.cut([
                    mark.to_string(),
                    name.clone(),
                    r.engine.clone().unwrap_or_default(),
                    r.image.clone(),
                    command.clone(),
                    created.clone(),
                    r.state.as_str().to_string(),
                    status.clone(),
                    r.ports.join(", "),
                    cpu,
                    memory,
                    crate::backend::short_id(&r.id).to_string(),
                ]);
                let Ok([mark, name, engine, image, command, created, state, status, ports, cpu, memory, id]) =
                    <[String; 12]>::try_from(texts)
                else {
                    return Row::default();
                };
                let status_style = if self.pending.contains_key(&r.id) { ctx.theme.key() } else { ctx.theme.base() };
                Row::new(fitted.keep([
                    Cell::from(Span::styled(mark, ctx.theme.colors.marked)),
                    Cell::from(name),
                    Cell::from(engine),
                    Cell::from(image),
                    Cell::from(Span::styled(command, ctx.theme.muted())),
                    Cell::from(created),
                    Cell::from(Span::styled(state, ctx.theme.state(r.state))),
                    Cell::from(Span::styled(status, status_style)),
                    Cell::from(ports),
                    Cell::from(cpu),
                    Cell::from(memory),
                    Cell::from(Span::styled(id, ctx.theme.muted())),
                ]))
            },
        );
        let selected = (!entries.is_empty()).then(|| self.list.selected - window.start);
        let table = Table::new(rows, fitted.constraints()).header(header).block(block);
        super::render_table(frame, area, ctx, table, selected);
        if self.rows.is_empty() {
            super::hint(frame, area, ctx, if self.loaded { "No containers." } else { super::LOADING });
        }
    }
}

/// The visible rows on screen when `rows` fit: scrolled just far enough that the selection shows, as a
/// table scrolls to its selection.
fn window(selected: usize, len: usize, rows: usize) -> Range<usize> {
    let start = (selected + 1).saturating_sub(rows.max(1)).min(len);
    start..(start + rows).min(len)
}

/// The table's columns in order, sized from the visible rows and each entry's name, status, command and
/// creation text. Name and state always show; the command and creation time only when there is room;
/// narrower panes give up the ID next, then the ports, the image, the status, memory and CPU; the engine
/// (shown in the all-engines view only) goes last.
fn columns(rows: &[&ContainerRow], texts: &[[String; 4]]) -> [Column; 12] {
    let widest = |widths: &mut dyn Iterator<Item = usize>| u16::try_from(widths.max().unwrap_or(0)).unwrap_or(u16::MAX);
    let name = widest(&mut texts.iter().map(|t| t[0].chars().count())).max(8);
    let image = widest(&mut rows.iter().map(|r| r.image.chars().count())).max(8);
    let status = widest(&mut texts.iter().map(|t| t[1].chars().count())).max(6);
    let command = widest(&mut texts.iter().map(|t| t[2].chars().count())).clamp(7, 24);
    let created = widest(&mut texts.iter().map(|t| t[3].chars().count())).max(7);
    // No engine named, no column: it wants no width.
    let engine = widest(&mut rows.iter().map(|r| r.engine.as_ref().map_or(0, |e| e.chars().count().max(6))));
    // The joined list: `, ` between mappings.
    let ports = widest(
        &mut rows.iter().map(|r| r.ports.iter().map(|p| p.chars().count() + 2).sum::<usize>().saturating_sub(2)),
    );
    [
        Column { header: "", min: 1, want: 1, grow: 0, drop: 0 },
        // A name is how a container is found on screen: whole, up to a long one, before anything else grows.
        Column { header: "NAME", min: name.min(32), want: name, grow: 1, drop: 0 },
        Column { header: "ENGINE", min: engine.min(16), want: engine, grow: 0, drop: 9 },
        Column { header: "IMAGE", min: 8, want: image, grow: 1, drop: 5 },
        Column { header: "COMMAND", min: command, want: command, grow: 0, drop: 1 },
        Column { header: "CREATED", min: created, want: created, grow: 0, drop: 2 },
        Column { header: "STATE", min: 10, want: 10, grow: 0, drop: 0 },
        Column { header: "STATUS", min: status, want: status, grow: 0, drop: 6 },
        // Room for one `0.0.0.0:8080->80/tcp` (a port cut short is no use), less when none is that long.
        Column { header: "PORTS", min: ports.clamp(5, 20), want: ports.max(5), grow: 1, drop: 4 },
        Column { header: "CPU", min: 7, want: 7, grow: 0, drop: 8 },
        Column { header: "MEM", min: 8, want: 8, grow: 0, drop: 7 },
        Column { header: "ID", min: 12, want: 12, grow: 0, drop: 3 },
    ]
}

/// Docker's STATUS: `Up 5 minutes`, `Up 5 minutes (Paused)`, `Exited (0) 2 minutes ago`.
fn status(row: &ContainerRow, now: DateTime<Utc>) -> String {
    let Some(status) = Status::parse(row.state.as_str()) else { return String::new() };
    let fields = display::StatusFields {
        status,
        exit_code: row.exit_code.unwrap_or_default().into(),
        started_at: row.started_at.as_deref(),
        finished_at: row.finished_at.as_deref(),
        health: row.health,
    };
    display::status(fields, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, state: ContainerState) -> ContainerRow {
        ContainerRow {
            id: format!("{n:064}"),
            name: format!("c{n:02}"),
            image: "busybox".into(),
            state,
            started_at: None,
            finished_at: None,
            exit_code: None,
            ports: Vec::new(),
            health: None,
            group: None,
            command: "sh".into(),
            created_at: None,
            engine: None,
        }
    }

    #[test]
    fn status_shows_the_health_as_ps_does() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut running = row(1, ContainerState::Running);
        running.started_at = Some("2026-01-01T23:58:00Z".into());
        running.health = Some(berth_engine::health::HealthStatus::Unhealthy);
        assert_eq!(status(&running, now), "Up 2 minutes (unhealthy)");
    }

    #[test]
    fn usage_is_read_for_the_running_rows_on_screen_only() {
        let mut pane = ContainersPane::default();
        let state = |n| if n % 5 == 4 { ContainerState::Exited } else { ContainerState::Running };
        pane.set_rows((0..30).map(|n| row(n, state(n))).collect());
        let names = |pane: &ContainersPane, rows| -> Vec<String> {
            let ids = pane.usage_targets(rows);
            pane.rows.iter().filter(|r| ids.contains(&r.id)).map(|r| r.name.clone()).collect()
        };
        assert_eq!(window(0, 30, 6), 0..6);
        assert_eq!(names(&pane, 6), ["c00", "c01", "c02", "c03", "c05"], "c04 has exited");
        pane.list.selected = 20;
        assert_eq!(window(20, 30, 6), 15..21, "scrolled so the selection is the last row shown");
        assert_eq!(names(&pane, 6), ["c15", "c16", "c17", "c18", "c20"]);
        assert_eq!((window(0, 30, 100), window(0, 0, 6)), (0..30, 0..0));
        pane.list.filter = crate::input::TextInput::new("c2");
        pane.list.selected = 0;
        assert_eq!(names(&pane, 6), ["c20", "c21", "c22", "c23", "c25"], "the filtered list is what shows");
    }

    #[test]
    fn usage_cells_redraw_only_when_their_text_changes() {
        let mut pane = ContainersPane::default();
        pane.set_rows(vec![row(1, ContainerState::Running), row(2, ContainerState::Exited)]);
        let id = pane.rows[0].id.clone();
        assert_eq!(pane.usage_cells(&pane.rows[0]), ("-".into(), "-".into()), "running, not read yet");
        assert_eq!(pane.usage_cells(&pane.rows[1]), (String::new(), String::new()), "nothing to read");
        let usage = |cpu| HashMap::from([(id.clone(), ContainerUsage { cpu_percent: cpu, memory_bytes: 5 << 20 })]);
        assert!(pane.set_usage(usage(None)));
        assert_eq!(pane.usage_cells(&pane.rows[0]), ("-".into(), "5MiB".into()), "memory from the first reading");
        assert!(pane.set_usage(usage(Some(1.04))));
        assert!(!pane.set_usage(usage(Some(0.96))), "1.0% either way");
        assert_eq!(pane.usage_cells(&pane.rows[0]).0, "1.0%");
    }
}
