//! The `x509_certificate` task (community.crypto's name, also under its old
//! name `openssl_certificate`, with or without the `community.crypto.`
//! prefix): a certificate on the host, self-signed or signed by the task's
//! own CA, made by the host's own `openssl ca` from a CSR. No private key
//! ever leaves the host.
//!
//! The check is one script that sends back the certificate, the CSR, the
//! CA certificate (all as `openssl` re-encodes them), the public halves of
//! the private keys, whether the CSR's signature verifies, whether `openssl
//! verify -CAfile` accepts the certificate as issued by the CA, and the
//! file's mode and owner. A certificate is kept when it still carries the
//! CSR's key, subject and extensions, has its subject key identifier (and,
//! for `ownca`, its authority key identifier), is issued by the CA and has
//! not expired; otherwise a new one is signed in a scratch directory beside
//! the path (created under umask 077), given its mode and renamed into
//! place. Diffs show subject, alternative names, issuer, validity and the
//! public key fingerprint instead of PEM text.
//!
//! Differences from community.crypto: in check mode, a missing CSR, key or
//! CA (which an earlier task of the play would make) is reported as a
//! change instead of a failure; an expired certificate is made again; and
//! a CSR made for another key than `privatekey_path` fails clearly. Not
//! supported: the `acme` and `entrust` providers, `*_content` and
//! passphrase parameters, `backup`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, parse_mode, path_arg};
use crate::tasks::x509_common::{self as x509, Facts, PkiError, PublicKey, Summary};
use crate::tasks::x509_script::{
    self as script, Input, Probe, attrs_differ, attrs_summary, read_input,
};

const MODULE: &str = "x509_certificate";

/// The arguments of `x509_certificate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Certificate {
    pub path: String,
    pub provider: Option<String>,
    pub csr_path: Option<String>,
    pub privatekey_path: Option<String>,
    pub ownca_path: Option<String>,
    pub ownca_privatekey_path: Option<String>,
    pub ownca_digest: String,
    pub ownca_not_before: String,
    pub ownca_not_after: String,
    pub ownca_create_subject_key_identifier: String,
    pub ownca_create_authority_key_identifier: bool,
    pub selfsigned_digest: String,
    pub selfsigned_not_before: String,
    pub selfsigned_not_after: String,
    pub selfsigned_create_subject_key_identifier: String,
    pub ignore_timestamps: bool,
    pub state: String,
    pub force: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub return_content: bool,
}

/// The parameters of `x509_certificate`, as community.crypto names them.
pub fn spec() -> Spec {
    named_spec(MODULE)
}

/// The same parameters under the module's old name.
pub fn openssl_certificate_spec() -> Spec {
    named_spec("openssl_certificate")
}

fn named_spec(name: &str) -> Spec {
    let ski = |name: &str| {
        Param::new(name, Kind::Str)
            .choices(&["create_if_not_provided", "always_create", "never_create"])
            .default("create_if_not_provided")
    };
    Spec::new(
        name,
        vec![
            Param::new("path", Kind::Path).required(),
            Param::new("provider", Kind::Str),
            Param::new("csr_path", Kind::Path),
            Param::new("privatekey_path", Kind::Path),
            Param::new("ownca_path", Kind::Path),
            Param::new("ownca_privatekey_path", Kind::Path),
            Param::new("ownca_digest", Kind::Str).default("sha256"),
            Param::new("ownca_not_before", Kind::Str).default("+0s"),
            Param::new("ownca_not_after", Kind::Str).default("+3650d"),
            ski("ownca_create_subject_key_identifier"),
            Param::new("ownca_create_authority_key_identifier", Kind::Bool).default(true),
            Param::new("selfsigned_digest", Kind::Str).default("sha256"),
            Param::new("selfsigned_not_before", Kind::Str)
                .default("+0s")
                .aliases(&["selfsigned_notBefore"]),
            Param::new("selfsigned_not_after", Kind::Str)
                .default("+3650d")
                .aliases(&["selfsigned_notAfter"]),
            ski("selfsigned_create_subject_key_identifier"),
            Param::new("ignore_timestamps", Kind::Bool).default(true),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("force", Kind::Bool).default(false),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("return_content", Kind::Bool).default(false),
        ],
    )
}

/// Why an `x509_certificate` task cannot run, beyond what all PKI tasks share.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("x509_certificate: `provider` is required with state present; use selfsigned or ownca")]
    NoProvider,
    #[error(
        "x509_certificate: provider {0:?} is not supported natively (dtrplay makes selfsigned and ownca certificates; acme and entrust are not supported)"
    )]
    Provider(String),
    #[error("x509_certificate: the ownca provider needs `{0}`")]
    OwncaParam(&'static str),
    #[error(
        "x509_certificate: the selfsigned provider needs `privatekey_path`, the key that signs the certificate"
    )]
    NoKey,
    #[error("the certificate signing request {csr} was made for another key than {key}")]
    KeyMismatch { csr: String, key: String },
    #[error("the CA private key {key} does not belong to the CA certificate {cert}")]
    CaKeyMismatch { key: String, cert: String },
}

impl From<CertError> for TaskError {
    fn from(err: CertError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// What the task asks for, read from its arguments.
#[derive(Debug, Clone)]
pub struct Wanted {
    ownca: bool,
    digest: String,
    not_before: i64,
    not_after: i64,
    ski: String,
    mode: Option<u32>,
}

/// What `apply` does.
#[derive(Debug)]
pub enum CertDrift {
    /// Sign a new certificate; whether the signing key needs a digest,
    /// and whether the CSR has a subject key identifier of its own.
    Generate {
        wanted: Box<Wanted>,
        digest: bool,
        csr_has_ski: bool,
    },
    Chmod,
    Remove,
}

/// The inputs the check read.
struct Inputs {
    csr: Option<Facts>,
    key: Option<PublicKey>,
    ca: Option<Facts>,
    ca_key: Option<PublicKey>,
}

impl X509Certificate {
    fn wanted(&self) -> Result<Wanted, TaskError> {
        let provider = self.provider.as_deref().ok_or(CertError::NoProvider)?;
        let ownca = match provider {
            "selfsigned" => false,
            "ownca" => true,
            other => return Err(CertError::Provider(other.to_string()).into()),
        };
        if ownca {
            if self.ownca_path.is_none() {
                return Err(CertError::OwncaParam("ownca_path").into());
            }
            if self.ownca_privatekey_path.is_none() {
                return Err(CertError::OwncaParam("ownca_privatekey_path").into());
            }
        } else if self.privatekey_path.is_none() {
            return Err(CertError::NoKey.into());
        }
        let (digest, nb, na, ski, prefix) = if ownca {
            (
                &self.ownca_digest,
                &self.ownca_not_before,
                &self.ownca_not_after,
                &self.ownca_create_subject_key_identifier,
                ("ownca_not_before", "ownca_not_after"),
            )
        } else {
            (
                &self.selfsigned_digest,
                &self.selfsigned_not_before,
                &self.selfsigned_not_after,
                &self.selfsigned_create_subject_key_identifier,
                ("selfsigned_not_before", "selfsigned_not_after"),
            )
        };
        let now = crate::cert::now_unix();
        let time = |spec: &str, param: &'static str| {
            x509::time_spec(spec, now).ok_or_else(|| PkiError::TimeSpec {
                module: MODULE,
                param,
                spec: spec.to_string(),
            })
        };
        let mode = match &self.mode {
            Some(m) => Some(parse_mode(m).map_err(|_| PkiError::Mode(m.clone(), MODULE))?),
            None => None,
        };
        Ok(Wanted {
            ownca,
            digest: x509::digest_option(digest, MODULE)?,
            not_before: time(nb, prefix.0)?,
            not_after: time(na, prefix.1)?,
            ski: ski.clone(),
            mode,
        })
    }

    fn inspect_lines(&self, wanted: Option<&Wanted>) -> String {
        let mut s = String::new();
        let show = |s: &mut String, var: &str, name: &str, path: &Option<String>, cmd: &str| {
            if let Some(path) = path {
                s.push_str(&format!(
                    "{var}={}\nshow {name} \"${var}\" {cmd}\n",
                    path_arg(path)
                ));
            }
        };
        if let Some(w) = wanted {
            let pkey = "openssl pkey -passin pass: -pubout -in";
            show(
                &mut s,
                "k",
                "key",
                &self.privatekey_path,
                &format!("{pkey} \"$k\""),
            );
            show(
                &mut s,
                "c",
                "csr",
                &self.csr_path,
                "openssl req -outform PEM -in \"$c\"",
            );
            if self.csr_path.is_some() {
                s.push_str(
                    "if [ -e \"$c\" ]; then if openssl req -in \"$c\" -noout -verify >/dev/null 2>&1; \
                     then echo csrsig=1; else echo csrsig=0; fi; fi\n",
                );
            }
            if w.ownca {
                show(
                    &mut s,
                    "a",
                    "ca",
                    &self.ownca_path,
                    "openssl x509 -outform PEM -in \"$a\"",
                );
                show(
                    &mut s,
                    "ak",
                    "cakey",
                    &self.ownca_privatekey_path,
                    &format!("{pkey} \"$ak\""),
                );
                s.push_str(
                    "if [ -e \"$p\" ] && [ -e \"$a\" ]; then \
                     if openssl verify -no_check_time -partial_chain -CAfile \"$a\" \"$p\" >/dev/null 2>&1; \
                     then echo verify=1; else echo verify=0; fi; fi\n",
                );
            }
        }
        s.push_str("show cert \"$p\" openssl x509 -outform PEM -in \"$p\"\n");
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

    fn inputs(
        &self,
        probe: &Probe,
        wanted: &Wanted,
        check_mode: bool,
    ) -> Result<Inputs, TaskError> {
        let key_of = |der: Vec<u8>| Some(PublicKey { der });
        let mut inputs = Inputs {
            csr: None,
            key: None,
            ca: None,
            ca_key: None,
        };
        if let Some(k) = &self.privatekey_path {
            inputs.key = read_input(
                probe,
                "key",
                "the private key (privatekey_path)",
                k,
                check_mode,
                key_of,
            )?;
        }
        match &self.csr_path {
            Some(c) => {
                inputs.csr = read_input(
                    probe,
                    "csr",
                    "the certificate signing request (csr_path)",
                    c,
                    check_mode,
                    |der| Facts::from_csr(&der),
                )?;
                if inputs.csr.is_some() && probe.field("csrsig") != Some("1") {
                    return Err(PkiError::Unreadable {
                        what: "the certificate signing request (csr_path, its signature does not verify)".to_string(),
                        path: c.clone(),
                    }
                    .into());
                }
            }
            // Without a CSR, a self-signed certificate has an empty subject
            // and no extensions but its key identifier, as in community.crypto.
            None => {
                inputs.csr = inputs.key.clone().map(|key| Facts {
                    subject_der: vec![0x30, 0x00],
                    key: Some(key),
                    ..Facts::default()
                });
            }
        }
        if let (Some(csr), Some(key), Some(k)) = (&inputs.csr, &inputs.key, &self.privatekey_path)
            && csr.key.as_ref() != Some(key)
        {
            return Err(CertError::KeyMismatch {
                csr: self.csr_path.clone().unwrap_or_default(),
                key: k.clone(),
            }
            .into());
        }
        if wanted.ownca {
            let (a, ak) = (
                self.ownca_path.clone().unwrap_or_default(),
                self.ownca_privatekey_path.clone().unwrap_or_default(),
            );
            inputs.ca = read_input(
                probe,
                "ca",
                "the CA certificate (ownca_path)",
                &a,
                check_mode,
                |der| Facts::from_certificate(&der),
            )?;
            inputs.ca_key = read_input(
                probe,
                "cakey",
                "the CA private key (ownca_privatekey_path)",
                &ak,
                check_mode,
                key_of,
            )?;
            if let (Some(ca), Some(ca_key)) = (&inputs.ca, &inputs.ca_key)
                && ca.key.as_ref() != Some(ca_key)
            {
                return Err(CertError::CaKeyMismatch { key: ak, cert: a }.into());
            }
        }
        Ok(inputs)
    }

    /// Whether the certificate on the host is still the one the task asks
    /// for (see the module's documentation).
    fn keeps(&self, wanted: &Wanted, inputs: &Inputs, cert: &Facts, probe: &Probe) -> bool {
        let Some(csr) = &inputs.csr else {
            return false;
        };
        let key_ok = cert.key.is_some() && cert.key == csr.key;
        let csr_ok = cert.subject_der == csr.subject_der
            && cert.carried_extensions() == csr.carried_extensions();
        let ski_ok = match wanted.ski.as_str() {
            "never_create" => cert.subject_key_id == csr.subject_key_id,
            "create_if_not_provided" if csr.subject_key_id.is_some() => {
                cert.subject_key_id == csr.subject_key_id
            }
            _ => cert.subject_key_id == cert.key.as_ref().map(PublicKey::key_id),
        };
        let ca_ok = if wanted.ownca {
            let Some(ca) = &inputs.ca else {
                return false;
            };
            let aki_ok = !self.ownca_create_authority_key_identifier
                || cert.authority_key_id
                    == ca
                        .subject_key_id
                        .clone()
                        .or_else(|| ca.key.as_ref().map(PublicKey::key_id));
            cert.issuer_der == ca.subject_der && probe.field("verify") == Some("1") && aki_ok
        } else {
            cert.issuer_der == cert.subject_der && cert.authority_key_id == csr.authority_key_id
        };
        let now = crate::cert::now_unix();
        let times_ok = self.ignore_timestamps
            || (cert.not_before == wanted.not_before && cert.not_after == wanted.not_after);
        key_ok && csr_ok && ski_ok && ca_ok && cert.not_after > now && times_ok
    }

    /// The configuration `openssl ca` reads: a throwaway database in the
    /// scratch directory, the subject exactly as the CSR has it, the CSR's
    /// extensions, and the key identifiers community.crypto adds.
    fn generate_lines(&self, wanted: &Wanted, digest: bool, csr_has_ski: bool) -> String {
        // A CSR's own subject key identifier is copied when the task only
        // creates one if the CSR has none.
        let subject_key_id = match wanted.ski.as_str() {
            "never_create" => Some("none"),
            "create_if_not_provided" if csr_has_ski => None,
            _ => Some("hash"),
        };
        script::sign_lines(&script::Signing {
            ownca: wanted.ownca,
            digest: digest.then_some(wanted.digest.as_str()),
            not_before: wanted.not_before,
            not_after: wanted.not_after,
            subject_key_id,
            authority_key_id: wanted.ownca && self.ownca_create_authority_key_identifier,
            without_csr: self.csr_path.is_none(),
            mode: wanted.mode,
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        })
    }

    /// The summary of a certificate; `issuer` in words when it is not the
    /// certificate's own.
    fn summary(cert: &Facts, issuer: Option<String>) -> Summary {
        let mut s = Summary::of(cert);
        s.add(
            "issuer",
            issuer.unwrap_or_else(|| x509::name_text(&cert.issuer)),
        );
        s.add("not before", crate::cert::format_time(cert.not_before));
        s.add("not after", crate::cert::format_time(cert.not_after));
        s.add(
            "public key sha256",
            cert.key
                .as_ref()
                .map_or_else(String::new, PublicKey::fingerprint),
        );
        s
    }

    /// What the new certificate will say.
    fn after(&self, wanted: &Wanted, inputs: &Inputs, attrs: Option<&remote::Attrs>) -> String {
        let mut s = match &inputs.csr {
            Some(csr) => {
                let cert = Facts {
                    not_before: wanted.not_before,
                    not_after: wanted.not_after,
                    ..csr.clone()
                };
                let issuer = match (wanted.ownca, &inputs.ca) {
                    (false, _) => x509::name_text(&csr.subject),
                    (true, Some(ca)) => x509::name_text(&ca.subject),
                    (true, None) => format!(
                        "(the subject of {}, which does not exist yet)",
                        self.ownca_path.as_deref().unwrap_or_default()
                    ),
                };
                Self::summary(&cert, Some(issuer))
            }
            None => {
                let mut s = Summary::default();
                s.add(
                    "subject",
                    format!(
                        "(from {}, which does not exist yet)",
                        self.csr_path.as_deref().unwrap_or_default()
                    ),
                );
                s.add("not before", crate::cert::format_time(wanted.not_before));
                s.add("not after", crate::cert::format_time(wanted.not_after));
                s
            }
        };
        attrs_summary(
            &mut s,
            attrs,
            wanted.mode,
            self.owner.as_deref(),
            self.group.as_deref(),
        );
        s.text()
    }

    fn before(probe: &Probe) -> Option<String> {
        let cert = match probe.input("cert") {
            Ok(Input::Absent) => return None,
            Ok(Input::Der(der)) => Facts::from_certificate(&der),
            _ => None,
        };
        let Some(cert) = cert else {
            return Some("not a certificate openssl can read\n".to_string());
        };
        let mut s = Self::summary(&cert, None);
        attrs_summary(&mut s, probe.attrs().as_ref(), None, None, None);
        Some(s.text())
    }

    fn result(&self, wanted: Option<&Wanted>, probe: Option<&Probe>, planned: bool) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("filename", self.path.clone())
            .with_data("privatekey", json!(self.privatekey_path))
            .with_data("csr", json!(self.csr_path));
        if wanted.is_some_and(|w| w.ownca) {
            outcome = outcome
                .with_data("ca_cert", json!(self.ownca_path))
                .with_data("ca_privatekey", json!(self.ownca_privatekey_path));
        }
        let cert = probe.and_then(|p| match p.input("cert") {
            Ok(Input::Der(der)) => Facts::from_certificate(&der),
            _ => None,
        });
        if let Some(w) = wanted {
            let (nb, na, serial) = match (&cert, planned) {
                (Some(c), false) => (c.not_before, c.not_after, Value::from(c.serial_decimal())),
                _ => (w.not_before, w.not_after, Value::Null),
            };
            outcome = outcome
                .with_data("notBefore", x509::asn1_time(nb))
                .with_data("notAfter", x509::asn1_time(na))
                .with_data("serial_number", serial);
        }
        if self.return_content {
            let pem = probe
                .filter(|_| self.state == "present" && !planned)
                .and_then(|p| p.pem("cert"))
                .map(str::to_string);
            outcome = outcome.with_data("certificate", json!(pem));
        }
        outcome
    }
}

#[async_trait]
impl Task for X509Certificate {
    type Drift = CertDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<CertDrift>, TaskError> {
        let subject = format!("certificate {}", self.path);
        if self.state == "absent" {
            let probe = self.run(cx, &self.inspect_lines(None)).await?;
            if probe.input("cert")? == Input::Absent {
                return Ok(Check::InSync(self.result(None, Some(&probe), false)));
            }
            let mut preview = self
                .result(None, None, true)
                .with_msg(format!("removed {}", self.path));
            preview.changed = true;
            if cx.diff {
                preview.diffs.push(Diff {
                    subject,
                    before: Self::before(&probe),
                    after: None,
                });
            }
            return Ok(Check::Drift {
                drift: CertDrift::Remove,
                preview,
            });
        }
        let wanted = self.wanted()?;
        let probe = self.run(cx, &self.inspect_lines(Some(&wanted))).await?;
        let inputs = self.inputs(&probe, &wanted, cx.check_mode)?;
        let cert = match probe.input("cert")? {
            Input::Der(der) => Facts::from_certificate(&der),
            _ => None,
        };
        let attrs = probe.attrs();
        let keep = !self.force
            && cert
                .as_ref()
                .is_some_and(|c| self.keeps(&wanted, &inputs, c, &probe));
        let (owner, group) = (self.owner.as_deref(), self.group.as_deref());
        let (drift, msg) = if !keep {
            let signer = if wanted.ownca {
                &inputs.ca_key
            } else {
                &inputs.key
            };
            let digest = signer.as_ref().is_none_or(PublicKey::needs_digest);
            let kind = if wanted.ownca {
                "a CA-signed"
            } else {
                "a self-signed"
            };
            (
                CertDrift::Generate {
                    wanted: Box::new(wanted.clone()),
                    digest,
                    csr_has_ski: inputs
                        .csr
                        .as_ref()
                        .is_some_and(|c| c.subject_key_id.is_some()),
                },
                format!("generated {kind} certificate in {}", self.path),
            )
        } else if attrs
            .as_ref()
            .is_some_and(|a| attrs_differ(a, wanted.mode, owner, group))
        {
            (
                CertDrift::Chmod,
                format!("changed the mode or owner of {}", self.path),
            )
        } else {
            return Ok(Check::InSync(self.result(
                Some(&wanted),
                Some(&probe),
                false,
            )));
        };
        let planned = matches!(drift, CertDrift::Generate { .. });
        let mut preview = self
            .result(Some(&wanted), Some(&probe), planned)
            .with_msg(msg);
        preview.changed = true;
        if cx.diff {
            let after = if planned {
                self.after(&wanted, &inputs, attrs.as_ref())
            } else {
                let mut s = Self::summary(cert.as_ref().unwrap_or(&Facts::default()), None);
                attrs_summary(&mut s, attrs.as_ref(), wanted.mode, owner, group);
                s.text()
            };
            preview.diffs.push(Diff {
                subject,
                before: Self::before(&probe),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: CertDrift) -> Result<Outcome, TaskError> {
        let (owner, group) = (self.owner.as_deref(), self.group.as_deref());
        let (body, msg, wanted) = match drift {
            CertDrift::Remove => (
                "rm -f -- \"$p\" || fail rm\n".to_string(),
                format!("removed {}", self.path),
                None,
            ),
            CertDrift::Chmod => {
                let wanted = self.wanted()?;
                (
                    script::chmod_lines(wanted.mode, owner, group),
                    format!("changed the mode or owner of {}", self.path),
                    Some(wanted),
                )
            }
            CertDrift::Generate {
                wanted,
                digest,
                csr_has_ski,
            } => {
                let vars: String = [
                    ("k", &self.privatekey_path),
                    ("c", &self.csr_path),
                    ("a", &self.ownca_path),
                    ("ak", &self.ownca_privatekey_path),
                ]
                .iter()
                .map(|(var, path)| {
                    format!(
                        "{var}={}\n",
                        path.as_deref().map_or("''".to_string(), path_arg)
                    )
                })
                .collect();
                let kind = if wanted.ownca {
                    "a CA-signed"
                } else {
                    "a self-signed"
                };
                (
                    format!(
                        "{vars}{}",
                        self.generate_lines(&wanted, digest, csr_has_ski)
                    ),
                    format!("generated {kind} certificate in {}", self.path),
                    Some(*wanted),
                )
            }
        };
        let probe = self
            .run(cx, &format!("{body}{}", self.inspect_lines(None)))
            .await?;
        let mut outcome = self
            .result(wanted.as_ref(), Some(&probe), false)
            .with_msg(msg);
        outcome.changed = true;
        Ok(outcome)
    }
}
