//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) for RUN, COPY and ADD, found in a line the way
//! BuildKit finds them: the line is split into words by the shell lexer, and each word that is a heredoc
//! opener names one body, read from the lines that follow in order.

use super::Node;
use crate::build::words::Lexer;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (0 when none).
    pub fd: u32,
    /// Variables in the body are expanded (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body's lines.
    pub chomp: bool,
    /// The body, each line with its newline.
    pub content: String,
}

/// RUN, COPY and ADD (also as ONBUILD triggers) take heredocs, unless in exec form.
pub(super) fn allowed(node: &Node) -> bool {
    let node = match (&node.trigger, node.keyword().as_str()) {
        (Some(trigger), "onbuild") => trigger.as_ref(),
        _ => node,
    };
    matches!(node.keyword().as_str(), "add" | "copy" | "run") && !node.json
}

pub(super) fn heredocs_of_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lexer = Lexer { raw_quotes: true, raw_escapes: true, skip_unset: true, ..Lexer::new('\\') };
    let words = lexer.process_words(line, &|_| None).unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(doc) = heredoc_word(&word)? {
            out.push(doc);
        }
    }
    Ok(out)
}

/// The heredoc a word opens, if it is one (`[fd]<<[-]delimiter`); COPY uses it to tell heredoc sources
/// from paths.
pub fn heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.find(|c: char| !c.is_ascii_digit()).unwrap_or(word.len());
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = word[..digits].parse().unwrap_or(0);
    let lexer = Lexer { skip_unset: true, ..Lexer::new('\\') };
    let words = lexer.process_words(rest, &|_| None).map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = Lexer { raw_quotes: true, ..lexer }.process_words(rest, &|_| None).map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let name = words.into_iter().next().unwrap_or_default();
    let expand = quotes(&name) == quotes(&raw[0]);
    Ok(Some(Heredoc { name, fd, expand, chomp, content: String::new() }))
}

/// A `<<-` body with each line's leading tabs removed.
pub fn chomp(content: &str) -> String {
    content.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect()
}
