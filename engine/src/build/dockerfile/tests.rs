use super::*;

/// Go's `strconv.Quote`, which BuildKit's AST dump uses.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// BuildKit's s-expression dump of one node, so its `testfiles/*/result` can be compared as they are.
fn dump(node: &Node) -> String {
    let mut out = node.keyword();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| go_quote(f)).collect();
        out.push_str(&format!(" [{}]", flags.join(" ")));
    }
    for arg in &node.args {
        out.push(' ');
        out.push_str(&go_quote(arg));
    }
    if let Some(trigger) = &node.trigger {
        out.push_str(&format!(" ({})", dump(trigger)));
    }
    out
}

fn dump_all(file: &Dockerfile) -> String {
    file.nodes.iter().map(|n| format!("({})\n", dump(n))).collect()
}

fn testdata(dir: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/build/testdata").join(dir)
}

fn cases(dir: &str, ext: &str) -> Vec<(String, std::path::PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(testdata(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

#[test]
fn bpa_parser_testfiles() {
    let all = cases("parser", "dockerfile");
    assert!(all.len() >= 30, "found {} cases", all.len());
    let mut failures = Vec::new();
    for (name, path) in all {
        let text = std::fs::read_to_string(&path).unwrap();
        let want = std::fs::read_to_string(path.with_extension("dump")).unwrap();
        match parse(&text) {
            Ok(file) if dump_all(&file) == want => {}
            Ok(file) => failures.push(format!("{name}:\n--- got\n{}--- want\n{want}", dump_all(&file))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bpa_parser_negative_testfiles() {
    let all = cases("parser-negative", "dockerfile");
    assert_eq!(all.len(), 4);
    for (name, path) in all {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(parse(&text).is_err(), "{name} parsed");
    }
    assert_eq!(parse("").unwrap_err().to_string(), "dockerfile parse error on line 0: file with no instructions");
    let err = parse("FROM busybox\nENV PATH\n").unwrap_err();
    assert_eq!(err.to_string(), "dockerfile parse error on line 2: ENV must have two arguments");
    let err = parse("FROM busybox\n\nCMD [ \"echo\", [ \"nested json\" ] ]\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "dockerfile parse error on line 3: when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn bpa_parser_line_numbers() {
    let text = include_str!("../testdata/line-numbers.dockerfile");
    let file = parse(text).unwrap();
    let lines: Vec<(usize, usize)> = file.nodes.iter().map(|n| (n.start_line, n.end_line)).collect();
    assert_eq!(lines, vec![(5, 5), (11, 12), (17, 31)]);
}

#[test]
fn bpa_parser_empty_continuation_warnings() {
    let text = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\n\
                RUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\n\
                RUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let file = parse(text).unwrap();
    assert_eq!(file.warnings.len(), 2);
    assert!(file.warnings[0].contains("RUN something     following     more"), "{}", file.warnings[0]);
    assert!(file.warnings[1].contains("RUN another     thing"), "{}", file.warnings[1]);
    assert_eq!(file.nodes[4].args, vec!["non-indented    after-comment"]);
}

#[test]
fn bpa_parser_long_line() {
    let text = format!("FROM image\nLABEL test={}\n", "a".repeat(64 * 1024));
    assert_eq!(parse(&text).unwrap_err().message, "dockerfile line greater than max allowed size of 65535");
}

#[test]
fn bpa_parser_words_split() {
    for (input, want) in [
        ("foo", vec!["foo"]),
        ("foo bar", vec!["foo", "bar"]),
        ("foo\\ bar", vec!["foo\\ bar"]),
        ("foo=bar", vec!["foo=bar"]),
        ("foo bar 'abc xyz'", vec!["foo", "bar", "'abc xyz'"]),
        ("foo bar \"abc xyz\"", vec!["foo", "bar", "\"abc xyz\""]),
        ("àöû", vec!["àöû"]),
        ("föo bàr \"âbc xÿz\"", vec!["föo", "bàr", "\"âbc xÿz\""]),
    ] {
        assert_eq!(args::words(input, '\\'), want, "{input}");
    }
}

#[test]
fn bpa_parser_directives() {
    let file = parse("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM a\nRUN x `\n  y\n").unwrap();
    assert_eq!(file.escape, '`');
    let names: Vec<&str> = file.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["syntax", "escape", "check"]);
    assert_eq!(file.nodes[1].args, vec!["x   y"]);
    assert!(file.nodes[0].comments.is_empty());
    // Only at the top: after a comment or an instruction it is a plain comment.
    let file = parse("# hello\n# escape=`\nFROM a\nRUN x \\\n y\n").unwrap();
    assert_eq!(file.escape, '\\');
    assert_eq!(file.nodes[0].comments, vec!["hello", "escape=`"]);
    let err = parse("# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
    assert_eq!(err.to_string(), "dockerfile parse error on line 2: only one escape parser directive can be used");
    let err = parse("# escape=x\nFROM a\n").unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("invalid escape token 'x'"));
    // A BOM is dropped before the directive is read.
    let file = parse("\u{feff}# escape=`\nFROM a\n").unwrap();
    assert_eq!(file.escape, '`');
}

#[test]
fn bpa_parser_case_flags_json() {
    let file = parse(
        "from a AS b\nRuN --mount=type=cache,target=/x --network=none echo hi\nCMD ['a','b']\n\
         COPY --chown=\"1:1\" -- --weird /d\nVOLUME [\"/a\", \"/b\"]\nENTRYPOINT []\n",
    )
    .unwrap();
    assert_eq!(file.nodes[0].keyword(), "from");
    assert_eq!(file.nodes[0].args, ["a", "AS", "b"]);
    let run = &file.nodes[1];
    assert_eq!((run.name.as_str(), run.flags.len(), run.args.clone()), ("RuN", 2, vec!["echo hi".to_string()]));
    assert!(!file.nodes[2].json);
    assert_eq!(file.nodes[2].args, ["['a','b']"]);
    assert_eq!(file.nodes[3].flags, ["--chown=1:1"]);
    assert_eq!(file.nodes[3].args, ["--weird", "/d"]);
    assert!(file.nodes[4].json);
    assert!(file.nodes[5].json && file.nodes[5].args.is_empty());
}

struct Want(&'static str, u32, bool, bool, &'static str);

#[test]
fn bpa_parser_heredocs() {
    let text = "\nFROM alpine:3.6\nENV NAME=me\nRUN ls\nUSER <<INVALID\nINVALID\nRUN <<EMPTY\nEMPTY\nRUN 3<<EMPTY2\nEMPTY2\n\
RUN \"<<NOHEREDOC\"\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\
RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\
RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\nRUN <<COPY\necho hello world\necho foo bar\nCOPY\n\
RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\
RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\
COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\nCOPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\
COPY <<X <<Y /dest\nY\nX\nX\nY\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\
COPY <<file.txt /dest\nhello world\nfile.txt\nRUN <<eo'f'\necho foo\neof\nRUN <<eo\\'f\necho foo\neo'f\n\
RUN <<'e'o\\'f\necho foo\neo'f\nRUN <<'one two'\necho bar\none two\nRUN <<$EOF\n$EOF\nRUN <<  EOF\nEOF\n\
RUN <<  EOF  > foo\nEOF\n\t";
    let want: Vec<Vec<Want>> = vec![
        vec![],
        vec![],
        vec![],
        vec![], // INVALID is an unknown instruction, not a body
        vec![Want("EMPTY", 0, true, false, "")],
        vec![Want("EMPTY2", 3, true, false, "")],
        vec![],
        vec![Want("INDENT", 0, true, false, "\tfoo\n\tbar\n")],
        vec![Want("UNINDENT", 0, true, true, "\tbaz\n\tquux\n")],
        vec![Want("UNINDENT2", 0, true, true, "\tbaz\n\tquux\n")],
        vec![Want("EXPAND", 0, true, true, "\texpand $NAME\n")],
        vec![Want("NOEXPAND", 0, false, true, "\tdon't expand $NAME\n")],
        vec![Want("COPY", 0, true, false, "echo hello world\necho foo bar\n")],
        vec![Want(
            "COMMENT",
            0,
            true,
            false,
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
        )],
        vec![Want("MOUNT", 0, true, false, "echo hello\n")],
        vec![Want("FILE1", 0, true, false, "content 1\n"), Want("FILE2", 0, true, false, "content 2\n")],
        vec![Want("EOF", 0, true, false, "\"foo\"\n'bar'\n")],
        vec![Want("X", 0, true, false, "Y\n"), Want("Y", 0, true, false, "X\n")],
        vec![Want("COMPLEX", 0, true, false, "print('hello world')\n")],
        vec![Want("file.txt", 0, true, false, "hello world\n")],
        vec![Want("eof", 0, false, false, "echo foo\n")],
        vec![Want("eo'f", 0, true, false, "echo foo\n")],
        vec![Want("eo'f", 0, false, false, "echo foo\n")],
        vec![Want("one two", 0, false, false, "echo bar\n")],
        vec![Want("$EOF", 0, true, false, "")],
        vec![Want("EOF", 0, true, false, "")],
        vec![Want("EOF", 0, true, false, "")],
    ];
    let file = parse(text).unwrap();
    assert_eq!(file.nodes.len(), want.len() + 1);
    for (node, want) in file.nodes[1..].iter().zip(want) {
        let got: Vec<(String, u32, bool, bool, String)> =
            node.heredocs.iter().map(|h| (h.name.clone(), h.fd, h.expand, h.chomp, h.content.clone())).collect();
        let want: Vec<(String, u32, bool, bool, String)> =
            want.iter().map(|w| (w.0.to_string(), w.1, w.2, w.3, w.4.to_string())).collect();
        assert_eq!(got, want, "line {}: {}", node.start_line, node.original);
    }
    // Exec form never has heredocs.
    let file = parse("FROM a\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n").unwrap();
    assert!(file.nodes.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(
        parse("FROM a\nRUN <<EOF\nx\n").unwrap_err().to_string(),
        "dockerfile parse error on line 2: unterminated heredoc"
    );
    assert_eq!(chomp("\thello\n\tworld\n"), "hello\nworld\n");
}

#[test]
fn bpa_parser_heredoc_words() {
    for w in ["<<EOF", "<<'EOF'", "<<\"EOF\"", "<<-EOF", "<<-'EOF'", "<<-\"EOF\"", "<<EO\"F\"", "<< EOF", "<<- EOF"] {
        assert_eq!(heredoc_word(w).unwrap().unwrap().name, "EOF", "{w}");
    }
    for w in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
        assert!(heredoc_word(w).is_err(), "{w}");
    }
    for w in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
        assert_eq!(heredoc_word(w).unwrap(), None, "{w}");
    }
    for (line, names) in [
        ("RUN <<EOF", vec!["EOF"]),
        ("RUN <<-EOF", vec!["EOF"]),
        // The lexer ends `<<-` at the blank, so this opens nothing (BuildKit's own test only checks the
        // names it gets, and it gets none).
        ("RUN <<- EOF", vec![]),
        ("RUN << -EOF", vec!["-EOF"]),
        ("RUN <<'EOF'", vec!["EOF"]),
        ("RUN 4<<EOF", vec!["EOF"]),
        ("RUN <<EOF <<EOF2", vec!["EOF", "EOF2"]),
        ("RUN '<<EOF'", vec![]),
        ("RUN \"<<EOF\"", vec![]),
    ] {
        let got: Vec<String> = heredoc::heredocs_of_line(line).unwrap().into_iter().map(|h| h.name).collect();
        assert_eq!(got, names, "{line}");
    }
}

#[test]
fn bpa_parser_onbuild_heredoc() {
    let file = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "echo hi\n");
    assert_eq!(file.nodes[1].all_args(), ["RUN", "<<EOF"]);
}

#[test]
fn bpa_parser_directive_names() {
    // Re-expressed from BuildKit's directives_test.go: names are case-insensitive, an unknown key ends
    // the directives.
    let file = parse("#escape=\\\n# key = FOO bar\n# smth\nFROM a\n").unwrap();
    assert_eq!(file.directives, vec![Directive { name: "escape".into(), value: "\\".into(), line: 1 }]);
    let file = parse("# EScape=`\n# KEY = FOO bar\n# syntax=x\nFROM a\n").unwrap();
    assert_eq!((file.escape, file.directives.len()), ('`', 1));
    let file = parse("# check = skip=all // opts\nFROM a\n").unwrap();
    assert_eq!(file.directives[0].value, "skip=all // opts");
    // A shebang line ends the directives.
    let file = parse("#!/bin/sh\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(file.escape, '\\');
}
