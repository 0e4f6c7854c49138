//! Where each pane goes. The app uses the same functions as drawing to size shell ptys.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::panes::Pane;

/// The tab bar, the body and the status bar.
pub fn screen(area: Rect) -> [Rect; 3] {
    Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(area)
}

/// The container screen: the list on top, logs bottom left, stats or shell bottom right.
pub fn containers_screen(body: Rect) -> [Rect; 3] {
    let [list, bottom] = Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(body);
    let [logs, side] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    [list, logs, side]
}

/// The Containers list's place in a terminal of `area`.
pub fn containers_list(area: Rect) -> Rect {
    let [_, body, _] = screen(area);
    containers_screen(body)[0]
}

/// Which screen shows a pane.
pub fn on_containers_screen(pane: Pane) -> bool {
    matches!(pane, Pane::Containers | Pane::Logs | Pane::Stats | Pane::Shell)
}

/// Rows and columns inside the shell pane's border for a terminal of `area`.
pub fn shell_size(area: Rect) -> (u16, u16) {
    let [_, body, _] = screen(area);
    let [_, _, side] = containers_screen(body);
    (side.height.saturating_sub(2).max(1), side.width.saturating_sub(2).max(1))
}
