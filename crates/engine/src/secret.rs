//! Masking secrets everywhere dtrplay writes: events, reports, diffs and
//! error messages.
//!
//! A value is secret when it sits under a secret-looking variable name
//! (`ucp_password`, `dtr_api_token`), when it is a secret by origin
//! (`template::Vars::insert_secret`: vault, become passwords, what a
//! `no_log` task registered), when a task parameter is marked `secret`, or
//! when a template computed it from a secret (the render's `Taint`).
//! `Secrets` holds the known values for one host and replaces each of them,
//! and the encoded forms users derive from them (base64 for basic auth and
//! registry configs, URL encoding for query strings, JSON escaping for event
//! output), with `MASK`.
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

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Secrets shorter than this many characters are not masked.
pub const MIN_SECRET_LEN: usize = 4;

/// The words that make a variable or key name secret. `pass` covers
/// `password`, `passwd` and `passphrase`, and the short names operators
/// use (`admin_pass`, `UCP_Admin_Pass`).
const SECRET_WORDS: [&str; 8] = [
    "pass",
    "token",
    "secret",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "credential",
];

/// Whether a variable or key name holds a secret: it contains one of
/// pass (password, passwd, passphrase), token, secret, private_key, api_key
/// or credential(s), in any case.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| lower.contains(word))
}

/// The secrets that renders derived from other secrets (a value a template
/// computed while reading a secret), collected while a task runs and shared
/// by every `Secrets` that tracks it.
#[derive(Default)]
pub struct Taint {
    values: Mutex<TaintValues>,
}

#[derive(Default)]
struct TaintValues {
    values: Vec<String>,
    /// `values` compiled; `None` after an addition.
    set: Option<Arc<SecretSet>>,
}

impl Taint {
    pub fn new() -> Arc<Taint> {
        Arc::new(Taint::default())
    }

    /// Records a value computed from a secret.
    pub fn add(&self, value: &str) {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let mut inner = self.lock();
        if !inner.values.iter().any(|v| v == value) {
            inner.values.push(value.to_string());
            inner.set = None;
        }
    }

    /// How many values were recorded.
    pub fn len(&self) -> usize {
        self.lock().values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `value` was recorded as derived from a secret.
    pub fn contains(&self, value: &str) -> bool {
        self.lock().values.iter().any(|v| v == value)
    }

    /// The recorded values as one set. A value that contains a known
    /// secret is kept whole too: what surrounds the secret in it was
    /// computed from secrets as well (`r | string | upper` of a `no_log`
    /// result holds its masked times beside its uppercased output), so
    /// masking only the known part would show the rest.
    fn set(&self) -> Arc<SecretSet> {
        let mut inner = self.lock();
        if inner.set.is_none() {
            inner.set = Some(Arc::new(SecretSet::new(inner.values.clone())));
        }
        inner.set.clone().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TaintValues> {
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taint")
            .field("values", &self.len())
            .finish()
    }
}

/// The values given to secret-named options in a command line:
/// `--ucp-password S3cret`, `--api-token=abc`, `-admin_pass x`. Options
/// that name where a secret comes from (`--password-stdin`,
/// `--password-file PATH`) are not secrets themselves.
pub fn flag_values(command: &str) -> Vec<&str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let Some(option) = word.strip_prefix('-') else {
            continue;
        };
        let option = option.trim_start_matches('-');
        let (name, inline) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (option, None),
        };
        let normalized = name.replace('-', "_").to_ascii_lowercase();
        if !is_secret_name(&normalized)
            || normalized.ends_with("_stdin")
            || normalized.ends_with("_file")
        {
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => match words.get(i + 1) {
                Some(next) if !next.starts_with('-') => next,
                _ => continue,
            },
        };
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        if !value.is_empty() {
            found.push(value);
        }
    }
    found
}

/// A source text (YAML or INI) with the value of every secret-named key
/// (`dtr_admin_password: "x"`, `ansible_password=x`) masked, for error
/// snippets. Every byte keeps its offset, so that spans into the text stay
/// true: a value is replaced by `MASK` padded with spaces, or by as many
/// `*` as it has bytes when it is shorter.
pub fn redact_source(text: &str) -> std::borrow::Cow<'_, str> {
    static KEY: OnceLock<Option<Regex>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        Regex::new(r#"(?m)^[ \t]*(?:-[ \t]+)?["']?([A-Za-z0-9_.-]+)["']?[ \t]*:[ \t]+([^\n]*?)[ \t]*$|([A-Za-z0-9_.-]+)=([^\s]+)"#).ok()
    });
    let Some(key) = key else {
        return std::borrow::Cow::Borrowed(text);
    };
    let mut ranges = Vec::new();
    for caps in key.captures_iter(text) {
        let (name, value) = match (caps.get(1), caps.get(2), caps.get(3), caps.get(4)) {
            (Some(name), Some(value), _, _) | (_, _, Some(name), Some(value)) => (name, value),
            _ => continue,
        };
        let shown = value.as_str().trim_start_matches(['"', '\'']);
        if is_secret_name(name.as_str())
            && !value.as_str().is_empty()
            && !shown.starts_with("{{")
            && !shown.starts_with("!vault")
        {
            ranges.push(value.range());
        }
    }
    if ranges.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for range in ranges {
        out.push_str(&text[pos..range.start]);
        let len = range.end - range.start;
        if len >= MASK.len() {
            out.push_str(MASK);
            out.extend(std::iter::repeat_n(' ', len - MASK.len()));
        } else {
            out.extend(std::iter::repeat_n('*', len));
        }
        pos = range.end;
    }
    out.push_str(&text[pos..]);
    std::borrow::Cow::Owned(out)
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
    /// Values derived from secrets by renders, as they are found.
    taint: Option<Arc<Taint>>,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets::default()
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

    /// Masks, from now on, every value `taint` records.
    pub fn track(&mut self, taint: Arc<Taint>) {
        self.taint = Some(taint);
    }

    /// Adds every value another `Secrets` knows.
    pub fn extend(&mut self, other: &Secrets) {
        if self.taint.is_none() {
            self.taint = other.taint.clone();
        }
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
        self.own.is_empty()
            && self.shared.iter().all(|set| set.is_empty())
            && self.taint.as_ref().is_none_or(|t| t.is_empty())
    }

    /// Whether `value` is a secret as a whole (not only a part of it).
    pub fn is_secret(&self, value: &str) -> bool {
        !value.is_empty() && self.mask(value) == MASK
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
        if let Some(taint) = &self.taint {
            taint.set().find(text, &mut found);
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
                        let nested = secret || (is_secret_name(key) && !names_key_file(key, item));
                        (self.mask(key), self.mask_json_in(item, nested))
                    })
                    .collect(),
            ),
            J::Null | J::Bool(_) | J::Number(_) => value.clone(),
        }
    }
}

/// community.crypto's `openssl_csr` and `x509_certificate` return the path
/// of the key they used under `privatekey` and `ca_privatekey`. A one-line
/// absolute path there says where a key is, not what it is; taking it for a
/// secret would make the whole registered result one, and mask every later
/// mention of the CSR's names and paths in diffs. Key content (PEM, or
/// base64 on one line) never starts with `/`, `./` or `~/`.
fn names_key_file(key: &str, value: &serde_json::Value) -> bool {
    matches!(key, "privatekey" | "ca_privatekey")
        && value.as_str().is_some_and(|v| {
            (v.starts_with('/') || v.starts_with("./") || v.starts_with("~/"))
                && !v.contains(char::is_whitespace)
        })
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
#[derive(Default)]
pub(crate) struct SecretSet {
    /// How many distinct secret values (before encoding) the set holds.
    values: usize,
    matcher: Matcher,
}

#[derive(Default)]
enum Matcher {
    #[default]
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
        let inner = &json[1..json.len() - 1];
        // JSON and Python (`to_json`, `to_nice_json`) may escape every
        // non-ASCII character as `\u` and four hex digits, UTF-16 surrogates
        // included.
        if !inner.is_ascii() {
            forms.push(ascii_escaped(inner, false));
            forms.push(ascii_escaped(inner, true));
        }
        forms.push(inner.to_string());
    }
    forms
}

/// JSON text with every non-ASCII character written as `\u` and four hex
/// digits (in upper or lower case).
fn ascii_escaped(text: &str, upper: bool) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
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
        assert!(is_secret_name("UCP_Admin_Pass"));
        assert!(is_secret_name("admin_pass"));
        assert!(is_secret_name("db_passwd"));
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
    fn secret_options_of_command_lines() {
        assert_eq!(
            flag_values("docker run ucp install --ucp-password S3cretPW --admin-username admin"),
            vec!["S3cretPW"]
        );
        assert_eq!(flag_values("x --api-token='abc123' -y"), vec!["abc123"]);
        assert!(flag_values("docker login --password-stdin reg.example.com").is_empty());
    }

    #[test]
    fn source_snippets_hide_secret_values_and_keep_offsets() {
        let text = "dtr_admin_password: \"GroupVarsSecret-1212\"\nbad: [x\n- api_token: ab\nnode1 ansible_password=hunter22 port=22\n";
        let redacted = redact_source(text);
        assert_eq!(redacted.len(), text.len());
        assert!(!redacted.contains("GroupVarsSecret"), "{redacted}");
        assert!(!redacted.contains("hunter22"), "{redacted}");
        assert!(
            redacted.contains("dtr_admin_password: ********"),
            "{redacted}"
        );
        assert!(redacted.contains("api_token: **\n"), "{redacted}");
        assert!(redacted.contains("bad: [x") && redacted.contains("port=22"));
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

    /// A key file's path under community.crypto's `privatekey` result is
    /// not a secret; a key's content there still is.
    #[test]
    fn key_file_paths_are_not_masked_but_key_content_is() {
        let s = secrets(&[]);
        let result = json!({"privatekey": "/srv/tls/server.key", "ca_privatekey": "./ca.key"});
        assert_eq!(s.mask_json(&result), result);
        let pem = json!({"privatekey": "-----BEGIN PRIVATE KEY-----\nMIIB\n"});
        assert_eq!(s.mask_json(&pem), json!({"privatekey": MASK}));
        assert_eq!(
            s.mask_json(&json!({"ssh_private_key": "/home/u/.ssh/id"})),
            json!({"ssh_private_key": MASK})
        );
    }
}
