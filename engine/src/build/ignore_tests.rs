use super::*;

fn excluded(patterns: &[&str], path: &str) -> Result<bool, IgnoreError> {
    Ok(Ignore::from_patterns(patterns)?.is_excluded(path))
}

/// (pattern, path, excluded), re-expressed from moby/patternmatcher's `TestMatches`.
const SINGLE: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**/", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**", "dir/file/", true),
    ("**/", "dir/file/", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/file/", true),
    ("dir/**", "dir/dir2/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file/", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("a\\\\", "a\\", true),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def", true),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
    ("a\\*b", "a*b", true),
    // From Go's filepath.Match tests, as patternmatcher's TestMatch runs them.
    ("abc", "abc", true),
    ("*", "abc", true),
    ("*c", "abc", true),
    ("a*", "a", true),
    ("a*", "abc", true),
    ("a*", "ab/c", true),
    ("a*/b", "abc/b", true),
    ("a*/b", "a/c/b", false),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true),
    ("a*b?c*x", "abxbbxdbxebxczzy", false),
    ("ab[c]", "abc", true),
    ("ab[b-d]", "abc", true),
    ("ab[e-g]", "abc", false),
    ("ab[^c]", "abc", false),
    ("ab[^b-d]", "abc", false),
    ("ab[^e-g]", "abc", true),
    ("a\\*b", "ab", false),
    ("a?b", "a☺b", true),
    ("a[^a]b", "a☺b", true),
    ("a???b", "a☺b", false),
    ("a[^a][^a][^a]b", "a☺b", false),
    ("[a-ζ]*", "α", true),
    ("*[a-ζ]", "A", false),
    ("a?b", "a/b", false),
    ("a*b", "a/b", false),
    ("[\\]a]", "]", true),
    ("[\\-]", "-", true),
    ("[x\\-]", "x", true),
    ("[x\\-]", "-", true),
    ("[x\\-]", "z", false),
    ("[\\-x]", "x", true),
    ("[\\-x]", "-", true),
    ("[\\-x]", "a", false),
    ("*x", "xxx", true),
];

#[test]
fn bpa_ignore_single_patterns() {
    let mut failures = Vec::new();
    for (pattern, path, want) in SINGLE {
        match excluded(&[pattern], path) {
            Ok(got) if got == *want => {}
            other => failures.push(format!("{pattern:?} on {path:?}: {other:?}, want {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bpa_ignore_bad_patterns() {
    for pattern in ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[Local-Only]/"] {
        assert!(
            matches!(Ignore::from_patterns(&[pattern]), Err(IgnoreError::BadPattern { .. })),
            "{pattern:?} accepted"
        );
    }
    assert_eq!(Ignore::from_patterns(&["!"]), Err(IgnoreError::LoneExclamation));
    assert!(Ignore::parse("!\n").is_err());
}

#[test]
fn bpa_ignore_several_patterns() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["*.go"], ".", false),
        (&[], "/any/path/there", false),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
        (
            &["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
        // Anchored at the root, unlike .gitignore.
        (&["*.md"], "docs/a.md", false),
        (&["*.md"], "a.md", true),
        (&["**/*.md"], "docs/a.md", true),
        (&["docs"], "docs/deep/x", true),
    ];
    for (patterns, path, want) in cases {
        assert_eq!(excluded(patterns, path).unwrap(), *want, "{patterns:?} on {path:?}");
    }
}

#[test]
fn bpa_ignore_file_syntax() {
    let ignore = Ignore::parse("\u{feff}# comment\n  /build/  \n\n!  build/keep.txt\n./tmp//x\n#*.md\n").unwrap();
    let texts: Vec<(&str, bool)> = ignore.rules.iter().map(|r| (r.text.as_str(), r.exception)).collect();
    assert_eq!(texts, [("build", false), ("build/keep.txt", true), ("tmp/x", false)]);
    assert!(ignore.is_excluded("build/out.o"));
    assert!(!ignore.is_excluded("build/keep.txt"));
    assert!(!ignore.is_excluded("a.md"), "only a line starting with # is a comment");
    assert_eq!(clean("a/../../b/./c/"), "../b/c");
    assert_eq!(clean("/../a"), "/a");
}

#[test]
fn bpa_ignore_walk_keeps_exceptions_in_excluded_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in
        ["a.txt", "b.md", "node_modules/x/y.js", "node_modules/keep/k.js", "logs/1.log", "src/main.rs", "src/notes.md"]
    {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f).unwrap();
    }
    let ignore = Ignore::parse("*.md\nnode_modules\n!node_modules/keep\nlogs\n").unwrap();
    assert!(ignore.may_include_below("node_modules"));
    assert!(!ignore.may_include_below("logs"));
    assert_eq!(
        ignore.walk(root).unwrap(),
        ["a.txt", "node_modules", "node_modules/keep", "node_modules/keep/k.js", "src", "src/main.rs", "src/notes.md"]
    );
    let ignore = Ignore::parse("**\n!**/*.rs\n").unwrap();
    assert_eq!(ignore.walk(root).unwrap(), ["src", "src/main.rs"]);
    let ignore = Ignore::parse("logs\n!logs/*.txt\n").unwrap();
    assert!(ignore.walk(root).unwrap().iter().all(|p| !p.starts_with("logs")), "nothing re-included, nothing listed");
}

#[test]
fn bpa_ignore_file_choice() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path();
    std::fs::create_dir(ctx.join("docker")).unwrap();
    let dockerfile = ctx.join("docker/app.Dockerfile");
    assert_eq!(ignore_file_for(ctx, &dockerfile), None);
    std::fs::write(ctx.join(".dockerignore"), "x").unwrap();
    assert_eq!(ignore_file_for(ctx, &dockerfile), Some(ctx.join(".dockerignore")));
    std::fs::write(ctx.join("docker/app.Dockerfile.dockerignore"), "y").unwrap();
    assert_eq!(ignore_file_for(ctx, &dockerfile), Some(ctx.join("docker/app.Dockerfile.dockerignore")));
}

#[test]
fn bpa_ignore_buildkit_context_case() {
    // Re-expressed from BuildKit's testDockerignore and testDockerignoreOverride.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["Dockerfile", "foo", "bar", "baz", "bay", ".dockerignore"] {
        std::fs::write(root.join(f), f).unwrap();
    }
    let ignore = Ignore::parse("\nba*\nDockerfile\n!bay\n.dockerignore\n").unwrap();
    assert_eq!(ignore.walk(root).unwrap(), ["bay", "foo"]);
    std::fs::write(root.join("Dockerfile.dockerignore"), "bar\n").unwrap();
    std::fs::write(root.join("Dockerfile2.dockerignore"), "foo\n").unwrap();
    for (dockerfile, kept, dropped) in [("Dockerfile", "foo", "bar"), ("Dockerfile2", "bar", "foo")] {
        let file = ignore_file_for(root, &root.join(dockerfile)).unwrap();
        let ignore = Ignore::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        let walked = ignore.walk(root).unwrap();
        assert!(walked.iter().any(|p| p == kept) && !walked.iter().any(|p| p == dropped), "{dockerfile}: {walked:?}");
    }
}
