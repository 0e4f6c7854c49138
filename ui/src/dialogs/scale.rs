//! The project's scale action: one line, `SERVICE=N`, started from the service under the cursor; a value
//! that is not one keeps the prompt open with the reason.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{centered, dialog_block};
use crate::input::TextInput;
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleDialog {
    pub project: String,
    pub input: TextInput,
    pub error: Option<String>,
}

impl ScaleDialog {
    /// `service` (when known) is filled in with its `=`, ready for the count.
    pub fn new(project: &str, service: Option<&str>) -> ScaleDialog {
        let start = service.map(|s| format!("{s}=")).unwrap_or_default();
        ScaleDialog { project: project.to_string(), input: TextInput::new(&start), error: None }
    }

    /// The service and replica count typed, or why the text is not that.
    pub fn parse(&self) -> Result<(String, u64), String> {
        let text = self.input.value().trim();
        let (service, count) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected SERVICE=N"))?;
        let service = service.trim();
        if service.is_empty() {
            return Err(format!("{text:?}: no service before ="));
        }
        let count = count.trim().parse().map_err(|_| format!("{:?} is not a replica count", count.trim()))?;
        Ok((service.to_string(), count))
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let area = centered(area, 60, 7);
        frame.render_widget(Clear, area);
        let mut lines = vec![
            Line::from(Span::styled(format!("Scale a service of {}: SERVICE=N", self.project), theme.header())),
            Line::from(format!("{}▏", self.input.value())),
        ];
        if let Some(error) = &self.error {
            lines.push(Line::from(Span::styled(error.as_str(), theme.error())));
        }
        lines.push(Line::from(Span::styled("Enter scales · Esc cancels · ctrl-u clears", theme.muted())));
        frame.render_widget(Paragraph::new(lines).block(dialog_block(theme, "Scale")), area);
    }
}
