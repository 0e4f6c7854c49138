//! The bottom bar at 80 columns: every pane's hints are whole (those that do not fit are left out, least
//! important first), and a status message too long for the bar ends in `…`.

use crossterm::event::KeyCode;

use super::*;
use crate::keymap::Scope;

/// The bar's left part: what stands before the help and quit hints.
fn footer(app: &App) -> String {
    let terminal = render(app);
    let buffer = terminal.backend().buffer();
    let y = buffer.area.height - 1;
    let line: String = (0..buffer.area.width).map(|x| buffer[(x, y)].symbol().to_string()).collect();
    let help = format!(" {} ", app.keymap.label(crate::keymap::Command::Help));
    line[..line.find(&help).expect("help is always shown")].trim_end().to_string()
}

#[test]
fn br_footers_at_80_columns_show_whole_hints_in_their_order() {
    for pane in ['1', '2', '3', '5', '6', '7', '8'] {
        let mut app = app(CRAMPED);
        key(&mut app, KeyCode::Char(pane));
        let scope = app.scopes().first().copied().unwrap_or(Scope::Global);
        let hints: Vec<String> = app
            .pane_commands()
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(c, _)| format!("{} {}", app.keymap.label(c), c.help_in(scope)))
            .collect();
        let shown = footer(&app);
        if shown.trim().is_empty() {
            assert!(hints.is_empty(), "pane {pane}: hints to show, none shown");
            continue;
        }
        let words: Vec<&str> = shown.trim_start().split("  ").collect();
        assert!(words.len() <= hints.len(), "pane {pane}: {shown:?}");
        // A prefix of the pane's hints, each whole.
        assert_eq!(words, hints[..words.len()], "pane {pane}: {shown:?}");
        assert!(!shown.contains("i i"), "pane {pane}: {shown:?}");
    }
}

#[test]
fn br_a_long_status_message_ends_in_an_ellipsis() {
    let mut app = app(CRAMPED);
    app.update(Msg::Done {
        what: "remove image".into(),
        result: Err(crate::backend::BackendError::Failed {
            operation: "remove",
            target: "alpine:3.20".into(),
            message: "image is in use by containers web, db, job and fresh; stop and remove them first".into(),
        }),
    });
    let shown = footer(&app);
    assert!(shown.starts_with(" remove alpine:3.20: image is in use") && shown.ends_with('…'), "{shown:?}");
}
