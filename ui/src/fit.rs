//! Lines fitted to their width: key hints are dropped whole, lowest priority first, and any other text
//! that does not fit is cut with `…` as its last character, so a cut never reads as the whole.

use ratatui::text::{Line, Span};

/// The hints (each a key and its words, most important first) that fit in `width` columns, in order: the
/// first that does not fit and every one after it are left out rather than cut mid-word. Only when not even
/// the first fits is it cut, with an ellipsis, so the bar is never left blank.
pub fn hints(hints: Vec<Vec<Span<'static>>>, width: usize) -> Line<'static> {
    let mut used = 0;
    let mut spans = Vec::new();
    for hint in hints {
        let wide: usize = hint.iter().map(Span::width).sum();
        if used + wide > width {
            if spans.is_empty() {
                return cut(Line::from(hint), width);
            }
            break;
        }
        used += wide;
        spans.extend(hint);
    }
    Line::from(spans)
}

/// `line` cut to `width` columns, ending in `…` when anything was cut; each span keeps its style.
pub fn cut(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let mut left = width.saturating_sub(1);
    let mut spans = Vec::new();
    let mut last_style = line.style;
    for span in line.spans {
        if left == 0 {
            break;
        }
        let kept: String = span.content.chars().take(left).collect();
        left -= kept.chars().count();
        last_style = span.style;
        spans.push(Span::styled(kept, span.style));
    }
    if width > 0 {
        spans.push(Span::styled("…", last_style));
    }
    Line { spans, ..line }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn hints_that_do_not_fit_go_whole_from_the_least_important() {
        let hint = |key: &'static str, words: &'static str| vec![Span::raw(key), Span::raw(words)];
        let all = || vec![hint(" s", " start "), hint(" i", " inspect "), hint(" t", " tag ")];
        assert_eq!(text(&hints(all(), 100)), " s start  i inspect  t tag ");
        assert_eq!(text(&hints(all(), 20)), " s start  i inspect ", "20 columns: tag goes");
        assert_eq!(text(&hints(all(), 19)), " s start ", "never \" i i\"");
        assert_eq!(text(&hints(all(), 6)), " s st…", "the first alone, cut, rather than nothing");
    }

    #[test]
    fn cut_text_ends_in_an_ellipsis_and_keeps_its_styles() {
        let style = ratatui::style::Style::new().fg(ratatui::style::Color::Red);
        let line = Line::from(vec![Span::raw("error: "), Span::styled("manifest unknown", style)]);
        assert_eq!(text(&cut(line.clone(), 100)), "error: manifest unknown");
        let short = cut(line.clone(), 12);
        assert_eq!(text(&short), "error: mani…");
        assert_eq!(short.spans.last().unwrap().style, style);
        assert_eq!(text(&cut(line, 0)), "");
    }
}
