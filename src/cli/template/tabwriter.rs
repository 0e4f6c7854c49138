//! Go's text/tabwriter with docker's settings for tables (minwidth 10, padding 3, spaces): cells end at tabs,
//! a column is as wide as its widest cell in each run of lines that have it, and a line's last cell is not
//! padded.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// `text` with its tab-separated cells aligned.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut w = Writer { lines: &lines, widths: Vec::new(), out: Vec::new() };
    w.format(0, lines.len());
    w.out.join("\n")
}

struct Writer<'a> {
    lines: &'a [Vec<&'a str>],
    /// Widths of the columns to the left of the one being formatted.
    widths: Vec<usize>,
    out: Vec<String>,
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

impl Writer<'_> {
    /// Go's `format`: finds each block of lines sharing the next column, sizes it, and recurses right.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(line0, this);
            line0 = this;
            let mut cell_width = MIN_WIDTH;
            while this < line1 && column + 1 < self.lines[this].len() {
                cell_width = cell_width.max(width(self.lines[this][column]) + PADDING);
                this += 1;
            }
            self.widths.push(cell_width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for line in &self.lines[line0..line1] {
            let mut text = String::new();
            for (j, cell) in line.iter().enumerate() {
                text.push_str(cell);
                if let Some(w) = self.widths.get(j) {
                    text.push_str(&" ".repeat(w.saturating_sub(width(cell))));
                }
            }
            self.out.push(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn columns_take_min_width_and_padding() {
        assert_eq!(align("A\tBB\nlong\tx\n"), "A         BB\nlong      x\n");
        assert_eq!(align("NAME\tID\nsomething-long\t1\n"), "NAME             ID\nsomething-long   1\n");
    }

    #[test]
    fn a_line_without_the_column_ends_its_block() {
        assert_eq!(align("a\tb\nplain\nlonger-cell\tc\n"), "a         b\nplain\nlonger-cell   c\n");
    }

    #[test]
    fn last_cell_is_not_padded_and_widths_count_characters() {
        assert_eq!(align("é\tx\t\n"), "é         x         \n");
        assert_eq!(align("no tabs"), "no tabs");
    }
}
