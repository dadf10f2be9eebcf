//! The `openssl_csr` task (community.crypto's name, with or without the
//! `community.crypto.` prefix): a certificate signing request on the host,
//! made by the host's own `openssl req` from a private key that never
//! leaves the host.
//!
//! The check is one script that sends back the CSR as `openssl req`
//! re-encodes it, whether its signature verifies, the public half of the
//! private key and the file's mode and owner. Those are compared here the
//! way community.crypto compares them: the subject as a set of fields, the
//! alternative names and extended usages as sets, key usage, basic
//! constraints and each one's criticality, no other extension, and the
//! public key. A matching CSR is kept (only its mode or owner corrected);
//! otherwise the apply writes a new one into a scratch directory beside the
//! path, created under umask 077, gives it its mode and renames it into
//! place. Diffs show the subject, names, usages and key fingerprint.
//!
//! Not supported: `privatekey_content`, `privatekey_passphrase`,
//! `subject_ordered`, `ocsp_must_staple`, name constraints, key
//! identifiers, CRL distribution points, `backup`, `version`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{parse_mode, path_arg, shell_quote};
use crate::tasks::x509_common::{self as x509, Facts, PkiError, Summary};
use crate::tasks::x509_script::{self as script, Input, Probe, attrs_differ, attrs_summary};

const MODULE: &str = "openssl_csr";

/// The arguments of `openssl_csr`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpensslCsr {
    pub path: String,
    pub privatekey_path: Option<String>,
    pub common_name: Option<String>,
    pub country_name: Option<String>,
    pub state_or_province_name: Option<String>,
    pub locality_name: Option<String>,
    pub organization_name: Option<String>,
    pub organizational_unit_name: Option<String>,
    pub email_address: Option<String>,
    pub subject: Option<Map<String, Value>>,
    pub subject_alt_name: Option<Vec<String>>,
    pub subject_alt_name_critical: bool,
    pub use_common_name_for_san: bool,
    pub key_usage: Option<Vec<String>>,
    pub key_usage_critical: bool,
    pub extended_key_usage: Option<Vec<String>>,
    pub extended_key_usage_critical: bool,
    pub basic_constraints: Option<Vec<String>>,
    pub basic_constraints_critical: bool,
    pub digest: String,
    pub state: String,
    pub force: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub return_content: bool,
}

/// The parameters of `openssl_csr`, as community.crypto names them.
pub fn spec() -> Spec {
    let flag = |name: &str, alias: &str| {
        let p = Param::new(name, Kind::Bool).default(false);
        if alias.is_empty() {
            p
        } else {
            p.aliases(&[alias])
        }
    };
    Spec::new(
        MODULE,
        vec![
            Param::new("path", Kind::Path).required(),
            Param::new("privatekey_path", Kind::Path),
            Param::new("common_name", Kind::Str).aliases(&["CN", "commonName"]),
            Param::new("country_name", Kind::Str).aliases(&["C", "countryName"]),
            Param::new("state_or_province_name", Kind::Str).aliases(&["ST", "stateOrProvinceName"]),
            Param::new("locality_name", Kind::Str).aliases(&["L", "localityName"]),
            Param::new("organization_name", Kind::Str).aliases(&["O", "organizationName"]),
            Param::new("organizational_unit_name", Kind::Str)
                .aliases(&["OU", "organizationalUnitName"]),
            Param::new("email_address", Kind::Str).aliases(&["E", "emailAddress"]),
            Param::new("subject", Kind::Dict),
            Param::new("subject_alt_name", Kind::List).aliases(&["subjectAltName"]),
            flag("subject_alt_name_critical", "subjectAltName_critical"),
            Param::new("use_common_name_for_san", Kind::Bool)
                .default(true)
                .aliases(&["useCommonNameForSAN"]),
            Param::new("key_usage", Kind::List).aliases(&["keyUsage"]),
            flag("key_usage_critical", "keyUsage_critical"),
            Param::new("extended_key_usage", Kind::List)
                .aliases(&["extKeyUsage", "extendedKeyUsage"]),
            flag("extended_key_usage_critical", "extKeyUsage_critical"),
            Param::new("basic_constraints", Kind::List).aliases(&["basicConstraints"]),
            flag("basic_constraints_critical", "basicConstraints_critical"),
            Param::new("digest", Kind::Str).default("sha256"),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            flag("force", ""),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            flag("return_content", ""),
        ],
    )
}

/// The CSR the task asks for, read from its arguments.
#[derive(Debug, Clone)]
struct Wanted {
    /// `(short name, value)` in community.crypto's order.
    subject: Vec<(String, String)>,
    alt_names: Vec<String>,
    key_usage: Option<u16>,
    extended_usage: Option<Vec<String>>,
    basic_constraints: Option<(bool, Option<u32>)>,
    digest: String,
    mode: Option<u32>,
}

/// What `apply` does.
#[derive(Debug)]
pub enum CsrDrift {
    /// Write a new CSR; whether the key signs with a separate digest.
    Generate {
        digest: bool,
    },
    Chmod,
    Remove,
}

impl OpensslCsr {
    fn wanted(&self) -> Result<Wanted, PkiError> {
        let mut subject = Vec::new();
        let fields = [
            ("C", &self.country_name),
            ("ST", &self.state_or_province_name),
            ("L", &self.locality_name),
            ("O", &self.organization_name),
            ("OU", &self.organizational_unit_name),
            ("CN", &self.common_name),
            ("emailAddress", &self.email_address),
        ];
        for (name, value) in fields {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                subject.push((name.to_string(), v.to_string()));
            }
        }
        for (key, value) in self.subject.iter().flatten() {
            let (short, _) = x509::name_field(key).ok_or_else(|| PkiError::NameField {
                module: MODULE,
                param: "subject".to_string(),
                name: key.clone(),
            })?;
            let values = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for v in values {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if !text.is_empty() {
                    subject.push((short.clone(), text));
                }
            }
        }
        let mut alt_names = Vec::new();
        for name in self.subject_alt_name.iter().flatten() {
            alt_names.push(x509::alt_name(name, MODULE)?);
        }
        if alt_names.is_empty() && self.use_common_name_for_san {
            if let Some((_, cn)) = subject.iter().find(|(k, _)| k == "CN") {
                alt_names.push(x509::alt_name(&format!("DNS:{cn}"), MODULE)?);
            }
        }
        let key_usage = match self.key_usage.as_deref() {
            Some(names) if !names.is_empty() => Some(
                names
                    .iter()
                    .map(|n| x509::key_usage_bit(n, MODULE))
                    .try_fold(0u16, |acc, bit| bit.map(|b| acc | b))?,
            ),
            _ => None,
        };
        let extended_usage = match self.extended_key_usage.as_deref() {
            Some(names) if !names.is_empty() => Some(
                names
                    .iter()
                    .map(|n| x509::extended_usage_oid(n, MODULE))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => None,
        };
        let basic_constraints = match self.basic_constraints.as_deref() {
            Some(items) if !items.is_empty() => Some(x509::basic_constraints(items, MODULE)?),
            _ => None,
        };
        let mode = match &self.mode {
            Some(m) => Some(parse_mode(m).map_err(|_| PkiError::Mode(m.clone(), MODULE))?),
            None => None,
        };
        Ok(Wanted {
            subject,
            alt_names,
            key_usage,
            extended_usage,
            basic_constraints,
            digest: x509::digest_option(&self.digest, MODULE)?,
            mode,
        })
    }

    /// The facts a CSR made from `wanted` has, for its summary.
    fn wanted_facts(&self, wanted: &Wanted) -> Facts {
        Facts {
            subject: wanted.subject.clone(),
            alt_names: (!wanted.alt_names.is_empty())
                .then(|| (wanted.alt_names.clone(), self.subject_alt_name_critical)),
            key_usage: wanted.key_usage.map(|b| (b, self.key_usage_critical)),
            extended_usage: wanted
                .extended_usage
                .clone()
                .map(|o| (o, self.extended_key_usage_critical)),
            basic_constraints: wanted
                .basic_constraints
                .map(|(ca, n)| (ca, n, self.basic_constraints_critical)),
            ..Facts::default()
        }
    }

    /// Whether an existing CSR says what the task asks for, as
    /// community.crypto decides it (the key is compared separately).
    fn matches(&self, wanted: &Wanted, found: &Facts) -> bool {
        let mut a = wanted.subject.clone();
        let mut b = found.subject.clone();
        a.sort();
        b.sort();
        if a != b {
            return false;
        }
        let set = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
        let (names, names_critical) = found.alt_names.clone().unwrap_or_default();
        if set(&names) != set(&wanted.alt_names)
            || (!names.is_empty() && names_critical != self.subject_alt_name_critical)
        {
            return false;
        }
        let usage_ok = match (wanted.key_usage, found.key_usage) {
            (None, None) => true,
            (Some(w), Some((f, critical))) => w == f && critical == self.key_usage_critical,
            _ => false,
        };
        let (oids, oids_critical) = found.extended_usage.clone().unwrap_or_default();
        let wanted_oids = wanted.extended_usage.clone().unwrap_or_default();
        let extended_ok = set(&oids) == set(&wanted_oids)
            && (oids.is_empty() || oids_critical == self.extended_key_usage_critical);
        let constraints_ok = match (wanted.basic_constraints, found.basic_constraints) {
            (None, None) => true,
            (Some((ca, n)), Some((fca, fn_, critical))) => {
                ca == fca && n == fn_ && critical == self.basic_constraints_critical
            }
            _ => false,
        };
        let managed = [
            x509::SAN_OID,
            x509::KEY_USAGE_OID,
            x509::EXT_KEY_USAGE_OID,
            x509::BASIC_CONSTRAINTS_OID,
        ];
        let only_managed = found
            .extensions
            .iter()
            .all(|e| managed.contains(&e.oid.as_str()));
        usage_ok && extended_ok && constraints_ok && only_managed
    }

    fn key_path(&self) -> Result<&str, PkiError> {
        self.privatekey_path.as_deref().ok_or(PkiError::Required(
            MODULE,
            "privatekey_path",
            "state present",
        ))
    }

    fn inspect_lines(&self) -> String {
        let mut s = String::new();
        if let Some(k) = &self.privatekey_path {
            s.push_str(&format!(
                "k={}\nshow key \"$k\" openssl pkey -in \"$k\" -passin pass: -pubout\n",
                path_arg(k)
            ));
        }
        s.push_str(
            "show csr \"$p\" openssl req -in \"$p\" -outform PEM\n\
             if [ -e \"$p\" ]; then if openssl req -in \"$p\" -noout -verify >/dev/null 2>&1; \
             then echo sigok=1; else echo sigok=0; fi; fi\n",
        );
        s.push_str(script::STAT_LINES);
        s
    }

    async fn run(&self, cx: &Context<'_>, body: &str) -> Result<Probe, TaskError> {
        let script = format!("{}{body}", script::prelude(&self.path));
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(script::script_error(&out, MODULE, &self.path).into());
        }
        Ok(Probe::parse(&out.stdout_text()))
    }

    /// The configuration `openssl req` reads: no prompts, UTF-8 strings,
    /// and exactly the extensions the task asks for.
    fn config(&self, wanted: &Wanted) -> String {
        let crit = |c: bool| if c { "critical," } else { "" };
        let mut ext = String::new();
        if !wanted.alt_names.is_empty() {
            ext.push_str(&format!(
                "subjectAltName = {}@alt\n",
                crit(self.subject_alt_name_critical)
            ));
        }
        if let Some(bits) = wanted.key_usage {
            ext.push_str(&format!(
                "keyUsage = {}{}\n",
                crit(self.key_usage_critical),
                x509::key_usage_names(bits).join(",")
            ));
        }
        if let Some(oids) = &wanted.extended_usage {
            ext.push_str(&format!(
                "extendedKeyUsage = {}{}\n",
                crit(self.extended_key_usage_critical),
                oids.join(",")
            ));
        }
        if let Some((ca, n)) = wanted.basic_constraints {
            ext.push_str(&format!(
                "basicConstraints = {}{}\n",
                crit(self.basic_constraints_critical),
                x509::constraints_text(ca, n).replace(", ", ",")
            ));
        }
        let mut conf = String::from("[req]\ndistinguished_name = dn\nstring_mask = utf8only\n");
        if !ext.is_empty() {
            conf.push_str("req_extensions = ext\n");
        }
        conf.push_str("[dn]\n[ext]\n");
        conf.push_str(&ext);
        conf.push_str("[alt]\n");
        for (n, name) in wanted.alt_names.iter().enumerate() {
            if let Some((kind, value)) = name.split_once(':') {
                conf.push_str(&format!(
                    "{kind}.{} = {}\n",
                    n + 1,
                    script::conf_value(value)
                ));
            }
        }
        conf
    }

    fn generate_lines(&self, wanted: &Wanted, digest: bool) -> String {
        let subj: String = wanted
            .subject
            .iter()
            .map(|(k, v)| format!("/{k}={}", script::subj_value(v)))
            .collect();
        let subj = if subj.is_empty() {
            "/".to_string()
        } else {
            subj
        };
        let md = if digest {
            format!(" -{}", wanted.digest)
        } else {
            String::new()
        };
        format!(
            "{scratch}{conf}( umask 077; openssl req -new -config \"$w/req.cnf\" -key \"$k\" -passin pass: \
             -utf8 -subj {subj}{md} -out \"$w/out.pem\" ) >/dev/null 2>\"$w/err\" || {{ cat \"$w/err\" >&2; fail req; }}\n\
             {install}",
            scratch = script::SCRATCH_LINES,
            conf = script::write_file_line(&self.config(wanted), "\"$w/req.cnf\""),
            subj = shell_quote(&subj),
            install =
                script::install_lines(wanted.mode, self.owner.as_deref(), self.group.as_deref()),
        )
    }

    fn result(&self, wanted: Option<&Wanted>, probe: Option<&Probe>) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("filename", self.path.clone())
            .with_data("privatekey", json!(self.privatekey_path));
        if let Some(w) = wanted {
            let pairs: Vec<Value> = w.subject.iter().map(|(k, v)| json!([k, v])).collect();
            outcome = outcome
                .with_data("subject", pairs)
                .with_data(
                    "subjectAltName",
                    if w.alt_names.is_empty() {
                        Value::Null
                    } else {
                        json!(w.alt_names)
                    },
                )
                .with_data("keyUsage", json!(self.key_usage))
                .with_data("extendedKeyUsage", json!(self.extended_key_usage))
                .with_data("basicConstraints", json!(self.basic_constraints))
                .with_data("ocspMustStaple", false)
                .with_data("name_constraints_permitted", json!([]))
                .with_data("name_constraints_excluded", json!([]));
        }
        if self.return_content && self.state == "present" {
            let pem = probe.and_then(|p| p.pem("csr")).map(str::to_string);
            outcome = outcome.with_data("csr", json!(pem));
        }
        outcome
    }
}

#[async_trait]
impl Task for OpensslCsr {
    type Drift = CsrDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<CsrDrift>, TaskError> {
        if self.state == "absent" {
            let probe = self.run(cx, &self.inspect_lines()).await?;
            if probe.input("csr")? == Input::Absent {
                return Ok(Check::InSync(self.result(None, Some(&probe))));
            }
            let mut preview = self
                .result(None, None)
                .with_msg(format!("removed {}", self.path));
            preview.changed = true;
            if cx.diff {
                preview.diffs.push(Diff {
                    subject: format!("certificate signing request {}", self.path),
                    before: Some(self.describe(&probe)),
                    after: None,
                });
            }
            return Ok(Check::Drift {
                drift: CsrDrift::Remove,
                preview,
            });
        }
        let wanted = self.wanted()?;
        let key_path = self.key_path()?.to_string();
        let probe = self.run(cx, &self.inspect_lines()).await?;
        let key = match probe.input("key")? {
            Input::Der(der) => Some(x509::PublicKey { der }),
            Input::Absent if cx.check_mode => None,
            Input::Absent => {
                return Err(PkiError::Missing {
                    what: "the private key (privatekey_path)".to_string(),
                    path: key_path,
                }
                .into());
            }
            Input::Unreadable => {
                return Err(PkiError::Unreadable {
                    what: "the private key (privatekey_path)".to_string(),
                    path: key_path,
                }
                .into());
            }
        };
        let found = match probe.input("csr")? {
            Input::Der(der) => Facts::from_csr(&der),
            _ => None,
        };
        let attrs = probe.attrs();
        let in_sync = !self.force
            && probe.field("sigok") == Some("1")
            && key.is_some()
            && found
                .as_ref()
                .is_some_and(|f| f.key == key && self.matches(&wanted, f));
        let (owner, group) = (self.owner.as_deref(), self.group.as_deref());
        let (drift, msg) = if !in_sync {
            let digest = key.as_ref().is_none_or(x509::PublicKey::needs_digest);
            (
                CsrDrift::Generate { digest },
                format!("generated a certificate signing request in {}", self.path),
            )
        } else if attrs
            .as_ref()
            .is_some_and(|a| attrs_differ(a, wanted.mode, owner, group))
        {
            (
                CsrDrift::Chmod,
                format!("changed the mode or owner of {}", self.path),
            )
        } else {
            return Ok(Check::InSync(self.result(Some(&wanted), Some(&probe))));
        };
        let mut preview = self.result(Some(&wanted), Some(&probe)).with_msg(msg);
        preview.changed = true;
        if cx.diff {
            let before = (probe.input("csr")? != Input::Absent).then(|| self.describe(&probe));
            let mut after = Summary::of(&self.wanted_facts(&wanted));
            after.add(
                "public key sha256",
                key.as_ref().map_or_else(
                    || format!("(of {key_path}, which does not exist yet)"),
                    x509::PublicKey::fingerprint,
                ),
            );
            attrs_summary(&mut after, attrs.as_ref(), wanted.mode, owner, group);
            preview.diffs.push(Diff {
                subject: format!("certificate signing request {}", self.path),
                before,
                after: Some(after.text()),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: CsrDrift) -> Result<Outcome, TaskError> {
        let (owner, group) = (self.owner.as_deref(), self.group.as_deref());
        let (body, msg, wanted) = match drift {
            CsrDrift::Remove => (
                "rm -f -- \"$p\" || fail rm\n".to_string(),
                format!("removed {}", self.path),
                None,
            ),
            CsrDrift::Chmod => {
                let wanted = self.wanted()?;
                (
                    script::chmod_lines(wanted.mode, owner, group),
                    format!("changed the mode or owner of {}", self.path),
                    Some(wanted),
                )
            }
            CsrDrift::Generate { digest } => {
                let wanted = self.wanted()?;
                (
                    format!(
                        "k={}\n{}",
                        path_arg(self.key_path()?),
                        self.generate_lines(&wanted, digest)
                    ),
                    format!("generated a certificate signing request in {}", self.path),
                    Some(wanted),
                )
            }
        };
        let probe = self
            .run(cx, &format!("{body}{}", self.inspect_lines()))
            .await?;
        let mut outcome = self.result(wanted.as_ref(), Some(&probe)).with_msg(msg);
        outcome.changed = true;
        Ok(outcome)
    }
}

impl OpensslCsr {
    /// The summary of the CSR on the host, for a diff's `before`.
    fn describe(&self, probe: &Probe) -> String {
        let facts = match probe.input("csr") {
            Ok(Input::Der(der)) => Facts::from_csr(&der),
            _ => None,
        };
        let Some(facts) = facts else {
            return "not a certificate signing request openssl can read\n".to_string();
        };
        let mut s = Summary::of(&facts);
        if let Some(key) = &facts.key {
            s.add("public key sha256", key.fingerprint());
        }
        attrs_summary(&mut s, probe.attrs().as_ref(), None, None, None);
        s.text()
    }
}
