//! Loops: `loop`, the `with_*` family mapped onto it, and `loop_control`.
//!
//! Every form ends as one list of items for the one loop engine in
//! `invocation.rs`: `with_<lookup>` renders its terms like `loop` and then
//! applies what Ansible's lookup plugin of that name does to them
//! (`with_items` flattens one level, `with_dict` gives `key`/`value` pairs,
//! `with_fileglob` lists control-machine files, ...). Items a lookup finds
//! on the control machine (file names, command output) are data, never
//! rendered again, like every loop item.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::loop_kind::LoopKind;
use crate::search_path::SearchPath;

/// The items of a loop whose terms rendered to `value`.
pub fn items(kind: LoopKind, value: Value, search: &SearchPath) -> Result<Vec<Value>, String> {
    match kind {
        LoopKind::List => match value {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Err(format!(
                "`loop` must give a list, not {}; to loop over a mapping use `{{{{ x | dict2items }}}}`",
                kind_of(&other)
            )),
        },
        LoopKind::Items => Ok(flatten_one(terms(value))),
        LoopKind::IndexedItems => Ok(flatten_one(terms(value))
            .into_iter()
            .enumerate()
            .map(|(i, item)| json!([i, item]))
            .collect()),
        LoopKind::Dict => match value {
            Value::Object(map) => Ok(map
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(format!(
                "with_dict expects a mapping, not {}",
                kind_of(&other)
            )),
        },
        LoopKind::Nested => {
            let lists: Vec<Vec<Value>> = terms(value).into_iter().map(terms).collect();
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for list in lists {
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        list.iter().map(move |v| {
                            let mut row = prefix.clone();
                            row.push(v.clone());
                            row
                        })
                    })
                    .collect();
            }
            Ok(out.into_iter().map(Value::from).collect())
        }
        LoopKind::Together => {
            let lists: Vec<Vec<Value>> = terms(value).into_iter().map(terms).collect();
            let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..longest)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect())
        }
        LoopKind::Subelements => subelements(value),
        LoopKind::Sequence => {
            let mut out = Vec::new();
            for term in terms(value) {
                out.extend(sequence(&crate::params::text(&term))?);
            }
            Ok(out)
        }
        LoopKind::Fileglob => {
            let mut out = Vec::new();
            for term in terms(value) {
                out.extend(fileglob(&crate::params::text(&term), search));
            }
            Ok(out)
        }
        LoopKind::FirstFound => first_found(value, search),
        LoopKind::Lines => {
            let mut out = Vec::new();
            let cwd = search
                .dirs()
                .last()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("."));
            for term in terms(value) {
                out.extend(lines(&crate::params::text(&term), &cwd)?);
            }
            Ok(out)
        }
    }
}

/// A lookup's terms: a list as it is, anything else as a list of one.
fn terms(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn flatten_one(items: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `with_subelements: [list_of_mappings, "key", {skip_missing: true}]`:
/// one `[element, subelement]` item per entry of each element's `key`
/// (a dotted path reaches deeper).
fn subelements(value: Value) -> Result<Vec<Value>, String> {
    let terms = terms(value);
    let (Some(list), Some(Value::String(key))) = (terms.first(), terms.get(1)) else {
        return Err("with_subelements expects a list (or mapping) and a key name".into());
    };
    let skip_missing = terms
        .get(2)
        .and_then(|f| f.get("skip_missing"))
        .and_then(crate::params::to_bool)
        .unwrap_or(false);
    let elements: Vec<Value> = match list {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map.values().cloned().collect(),
        _ => return Err("the first term of with_subelements must be a list or a mapping".into()),
    };
    let mut out = Vec::new();
    for element in elements {
        let mut sub = Some(&element);
        for part in key.split('.') {
            sub = sub.and_then(|v| v.get(part));
        }
        match sub {
            Some(Value::Array(subs)) => {
                for s in subs {
                    out.push(json!([element.clone(), s.clone()]));
                }
            }
            Some(Value::Null) | None if skip_missing => {}
            Some(other) => {
                return Err(format!(
                    "the key {key} should point to a list, got {}",
                    kind_of(other)
                ));
            }
            None => {
                return Err(format!(
                    "could not find '{key}' key in iterated item {element}"
                ));
            }
        }
    }
    Ok(out)
}

/// `with_sequence`: `start=1 end=5 stride=2 format=web%02d`, `count=3`,
/// or the short form `[start-]end[/stride][:format]`.
fn sequence(term: &str) -> Result<Vec<Value>, String> {
    let bad = |why: &str| format!("with_sequence `{term}`: {why}");
    let parse_int = |s: &str| -> Result<i64, String> {
        let s = s.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let n = if let Some(hex) = digits.strip_prefix("0x") {
            i64::from_str_radix(hex, 16)
        } else if let Some(oct) = digits.strip_prefix("0o") {
            i64::from_str_radix(oct, 8)
        } else {
            digits.parse()
        }
        .map_err(|_| bad(&format!("`{s}` is not a number")))?;
        Ok(if neg { -n } else { n })
    };
    let (mut start, mut end, mut stride, mut count, mut format) =
        (1i64, None, 1i64, None, "%d".to_string());
    if term.contains('=') {
        for word in term.split_whitespace() {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| bad("expected key=value"))?;
            match k {
                "start" => start = parse_int(v)?,
                "end" => end = Some(parse_int(v)?),
                "stride" => stride = parse_int(v)?,
                "count" => count = Some(parse_int(v)?),
                "format" => format = v.to_string(),
                other => return Err(bad(&format!("unknown argument `{other}`"))),
            }
        }
    } else {
        let (range, fmt) = match term.split_once(':') {
            Some((r, f)) => (r, Some(f)),
            None => (term, None),
        };
        if let Some(f) = fmt {
            format = f.to_string();
        }
        let (range, step) = match range.split_once('/') {
            Some((r, s)) => (r, Some(parse_int(s)?)),
            None => (range, None),
        };
        match range.trim().split_once('-') {
            Some((a, b)) if !a.is_empty() => {
                start = parse_int(a)?;
                end = Some(parse_int(b)?);
            }
            _ => end = Some(parse_int(range)?),
        }
        if let Some(s) = step {
            stride = s;
        }
    }
    if let Some(count) = count {
        if end.is_some() {
            return Err(bad("give `count` or `end`, not both"));
        }
        end = Some(start + (count - 1) * stride);
        if count <= 0 {
            return Ok(Vec::new());
        }
    }
    let end = end.ok_or_else(|| bad("needs `end` or `count`"))?;
    if stride == 0 {
        return Err(bad("stride must not be 0"));
    }
    if (stride > 0 && end < start) || (stride < 0 && end > start) {
        return Err(bad("to count backwards make stride negative"));
    }
    let steps = (end - start) / stride + 1;
    if steps > 100_000 {
        return Err(bad("more than 100000 items"));
    }
    Ok((0..steps)
        .map(|i| Value::from(printf_int(&format, start + i * stride)))
        .collect())
}

/// Python's `%` formatting of one integer: `%d`, `%5d`, `%05d`, `%x`,
/// `%o`, `%s`, with any text around it.
fn printf_int(format: &str, n: i64) -> String {
    let Some(at) = format.find('%') else {
        return format.to_string();
    };
    let rest = &format[at + 1..];
    let spec_len = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or(rest.len(), |i| i + 1);
    let spec = &rest[..spec_len];
    let (flags, conv) = spec.split_at(spec.len().saturating_sub(1));
    let zero = flags.starts_with('0');
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let body = match conv {
        "x" => format!("{n:x}"),
        "X" => format!("{n:X}"),
        "o" => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!("{}{padded}{}", &format[..at], &rest[spec_len..])
}

/// The directories a relative file name of a lookup is searched in:
/// `files/` then the directory itself, role first, then the playbook's.
fn lookup_dirs(search: &SearchPath, sub: &Path) -> Vec<PathBuf> {
    search
        .dirs()
        .iter()
        .flat_map(|d| [d.join("files").join(sub), d.join(sub)])
        .collect()
}

/// `with_fileglob`: the files (not directories) a pattern matches, sorted.
fn fileglob(pattern: &str, search: &SearchPath) -> Vec<Value> {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path.parent().unwrap_or(Path::new(""));
    let dirs = if path.is_absolute() {
        vec![parent.to_path_buf()]
    } else {
        lookup_dirs(search, parent)
    };
    let Some(dir) = dirs.into_iter().find(|d| d.is_dir()) else {
        return Vec::new();
    };
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter(|e| crate::facts::glob_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.into_iter().map(Value::from).collect()
}

/// `with_first_found`: the first existing file among the terms (names, or
/// `{files, paths, skip}` mappings), as a list of one; none found is an
/// error unless `skip: true`.
fn first_found(value: Value, search: &SearchPath) -> Result<Vec<Value>, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut skip = false;
    let split = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => s
                .split([',', ';'])
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            Value::Array(items) => items.iter().map(crate::params::text).collect(),
            _ => Vec::new(),
        }
    };
    for term in terms(value) {
        match &term {
            Value::Object(spec) => {
                skip |= spec
                    .get("skip")
                    .and_then(crate::params::to_bool)
                    .unwrap_or(false);
                let files = spec.get("files").map(&split).unwrap_or_default();
                let paths = spec.get("paths").map(&split).unwrap_or_default();
                for file in &files {
                    if paths.is_empty() {
                        candidates.extend(resolve(file, search));
                    }
                    for dir in &paths {
                        candidates.extend(resolve(&format!("{dir}/{file}"), search));
                    }
                }
            }
            other => candidates.extend(resolve(&crate::params::text(other), search)),
        }
    }
    match candidates.into_iter().find(|p| p.exists()) {
        Some(path) => Ok(vec![Value::from(path.display().to_string())]),
        None if skip => Ok(Vec::new()),
        None => Err("No file was found when using first_found.".into()),
    }
}

fn resolve(name: &str, search: &SearchPath) -> Vec<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        vec![path.to_path_buf()]
    } else {
        lookup_dirs(search, Path::new(""))
            .into_iter()
            .map(|d| d.join(path))
            .collect()
    }
}

/// `with_lines`: each line a command prints on the control machine.
fn lines(command: &str, cwd: &Path) -> Result<Vec<Value>, String> {
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("with_lines could not run `{command}`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "with_lines: `{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(Value::from)
        .collect())
}

/// `ansible_loop` for item `index` of `all` (`loop_control.extended`).
pub fn extended(all: &[Value], index: usize, allitems: bool) -> Value {
    let length = all.len();
    let mut info = Map::new();
    info.insert("index".into(), (index + 1).into());
    info.insert("index0".into(), index.into());
    info.insert("revindex".into(), (length - index).into());
    info.insert("revindex0".into(), (length - index - 1).into());
    info.insert("first".into(), (index == 0).into());
    info.insert("last".into(), (index + 1 == length).into());
    info.insert("length".into(), length.into());
    if index > 0 {
        info.insert("previtem".into(), all[index - 1].clone());
    }
    if index + 1 < length {
        info.insert("nextitem".into(), all[index + 1].clone());
    }
    if allitems {
        info.insert("allitems".into(), Value::from(all.to_vec()));
    }
    Value::Object(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: LoopKind, value: Value) -> Vec<Value> {
        items(kind, value, &SearchPath::default()).expect("valid")
    }

    #[test]
    fn the_with_family_shapes_items_as_ansible_lookups_do() {
        assert_eq!(
            run(LoopKind::Items, json!([[1, 2], 3])),
            vec![json!(1), json!(2), json!(3)]
        );
        assert_eq!(
            run(LoopKind::Dict, json!({"a": 1})),
            vec![json!({"key": "a", "value": 1})]
        );
        assert_eq!(
            run(LoopKind::Nested, json!([["a", "b"], [1, 2]])),
            vec![
                json!(["a", 1]),
                json!(["a", 2]),
                json!(["b", 1]),
                json!(["b", 2])
            ]
        );
        assert_eq!(
            run(LoopKind::Together, json!([["a", "b"], [1]])),
            vec![json!(["a", 1]), json!(["b", null])]
        );
        assert_eq!(
            run(LoopKind::IndexedItems, json!(["x", "y"])),
            vec![json!([0, "x"]), json!([1, "y"])]
        );
        assert_eq!(
            run(
                LoopKind::Subelements,
                json!([[{"n": "a", "k": [1, 2]}, {"n": "b", "k": [3]}], "k"])
            ),
            vec![
                json!([{"n": "a", "k": [1, 2]}, 1]),
                json!([{"n": "a", "k": [1, 2]}, 2]),
                json!([{"n": "b", "k": [3]}, 3]),
            ]
        );
    }

    #[test]
    fn sequences_take_both_forms() {
        assert_eq!(
            run(
                LoopKind::Sequence,
                json!("start=1 end=5 stride=2 format=web%02d")
            ),
            vec![json!("web01"), json!("web03"), json!("web05")]
        );
        assert_eq!(
            run(LoopKind::Sequence, json!("count=2")),
            vec![json!("1"), json!("2")]
        );
        assert_eq!(
            run(LoopKind::Sequence, json!("4-6:h%d")),
            vec![json!("h4"), json!("h5"), json!("h6")]
        );
        assert!(
            items(
                LoopKind::Sequence,
                json!("end=1 start=5"),
                &SearchPath::default()
            )
            .is_err()
        );
    }

    #[test]
    fn extended_loop_information() {
        let all = vec![json!("a"), json!("b"), json!("c")];
        let info = extended(&all, 1, true);
        assert_eq!(info["index"], 2);
        assert_eq!(info["revindex0"], 1);
        assert_eq!(info["previtem"], "a");
        assert_eq!(info["nextitem"], "c");
        assert_eq!(info["first"], false);
        assert_eq!(info["length"], 3);
    }
}
