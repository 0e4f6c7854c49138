//! BuildKit's "did you mean" hints: the closest option within an edit distance of 2.

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The option closest to `value`, if one is within distance 2 and `value` is not itself an option.
/// Case-insensitive matching answers in `value`'s case when that is all lower or all upper.
pub(crate) fn closest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let norm = |s: &str| if case_sensitive { s.to_string() } else { s.to_lowercase() };
    let wanted = norm(value);
    let mut best: Option<(usize, String)> = None;
    for option in options {
        let option = norm(option);
        if option == wanted {
            return None;
        }
        let d = distance(&wanted, &option);
        if d < best.as_ref().map_or(3, |b| b.0) {
            best = Some((d, option));
        }
    }
    let (_, found) = best?;
    Some(match case_sensitive {
        true => found,
        false if value == value.to_lowercase() => found.to_lowercase(),
        false if value == value.to_uppercase() => found.to_uppercase(),
        false => found,
    })
}

/// `message (did you mean X?)` when an option is close, else the message.
pub(crate) fn hint(message: String, value: &str, options: &[&str], case_sensitive: bool) -> String {
    match closest(value, options, case_sensitive) {
        Some(option) => format!("{message} (did you mean {option}?)"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpa_suggest_closest() {
        assert_eq!(closest("mont", &["mount", "network", "security"], true).as_deref(), Some("mount"));
        assert_eq!(closest("typ", &["type", "from", "target"], true).as_deref(), Some("type"));
        assert_eq!(closest("tmp", &["bind", "cache", "tmpfs", "secret", "ssh"], true).as_deref(), Some("tmpfs"));
        assert_eq!(closest("RUNN", &["run", "env"], false).as_deref(), Some("RUN"));
        assert_eq!(closest("bogus", &["run", "env"], false), None);
        assert_eq!(closest("run", &["run", "rum"], false), None, "an exact option is no typo");
    }
}
