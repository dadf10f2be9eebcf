//! The Ansible filters and functions that minijinja does not ship.
//!
//! Each one follows the observable behaviour of its Ansible counterpart
//! (argument names, defaults, results), because users paste expressions from
//! existing playbooks. Where minijinja has a builtin of the same name with
//! different semantics (`bool`, `int`, `float`, `string`), Ansible's
//! semantics win. Errors name the filter and what was wrong with its input,
//! never the input itself, which may be a secret.

use std::path::Path;

use base64::Engine;
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};
use sha2::Digest;

use super::convert::{from_json, map_value, to_json};
use super::filter_input::{invalid, py_str, require};
use super::omit::OMIT;
use super::python_regex::{python_replacement, regex, regex_flags};
use super::{sha1, yaml_out};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", bool_filter);
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("string", string_filter);
    env.add_filter("to_json", to_json_filter);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json_filter);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("expanduser", expanduser);
    env.add_filter("path_join", path_join);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("flatten", flatten);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("hash", hash);
    env.add_filter("sha1", |value: &Value| hash(value, Some("sha1")));
    env.add_filter("sha256", |value: &Value| hash(value, Some("sha256")));
    env.add_filter("checksum", |value: &Value| hash(value, Some("sha1")));
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("quote", quote);
    env.add_filter("comment", comment);
    env.add_filter("urlsplit", urlsplit);
    env.add_filter("extract", extract);
    env.add_filter("type_debug", type_debug);
    super::ipaddr::register(env);
    super::password_hash::register(env);
    env.add_function("lookup", lookup);
    env.add_global("omit", OMIT);
}

/// The text of a filter's input, which must be defined.
fn text(value: &Value, filter: &str) -> Result<String, Error> {
    require(value, filter)?;
    Ok(py_str(value))
}

/// Ansible's `bool`: `yes`, `on`, `1` and `true` (any case) are true,
/// everything else is false.
fn bool_filter(value: &Value) -> Result<bool, Error> {
    require(value, "bool")?;
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true(),
        ValueKind::Number => value.as_i64() == Some(1) || value.to_string() == "1.0",
        ValueKind::String => matches!(
            value
                .as_str()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "yes" | "on" | "1" | "true"
        ),
        _ => false,
    })
}

/// Jinja's `int`: what cannot be converted becomes `default` (0), it is not
/// an error. `base` applies to strings, with or without a `0x`/`0o`/`0b` prefix.
fn int_filter(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    require(value, "int")?;
    let base: Option<u32> = kwargs.get("base")?;
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    kwargs.assert_all_used()?;
    let parsed = match value.kind() {
        ValueKind::Bool => Some(i64::from(value.is_true())),
        ValueKind::Number => value.as_i64().or_else(|| {
            value
                .to_string()
                .parse::<f64>()
                .ok()
                .map(|f| f.trunc() as i64)
        }),
        ValueKind::String => parse_int(value.as_str().unwrap_or(""), base.unwrap_or(10)),
        _ => None,
    };
    Ok(parsed.map_or(default, Value::from))
}

fn parse_int(text: &str, base: u32) -> Option<i64> {
    let text = text.trim().replace('_', "");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let lower = digits.to_ascii_lowercase();
    let digits = match base {
        16 => lower.strip_prefix("0x").unwrap_or(&lower),
        8 => lower.strip_prefix("0o").unwrap_or(&lower),
        2 => lower.strip_prefix("0b").unwrap_or(&lower),
        _ => &lower,
    };
    let magnitude = if (2..=36).contains(&base) {
        i64::from_str_radix(digits, base).ok()
    } else {
        None
    };
    let magnitude = match magnitude {
        Some(m) => m,
        None if base == 10 => digits
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())?
            .trunc() as i64,
        None => return None,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Jinja's `float`: what cannot be converted becomes `default` (0.0).
fn float_filter(value: &Value, default: Option<Value>) -> Result<Value, Error> {
    require(value, "float")?;
    let parsed = match value.kind() {
        ValueKind::Bool => Some(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number | ValueKind::String => py_str(value).trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(parsed.map_or_else(|| default.unwrap_or(Value::from(0.0)), Value::from))
}

fn string_filter(value: &Value) -> Result<String, Error> {
    text(value, "string")
}

/// `json.dumps` output: `", "` and `": "` separators, as Ansible writes it.
struct PythonJson;

impl serde_json::ser::Formatter for PythonJson {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

fn to_json_filter(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    require(value, "to_json")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut data = to_json(value);
    if sort_keys == Some(true) {
        sort_keys_deep(&mut data);
    }
    match indent {
        Some(n) => write_pretty(&data, n),
        None => {
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonJson);
            serde::Serialize::serialize(&data, &mut ser)
                .map_err(|e| invalid(format!("to_json: {e}")))?;
            String::from_utf8(out).map_err(|e| invalid(format!("to_json: {e}")))
        }
    }
}

fn to_nice_json(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    require(value, "to_nice_json")?;
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut data = to_json(value);
    if sort_keys != Some(false) {
        sort_keys_deep(&mut data);
    }
    write_pretty(&data, indent.unwrap_or(4))
}

fn write_pretty(data: &serde_json::Value, indent: usize) -> Result<String, Error> {
    let spaces = " ".repeat(indent.min(16));
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(data, &mut ser)
        .map_err(|e| invalid(format!("to_nice_json: {e}")))?;
    String::from_utf8(out).map_err(|e| invalid(format!("to_nice_json: {e}")))
}

fn sort_keys_deep(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys_deep);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys_deep),
        _ => {}
    }
}

fn from_json_filter(value: &Value) -> Result<Value, Error> {
    let input = text(value, "from_json")?;
    serde_json::from_str::<serde_json::Value>(&input)
        .map(|data| from_json(&data))
        .map_err(|e| invalid(format!("from_json: the input is not valid JSON ({e})")))
}

fn to_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    require(value, "to_yaml")?;
    let indent: Option<usize> = kwargs.get("indent")?;
    let flow: Option<bool> = kwargs.get("default_flow_style")?;
    kwargs.assert_all_used()?;
    Ok(yaml_out::emit(
        &to_json(value),
        indent.unwrap_or(2),
        flow != Some(false),
    ))
}

fn to_nice_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    require(value, "to_nice_yaml")?;
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    Ok(yaml_out::emit(&to_json(value), indent.unwrap_or(4), false))
}

fn from_yaml(value: &Value) -> Result<Value, Error> {
    let input = text(value, "from_yaml")?;
    // The parser's own message may quote the input, which may be secret.
    serde_saphyr::from_str::<serde_json::Value>(&input)
        .map(|data| from_json(&data))
        .map_err(|_| invalid("from_yaml: the input is not valid YAML"))
}

fn b64encode(value: &Value) -> Result<String, Error> {
    Ok(base64::engine::general_purpose::STANDARD.encode(text(value, "b64encode")?))
}

fn b64decode(value: &Value) -> Result<String, Error> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let input = text(value, "b64decode")?;
    let input: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&input).ok())
        .ok_or_else(|| invalid("b64decode: the input is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded bytes are not UTF-8 text"))
}

/// Python's `os.path.basename`: what follows the last `/`.
fn basename(value: &Value) -> Result<String, Error> {
    let path = text(value, "basename")?;
    Ok(path.rsplit('/').next().unwrap_or("").to_string())
}

/// Python's `os.path.dirname`: what precedes the last `/`, without trailing
/// slashes unless it is the root.
fn dirname(value: &Value) -> Result<String, Error> {
    let path = text(value, "dirname")?;
    let head = path.rfind('/').map_or("", |i| &path[..=i]);
    let trimmed = head.trim_end_matches('/');
    Ok(if trimmed.is_empty() { head } else { trimmed }.to_string())
}

/// Expands a leading `~` to the home directory of the user running dtrplay
/// (templates render on the control machine, as in Ansible).
fn expanduser(value: &Value) -> Result<String, Error> {
    let path = text(value, "expanduser")?;
    let home = std::env::var("HOME").unwrap_or_default();
    Ok(match path.strip_prefix('~') {
        Some(rest) if (rest.is_empty() || rest.starts_with('/')) && !home.is_empty() => {
            format!("{home}{rest}")
        }
        _ => path,
    })
}

/// Python's `os.path.join` of a list of parts: an absolute part restarts.
fn path_join(value: &Value) -> Result<String, Error> {
    require(value, "path_join")?;
    if value.kind() == ValueKind::String {
        return Ok(py_str(value));
    }
    let mut joined = String::new();
    for part in value
        .try_iter()
        .map_err(|_| invalid("path_join: expected a list of path parts"))?
    {
        let part = py_str(&part);
        if part.starts_with('/') || joined.is_empty() {
            joined = part;
        } else {
            if !joined.ends_with('/') {
                joined.push('/');
            }
            joined.push_str(&part);
        }
    }
    Ok(joined)
}

fn regex_replace(
    value: &Value,
    pattern: &str,
    replacement: Option<&str>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let input = text(value, "regex_replace")?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    let count: Option<usize> = kwargs.get("count")?;
    kwargs.assert_all_used()?;
    let regex = regex(pattern, ignorecase, multiline, "regex_replace")?;
    let replacement = python_replacement(replacement.unwrap_or(""));
    Ok(regex
        .replacen(&input, count.unwrap_or(0), replacement.as_str())
        .into_owned())
}

/// The first match, or with group arguments (`'\\1'`, `'\\g<name>'`) the
/// list of those groups; `none` when nothing matches.
fn regex_search(
    value: &Value,
    pattern: &str,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let input = text(value, "regex_search")?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let regex = regex(pattern, ignorecase, multiline, "regex_search")?;
    let Some(caps) = regex.captures(&input) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut found = Vec::new();
    for group in groups.iter() {
        let group = group.trim_start_matches('\\');
        let m = if let Some(name) = group.strip_prefix("g<").and_then(|g| g.strip_suffix('>')) {
            name.parse::<usize>()
                .map_or_else(|_| caps.name(name), |i| caps.get(i))
        } else if let Ok(index) = group.parse::<usize>() {
            caps.get(index)
        } else {
            return Err(invalid(format!(
                "regex_search: `{group}` is not a group reference such as '\\\\1' or '\\\\g<name>'"
            )));
        };
        found.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(found))
}

/// Every match; with one group, every match of that group; with several,
/// a list of groups per match (Python's `re.findall`).
fn regex_findall(value: &Value, pattern: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let input = text(value, "regex_findall")?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let regex = regex(pattern, ignorecase, multiline, "regex_findall")?;
    let group = |m: Option<regex::Match<'_>>| Value::from(m.map_or("", |m| m.as_str()));
    let found: Vec<Value> = regex
        .captures_iter(&input)
        .map(|caps| match caps.len() {
            1 => group(caps.get(0)),
            2 => group(caps.get(1)),
            n => Value::from((1..n).map(|i| group(caps.get(i))).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(found))
}

fn regex_escape(value: &Value) -> Result<String, Error> {
    Ok(regex::escape(&text(value, "regex_escape")?))
}

fn items_of(value: &Value, filter: &str) -> Result<Vec<Value>, Error> {
    require(value, filter)?;
    if value.kind() == ValueKind::String {
        return Err(invalid(format!("{filter}: expected a list, got a string")));
    }
    Ok(value
        .try_iter()
        .map_err(|_| invalid(format!("{filter}: expected a list, got {}", value.kind())))?
        .collect())
}

fn unique(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn union(a: &Value, b: &Value) -> Result<Value, Error> {
    let mut items = items_of(a, "union")?;
    items.extend(items_of(b, "union")?);
    Ok(Value::from(unique(items)))
}

fn intersect(a: &Value, b: &Value) -> Result<Value, Error> {
    let other = items_of(b, "intersect")?;
    let items = items_of(a, "intersect")?
        .into_iter()
        .filter(|i| other.contains(i));
    Ok(Value::from(unique(items)))
}

fn difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let other = items_of(b, "difference")?;
    let items = items_of(a, "difference")?
        .into_iter()
        .filter(|i| !other.contains(i));
    Ok(Value::from(unique(items)))
}

fn symmetric_difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let left = items_of(a, "symmetric_difference")?;
    let right = items_of(b, "symmetric_difference")?;
    let items = left
        .iter()
        .filter(|i| !right.contains(i))
        .chain(right.iter().filter(|i| !left.contains(i)))
        .cloned();
    Ok(Value::from(unique(items)))
}

/// Flattens nested lists (all levels, or `levels`), dropping nulls unless
/// `skip_nulls=false`.
fn flatten(value: &Value, levels: Option<usize>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get("levels")?,
    };
    let skip_nulls: Option<bool> = kwargs.get("skip_nulls")?;
    kwargs.assert_all_used()?;
    fn walk(items: Vec<Value>, depth: Option<usize>, skip_nulls: bool, out: &mut Vec<Value>) {
        for item in items {
            if item.kind() == ValueKind::Seq && depth != Some(0) {
                let nested = item.try_iter().map(Iterator::collect).unwrap_or_default();
                walk(nested, depth.map(|d| d - 1), skip_nulls, out);
            } else if !(skip_nulls && item.is_none()) {
                out.push(item);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        items_of(value, "flatten")?,
        levels,
        skip_nulls != Some(false),
        &mut out,
    );
    Ok(Value::from(out))
}

/// Merges mappings left to right (later keys win), recursively with
/// `recursive=true`; `list_merge` says what happens to lists in recursive
/// merges (`replace`, `keep`, `append`, `prepend`).
fn combine(value: &Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive: Option<bool> = kwargs.get("recursive")?;
    let list_merge: Option<String> = kwargs.get("list_merge")?;
    kwargs.assert_all_used()?;
    let list_merge = list_merge.unwrap_or_else(|| "replace".to_string());
    if !["replace", "keep", "append", "prepend"].contains(&list_merge.as_str()) {
        return Err(invalid(format!(
            "combine: list_merge must be one of replace, keep, append, prepend (got `{list_merge}`)"
        )));
    }
    let mut dicts = Vec::new();
    for item in std::iter::once(value).chain(others.iter()) {
        require(item, "combine")?;
        match to_json(item) {
            serde_json::Value::Object(map) => dicts.push(map),
            serde_json::Value::Array(items) => {
                for nested in items {
                    match nested {
                        serde_json::Value::Object(map) => dicts.push(map),
                        _ => {
                            return Err(invalid("combine: expected mappings or lists of mappings"));
                        }
                    }
                }
            }
            _ => return Err(invalid("combine: expected mappings or lists of mappings")),
        }
    }
    let mut merged = serde_json::Map::new();
    for dict in dicts {
        merge(&mut merged, dict, recursive == Some(true), &list_merge);
    }
    Ok(from_json(&serde_json::Value::Object(merged)))
}

fn merge(
    into: &mut serde_json::Map<String, serde_json::Value>,
    from: serde_json::Map<String, serde_json::Value>,
    recursive: bool,
    list_merge: &str,
) {
    use serde_json::Value as J;
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(J::Object(left)), J::Object(right)) if recursive => {
                merge(left, right, recursive, list_merge);
            }
            (Some(J::Array(left)), J::Array(right)) if recursive => match list_merge {
                "keep" => {}
                "append" => left.extend(right),
                "prepend" => {
                    let mut joined = right;
                    joined.append(left);
                    *left = joined;
                }
                _ => *left = right,
            },
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn dict2items(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    require(value, "dict2items")?;
    let key_name: Option<String> = kwargs.get("key_name")?;
    let value_name: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "dict2items: expected a mapping, got {}",
            value.kind()
        )));
    }
    let key_name = Value::from(key_name.unwrap_or_else(|| "key".to_string()));
    let value_name = Value::from(value_name.unwrap_or_else(|| "value".to_string()));
    let mut items = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        items.push(map_value([
            (key_name.clone(), key),
            (value_name.clone(), item),
        ]));
    }
    Ok(Value::from(items))
}

fn items2dict(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name: Option<String> = kwargs.get("key_name")?;
    let value_name: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    let key_name = key_name.unwrap_or_else(|| "key".to_string());
    let value_name = value_name.unwrap_or_else(|| "value".to_string());
    let mut pairs = Vec::new();
    for item in items_of(value, "items2dict")? {
        let key = item.get_attr(&key_name).unwrap_or_default();
        let val = item.get_attr(&value_name).unwrap_or_default();
        if key.is_undefined() || val.is_undefined() {
            return Err(invalid(format!(
                "items2dict: every item needs `{key_name}` and `{value_name}` keys"
            )));
        }
        pairs.push((key, val));
    }
    Ok(map_value(pairs))
}

/// A hex digest of the value's text. md5 is not offered: it is not in the
/// dependency set and nothing in a UCP/DTR integration needs it.
fn hash(value: &Value, algorithm: Option<&str>) -> Result<String, Error> {
    let data = text(value, "hash")?;
    let data = data.as_bytes();
    Ok(match algorithm.unwrap_or("sha1") {
        "sha1" => hex::encode(sha1::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        other => {
            return Err(invalid(format!(
                "hash: unsupported algorithm `{other}` (use sha1, sha224, sha256, sha384 or sha512)"
            )));
        }
    })
}

fn mandatory(value: &Value, msg: Option<&str>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(invalid(
            msg.unwrap_or("a mandatory variable is not defined"),
        ));
    }
    Ok(value.clone())
}

fn ternary(
    value: &Value,
    true_value: Value,
    false_value: Value,
    none_value: Option<Value>,
) -> Result<Value, Error> {
    require(value, "ternary")?;
    if value.is_none()
        && let Some(none_value) = none_value
    {
        return Ok(none_value);
    }
    Ok(if value.is_true() {
        true_value
    } else {
        false_value
    })
}

/// Python's `shlex.quote`: safe words stay as they are, anything else is
/// single-quoted with embedded quotes spliced in.
fn quote(value: &Value) -> Result<String, Error> {
    let s = text(value, "quote")?;
    if s.is_empty() {
        return Ok("''".to_string());
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if s.chars().all(safe) {
        return Ok(s);
    }
    Ok(format!("'{}'", s.replace('\'', r#"'"'"'"#)))
}

/// Wraps text in a comment block in one of Ansible's styles.
fn comment(value: &Value, style: Option<&str>) -> Result<String, Error> {
    let text = text(value, "comment")?;
    let (beginning, decoration, end) = match style.unwrap_or("plain") {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(invalid(format!(
                "comment: unknown style `{other}` (use plain, erlang, c, cblock or xml)"
            )));
        }
    };
    let bare = decoration.trim_end();
    let mut lines = Vec::new();
    if !beginning.is_empty() {
        lines.push(beginning.to_string());
    }
    lines.push(bare.to_string());
    for line in text.lines() {
        lines.push(if line.is_empty() {
            bare.to_string()
        } else {
            format!("{decoration}{line}")
        });
    }
    lines.push(bare.to_string());
    if !end.is_empty() {
        lines.push(end.to_string());
    }
    Ok(lines.join("\n"))
}

/// Python's `urllib.parse.urlsplit`, as a mapping or one of its fields.
fn urlsplit(value: &Value, field: Option<&str>) -> Result<Value, Error> {
    let url = text(value, "urlsplit")?;
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest.to_string())
        }
        _ => (String::new(), url.clone()),
    };
    let (rest, fragment) = rest
        .split_once('#')
        .map_or((rest.as_str(), ""), |(a, b)| (a, b));
    let (rest, query) = rest.split_once('?').map_or((rest, ""), |(a, b)| (a, b));
    let (netloc, path) = if scheme.is_empty() && !url.starts_with("//") {
        ("", rest.to_string())
    } else {
        let rest = rest.trim_start_matches("//");
        rest.find('/').map_or((rest, String::new()), |i| {
            (&rest[..i], rest[i..].to_string())
        })
    };
    let (userinfo, hostport) = netloc
        .rsplit_once('@')
        .map_or((None, netloc), |(u, h)| (Some(u), h));
    let (username, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Value::from(u), Value::from(p)),
            None => (Value::from(info), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (hostname, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        (host.to_string(), after.strip_prefix(':').unwrap_or(""))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (hostport.to_string(), ""),
        }
    };
    let port = match port {
        "" => Value::from(()),
        p => Value::from(
            p.parse::<u16>()
                .map_err(|_| invalid("urlsplit: the port is not a number between 0 and 65535"))?,
        ),
    };
    let hostname = if hostname.is_empty() {
        Value::from(())
    } else {
        Value::from(hostname.to_ascii_lowercase())
    };
    let parts = map_value([
        (Value::from("fragment"), Value::from(fragment)),
        (Value::from("hostname"), hostname),
        (Value::from("netloc"), Value::from(netloc)),
        (Value::from("password"), password),
        (Value::from("path"), Value::from(path)),
        (Value::from("port"), port),
        (Value::from("query"), Value::from(query)),
        (Value::from("scheme"), Value::from(scheme)),
        (Value::from("username"), username),
    ]);
    match field {
        None => Ok(parts),
        Some(name) => {
            let part = parts.get_attr(name)?;
            if part.is_undefined() {
                Err(invalid(format!(
                    "urlsplit: unknown part `{name}` (use fragment, hostname, netloc, password, path, port, query, scheme or username)"
                )))
            } else {
                Ok(part)
            }
        }
    }
}

/// `container[item]`, then `[key]` for each of `morekeys`: the filter
/// behind `groups['dtr'] | map('extract', hostvars, 'ansible_host')`.
fn extract(item: &Value, container: &Value, morekeys: Option<Value>) -> Result<Value, Error> {
    require(item, "extract")?;
    require(container, "extract")?;
    let mut value = container.get_item(item)?;
    if let Some(keys) = morekeys {
        let keys: Vec<Value> = if keys.kind() == ValueKind::Seq {
            keys.try_iter()?.collect()
        } else {
            vec![keys]
        };
        for key in keys {
            value = value.get_item(&key)?;
        }
    }
    Ok(value)
}

/// The Python type name of a value, for debugging playbooks.
fn type_debug(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// The lookup plugins `lookup` has; `validate` refuses any other.
pub(crate) const LOOKUPS: [&str; 3] = ["env", "file", "first_found"];

/// `lookup('env', NAME, ...)`, `lookup('file', PATH, ...)` and
/// `lookup('first_found', ...)`. Several terms are joined with commas, as
/// Ansible does. Relative files are searched in the role's directory
/// (`{{ role_path }}`, when the task is a role's), then
/// `{{ playbook_dir }}`, each in its `files/` first.
fn lookup(state: &State, plugin: &str, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    if plugin == "first_found" {
        return first_found(state, &terms, kwargs);
    }
    let default: Option<String> = kwargs.get("default")?;
    let rstrip: Option<bool> = kwargs.get("rstrip")?;
    kwargs.assert_all_used()?;
    let mut found = Vec::new();
    for term in terms.iter() {
        let term = term
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| term.to_string());
        match plugin {
            "env" => found.push(
                std::env::var(&term)
                    .ok()
                    .or_else(|| default.clone())
                    .unwrap_or_default(),
            ),
            "file" => {
                let path = find_file(state, &term);
                let contents = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(format!(
                        "lookup('file'): could not read {}: {e}",
                        path.display()
                    ))
                })?;
                found.push(if rstrip == Some(false) {
                    contents
                } else {
                    contents.trim_end().to_string()
                });
            }
            other => {
                return Err(invalid(format!(
                    "lookup plugin `{other}` is not supported (dtrplay has `env`, `file` and `first_found`)"
                )));
            }
        }
    }
    Ok(Value::from(found.join(",")))
}

/// The strings of a `files`/`paths` value: a list, or one string split on
/// commas and semicolons, as Ansible's `first_found` splits it.
fn names_of(value: &Value) -> Vec<String> {
    match value.as_str() {
        Some(text) => text
            .split([',', ';'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        None => value
            .try_iter()
            .map(|items| items.flat_map(|v| names_of(&v)).collect())
            .unwrap_or_default(),
    }
}

/// `lookup('first_found', ...)`: the first file that exists, among terms
/// that are file names or mappings of `files` and `paths` (also given as
/// keyword arguments), each file tried in each path in order. `skip`
/// gives an empty string where nothing is found instead of failing.
fn first_found(state: &State, terms: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let mut files: Vec<String> = kwargs
        .get::<Option<Value>>("files")?
        .map(|v| names_of(&v))
        .unwrap_or_default();
    let mut paths: Vec<String> = kwargs
        .get::<Option<Value>>("paths")?
        .map(|v| names_of(&v))
        .unwrap_or_default();
    let mut skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    for term in terms {
        if term.kind() == ValueKind::Map {
            if let Ok(v) = term.get_attr("files") {
                files.extend(names_of(&v));
            }
            if let Ok(v) = term.get_attr("paths") {
                paths.extend(names_of(&v));
            }
            if let Ok(v) = term.get_attr("skip") {
                skip |= v.is_true();
            }
        } else {
            files.extend(names_of(term));
        }
    }
    let candidates: Vec<String> = files
        .iter()
        .flat_map(
            |file| match paths.is_empty() || Path::new(file).is_absolute() {
                true => vec![file.clone()],
                false => paths
                    .iter()
                    .map(|p| Path::new(p).join(file).display().to_string())
                    .collect(),
            },
        )
        .collect();
    for candidate in &candidates {
        let path = find_file(state, candidate);
        if path.is_file() {
            return Ok(Value::from(path.display().to_string()));
        }
    }
    if skip {
        return Ok(Value::from(""));
    }
    Err(invalid(format!(
        "No file was found when using first_found (tried {})",
        candidates.join(", ")
    )))
}

fn find_file(state: &State, term: &str) -> std::path::PathBuf {
    let path = Path::new(term);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let dir = |name: &str| {
        state
            .lookup(name)
            .and_then(|dir| dir.as_str().map(str::to_string))
            .filter(|d| !d.is_empty())
    };
    for base in [dir("role_path"), dir("playbook_dir")]
        .into_iter()
        .flatten()
    {
        for candidate in [
            Path::new(&base).join("files").join(path),
            Path::new(&base).join(path),
        ] {
            if candidate.exists() {
                return candidate;
            }
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacements() {
        assert_eq!(python_replacement(r"\1-\g<name>$"), "${1}-${name}$$");
        assert_eq!(python_replacement(r"a\nb\\c"), "a\nb\\c");
    }

    #[test]
    fn ints_like_python() {
        assert_eq!(parse_int(" 42 ", 10), Some(42));
        assert_eq!(parse_int("-3.9", 10), Some(-3));
        assert_eq!(parse_int("0x1A", 16), Some(26));
        assert_eq!(parse_int("abc", 10), None);
    }
}
