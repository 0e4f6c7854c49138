//! The `:` command line: any berth CLI command (`run -d --name web busybox httpd -f`, `network create data`,
//! `ps -a`). Words split shell-like here; the binary's own grammar plans them ([`crate::cli`]) and the backend
//! runs them as a child `berth`. What needs a terminal is refused here with the key that does it instead.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use thiserror::Error;

use crate::backend::CliOutput;
use crate::cli::NeedsTerminal;
use crate::input::TextInput;
use crate::keymap::{Command, Keymap};
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandLineError {
    #[error("cannot split {line:?} into words: {message}")]
    Quote { line: String, message: String },
    #[error("type a berth command, e.g. ps -a or network create NAME")]
    Empty,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    pub input: TextInput,
    /// The history entry shown (Up/Down), if any.
    browsing: Option<usize>,
    /// What was typed before browsing began, given back past the newest entry.
    draft: String,
    /// Completions of the word being typed when Tab found several.
    pub choices: Vec<String>,
}

/// Lines kept in the history file; an older part is dropped when the file grows past twice this.
pub const HISTORY: usize = 500;

/// The history file's lines, oldest first, at most [`HISTORY`]; a missing or unreadable file is an empty
/// history. A file grown past twice the bound is rewritten with its newest lines.
pub fn load_history(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let kept = lines[lines.len().saturating_sub(HISTORY)..].to_vec();
    if lines.len() > 2 * HISTORY {
        let mut text = kept.join("\n");
        text.push('\n');
        if let Err(e) = std::fs::write(path, text) {
            tracing::warn!("cannot shorten the command history {}: {e}", path.display());
        }
    }
    kept
}

/// The longest start every word shares.
fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else { return String::new() };
    let mut end = first.len();
    for word in &words[1..] {
        end = first
            .char_indices()
            .zip(word.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, c), _)| i + c.len_utf8())
            .min(end);
    }
    first[..end].to_string()
}

impl CommandLine {
    /// A line with `text` typed already, for keys that start a command for the user to finish.
    pub fn with(text: &str) -> CommandLine {
        CommandLine { input: TextInput::new(text), ..CommandLine::default() }
    }

    /// Up (`older`) or Down through `history`; past the newest entry the line typed before comes back.
    pub fn browse(&mut self, history: &[String], older: bool) {
        let next = match (self.browsing, older) {
            (None, true) => history.len().checked_sub(1),
            (None, false) => return,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        if self.browsing.is_none() {
            if next.is_none() {
                return;
            }
            self.draft = self.input.value().to_string();
        }
        self.browsing = next;
        self.input = TextInput::new(next.and_then(|i| history.get(i)).unwrap_or(&self.draft));
    }

    /// Completes the word at the end of the line from `candidates` (everything that may come there): one
    /// match is taken with a space after it, several extend the word as far as they agree and are listed.
    pub fn complete(&mut self, candidates: Vec<String>) {
        let text = self.input.value().to_string();
        let (before, partial) = match text.rfind(' ') {
            Some(at) => text.split_at(at + 1),
            None => ("", text.as_str()),
        };
        let mut matches: Vec<String> = candidates.into_iter().filter(|c| c.starts_with(partial)).collect();
        matches.sort();
        matches.dedup();
        self.choices.clear();
        match matches.as_slice() {
            [] => {}
            [one] => self.input = TextInput::new(&format!("{before}{one} ")),
            many => {
                self.input = TextInput::new(&format!("{before}{}", common_prefix(many)));
                self.choices = many.to_vec();
            }
        }
    }

    /// The words before the one being typed (a leading `berth` dropped), for the grammar's completions.
    pub fn words_before(&self) -> Vec<String> {
        let text = self.input.value();
        let before = text.rfind(' ').map_or("", |at| &text[..at]);
        let mut words: Vec<String> = before.split_whitespace().map(str::to_string).collect();
        if words.first().is_some_and(|w| w == "berth") {
            words.remove(0);
        }
        words
    }
}

/// Splits a line into words as a shell would (quotes, backslashes); a leading `berth` is dropped.
pub fn words(line: &str) -> Result<Vec<String>, CommandLineError> {
    let mut words =
        shell_words::split(line).map_err(|e| CommandLineError::Quote { line: line.into(), message: e.to_string() })?;
    if words.first().is_some_and(|w| w == "berth") {
        words.remove(0);
    }
    if words.is_empty() {
        return Err(CommandLineError::Empty);
    }
    Ok(words)
}

/// `q` or `quit` alone: the UI's own word for leaving, not a CLI command.
pub fn is_quit(words: &[String]) -> bool {
    matches!(words, [only] if only == "q" || only == "quit")
}

/// Why `:` will not run a command, and what does it in the TUI, with the keys the keymap binds now.
pub fn refusal(why: NeedsTerminal, keymap: &Keymap) -> String {
    let key = |command| keymap.label(command);
    match why {
        NeedsTerminal::Attach => {
            format!(
                "attach needs a terminal: select the container and press {} for an attach pane",
                key(Command::Attach)
            )
        }
        NeedsTerminal::StartAttached => format!(
            "start -a/-i needs a terminal: start it ({} or :start NAME), then press {} to attach",
            key(Command::Start),
            key(Command::Attach)
        ),
        NeedsTerminal::Exec => format!(
            "exec -i/-t needs a terminal: press {} on a running container for a shell pane (:exec -it NAME sh \
             opens one too), or drop -i/-t to see the output here",
            key(Command::Exec)
        ),
        NeedsTerminal::FollowLogs => format!(
            "logs -f follows forever: select the container and press {} for the Logs pane (logs without -f \
             prints here)",
            key(Command::Logs)
        ),
        NeedsTerminal::Stats => format!(
            "stats streams: the Stats pane ({}) follows the selected container; stats --no-stream prints one \
             reading here",
            key(Command::GoStats)
        ),
        NeedsTerminal::Login => {
            "login would prompt, and the TUI has no terminal for it: pass --username and --password, or run \
             berth login in a shell"
                .into()
        }
        NeedsTerminal::TarStream => {
            "cp with -, save and export without -o, load without -i and import - move a tar stream through \
             stdin/stdout, which the TUI does not have: give a file"
                .into()
        }
        NeedsTerminal::Events => {
            "events streams until stopped: give --until to print past events here (events --since 10m --until 0s)"
                .into()
        }
        NeedsTerminal::Tui => "berth without a command opens this UI: type a command, e.g. ps -a".into(),
    }
}

/// A CLI run's output as lines: tabs widened (the terminal cannot show them), a note for output cut at the
/// limit, and no empty last line.
pub fn output_lines(out: &CliOutput) -> Vec<String> {
    let mut lines: Vec<String> = out.output.lines().map(|l| l.trim_end_matches('\r').replace('\t', "    ")).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if out.dropped > 0 {
        lines.push(format!("… {} more output not kept", berth_engine::display::size(out.dropped)));
    }
    lines
}

/// The line that says why a command failed: clap's `error:` or berth's `Error:` line, else the last one.
pub fn error_line(lines: &[String]) -> Option<&str> {
    let printed = || lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    printed().find(|l| l.to_ascii_lowercase().starts_with("error")).or_else(|| printed().next_back())
}

/// The container ID `run -d` prints last: 64 hex digits on the last line.
pub fn printed_id(lines: &[String]) -> Option<String> {
    let last = lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty())?;
    (last.len() == 64 && last.bytes().all(|b| b.is_ascii_hexdigit())).then(|| last.to_string())
}

impl CommandLine {
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let line =
            Rect { x: area.x, y: area.bottom().saturating_sub(1), width: area.width, height: 1.min(area.height) };
        frame.render_widget(Clear, line);
        let text = Line::from(vec![Span::styled(":", theme.key()), Span::raw(format!("{}▏", self.input.value()))]);
        frame.render_widget(Paragraph::new(text).style(theme.base()), line);
        if !self.choices.is_empty() && line.y > area.y {
            let above = Rect { y: line.y - 1, ..line };
            frame.render_widget(Clear, above);
            let choices = Span::styled(format!(" {}", self.choices.join("  ")), theme.muted());
            frame.render_widget(Paragraph::new(Line::from(choices)).style(theme.base()), above);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CliExit;

    fn owned(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            words(r#"run -d --name web busybox sh -c 'echo "hi there"; sleep 1' a\ b"#).unwrap(),
            owned(&["run", "-d", "--name", "web", "busybox", "sh", "-c", r#"echo "hi there"; sleep 1"#, "a b"])
        );
    }

    #[test]
    fn a_leading_berth_is_dropped_once() {
        assert_eq!(words("berth network create foo").unwrap(), owned(&["network", "create", "foo"]));
        assert_eq!(words("berth berth").unwrap(), owned(&["berth"]));
    }

    #[test]
    fn empty_lines_and_open_quotes_are_errors() {
        assert_eq!(words("  ").unwrap_err(), CommandLineError::Empty);
        assert_eq!(words("berth").unwrap_err(), CommandLineError::Empty);
        assert!(matches!(words("run 'busybox").unwrap_err(), CommandLineError::Quote { .. }));
    }

    #[test]
    fn quit_is_the_word_alone() {
        assert!(is_quit(&owned(&["q"])) && is_quit(&owned(&["quit"])));
        assert!(!is_quit(&owned(&["quit", "now"])) && !is_quit(&owned(&["rm", "q"])));
    }

    fn output(text: &str, dropped: u64) -> CliOutput {
        CliOutput { exit: CliExit::Code(0), output: text.into(), dropped }
    }

    #[test]
    fn output_lines_widen_tabs_and_drop_the_blank_end() {
        assert_eq!(output_lines(&output("a\tb\r\n\nc\n\n  \n", 0)), owned(&["a    b", "", "c"]));
        assert_eq!(output_lines(&output("", 5)), owned(&["… 5B more output not kept"]));
    }

    #[test]
    fn the_error_line_is_clap_or_berth_error_else_the_last() {
        assert_eq!(error_line(&owned(&["Pulling", "Error: no such image", "", "hint"])), Some("Error: no such image"));
        assert_eq!(
            error_line(&owned(&["", "error: unexpected argument '--x' found", "Usage: berth"])),
            Some("error: unexpected argument '--x' found")
        );
        assert_eq!(error_line(&owned(&["first", "last", " "])), Some("last"));
        assert_eq!(error_line(&[]), None);
    }

    #[test]
    fn the_printed_id_is_the_last_line_when_it_is_one() {
        let id = "ab".repeat(32);
        assert_eq!(printed_id(&owned(&["pulled", &id, ""])), Some(id.clone()));
        assert_eq!(printed_id(&owned(&[&id, "later"])), None);
        assert_eq!(printed_id(&owned(&[&id[1..]])), None);
    }

    #[test]
    fn refusals_name_the_live_keys() {
        let keymap = Keymap::default();
        assert!(refusal(NeedsTerminal::Attach, &keymap).contains("press a "));
        assert!(refusal(NeedsTerminal::Exec, &keymap).contains("press e "));
        assert!(refusal(NeedsTerminal::FollowLogs, &keymap).contains("press l "));
        assert!(refusal(NeedsTerminal::Stats, &keymap).contains("(4)"));
        let overrides = [("attach".to_string(), crate::keymap::KeyList::One("A".into()))].into_iter().collect();
        let remapped = Keymap::with_overrides(&overrides).unwrap();
        assert!(refusal(NeedsTerminal::Attach, &remapped).contains("press A "));
    }
}
