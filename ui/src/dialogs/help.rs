//! `?` help, generated from the live keymap so it always shows the keys that work.

use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::dialog_block;
use crate::keymap::{Command, Keymap, Scope};
use crate::theme::Theme;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpDialog {
    /// The first line shown.
    pub scroll: usize,
    /// The settings file, named so keys can be changed there.
    pub config: Option<PathBuf>,
}

const SECTIONS: [Scope; 9] = [
    Scope::Global,
    Scope::List,
    Scope::Containers,
    Scope::Images,
    Scope::Networks,
    Scope::Volumes,
    Scope::Logs,
    Scope::Shell,
    Scope::Operations,
];

/// Every command by scope with its keys, as lines.
pub fn lines<'a>(keymap: &Keymap, theme: &Theme, config: Option<&Path>) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for scope in SECTIONS {
        out.push(Line::from(Span::styled(scope.name().to_uppercase(), theme.header())));
        // The Logs pane's `/` is its search: listed there too, under that name.
        let search = (scope == Scope::Logs).then_some(&Command::Filter);
        for command in search.into_iter().chain(Command::ALL.iter().filter(|c| c.scope() == scope)) {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<16}", keymap.label(*command)), theme.key()),
                Span::raw(command.help_in(scope)),
            ]));
        }
        out.push(Line::default());
    }
    let colon = keymap.label(Command::CommandLine);
    out.push(Line::from(Span::styled(format!("{colon} COMMAND"), theme.header())));
    for text in [
        "  any berth command: ps -a, network create NAME, rm -f web, ...",
        "  output and exit status go to the Operations pane",
        "  pull REF opens the pull dialog; exec -it NAME sh a shell pane",
        "  run without -d runs detached (with -it, then attached in a pane)",
    ] {
        out.push(Line::from(Span::raw(text)));
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled("KEYS AND SETTINGS", theme.header())));
    let file = config.map_or_else(|| "tui.toml".to_string(), |p| p.display().to_string());
    for text in [
        format!("  {file}"),
        "  [keys] takes the command names in the README, e.g. quit = \"ctrl-q\";".to_string(),
        "  theme, mouse and confirm = false (no confirmations) go at the top".to_string(),
    ] {
        out.push(Line::from(Span::styled(text, theme.muted())));
    }
    out
}

impl HelpDialog {
    pub fn draw(&self, frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(2),
        };
        frame.render_widget(Clear, area);
        let text = lines(keymap, theme, self.config.as_deref());
        let text: Vec<Line> = text.into_iter().skip(self.scroll).collect();
        let title = "Help · j/k, PgUp/PgDn, g/G scroll · Esc closes";
        let paragraph = Paragraph::new(text).block(dialog_block(theme, title));
        frame.render_widget(paragraph, area);
    }
}
