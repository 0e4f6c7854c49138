//! The Dockerfile parser: text to a list of instruction nodes, as BuildKit's `parser` package reads it.
//!
//! Lines are joined at the escape token (comment lines inside a continuation dropped, blank ones dropped with a
//! warning), parser directives are read only at the top, each instruction's `--flags` are taken off before
//! its arguments, and the arguments are split per instruction (`args.rs`); heredocs (`heredoc.rs`) follow
//! the line that opens them. Nothing here knows what an instruction means: unknown names parse, and the
//! `instructions` module refuses them with the node's line.

mod args;
mod heredoc;

use thiserror::Error;

pub use heredoc::{Heredoc, chomp, heredoc_word};

/// A parse failure at a line (1-based), worded as BuildKit's.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction name as written (`run`, `RUN`, `Run`).
    pub name: String,
    /// `--x=y` words taken off the front of the arguments, quotes and escapes removed.
    pub flags: Vec<String>,
    /// The arguments as the instruction's splitter left them (ENV/LABEL: key, value, `=` or `` per pair).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// ONBUILD's trigger instruction.
    pub trigger: Option<Box<Node>>,
    pub heredocs: Vec<Heredoc>,
    /// The joined line, continuations removed.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    /// The comment lines right above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// The instruction name, lower-cased.
    pub fn keyword(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// The arguments with ONBUILD's trigger flattened in, as BuildKit's instruction parsers see them.
    pub fn all_args(&self) -> Vec<String> {
        let mut out = self.args.clone();
        if let Some(trigger) = &self.trigger {
            out.push(trigger.name.clone());
            out.extend(trigger.all_args());
        }
        out
    }
}

/// A parser directive: `# syntax=…`, `# escape=…`, `# check=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub nodes: Vec<Node>,
    pub escape: char,
    pub directives: Vec<Directive>,
    pub warnings: Vec<String>,
}

/// The longest line BuildKit's scanner takes.
const MAX_LINE: usize = 64 * 1024;

/// Reads directives while they are the first lines; the first other line ends them for good.
struct Directives {
    escape: char,
    done: bool,
    found: Vec<Directive>,
    line: usize,
}

impl Directives {
    /// Whether the line (already trimmed of its newline) was a directive.
    fn see(&mut self, line: &str) -> Result<bool, String> {
        self.line += 1;
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let Some((name, value)) = directive_of(rest.trim_start()) else {
            self.done = true;
            return Ok(false);
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.found.iter().any(|d| d.name == name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        if name == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => return Err(format!("invalid escape token '{value}' does not match ` or \\")),
            };
        }
        self.found.push(Directive { name, value, line: self.line });
        Ok(true)
    }
}

/// `name = value` with a name of `[a-zA-Z][a-zA-Z0-9]*`.
fn directive_of(s: &str) -> Option<(String, String)> {
    let name_end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
    let name = &s[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = s[name_end..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then(|| (name.to_string(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Removes a trailing continuation (the escape token, then only blanks); `false` when the line ends the
/// instruction. An escaped escape token at the end is no continuation.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    if before.ends_with(escape) {
        return (line.to_string(), true);
    }
    (before.to_string(), false)
}

/// Splits after each `\n`, keeping it, as BuildKit's scanner does.
fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = lines_of(text);
    if let Some(n) = lines.iter().position(|l| l.len() > MAX_LINE) {
        return Err(ParseError {
            line: n + 1,
            message: format!("dockerfile line greater than max allowed size of {}", MAX_LINE - 1),
        });
    }
    let mut directives = Directives { escape: '\\', done: false, found: Vec::new(), line: 0 };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut i = 0;
    let err = |line: usize, message: String| ParseError { line, message };
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let current = i;
        if is_comment(raw) {
            let comment = raw.trim_start()[1..].trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_string());
            }
        }
        let first = trim_newline(raw).trim_start();
        if directives.see(first).map_err(|m| err(current, m))? {
            comments.pop();
        }
        let first = if is_comment(first) { "" } else { first };
        let start = current;
        let (mut joined, mut ended) = trim_continuation(first, directives.escape);
        if ended && joined.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !ended && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let body = trim_newline(raw);
            directives.see(body).map_err(|m| err(i, m))?;
            if is_comment(raw) {
                continue;
            }
            if body.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(body, directives.escape);
            joined.push_str(&part);
            ended = end;
        }
        if empty_continuation {
            warnings.push(format!("Empty continuation line found in: {joined}"));
        }
        let mut node = args::node_from_line(&joined, directives.escape).map_err(|m| err(start, m))?;
        node.comments = std::mem::take(&mut comments);
        if heredoc::allowed(&node) && joined.contains("<<") {
            for mut doc in heredoc::heredocs_of_line(&joined).map_err(|m| err(start, m))? {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(err(start, "unterminated heredoc".into()));
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = i;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(err(lines.len(), "file with no instructions".into()));
    }
    Ok(Dockerfile { nodes, escape: directives.escape, directives: directives.found, warnings })
}

#[cfg(test)]
mod tests;
