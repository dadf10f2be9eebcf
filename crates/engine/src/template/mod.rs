//! Jinja templating the way Ansible users write it.
//!
//! Every string in a playbook may be a template, and Ansible users expect
//! its semantics, not plain Jinja's:
//! - `"{{ ports }}"` (exactly one expression) keeps the expression's type;
//!   anything else renders to a string.
//! - Undefined variables are errors (`'x' is undefined`), pointing at the
//!   exact expression inside the YAML scalar, except under `is defined`,
//!   `is undefined` and `default`, including `foo.bar | default(..)` when
//!   `foo` itself is undefined.
//! - Python string and dict methods (`'a,b'.split(',')`, `d.items()`), the
//!   Ansible filters and tests (`filters`, `predicates`), Python's rendering
//!   of `True`/`False`, and `None` rendering as nothing.
//! - Variables holding templates are rendered when used (`vars::Vars`);
//!   host data is never rendered, and a render that reads a secret records
//!   what it produced in the variables' `Taint`.
//!
//! One `Templates` is built per run and shared by all hosts; it is `Sync`.
//! Error messages quote the template, never rendered values, so they cannot
//! leak secrets.

mod convert;
mod filter_input;
mod filters;
mod ipaddr;
pub mod names;
mod omit;
mod password_hash;
mod predicates;
mod python_regex;
mod render;
mod sha1;
mod text;
mod vars;
mod yaml_out;

use std::sync::{Arc, OnceLock};

use miette::SourceSpan;
use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use crate::error::InputError;
use crate::secret::{Secrets, is_secret_name};
use crate::suggest;
use crate::yaml::{self, Node, is_template};

pub use omit::{OMIT, drop_omitted};
pub(crate) use python_regex::python_replacement;
pub use render::{FileError, TemplateError};
use render::{eval_checked, render_template};
pub(crate) use render::{render_json, render_value};
use vars::Reads;
pub use vars::{HostTable, Shared, Vars};

/// The template engine of a run.
pub struct Templates {
    /// Shared with `hostvars` and with variable scopes, which render lazily
    /// templated values on their own.
    env: Arc<Environment<'static>>,
    /// Environments for template files whose `trim_blocks`/`lstrip_blocks`
    /// differ from the strings' settings, built on first use; indexed by
    /// `trim_blocks as usize * 2 + lstrip_blocks as usize`.
    file_envs: [OnceLock<Environment<'static>>; 4],
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::new()
    }
}

/// The work one render may do, in minijinja's fuel: every instruction costs
/// one, and every 64 bytes of data it makes (output, `~`, `*`, `join`,
/// filter results) cost one, checked before a large allocation is made.
/// Four million is 256 MiB of data or four million steps: far above any
/// real template (a 64 MiB file read with `lookup('file')` costs a million),
/// and a bound on what a runaway join or concatenation can take.
pub const MAX_FUEL: u64 = 4_000_000;

/// An environment with Ansible's settings. Strings use `trim_blocks` and no
/// `lstrip_blocks`, as Ansible does; template files choose.
fn environment(trim_blocks: bool, lstrip_blocks: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(MAX_FUEL));
    // Debug mode makes undefined errors name the expression
    // ("`dtr.url` is undefined") in release builds too. The debug info it
    // attaches (values of variables) is never displayed.
    env.set_debug(true);
    // Jinja's default: the template's last newline is dropped; Ansible
    // then gives back what the source had (`restore_trailing_newlines`).
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(trim_blocks)
        .lstrip_blocks(lstrip_blocks)
        .keep_trailing_newline(false)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_formatter(|out, state, value| {
        // Ansible renders None as nothing and booleans the Python way.
        if value.is_none() {
            return Ok(());
        }
        if value.kind() == minijinja::value::ValueKind::Bool {
            let text = if value.is_true() { "True" } else { "False" };
            return out.write_str(text).map_err(minijinja::Error::from);
        }
        minijinja::escape_formatter(out, state, value)
    });
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    filters::register(&mut env);
    predicates::register(&mut env);
    env
}

impl Templates {
    pub fn new() -> Templates {
        Templates {
            env: Arc::new(environment(true, false)),
            file_envs: Default::default(),
        }
    }

    /// Renders a string that may hold `{{ }}`/`{% %}`. A string that is
    /// exactly one `{{ expr }}` keeps the expression's type; a string
    /// without template syntax comes back unchanged without touching the
    /// engine.
    pub fn render_str(&self, text: &str, vars: &Vars) -> Result<serde_json::Value, TemplateError> {
        if !is_template(text) {
            return Ok(serde_json::Value::String(text.to_string()));
        }
        let (scope, reads) = self.scope(vars);
        let value = render_value(&self.env, text, &scope).and_then(|v| data(&v))?;
        taint(vars, &reads, &value, text);
        Ok(value)
    }

    /// Renders every string inside JSON data (keys stay as they are).
    pub fn render_value(
        &self,
        value: &serde_json::Value,
        vars: &Vars,
    ) -> Result<serde_json::Value, TemplateError> {
        if !json_has_template(value) {
            return Ok(value.clone());
        }
        let (scope, reads) = self.scope(vars);
        let value = render_json(&self.env, value, &scope).and_then(|v| data(&v))?;
        taint(vars, &reads, &value, "");
        Ok(value)
    }

    /// Renders a template file (the `template` module) to text. The error
    /// names the line of the file.
    pub fn render_file(
        &self,
        text: &str,
        vars: &Vars,
        trim_blocks: bool,
        lstrip_blocks: bool,
    ) -> Result<String, FileError> {
        let env = if trim_blocks && !lstrip_blocks {
            self.env.as_ref()
        } else {
            self.file_envs[usize::from(trim_blocks) * 2 + usize::from(lstrip_blocks)]
                .get_or_init(|| environment(trim_blocks, lstrip_blocks))
        };
        let (scope, reads) = self.scope(vars);
        let rendered = render_template(env, text, &scope)
            .map_err(|err| TemplateError::from_minijinja(&err).in_file(text))?;
        if reads.secret()
            && let Some(sink) = vars.taint()
        {
            for piece in expression_output(text, &rendered) {
                sink.add(piece);
            }
        }
        Ok(rendered)
    }

    /// Renders every string inside a YAML node. An error points inside the
    /// YAML scalar, at the failing expression.
    pub fn render_node(&self, node: &Node, vars: &Vars) -> Result<serde_json::Value, InputError> {
        if !node.has_template() {
            return Ok(node.to_json());
        }
        let (scope, reads) = self.scope(vars);
        self.render_node_in(node, &scope, &reads, vars)
    }

    /// Renders each scalar on its own, so that only the scalars whose
    /// render read a secret become secrets (not every string of the node).
    fn render_node_in(
        &self,
        node: &Node,
        scope: &Value,
        reads: &Reads,
        vars: &Vars,
    ) -> Result<serde_json::Value, InputError> {
        use serde_json::Value as J;
        match &node.value {
            yaml::Value::Str(s) if is_template(s) => {
                reads.clear();
                let value = render_value(&self.env, s, scope)
                    .and_then(|v| data(&v))
                    .map_err(|err| input_error(node, err, vars))?;
                taint(vars, reads, &value, s);
                Ok(value)
            }
            yaml::Value::Seq(items) => items
                .iter()
                .map(|item| self.render_node_in(item, scope, reads, vars))
                .collect::<Result<Vec<_>, _>>()
                .map(J::Array),
            yaml::Value::Map(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let name = match self.render_node_in(key, scope, reads, vars)? {
                        J::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(name, self.render_node_in(value, scope, reads, vars)?);
                }
                Ok(J::Object(map))
            }
            _ => Ok(node.to_json()),
        }
    }

    /// Evaluates a condition the Ansible way (`when:`, `failed_when:`,
    /// `until:`, `assert: that:`): a string is a bare expression, and a
    /// boolean or number is itself.
    pub fn eval_node(&self, node: &Node, vars: &Vars) -> Result<serde_json::Value, InputError> {
        match &node.value {
            yaml::Value::Str(expr) => self
                .eval_str(expr, vars)
                .map_err(|err| input_error(node, err, vars)),
            yaml::Value::Seq(_) | yaml::Value::Map(_) => Err(InputError::at(
                node,
                format!("expected a condition, found {}", node.kind()),
            )
            .with_label("not an expression")
            .with_help(
                "write an expression such as `result is failed` or `dtr_version is version('2.7', '>=')`",
            )),
            _ => Ok(node.to_json()),
        }
    }

    /// Evaluates a bare expression. `{{ }}` around it is tolerated, as in
    /// Ansible.
    pub fn eval_str(&self, expr: &str, vars: &Vars) -> Result<serde_json::Value, TemplateError> {
        let (scope, reads) = self.scope(vars);
        let value = eval_value(&self.env, expr, &scope, &reads).and_then(|v| data(&v))?;
        taint(vars, &reads, &value, "");
        Ok(value)
    }

    /// The variables a template (or, with `as_expression`, a condition)
    /// uses without defining them, each with the span of its first use,
    /// in order of appearance. Uses guarded by `is defined`, `is undefined`
    /// or `default` anywhere in the text are not reported, and neither are
    /// global functions (`range`, `lookup`, `omit`, ...). Syntax errors are
    /// reported as errors.
    pub fn undeclared(
        &self,
        node: &Node,
        as_expression: bool,
    ) -> Result<Vec<(String, SourceSpan)>, InputError> {
        let Some(text) = node.as_str() else {
            return Ok(Vec::new());
        };
        let (code, offset, expression) = match text::single_expression(text) {
            Some(inner) if as_expression => (&text[inner.clone()], inner.start, true),
            _ if is_template(text) => (text, 0, false),
            _ if as_expression => (text, 0, true),
            _ => return Ok(Vec::new()),
        };
        let names = if expression {
            self.env
                .compile_expression_owned(code.to_string())
                .map(|e| e.undeclared_variables(false))
        } else {
            self.env
                .template_from_str(code)
                .map(|t| t.undeclared_variables(false))
        }
        .map_err(|err| {
            input_error(
                node,
                TemplateError::from_minijinja(&err).shifted(offset),
                &Vars::new(),
            )
        })?;
        let globals: Vec<String> = self
            .env
            .globals()
            .map(|(name, _)| name.to_string())
            .collect();
        let mut found = Vec::new();
        for name in names {
            if globals.contains(&name) {
                continue;
            }
            let uses = text::uses_of(code, &name, expression);
            if uses.iter().any(|u| u.guarded) {
                continue;
            }
            let range = uses
                .first()
                .map(|u| u.range.start + offset..u.range.end + offset);
            let start = range.as_ref().map_or(usize::MAX, |r| r.start);
            found.push((start, name, text::locate(node, range)));
        }
        found.sort();
        Ok(found
            .into_iter()
            .map(|(_, name, span)| (name, span))
            .collect())
    }

    /// The filters, tests and lookups `node` names that dtrplay does not
    /// have, each an input error at the name with "did you mean" (see
    /// `names`). Text that does not compile is left to `undeclared`.
    pub fn unknown_names(&self, node: &Node, as_expression: bool) -> Vec<InputError> {
        let Some(text) = node.as_str() else {
            return Vec::new();
        };
        let (code, offset, expression) = match text::single_expression(text) {
            Some(inner) if as_expression => (&text[inner.clone()], inner.start, true),
            _ if is_template(text) => (text, 0, false),
            _ if as_expression => (text, 0, true),
            _ => return Vec::new(),
        };
        names::uses(code, expression)
            .into_iter()
            .filter(|u| !self.has(u.kind, &u.name))
            .map(|u| {
                let words: &[&str] = match u.kind {
                    names::NameKind::Filter => names::FILTER_WORDS,
                    names::NameKind::Test => names::TEST_WORDS,
                    names::NameKind::Lookup => &filters::LOOKUPS,
                };
                let known = words.iter().copied().filter(|w| self.has(u.kind, w));
                // Three lookups are too few for a guess to mean anything.
                let guess = match u.kind {
                    names::NameKind::Lookup => None,
                    _ => suggest::did_you_mean(&u.name, known),
                };
                let help = guess.unwrap_or_else(|| match u.kind {
                    names::NameKind::Lookup => format!(
                        "dtrplay's lookups are {}; run a command in a task and `register` its output instead",
                        filters::LOOKUPS.map(|l| format!("`{l}`")).join(", ")
                    ),
                    kind => format!(
                        "dtrplay has Jinja's and Ansible's built-in {}s; collections' {}s are not, except the `ipaddr` family (`ansible.utils.ipaddr`, `ipv4`, `ipv6`, `ipwrap`)",
                        kind.noun(),
                        kind.noun()
                    ),
                });
                let range = u.range.start + offset..u.range.end + offset;
                InputError::new(
                    &node.src,
                    text::locate(node, Some(range)),
                    format!("unknown {} `{}`", u.kind.noun(), u.name),
                )
                .with_label(format!("no {} of this name", u.kind.noun()))
                .with_help(help)
            })
            .collect()
    }

    /// Whether the engine has a filter, test or lookup of this name. A
    /// filter or test is looked up by using it once: minijinja says
    /// "unknown filter" before calling anything.
    fn has(&self, kind: names::NameKind, name: &str) -> bool {
        let probe = match kind {
            names::NameKind::Lookup => return filters::LOOKUPS.contains(&name),
            names::NameKind::Filter => format!("{{{{ none | {name} }}}}"),
            names::NameKind::Test => format!("{{{{ none is {name} }}}}"),
        };
        match self.env.render_str(&probe, ()) {
            Err(err) => !matches!(
                err.kind(),
                ErrorKind::UnknownFilter | ErrorKind::UnknownTest
            ),
            Ok(_) => true,
        }
    }

    /// The secrets of `vars` (`Vars::secrets`), plus the rendered values
    /// of secret-named variables that are templates
    /// (`ucp_password: "{{ lookup('env', 'UCP_PASSWORD') }}"`). Values that
    /// fail to render are skipped: they cannot appear in output either.
    pub fn secrets(&self, vars: &Vars) -> Secrets {
        let mut secrets = vars.secrets();
        let (scope, _) = self.scope(vars);
        for (name, json) in vars.templated() {
            if !is_secret_name(name) && !json_has_secret_key(json) {
                continue;
            }
            if let Ok(value) = render_json(&self.env, json, &scope) {
                collect_rendered(
                    &convert::to_json(&value),
                    is_secret_name(name),
                    &mut secrets,
                );
            }
        }
        secrets
    }

    /// The root object of one render, and what the render reads.
    fn scope(&self, vars: &Vars) -> (Value, Arc<Reads>) {
        let reads = Arc::new(Reads::default());
        let scope = vars::Scope::new(self.env.clone(), vars.clone(), reads.clone()).into_value();
        (scope, reads)
    }
}

/// Records, when the render read a secret, what it produced as a secret in
/// the variables' taint: a value computed from a secret is a secret
/// (`('root:' ~ pw) | b64encode`, `pw | upper`, `pw[2:]`). Of a string
/// rendered from `source`, only the parts its expressions produced count,
/// not the text the user wrote around them (`login {{ pw }}`).
fn taint(vars: &Vars, reads: &Reads, value: &serde_json::Value, source: &str) {
    if !reads.secret() {
        return;
    }
    let Some(sink) = vars.taint() else {
        return;
    };
    if let serde_json::Value::String(s) = value {
        for piece in expression_output(source, s) {
            sink.add(piece);
        }
        return;
    }
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::String(s) => sink.add(s),
            serde_json::Value::Number(n) => sink.add(&n.to_string()),
            serde_json::Value::Array(items) => {
                sink.add(&serde_json::Value::Array(items.clone()).to_string());
                stack.extend(items);
            }
            serde_json::Value::Object(map) => {
                // The whole value is shown as JSON too (`debug: var=x`).
                sink.add(&serde_json::Value::Object(map.clone()).to_string());
                stack.extend(map.values());
            }
            serde_json::Value::Null | serde_json::Value::Bool(_) => {}
        }
    }
}

/// The parts of `rendered` that the expressions of `source` produced: the
/// rendered text cut at the literal text of the template, in order. Where
/// the literals cannot be followed (loops, conditionals), the rest counts
/// as produced. Literals of fewer than three visible characters (a space,
/// `: `) are not cut at: they occur inside produced text too (`{{ a }}
/// {{ b }}` would cut `HI THERE` at its space and leave `HI` unmasked), so
/// the text around them counts as produced, which masks more, never less.
fn expression_output<'a>(source: &str, rendered: &'a str) -> Vec<&'a str> {
    let literals = text::literal_parts(source)
        .into_iter()
        .filter(|literal| literal.trim().chars().count() >= 3);
    let mut pieces = Vec::new();
    let mut pos = 0;
    for literal in literals {
        let Some(found) = rendered[pos..].find(literal) else {
            break;
        };
        pieces.push(&rendered[pos..pos + found]);
        pos += found + literal.len();
    }
    pieces.push(&rendered[pos..]);
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Rendered data, or the error a value inside it carries.
fn data(value: &Value) -> Result<serde_json::Value, TemplateError> {
    convert::try_to_json(value).map_err(|err| TemplateError {
        message: err.to_string(),
        range: None,
        undefined: None,
        syntax: false,
    })
}

/// Python truthiness of rendered data, for conditions: `false`, `null`, `0`,
/// `""`, `[]` and `{}` are false.
pub fn truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match value {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        J::String(s) => !s.is_empty(),
        J::Array(items) => !items.is_empty(),
        J::Object(map) => !map.is_empty(),
    }
}

fn json_has_template(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => is_template(s),
        serde_json::Value::Array(items) => items.iter().any(json_has_template),
        serde_json::Value::Object(map) => map.values().any(json_has_template),
        _ => false,
    }
}

fn json_has_secret_key(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| is_secret_name(k) || json_has_secret_key(v)),
        serde_json::Value::Array(items) => items.iter().any(json_has_secret_key),
        _ => false,
    }
}

fn collect_rendered(value: &serde_json::Value, secret: bool, secrets: &mut Secrets) {
    use serde_json::Value as J;
    match value {
        J::String(s) if secret => secrets.add(s),
        J::Number(n) if secret => secrets.add(&n.to_string()),
        J::Array(items) => items
            .iter()
            .for_each(|i| collect_rendered(i, secret, secrets)),
        J::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect_rendered(v, secret || is_secret_name(k), secrets)),
        _ => {}
    }
}

/// Turns a template error into a diagnostic inside the node's scalar.
fn input_error(node: &Node, err: TemplateError, vars: &Vars) -> InputError {
    let span = text::locate(node, err.range.clone());
    let label = if err.undefined.is_some() {
        "undefined here"
    } else if err.syntax {
        "not valid Jinja here"
    } else {
        "while rendering this"
    };
    let help = match &err.undefined {
        Some(name) if vars.contains(name) => Some(format!(
            "`{name}` is defined, but not the part used here; give a fallback with `| default(...)`"
        )),
        Some(name) => Some(suggest::did_you_mean(name, vars.names()).unwrap_or_else(|| {
            format!(
                "define `{name}` in the inventory or the play's vars, or guard it with `is defined` or `| default(...)`"
            )
        })),
        None => None,
    };
    InputError::new(&node.src, span, err.message)
        .with_label(label)
        .with_maybe_help(help)
}

/// Evaluates a condition: a bare expression, `{{ expr }}`, or (as Ansible
/// tolerates) a template whose output is an expression.
fn eval_value(
    env: &Environment<'static>,
    expr: &str,
    scope: &Value,
    reads: &Reads,
) -> Result<Value, TemplateError> {
    if let Some(inner) = text::single_expression(expr) {
        return eval_checked(env, &expr[inner.clone()], scope).map_err(|e| e.shifted(inner.start));
    }
    if is_template(expr) {
        let rendered =
            render_template(env, expr, scope).map_err(|err| TemplateError::from_minijinja(&err))?;
        // Evaluating the rendered text runs it as code, so it must hold
        // nothing that came from a host or the outside world.
        if reads.host_data() || expr.contains("lookup(") || expr.contains("query(") {
            return Err(TemplateError {
                message: "this condition puts `{{ }}` around host data or a lookup, whose text \
                          is never evaluated as an expression; write the condition as a bare \
                          expression (`result.stdout == 'ok'`)"
                    .to_string(),
                range: None,
                undefined: None,
                syntax: false,
            });
        }
        // The rendered text is not what the user wrote, so positions in it
        // mean nothing in the file.
        return eval_checked(env, &rendered, scope).map_err(|mut e| {
            e.range = None;
            e
        });
    }
    eval_checked(env, expr, scope)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(value: serde_json::Value) -> Vars {
        match value {
            serde_json::Value::Object(map) => Vars::templates(&map),
            _ => Vars::new(),
        }
    }

    fn render(text: &str, v: serde_json::Value) -> Result<serde_json::Value, TemplateError> {
        Templates::new().render_str(text, &vars(v))
    }

    #[test]
    fn plain_maps_work_like_vars() {
        let map = vars(json!({"n": 2, "cmd": "docker inspect -f '{{ .Id }}'"}));
        let t = Templates::new();
        assert_eq!(t.eval_str("n * 2", &map), Ok(json!(4)));
        let err = t.eval_str("nope", &map).expect_err("undefined");
        assert_eq!(err.message, "`nope` is undefined");
        // A Go template in data is data.
        assert_eq!(
            t.render_str("{{ cmd }}", &map),
            Ok(json!("docker inspect -f '{{ .Id }}'"))
        );
        assert_eq!(
            t.render_value(&json!({"k": ["{{ n }}"]}), &map),
            Ok(json!({"k": [2]}))
        );
    }

    #[test]
    fn files_render_with_their_own_whitespace_settings() {
        let t = Templates::new();
        let map = Vars::new();
        let text = "  {% if true %}\nx\n  {% endif %}\n";
        assert_eq!(t.render_file(text, &map, true, true), Ok("x\n".to_string()));
        // ansible-core 2.19 writes this file as "  x\n  \n": Jinja drops
        // the last newline and Ansible gives it back.
        assert_eq!(
            t.render_file(text, &map, true, false),
            Ok("  x\n  \n".to_string())
        );
        assert_eq!(
            t.render_file("{% if true %}x{% endif %}\n", &map, true, false),
            Ok("x\n".to_string())
        );
        let err = t
            .render_file("a\n{{ nope }}\n", &map, true, false)
            .expect_err("undefined");
        assert_eq!(err.to_string(), "line 2: `nope` is undefined");
    }

    #[test]
    fn trailing_newlines_are_counted_as_ansible_counts_them() {
        let x = json!({"x": "b\n"});
        assert_eq!(render("a={{ x }}\n", x.clone()), Ok(json!("a=b\n")));
        assert_eq!(
            render("a={{ x }}\nc=d\n", x.clone()),
            Ok(json!("a=b\n\nc=d\n"))
        );
        assert_eq!(render("a={{ x }}\n\n", x), Ok(json!("a=b\n\n")));
        assert_eq!(render("plain\n", json!({})), Ok(json!("plain\n")));
    }

    #[test]
    fn single_expressions_keep_their_type() {
        assert_eq!(
            render("{{ ports }}", json!({"ports": [80, 443]})),
            Ok(json!([80, 443]))
        );
        assert_eq!(render("{{ n + 1 }}", json!({"n": 1})), Ok(json!(2)));
        assert_eq!(render("port {{ n }}", json!({"n": 1})), Ok(json!("port 1")));
        assert_eq!(render("plain", json!({})), Ok(json!("plain")));
    }

    #[test]
    fn undefined_is_an_error_with_a_range() {
        let err = render("a {{ nope }}", json!({})).expect_err("undefined");
        assert_eq!(err.message, "`nope` is undefined");
        assert_eq!(err.range, Some(5..9));
        assert_eq!(err.undefined.as_deref(), Some("nope"));
    }

    #[test]
    fn guarded_chains_on_undefined_roots_default() {
        let v = json!({"foo": {"x": 1}});
        assert_eq!(
            render("{{ foo.bar | default('z') }}", v.clone()),
            Ok(json!("z"))
        );
        assert_eq!(
            render("{{ nope.bar.baz | default('z') }}", v.clone()),
            Ok(json!("z"))
        );
        assert_eq!(
            render("{{ nope['a'].b is defined }}", v.clone()),
            Ok(json!(false))
        );
        assert_eq!(render("{{ nope.b is not defined }}", v), Ok(json!(true)));
    }

    #[test]
    fn lazily_templated_variables() {
        let v = json!({"host": "dtr.example.com", "url": "https://{{ host }}/v2/", "a": "{{ b }}", "b": "{{ a }}"});
        assert_eq!(
            render("{{ url }}", v.clone()),
            Ok(json!("https://dtr.example.com/v2/"))
        );
        let err = render("{{ a }}", v).expect_err("loop");
        assert!(err.message.contains("refers to itself"), "{}", err.message);
    }
}
