use std::collections::HashMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn word(input: &str, env: &HashMap<String, String>) -> Result<String, WordError> {
    Lexer::new('\\').process_word(input, &|k| env.get(k).cloned())
}

#[test]
fn bpa_words_expand_table() {
    let env = env_of(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]);
    let table = include_str!("testdata/words_expand.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        count += 1;
        let (input, expected) = line.split_once('|').expect("row has a |");
        let (input, expected) = (input.trim(), expected.trim());
        let got = word(input, &env);
        let ok = match &got {
            Ok(v) => expected != "error" && v == expected,
            Err(_) => expected == "error",
        };
        if !ok {
            failures.push(format!("line {}: {input:?} → {got:?}, want {expected:?}", n + 1));
        }
    }
    assert!(count > 200, "table read: {count} rows");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn bpa_words_split_table() {
    let table = include_str!("testdata/words_split.txt");
    let mut env = HashMap::new();
    let mut failures = Vec::new();
    for (n, line) in table.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(def) = line.strip_prefix("ENV ") {
            let (k, v) = def.trim_start_matches(' ').split_once('=').unwrap_or((def, ""));
            env.insert(k.to_string(), v.to_string());
            continue;
        }
        let (input, expected) = line.split_once('|').expect("row has a |");
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        let got = Lexer::new('\\')
            .process_words(input.trim(), &|k| env.get(k).cloned())
            .unwrap_or_else(|_| vec!["error".to_string()]);
        if got != expected {
            failures.push(format!("line {}: {input:?} → {got:?}, want {expected:?}", n + 1));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn bpa_words_mandatory_messages() {
    let set = env_of(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env_of(&[("VAR", ""), ("ARG", "x")]);
    let unset = env_of(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(word(no_empty, &set).unwrap(), "plain");
    assert!(word(no_empty, &empty).unwrap_err().message.contains("message herex"));
    assert!(word(no_empty, &unset).unwrap_err().message.contains("message herex"));
    assert_eq!(word(no_unset, &set).unwrap(), "plain");
    assert_eq!(word(no_unset, &empty).unwrap(), "");
    let err = word(no_unset, &unset).unwrap_err();
    assert_eq!(err.to_string(), "failed to process \"${VAR?message here$ARG}\": VAR: message herex");
    let err = word("${NOPE:?}", &unset).unwrap_err();
    assert_eq!(err.message, "NOPE: is not allowed to be unset");
    let err = word("${VAR:?}", &empty).unwrap_err();
    assert_eq!(err.message, "VAR: is not allowed to be empty");
}

#[test]
fn bpa_words_backtick_escape() {
    let env = env_of(&[("A", "1")]);
    let lex = Lexer::new('`');
    assert_eq!(lex.process_word("a`$A\\b", &|k| env.get(k).cloned()).unwrap(), "a$A\\b");
    assert_eq!(lex.process_word("\"`\"$A\"", &|k| env.get(k).cloned()).unwrap(), "\"1");
}

#[test]
fn bpa_words_patterns() {
    let env = env_of(&[("V", "a/b/c.tar.gz"), ("N", "x\ny")]);
    let w = |s| word(s, &env).unwrap();
    assert_eq!(w("${V#*/}"), "b/c.tar.gz");
    assert_eq!(w("${V##*/}"), "c.tar.gz");
    assert_eq!(w("${V%.*}"), "a/b/c.tar");
    assert_eq!(w("${V%%.*}"), "a/b/c");
    assert_eq!(w("${V/\\//-}"), "a-b/c.tar.gz");
    assert_eq!(w("${V//\\//-}"), "a-b-c.tar.gz");
    assert_eq!(w("${V/?/X}"), "X/b/c.tar.gz");
    // Like a regexp's `.`, `*` stops at a newline.
    assert_eq!(w("${N#*}"), "x\ny");
    assert_eq!(w("${N##*}"), "\ny");
    assert!(word("${V#\\x}", &env).is_err());
    assert!(word("${V:#x}", &env).is_err());
}

#[test]
fn bpa_words_skip_unset_and_raw() {
    let env = env_of(&[("A", "1")]);
    let lex = Lexer { raw_quotes: true, skip_unset: true, ..Lexer::new('\\') };
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(lex.process_word("$A $B ${C} ${D:-x} '$A'", &get).unwrap(), "1 $B ${C} ${D:-x} '$A'");
    let raw = Lexer { raw_quotes: true, raw_escapes: true, skip_unset: true, ..Lexer::new('\\') };
    assert_eq!(raw.process_words("cat <<\"EOF\" a\\ b", &get).unwrap(), vec!["cat", "<<\"EOF\"", "a\\ b"]);
}

#[test]
fn bpa_words_env_cases_table() {
    let table = include_str!("testdata/words_env_cases.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        count += 1;
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let input = row["input"].as_str().unwrap();
        let env: HashMap<String, String> =
            row["env"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
        let got = word(input, &env);
        let ok = match (&got, row.get("expected").and_then(|e| e.as_str())) {
            (Ok(v), Some(want)) => v == want,
            (Err(_), None) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{input:?} with {env:?}: {got:?}, want {}",
                row.get("expected").unwrap_or(&row["error"])
            ));
        }
    }
    assert_eq!(count, 47);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
