//! Templating, the way Ansible users write it: typed single expressions,
//! strict undefined variables that point into the playbook, Ansible's
//! `default`/`is defined` idioms, Python methods, Ansible filters and tests,
//! static analysis for `validate`, and secrets that never leak.

use std::time::Instant;

use dtrplay::error::InputError;
use dtrplay::secret::{MASK, is_secret_name};
use dtrplay::source::SourceFile;
use dtrplay::template::{HostTable, Templates, Vars};
use dtrplay::yaml::{self, Node};
use serde_json::{Value, json};

use crate::harness::unindent;

fn vars(value: Value) -> Vars {
    match value {
        Value::Object(map) => Vars::templates(&map),
        _ => Vars::new(),
    }
}

fn render(text: &str, v: Value) -> Value {
    Templates::new()
        .render_str(text, &vars(v))
        .unwrap_or_else(|e| panic!("{text} failed: {e}"))
}

fn render_err(text: &str, v: Value) -> String {
    match Templates::new().render_str(text, &vars(v)) {
        Ok(value) => panic!("{text} rendered {value} instead of failing"),
        Err(e) => e.message,
    }
}

fn eval(expr: &str, v: Value) -> Value {
    Templates::new()
        .eval_str(expr, &vars(v))
        .unwrap_or_else(|e| panic!("{expr} failed: {e}"))
}

fn playbook(text: &str) -> Node {
    let src = SourceFile::new("site.yml", unindent(text));
    yaml::parse(&src).expect("the test playbook is valid YAML")
}

/// The value under `key` of the first task.
fn task_value(doc: &Node, key: &str) -> Node {
    let task = &doc.as_seq().expect("a list of tasks")[0];
    task.get(key).expect("the key is in the task").clone()
}

fn report(err: &InputError) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, err)
        .expect("the report renders");
    out
}

#[test]
fn a_single_expression_keeps_its_type() {
    let v = json!({"ports": [80, 443], "n": 3, "tls": true, "cfg": {"a": 1}});
    assert_eq!(render("{{ ports }}", v.clone()), json!([80, 443]));
    assert_eq!(render("{{ n * 2 }}", v.clone()), json!(6));
    assert_eq!(render("{{ tls }}", v.clone()), json!(true));
    assert_eq!(render("{{ cfg }}", v.clone()), json!({"a": 1}));
    assert_eq!(render("{{- n -}}", v.clone()), json!(3));
    // Anything else is text, with Python's spelling of booleans and None.
    assert_eq!(render("port {{ n }}", v.clone()), json!("port 3"));
    assert_eq!(render("tls={{ tls }}", v.clone()), json!("tls=True"));
    assert_eq!(render("[{{ none }}]", json!({"none": null})), json!("[]"));
    assert_eq!(render("no template", v), json!("no template"));
}

#[test]
fn blocks_and_loops_render_as_in_ansible() {
    let v = json!({"hosts": ["a", "b"]});
    let text = "{% for h in hosts %}\n{{ h }}\n{% endfor %}\n";
    assert_eq!(render(text, v), json!("a\nb\n"));
}

#[test]
fn variables_holding_templates_render_where_they_are_used() {
    let v = json!({
        "dtr_host": "dtr.example.com",
        "dtr_url": "https://{{ dtr_host }}",
        "endpoints": ["{{ dtr_url }}/api/v0", "{{ dtr_url }}/v2/"],
    });
    assert_eq!(
        render("{{ endpoints }}", v),
        json!([
            "https://dtr.example.com/api/v0",
            "https://dtr.example.com/v2/"
        ])
    );
}

#[test]
fn undefined_variables_are_errors_pointing_into_the_playbook() {
    let doc = playbook(
        r#"
        - name: push
          shell: "docker push {{ dtr_hots }}/{{ image }}:latest"
        "#,
    );
    let node = task_value(&doc, "shell");
    let err = Templates::new()
        .render_node(&node, &vars(json!({"dtr_host": "dtr", "image": "x"})))
        .expect_err("dtr_hots is undefined");
    assert_eq!(node.src.slice(err.span), "dtr_hots");
    insta::assert_snapshot!("undefined_in_double_quoted_scalar", report(&err));
}

#[test]
fn errors_in_plain_and_block_scalars_point_at_the_expression() {
    let doc = playbook(
        r#"
        - name: plain
          debug: msg={{ ucp.url }}
          copy:
            content: |
              [registry]
              url = {{ dtr_url | upper }}
              ca = {{ ca_path }}
        "#,
    );
    let t = Templates::new();
    let v = vars(json!({"ucp": {"user": "admin"}, "dtr_url": "https://dtr"}));
    let err = t
        .render_node(&task_value(&doc, "debug"), &v)
        .expect_err("ucp has no url");
    insta::assert_snapshot!("missing_attribute_in_plain_scalar", report(&err));
    let err = t
        .render_node(&task_value(&doc, "copy"), &v)
        .expect_err("ca_path is undefined");
    insta::assert_snapshot!("undefined_in_block_scalar", report(&err));
}

#[test]
fn conditions_are_bare_expressions() {
    let doc = playbook(
        r#"
        - name: check
          when: dtr_version is version('2.7', '>=') and not skip_push
          failed_when: result.rc != 0 and reslt.stderr != ''
          changed_when: false
        "#,
    );
    let t = Templates::new();
    let v = vars(json!({"dtr_version": "2.7.6", "skip_push": false, "result": {"rc": 1}}));
    assert_eq!(
        t.eval_node(&task_value(&doc, "when"), &v).ok(),
        Some(json!(true))
    );
    assert_eq!(
        t.eval_node(&task_value(&doc, "changed_when"), &v).ok(),
        Some(json!(false))
    );
    let err = t
        .eval_node(&task_value(&doc, "failed_when"), &v)
        .expect_err("reslt is a typo");
    assert_eq!(
        err.src
            .inner()
            .get(err.span.offset()..err.span.offset() + 5),
        Some("reslt")
    );
    insta::assert_snapshot!("typo_in_condition", report(&err));
    // Ansible tolerates braces around a condition.
    assert_eq!(eval("{{ 1 < 2 }}", json!({})), json!(true));
}

#[test]
fn default_and_is_defined_work_as_in_ansible() {
    let v = json!({"foo": {"x": 1}, "empty": "", "zero": 0});
    assert_eq!(render("{{ nope | default('z') }}", v.clone()), json!("z"));
    assert_eq!(render("{{ nope | d('z') }}", v.clone()), json!("z"));
    assert_eq!(
        render("{{ foo.bar | default('z') }}", v.clone()),
        json!("z")
    );
    assert_eq!(
        render("{{ nope.bar.baz | default('z') }}", v.clone()),
        json!("z")
    );
    assert_eq!(
        render("{{ nope['a'][0] | default(7) }}", v.clone()),
        json!(7)
    );
    assert_eq!(
        render("{{ empty | default('z', true) }}", v.clone()),
        json!("z")
    );
    assert_eq!(render("{{ zero | default(5, true) }}", v.clone()), json!(5));
    assert_eq!(render("{{ foo.x | default(5) }}", v.clone()), json!(1));
    assert_eq!(eval("nope is defined", v.clone()), json!(false));
    assert_eq!(eval("nope is undefined", v.clone()), json!(true));
    assert_eq!(eval("foo.bar is defined", v.clone()), json!(false));
    assert_eq!(eval("nope.bar is not defined", v.clone()), json!(true));
    assert_eq!(eval("(nope.bar) is defined", v.clone()), json!(false));
    assert_eq!(
        eval("foo.x is defined and foo.x == 1", v.clone()),
        json!(true)
    );
    // Unguarded uses still fail.
    assert_eq!(
        render_err("{{ nope.bar }}", v.clone()),
        "`nope` is undefined"
    );
    assert_eq!(
        render_err("{{ foo.bar }}", v.clone()),
        "`foo.bar` is undefined"
    );
    assert_eq!(
        render_err("{{ nope.bar | upper }}", v),
        "`nope` is undefined"
    );
}

#[test]
fn python_methods() {
    let v = json!({"csv": "a, b ,c", "d": {"k": "v"}, "name": "DTR-01"});
    assert_eq!(
        render("{{ 'a,b'.split(',') }}", v.clone()),
        json!(["a", "b"])
    );
    assert_eq!(render("{{ name.lower() }}", v.clone()), json!("dtr-01"));
    assert_eq!(render("{{ name.upper() }}", v.clone()), json!("DTR-01"));
    assert_eq!(
        render("{{ name.startswith('DTR') }}", v.clone()),
        json!(true)
    );
    assert_eq!(render("{{ name.endswith('01') }}", v.clone()), json!(true));
    assert_eq!(render("{{ '  x  '.strip() }}", v.clone()), json!("x"));
    assert_eq!(
        render("{{ name.replace('-', '_') }}", v.clone()),
        json!("DTR_01")
    );
    assert_eq!(
        render("{{ '{}:{}'.format('h', 443) }}", v.clone()),
        json!("h:443")
    );
    assert_eq!(
        render("{{ csv.split(',') | map('trim') | list }}", v.clone()),
        json!(["a", "b", "c"])
    );
    assert_eq!(
        render("{{ d.items() | list }}", v.clone()),
        json!([["k", "v"]])
    );
    assert_eq!(render("{{ d.keys() | list }}", v.clone()), json!(["k"]));
    assert_eq!(render("{{ d.values() | list }}", v.clone()), json!(["v"]));
    assert_eq!(render("{{ d.get('k') }}", v.clone()), json!("v"));
    assert_eq!(render("{{ d.get('x', 'fallback') }}", v), json!("fallback"));
}

#[test]
fn conversion_filters() {
    let v = json!({});
    assert_eq!(render("{{ 'yes' | bool }}", v.clone()), json!(true));
    assert_eq!(render("{{ 'off' | bool }}", v.clone()), json!(false));
    assert_eq!(render("{{ 1 | bool }}", v.clone()), json!(true));
    assert_eq!(render("{{ '42' | int + 1 }}", v.clone()), json!(43));
    assert_eq!(render("{{ 'nope' | int }}", v.clone()), json!(0));
    assert_eq!(render("{{ '0x1A' | int(base=16) }}", v.clone()), json!(26));
    assert_eq!(render("{{ '2.5' | float }}", v.clone()), json!(2.5));
    assert_eq!(render("{{ true | string }}", v.clone()), json!("True"));
    assert_eq!(render("{{ 443 | string }}", v), json!("443"));
}

#[test]
fn data_format_filters() {
    let v = json!({"cfg": {"b": [1, 2], "a": "x"}});
    assert_eq!(
        render("{{ cfg | to_json }}", v.clone()),
        json!(r#"{"b": [1, 2], "a": "x"}"#)
    );
    assert_eq!(
        render("{{ cfg | to_nice_json }}", v.clone()),
        json!("{\n    \"a\": \"x\",\n    \"b\": [\n        1,\n        2\n    ]\n}")
    );
    assert_eq!(
        render("{{ '{\"k\": [1]}' | from_json }}", v.clone()),
        json!({"k": [1]})
    );
    assert_eq!(
        render("{{ cfg | to_yaml }}", v.clone()),
        json!("b: [1, 2]\na: x\n")
    );
    assert_eq!(
        render("{{ cfg | to_nice_yaml }}", v.clone()),
        json!("b:\n- 1\n- 2\na: x\n")
    );
    assert_eq!(
        render("{{ 'a: [1, 2]' | from_yaml }}", v.clone()),
        json!({"a": [1, 2]})
    );
    assert_eq!(
        render("{{ 'admin:pw' | b64encode }}", v.clone()),
        json!("YWRtaW46cHc=")
    );
    assert_eq!(
        render("{{ 'YWRtaW46cHc=' | b64decode }}", v),
        json!("admin:pw")
    );
}

#[test]
fn path_filters() {
    let v = json!({"home": std::env::var("HOME").unwrap_or_default()});
    assert_eq!(
        render("{{ '/etc/docker/certs.d/ca.crt' | basename }}", v.clone()),
        json!("ca.crt")
    );
    assert_eq!(
        render("{{ '/etc/docker/certs.d/ca.crt' | dirname }}", v.clone()),
        json!("/etc/docker/certs.d")
    );
    assert_eq!(
        render(
            "{{ ('~/.docker' | expanduser) == home ~ '/.docker' }}",
            v.clone()
        ),
        json!(true)
    );
    assert_eq!(
        render("{{ ['/etc/docker', 'certs.d', 'dtr:443'] | path_join }}", v),
        json!("/etc/docker/certs.d/dtr:443")
    );
}

#[test]
fn regex_filters() {
    let v = json!({"url": "https://dtr.example.com:4443/v2/"});
    assert_eq!(
        render(
            r"{{ url | regex_replace('^https://([^:/]+).*$', '\\1') }}",
            v.clone()
        ),
        json!("dtr.example.com")
    );
    assert_eq!(
        render(r"{{ url | regex_search(':(\\d+)', '\\1') }}", v.clone()),
        json!(["4443"])
    );
    assert_eq!(
        render(r"{{ url | regex_search('dtr\\.[a-z.]+') }}", v.clone()),
        json!("dtr.example.com")
    );
    assert_eq!(
        render("{{ url | regex_search('nomatch') }}", v.clone()),
        json!(null)
    );
    assert_eq!(
        render(r"{{ 'a1b22c333' | regex_findall('\\d+') }}", v.clone()),
        json!(["1", "22", "333"])
    );
    assert_eq!(
        render(
            "{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}",
            v.clone()
        ),
        json!("AxC")
    );
    assert_eq!(
        render("{{ 'dtr.example.com' | regex_escape }}", v),
        json!(r"dtr\.example\.com")
    );
}

#[test]
fn string_and_list_filters() {
    let v = json!({"xs": [3, 1, 2, 3], "words": ["b", "a"], "users": [
        {"name": "a", "admin": true}, {"name": "b", "admin": false}
    ]});
    assert_eq!(render("{{ words | join(',') }}", v.clone()), json!("b,a"));
    assert_eq!(render("{{ 'a b' | split }}", v.clone()), json!(["a", "b"]));
    assert_eq!(
        render("{{ 'a:b' | split(':') }}", v.clone()),
        json!(["a", "b"])
    );
    assert_eq!(
        render("{{ 'Ab' | lower }}{{ 'Ab' | upper }}", v.clone()),
        json!("abAB")
    );
    assert_eq!(render("{{ '  x ' | trim }}", v.clone()), json!("x"));
    assert_eq!(
        render("{{ 'a-b' | replace('-', '.') }}", v.clone()),
        json!("a.b")
    );
    assert_eq!(
        render("{{ xs | length }}{{ xs | count }}", v.clone()),
        json!("44")
    );
    assert_eq!(
        render("{{ xs | first }}{{ xs | last }}", v.clone()),
        json!("33")
    );
    assert_eq!(
        render("{{ xs | unique | list }}", v.clone()),
        json!([3, 1, 2])
    );
    assert_eq!(
        render("{{ xs | union([4]) }}", v.clone()),
        json!([3, 1, 2, 4])
    );
    assert_eq!(
        render("{{ xs | intersect([2, 3, 9]) }}", v.clone()),
        json!([3, 2])
    );
    assert_eq!(
        render("{{ xs | difference([3]) }}", v.clone()),
        json!([1, 2])
    );
    assert_eq!(
        render("{{ [1, [2, [3, none]]] | flatten }}", v.clone()),
        json!([1, 2, 3])
    );
    assert_eq!(
        render("{{ [1, [2, [3]]] | flatten(levels=1) }}", v.clone()),
        json!([1, 2, [3]])
    );
    assert_eq!(render("{{ xs | sort }}", v.clone()), json!([1, 2, 3, 3]));
    assert_eq!(
        render("{{ xs | min }}{{ xs | max }}{{ xs | sum }}", v.clone()),
        json!("139")
    );
    assert_eq!(
        render(
            "{{ users | selectattr('admin') | map(attribute='name') | list }}",
            v.clone()
        ),
        json!(["a"])
    );
    assert_eq!(
        render(
            "{{ users | rejectattr('admin') | map(attribute='name') | list }}",
            v.clone()
        ),
        json!(["b"])
    );
    assert_eq!(
        render("{{ xs | select('>', 2) | list }}", v.clone()),
        json!([3, 3])
    );
    assert_eq!(render("{{ xs | reject('>', 2) | list }}", v), json!([1, 2]));
}

#[test]
fn dict_filters() {
    let v = json!({"base": {"a": 1, "tls": {"verify": true, "ca": "x"}, "l": [1]},
                   "over": {"tls": {"verify": false}, "l": [2]}});
    assert_eq!(
        render("{{ base | combine(over) }}", v.clone()),
        json!({"a": 1, "tls": {"verify": false}, "l": [2]})
    );
    assert_eq!(
        render("{{ base | combine(over, recursive=true) }}", v.clone()),
        json!({"a": 1, "tls": {"verify": false, "ca": "x"}, "l": [2]})
    );
    assert_eq!(
        render(
            "{{ base | combine(over, recursive=true, list_merge='append') }}",
            v.clone()
        ),
        json!({"a": 1, "tls": {"verify": false, "ca": "x"}, "l": [1, 2]})
    );
    assert_eq!(
        render("{{ {'k': 'v'} | dict2items }}", v.clone()),
        json!([{"key": "k", "value": "v"}])
    );
    assert_eq!(
        render("{{ [{'key': 'k', 'value': 'v'}] | items2dict }}", v.clone()),
        json!({"k": "v"})
    );
    assert_eq!(
        render("{{ base | dict2items | items2dict }}", v),
        json!({"a": 1, "tls": {"verify": true, "ca": "x"}, "l": [1]})
    );
}

#[test]
fn hashing_and_misc_filters() {
    let v = json!({"flag": true, "unset": null});
    let sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(
        render("{{ 'hello' | hash('sha256') }}", v.clone()),
        json!(sha256)
    );
    assert_eq!(render("{{ 'hello' | sha256 }}", v.clone()), json!(sha256));
    assert_eq!(
        render("{{ 'hello' | checksum }}", v.clone()),
        json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(
        render("{{ 'hello' | hash('sha1') }}", v.clone()),
        json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(
        render("{{ flag | ternary('on', 'off') }}", v.clone()),
        json!("on")
    );
    assert_eq!(
        render("{{ unset | ternary('on', 'off', 'unset') }}", v.clone()),
        json!("unset")
    );
    assert_eq!(
        render(r#"{{ "it's here" | quote }}"#, v.clone()),
        json!(r#"'it'"'"'s here'"#)
    );
    assert_eq!(
        render("{{ 'plain-word' | quote }}", v.clone()),
        json!("plain-word")
    );
    assert_eq!(
        render("{{ 'managed' | comment }}", v.clone()),
        json!("#\n# managed\n#")
    );
    assert_eq!(
        render("{{ 'x' | comment('cblock') }}", v.clone()),
        json!("/*\n *\n * x\n *\n */")
    );
    assert_eq!(render("{{ 'x' | mandatory }}", v.clone()), json!("x"));
    assert_eq!(
        render_err("{{ nope | mandatory }}", v.clone()),
        "a mandatory variable is not defined"
    );
    assert_eq!(
        render_err("{{ nope | mandatory('set nope') }}", v.clone()),
        "set nope"
    );
    assert_eq!(
        render(
            "{{ 'https://admin:pw@DTR.example.com:4443/v2/_catalog?n=1#f' | urlsplit }}",
            v.clone()
        ),
        json!({"fragment": "f", "hostname": "dtr.example.com", "netloc": "admin:pw@DTR.example.com:4443",
               "password": "pw", "path": "/v2/_catalog", "port": 4443, "query": "n=1",
               "scheme": "https", "username": "admin"})
    );
    assert_eq!(
        render("{{ 'https://dtr:4443/x' | urlsplit('port') }}", v.clone()),
        json!(4443)
    );
    assert_eq!(
        render("{{ 'https://dtr/x' | urlsplit('hostname') }}", v.clone()),
        json!("dtr")
    );
    assert_eq!(
        render(
            "{{ ['a'] | map('extract', {'a': {'ip': '10.0.0.1'}}, 'ip') | list }}",
            v.clone()
        ),
        json!(["10.0.0.1"])
    );
    assert_eq!(render("{{ omit }}", v), json!(dtrplay::template::OMIT));
}

#[test]
fn lookups() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::create_dir(dir.path().join("files")).expect("files dir");
    std::fs::write(dir.path().join("files/ca.pem"), "PEM\n").expect("write");
    let v = json!({"playbook_dir": dir.path().display().to_string()});
    assert_eq!(
        render("{{ lookup('file', 'ca.pem') }}", v.clone()),
        json!("PEM")
    );
    assert_eq!(
        render(
            "{{ lookup('env', 'DTRPLAY_SURELY_UNSET', default='d') }}",
            v.clone()
        ),
        json!("d")
    );
    assert_eq!(
        render_err("{{ lookup('pipe', 'id') }}", v),
        "lookup plugin `pipe` is not supported (dtrplay has `env`, `file` and `first_found`)"
    );
}

#[test]
fn ansible_tests() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let v = json!({
        "ok": {"changed": false, "rc": 0},
        "bad": {"failed": true, "changed": true},
        "cmd": {"rc": 2},
        "skip": {"skipped": true},
        "dir": dir.path().display().to_string(),
        "xs": [1, 2],
    });
    let truths = [
        "nope is undefined",
        "ok is defined",
        "none is none",
        "'x' is string",
        "1 is number",
        "ok is mapping",
        "xs is iterable",
        "'dtr-01' is match('dtr-\\\\d+')",
        "not ('xdtr' is match('dtr'))",
        "'xdtr' is search('dtr')",
        "'DTR' is regex('dtr', ignorecase=true)",
        "ok is success",
        "ok is succeeded",
        "ok is not failed",
        "bad is failed",
        "cmd is failed",
        "bad is changed",
        "ok is not changed",
        "skip is skipped",
        "2 in xs",
        "'20.10.7' is version('19.03', '>=')",
        "'2.7.6' is version('2.8.0', 'lt')",
        "dir is directory",
        "dir is exists",
        "dir is not file",
        "xs is contains(2)",
        "[1] is subset(xs)",
    ];
    for expr in truths {
        assert_eq!(eval(expr, v.clone()), json!(true), "{expr}");
    }
    let err = Templates::new()
        .eval_str("'x' is failed", &vars(v))
        .expect_err("not a result");
    assert!(
        err.message.contains("expects a registered task result"),
        "{err}"
    );
}

#[test]
fn undeclared_finds_each_unknown_variable_with_its_span() {
    let doc = playbook(
        r#"
        - name: greet
          debug:
            msg: "{{ nope }} and {{ item }}"
          when: ready and extra is defined and (other | default(1))
        "#,
    );
    let t = Templates::new();
    let msg = task_value(&doc, "debug").get("msg").expect("msg").clone();
    let found = t.undeclared(&msg, false).expect("valid template");
    let names: Vec<(&str, &str)> = found
        .iter()
        .map(|(name, span)| (name.as_str(), msg.src.slice(*span)))
        .collect();
    assert_eq!(names, vec![("nope", "nope"), ("item", "item")]);
    let when = task_value(&doc, "when");
    let found = t.undeclared(&when, true).expect("valid expression");
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["ready"]);
}

#[test]
fn undeclared_reports_syntax_errors() {
    let doc = playbook(
        r#"
        - name: bad
          debug:
            msg: "{{ oops( }}"
        "#,
    );
    let msg = task_value(&doc, "debug").get("msg").expect("msg").clone();
    let err = Templates::new()
        .undeclared(&msg, false)
        .expect_err("syntax error");
    insta::assert_snapshot!("syntax_error", report(&err));
}

#[test]
fn secret_names() {
    for name in [
        "ucp_password",
        "DTR_TOKEN",
        "ssh_private_key",
        "aws_secret",
        "api_key",
        "registry_credentials",
        "passwd",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in ["dtr_url", "username", "port"] {
        assert!(!is_secret_name(name), "{name}");
    }
}

#[test]
fn secrets_are_masked_in_text_json_and_encoded_forms() {
    let v = vars(json!({
        "ucp_password": "s3cr3t-pass",
        "registry": {"auth": {"api_token": "tok-123456"}},
        "dtr_user": "admin",
        "short_token": "abc",
    }));
    let secrets = v.secrets();
    assert_eq!(
        secrets.mask("login admin s3cr3t-pass"),
        format!("login admin {MASK}")
    );
    assert_eq!(secrets.mask("Bearer tok-123456"), format!("Bearer {MASK}"));
    // Short values are not masked: "abc" would blank out every word it is in.
    assert_eq!(secrets.mask("abc"), "abc");
    // Users base64 their tokens for registry auth.
    let rendered = Templates::new()
        .render_str("{{ ucp_password | b64encode }}", &v)
        .expect("renders");
    assert_eq!(secrets.mask(rendered.as_str().unwrap_or("")), MASK);
    let masked = secrets.mask_json(&json!({
        "stdout": "token is tok-123456",
        "password": "anything",
        "nested": [{"private_key": "-----BEGIN-----"}],
    }));
    assert_eq!(
        masked,
        json!({"stdout": format!("token is {MASK}"), "password": MASK, "nested": [{"private_key": MASK}]})
    );
}

#[test]
fn secrets_from_templated_variables_and_additions() {
    let t = Templates::new();
    let v = vars(json!({"real_secret": "from-the-vault", "ucp_password": "{{ real_secret }}"}));
    let mut secrets = t.secrets(&v);
    assert_eq!(secrets.mask("pw from-the-vault"), format!("pw {MASK}"));
    secrets.add("registered-by-no_log");
    assert_eq!(secrets.mask("x registered-by-no_log"), format!("x {MASK}"));
}

#[test]
fn render_errors_never_contain_rendered_values() {
    let secret = "hunter2-secret-value";
    let v = json!({"ucp_password": secret, "n": "x"});
    for text in [
        "{{ ucp_password | from_json }}",
        "{{ ucp_password | from_yaml | int + nope }}",
        "{{ ucp_password.missing }}",
        "{{ ucp_password + 1 }}",
        "{{ (ucp_password | b64decode) }}",
        "{{ ucp_password | regex_replace('(', '') }}",
    ] {
        let message = render_err(text, v.clone());
        assert!(!message.contains(secret), "{text}: {message}");
    }
}

#[test]
fn hostvars_are_shared_and_rendered_per_host() {
    let t = Templates::new();
    let mut hosts = Vec::new();
    for i in 0..3 {
        let mut host = Vars::new();
        host.insert_template("ip", json!(format!("10.0.0.{i}")));
        host.insert_template("url", json!("https://{{ ip }}"));
        hosts.push((format!("node{i}"), host));
    }
    let hostvars = HostTable::new(hosts.clone());
    let mut base = Vars::new();
    base.insert_hostvars(&hostvars);
    base.insert_template("groups", json!({"all": ["node0", "node1", "node2"]}));
    let mut scope = base.child();
    scope.insert_template("inventory_hostname", json!("node0"));
    assert_eq!(
        t.render_str(
            "{{ groups.all | map('extract', hostvars, 'url') | list }}",
            &scope
        ),
        Ok(json!([
            "https://10.0.0.0",
            "https://10.0.0.1",
            "https://10.0.0.2"
        ]))
    );
    assert_eq!(
        t.render_str("{{ hostvars[inventory_hostname].ip }}", &scope),
        Ok(json!("10.0.0.0"))
    );
}

/// 1000 hosts rendering a small template with a 1000-host `hostvars`. Not
/// timed (machines differ); it must simply finish. `--nocapture` shows the
/// time.
#[test]
fn rendering_for_many_hosts_does_not_copy_hostvars() {
    let t = Templates::new();
    let hosts: Vec<(String, Vars)> = (0..1000)
        .map(|i| {
            let mut v = Vars::new();
            v.insert_template(
                "ansible_host",
                json!(format!("10.0.{}.{}", i / 256, i % 256)),
            );
            v.insert_template("dtr_port", json!(4443));
            v.insert_template("labels", json!({"role": "worker", "zone": i % 3}));
            (format!("node{i:04}"), v)
        })
        .collect();
    let hostvars = HostTable::new(hosts.clone());
    let mut base = Vars::new();
    base.insert_hostvars(&hostvars);
    base.insert_template(
        "groups",
        json!({"all": hosts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()}),
    );
    base.insert_template("dtr_host", json!("dtr.example.com"));
    let started = Instant::now();
    for (name, host) in &hosts {
        let mut scope = host.child();
        scope.insert_template("inventory_hostname", json!(name));
        let mut layered = base.child();
        layered.insert_template("inventory_hostname", json!(name));
        let rendered = t
            .render_str(
                "{{ hostvars[inventory_hostname].ansible_host }}:{{ hostvars[inventory_hostname].dtr_port }} via {{ dtr_host }}",
                &layered,
            )
            .expect("renders");
        assert!(
            rendered
                .as_str()
                .is_some_and(|s| s.ends_with(":4443 via dtr.example.com"))
        );
        let secrets = layered.secrets();
        assert!(secrets.is_empty());
    }
    eprintln!("1000 hosts rendered in {:?}", started.elapsed());
}

#[test]
fn hostile_templates_fail_cleanly() {
    let t = Templates::new();
    let v = vars(json!({"x": {"ü": 1}, "s": "é"}));
    let inputs = [
        "{{",
        "}}",
        "{{ }}",
        "{{ x",
        "{% if %}",
        "{% for %}{% endfor %}",
        "{{ x['ü'] }}",
        "{{ y['ü'] | default('é') }}",
        "{{ s[0] }}{{ s[5] }}",
        "{{ 'é' ~ nope }}",
        "{{ x.ü }}",
        "{{ (((( }}",
        "{{ ] }}",
        "{{ {'a': }} }}",
        "{{ '\\' }}",
        "{{ 1 / 0 }}",
        "{{ 9999999999999999999 * 9999999999999999999 }}",
        "{{ -9223372036854775807 - 1 }}",
        "{{ range(10) | batch(0) | list }}",
        "{{ 'x' * -1 }}",
        "{{ nope.a.b.c.d.e.f.g | d(1) }}",
        "{% raw %}{{ x }}{% endraw %}",
        "{# {{ nope }} #}",
        "{{ x | combine(1) }}",
        "{{ '' | b64decode }}",
        "{{ 'é' | regex_replace('(?<=é)', 'x') }}",
        "{{ 'a' | hash('md5') }}",
    ];
    for text in inputs {
        let _ = t.render_str(text, &v);
        let _ = t.eval_str(text, &v);
        let doc = playbook(&format!(
            "- v: {}\n",
            serde_json::to_string(text).expect("json")
        ));
        let node = task_value(&doc, "v");
        let _ = t.render_node(&node, &v);
        let _ = t.eval_node(&node, &v);
        let _ = t.undeclared(&node, false);
        let _ = t.undeclared(&node, true);
    }
    assert_eq!(render("{{ y['ü'] | default('é') }}", json!({})), json!("é"));
    assert_eq!(
        render("{% raw %}{{ x }}{% endraw %}", json!({})),
        json!("{{ x }}")
    );
}
