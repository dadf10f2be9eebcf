//! Masking secrets everywhere dtrplay writes: events, reports, diffs and
//! error messages.
//!
//! A value is secret when it sits under a secret-looking variable name
//! (`ucp_password`, `dtr_api_token`), when a task parameter is marked
//! `secret`, or when a `no_log` task registered it. `Secrets` holds the
//! known values for one host and replaces each of them, and the encoded
//! forms users derive from them (base64 for basic auth and registry configs,
//! URL encoding for query strings, JSON escaping for event output), with
//! `MASK`.
//!
//! Values shorter than `MIN_SECRET_LEN` characters are ignored: masking
//! `"1"` or `"yes"` would blank out half of every message while protecting
//! nothing, since a secret that short is guessable anyway.
//!
//! Matching is one regex pass per set of secrets; for an alternation of
//! plain literals the regex crate builds an Aho-Corasick automaton, so the
//! cost does not grow with the number of secrets. Sets are built once per
//! variable layer and shared between hosts (see `template::Vars`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use regex::Regex;

use crate::template::Variables;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Secrets shorter than this many characters are not masked.
pub const MIN_SECRET_LEN: usize = 4;

/// The words that make a variable or key name secret.
const SECRET_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "credential",
];

/// Whether a variable or key name holds a secret: it contains one of
/// password, passwd, passphrase, token, secret, private_key, api_key or
/// credential(s), in any case.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| lower.contains(word))
}

/// The secret values known for a host.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Sets shared with other hosts (one per variable layer).
    shared: Vec<Arc<SecretSet>>,
    /// Values added to this host alone.
    own: Vec<String>,
    /// `own` compiled, rebuilt after an `add`.
    own_set: OnceLock<Arc<SecretSet>>,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Every string (also nested) under a secret-named key, in every layer
    /// of `vars` (a `template::Vars` or a JSON map). Values that are still
    /// templates are skipped; use `Templates::secrets` to include their
    /// rendered values.
    pub fn from_vars(vars: &impl Variables) -> Secrets {
        vars.known_secrets()
    }

    pub(crate) fn from_sets(shared: Vec<Arc<SecretSet>>) -> Secrets {
        Secrets {
            shared: shared.into_iter().filter(|set| !set.is_empty()).collect(),
            ..Secrets::default()
        }
    }

    /// Adds one value, e.g. a parameter marked `secret` or a value registered
    /// by a `no_log` task.
    pub fn add(&mut self, value: &str) {
        if value.chars().count() >= MIN_SECRET_LEN && !self.own.iter().any(|v| v == value) {
            self.own.push(value.to_string());
            self.own_set = OnceLock::new();
        }
    }

    /// Adds every value another `Secrets` knows.
    pub fn extend(&mut self, other: &Secrets) {
        for set in &other.shared {
            if !self.shared.iter().any(|s| Arc::ptr_eq(s, set)) {
                self.shared.push(set.clone());
            }
        }
        for value in &other.own {
            self.add(value);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.own.is_empty() && self.shared.iter().all(|set| set.is_empty())
    }

    /// Replaces every occurrence of every secret (and its encoded forms).
    pub fn mask(&self, text: &str) -> String {
        if self.is_empty() || text.is_empty() {
            return text.to_string();
        }
        let own = self
            .own_set
            .get_or_init(|| SecretSet::shared(self.own.clone()));
        let mut found = Vec::new();
        for set in self.shared.iter().chain(std::iter::once(own)) {
            set.find(text, &mut found);
        }
        if found.is_empty() {
            return text.to_string();
        }
        // Secrets from different sets may overlap or nest; masking the union
        // of their ranges leaves no fragment of any of them behind.
        found.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        let mut iter = found.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(next_start, next_end)) = iter.peek() {
                if next_start > end {
                    break;
                }
                end = end.max(next_end);
                iter.next();
            }
            if start >= pos {
                out.push_str(&text[pos..start]);
                out.push_str(MASK);
                pos = end;
            } else if end > pos {
                pos = end;
            }
        }
        out.push_str(&text[pos..]);
        out
    }

    /// Masks every string in a value, and every value under a secret-named
    /// key whatever it is (the structure stays, so reports keep their shape).
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        self.mask_json_in(value, false)
    }

    fn mask_json_in(&self, value: &serde_json::Value, secret: bool) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            J::String(_) | J::Number(_) if secret => J::String(MASK.to_string()),
            J::String(s) => J::String(self.mask(s)),
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|item| self.mask_json_in(item, secret))
                    .collect(),
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(key, item)| {
                        let nested = secret || is_secret_name(key);
                        (self.mask(key), self.mask_json_in(item, nested))
                    })
                    .collect(),
            ),
            J::Null | J::Bool(_) | J::Number(_) => value.clone(),
        }
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only counts: printing the values would defeat the purpose.
        let shared: usize = self.shared.iter().map(|s| s.len()).sum();
        f.debug_struct("Secrets")
            .field("values", &(shared + self.own.len()))
            .finish()
    }
}

/// An immutable set of secrets with their matcher, shared between hosts.
pub(crate) struct SecretSet {
    /// How many distinct secret values (before encoding) the set holds.
    values: usize,
    matcher: Matcher,
}

enum Matcher {
    None,
    Regex(Regex),
    /// Used only if the regex cannot be built (far beyond any realistic
    /// number of secrets): a scan per pattern, longest first.
    Scan(Vec<String>),
}

impl SecretSet {
    /// The set for these values, shared with every earlier caller that
    /// asked for the same values. Executors ask once per task and host, and
    /// hosts share most of their secrets, so building the matcher (the
    /// expensive part) once per distinct set matters at 1000 hosts.
    pub(crate) fn shared(mut values: Vec<String>) -> Arc<SecretSet> {
        static CACHE: OnceLock<Mutex<HashMap<Vec<String>, Arc<SecretSet>>>> = OnceLock::new();
        values.retain(|v| v.chars().count() >= MIN_SECRET_LEN);
        values.sort_unstable();
        values.dedup();
        let cache = CACHE.get_or_init(Mutex::default);
        if let Ok(cache) = cache.lock()
            && let Some(set) = cache.get(&values)
        {
            return set.clone();
        }
        let set = Arc::new(SecretSet::new(values.clone()));
        if let Ok(mut cache) = cache.lock() {
            // A bound for long-lived processes; a run has a few sets.
            if cache.len() >= 256 {
                cache.clear();
            }
            cache.insert(values, set.clone());
        }
        set
    }

    fn new(values: Vec<String>) -> SecretSet {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.chars().count() >= MIN_SECRET_LEN)
            .collect();
        values.sort_unstable();
        values.dedup();
        let mut patterns: Vec<String> = values.iter().flat_map(|v| encoded_forms(v)).collect();
        // Longest first, so that where one secret contains another the
        // whole of the longer one is matched.
        patterns.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        let matcher = if patterns.is_empty() {
            Matcher::None
        } else {
            let alternation = patterns
                .iter()
                .map(|p| regex::escape(p))
                .collect::<Vec<_>>()
                .join("|");
            match regex::RegexBuilder::new(&alternation)
                .size_limit(1 << 28)
                .build()
            {
                Ok(regex) => Matcher::Regex(regex),
                Err(_) => Matcher::Scan(patterns),
            }
        };
        SecretSet {
            values: values.len(),
            matcher,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values == 0
    }

    fn len(&self) -> usize {
        self.values
    }

    /// Appends the byte ranges of every match. A search restarts one
    /// character after each match start, not at its end, so a secret that
    /// overlaps the end of another is still found.
    fn find(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        match &self.matcher {
            Matcher::None => {}
            Matcher::Regex(regex) => {
                let mut pos = 0;
                while pos < text.len() {
                    let Some(m) = regex.find_at(text, pos) else {
                        break;
                    };
                    out.push((m.start(), m.end()));
                    pos = next_char(text, m.start());
                }
            }
            Matcher::Scan(patterns) => {
                for pattern in patterns {
                    for (start, _) in text.match_indices(pattern.as_str()) {
                        out.push((start, start + pattern.len()));
                    }
                }
            }
        }
    }
}

fn next_char(text: &str, index: usize) -> usize {
    text[index..]
        .chars()
        .next()
        .map_or(text.len(), |c| index + c.len_utf8())
}

/// A secret as written, and as it appears once encoded the ways playbooks
/// and dtrplay's own output encode values.
fn encoded_forms(value: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE;
    let mut forms = vec![
        value.to_string(),
        engine.encode(value),
        url_safe.encode(value),
        percent_encode(value),
        percent_encode(value).replace("%20", "+"),
    ];
    // Base64 padding depends on the length of what precedes a value when it
    // is encoded as part of a longer string, so also match the unpadded form.
    let unpadded = engine.encode(value).trim_end_matches('=').to_string();
    if unpadded.chars().count() >= MIN_SECRET_LEN {
        forms.push(unpadded);
    }
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json[1..json.len() - 1].to_string());
    }
    forms
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        let mut s = Secrets::new();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("ucp_password"));
        assert!(is_secret_name("DTR_API_TOKEN"));
        assert!(is_secret_name("ssh_private_key"));
        assert!(is_secret_name("registry_credentials"));
        assert!(!is_secret_name("dtr_url"));
    }

    #[test]
    fn masks_plain_encoded_and_overlapping_values() {
        let s = secrets(&["hunter22", "p@ss word", "abcd1234", "1234wxyz"]);
        assert_eq!(s.mask("pw=hunter22."), "pw=********.");
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter22");
        assert_eq!(s.mask(&format!("auth {b64}")), "auth ********");
        assert_eq!(s.mask("q=p%40ss%20word&x"), "q=********&x");
        assert_eq!(s.mask("abcd1234wxyz!"), "********!");
    }

    #[test]
    fn short_values_are_ignored() {
        let s = secrets(&["yes", "1"]);
        assert!(s.is_empty());
        assert_eq!(s.mask("yes 1"), "yes 1");
    }

    #[test]
    fn mask_json_masks_secret_keys_and_strings() {
        let s = secrets(&["hunter22"]);
        let masked = s.mask_json(&json!({
            "msg": "login with hunter22",
            "auth": {"password": 1234567, "user": "admin"},
            "api_token": ["a", "b"],
        }));
        assert_eq!(
            masked,
            json!({
                "msg": "login with ********",
                "auth": {"password": MASK, "user": "admin"},
                "api_token": [MASK, MASK],
            })
        );
    }
}
