//! The run dialog: image, name, command, env, ports, volumes, network and restart policy; Tab moves between
//! fields, Enter runs.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{FormKey, centered, dialog_block, form_key};
use crate::backend::{RunRequest, run_spec};
use crate::input::TextInput;
use crate::theme::Theme;

/// Field labels and hints, in Tab order.
const FIELDS: [(&str, &str); 8] = [
    ("Image", "busybox"),
    ("Name", "optional"),
    ("Command", "httpd -f -p 8080"),
    ("Env", "A=1 B=2"),
    ("Ports", "8080:80"),
    ("Volumes", "/host:/ctr:ro data:/data"),
    ("Network", "bridge"),
    ("Restart", "no, on-failure[:N], always, unless-stopped"),
];

/// The flags of `berth run` each field is parsed as; an error naming one marks its field.
const FLAGS: [(&str, usize); 6] =
    [("--name", 1), ("--env", 3), ("--publish", 4), ("--volume", 5), ("--network", 6), ("--restart", 7)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDialog {
    pub fields: [TextInput; 8],
    pub focus: usize,
    pub error: Option<String>,
    /// The field the error is about: marked, and focused when the error came.
    pub error_field: Option<usize>,
}

/// The field an error message is about: the label it starts with (`Ports: …`), else the first `berth run` flag
/// it names (`--publish: invalid port mapping …`).
fn field_of(message: &str) -> Option<usize> {
    if let Some(at) = FIELDS.iter().position(|(label, _)| message.starts_with(&format!("{label}:"))) {
        return Some(at);
    }
    FLAGS.iter().filter_map(|(flag, field)| message.find(flag).map(|at| (at, *field))).min().map(|(_, field)| field)
}

/// A field's text as it fits in `width` columns: scrolled so the cursor shows (`…` where text is cut off on
/// the left), with the cursor drawn where it is when focused.
fn field_view(input: &TextInput, width: usize, focused: bool) -> String {
    let chars: Vec<char> = input.value().chars().collect();
    let cursor = input.cursor().min(chars.len());
    let width = width.max(2);
    // The cursor mark takes a column of its own.
    let room = width - usize::from(focused);
    let start = cursor.saturating_sub(room);
    let end = (start + room).min(chars.len());
    let mut text: String = chars[start..end].iter().collect();
    if focused {
        let at = text.char_indices().nth(cursor - start).map_or(text.len(), |(i, _)| i);
        text.insert(at, '▏');
    }
    if start > 0 {
        text.replace_range(..text.chars().next().map_or(0, char::len_utf8), "…");
    }
    if end < chars.len() {
        text.pop();
        text.push('…');
    }
    text
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAction {
    Nothing,
    Run(RunRequest),
    Close,
}

fn words(text: &str, field: &str) -> Result<Vec<String>, String> {
    shell_words::split(text).map_err(|e| format!("{field}: {e}"))
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl RunDialog {
    pub fn new(image: &str) -> RunDialog {
        let mut fields: [TextInput; 8] = Default::default();
        fields[0] = TextInput::new(image);
        RunDialog { fields, focus: if image.is_empty() { 0 } else { 1 }, error: None, error_field: None }
    }

    /// The request the fields describe, or what is wrong with them (in the engine parser's words).
    pub fn request(&self) -> Result<RunRequest, String> {
        let value = |i: usize| self.fields[i].value();
        let image = value(0).trim();
        if image.is_empty() {
            return Err("Image: give an image to run".into());
        }
        let request = RunRequest {
            image: image.to_string(),
            name: optional(value(1)),
            command: words(value(2), "Command")?,
            env: words(value(3), "Env")?,
            ports: words(value(4), "Ports")?,
            volumes: words(value(5), "Volumes")?,
            network: optional(value(6)),
            restart: optional(value(7)),
        };
        // The engine's own flag parser: a bad port, volume or network is refused here as `berth run` would.
        run_spec(&request)?;
        Ok(request)
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> RunAction {
        match form_key(&mut self.fields, &mut self.focus, &mut self.error, key) {
            FormKey::Submit => match self.request() {
                Ok(request) => return RunAction::Run(request),
                Err(e) => {
                    self.error_field = field_of(&e);
                    self.focus = self.error_field.unwrap_or(self.focus);
                    self.error = Some(e);
                }
            },
            FormKey::Cancel => return RunAction::Close,
            FormKey::Handled => {}
        }
        if self.error.is_none() {
            self.error_field = None;
        }
        RunAction::Nothing
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        // Two rows for the message: the parser's errors run longer than a line.
        let area = centered(area, 72, FIELDS.len() as u16 + 6);
        frame.render_widget(Clear, area);
        // Inside the border, after the label.
        let width = usize::from(area.width.saturating_sub(2 + 10));
        let mut lines: Vec<Line> = FIELDS
            .iter()
            .zip(&self.fields)
            .enumerate()
            .map(|(i, ((label, hint), input))| {
                let focused = i == self.focus;
                let wrong = self.error_field == Some(i);
                let label_style = match (wrong, focused) {
                    (true, _) => theme.error(),
                    (false, true) => theme.key(),
                    (false, false) => theme.header(),
                };
                let mark = if wrong { "!" } else { " " };
                let value = if input.value().is_empty() && !focused {
                    Span::styled(*hint, theme.muted())
                } else {
                    Span::raw(field_view(input, width, focused))
                };
                Line::from(vec![Span::styled(format!("{mark}{label:>7}: "), label_style), value])
            })
            .collect();
        lines.push(Line::default());
        lines.push(match &self.error {
            Some(e) => Line::from(Span::styled(e.as_str(), theme.error())),
            None => Line::from(Span::styled("Tab next field · Enter runs · Esc cancels", theme.muted())),
        });
        let form = Paragraph::new(lines).wrap(Wrap { trim: false }).block(dialog_block(theme, "Run a container"));
        frame.render_widget(form, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn type_text(dialog: &mut RunDialog, text: &str) {
        for c in text.chars() {
            dialog.handle_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn fields_become_a_request() {
        let mut dialog = RunDialog::new("busybox");
        type_text(&mut dialog, "web");
        dialog.handle_key(&KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        type_text(&mut dialog, "sh -c 'sleep 1'");
        dialog.focus = 4;
        type_text(&mut dialog, "8080:80 9090:90");
        let action = dialog.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let RunAction::Run(request) = action else { panic!("{action:?}") };
        assert_eq!(request.name.as_deref(), Some("web"));
        assert_eq!(request.command, ["sh", "-c", "sleep 1"]);
        assert_eq!(request.ports, ["8080:80", "9090:90"]);
        assert_eq!(request.network, None);
    }

    #[test]
    fn an_empty_image_or_bad_quotes_stay_in_the_dialog_with_a_message() {
        let mut dialog = RunDialog::new("");
        assert_eq!(dialog.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), RunAction::Nothing);
        assert_eq!(dialog.error.as_deref(), Some("Image: give an image to run"));
        type_text(&mut dialog, "busybox");
        dialog.focus = 2;
        type_text(&mut dialog, "echo 'x");
        dialog.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert!(dialog.error.as_deref().is_some_and(|e| e.starts_with("Command:")), "{:?}", dialog.error);
        assert_eq!(dialog.error_field, Some(2));
    }

    #[test]
    fn a_refused_flag_marks_and_focuses_its_field_until_edited() {
        let mut dialog = RunDialog::new("busybox");
        dialog.focus = 5;
        type_text(&mut dialog, "a:b:c:d");
        dialog.focus = 6;
        type_text(&mut dialog, "x");
        dialog.focus = 0;
        dialog.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert!(dialog.error.as_deref().is_some_and(|e| e.starts_with("--volume")), "{:?}", dialog.error);
        assert_eq!((dialog.error_field, dialog.focus), (Some(5), 5), "the Volumes field is marked and focused");
        dialog.handle_key(&KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        assert_eq!((dialog.error.as_deref(), dialog.error_field), (None, None), "an edit clears the mark");
        assert_eq!(field_of("invalid --restart value \"x\": no"), Some(7));
        assert_eq!(field_of("--network: no such network: x"), Some(6));
    }

    #[test]
    fn a_long_field_scrolls_to_its_cursor() {
        let input = TextInput::new("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(field_view(&input, 10, true), "…stuvwxyz▏");
        assert_eq!(field_view(&input, 10, false), "…rstuvwxyz");
        assert_eq!(field_view(&TextInput::new("short"), 10, true), "short▏");
        let mut start = input.clone();
        start.handle(&KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL));
        assert_eq!(field_view(&start, 10, true), "▏abcdefgh…");
    }
}
