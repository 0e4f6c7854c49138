//! Table columns that give way on narrow panes: each column has the least width it can do with, a share of
//! any room left over, and its turn to be left out. The widths are worked out here rather than by the
//! layout solver, so a column is either shown whole enough to read or not shown at all.

use ratatui::layout::Constraint;

/// One column of a list pane's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    /// The width it needs to be worth showing.
    pub min: u16,
    /// The width its content would like (at least `min`): room is spent on this first.
    pub want: u16,
    /// Its share of the room left once every shown column has what it wants; 0 stays at `want`.
    pub grow: u16,
    /// When narrow panes leave it out: 1 goes first, then 2 and so on; 0 never goes.
    pub drop: u8,
}

/// Columns the table shows in `width` (the pane's inside), each with its width, in the given order; `None`
/// for those left out. Gaps of one cell go between shown columns, as the table draws them. A column that
/// wants no width has nothing to show and is left out whatever the room.
fn fit(columns: &[Column], width: u16) -> Vec<Option<u16>> {
    let mut shown: Vec<bool> = columns.iter().map(|c| c.want > 0).collect();
    let needed = |shown: &[bool]| -> u32 {
        let count = shown.iter().filter(|s| **s).count() as u32;
        let mins: u32 = columns.iter().zip(shown).filter(|(_, s)| **s).map(|(c, _)| u32::from(c.min)).sum();
        mins + count.saturating_sub(1)
    };
    while needed(&shown) > u32::from(width) {
        let next = columns.iter().enumerate().filter(|(i, c)| shown[*i] && c.drop > 0).min_by_key(|(_, c)| c.drop);
        match next {
            Some((i, _)) => shown[i] = false,
            None => break,
        }
    }
    let kept: Vec<&Column> = columns.iter().zip(&shown).filter(|(_, s)| **s).map(|(c, _)| c).collect();
    let mut spare = u32::from(width).saturating_sub(needed(&shown));
    let mut widths: Vec<u32> = kept.iter().map(|c| u32::from(c.min)).collect();
    // First what the content wants, in proportion to how far each column is from it.
    let short: Vec<u32> = kept.iter().map(|c| u32::from(c.want.saturating_sub(c.min))).collect();
    let wanted: u32 = short.iter().sum();
    let given = spread(&mut widths, &short, spare.min(wanted), wanted);
    spare -= given;
    // Then the rest, by share.
    let shares: Vec<u32> = kept.iter().map(|c| u32::from(c.grow)).collect();
    let total: u32 = shares.iter().sum();
    spread(&mut widths, &shares, spare, total);
    let mut widths = widths.into_iter().map(|w| u16::try_from(w).unwrap_or(u16::MAX));
    shown.iter().map(|s| if *s { widths.next() } else { None }).collect()
}

/// Adds `amount` to `widths` in proportion to `weights` (summing to `total`); what rounding leaves goes to the
/// first weighted column. Returns what was given.
fn spread(widths: &mut [u32], weights: &[u32], amount: u32, total: u32) -> u32 {
    if total == 0 || amount == 0 {
        return 0;
    }
    let mut left = amount;
    for (width, weight) in widths.iter_mut().zip(weights) {
        let extra = amount * weight / total;
        *width += extra;
        left -= extra;
    }
    if let Some((width, _)) = widths.iter_mut().zip(weights).find(|(_, w)| **w > 0) {
        *width += left;
    }
    amount
}

/// The columns [`fit`] kept: their constraints, and a filter for the header and each row's cells.
pub struct Fitted {
    widths: Vec<Option<u16>>,
}

impl Fitted {
    pub fn new(columns: &[Column], width: u16) -> Fitted {
        Fitted { widths: fit(columns, width) }
    }

    /// Keeps the items of shown columns; `items` are one per column, in order.
    pub fn keep<T>(&self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items.into_iter().zip(&self.widths).filter(|(_, w)| w.is_some()).map(|(item, _)| item).collect()
    }

    /// The texts of shown columns, each cut to its width with `…` when longer; `texts` are one per column.
    pub fn cut<const N: usize>(&self, texts: [String; N]) -> Vec<String> {
        texts
            .into_iter()
            .zip(&self.widths)
            .map(|(text, width)| match width {
                Some(w) if text.chars().count() > usize::from(*w) => {
                    let mut cut: String = text.chars().take(usize::from(w.saturating_sub(1))).collect();
                    cut.push('…');
                    cut
                }
                _ => text,
            })
            .collect()
    }

    pub fn constraints(&self) -> Vec<Constraint> {
        self.widths.iter().flatten().map(|w| Constraint::Length(*w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 4] = [
        Column { header: "NAME", min: 8, want: 8, grow: 1, drop: 0 },
        Column { header: "PORTS", min: 20, want: 20, grow: 1, drop: 2 },
        Column { header: "STATE", min: 10, want: 10, grow: 0, drop: 0 },
        Column { header: "ID", min: 12, want: 12, grow: 0, drop: 1 },
    ];

    #[test]
    fn room_to_spare_goes_to_the_growing_columns() {
        // 50 of minimums and 3 gaps leave 7: 3 each, the odd one to the first.
        assert_eq!(fit(&COLUMNS, 60), [Some(12), Some(23), Some(10), Some(12)]);
    }

    #[test]
    fn content_gets_its_width_before_anything_grows() {
        let mut columns = COLUMNS;
        columns[0].want = 14;
        columns[1].want = 32;
        // 6 + 12 short of what they want; 9 to spare gives each half of its shortfall.
        assert_eq!(fit(&columns, 62), [Some(11), Some(26), Some(10), Some(12)]);
        // 18 to spare fills both; 2 more are shared.
        assert_eq!(fit(&columns, 73), [Some(15), Some(33), Some(10), Some(12)]);
    }

    #[test]
    fn narrow_panes_leave_out_columns_in_their_order() {
        assert_eq!(fit(&COLUMNS, 53), [Some(8), Some(20), Some(10), Some(12)], "just fits");
        assert_eq!(fit(&COLUMNS, 52), [Some(14), Some(26), Some(10), None], "the ID goes first");
        assert_eq!(fit(&COLUMNS, 40), [Some(8), Some(20), Some(10), None]);
        assert_eq!(fit(&COLUMNS, 39), [Some(28), None, Some(10), None], "then the ports");
        assert_eq!(fit(&COLUMNS, 10), [Some(8), None, Some(10), None], "never the rest, even when they overflow");
        let mut empty = COLUMNS;
        empty[3] = Column { header: "ENGINE", min: 0, want: 0, grow: 0, drop: 9 };
        assert_eq!(fit(&empty, 60), [Some(18), Some(30), Some(10), None], "nothing to show, no column");
    }

    #[test]
    fn fitted_rows_keep_the_shown_cells() {
        let fitted = Fitted::new(&COLUMNS, 39);
        assert_eq!(fitted.keep(COLUMNS.map(|c| c.header)), ["NAME", "STATE"]);
        assert_eq!(fitted.constraints(), [Constraint::Length(28), Constraint::Length(10)]);
        let cut = fitted.cut(["a-name-longer-than-28-columns-wide".into(), "exited".into(), "p".into(), "i".into()]);
        assert_eq!(cut[..2], ["a-name-longer-than-28-colum…".to_string(), "exited".to_string()]);
    }
}
