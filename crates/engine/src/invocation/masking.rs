//! Keeping secrets out of what a task shows: `no_log`, values that hold a
//! secret (and the names they are registered or set under), command-line
//! flags that carry a password, and diffs of secret contents.
//!
//! Results leave the invocation only through `mask`, so everything that
//! decides what is hidden is kept together here.

use serde_json::{Map, Value};

use super::Invocation;
use crate::report::HostResult;

use crate::secret::MASK;

/// What Ansible prints instead of a `no_log` task's output.
pub(super) const NO_LOG_MSG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

impl Invocation<'_> {
    /// The names of the registered value and facts that must be kept as
    /// secrets: all of them under `no_log`, else those holding a secret
    /// (`set_fact: {pw2: "{{ ucp_password }}"}`).
    pub(super) fn secret_names(
        &self,
        registered: &Value,
        facts: &Map<String, Value>,
    ) -> Vec<String> {
        let holds_secret =
            |value: &Value| self.task.no_log || self.secrets.mask_json(value) != *value;
        let mut names = Vec::new();
        if let Some(name) = &self.task.register
            && holds_secret(registered)
        {
            names.push(name.clone());
        }
        for (name, value) in facts {
            if holds_secret(value) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Command lines written with a secret in them (`--ucp-password S3cret`)
    /// make that value a secret, wherever it is shown later.
    pub(super) fn note_secret_flags(&self, value: &Value) {
        let Some(taint) = self.vars.taint() else {
            return;
        };
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) => {
                    for secret in crate::secret::flag_values(s) {
                        taint.add(secret);
                    }
                }
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }

    /// Values an item gives to the task's secret parameters (a loop over
    /// users with their passwords) are secrets from then on: the executor
    /// knows only the values the arguments have outside the loop.
    pub(super) fn note_secret_args(&mut self, args: &Map<String, Value>) {
        for (name, value) in args {
            if let Value::String(s) = value
                && self.entry.spec.param(name).is_some_and(|p| p.secret)
            {
                self.secrets.add(s);
            }
        }
    }

    /// Masks the host's secrets and every value a vault decrypted.
    pub(super) fn hide(&self, text: &str) -> String {
        crate::vault::secrets().mask(&self.secrets.mask(text))
    }

    /// Masks secrets in what is shown and registered. `no_log` hides
    /// everything but the status.
    pub(super) fn mask(&self, result: &mut HostResult, registered: &mut Value) {
        if self.task.no_log {
            result.msg = Some(NO_LOG_MSG.into());
            result.diffs.clear();
            result.stdout = None;
            result.stderr = None;
            result.scripts.clear();
            result.item = result.item.as_ref().map(|_| MASK.to_string());
            return;
        }
        let vault = crate::vault::secrets();
        let m = |s: &mut Option<String>| {
            if let Some(t) = s {
                *t = vault.mask(&self.secrets.mask(t));
            }
        };
        m(&mut result.msg);
        m(&mut result.stdout);
        m(&mut result.stderr);
        m(&mut result.item);
        for script in &mut result.scripts {
            *script = vault.mask(&self.secrets.mask(script));
        }
        for d in &mut result.diffs {
            d.subject = self.secrets.mask(&d.subject);
            let holds_secret =
                |t: &Option<String>| t.as_ref().is_some_and(|t| self.secrets.mask(t) != *t);
            if holds_secret(&d.before) || holds_secret(&d.after) {
                // A diff of secret contents would show the secret's
                // surroundings and length; its digests say that it changed.
                let line = format!(
                    "(secret content changed: sha256 {} → {})\n",
                    short_digest(d.before.as_deref()),
                    short_digest(d.after.as_deref())
                );
                if d.after.is_some() {
                    d.before = d.before.as_ref().map(|_| String::new());
                    d.after = Some(line);
                } else {
                    d.before = Some(line);
                }
            }
        }
        // The registered value is data for later tasks, not output; it is
        // masked only when it is shown (debug), by the same Secrets.
        let _ = registered;
    }
}

/// The first hex digits of a text's SHA-256, for secret diffs.
pub(super) fn short_digest(text: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match text {
        None => "(none)".to_string(),
        Some(text) => {
            let digest = Sha256::digest(text.as_bytes());
            let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
            format!("{hex}…")
        }
    }
}
