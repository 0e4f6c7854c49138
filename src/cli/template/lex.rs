//! Go's template lexer: text between actions, and the tokens inside `{{ }}`, with `{{-`/`-}}` trimming and
//! `{{/* */}}` comments.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    Open,
    Close,
    /// `.Name`: one link of a field chain.
    Field(String),
    Dot,
    /// `$name`, or `$` alone (the data the template was given).
    Var(String),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset in the template, for error positions.
    pub pos: usize,
    /// Whitespace came right before it: `.A.B` is one chain, `.A .B` two arguments.
    pub spaced: bool,
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out = Vec::new();
    let mut at = 0;
    // The text after the previous action loses its leading whitespace (`-}}`).
    let mut trim_next = false;
    while at < src.len() {
        let rest = &src[at..];
        let Some(open) = rest.find(OPEN) else {
            push_text(&mut out, rest, at, trim_next, false);
            break;
        };
        let after = &rest[open + OPEN.len()..];
        let trim_before = after.starts_with('-') && after[1..].starts_with(is_space);
        push_text(&mut out, &rest[..open], at, trim_next, trim_before);
        let action = at + open;
        at = action + OPEN.len() + if trim_before { 2 } else { 0 };
        (at, trim_next) = lex_action(src, action, at, &mut out)?;
    }
    Ok(out)
}

fn push_text(out: &mut Vec<Token>, text: &str, pos: usize, trim_start: bool, trim_end: bool) {
    let text = if trim_start { text.trim_start_matches(is_space) } else { text };
    let text = if trim_end { text.trim_end_matches(is_space) } else { text };
    if !text.is_empty() {
        out.push(Token { tok: Tok::Text(text.to_string()), pos, spaced: false });
    }
}

/// Where an action's closing delimiter starts, and whether it trims (` -}}`).
fn close_at(src: &str, at: usize) -> Option<(usize, bool)> {
    let rest = &src[at..];
    if rest.starts_with(CLOSE) {
        return Some((at, false));
    }
    if rest.starts_with("-}}") && src[..at].ends_with(is_space) {
        return Some((at, true));
    }
    None
}

/// Lexes one action from just after its `{{`; returns where the text resumes and whether it is trimmed.
fn lex_action(src: &str, open: usize, mut at: usize, out: &mut Vec<Token>) -> Result<(usize, bool), TemplateError> {
    let err = |pos: usize, msg: String| TemplateError::parse(src, pos, msg);
    // A comment fills the whole action.
    let body = src[at..].trim_start_matches(is_space);
    if body.starts_with("/*") {
        let start = src.len() - body.len();
        let Some(end) = body.find("*/") else {
            return Err(err(open, "unclosed comment".into()));
        };
        let mut after = start + end + 2;
        after += src[after..].len() - src[after..].trim_start_matches(is_space).len();
        return match close_at(src, after) {
            Some((close, trim)) => Ok((close + if trim { 3 } else { 2 }, trim)),
            None => Err(err(open, "comment ends before closing delimiter".into())),
        };
    }
    out.push(Token { tok: Tok::Open, pos: open, spaced: false });
    let mut spaced = true;
    loop {
        if let Some((close, trim)) = close_at(src, at) {
            out.push(Token { tok: Tok::Close, pos: close, spaced });
            return Ok((close + if trim { 3 } else { 2 }, trim));
        }
        let Some(c) = src[at..].chars().next() else {
            return Err(err(open, "unclosed action".into()));
        };
        if is_space(c) {
            at += c.len_utf8();
            spaced = true;
            continue;
        }
        let start = at;
        let word_end = |from: usize| from + src[from..].find(|c: char| !is_word(c)).unwrap_or(src.len() - from);
        let tok = match c {
            '|' => {
                at += 1;
                Tok::Pipe
            }
            '(' => {
                at += 1;
                Tok::LParen
            }
            ')' => {
                at += 1;
                Tok::RParen
            }
            ',' => {
                at += 1;
                Tok::Comma
            }
            '=' => {
                at += 1;
                Tok::Assign
            }
            ':' if src[at..].starts_with(":=") => {
                at += 2;
                Tok::Declare
            }
            '.' if src[at + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                let (tok, end) = number(src, at).map_err(|m| err(start, m))?;
                at = end;
                tok
            }
            '.' => {
                at = word_end(at + 1);
                if at == start + 1 { Tok::Dot } else { Tok::Field(src[start + 1..at].to_string()) }
            }
            '$' => {
                at = word_end(at + 1);
                Tok::Var(src[start..at].to_string())
            }
            '"' => {
                let (text, end) = quoted(src, at).map_err(|m| err(start, m))?;
                at = end;
                Tok::Str(text)
            }
            '`' => {
                let Some(len) = src[at + 1..].find('`') else {
                    return Err(err(start, "unterminated raw quoted string".into()));
                };
                at += len + 2;
                Tok::Str(src[start + 1..at - 1].to_string())
            }
            '\'' => {
                let (text, end) = quoted(src, at).map_err(|m| err(start, m))?;
                let mut chars = text.chars();
                let (Some(ch), None) = (chars.next(), chars.next()) else {
                    return Err(err(start, format!("malformed character constant: {}", &src[start..end])));
                };
                at = end;
                Tok::Int(ch as i64)
            }
            '-' | '+' | '0'..='9' => {
                let (tok, end) = number(src, at).map_err(|m| err(start, m))?;
                at = end;
                tok
            }
            c if is_word(c) => {
                at = word_end(at);
                Tok::Ident(src[start..at].to_string())
            }
            c => return Err(err(start, format!("unexpected {c:?} in command"))),
        };
        out.push(Token { tok, pos: start, spaced });
        spaced = false;
    }
}

/// A number constant: decimal, hex, octal or binary integers, and floats.
fn number(src: &str, start: usize) -> Result<(Tok, usize), String> {
    let len = src[start..]
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || (i == 0 && matches!(c, '-' | '+'))))
        .map(|(i, _)| i)
        .unwrap_or(src.len() - start);
    // An exponent's sign belongs to the number.
    let mut end = start + len;
    if src[start..end].ends_with(['e', 'E']) && !src[start..end].starts_with("0x") && src[end..].starts_with(['-', '+'])
    {
        end += 1 + src[end + 1..].find(|c: char| !c.is_ascii_digit()).unwrap_or(src.len() - end - 1);
    }
    let text = src[start..end].replace('_', "");
    let bad = || format!("bad number syntax: {:?}", &src[start..end]);
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let radix = match digits.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    let int = match radix {
        Some(r) => i64::from_str_radix(&digits[2..], r).ok(),
        None if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) => {
            i64::from_str_radix(&digits[1..], 8).ok()
        }
        None => digits.parse::<i64>().ok(),
    };
    if let Some(n) = int {
        return Ok((Tok::Int(if negative { -n } else { n }), end));
    }
    if radix.is_none()
        && let Ok(f) = digits.parse::<f64>()
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return Ok((Tok::Float(if negative { -f } else { f }), end));
    }
    Err(bad())
}

/// A double- or single-quoted literal with Go's escapes; the text and where it ends.
fn quoted(src: &str, start: usize) -> Result<(String, usize), String> {
    let quote = src[start..].chars().next().unwrap_or('"');
    let mut text = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((text, start + 1 + i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    'a' => text.push('\x07'),
                    'b' => text.push('\x08'),
                    'f' => text.push('\x0c'),
                    'v' => text.push('\x0b'),
                    '\\' | '"' | '\'' => text.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        text.push(ch.ok_or_else(|| format!("invalid escape \\{e}{hex}"))?);
                    }
                    other => return Err(format!("unknown escape sequence: \\{other}")),
                }
            }
            c => text.push(c),
        }
    }
    Err("unterminated quoted string".into())
}
