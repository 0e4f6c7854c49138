//! The all-engines view: every engine's containers in one list with an ENGINE column, sorted, filtered,
//! marked and selected across engines, a container being its engine and ID together.

use crossterm::event::KeyCode;

use super::snapshots::both;
use super::*;
use crate::backend::{ContainerRow, ContainerState};

fn on(engine: &str, id: &str, name: &str, state: ContainerState) -> ContainerRow {
    let mut row = fake::container(id, name, "busybox:latest", state);
    row.engine = Some(engine.into());
    row
}

/// Two engines' lists: each has a `web` (lab's is the same container as berth's, as a `berth serve` of the
/// same root lists it) and a compose project `shop` of its own.
fn rows() -> Vec<ContainerRow> {
    let mut shop = on("berth", "c3", "shop-db-1", ContainerState::Running);
    shop.group = Some("project shop".into());
    let mut lab_shop = on("lab", "f6", "shop-db-1", ContainerState::Exited);
    lab_shop.group = Some("project shop".into());
    vec![
        on("berth", "a1", "web", ContainerState::Running),
        on("berth", "b2", "db", ContainerState::Paused),
        shop,
        on("lab", "a1", "web", ContainerState::Running),
        on("lab", "e5", "cache", ContainerState::Exited),
        lab_shop,
    ]
}

fn all_engines(size: (u16, u16)) -> App {
    let mut app = app(size);
    app.update(Msg::EngineSwitched(Some("all engines".into())));
    app.update(Msg::Containers(Ok(rows())));
    app.take_effects();
    app
}

/// Each drawn line as `name@engine` for containers and `[title@engine]` for groups.
fn listed(app: &App) -> Vec<String> {
    app.containers
        .entries()
        .iter()
        .map(|e| match e {
            crate::panes::groups::Entry::Group { title, engine, .. } => format!("[{title}@{}]", engine.unwrap()),
            crate::panes::groups::Entry::Row { row, .. } => format!("{}@{}", row.name, row.engine.as_deref().unwrap()),
        })
        .collect()
}

fn selected(app: &App) -> String {
    let row = app.containers.selected().expect("a container is selected");
    format!("{}@{}", row.name, row.engine.as_deref().unwrap())
}

#[test]
fn br_the_all_engines_view_lists_every_engines_containers_with_an_engine_column() {
    both("containers_all_engines", |app| {
        app.update(Msg::EngineSwitched(Some("all engines".into())));
        app.update(Msg::Containers(Ok(rows())));
        key(app, KeyCode::Char('j'));
        key(app, KeyCode::Char(' '));
    });
    let screen = format!("{:?}", render(&all_engines(CRAMPED)).backend());
    assert!(screen.contains("ENGINE"), "the column shows at 80 columns too:\n{screen}");
    let one = format!("{:?}", render(&app(CRAMPED)).backend());
    assert!(!one.contains("ENGINE"), "one engine shown: no column:\n{one}");
}

#[test]
fn br_sort_filter_marks_and_selection_work_across_engines() {
    let mut app = all_engines(ROOMY);
    // By name, a name on two engines by engine; each engine's project is a group of its own.
    assert_eq!(
        listed(&app),
        [
            "cache@lab",
            "db@berth",
            "[project shop@berth]",
            "shop-db-1@berth",
            "[project shop@lab]",
            "shop-db-1@lab",
            "web@berth",
            "web@lab"
        ]
    );
    // The same container ID on two engines is two rows: the selection stays on the one chosen.
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(selected(&app), "web@lab");
    let mut changed = rows();
    changed.retain(|r| r.name != "cache");
    changed.push(on("berth", "a0", "api", ContainerState::Running));
    app.update(Msg::Containers(Ok(changed.clone())));
    assert_eq!(selected(&app), "web@lab", "rows removed and inserted above the selection");
    let followed = app.logs.container.clone().map(|(id, _)| id);
    assert_eq!(followed.as_deref(), Some(changed[3].id.as_str()), "logs follow the selected container");
    // Sorting by engine (offered here only) keeps the selection on its container.
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(app.containers.sort, crate::panes::containers::SortKey::Engine);
    assert_eq!(selected(&app), "web@lab");
    assert_eq!(listed(&app)[..2], ["api@berth".to_string(), "db@berth".to_string()], "berth's first, by name");
    // Collapsing one engine's project leaves the other engine's project of the same name open.
    let at = listed(&app).iter().position(|l| l == "[project shop@lab]").unwrap();
    app.containers.list.selected = at;
    key(&mut app, KeyCode::Char('z'));
    assert!(listed(&app).contains(&"shop-db-1@berth".to_string()) && !listed(&app).contains(&"shop-db-1@lab".into()));
    // The filter reads the engine's name; marking all marks what it passes.
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "lab");
    key(&mut app, KeyCode::Enter);
    assert!(listed(&app).iter().all(|l| l.ends_with("@lab") || l.ends_with("@lab]")), "{:?}", listed(&app));
    key(&mut app, KeyCode::Char('*'));
    let marked: Vec<String> = app.containers.targets().iter().map(|r| r.name.clone()).collect();
    assert_eq!(marked, ["shop-db-1", "web"], "{:?}", app.containers.marked);
}

#[test]
fn br_one_engine_shown_offers_no_engine_sort() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(app.containers.sort, crate::panes::containers::SortKey::Image, "name, then image");
}
