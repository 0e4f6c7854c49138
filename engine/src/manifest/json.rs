//! JSON re-indented as Go's `json.Indent` does it, keeping the document's own key order: `manifest
//! inspect` prints a registry's bytes so, and serde_json here has no order-preserving map.

/// `text` (valid JSON) with one value or member per line, nested by `unit`; empty objects and arrays
/// stay `{}` and `[]`.
pub(super) fn indent(text: &[u8], unit: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    };
    let text = String::from_utf8_lossy(text);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if let Some(&close @ ('}' | ']')) = chars.peek() {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::indent;

    #[test]
    fn reindents_keeping_key_order_strings_and_empty_containers() {
        let text = br#"{"z":1, "a":{"s":"x, \"y\": {[","e":[],"o":{}},"l":[1,2]}"#;
        let want = "{\n\t\"z\": 1,\n\t\"a\": {\n\t\t\"s\": \"x, \\\"y\\\": {[\",\n\t\t\"e\": [],\n\t\t\"o\": {}\n\t},\n\t\"l\": [\n\t\t1,\n\t\t2\n\t]\n}";
        assert_eq!(indent(text, "\t"), want);
        assert_eq!(indent(want.as_bytes(), "\t"), want);
    }
}
