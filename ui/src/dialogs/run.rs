//! The run dialog: image, name, command, env, ports, volumes, network and restart policy; Tab moves between
//! fields, Enter runs.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDialog {
    pub fields: [TextInput; 8],
    pub focus: usize,
    pub error: Option<String>,
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
        RunDialog { fields, focus: if image.is_empty() { 0 } else { 1 }, error: None }
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
                Err(e) => self.error = Some(e),
            },
            FormKey::Cancel => return RunAction::Close,
            FormKey::Handled => {}
        }
        RunAction::Nothing
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = centered(area, 72, FIELDS.len() as u16 + 5);
        frame.render_widget(Clear, area);
        let mut lines: Vec<Line> = FIELDS
            .iter()
            .zip(&self.fields)
            .enumerate()
            .map(|(i, ((label, hint), input))| {
                let focused = i == self.focus;
                let label_style = if focused { theme.key() } else { theme.header() };
                let value = if input.value().is_empty() && !focused {
                    Span::styled(*hint, theme.muted())
                } else {
                    Span::raw(format!("{}{}", input.value(), if focused { "▏" } else { "" }))
                };
                Line::from(vec![Span::styled(format!("{label:>8}: "), label_style), value])
            })
            .collect();
        lines.push(Line::default());
        lines.push(match &self.error {
            Some(e) => Line::from(Span::styled(e.as_str(), theme.error())),
            None => Line::from(Span::styled("Tab next field · Enter runs · Esc cancels", theme.muted())),
        });
        frame.render_widget(Paragraph::new(lines).block(dialog_block(theme, "Run a container")), area);
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
    }
}
