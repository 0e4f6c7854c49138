//! `println!` and `print!` for a command's output that return the write's error instead of panicking on it:
//! a reader that went away (`berth images -q | head -1`) then ends the command quietly in main, where a
//! panic would print a backtrace over the reader's terminal.

/// `println!` returning `std::io::Result<()>`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

/// `print!` returning `std::io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)
    }};
}
