//! The Operations pane: what was done from this UI and what failed, newest last, bounded.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem};

use super::{Ctx, ListState, pane_block};

/// Entries kept.
pub const MAX_ENTRIES: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub time: DateTime<Utc>,
    pub outcome: Outcome,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct OperationsPane {
    pub entries: VecDeque<Operation>,
}

impl OperationsPane {
    pub fn record(&mut self, time: DateTime<Utc>, outcome: Outcome, text: impl Into<String>) {
        if self.entries.len() == MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(Operation { time, outcome, text: text.into() });
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let block = pane_block(ctx, &format!(" Operations ({}) ", self.entries.len()), &ListState::default());
        let height = area.height.saturating_sub(2) as usize;
        let skip = self.entries.len().saturating_sub(height);
        let items = self.entries.iter().skip(skip).map(|op| {
            let (mark, style) = match op.outcome {
                Outcome::Started => ("…", ctx.theme.muted()),
                Outcome::Done => ("✓", ctx.theme.ok()),
                Outcome::Failed => ("✗", ctx.theme.error()),
            };
            ListItem::new(Line::from(vec![
                Span::styled(op.time.format("%H:%M:%S ").to_string(), ctx.theme.muted()),
                Span::styled(format!("{mark} "), style),
                Span::styled(op.text.as_str(), if op.outcome == Outcome::Failed { style } else { ctx.theme.base() }),
            ]))
        });
        frame.render_widget(List::new(items).block(block), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded() {
        let mut ops = OperationsPane::default();
        for i in 0..MAX_ENTRIES + 3 {
            ops.record(Utc::now(), Outcome::Done, format!("op {i}"));
        }
        assert_eq!(ops.entries.len(), MAX_ENTRIES);
        assert_eq!(ops.entries[0].text, "op 3");
    }
}
