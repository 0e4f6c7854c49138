//! One joined line to a node: the name, the `--flags`, then the arguments split the way the instruction
//! wants them (BuildKit's line parsers).

use super::Node;

/// BuildKit's `[\t\v\f\r ]+`.
fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits at runs of blanks, at most `limit` pieces (0: no limit).
fn split_blanks(s: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if limit != 0 && out.len() + 1 == limit {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_blank) {
            None => {
                out.push(rest.to_string());
                return out;
            }
            Some(at) => {
                out.push(rest[..at].to_string());
                rest = rest[at..].trim_start_matches(is_blank);
            }
        }
    }
}

pub(super) fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let parts = split_blanks(line.trim(), 2);
    let name = parts[0].clone();
    let (rest, flags) = match parts.get(1) {
        Some(rest) => extract_flags(rest, escape),
        None => (String::new(), Vec::new()),
    };
    let rest = rest.trim();
    let mut node = Node { name, flags, original: line.to_string(), ..Node::default() };
    match node.keyword().as_str() {
        "add" | "copy" | "volume" => (node.args, node.json) = maybe_json_to_list(rest)?,
        "cmd" | "entrypoint" | "run" | "shell" => (node.args, node.json) = maybe_json(rest)?,
        "arg" => node.args = words(rest, escape),
        "env" => node.args = name_val(rest, "ENV", escape)?,
        "label" => node.args = name_val(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = blank_delimited(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                node.args = vec![rest.to_string()];
            }
        }
        "healthcheck" => (node.args, node.json) = health(rest)?,
        "onbuild" => {
            if !rest.is_empty() {
                node.trigger = Some(Box::new(node_from_line(rest, escape)?));
            }
        }
        // Unknown instructions parse with one empty argument; typing them is what fails.
        _ => node.args = vec![String::new()],
    }
    Ok(node)
}

/// Takes leading `--flag` words off; a bare `--` ends them and is dropped. Quotes group, the escape token
/// escapes, and both are removed from the flags.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        if phase == Phase::Spaces {
            if c.is_whitespace() {
                k += 1;
                continue;
            }
            if c != '-' || chars.get(k + 1).map(|x| x.1) != Some('-') {
                return (line[at..].to_string(), words);
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if c.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (line[at..].to_string(), words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                } else if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                } else if c == escape {
                    if let Some(&(_, n)) = chars.get(k + 1) {
                        word.push(n);
                        k += 1;
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                } else if c == escape {
                    match chars.get(k + 1) {
                        Some(&(_, n)) => {
                            word.push(n);
                            k += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Spaces => {}
        }
        k += 1;
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    (String::new(), words)
}

/// Words split at whitespace outside quotes; quotes and escapes are kept for the lexer to remove later.
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if !in_word {
            if c.is_whitespace() {
                k += 1;
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if c.is_whitespace() {
                    in_word = false;
                    if blank_ok || !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    k += 1;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if k + 1 == chars.len() {
                        k += 1;
                        continue;
                    }
                    word.push(c);
                    k += 1;
                    word.push(chars[k]);
                    k += 1;
                    continue;
                }
                word.push(c);
            }
            Some(q) => {
                let mut c = c;
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    if k + 1 == chars.len() {
                        quote = None;
                        k += 1;
                        continue;
                    }
                    word.push(c);
                    k += 1;
                    c = chars[k];
                }
                word.push(c);
            }
        }
        k += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        out.push(word);
    }
    out
}

/// ENV and LABEL: `key value` (old form, one pair) or `k=v …`; each pair becomes key, value and the
/// separator (`=` or empty for the old form).
fn name_val(rest: &str, instruction: &str, escape: char) -> Result<Vec<String>, String> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_blanks(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{instruction} must have two arguments"));
        }
        return Ok(vec![parts[0].clone(), parts[1].clone(), String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn blank_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_blanks(rest, 0)
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(Some)` for a JSON array of strings, `Ok(None)` when the text is not JSON (shell form), an error for
/// an array with anything but strings.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(rest) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRINGS.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match json_array(rest)? {
        Some(items) => (items, true),
        None => (vec![rest.to_string()], false),
    })
}

fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    Ok(match json_array(rest)? {
        Some(items) => (items, true),
        None => (blank_delimited(rest), false),
    })
}

/// HEALTHCHECK: the type word, then the command as CMD takes it.
fn health(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let (cmd, json) = maybe_json(rest[sep..].trim_start())?;
    let mut args = vec![rest[..sep].to_string()];
    args.extend(cmd);
    Ok((args, json))
}
