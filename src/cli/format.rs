//! Output shapes shared by commands: docker's sizes and relative times (worded in the engine's `display`, which
//! the TUI shares) and aligned tables.

use berth_engine::display;

/// Sizes as docker prints them (`4.26MB`).
pub use berth_engine::display::size as human_size;

/// "About an hour ago", "3 weeks ago": docker's wording of how long ago a time was (`N/A` when unknown).
pub fn time_ago(rfc3339: Option<&str>) -> String {
    display::ago(rfc3339, chrono::Utc::now())
}

/// Columns padded to their widest cell plus three spaces, as Docker's tables are.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i] + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A      BB\nlong   x\n");
    }
}
