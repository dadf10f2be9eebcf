//! A small YAML emitter for the `to_yaml` and `to_nice_yaml` filters.
//!
//! Playbooks use these filters to write configuration files and to show
//! data in messages, so the output must be valid YAML that reads like
//! PyYAML's: block style, strings quoted only when they would otherwise read
//! as something else. `to_yaml` writes collections of plain values in flow
//! style (`[a, b]`), as PyYAML does by default; `to_nice_yaml` never does.

use serde_json::Value;

/// Renders `value` as a YAML document ending in a newline.
pub(crate) fn emit(value: &Value, indent: usize, flow_leaves: bool) -> String {
    let style = Style {
        indent: indent.clamp(1, 16),
        flow_leaves,
    };
    let mut out = String::new();
    for line in style.block(value) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

struct Style {
    indent: usize,
    flow_leaves: bool,
}

impl Style {
    /// Whether a value is written on the line of its key or dash.
    fn inline(&self, value: &Value) -> bool {
        match value {
            Value::Array(items) => {
                items.is_empty() || (self.flow_leaves && items.iter().all(is_scalar))
            }
            Value::Object(map) => {
                map.is_empty() || (self.flow_leaves && map.values().all(is_scalar))
            }
            _ => true,
        }
    }

    fn block(&self, value: &Value) -> Vec<String> {
        if self.inline(value) {
            return vec![flow(value)];
        }
        let mut lines = Vec::new();
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    let key = scalar_str(key, false);
                    if self.inline(item) {
                        lines.push(format!("{key}: {}", flow(item)));
                        continue;
                    }
                    lines.push(format!("{key}:"));
                    // PyYAML writes a list under a key without indenting it.
                    let pad = if item.is_array() { 0 } else { self.indent };
                    for line in self.block(item) {
                        lines.push(format!("{}{line}", " ".repeat(pad)));
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    for (i, line) in self.block(item).into_iter().enumerate() {
                        let lead = if i == 0 { "- " } else { "  " };
                        lines.push(format!("{lead}{line}"));
                    }
                }
            }
            _ => lines.push(flow(value)),
        }
        lines
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// A value in flow style (on one line).
fn flow(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s, false),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow_item).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar_str(k, true), flow_item(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

fn flow_item(value: &Value) -> String {
    match value {
        Value::String(s) => scalar_str(s, true),
        _ => flow(value),
    }
}

/// A string as a YAML scalar: plain when that reads back as the same
/// string, single-quoted when it only needs protecting, double-quoted when
/// it holds line breaks or control characters.
fn scalar_str(s: &str, in_flow: bool) -> String {
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_else(|_| format!("'{}'", s.replace('\'', "''")));
    }
    if needs_quotes(s, in_flow) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

fn needs_quotes(s: &str, in_flow: bool) -> bool {
    const RESERVED: [&str; 14] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "none", ".nan", ".inf",
        "-.inf",
    ];
    let Some(first) = s.chars().next() else {
        return true;
    };
    s.trim() != s
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || (in_flow && s.contains([',', '[', ']', '{', '}']))
        || RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || looks_numeric(s)
}

fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    s.parse::<f64>().is_ok()
        || digits.starts_with("0x")
        || digits.starts_with("0o")
        || (!digits.is_empty()
            && digits
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == ':'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn block_and_flow_styles() {
        let value =
            json!({"name": "dtr", "ports": [80, 443], "tls": {"verify": true}, "empty": []});
        assert_eq!(
            emit(&value, 2, true),
            "name: dtr\nports: [80, 443]\ntls: {verify: true}\nempty: []\n"
        );
        assert_eq!(
            emit(&value, 4, false),
            "name: dtr\nports:\n- 80\n- 443\ntls:\n    verify: true\nempty: []\n"
        );
    }

    #[test]
    fn lists_of_mappings() {
        let value = json!([{"a": 1, "b": [1]}]);
        assert_eq!(emit(&value, 2, false), "- a: 1\n  b:\n  - 1\n");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        let value = json!([
            "yes",
            "0644",
            "",
            "a: b",
            "plain text",
            "it's",
            "two\nlines"
        ]);
        assert_eq!(
            emit(&value, 2, false),
            "- 'yes'\n- '0644'\n- ''\n- 'a: b'\n- plain text\n- it's\n- \"two\\nlines\"\n"
        );
    }
}
