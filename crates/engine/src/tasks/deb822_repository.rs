//! The `deb822_repository` task: an apt source in the deb822 format,
//! `/etc/apt/sources.list.d/<slug>.sources`, with its signing key (given
//! as a URL) in `/etc/apt/keyrings/<slug>.asc` or `.gpg`; or both removed.
//!
//! The file is rendered here exactly as Ansible renders it: one field per
//! argument given, sorted by the argument's name (`name` is
//! `X-Repolib-Name`, `uris` is `URIs`, others title-cased with `-`),
//! booleans `yes`/`no`, lists joined by spaces, multi-line values (an
//! inline key) indented with `.` for empty lines. The slug is the name
//! lowercased, runs of `_` and whitespace made `-`, everything else but
//! letters, digits and `-` dropped.
//!
//! The check is one script: the current file and its mode, whether
//! `signed_by` names a file on the host, and when it is a URL the key
//! downloaded by the host's curl (TLS verified) into a temporary file,
//! compared with the keyring already there. The apply moves the key into
//! place (0644), writes the sources file atomically with `mode`.
//! Like Ansible's, the task does not update the apt cache: follow it with
//! `apt: update_cache: true`.
//!
//! Differences from Ansible: `install_python_debian` is accepted and has
//! no effect (nothing runs Python on the host).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::http::{self, Request};
use crate::tasks::remote::{self, AtomicWrite, Report, SetAttrs, parse_mode, shell_quote};

const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The fields of a source, as Ansible's arguments name them.
const BOOLS: [&str; 9] = [
    "allow_downgrade_to_insecure",
    "allow_insecure",
    "allow_weak",
    "by_hash",
    "check_date",
    "check_valid_until",
    "enabled",
    "pdiffs",
    "trusted",
];
const LISTS: [&str; 7] = [
    "architectures",
    "components",
    "languages",
    "suites",
    "targets",
    "types",
    "uris",
];

/// The arguments of `deb822_repository`: the fields, kept by name, and the
/// arguments that are not fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Deb822Repository {
    pub name: String,
    pub state: String,
    pub mode: String,
    pub signed_by: Option<String>,
    #[serde(default)]
    pub install_python_debian: bool,
    /// Every other argument, as coerced.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

/// The parameters of `deb822_repository`, as Ansible names them.
pub fn spec() -> Spec {
    let mut params = vec![
        Param::new("name", Kind::Str).required(),
        Param::new("state", Kind::Str)
            .choices(&["present", "absent"])
            .default("present"),
        Param::new("mode", Kind::Mode).default("0644"),
        Param::new("signed_by", Kind::Str),
        Param::new("install_python_debian", Kind::Bool).default(false),
        Param::new("date_max_future", Kind::Int),
        Param::new("inrelease_path", Kind::Str),
    ];
    params.extend(BOOLS.iter().map(|b| Param::new(b, Kind::Bool)));
    params.extend(LISTS.iter().map(|l| match *l {
        "types" => Param::new(l, Kind::List).default(vec!["deb"]),
        _ => Param::new(l, Kind::List),
    }));
    Spec::new("deb822_repository", params)
}

/// The slug Ansible names the files after.
fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// A field's name in the file: `signed_by` is `Signed-By`.
fn field_name(arg: &str) -> String {
    match arg {
        "name" => "X-Repolib-Name".to_string(),
        "uris" => "URIs".to_string(),
        _ => arg
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A multi-line value as deb822 folds it: on the lines after the field,
/// indented, with `.` for an empty line.
fn multiline(value: &str) -> String {
    let lines: Vec<String> = value
        .trim()
        .lines()
        .map(|l| match l.trim() {
            "" => "    .".to_string(),
            t => format!("    {t}"),
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// Whether `signed_by` is a URL, as Python's `urlparse` finds a scheme.
fn is_url(value: &str) -> bool {
    match value.split_once(':') {
        Some((scheme, _)) => {
            scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// What `apply` must do.
#[derive(Debug)]
pub struct Deb822Drift {
    /// The new content of the sources file, or `None` to leave it.
    write: Option<String>,
    /// Only the mode of the sources file differs.
    chmod: bool,
    /// The keyring to write from the downloaded key (when it differs) or
    /// only to make readable.
    key: Option<(Option<String>, String)>,
    /// Files to remove (state absent).
    remove: Vec<String>,
    outcome: Outcome,
}

impl Deb822Repository {
    fn dest(&self) -> String {
        format!("/etc/apt/sources.list.d/{}.sources", slug(&self.name))
    }

    /// The file's text; `key_file` is where `signed_by` points on the
    /// host, when it names a file or was downloaded.
    fn render(&self, key_file: Option<&str>) -> String {
        let mut fields: Vec<(String, String)> = Vec::new();
        fields.push(("name".into(), self.name.clone()));
        if let Some(sb) = &self.signed_by {
            fields.push(("signed_by".into(), key_file.unwrap_or(sb).to_string()));
        }
        for (key, value) in &self.fields {
            let text = match value {
                Value::Null => continue,
                Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fields.push((key.clone(), text));
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        for (key, value) in fields {
            let value = if value.contains('\n') {
                multiline(&value)
            } else {
                value
            };
            match value.starts_with('\n') || value.is_empty() {
                true => out.push_str(&format!("{}:{value}\n", field_name(&key))),
                false => out.push_str(&format!("{}: {value}\n", field_name(&key))),
            }
        }
        out
    }

    fn key_base(&self) -> String {
        format!("{KEYRINGS_DIR}/{}", slug(&self.name))
    }

    fn check_script(&self, keep: bool) -> String {
        let mut s = String::from(remote::FAIL_FN);
        let d = remote::path_arg(&self.dest());
        s.push_str(&format!(
            "if [ -f {d} ]; then echo exists=1; echo \"mode=$(stat -c %a {d})\"; else echo exists=0; fi\n"
        ));
        if self.state == "absent" {
            let k = self.key_base();
            s.push_str(&format!(
                "for e in asc gpg; do [ -e {k}.$e ] && echo \"key_$e=1\"; done; exit 0\n"
            ));
            return s;
        }
        match &self.signed_by {
            Some(sb) if is_url(sb) => {
                let request = Request {
                    url: sb.clone(),
                    validate_certs: true,
                    ca_path: None,
                    client_cert: None,
                    client_key: None,
                    headers: serde_json::Map::new(),
                    url_username: None,
                    url_password: None,
                    force_basic_auth: false,
                    timeout: 30,
                    http_agent: "ansible-httpget".to_string(),
                    use_proxy: true,
                };
                s.push_str(http::NEED_CURL);
                s.push_str(&http::write_config(&request.config()));
                let k = self.key_base();
                let keep = match keep {
                    true => "echo \"key_tmp=$t\"; trap 'rm -f \"$cfg\"' EXIT; ",
                    false => "",
                };
                s.push_str(&format!(
                    "t=$(mktemp) || fail tmp\ntrap 'rm -f \"$cfg\" \"$t\"' EXIT\n\
                     curl -K \"$cfg\" --fail -o \"$t\" || fail curl\n\
                     if grep -q -e '-----BEGIN PGP PUBLIC KEY BLOCK-----' \"$t\"; then e=asc; else e=gpg; fi\n\
                     echo \"key_ext=$e\"; k={k}.$e\n\
                     if [ -f \"$k\" ] && cmp -s \"$t\" \"$k\"; then echo key_same=1; echo \"key_mode=$(stat -c %a \"$k\")\"; \
                     else echo key_same=0; {keep}fi\n"
                ));
            }
            Some(sb) if !sb.contains('\n') => {
                s.push_str(&format!(
                    "[ -f {} ] && echo signed_by_file=1\n",
                    remote::path_arg(sb)
                ));
            }
            _ => {}
        }
        s.push_str(&format!(
            "if [ -f {d} ]; then echo content; cat -- {d}; fi\n"
        ));
        s
    }
}

#[async_trait]
impl Task for Deb822Repository {
    type Drift = Deb822Drift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<Deb822Drift>, TaskError> {
        let mode = parse_mode(&self.mode)?;
        let out = cx.run(&self.check_script(!cx.check_mode), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nocurl") => http::no_curl("deb822_repository"),
                Some("curl") => format!(
                    "Could not fetch signed_by key: {}",
                    self.signed_by.clone().unwrap_or_default()
                ),
                _ => format!("could not read {}", self.dest()),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let mut report = Report::parse(&out.stdout)?;
        let exists = report.flag("exists")?;
        let current_mode = report.take("mode");
        let dest = self.dest();
        if self.state == "absent" {
            let mut remove = Vec::new();
            if exists {
                remove.push(dest.clone());
            }
            for ext in ["asc", "gpg"] {
                if report.take(&format!("key_{ext}")).is_some() {
                    remove.push(format!("{}.{ext}", self.key_base()));
                }
            }
            let outcome = Outcome::ok()
                .with_data("repo", Value::Null)
                .with_data("dest", dest.clone())
                .with_data("key_filename", format!("{}.gpg", self.key_base()));
            if remove.is_empty() {
                return Ok(Check::InSync(outcome));
            }
            let mut preview = outcome.clone();
            preview.changed = true;
            preview.msg = Some(format!("would remove {}", remove.join(", ")));
            return Ok(Check::Drift {
                drift: Deb822Drift {
                    write: None,
                    chmod: false,
                    key: None,
                    remove,
                    outcome,
                },
                preview,
            });
        }
        let key_ext = report.take("key_ext");
        let key_same = report.take("key_same").as_deref() == Some("1");
        let key_mode_ok = report.take("key_mode").as_deref() == Some("644");
        let key_tmp = report.take("key_tmp");
        let signed_by_file = report.take("signed_by_file").is_some();
        let content = report.take_raw("content").unwrap_or_default();
        let key_file = match (&key_ext, signed_by_file) {
            (Some(ext), _) => Some(format!("{}.{ext}", self.key_base())),
            (None, true) => self.signed_by.clone(),
            (None, false) => None,
        };
        let repo = self.render(key_file.as_deref());
        let before = exists.then(|| String::from_utf8_lossy(&content).into_owned());
        let write = (before.as_deref() != Some(repo.as_str())).then(|| repo.clone());
        let chmod = current_mode
            .as_deref()
            .is_some_and(|m| u32::from_str_radix(m, 8).ok() != Some(mode));
        let key = match (&key_file, &key_ext) {
            (Some(path), Some(_)) if !key_same || !key_mode_ok => Some((key_tmp, path.clone())),
            _ => None,
        };
        let outcome = Outcome::ok()
            .with_data("repo", repo.clone())
            .with_data("dest", dest.clone())
            .with_data(
                "key_filename",
                key_file.clone().map_or(Value::Null, Value::from),
            );
        if write.is_none() && !chmod && key.is_none() {
            return Ok(Check::InSync(outcome));
        }
        let mut preview = outcome.clone();
        preview.changed = true;
        preview.msg = Some(match (&write, &key) {
            (Some(_), _) => format!("would write {dest}"),
            (None, Some((_, k))) => format!("would write the key {k}"),
            (None, None) => format!("would change the mode of {dest}"),
        });
        if cx.diff && write.is_some() {
            preview.diffs.push(Diff {
                subject: dest.clone(),
                before,
                after: Some(repo),
            });
        }
        Ok(Check::Drift {
            drift: Deb822Drift {
                write,
                chmod,
                key,
                remove: Vec::new(),
                outcome,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: Deb822Drift) -> Result<Outcome, TaskError> {
        let mode = parse_mode(&self.mode)?;
        let dest = self.dest();
        let mut s = String::from(remote::FAIL_FN);
        for path in &drift.remove {
            s.push_str(&format!(
                "rm -f -- {} || fail remove\n",
                remote::path_arg(path)
            ));
        }
        if let Some((tmp, key)) = &drift.key {
            let k = remote::path_arg(key);
            if let Some(tmp) = tmp {
                s.push_str(&format!(
                    "mkdir -p -m 0755 {KEYRINGS_DIR} || fail mkdir\nmv -f -- {} {k} || fail key\n",
                    shell_quote(tmp)
                ));
            }
            s.push_str(&format!("chmod 0644 {k} || fail key\n"));
        }
        match &drift.write {
            Some(content) => s.push_str(&remote::atomic_write_script(&AtomicWrite {
                path: &dest,
                dir: "/etc/apt/sources.list.d",
                create_dir: true,
                attrs: SetAttrs {
                    mode: Some(mode),
                    owner: None,
                    group: None,
                },
                keep_ids: None,
                content: Some(content.as_bytes()),
                backup: false,
                validate: None,
            })),
            None if drift.chmod => s.push_str(&format!(
                "chmod {mode:o} {} || fail chmod\n",
                remote::path_arg(&dest)
            )),
            None => {}
        }
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            return Err(remote::with_detail(
                format!("could not write {dest}"),
                &failure,
            ));
        }
        let mut outcome = drift.outcome;
        outcome.changed = true;
        outcome.msg = Some(match drift.remove.is_empty() {
            true => format!("wrote {dest}"),
            false => format!("removed {}", drift.remove.join(", ")),
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> Deb822Repository {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    #[test]
    fn files_are_rendered_as_ansible_renders_them() {
        let t = task(json!({
            "name": "Docker CE_stable repo",
            "uris": "https://download.docker.com/linux/debian",
            "suites": ["bookworm"],
            "components": "stable",
            "signed_by": "https://download.docker.com/linux/debian/gpg",
            "enabled": true,
        }));
        assert_eq!(slug(&t.name), "docker-ce-stable-repo");
        assert_eq!(
            t.render(Some("/etc/apt/keyrings/docker-ce-stable-repo.asc")),
            "Components: stable\nEnabled: yes\nX-Repolib-Name: Docker CE_stable repo\n\
             Signed-By: /etc/apt/keyrings/docker-ce-stable-repo.asc\nSuites: bookworm\n\
             Types: deb\nURIs: https://download.docker.com/linux/debian\n"
        );
        let inline = task(
            json!({"name": "x", "signed_by": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"}),
        );
        assert!(!is_url(inline.signed_by.as_deref().unwrap_or_default()));
        assert!(inline.render(None).contains(
            "Signed-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    abc\n    -----END PGP PUBLIC KEY BLOCK-----\n"
        ));
        assert_eq!(field_name("check_valid_until"), "Check-Valid-Until");
    }
}
