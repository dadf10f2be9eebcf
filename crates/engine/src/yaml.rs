//! YAML as a tree of nodes that remember where they came from.
//!
//! Playbooks have a dynamic shape (the module key of a task is data, not a
//! field name), so they cannot be deserialized straight into structs without
//! losing positions. Instead every YAML file is parsed once into `Node`s; each
//! node keeps its byte span and its `SourceFile`, and the playbook, inventory
//! and task-file loaders lower nodes into typed models by hand. That is what
//! lets every later error say "file:line:column" and underline the exact key
//! or value.
//!
//! The parser is serde-saphyr. It is told to read YAML 1.1 octals (`0644`)
//! and `yes`/`no` booleans the way PyYAML does, because Ansible playbooks rely
//! on both and must run unchanged. Booleans are exactly PyYAML's:
//! `yes/no/true/false/on/off` in lower case, capitalised or upper case;
//! `y`, `n`, `Y`, `N` and other spellings stay strings, as keys too.

use std::fmt;

use miette::SourceSpan;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::error::InputError;
use crate::source::SourceFile;

/// A YAML value with its position.
#[derive(Clone)]
pub struct Node {
    pub value: Value,
    /// The bytes of the source text this node was written as (quotes
    /// included for quoted scalars).
    pub span: SourceSpan,
    pub src: SourceFile,
}

/// The value of a node. Mapping keys are nodes too, so that an unknown key
/// can be underlined; they are always scalars converted to strings.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// How a scalar was written, which decides how an offset inside its value
/// maps back to an offset in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>` block scalars.
    Block,
}

impl Node {
    pub fn new(value: Value, span: SourceSpan, src: &SourceFile) -> Node {
        Node {
            value,
            span,
            src: src.clone(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key's text, for mapping keys (always strings in our trees).
    pub fn key(&self) -> &str {
        self.as_str().unwrap_or("")
    }

    /// A scalar rendered as text, the way Ansible stringifies it (`yes` stays
    /// the boolean's text `true`); `None` for collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The text exactly as written in the file.
    pub fn raw(&self) -> &str {
        self.src.slice(self.span)
    }

    pub fn style(&self) -> ScalarStyle {
        match self.raw().as_bytes().first() {
            Some(b'"') => ScalarStyle::DoubleQuoted,
            Some(b'\'') => ScalarStyle::SingleQuoted,
            Some(b'|' | b'>') => ScalarStyle::Block,
            _ => ScalarStyle::Plain,
        }
    }

    /// A short description of the node's type for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Whether the node, or anything below it, holds a template expression.
    pub fn has_template(&self) -> bool {
        match &self.value {
            Value::Str(s) => is_template(s),
            Value::Seq(items) => items.iter().any(Node::has_template),
            Value::Map(entries) => entries.iter().any(|(_, v)| v.has_template()),
            _ => false,
        }
    }

    /// The node as plain JSON data (spans dropped), for variables.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a node from JSON data, every part of it pointing at `span`.
    /// Used for values that come from the command line or from a run.
    pub fn from_json(value: &serde_json::Value, span: SourceSpan, src: &SourceFile) -> Node {
        use serde_json::Value as J;
        let v = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Seq(
                items
                    .iter()
                    .map(|i| Node::from_json(i, span, src))
                    .collect(),
            ),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| {
                        (
                            Node::new(Value::Str(k.clone()), span, src),
                            Node::from_json(v, span, src),
                        )
                    })
                    .collect(),
            ),
        };
        Node::new(v, span, src)
    }
}

/// Node-level errors live with the node, so that the error layer below
/// does not depend on the YAML layer.
impl InputError {
    /// An error about a node, underlining the whole node.
    pub fn at(node: &Node, message: impl Into<String>) -> InputError {
        InputError::new(&node.src, node.span, message)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}@{}+{}",
            self.value,
            self.span.offset(),
            self.span.len()
        )
    }
}

/// Whether a string holds Jinja syntax that must be rendered.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Parses one YAML document. An empty file gives a null node spanning nothing.
pub fn parse(src: &SourceFile) -> Result<Node, InputError> {
    let mut options = serde_saphyr::Options::default();
    // Ansible reads YAML with PyYAML, a YAML 1.1 parser: `0644` is octal
    // there, and playbooks in the wild rely on it for file modes.
    options.legacy_octal_numbers = true;
    options.strict_booleans = false;
    // Comments are never needed, and collecting them has a budget: a role's
    // `meta/main.yml` as `ansible-galaxy init` writes it holds a hundred
    // commented-out lines inside one mapping, more than the parser buffers.
    options.emit_comments = false;
    options.budget = Some(crate::yaml_error::budget());
    if let Some(err) = src.utf8_error() {
        return Err(err);
    }
    let parsed: Result<Option<Spanned<Raw>>, _> =
        serde_saphyr::from_str_with_options(src.text(), options);
    match parsed {
        Ok(Some(raw)) => {
            let mut vault_error = None;
            let node = lower(raw, src, &mut vault_error);
            if let Some(err) = vault_error {
                return Err(err);
            }
            if src.vaulted() {
                mark_secrets(&node);
            }
            Ok(node)
        }
        Ok(None) => Ok(Node::new(Value::Null, SourceSpan::from((0, 0)), src)),
        Err(err) => Err(crate::yaml_error::input_error(src, &err)),
    }
}

/// The span of a serde-saphyr value: where it is defined (for an alias, that
/// is the anchored text, which is what templates and messages need).
fn span_of<T>(spanned: &Spanned<T>) -> SourceSpan {
    for loc in [spanned.defined, spanned.referenced] {
        let span = loc.span();
        if let (Some(offset), Some(len)) = (span.byte_offset(), span.byte_len()) {
            let offset = usize::try_from(offset).unwrap_or(usize::MAX);
            let len = usize::try_from(len).unwrap_or(0);
            return SourceSpan::from((offset, len));
        }
    }
    SourceSpan::from((0, 0))
}

/// PyYAML's YAML 1.1 booleans, exactly (its resolver's list): the parser
/// also takes `y`, `n` and other spellings for booleans, which Ansible keeps
/// as strings.
const YAML_1_1_BOOLEANS: [&str; 18] = [
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on",
    "On", "ON", "off", "Off", "OFF",
];

/// A scalar the parser read as a boolean, as Ansible reads it: a boolean
/// when written as one of [`YAML_1_1_BOOLEANS`], else the string written.
fn boolean_or_text(b: bool, span: SourceSpan, src: &SourceFile) -> Raw {
    let text = src.slice(span);
    if text.is_empty() || YAML_1_1_BOOLEANS.contains(&text) {
        Raw::Bool(b)
    } else {
        Raw::Str(text.to_string())
    }
}

/// Lowers serde-saphyr's tree into nodes, decrypting inline `!vault`
/// values on the way; the first one that cannot be decrypted is left in
/// `vault_error`.
fn lower(raw: Spanned<Raw>, src: &SourceFile, vault_error: &mut Option<InputError>) -> Node {
    let span = span_of(&raw);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => match boolean_or_text(b, span, src) {
            Raw::Str(s) => Value::Str(s),
            _ => Value::Bool(b),
        },
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) if is_vault_tagged(src, span, &s) => {
            let what = format!("a `!vault` value in {}", src.name());
            match crate::vault::decrypt_value(&s, &what) {
                Ok(plain) => Value::Str(plain),
                Err(err) => {
                    if vault_error.is_none() {
                        *vault_error = Some(vault_input_error(src, span, &err));
                    }
                    Value::Str(s)
                }
            }
        }
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|i| lower(i, src, vault_error))
                .collect(),
        ),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key_span = span_of(&k);
                    let key_raw = match k.value {
                        Raw::Bool(b) => boolean_or_text(b, key_span, src),
                        other => other,
                    };
                    let key = Node::new(Value::Str(key_raw.into_key()), key_span, src);
                    (key, lower(v, src, vault_error))
                })
                .collect(),
        ),
    };
    Node::new(value, span, src)
}

/// Whether a string scalar is written `!vault |` (or `!vault-encrypted`)
/// and holds vault text. serde-saphyr does not pass tags on, so the tag is
/// read in the source, just before the scalar.
fn is_vault_tagged(src: &SourceFile, span: SourceSpan, value: &str) -> bool {
    if !value.trim_start().starts_with(crate::vault::format::HEADER) {
        return false;
    }
    let before = src.text().get(..span.offset()).unwrap_or("").trim_end();
    let before = before.strip_suffix(['|', '>']).unwrap_or(before).trim_end();
    before.ends_with("!vault") || before.ends_with("!vault-encrypted")
}

/// The diagnostic for an inline vault value that cannot be decrypted.
fn vault_input_error(
    src: &SourceFile,
    span: SourceSpan,
    err: &crate::vault::VaultError,
) -> InputError {
    use crate::vault::VaultError;
    let (message, help) = match err {
        VaultError::NoPassword { .. } => (
            "this value is encrypted with Ansible Vault, and no vault password was given"
                .to_string(),
            "pass --vault-password-file FILE, --vault-id LABEL@FILE or --ask-vault-pass (or set ANSIBLE_VAULT_PASSWORD_FILE)"
                .to_string(),
        ),
        VaultError::WrongPassword { tried, .. } => (
            format!("no vault password decrypts this value (tried {tried})"),
            "check the password; a value encrypted for another vault id needs its own --vault-id LABEL@SOURCE"
                .to_string(),
        ),
        other => (
            other.to_string(),
            "re-create it with `dtrplay vault encrypt_string`".to_string(),
        ),
    };
    InputError::new(src, span, message)
        .with_label("encrypted value")
        .with_help(help)
}

/// Every string of a decrypted file is a secret, wherever it ends up.
fn mark_secrets(node: &Node) {
    match &node.value {
        Value::Str(s) => crate::vault::mark_secret(s),
        Value::Int(i) => crate::vault::mark_secret(&i.to_string()),
        Value::Seq(items) => items.iter().for_each(mark_secrets),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| mark_secrets(v)),
        _ => {}
    }
}

/// The shape serde-saphyr fills; `lower` turns it into `Node`s.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl Raw {
    fn into_key(self) -> String {
        match self {
            Raw::Null => String::new(),
            Raw::Bool(b) => b.to_string(),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Str(s) => s,
            // Collections as keys are valid YAML but meaningless to us; the
            // loaders report the key as unknown.
            Raw::Seq(_) | Raw::Map(_) => "<complex key>".to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            entries.push((k, v));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Node {
        let src = SourceFile::new("t.yml", text);
        parse(&src).expect("test YAML parses")
    }

    #[test]
    fn keys_and_values_keep_their_spans() {
        let node = parse_str("- name: hi\n  shel: \"echo {{ x }}\"\n");
        let task = &node.as_seq().expect("a list")[0];
        let (key, value) = &task.as_map().expect("a map")[1];
        assert_eq!(key.raw(), "shel");
        assert_eq!(value.raw(), "\"echo {{ x }}\"");
        assert_eq!(value.style(), ScalarStyle::DoubleQuoted);
        assert_eq!(value.as_str(), Some("echo {{ x }}"));
    }

    #[test]
    fn only_pyyaml_booleans_are_booleans_values_and_keys() {
        let node = parse_str("a: y\nb: N\nc: On\nd: TRUE\nn: 1\nyes: 2\ne: Yes\nf: oFF\n");
        let map = node.to_json();
        assert_eq!(map["a"], serde_json::json!("y"));
        assert_eq!(map["b"], serde_json::json!("N"));
        assert_eq!(map["c"], serde_json::json!(true));
        assert_eq!(map["d"], serde_json::json!(true));
        assert_eq!(map["n"], serde_json::json!(1));
        assert_eq!(map["true"], serde_json::json!(2));
        assert_eq!(map["e"], serde_json::json!(true));
        assert_eq!(map["f"], serde_json::json!("oFF"));
    }

    #[test]
    fn yaml_1_1_octal_and_booleans_read_as_ansible_reads_them() {
        let node = parse_str("mode: 0644\nflag: yes\nquoted: '0644'\n");
        assert!(matches!(
            node.get("mode").map(|n| &n.value),
            Some(Value::Int(420))
        ));
        assert!(matches!(
            node.get("flag").map(|n| &n.value),
            Some(Value::Bool(true))
        ));
        assert_eq!(node.get("quoted").and_then(Node::as_str), Some("0644"));
    }

    #[test]
    fn empty_document_is_null() {
        assert!(parse_str("").is_null());
        assert!(parse_str("# only a comment\n").is_null());
    }

    #[test]
    fn syntax_errors_are_reported_not_panicked() {
        let src = SourceFile::new("bad.yml", "a: [1, 2\nb: 3\n");
        let err = parse(&src).expect_err("unclosed flow sequence");
        assert_eq!(err.message, "bad.yml is not valid YAML");
    }

    #[test]
    fn aliases_resolve_to_the_anchored_value() {
        let node = parse_str("base: &b {x: 1}\nother: *b\n");
        assert_eq!(
            node.get("other").map(Node::to_json),
            Some(serde_json::json!({"x": 1}))
        );
    }
}
