//! Kubernetes' name and label rules, so what `generate` writes is accepted by an API server.

/// A DNS-1123 label (lower case alphanumerics and `-`, at most 63, alphanumeric at both ends) made from a
/// container, service or volume name; None when nothing usable is left.
pub(super) fn dns_label(name: &str) -> Option<String> {
    let mapped: String =
        name.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let trimmed = mapped.trim_matches('-');
    let cut: String = trimmed.chars().take(63).collect();
    let cut = cut.trim_end_matches('-').to_string();
    (!cut.is_empty()).then_some(cut)
}

/// `base`, or `base-2`, `base-3`... whichever `taken` does not hold yet; the result is added to `taken`.
pub(super) fn unique(base: &str, taken: &mut Vec<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// Whether a label key is valid: an optional DNS subdomain prefix (at most 253) and `/`, then a name of at
/// most 63 alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
pub(super) fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

/// Whether a label value is valid: empty, or at most 63 alphanumerics, `-`, `_`, `.`, alphanumeric at both
/// ends.
pub(super) fn valid_label_value(value: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    value.is_empty()
        || (value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && edge(value.chars().next())
            && edge(value.chars().last()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_from_docker_names() {
        assert_eq!(dns_label("My_App.1").as_deref(), Some("my-app-1"));
        assert_eq!(dns_label("__").as_deref(), None);
        assert_eq!(dns_label(&"a".repeat(70)).map(|s| s.len()), Some(63));
    }

    #[test]
    fn label_rules() {
        assert!(valid_label_key("com.docker.compose.project"));
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(!valid_label_key("Bad Key"));
        assert!(!valid_label_key("UPPER.example/x"));
        assert!(valid_label_value(""));
        assert!(!valid_label_value(&"f".repeat(64)));
        assert!(!valid_label_value("-x"));
    }

    #[test]
    fn unique_names() {
        let mut taken = vec!["web".to_string()];
        assert_eq!(unique("web", &mut taken), "web-2");
        assert_eq!(unique("web", &mut taken), "web-3");
        assert_eq!(unique("db", &mut taken), "db");
    }
}
