//! The template subset against Go's own output: (template, data, expected) tables.

use serde_json::{Value, json};

use super::{Missing, Template};

fn render(template: &str, data: &Value) -> String {
    let t = Template::parse(template).unwrap_or_else(|e| panic!("{template:?} does not parse: {e}"));
    t.render(data).unwrap_or_else(|e| panic!("{template:?} fails: {e}"))
}

fn parse_error(template: &str) -> String {
    match Template::parse(template) {
        Ok(_) => panic!("{template:?} should not parse"),
        Err(e) => e.to_string(),
    }
}

fn run_error(template: &str, data: &Value) -> String {
    let t = Template::parse(template).unwrap_or_else(|e| panic!("{template:?} does not parse: {e}"));
    match t.render(data) {
        Ok(out) => panic!("{template:?} should fail, printed {out:?}"),
        Err(e) => e.to_string(),
    }
}

fn container() -> Value {
    json!({
        "Id": "0123456789abcdef",
        "Name": "/web",
        "Args": ["-c", "echo hi"],
        "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0, "Health": null},
        "Config": {"Labels": {"a.b": "c", "z": "1"}, "Env": ["A=1", "B=2"], "Cmd": ["sh"]},
        "NetworkSettings": {"Networks": {
            "front": {"IPAddress": "10.1.0.2"},
            "back": {"IPAddress": "10.2.0.2"},
        }},
        "Ratio": 0.25,
        "Big": 1234567.0,
        "Empty": [],
        "Nothing": null,
    })
}

#[test]
fn dockers_documented_examples() {
    let data = container();
    for (template, want) in [
        ("{{.State.Running}}", "true"),
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.2.0.210.1.0.2"),
        ("{{json .Config}}", r#"{"Cmd":["sh"],"Env":["A=1","B=2"],"Labels":{"a.b":"c","z":"1"}}"#),
        ("{{join .Args \" , \"}}", "-c , echo hi"),
        ("{{index .Config.Labels \"a.b\"}}", "c"),
        ("{{upper .Name}}", "/WEB"),
        ("{{lower \"ABC\"}} {{title \"hello big-world\"}}", "abc Hello Big-World"),
        ("{{split \"a,b,c\" \",\"}}", "[a b c]"),
        ("{{len .Args}} {{len .Config.Labels}} {{len \"héllo\"}}", "2 2 6"),
        ("{{println .State.Pid}}", "4242\n"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a.b=c;z=1;"),
        ("{{.Id | printf \"%.5s\"}}", "01234"),
        ("{{truncate .Id 4}}|{{pad \"x\" 1 2}}|{{pad \"\" 1 2}}", "0123| x  |"),
    ] {
        assert_eq!(render(template, &data), want, "{template}");
    }
    let row = json!({"ID": "0123456789ab", "Names": "web"});
    assert_eq!(render("{{.ID}}: {{.Names}}", &row), "0123456789ab: web");
}

#[test]
fn values_print_as_go_prints_them() {
    let data = container();
    for (template, want) in [
        (
            "{{.}}",
            "map[Args:[-c echo hi] Big:1.234567e+06 Config:map[Cmd:[sh] Env:[A=1 B=2] Labels:map[a.b:c z:1]] Empty:[] Id:0123456789abcdef Name:/web NetworkSettings:map[Networks:map[back:map[IPAddress:10.2.0.2] front:map[IPAddress:10.1.0.2]]] Nothing:<nil> Ratio:0.25 State:map[ExitCode:0 Health:<nil> Pid:4242 Running:true Status:running]]",
        ),
        ("{{.Args}}", "[-c echo hi]"),
        ("{{.Config.Labels}}", "map[a.b:c z:1]"),
        ("{{.Nope}}", "<no value>"),
        ("{{.Nope.Deeper}}", "<no value>"),
        ("{{.Nothing}}", "<nil>"),
        ("{{.Ratio}} {{.Big}} {{1.5}} {{1e3}} {{0.00001}} {{100000.0}}", "0.25 1.234567e+06 1.5 1000 1e-05 100000"),
        ("{{42}} {{-7}} {{0x1F}} {{'a'}} {{true}} {{\"s\"}} {{`raw\\n`}}", "42 -7 31 97 true s raw\\n"),
        ("{{index .Config.Labels \"missing\"}}", "<no value>"),
        ("{{.Empty}}", "[]"),
    ] {
        assert_eq!(render(template, &data), want, "{template}");
    }
}

#[test]
fn control_structures() {
    let data = container();
    for (template, want) in [
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Empty}}x{{else if .Nothing}}y{{else if .Args}}z{{end}}", "z"),
        ("{{if not .Empty}}empty{{end}}", "empty"),
        ("{{with .State}}{{.Status}}/{{$.Name}}{{end}}", "running//web"),
        ("{{with .Nope}}x{{else}}none{{end}}", "none"),
        ("{{with .Nope}}x{{else with .State.Pid}}{{.}}{{end}}", "4242"),
        ("{{range .Args}}[{{.}}]{{end}}", "[-c][echo hi]"),
        ("{{range $i, $a := .Args}}{{$i}}:{{$a}} {{end}}", "0:-c 1:echo hi "),
        ("{{range $a := .Args}}{{$a}},{{end}}", "-c,echo hi,"),
        ("{{range .Empty}}x{{else}}no args{{end}}", "no args"),
        ("{{range .Nope}}x{{else}}nil ranges as empty{{end}}", "nil ranges as empty"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{$n := len .Args}}{{$n}} {{$n = 5}}{{$n}}", "2 5"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{if $v := .State.Status}}{{$v}}{{end}}", "running"),
        ("{{range .Args}}{{$.Name}}{{end}}", "/web/web"),
        ("a  {{- 1 -}}  b\n{{- /* gone */ -}}\n c", "a1bc"),
        ("{{/* a comment */}}x", "x"),
        ("{{range .Args -}}\n  <{{.}}>\n{{- end}}", "<-c><echo hi>"),
        ("{{if false}}a{{- else -}}  b  {{end}}", "b  "),
        ("{{- /* both sides */ -}}  x", "x"),
        ("{{(index .Args 1)}} {{(.State).Status}} {{(len .Args) | printf \"%03d\"}}", "echo hi running 002"),
        ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 false}}", "0 2 x false"),
        ("{{and .Nope .Nope.Fail}}", "<no value>"),
    ] {
        assert_eq!(render(template, &data), want, "{template}");
    }
}

#[test]
fn comparisons_and_builtins() {
    let data = container();
    for (template, want) in [
        ("{{eq .State.Status \"running\"}} {{eq 1 2 3 1}} {{ne 1 2}}", "true true true"),
        ("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2.5}}", "true true true false"),
        ("{{eq .Nope \"x\"}} {{ne .Nothing \"x\"}}", "false true"),
        ("{{index .Args 1}} {{index .Config.Labels \"z\"}} {{index . \"State\" \"Pid\"}}", "echo hi 1 4242"),
        ("{{slice \"abcdef\" 1 3}} {{slice .Args 1}}", "bc [echo hi]"),
        ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
        ("{{println 1 \"a\"}}", "1 a\n"),
        ("{{printf \"%s|%5s|%-5s|%q\" \"a\" \"b\" \"c\" \"d\\\"\"}}", "a|    b|c    |\"d\\\"\""),
        ("{{printf \"%d|%5d|%-4d|%05d|%+d|%x|%X\" 1 2 3 -4 5 255 255}}", "1|    2|3   |-0004|+5|ff|FF"),
        ("{{printf \"%v %v %v %t\" .Args .Config.Labels .Nothing true}}", "[-c echo hi] map[a.b:c z:1] <nil> true"),
        (
            "{{printf \"%.2f|%8.3f|%f|%e|%g\" 3.14159 2.5 1.0 1234.5 0.000012}}",
            "3.14|   2.500|1.000000|1.234500e+03|1.2e-05",
        ),
        ("{{printf \"%d %s\" \"x\"}}", "%!d(string=x) %!s(MISSING)"),
        ("{{printf \"%d\" 1 2}}", "1%!(EXTRA int=2)"),
        ("{{printf \"100%%\"}}", "100%"),
        ("{{json .Args}} {{json .Nope}} {{json \"<&>\"}}", r#"["-c","echo hi"] null "<&>""#),
        (
            "{{json .Big}} {{json .Ratio}} {{json 1e21}} {{json 0.0000001}} {{json .State}}",
            r#"1234567 0.25 1e+21 1e-7 {"ExitCode":0,"Health":null,"Pid":4242,"Running":true,"Status":"running"}"#,
        ),
    ] {
        assert_eq!(render(template, &data), want, "{template}");
    }
}

#[test]
fn unsupported_and_malformed_templates_name_what_and_where() {
    for (template, want) in [
        ("{{define \"x\"}}{{end}}", "template: :1:1: {{define}} is not supported by berth's templates"),
        ("a\n  {{template \"x\"}}", "template: :2:3: {{template}} is not supported"),
        ("{{block \"x\" .}}{{end}}", "{{block}} is not supported"),
        ("{{.A | nosuch}}", "template: :1:8: function \"nosuch\" not defined"),
        ("{{html .}}", "function \"html\" is not supported by berth's templates"),
        ("{{.Name", "unclosed action"),
        ("{{if .A}}x", "{{if}} has no {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{$x}}", "undefined variable \"$x\""),
        ("{{\"abc}}", "unterminated quoted string"),
        ("{{/* open", "unclosed comment"),
        ("{{.A | }}", "missing command after |"),
        ("{{}}", "missing value for command"),
        ("{{(1}}", "unclosed left paren"),
        ("{{3x}}", "bad number syntax"),
    ] {
        let err = parse_error(template);
        assert!(err.contains(want), "{template:?}: {err:?} lacks {want:?}");
    }
}

#[test]
fn run_errors_name_the_field_or_function() {
    let data = container();
    for (template, want) in [
        ("{{.Name.First}}", "executing at <.Name.First>: can't evaluate field First in type string"),
        ("{{.Nothing.Field}}", "nil pointer evaluating interface {}.Field"),
        ("{{upper .Args}}", "executing at <upper>: upper: wrong type for value; expected string; got []interface {}"),
        ("{{upper .Nope}}", "upper: invalid value; expected string"),
        ("{{index .Args 5}}", "index out of range: 5"),
        ("{{index .Nope 1}}", "index of untyped nil"),
        ("{{len 3}}", "len of type int"),
        ("{{lt 1 \"a\"}}", "incompatible types for comparison"),
        ("{{eq .Args .Args}}", "non-comparable type"),
        ("{{.Name 1}}", "Name is not a method but has arguments"),
        ("{{\"x\" | 1}}", "can't give argument to non-function"),
        ("{{range .Name}}{{end}}", "range can't iterate over /web"),
        ("{{truncate .Name \"x\"}}", "truncate: wrong type for value; expected int; got string"),
        ("{{upper 1 2}}", "wrong number of args for upper: want 1 got 2"),
    ] {
        let err = run_error(template, &data);
        assert!(err.contains(want), "{template:?}: {err:?} lacks {want:?}");
    }
    let strict = Template::parse("x {{.Nope}}").unwrap().render_with(&data, Missing::Error, None).unwrap_err();
    assert_eq!(strict.to_string(), "template: :1:5: executing at <.Nope>: can't evaluate field Nope");
}

#[test]
fn header_rendering_passes_titles_through_dockers_header_functions() {
    let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
    let t = Template::parse("{{.ID}}\t{{upper .Names}}\t{{truncate .ID 3}}\t{{.Other}}|{{pad .Names 1 1}}").unwrap();
    assert_eq!(t.render_header(&headers), "CONTAINER ID\tNAMES\tCONTAINER ID\t| NAMES ");
}

#[test]
fn methods_take_arguments() {
    fn shout(receiver: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Shout").then(|| match (&receiver["Name"], args) {
            (Value::String(n), [Value::String(suffix)]) => Ok(Value::from(format!("{}{suffix}", n.to_uppercase()))),
            _ => Err("Shout takes one string".into()),
        })
    }
    let data = container();
    let t = Template::parse("{{.Shout \"!\"}} {{\"?\" | .Shout}} {{.State.Status}}").unwrap();
    assert_eq!(t.render_with(&data, Missing::NoValue, Some(shout)).unwrap(), "/WEB! /WEB? running");
    let t = Template::parse("{{.Whisper 1}}").unwrap();
    let err = t.render_with(&data, Missing::NoValue, Some(shout)).unwrap_err().to_string();
    assert!(err.contains("Whisper is not a method but has arguments"), "{err}");
}
