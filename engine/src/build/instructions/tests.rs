use super::*;
use crate::build::dockerfile::parse;
use flags::{Flags, Kind};

fn one(text: &str) -> Result<Instruction, InstructionError> {
    let file = parse(text).unwrap();
    parse_node(&file.nodes[0]).map(|l| l.instruction)
}

/// (Dockerfile, the error BuildKit gives, which berth's message must contain), re-expressed from BuildKit's
/// `instructions/parse_test.go` and `bflag_test.go`.
const ERRORS: &[(&str, &str)] = &[
    ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("USER", "USER requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("ENV", "ENV requires at least one argument"),
    ("LABEL", "LABEL requires at least one argument"),
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ("ADD arg1", "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
    (
        "COPY arg1",
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
    ),
    ("COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments"),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FOO bar", "dockerfile parse error on line 1: unknown instruction: FOO"),
    ("foo bar", "dockerfile parse error on line 1: unknown instruction: foo"),
    ("FROM a AS 1x", "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
    ("FROM a AS b$", "invalid name for build stage"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a TO b", "FROM requires either one or three arguments"),
    ("SHELL bash -c", "SHELL requires the arguments to be in JSON form"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CONNECT TCP 7000", "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
    ("HEALTHCHECK --interval=50ns CMD x", "Interval \"interval\" cannot be less than 1ms"),
    ("HEALTHCHECK --timeout=5x CMD x", "time: unknown unit \"x\" in duration \"5x\""),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=x CMD x", "invalid syntax"),
    ("COPY --from a b", "missing a value on flag: --from"),
    ("COPY --from=a --from=b c d", "duplicate flag specified: --from"),
    ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
    ("COPY --link= a b", "missing a value on flag: --link"),
    ("COPY --checksum=sha256:x a b", "unknown flag: --checksum"),
    ("ADD --keep-git-dir https://x/y.git /d", "ADD --keep-git-dir is not supported by berth"),
    ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
    ("COPY --chmod=999 a b", "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"),
    ("COPY --chmod=17777 a b", "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777"),
    ("COPY --chmod=u+q a b", "invalid chmod parameter"),
    ("ENV =x", "ENV names can not be blank"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("ARG =x", "ARG names can not be blank"),
    ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
    ("RUN --network=bogus true", "invalid network mode \"bogus\""),
    ("RUN --security=insecure true", "RUN --security=insecure is not supported by berth"),
    ("RUN --security=x true", "security \"x\" is not valid"),
    ("RUN --device=x true", "unknown flag: --device"),
    ("RUN --mount=type=ssh true", "type=ssh is not supported by berth"),
    ("RUN --mount=type=bogus,target=/x true", "unsupported mount type \"bogus\""),
    ("RUN --mont=target=/mytmp,type=tmpfs /bin/true", "unknown flag: --mont (did you mean mount?)"),
    ("RUN --mount=typ=tmpfs /bin/true", "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)"),
    ("RUN --mount=type=tmp /bin/true", "unsupported mount type \"tmp\" (did you mean tmpfs?)"),
    ("RUN --mount=type=cache,target=/x,sharing=lock true", "unsupported sharing value \"lock\" (did you mean locked?)"),
    ("FORM busybox", "unknown instruction: FORM (did you mean FROM?)"),
    ("COPY --chmown=1 a b", "unknown flag: --chmown (did you mean chown?)"),
    ("RUN --mount=type=bind true", "mount type bind requires a target"),
    ("RUN --mount=type=bind,target=/x,mode=0700 true", "mode not allowed for \"bind\" type mounts"),
    ("RUN --mount=type=tmpfs,target=/x,uid=1 true", "uid not allowed for \"tmpfs\" type mounts"),
    ("RUN --mount=type=bind,target=/x,size=1m true", "unexpected key 'size' for mount type 'bind'"),
    ("RUN --mount=type=bind,target=/x,required true", "unexpected key 'required' for mount type 'bind'"),
    ("RUN --mount=type=bind,target=/x,sharing=locked true", "invalid cache sharing set for bind mount"),
    ("RUN --mount=type=cache,target=/x,sharing=some true", "unsupported sharing value \"some\""),
    ("RUN --mount=type=cache,target=/x,bogus=1 true", "unexpected key 'bogus' in 'bogus=1'"),
    ("RUN --mount=type=cache,target=/x,nokey true", "invalid field 'nokey' must be a key=value pair"),
    ("RUN --mount=type=cache,target=/x,ro=maybe true", "invalid value for ro: maybe"),
    ("RUN --mount=type=cache,target=/x,uid=-1 true", "invalid value -1 for uid"),
    ("RUN --mount=type=secret,id=a,from=b true", "secret mount should not have a from"),
    ("RUN --mount=type=secret,id=a,sharing=shared true", "secret mount should not define sharing"),
    ("RUN --mount=type=secret true", "invalid secret mount. one of source, target required"),
    ("RUN --mount=type=secret,id=a,source=b true", "both source and id can't be set"),
    ("RUN --mount=type=bind,target=/x,from=$STAGE true", "'from' doesn't support variable expansion"),
];

#[test]
fn bpa_instruction_errors() {
    let mut failures = Vec::new();
    for (text, want) in ERRORS {
        match one(text) {
            Ok(i) => failures.push(format!("{text:?}: parsed as {i:?}")),
            Err(e) if e.to_string().contains(want) => {}
            Err(e) => failures.push(format!("{text:?}: {e}, want {want:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bpa_instruction_errors_name_line_and_instruction() {
    let file = parse("FROM a\n\nCOPY --bogus a b\n").unwrap();
    let e = parse_all(&file).unwrap_err();
    assert_eq!((e.line, e.instruction.as_str()), (3, "COPY"));
    assert_eq!(e.to_string(), "dockerfile parse error on line 3: COPY: unknown flag: --bogus");
}

#[test]
fn bpa_instruction_from() {
    assert_eq!(
        one("FROM --platform=linux/arm64 busybox:1 AS Build").unwrap(),
        Instruction::From(From {
            image: "busybox:1".into(),
            name: Some("build".into()),
            platform: Some("linux/arm64".into())
        })
    );
    assert!(one("FROM a as b-c_d.e").is_ok());
}

#[test]
fn bpa_instruction_healthcheck() {
    let Instruction::Healthcheck(h) = one("HEALTHCHECK CMD hello world").unwrap() else { panic!() };
    assert_eq!(h.test, ["CMD-SHELL", "hello world"]);
    let Instruction::Healthcheck(h) = one(
        "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1.5s --start-interval=300ms --retries=3 CMD [\"a\", \"b\"]",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(h.test, ["CMD", "a", "b"]);
    assert_eq!(
        (h.interval_ns, h.timeout_ns, h.start_period_ns, h.start_interval_ns, h.retries),
        (5_000_000_000, 90_000_000_000, 1_500_000_000, 300_000_000, 3)
    );
    let Instruction::Healthcheck(h) = one("HEALTHCHECK --interval=0ms CMD x").unwrap() else { panic!() };
    assert_eq!(h.interval_ns, 0);
    let Instruction::Healthcheck(h) = one("HEALTHCHECK none").unwrap() else { panic!() };
    assert_eq!(h.test, ["NONE"]);
}

#[test]
fn bpa_go_durations() {
    for (s, ns) in
        [("0", 0), ("1ms", 1_000_000), ("1h2m3s", 3_723_000_000_000), ("1.5us", 1500), ("-2s", -2_000_000_000)]
    {
        assert_eq!(go_duration(s).unwrap(), ns, "{s}");
    }
    assert_eq!(go_duration("1").unwrap_err(), "time: missing unit in duration \"1\"");
    assert!(go_duration("").is_err() && go_duration(".s").is_err() && go_duration("s").is_err());
}

#[test]
fn bpa_instruction_run() {
    let Instruction::Run(run) =
        one("RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --network=none apt-get update").unwrap()
    else {
        panic!()
    };
    assert_eq!(run.command.args, ["apt-get update"]);
    assert!(run.command.shell);
    assert_eq!(run.network, Network::None);
    let m = parse_mount(&run.mount_specs[0]).unwrap();
    assert_eq!(
        (m.kind, m.id.as_deref(), m.sharing, m.readonly),
        (MountKind::Cache, Some("/var/cache/apt"), Sharing::Locked, false)
    );
    let Instruction::Run(run) = one("RUN [\"echo\", \"a b\"]").unwrap() else { panic!() };
    assert_eq!((run.command.args.clone(), run.command.shell), (vec!["echo".to_string(), "a b".to_string()], false));
    let Instruction::Run(run) = one("RUN <<EOF\necho hi\nEOF").unwrap() else { panic!() };
    assert_eq!(run.command.files[0].content, "echo hi\n");
    // A mount with a variable is only checked after expansion.
    assert!(one("RUN --mount=type=$T,target=/x true").is_ok());
}

#[test]
fn bpa_instruction_mounts() {
    let m = parse_mount("type=bind,from=build,source=/out,target=/in,rw").unwrap();
    assert_eq!(
        (m.from.as_deref(), m.source.as_deref(), m.target.as_deref(), m.readonly),
        (Some("build"), Some("/out"), Some("/in"), false)
    );
    assert!(parse_mount("target=/in").unwrap().readonly, "bind mounts are read-only by default");
    let m = parse_mount("type=tmpfs,dst=/t,size=64m").unwrap();
    assert_eq!((m.size, m.readonly), (Some(64 << 20), false));
    let m = parse_mount("type=secret,id=aws").unwrap();
    assert_eq!((m.id.as_deref(), m.target.as_deref(), m.required), (Some("aws"), Some("/run/secrets/aws"), false));
    let m = parse_mount("type=secret,target=/root/.npmrc,required,mode=0400,uid=1000").unwrap();
    assert_eq!((m.id.as_deref(), m.required, m.mode, m.uid), (Some(".npmrc"), true, Some(0o400), Some(1000)));
    let m = parse_mount("type=secret,id=tok,env=TOKEN").unwrap();
    assert_eq!((m.env.as_deref(), m.target), (Some("TOKEN"), None));
    let m = parse_mount("\"type=cache\",\"target=/a,b\"").unwrap();
    assert_eq!(m.target.as_deref(), Some("/a,b"));
}

#[test]
fn bpa_instruction_copy_add() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=app:app --chmod=u+x,go=rX --link --parents --exclude=*.md --exclude=tmp a b/ /dest/",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "b/"]);
    assert_eq!(c.dest, "/dest/");
    assert_eq!((c.from.as_deref(), c.chown.as_deref()), (Some("build"), Some("app:app")));
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, ["*.md", "tmp"]);
    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c d/\"]").unwrap() else { panic!() };
    assert_eq!((c.sources, c.dest), (vec!["a b".to_string()], "/c d/".to_string()));
    let Instruction::Add(a) = one("ADD --checksum=sha256:abc --unpack=false --chmod=0644 https://x/y.tgz /y").unwrap()
    else {
        panic!()
    };
    assert_eq!((a.checksum.as_deref(), a.unpack, a.chmod.as_deref()), (Some("sha256:abc"), Some(false), Some("0644")));
    let Instruction::Copy(c) = one("COPY <<A <<-'B' /dest/\nhello $X\nA\n\tworld\n\tB").unwrap() else { panic!() };
    assert_eq!(c.inline.len(), 2);
    assert_eq!((c.inline[0].name.as_str(), c.inline[0].data.as_str(), c.inline[0].expand), ("A", "hello $X\n", true));
    assert_eq!((c.inline[1].name.as_str(), c.inline[1].data.as_str(), c.inline[1].expand), ("B", "world\n", false));
}

#[test]
fn bpa_instruction_chmod() {
    assert_eq!(Chmod::parse("755").unwrap().apply(0o644, false), 0o755);
    let sym = Chmod::parse("u+x,go=rX").unwrap();
    // `X` sees the execute bit `u+x` just set, as chmod(1) does.
    assert_eq!(sym.apply(0o600, false), 0o755);
    assert_eq!(Chmod::parse("go=rX").unwrap().apply(0o600, false), 0o644);
    assert_eq!(sym.apply(0o700, true), 0o755);
    assert_eq!(Chmod::parse("a-w").unwrap().apply(0o666, false), 0o444);
    assert_eq!(Chmod::parse("=r").unwrap().apply(0o777, false), 0o444);
    assert_eq!(Chmod::parse("u+s").unwrap().apply(0o755, false), 0o4755);
    assert!(Chmod::parse("").is_err() && Chmod::parse("u").is_err() && Chmod::parse("x+r").is_err());
}

#[test]
fn bpa_instruction_others() {
    assert_eq!(
        one("ENV A=1 B=\"2 3\"").unwrap(),
        Instruction::Env(vec![
            KeyValue { key: "A".into(), value: "1".into() },
            KeyValue { key: "B".into(), value: "\"2 3\"".into() }
        ])
    );
    assert_eq!(one("ENV A 1 2").unwrap(), Instruction::Env(vec![KeyValue { key: "A".into(), value: "1 2".into() }]));
    assert_eq!(
        one("ARG a b=2 c=").unwrap(),
        Instruction::Arg(vec![
            ArgDef { key: "a".into(), default: None },
            ArgDef { key: "b".into(), default: Some("2".into()) },
            ArgDef { key: "c".into(), default: Some(String::new()) },
        ])
    );
    assert_eq!(one("EXPOSE 8080 80/udp").unwrap(), Instruction::Expose(vec!["80/udp".into(), "8080".into()]));
    assert_eq!(one("VOLUME [\"/a\", \"/b\"]").unwrap(), Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(one("VOLUME /a /b").unwrap(), Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]").unwrap(),
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    let Instruction::Entrypoint(e) = one("ENTRYPOINT []").unwrap() else { panic!() };
    assert!(e.args.is_empty() && !e.shell);
    assert_eq!(one("onbuild run echo hi").unwrap(), Instruction::Onbuild("run echo hi".into()));
    assert_eq!(one("ONBUILD RUN <<EOF\necho hi\nEOF").unwrap(), Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into()));
    assert_eq!(one("MAINTAINER me <m@x>").unwrap(), Instruction::Maintainer("me <m@x>".into()));
    assert_eq!(one("STOPSIGNAL SIGKILL").unwrap(), Instruction::StopSignal("SIGKILL".into()));
}

/// Re-expressed from BuildKit's `parse_heredoc_test.go`: (Dockerfile, paths, [(name, data, expand)], dest).
#[test]
fn bpa_instruction_copy_heredocs() {
    type Inline = (&'static str, &'static str, bool);
    let cases: &[(&str, &[&str], &[Inline], &str)] = &[
        ("COPY /foo /bar", &["/foo"], &[], "/bar"),
        ("COPY <<EOF /bar\nEOF", &[], &[("EOF", "", true)], "/bar"),
        ("COPY <<EOF /bar\nTESTING\nEOF", &[], &[("EOF", "TESTING\n", true)], "/bar"),
        ("COPY <<-EOF /bar\n\tTESTING\nEOF", &[], &[("EOF", "TESTING\n", true)], "/bar"),
        ("COPY <<'EOF' /bar\nTESTING\nEOF", &[], &[("EOF", "TESTING\n", false)], "/bar"),
        (
            "COPY <<EOF1 <<EOF2 /bar\nthis is the first file\nEOF1\nthis is the second file\nEOF2",
            &[],
            &[("EOF1", "this is the first file\n", true), ("EOF2", "this is the second file\n", true)],
            "/bar",
        ),
        ("COPY <<EOF foo.txt /bar\nthis is inline\nEOF", &["foo.txt"], &[("EOF", "this is inline\n", true)], "/bar"),
        ("COPY <<EOF /quotes\n\"quotes\"\nEOF", &[], &[("EOF", "\"quotes\"\n", true)], "/quotes"),
    ];
    for (text, paths, inline, dest) in cases {
        let Instruction::Copy(c) = one(text).unwrap() else { panic!("{text}") };
        let got: Vec<(&str, &str, bool)> =
            c.inline.iter().map(|i| (i.name.as_str(), i.data.as_str(), i.expand)).collect();
        assert_eq!(
            (c.sources.clone(), got, c.dest.as_str()),
            (paths.iter().map(|p| p.to_string()).collect(), inline.to_vec(), *dest),
            "{text}"
        );
    }
}

/// Re-expressed from BuildKit's `parse_heredoc_test.go`: (Dockerfile, shell form, command, [(name, body, chomp)]).
#[test]
fn bpa_instruction_run_heredocs() {
    type File = (&'static str, &'static str, bool);
    let cases: &[(&str, bool, &[&str], &[File])] = &[
        ("RUN [\"ls\", \"/\"]", false, &["ls", "/"], &[]),
        ("RUN [\"<<EOF\"]", false, &["<<EOF"], &[]),
        ("RUN ls /", true, &["ls /"], &[]),
        ("RUN <<EOF\nls /\nwhoami\nEOF", true, &["<<EOF"], &[("EOF", "ls /\nwhoami\n", false)]),
        (
            "RUN <<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF",
            true,
            &["<<'EOF' | python"],
            &[("EOF", "print(\"hello\")\nprint(\"world\")\n", false)],
        ),
        ("RUN <<-EOF\n\techo test\nEOF", true, &["<<-EOF"], &[("EOF", "\techo test\n", true)]),
    ];
    for (text, shell, command, files) in cases {
        let Instruction::Run(run) = one(text).unwrap() else { panic!("{text}") };
        let got: Vec<(&str, &str, bool)> =
            run.command.files.iter().map(|f| (f.name.as_str(), f.content.as_str(), f.chomp)).collect();
        assert_eq!(run.command.shell, *shell, "{text}");
        assert_eq!(run.command.args, *command, "{text}");
        assert_eq!(got, files.to_vec(), "{text}");
    }
}

/// Re-expressed from BuildKit's `bflag_test.go`, through the flags COPY and ADD declare.
#[test]
fn bpa_instruction_flag_rules() {
    let ok = |flags: &[&str]| {
        let given: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        Flags::parse(&given, &[("str1", Kind::String), ("bool1", Kind::Bool), ("many", Kind::Strings)])
    };
    assert!(ok(&[]).is_ok() && ok(&["--"]).is_ok());
    assert_eq!(ok(&["--str1="]).unwrap().string("str1").as_deref(), Some(""));
    assert_eq!(ok(&["--str1=BYE"]).unwrap().string("str1").as_deref(), Some("BYE"));
    assert_eq!(ok(&[]).unwrap().string("str1"), None);
    assert_eq!(ok(&["--bool1"]).unwrap().bool("bool1"), Some(true));
    assert_eq!(ok(&["--bool1=true"]).unwrap().bool("bool1"), Some(true));
    assert_eq!(ok(&["--bool1=TRUE"]).unwrap().bool("bool1"), Some(true));
    assert_eq!(ok(&["--bool1=false"]).unwrap().bool("bool1"), Some(false));
    assert_eq!(ok(&["--many=a", "--many=b"]).unwrap().strings("many"), ["a", "b"]);
    assert_eq!(ok(&["--", "--bogus"]).unwrap().string("str1"), None, "flags stop at --");
    for (flags, want) in [
        (&["--str1"][..], "missing a value on flag: --str1"),
        (&["--bool1=false1"], "expecting boolean value for flag --bool1, not: false1"),
        (&["--bool1=true1"], "expecting boolean value for flag --bool1, not: true1"),
        (&["--bool1=true", "--bool1=false"], "duplicate flag specified: --bool1"),
        (&["--str1=a", "--str1=b"], "duplicate flag specified: --str1"),
        (&["--bogus"], "unknown flag: --bogus"),
        (&["str1=a"], "arg should start with -- : str1=a"),
        (&["--many"], "missing a value on flag: --many"),
    ] {
        assert_eq!(ok(flags).unwrap_err(), want, "{flags:?}");
    }
}
