use super::*;
use crate::build::dockerfile::parse;

fn opts(target: Option<&str>, args: &[(&str, &str)]) -> PlanOptions {
    PlanOptions {
        build_args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        target: target.map(str::to_string),
        platform: "linux/amd64".into(),
        build_platform: None,
    }
}

fn plan_of(text: &str, target: Option<&str>, args: &[(&str, &str)]) -> Result<Plan, StageError> {
    plan(&parse(text).unwrap(), &opts(target, args))
}

/// Expands every step of the plan's target over an empty base environment.
fn expand_target(plan: &Plan) -> Result<(Scope, Vec<Step>), StageError> {
    let mut scope = Scope::new(plan, &[]);
    let steps = plan.target().steps.iter().map(|s| scope.expand(s)).collect::<Result<Vec<_>, _>>()?;
    Ok((scope, steps))
}

fn indexes(plan: &Plan) -> Vec<usize> {
    plan.stages.iter().map(|s| s.index).collect()
}

const MULTI: &str = "\
FROM busybox AS base
RUN echo base
FROM base AS broken
ENV X=${NOPE:?never-expanded}
COPY --from=later /a /b
FROM busybox AS tools
COPY --from=0 /etc/passwd /p
FROM alpine AS later
RUN --mount=type=bind,from=tools,target=/t true
COPY --from=base /x /y
COPY --from=docker.io/library/nginx:1 /etc/nginx /n
";

#[test]
fn bpa_stages_unused_failing_stage_is_not_expanded() {
    let plan = plan_of(MULTI, None, &[]).unwrap();
    assert_eq!(indexes(&plan), [0, 2, 3], "the broken stage is left out");
    expand_target(&plan).unwrap();
    // Targeting it shows it would fail: its COPY --from names a later stage.
    let err = plan_of(MULTI, Some("broken"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:5: cannot copy from stage \"later\", it needs to be defined before current stage \"broken\""
    );
}

#[test]
fn bpa_stages_dependencies_by_name_index_and_mount() {
    let plan = plan_of(MULTI, None, &[]).unwrap();
    let later = plan.target();
    assert_eq!(later.display_name(), "later");
    assert_eq!(later.needs, [2, 0], "mount from tools, COPY --from base");
    assert_eq!(later.images, ["docker.io/library/nginx:1"]);
    assert_eq!(plan.stage(2).unwrap().needs, [0], "COPY --from=0");
    assert_eq!(plan.stage(0).unwrap().base, Base::Image("busybox".into()));
    assert_eq!(plan.waves(), vec![vec![0], vec![2], vec![3]]);
    let plan = plan_of("FROM a AS x\nFROM b AS y\nFROM c\nCOPY --from=x / /\nCOPY --from=Y / /\n", None, &[]).unwrap();
    assert_eq!(plan.waves(), vec![vec![0, 1], vec![2]], "independent stages build side by side");
    let plan = plan_of("FROM busybox AS base\nFROM base\nRUN true\n", None, &[]).unwrap();
    assert_eq!(plan.target().base, Base::Stage(0));
    assert_eq!(plan.target().display_name(), "stage-1");
}

#[test]
fn bpa_stages_target() {
    let plan = plan_of(MULTI, Some("tools"), &[]).unwrap();
    assert_eq!(indexes(&plan), [0, 2]);
    assert_eq!(plan.target().name.as_deref(), Some("tools"));
    assert_eq!(indexes(&plan_of(MULTI, Some("BASE"), &[]).unwrap()), [0], "names match case-insensitively");
    assert_eq!(
        plan_of(MULTI, Some("nosuch"), &[]).unwrap_err().to_string(),
        "target stage \"nosuch\" could not be found"
    );
    assert_eq!(
        plan_of(MULTI, Some("tool"), &[]).unwrap_err().to_string(),
        "target stage \"tool\" could not be found (did you mean tools?)"
    );
}

#[test]
fn bpa_stages_reference_errors() {
    let err = plan_of("FROM a\nCOPY --from=1 / /\nFROM b\n", Some("stage-0"), &[]);
    assert!(matches!(err, Err(StageError::TargetNotFound { .. })), "unnamed stages are not targets");
    let err = plan_of("FROM a AS one\nCOPY --from=1 / /\nFROM b\n", Some("one"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:2: cannot copy from stage \"1\", it needs to be defined before current stage \"one\""
    );
    let err = plan_of("FROM a\nCOPY --from=5 / /\n", None, &[]).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:2: invalid stage index 5");
    let err = plan_of("FROM a\nCOPY --from=-1 / /\n", None, &[]).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:2: invalid stage index -1");
    let err =
        plan_of("FROM a AS one\nRUN --mount=from=two,target=/t true\nFROM b AS two\n", Some("one"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:2: cannot mount from stage \"two\" to \"/t\", stage needs to be defined before current command"
    );
    let err = plan_of("FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n", None, &[]).unwrap_err();
    assert_eq!(err.to_string(), "circular dependency detected on stage: stage0");
    let cycle = "FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\nCOPY --from=stage0 f2 /sub/\n\
                 FROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n";
    assert_eq!(plan_of(cycle, None, &[]).unwrap_err().to_string(), "circular dependency detected on stage: stage0");
    let err = plan_of("ARG S=x\nFROM a\nCOPY --from=$S / /\n", None, &[]).unwrap_err();
    assert!(matches!(err, StageError::CopyFromVariable { line: 3 }), "{err}");
    assert!(matches!(plan_of("FROM \"\" AS foo\n", None, &[]), Err(StageError::BlankBase { .. })));
    assert!(matches!(plan_of("FROM ${BLANK} AS foo\n", None, &[]), Err(StageError::BlankBase { .. })));
    let err = plan_of("ENV A=b\nFROM a\n", None, &[]).unwrap_err();
    assert_eq!(err.to_string(), "dockerfile parse error on line 1: no build stage in current context");
    // A later stage's name in FROM is an image, as in BuildKit.
    let plan = plan_of("FROM later\nFROM b AS later\n", Some("later"), &[]).unwrap();
    assert_eq!(indexes(&plan), [1]);
    let plan = plan_of("FROM later AS first\nFROM b AS later\n", Some("first"), &[]).unwrap();
    assert_eq!(plan.target().base, Base::Image("later".into()));
}

#[test]
fn bpa_stages_meta_args() {
    let text = "ARG TAG=1.36\nARG IMG=busybox:$TAG\nARG UNSET\nFROM --platform=$BUILDPLATFORM $IMG AS a\n\
                RUN true\nENV BEFORE=\"[$TAG]\"\nARG TAG\nENV AFTER=\"[$TAG]\"\nARG UNSET\nENV U=\"[${UNSET-unset}]\"\n";
    let plan = plan_of(text, None, &[]).unwrap();
    assert_eq!(plan.target().base, Base::Image("busybox:1.36".into()));
    assert_eq!(plan.target().platform.as_deref(), Some("linux/amd64"));
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("BEFORE").as_deref(), Some("[]"), "meta ARGs are FROM-only until declared again");
    assert_eq!(scope.lookup("AFTER").as_deref(), Some("[1.36]"));
    assert_eq!(scope.lookup("U").as_deref(), Some("[unset]"));
    // A build arg overrides the meta default, in FROM and in the stage.
    let plan = plan_of(text, None, &[("TAG", "musl")]).unwrap();
    assert_eq!(plan.target().base, Base::Image("busybox:musl".into()));
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("AFTER").as_deref(), Some("[musl]"));
    assert_eq!(plan.meta_args[0], ("TAG".to_string(), Some("musl".to_string())));
}

#[test]
fn bpa_stages_platform_args() {
    let text = "FROM --platform=$BUILDPLATFORM a\nENV BEFORE=\"[$TARGETARCH]\"\nARG TARGETARCH TARGETPLATFORM\nENV AFTER=$TARGETARCH-$TARGETPLATFORM\n";
    let opts = PlanOptions { platform: "linux/arm64/v8".into(), ..PlanOptions::default() };
    let plan = plan(&parse(text).unwrap(), &opts).unwrap();
    assert_eq!(plan.target().platform.as_deref(), Some("linux/arm64/v8"));
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("BEFORE").as_deref(), Some("[]"));
    assert_eq!(scope.lookup("AFTER").as_deref(), Some("arm64-linux/arm64/v8"));
}

#[test]
fn bpa_stages_build_and_target_platform_args_differ_when_building_for_another_platform() {
    let text = "FROM --platform=$BUILDPLATFORM a\nARG BUILDPLATFORM TARGETPLATFORM TARGETARCH TARGETVARIANT\nENV B=$BUILDPLATFORM T=$TARGETPLATFORM A=$TARGETARCH V=[$TARGETVARIANT]\n";
    let opts = PlanOptions {
        platform: "linux/arm/v7".into(),
        build_platform: Some("linux/amd64".into()),
        ..PlanOptions::default()
    };
    let plan = plan(&parse(text).unwrap(), &opts).unwrap();
    assert_eq!(plan.target().platform.as_deref(), Some("linux/amd64"), "FROM --platform=$BUILDPLATFORM");
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("B").as_deref(), Some("linux/amd64"));
    assert_eq!(scope.lookup("T").as_deref(), Some("linux/arm/v7"));
    assert_eq!(scope.lookup("A").as_deref(), Some("arm"));
    assert_eq!(scope.lookup("V").as_deref(), Some("[v7]"));
}

#[test]
fn bpa_stages_env_beats_arg() {
    let plan = plan_of("FROM a\nARG X=arg\nENV X=env\nARG Y=arg\nENV Z=$X-$Y\n", None, &[]).unwrap();
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("Z").as_deref(), Some("env-arg"));
    let plan = plan_of("FROM a\nENV X=env\nARG X=arg\nENV Z=$X\n", None, &[("X", "build")]).unwrap();
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("Z").as_deref(), Some("env"));
    assert_eq!(scope.run_env(), ["X=env", "Z=env"], "the ARG is shadowed in RUN's environment too");
    // ARGs reach RUN's environment but not the image's.
    let plan = plan_of("FROM a\nARG A=1\nENV B=2\n", None, &[]).unwrap();
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!((scope.env(), scope.run_env()), (vec!["B=2".to_string()], vec!["B=2".to_string(), "A=1".to_string()]));
}

#[test]
fn bpa_stages_same_instruction_rule() {
    let plan = plan_of("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n", None, &[]).unwrap();
    let (scope, steps) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("def").as_deref(), Some("hello"));
    assert_eq!(scope.lookup("ghi").as_deref(), Some("bye"));
    assert_eq!(
        steps[1].instruction,
        Instruction::Env(vec![
            KeyValue { key: "abc".into(), value: "bye".into() },
            KeyValue { key: "def".into(), value: "hello".into() },
        ])
    );
    // ARG is read one name at a time.
    let plan = plan_of("FROM a\nARG a=1 b=$a\n", None, &[]).unwrap();
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("b").as_deref(), Some("1"));
}

#[test]
fn bpa_stages_expansion_per_instruction() {
    let text = "FROM a\nENV D=/data P=80 U=app M=cache S=SIGTERM O=75\nWORKDIR $D\nUSER ${U}:${U}\nEXPOSE $P \"$P/udp\"\n\
                VOLUME $D/v\nSTOPSIGNAL $S\nLABEL \"k\"=\"$U\"\nCOPY --chown=$U --chmod=0${O}5 $D/src ${D}/dst\n\
                RUN --mount=type=$M,target=$D/cache echo $D\nCMD echo $D\nCOPY <<A <<'B' /x/\n$U\nA\n$U\nB\n";
    let plan = plan_of(text, None, &[]).unwrap();
    let (_, steps) = expand_target(&plan).unwrap();
    let got: Vec<&Instruction> = steps.iter().map(|s| &s.instruction).collect();
    assert_eq!(got[1], &Instruction::Workdir("/data".into()));
    assert_eq!(got[2], &Instruction::User("app:app".into()));
    // Sorted as written (before expansion), as BuildKit does, then made `ExposedPorts` keys.
    assert_eq!(got[3], &Instruction::Expose(vec!["80/udp".into(), "80/tcp".into()]));
    assert_eq!(got[4], &Instruction::Volume(vec!["/data/v".into()]));
    assert_eq!(got[5], &Instruction::StopSignal("SIGTERM".into()));
    assert_eq!(got[6], &Instruction::Label(vec![KeyValue { key: "k".into(), value: "app".into() }]));
    let Instruction::Copy(copy) = got[7] else { panic!() };
    assert_eq!(
        (copy.sources.clone(), copy.dest.as_str(), copy.chown.as_deref(), copy.chmod.as_deref()),
        (vec!["/data/src".to_string()], "/data/dst", Some("app"), Some("0755"))
    );
    let Instruction::Run(run) = got[8] else { panic!() };
    assert_eq!(run.command.args, ["echo $D"], "RUN's command is the shell's to expand");
    assert_eq!(
        (steps[8].mounts[0].kind, steps[8].mounts[0].target.as_deref()),
        (crate::build::instructions::MountKind::Cache, Some("/data/cache"))
    );
    let Instruction::Cmd(cmd) = got[9] else { panic!() };
    assert_eq!(cmd.args, ["echo $D"]);
    let Instruction::Copy(copy) = got[10] else { panic!() };
    assert_eq!((copy.inline[0].data.as_str(), copy.inline[1].data.as_str()), ("app\n", "$U\n"));
}

#[test]
fn bpa_stages_expansion_errors_name_line_and_instruction() {
    let plan = plan_of("FROM a\n\nWORKDIR ${W:?set W}\n", None, &[]).unwrap();
    let err = expand_target(&plan).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:3: WORKDIR: failed to process \"${W:?set W}\": W: set W");
    let plan = plan_of("FROM a\nCOPY http://x/y /z\n", None, &[]).unwrap();
    assert!(expand_target(&plan).unwrap_err().to_string().contains("source can't be a URL for COPY"));
    let plan = plan_of("FROM a\nENV M=bogus\nRUN --mount=type=$M,target=/x true\n", None, &[]).unwrap();
    assert!(expand_target(&plan).unwrap_err().to_string().contains("unsupported mount type \"bogus\""));
    let plan = plan_of("FROM a\nCOPY --chmod=$NONE a b\n", None, &[]).unwrap();
    assert!(expand_target(&plan).unwrap_err().to_string().contains("invalid chmod parameter"));
}

#[test]
fn bpa_stages_base_environment() {
    let plan = plan_of("FROM golang\nWORKDIR $GOPATH/src\nENV PATH=/x:$PATH\n", None, &[]).unwrap();
    let mut scope = Scope::new(&plan, &["PATH=/usr/bin".to_string(), "GOPATH=/go".to_string()]);
    let steps: Vec<Step> = plan.target().steps.iter().map(|s| scope.expand(s).unwrap()).collect();
    assert_eq!(steps[0].instruction, Instruction::Workdir("/go/src".into()));
    assert_eq!(scope.env(), ["PATH=/x:/usr/bin", "GOPATH=/go"]);
}

#[test]
fn bpa_stages_escape_token_in_expansion() {
    let plan = plan_of("# escape=`\nFROM a\nENV A=1\nENV B=`$A-$A\n", None, &[]).unwrap();
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.lookup("B").as_deref(), Some("$A-1"));
}

#[test]
fn bpa_stages_target_stage_arg() {
    // Re-expressed from BuildKit's testTargetStageNameArg.
    let text = "FROM alpine AS base\nENV FIRST=value:$TARGETSTAGE\nARG TARGETSTAGE\nENV SECOND=value:$TARGETSTAGE\n\
                FROM scratch AS foo\nCOPY --from=base /out/ /\nFROM scratch\nCOPY --from=base /out/ /\n";
    let second = |text: &str, target: Option<&str>| {
        let plan = plan_of(text, target, &[]).unwrap();
        let base = plan.stage(0).unwrap().clone();
        let mut scope = Scope::new(&plan, &[]);
        for step in &base.steps {
            scope.expand(step).unwrap();
        }
        (scope.lookup("FIRST").unwrap(), scope.lookup("SECOND").unwrap())
    };
    assert_eq!(second(text, Some("foo")), ("value:".to_string(), "value:foo".to_string()));
    assert_eq!(second(text, None).1, "value:default");
    let named = format!("{text}FROM scratch AS final\nCOPY --from=base /out/ /\n");
    assert_eq!(second(&named, None).1, "value:final");
}

#[test]
fn bpa_stages_default_env_with_args() {
    // Re-expressed from BuildKit's testDefaultEnvWithArgs: old-form ENV, quotes, `%%` and ENV over ARG.
    let text = "ARG image=idlebox\nFROM busy${image#idle} AS build\nARG my_arg\n\
                ENV my_arg \"my_arg=${my_arg:-def_val}\"\nENV my_trimmed_arg \"${my_arg%%e*}\"\n";
    for (args, want) in [
        (&[][..], ("my_arg=def_val", "my_arg=d")),
        (&[("my_arg", "")], ("my_arg=def_val", "my_arg=d")),
        (&[("my_arg", "override")], ("my_arg=override", "my_arg=ov")),
    ] {
        let plan = plan_of(text, None, args).unwrap();
        assert_eq!(plan.target().base, Base::Image("busybox".into()));
        let (scope, _) = expand_target(&plan).unwrap();
        assert_eq!(
            (scope.lookup("my_arg").unwrap().as_str(), scope.lookup("my_trimmed_arg").unwrap().as_str()),
            want,
            "{args:?}"
        );
    }
}

#[test]
fn bpa_stages_arg_default_errors() {
    // Re-expressed from BuildKit's testGlobalArgErrors and testArgDefaultExpansion.
    let err = plan_of("ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n", None, &[]).unwrap_err();
    assert!(err.to_string().contains("FOO: custom error"), "{err}");
    assert!(plan_of("ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n", None, &[("FOO", "bar")]).is_ok());
    let text = "FROM scratch\nARG FOO\nARG BAR=${FOO:?\"foo missing\"}\n";
    let err = expand_target(&plan_of(text, None, &[]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("FOO: foo missing"), "{err}");
    assert!(expand_target(&plan_of(text, None, &[("FOO", "123")]).unwrap()).is_ok());
    assert!(expand_target(&plan_of(text, None, &[("BAR", "123")]).unwrap()).is_ok());
}

#[test]
fn bpa_stages_multi_args() {
    // Re-expressed from BuildKit's testMultiArgs and testQuotedMetaArgs.
    let text = "ARG a1=\"foo bar\" a2=box\nARG a3=\"$a2-foo\"\nFROM busy$a2 AS build\nARG a3 a4=\"123 456\" a1\n";
    let plan = plan_of(text, None, &[]).unwrap();
    assert_eq!(plan.target().base, Base::Image("busybox".into()));
    let (scope, _) = expand_target(&plan).unwrap();
    assert_eq!(scope.run_env(), ["a3=box-foo", "a4=123 456", "a1=foo bar"]);
    let text = "ARG a1=\"box\"\nARG a2=\"$a1-foo\"\nFROM busy$a1 AS build\nARG a2\nARG a3=\"bar-$a2\"\n";
    let (scope, _) = expand_target(&plan_of(text, None, &[]).unwrap()).unwrap();
    assert_eq!(scope.lookup("a3").as_deref(), Some("bar-box-foo"));
}

#[test]
fn bpa_stages_copy_heredoc_expansion() {
    // Re-expressed from BuildKit's testHeredocVarSubstitution and testCopyHeredocSpecialSymbols.
    let text = "FROM busybox as build\nARG name=world\n\
COPY <<EOF /dest/c1\nHello ${name}!\nEOF\nCOPY <<'EOF' /dest/c2\nHello ${name}!\nEOF\n\
COPY <<\"EOF\" /dest/c3\nHello ${name}!\nEOF\nCOPY <<EOF /dest/q1\nHello '${name}'!\nEOF\n\
COPY <<EOF /dest/q2\nHello \"${name}\"!\nEOF\nCOPY <<'EOF' /dest/qsingle1\nHello '${name}'!\nEOF\n\
COPY <<'EOF' /dest/qsingle2\nHello \"${name}\"!\nEOF\nCOPY <<\"EOF\" /dest/qdouble1\nHello '${name}'!\nEOF\n\
COPY <<\"EOF\" /dest/qdouble2\nHello \"${name}\"!\nEOF\n\
COPY <<EOF quotefile\n\"quotes in file\"\nEOF\nCOPY <<EOF slashfile1\n\\\nEOF\nCOPY <<EOF slashfile2\n\\\\\nEOF\n\
COPY <<EOF slashfile3\n\\$\nEOF\nCOPY <<\"EOF\" rawslashfile1\n\\\nEOF\nCOPY <<\"EOF\" rawslashfile2\n\\\\\nEOF\n\
COPY <<\"EOF\" rawslashfile3\n\\$\nEOF\n";
    let want = [
        ("/dest/c1", "Hello world!\n"),
        ("/dest/c2", "Hello ${name}!\n"),
        ("/dest/c3", "Hello ${name}!\n"),
        ("/dest/q1", "Hello 'world'!\n"),
        ("/dest/q2", "Hello \"world\"!\n"),
        ("/dest/qsingle1", "Hello '${name}'!\n"),
        ("/dest/qsingle2", "Hello \"${name}\"!\n"),
        ("/dest/qdouble1", "Hello '${name}'!\n"),
        ("/dest/qdouble2", "Hello \"${name}\"!\n"),
        ("quotefile", "\"quotes in file\"\n"),
        ("slashfile1", "\n"),
        ("slashfile2", "\\\n"),
        ("slashfile3", "$\n"),
        ("rawslashfile1", "\\\n"),
        ("rawslashfile2", "\\\\\n"),
        ("rawslashfile3", "\\$\n"),
    ];
    let (_, steps) = expand_target(&plan_of(text, None, &[]).unwrap()).unwrap();
    let got: Vec<(String, String)> = steps
        .iter()
        .filter_map(|s| match &s.instruction {
            Instruction::Copy(c) => Some((c.dest.clone(), c.inline[0].data.clone())),
            _ => None,
        })
        .collect();
    let want: Vec<(String, String)> = want.iter().map(|(d, c)| (d.to_string(), c.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn bpa_stages_buildkit_multistage_cases() {
    // Re-expressed from BuildKit's dockerfile_multistage_test.go.
    let plan = plan_of("FROM scratch\nCOPY --from=busybox /etc/passwd test\n", None, &[]).unwrap();
    assert_eq!(plan.target().images, ["busybox"], "an unknown --from is an image");
    let plan = plan_of(
        "FROM scratch AS STAge0\nCOPY foo bar\nFROM scratch AS staGE1\nCOPY --from=staGE0 bar baz\nFROM scratch\nCOPY --from=stage1 baz bax\n",
        None,
        &[],
    )
    .unwrap();
    assert_eq!(indexes(&plan), [0, 1, 2]);
    assert_eq!(plan.stage(0).unwrap().name.as_deref(), Some("stage0"));
    for src in ["/", "/d2"] {
        let text = format!(
            "FROM busybox AS target\nCOPY --from=build {src} /out\nFROM alpine AS build\nCOPY /Dockerfile /d2\nFROM target\n"
        );
        let err = plan_of(&text, None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("cannot copy from stage") && err.contains("needs to be defined before current stage"),
            "{err}"
        );
    }
    assert_eq!(plan_of("ARG foo=bar", None, &[]).unwrap_err().to_string(), "dockerfile contains no stages to build");
}

#[test]
fn bpa_stages_add_checksum() {
    let sum = format!("sha256:{}", "a".repeat(64));
    let ok = format!("FROM a\nARG SUM={sum}\nADD --checksum=$SUM https://x/y.tgz /y\n");
    let (_, steps) = expand_target(&plan_of(&ok, None, &[]).unwrap()).unwrap();
    let Instruction::Add(add) = &steps[1].instruction else { panic!() };
    assert_eq!(add.checksum.as_deref(), Some(sum.as_str()));
    for (text, want) in [
        (format!("FROM a\nADD --checksum={sum} a b /y\n"), "checksum can't be specified for multiple sources"),
        (format!("FROM a\nADD --checksum={sum} local.tgz /y\n"), "checksum requires HTTP(S) or Git sources"),
        ("FROM a\nADD --checksum=abc https://x/y /y\n".to_string(), "invalid checksum digest format"),
        ("FROM a\nADD --checksum=md5:abc https://x/y /y\n".to_string(), "unsupported digest algorithm"),
        ("FROM a\nADD --checksum=sha256:abc https://x/y /y\n".to_string(), "invalid checksum digest length"),
    ] {
        let err = expand_target(&plan_of(&text, None, &[]).unwrap()).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn bpa_stages_stopsignal_and_platform_checks() {
    let (_, steps) = expand_target(&plan_of("FROM a\nARG S=sigusr1\nSTOPSIGNAL $S\n", None, &[]).unwrap()).unwrap();
    assert_eq!(steps[1].instruction, Instruction::StopSignal("sigusr1".into()));
    let err = expand_target(&plan_of("FROM a\nSTOPSIGNAL SIGBOGUS\n", None, &[]).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:2: STOPSIGNAL: invalid signal: SIGBOGUS");
    let err = plan_of("FROM --platform=$NOPE a\n", None, &[]).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:1: FROM: empty platform value from expression $NOPE");
}
