//! The Stats pane: CPU, memory, network and block I/O of the selected container, with a few minutes of history.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::{Ctx, ListState, pane_block};
use crate::backend::StatsSample;
use berth_engine::display;

/// Samples kept (about one a second).
pub const HISTORY: usize = 300;

#[derive(Debug, Default)]
pub struct StatsPane {
    pub container: Option<(String, String)>,
    pub samples: VecDeque<StatsSample>,
    pub error: Option<String>,
}

impl StatsPane {
    pub fn open(&mut self, id: &str, name: &str) {
        *self = StatsPane { container: Some((id.into(), name.into())), ..StatsPane::default() };
    }

    pub fn push(&mut self, sample: StatsSample) {
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Per-interval deltas of a cumulative counter, for rate charts.
    fn rates(&self, counter: fn(&StatsSample) -> u64) -> Vec<u64> {
        let values: Vec<u64> = self.samples.iter().map(counter).collect();
        values.windows(2).map(|w| w[1].saturating_sub(w[0])).collect()
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let name = self.container.as_ref().map_or("", |(_, n)| n.as_str());
        let block = pane_block(ctx, &format!(" Stats {name} "), &ListState::default());
        let message = match (&self.error, self.samples.back()) {
            (Some(e), _) => Some((e.as_str(), ctx.theme.error())),
            (None, None) if self.container.is_none() => {
                Some(("Select a container to see its stats.", ctx.theme.muted()))
            }
            (None, None) => Some(("Waiting for the first sample…", ctx.theme.muted())),
            _ => None,
        };
        if let Some((text, style)) = message {
            frame.render_widget(Paragraph::new(text).style(style).block(block), area);
            return;
        }
        let Some(last) = self.samples.back() else { return };
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let rx = self.rates(|s| s.net_rx);
        let tx = self.rates(|s| s.net_tx);
        let read = self.rates(|s| s.block_read);
        let write = self.rates(|s| s.block_write);
        let mem_limit =
            if last.memory_limit > 0 { format!(" / {}", display::memory(last.memory_limit)) } else { String::new() };
        let charts: [(String, Vec<u64>); 4] = [
            (
                format!("CPU {:.1}%", last.cpu_percent),
                self.samples.iter().map(|s| (s.cpu_percent * 10.0) as u64).collect(),
            ),
            (
                format!("MEM {}{mem_limit}", display::memory(last.memory_bytes)),
                self.samples.iter().map(|s| s.memory_bytes).collect(),
            ),
            (
                format!(
                    "NET ↓{}/s ↑{}/s",
                    display::size(rx.last().copied().unwrap_or(0)),
                    display::size(tx.last().copied().unwrap_or(0))
                ),
                rx.iter().zip(&tx).map(|(a, b)| a + b).collect(),
            ),
            (
                format!(
                    "IO r {}/s w {}/s",
                    display::size(read.last().copied().unwrap_or(0)),
                    display::size(write.last().copied().unwrap_or(0))
                ),
                read.iter().zip(&write).map(|(a, b)| a + b).collect(),
            ),
        ];
        let areas = Layout::vertical([Constraint::Fill(1); 4]).split(inner);
        for ((title, data), chart_area) in charts.into_iter().zip(areas.iter()) {
            // Newest samples on the right: show only as many as fit.
            let skip = data.len().saturating_sub(chart_area.width as usize);
            let sparkline = Sparkline::default()
                .block(Block::default().borders(Borders::NONE).title(Span::styled(title, ctx.theme.header())))
                .data(&data[skip..])
                .style(ctx.theme.base().fg(ctx.theme.colors.gauge));
            frame.render_widget(sparkline, *chart_area);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rx: u64) -> StatsSample {
        StatsSample {
            cpu_percent: 1.0,
            memory_bytes: 1,
            memory_limit: 0,
            net_rx: rx,
            net_tx: 0,
            block_read: 0,
            block_write: 0,
        }
    }

    #[test]
    fn history_is_bounded_and_rates_are_deltas() {
        let mut stats = StatsPane::default();
        for i in 0..HISTORY as u64 + 5 {
            stats.push(sample(i * 100));
        }
        assert_eq!(stats.samples.len(), HISTORY);
        assert!(stats.rates(|s| s.net_rx).iter().all(|r| *r == 100));
    }
}
