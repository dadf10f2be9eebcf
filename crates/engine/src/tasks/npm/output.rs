//! What `npm`'s scripts print, read: the parts between marker lines,
//! `npm ls --json`, `npm outdated --json`, npm's error lines, and what a
//! package name names.

use std::collections::BTreeMap;

use serde_json::Value;

/// Marker lines between the parts of a script's output.
pub const LS: &str = "dtrplay-npm-ls";
pub const OUTDATED: &str = "dtrplay-npm-outdated";
pub const PKG: &str = "dtrplay-npm-pkg";

/// What `name` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A package of the registry, perhaps at a version.
    Registry {
        name: String,
        version: Option<String>,
    },
    /// A directory or tarball on the host (`file:` dropped).
    Local(String),
    /// Anything else npm understands (git, URLs): npm decides.
    Other(String),
}

/// Tells what `name` (with the task's `version`) names: local paths by
/// their shape, registry names (scoped or not, perhaps `name@version`),
/// and anything else npm would resolve itself.
pub fn target(name: &str, version: Option<&str>) -> Target {
    let local = name.strip_prefix("file:").unwrap_or(name);
    if local.starts_with('/')
        || local.starts_with("./")
        || local.starts_with("../")
        || [".tgz", ".tar.gz", ".tar"]
            .iter()
            .any(|s| local.ends_with(s))
    {
        return Target::Local(local.to_string());
    }
    if name.contains("://") || name.contains(':') || (name.contains('/') && !name.starts_with('@'))
    {
        return Target::Other(name.to_string());
    }
    // `name@1.2.3` (and `@scope/name@1.2.3`) carry their version.
    let (bare, inline) = match name.char_indices().skip(1).find(|(_, c)| *c == '@') {
        Some((at, _)) => (&name[..at], Some(&name[at + 1..])),
        None => (name, None),
    };
    Target::Registry {
        name: bare.to_string(),
        version: version.or(inline).map(str::to_string),
    }
}

/// The installed packages of `npm ls --json`, name to version; those npm
/// marks missing or invalid are listed under `missing`.
#[derive(Debug, Default)]
pub struct Listing {
    pub installed: BTreeMap<String, String>,
    pub missing: Vec<String>,
}

/// `npm ls --json` printed something that is not JSON.
#[derive(Debug, thiserror::Error)]
#[error("npm ls did not print JSON ({0})")]
pub struct NotJson(#[from] serde_json::Error);

pub fn parse_listing(text: &str) -> Result<Listing, NotJson> {
    let value: Value = serde_json::from_str(text.trim())?;
    let mut listing = Listing::default();
    let Some(deps) = value.get("dependencies").and_then(Value::as_object) else {
        return Ok(listing);
    };
    for (name, props) in deps {
        let flag = |k: &str| props.get(k).is_some_and(|v| v.as_bool().unwrap_or(true));
        if flag("missing") || flag("invalid") {
            listing.missing.push(name.clone());
        } else {
            let version = props.get("version").and_then(Value::as_str).unwrap_or("");
            listing.installed.insert(name.clone(), version.to_string());
        }
    }
    Ok(listing)
}

/// The names `npm outdated --json` reports with a newer wanted version.
pub fn parse_outdated(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("npm outdated did not print JSON ({e})"))?;
    let Some(map) = value.as_object() else {
        return Ok(Vec::new());
    };
    if let Some(error) = map.get("error") {
        let summary = error.get("summary").and_then(Value::as_str).unwrap_or("");
        return Err(format!("npm outdated failed: {summary}"));
    }
    Ok(map
        .iter()
        .filter(|(_, p)| p.get("current") != p.get("wanted") || p.get("current").is_none())
        .map(|(name, _)| name.clone())
        .collect())
}

/// The lines of npm's output that say what went wrong, without its
/// stack traces.
pub fn npm_error(detail: &str) -> String {
    let lines: Vec<&str> = detail
        .lines()
        .filter(|l| l.starts_with("npm error") || l.starts_with("npm ERR!"))
        .filter(|l| !l.contains("    at ") && !l.contains("A complete log"))
        .take(8)
        .collect();
    match lines.is_empty() {
        true => detail.to_string(),
        false => lines.join("\n"),
    }
}

/// The parts of a script's output, by the marker line before each; the
/// part before the first marker is under "".
pub fn sections(stdout: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut key = String::new();
    let mut body = String::new();
    for line in stdout.lines() {
        if [LS, OUTDATED, PKG].contains(&line) {
            map.insert(std::mem::take(&mut key), std::mem::take(&mut body));
            key = line.to_string();
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    map.insert(key, body);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_apart() {
        assert_eq!(
            target("@scope/pkg@1.2.3", None),
            Target::Registry {
                name: "@scope/pkg".into(),
                version: Some("1.2.3".into())
            }
        );
        assert_eq!(
            target("pm2", Some("5.0.0")),
            Target::Registry {
                name: "pm2".into(),
                version: Some("5.0.0".into())
            }
        );
        assert_eq!(
            target("file:/srv/a.tgz", None),
            Target::Local("/srv/a.tgz".into())
        );
        assert_eq!(target("./pkg", None), Target::Local("./pkg".into()));
        assert_eq!(
            target("git+https://x/y.git", None),
            Target::Other("git+https://x/y.git".into())
        );
        assert_eq!(target("user/repo", None), Target::Other("user/repo".into()));
    }

    #[test]
    fn listing_separates_missing_packages() {
        let listing = parse_listing(
            r#"{"dependencies":{"a":{"version":"1.0.0"},"b":{"missing":true},"c":{"version":"2.0.0","invalid":"x"}}}"#,
        )
        .expect("json");
        assert_eq!(
            listing.installed.get("a").map(String::as_str),
            Some("1.0.0")
        );
        assert_eq!(listing.missing, vec!["b", "c"]);
        assert!(parse_listing("{}").expect("json").installed.is_empty());
    }

    #[test]
    fn outdated_names_and_errors() {
        let text = r#"{"a":{"current":"1.0.0","wanted":"1.1.0","latest":"2.0.0"},"b":{"current":"1.0.0","wanted":"1.0.0","latest":"2.0.0"}}"#;
        assert_eq!(parse_outdated(text).expect("json"), vec!["a"]);
        assert!(parse_outdated(r#"{"error":{"summary":"ECONNREFUSED"}}"#).is_err());
        assert!(parse_outdated("").expect("empty").is_empty());
    }
}
