//! The layer explorer: opened from the Images pane, fed the engine's changes, its views, filter and folds.

use std::sync::Arc;

use crossterm::event::KeyCode;

use super::*;
use crate::app::Modal;
use crate::panes::explorer::Explorer;
use berth_engine::local::Mark;

/// Builds the trees the explorer asked for, as the runner does off the UI thread, and feeds them back.
fn settle(app: &mut App) {
    for effect in app.take_effects() {
        if let Effect::Tree(request) = effect {
            app.update(Msg::Tree { id: request.id.clone(), generation: request.generation, rows: request.build() });
        }
    }
}

/// A key, then the tree it asked for.
fn key(app: &mut App, code: KeyCode) {
    super::key(app, code);
    settle(app);
}

fn chars(app: &mut App, text: &str) {
    super::chars(app, text);
    settle(app);
}

fn explorer(app: &App) -> &Explorer {
    match &app.modal {
        Some(Modal::Explorer(explorer)) => explorer,
        other => panic!("the explorer is not open: {other:?}"),
    }
}

/// The visible tree as (path, mark).
fn tree(app: &App) -> Vec<(String, Mark)> {
    let e = explorer(app);
    e.visible.iter().map(|&i| (e.rows[i].path.clone(), e.rows[i].mark)).collect()
}

fn paths(rows: &[(&str, Mark)]) -> Vec<(String, Mark)> {
    rows.iter().map(|(p, m)| (p.to_string(), *m)).collect()
}

/// The Images pane with the explorer open on the first image and its layers read.
fn opened(app: &mut App) {
    key(app, KeyCode::Char('2'));
    key(app, KeyCode::Char('x'));
    let id = explorer(app).id.clone();
    app.update(Msg::Layers { id: id.clone(), result: Ok(fake::layers()) });
    app.update(Msg::LayerChanges { id, result: Ok(Arc::new(fake::layer_changes())) });
    settle(app);
}

#[test]
fn bl_enter_twice_opens_the_explorer_which_reads_the_layers_in_the_background() {
    let mut app = app(ROOMY);
    super::key(&mut app, KeyCode::Char('2'));
    effects(&mut app);
    super::key(&mut app, KeyCode::Enter);
    let id = app.images.selected().unwrap().id.clone();
    assert_eq!(effects(&mut app), vec![Effect::Layers(id.clone())], "the first Enter lists the layers");
    assert!(app.modal.is_none());
    app.update(Msg::Layers { id: id.clone(), result: Ok(fake::layers()) });
    super::key(&mut app, KeyCode::Enter);
    assert_eq!(effects(&mut app), vec![Effect::LayerChanges(id.clone())]);
    let e = explorer(&app);
    assert_eq!(e.layers.len(), 2, "history lines that made no layer are left out");
    assert!(e.changes.is_none(), "reading layers…");
    // An answer for another image is not this explorer's.
    app.update(Msg::LayerChanges { id: "sha256:other".into(), result: Ok(Arc::new(fake::layer_changes())) });
    assert!(explorer(&app).changes.is_none());
    app.update(Msg::LayerChanges { id, result: Ok(Arc::new(fake::layer_changes())) });
    assert_eq!(explorer(&app).layer, 1, "the top layer is selected");
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

#[test]
fn bl_the_merged_view_shows_a_removed_file_as_removed_and_c_shows_the_layer_alone() {
    let mut app = app(ROOMY);
    opened(&mut app);
    assert_eq!(
        tree(&app),
        paths(&[
            ("bin", Mark::Unchanged),
            ("bin/busybox", Mark::Unchanged),
            ("bin/sh", Mark::Unchanged),
            ("etc", Mark::Unchanged),
            ("etc/issue", Mark::Removed),
            ("etc/motd", Mark::Modified),
            ("greeting", Mark::Added),
        ])
    );
    let etc = &explorer(&app).rows[3];
    assert_eq!(etc.size, 500, "a directory holds its files' bytes, not the removed ones");
    key(&mut app, KeyCode::Char('c'));
    assert_eq!(
        tree(&app),
        paths(&[
            ("etc", Mark::Unchanged),
            ("etc/issue", Mark::Removed),
            ("etc/motd", Mark::Modified),
            ("greeting", Mark::Added)
        ])
    );
    // Down the layer list: the base layer, everything added.
    key(&mut app, KeyCode::Char('c'));
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(explorer(&app).layer, 0);
    assert!(tree(&app).iter().all(|(_, m)| *m == Mark::Added), "{:?}", tree(&app));
    assert!(tree(&app).iter().any(|(p, _)| p == "etc/issue"));
}

#[test]
fn bl_folding_and_the_path_filter() {
    let mut app = app(ROOMY);
    opened(&mut app);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(explorer(&app).selected_row().unwrap().path, "etc");
    key(&mut app, KeyCode::Char(' '));
    let shown: Vec<String> = tree(&app).into_iter().map(|(p, _)| p).collect();
    assert_eq!(shown, ["bin", "bin/busybox", "bin/sh", "etc", "greeting"]);
    key(&mut app, KeyCode::Right);
    assert_eq!(tree(&app).len(), 7);

    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "motd");
    key(&mut app, KeyCode::Enter);
    assert_eq!(tree(&app), paths(&[("etc", Mark::Unchanged), ("etc/motd", Mark::Modified)]));
    key(&mut app, KeyCode::Esc);
    assert_eq!(tree(&app).len(), 7, "Esc clears the filter first");
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

#[test]
fn bl_a_failed_reading_shows_the_engine_s_message() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('x'));
    let id = explorer(&app).id.clone();
    let error = crate::backend::BackendError::Failed {
        operation: "explore",
        target: id.clone(),
        message: "open tar index: permission denied".into(),
    };
    app.update(Msg::LayerChanges { id, result: Err(error) });
    assert!(matches!(&explorer(&app).changes, Some(Err(e)) if e.contains("permission denied")));
}

#[test]
fn bl_explorer_snapshots() {
    snapshots::both("explorer", opened);
    snapshots::both("explorer_reading", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('x'));
    });
    snapshots::both("explorer_changes_filtered", |app| {
        opened(app);
        key(app, KeyCode::Char('c'));
        key(app, KeyCode::Char('/'));
        chars(app, "etc");
    });
}

#[test]
fn bl_typing_a_filter_builds_the_tree_off_the_ui_thread_and_the_newest_wins() {
    let mut app = app(ROOMY);
    opened(&mut app);
    let all = tree(&app);
    super::key(&mut app, KeyCode::Char('/'));
    super::chars(&mut app, "mo");
    // The keys built nothing: the tree shown is the one before, and each key asked for a newer one.
    assert_eq!(tree(&app), all, "the old tree stays until the new one comes");
    assert!(explorer(&app).building);
    let asked: Vec<_> =
        app.take_effects().into_iter().filter_map(|e| if let Effect::Tree(r) = e { Some(r) } else { None }).collect();
    assert_eq!(asked.len(), 2, "one per key");
    let (older, newest) = (&asked[0], &asked[1]);
    let id = newest.id.clone();
    assert!(app.update(Msg::Tree { id: id.clone(), generation: newest.generation, rows: newest.build() }));
    assert_eq!(tree(&app), paths(&[("etc", Mark::Unchanged), ("etc/motd", Mark::Modified)]));
    assert!(!explorer(&app).building);
    // The tree for "m" alone, built later, is stale: it is dropped.
    assert!(!app.update(Msg::Tree { id, generation: older.generation, rows: older.build() }));
    assert_eq!(tree(&app).len(), 2);
}
