//! A compose project's row: up, down, restart and scale through the backend's project operation, and the
//! Logs pane following every container of the project, interleaved under coloured `name | ` prefixes.

use crossterm::event::KeyCode;
use ratatui::style::Color;

use super::*;
use crate::app::Modal;
use crate::backend::{BackendEvent, ContainerState, LogLine, ProjectOp};
use crate::runner::Executor;

/// The fixture plus a project `shop` (db and api) and a pod, with the project's row selected.
fn with_project(size: (u16, u16)) -> App {
    let mut app = app(size);
    let member = |id: &str, name: &str, group: &str| {
        let mut row = fake::container(id, name, "busybox:latest", ContainerState::Running);
        row.group = Some(group.to_string());
        row
    };
    let mut rows = fake::containers();
    rows.push(member("e5", "web-pod-web", "pod web-pod"));
    rows.push(member("a7", "shop-db-1", "project shop"));
    rows.push(member("b8", "shop-api-1", "project shop"));
    app.update(Msg::Containers(Ok(rows)));
    select(&mut app, "[project shop");
    effects(&mut app);
    app
}

/// Selects the first entry whose debug form holds `needle` (`[project shop` for the group's row).
fn select(app: &mut App, needle: &str) {
    let entries: Vec<String> = app
        .containers
        .entries()
        .iter()
        .map(|e| match e {
            crate::panes::groups::Entry::Group { title, .. } => format!("[{title}"),
            crate::panes::groups::Entry::Row { row, .. } => row.name.clone(),
        })
        .collect();
    app.containers.list.selected = entries.iter().position(|e| e.starts_with(needle)).expect(needle);
}

fn project(op: ProjectOp) -> Effect {
    Effect::Project { project: "shop".into(), op }
}

fn line(time: u32, text: &str) -> LogLine {
    LogLine { time: format!("2026-01-01T23:59:{time:02}.000000000Z"), stderr: false, text: text.into() }
}

fn id_of(app: &App, name: &str) -> String {
    app.containers.rows.iter().find(|r| r.name == name).unwrap().id.clone()
}

#[test]
fn bp_project_keys_on_its_row_ask_for_compose_operations() {
    let mut app = with_project(ROOMY);
    assert!(app.containers.selected().is_none(), "the project's row is selected");
    key(&mut app, KeyCode::Char('U'));
    assert_eq!(effects(&mut app), [project(ProjectOp::Up)]);
    assert_eq!(app.status.as_ref().unwrap().text, "compose up shop…");
    key(&mut app, KeyCode::Char('R'));
    assert_eq!(effects(&mut app), [project(ProjectOp::Restart)]);
    key(&mut app, KeyCode::Char('d'));
    assert!(effects(&mut app).is_empty(), "down asks first");
    assert!(matches!(app.modal, Some(Modal::Confirm(_))));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(effects(&mut app), [project(ProjectOp::Down)]);

    // Keys of a project do nothing on a pod's row.
    select(&mut app, "[pod web-pod");
    effects(&mut app);
    key(&mut app, KeyCode::Char('U'));
    assert!(effects(&mut app).is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("not possible"), "{:?}", app.status);
}

#[test]
fn bp_scale_prompts_for_service_and_count_starting_from_the_member_under_the_cursor() {
    let mut app = with_project(ROOMY);
    select(&mut app, "shop-api-1");
    key(&mut app, KeyCode::Char('+'));
    let Some(Modal::Scale(dialog)) = &app.modal else { panic!("the scale prompt opens: {:?}", app.modal) };
    assert_eq!(dialog.input.value(), "api=");
    chars(&mut app, "x");
    key(&mut app, KeyCode::Enter);
    let Some(Modal::Scale(dialog)) = &app.modal else { panic!("a bad count keeps the prompt open") };
    assert_eq!(dialog.error.as_deref(), Some("\"x\" is not a replica count"));
    assert!(effects(&mut app).is_empty());
    key(&mut app, KeyCode::Backspace);
    chars(&mut app, "3");
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none());
    assert_eq!(effects(&mut app), [project(ProjectOp::Scale { service: "api".into(), replicas: 3 })]);
}

#[test]
fn bp_project_logs_follow_every_member_interleaved_and_let_go_on_leaving() {
    let mut app = with_project(ROOMY);
    let (db, api) = (id_of(&app, "shop-db-1"), id_of(&app, "shop-api-1"));
    key(&mut app, KeyCode::Char('l'));
    let followed = effects(&mut app);
    assert!(followed.contains(&Effect::FollowLogs(db.clone())) && followed.contains(&Effect::FollowLogs(api.clone())));
    assert_eq!(app.logs.container.as_ref().unwrap().1, "project shop");
    // Each member's tail arrives on its own; the pane holds them in time order under their names.
    let event = |container: &str, lines| Msg::Backend(BackendEvent::Log { container: container.into(), lines });
    app.update(event(&db, vec![line(1, "db starting"), line(3, "db ready")]));
    app.update(event(&api, vec![line(2, "api waiting"), line(4, "api serving")]));
    app.update(event(&db, vec![line(5, "db query")]));
    let shown: Vec<&str> = app.logs.lines().map(|l| l.text.as_str()).collect();
    assert_eq!(
        shown,
        [
            "shop-db-1  | db starting",
            "shop-api-1 | api waiting",
            "shop-db-1  | db ready",
            "shop-api-1 | api serving",
            "shop-db-1  | db query"
        ]
    );
    // Another container's lines stay out; moving to a container lets both members go.
    app.update(event(&id_of(&app, "web"), vec![line(6, "web")]));
    assert_eq!(app.logs.len(), 5);
    key(&mut app, KeyCode::Char('1'));
    select(&mut app, "shop-db-1");
    key(&mut app, KeyCode::Char('l'));
    let after = effects(&mut app);
    assert!(
        after.contains(&Effect::UnfollowLogs(db.clone())) && after.contains(&Effect::UnfollowLogs(api)),
        "{after:?}"
    );
    assert!(after.contains(&Effect::FollowLogs(db)), "{after:?}");
    assert!(app.logs.members.is_empty());
}

#[test]
fn bp_project_logs_and_scale_prompt_snapshots() {
    for size in [ROOMY, CRAMPED] {
        let mut app = with_project(size);
        let (db, api) = (id_of(&app, "shop-db-1"), id_of(&app, "shop-api-1"));
        key(&mut app, KeyCode::Char('l'));
        let event = |container: &str, lines| Msg::Backend(BackendEvent::Log { container: container.into(), lines });
        app.update(event(&db, vec![line(1, "db starting"), line(3, "db ready")]));
        app.update(event(&api, vec![line(2, "api waiting")]));
        key(&mut app, KeyCode::Char('1'));
        let terminal = render(&app);
        // The prefixes are coloured per container.
        let buffer = terminal.backend().buffer();
        let colours: Vec<Color> = (0..buffer.area.height)
            .filter_map(|y| {
                let row: String = (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect();
                let x = row.find("shop-")? as u16;
                row.contains(" | ").then(|| buffer[(x, y)].fg)
            })
            .collect();
        assert!(colours.len() >= 3 && colours[0] != colours[1] && colours[0] == colours[2], "{colours:?}");
        let size_name = format!("{}x{}", size.0, size.1);
        insta::with_settings!({ snapshot_suffix => size_name.clone() }, {
            insta::assert_snapshot!("project_logs", terminal.backend());
        });
        select(&mut app, "shop-api-1");
        key(&mut app, KeyCode::Char('+'));
        insta::with_settings!({ snapshot_suffix => size_name }, {
            insta::assert_snapshot!("project_scale", render(&app).backend());
        });
    }
}

#[tokio::test]
async fn bp_a_project_operation_reaches_the_backend_and_is_logged() {
    let backend = std::sync::Arc::new(FakeBackend::new());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let executor = Executor::new(backend.clone(), tx);
    let mut app = with_project(ROOMY);
    executor.execute(project(ProjectOp::Scale { service: "api".into(), replicas: 2 }));
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    app.update(msg);
    assert_eq!(backend.calls.lock().unwrap().as_slice(), ["compose scale api=2 shop"]);
    assert_eq!(app.status.as_ref().unwrap().text, "compose scale api=2 shop");
}
