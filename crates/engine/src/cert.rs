//! Certificates: PEM parsing, descriptions for diffs, validity checks,
//! fingerprint pins and chain checks.
//!
//! The integration procedure is an exchange of CA certificates, so every
//! comparison dtrplay makes between two of them goes through this module and
//! is done on the DER bytes, never on the PEM text: whitespace, CRLF line
//! ends and the width of the base64 lines must not make a run report a change.
//! For the same reason every diff that involves a certificate shows
//! [`describe`]'s subject, issuer, serial, validity and fingerprint lines
//! instead of base64 noise.
//!
//! Nothing here prints, and no error ever quotes the input: a PEM document
//! pasted by mistake may hold a private key, which must never reach a log.

use std::fmt::Write as _;
use std::sync::OnceLock;

use base64::Engine as _;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The line that starts a PEM certificate.
pub const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";

/// Why a certificate or a pin could not be used. `what` names the document
/// in the user's terms ("the UCP cluster CA from dump-certs").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("{what} is empty")]
    Empty { what: String },
    #[error("{what} holds no certificate: no `{PEM_BEGIN}` block was found")]
    NoCertificate { what: String },
    #[error("{what} contains a private key; refusing to use it (its content is not shown)")]
    PrivateKey { what: String },
    #[error("{what} is not valid PEM: {reason}")]
    BadPem { what: String, reason: String },
    #[error("{what}: certificate {index} cannot be parsed as X.509: {reason}")]
    BadDer {
        what: String,
        index: usize,
        reason: String,
    },
    #[error("{what} holds {count} certificates; exactly one CA certificate is expected")]
    NotOne { what: String, count: usize },
    #[error(
        "{what} ({subject}) is not a CA certificate: its basic constraints do not allow it to issue certificates"
    )]
    NotCa { what: String, subject: String },
    #[error("{what} ({subject}) expired on {not_after}")]
    Expired {
        what: String,
        subject: String,
        not_after: String,
    },
    #[error("{what} ({subject}) is not valid before {not_before}")]
    NotYetValid {
        what: String,
        subject: String,
        not_before: String,
    },
    #[error(
        "{what} ({subject}) has SHA-256 fingerprint {actual}, but the pinned fingerprint is {expected}"
    )]
    PinMismatch {
        what: String,
        subject: String,
        actual: String,
        expected: String,
    },
    #[error(
        "the pinned fingerprint `{pin}` is not a SHA-256 fingerprint (64 hexadecimal digits, with or without colons)"
    )]
    BadPin { pin: String },
}

/// The facts about a certificate that people and comparisons need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject distinguished name, e.g. `CN=UCP Cluster Root CA`.
    pub subject: String,
    pub issuer: String,
    /// The serial number as colon-separated hex.
    pub serial: String,
    /// Validity bounds in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Whether the basic constraints make it a CA.
    pub is_ca: bool,
    /// SHA-256 of the DER, as colon-separated upper-case hex (the format of
    /// `openssl x509 -fingerprint -sha256`).
    pub sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo, same format: stays the same when
    /// a CA is re-issued with the same key.
    pub spki_sha256: String,
}

impl CertInfo {
    pub fn not_before_text(&self) -> String {
        format_time(self.not_before)
    }

    pub fn not_after_text(&self) -> String {
        format_time(self.not_after)
    }

    /// Whole days until expiry (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// The fields registered for playbooks (`register:`).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("subject".into(), self.subject.clone().into());
        map.insert("issuer".into(), self.issuer.clone().into());
        map.insert("serial".into(), self.serial.clone().into());
        map.insert("not_before".into(), self.not_before_text().into());
        map.insert("not_after".into(), self.not_after_text().into());
        map.insert("is_ca".into(), self.is_ca.into());
        map.insert("fingerprint".into(), self.sha256.clone().into());
        map.insert("spki_sha256".into(), self.spki_sha256.clone().into());
        map
    }
}

/// A parsed certificate: its DER and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub info: CertInfo,
}

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: CertificateDer<'static>) -> Result<Cert, String> {
        let info = info(&der)?;
        Ok(Cert { der, info })
    }

    /// The certificate as PEM text, 64 base64 characters a line.
    pub fn to_pem(&self) -> String {
        to_pem(&self.der)
    }
}

/// Reads the facts out of a DER certificate.
pub fn info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let validity = cert.validity();
    Ok(CertInfo {
        subject: name_or_empty(&cert.subject().to_string()),
        issuer: name_or_empty(&cert.issuer().to_string()),
        serial: cert.raw_serial_as_string(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        is_ca: cert.is_ca(),
        sha256: colon_hex(&Sha256::digest(der)),
        spki_sha256: colon_hex(&Sha256::digest(cert.public_key().raw)),
    })
}

fn name_or_empty(name: &str) -> String {
    if name.is_empty() {
        "(empty name)".to_string()
    } else {
        name.to_string()
    }
}

/// Parses every certificate of a PEM document. Text around the blocks is
/// ignored; a private key anywhere in it is refused, so it can never be
/// uploaded or copied by mistake.
pub fn parse_pem(pem: &str, what: &str) -> Result<Vec<Cert>, CertError> {
    if pem.trim().is_empty() {
        return Err(CertError::Empty { what: what.into() });
    }
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem.as_bytes()) {
        let (kind, der) = section.map_err(|e| CertError::BadPem {
            what: what.into(),
            reason: pem_error(&e),
        })?;
        match kind {
            SectionKind::Certificate => {
                let index = certs.len() + 1;
                let cert = Cert::from_der(CertificateDer::from(der)).map_err(|reason| {
                    CertError::BadDer {
                        what: what.into(),
                        index,
                        reason,
                    }
                })?;
                certs.push(cert);
            }
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(CertError::PrivateKey { what: what.into() });
            }
            _ => {}
        }
    }
    // The PEM reader skips sections it does not know; a private key under an
    // unusual label ("ENCRYPTED PRIVATE KEY") must still be refused.
    if pem.contains("PRIVATE KEY-----") {
        return Err(CertError::PrivateKey { what: what.into() });
    }
    if certs.is_empty() {
        return Err(CertError::NoCertificate { what: what.into() });
    }
    Ok(certs)
}

/// The PEM reader's error, without quoting the input.
fn pem_error(err: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match err {
        Error::MissingSectionEnd { .. } => "a block has no matching `-----END` line".into(),
        Error::IllegalSectionStart { .. } => "a `-----BEGIN` line is malformed".into(),
        Error::Base64Decode(_) => "a block's base64 content is corrupt".into(),
        Error::SectionTooLarge => "a block is larger than 256 MB".into(),
        _ => "the document cannot be read".into(),
    }
}

/// Parses a document that must hold exactly one CA certificate that is
/// valid now: the shape of both CAs the procedure exchanges.
pub fn parse_ca(pem: &str, what: &str, now: i64) -> Result<Cert, CertError> {
    let mut certs = parse_pem(pem, what)?;
    if certs.len() != 1 {
        return Err(CertError::NotOne {
            what: what.into(),
            count: certs.len(),
        });
    }
    let cert = certs.remove(0);
    check_ca(&cert, what, now)?;
    Ok(cert)
}

/// Checks that a certificate is a CA and valid at `now`.
pub fn check_ca(cert: &Cert, what: &str, now: i64) -> Result<(), CertError> {
    let info = &cert.info;
    if !info.is_ca {
        return Err(CertError::NotCa {
            what: what.into(),
            subject: info.subject.clone(),
        });
    }
    if now > info.not_after {
        return Err(CertError::Expired {
            what: what.into(),
            subject: info.subject.clone(),
            not_after: info.not_after_text(),
        });
    }
    if now < info.not_before {
        return Err(CertError::NotYetValid {
            what: what.into(),
            subject: info.subject.clone(),
            not_before: info.not_before_text(),
        });
    }
    Ok(())
}

/// Whether a certificate expires within `days` of `now`; returns the days
/// left when it does.
pub fn expiring_within(info: &CertInfo, days: i64, now: i64) -> Option<i64> {
    let left = info.days_left(now);
    (info.not_after - now <= days * 86_400).then_some(left)
}

/// Normalises a SHA-256 pin to colon-separated upper-case hex. Colons,
/// spaces and case are accepted as written, and an `sha256:` or
/// `SHA256 Fingerprint=` prefix (as tools print it) is dropped.
pub fn normalize_pin(pin: &str) -> Result<String, CertError> {
    let trimmed = pin.trim();
    let body = trimmed
        .rsplit_once('=')
        .map_or(trimmed, |(_, rest)| rest)
        .trim();
    let body = body
        .strip_prefix("sha256:")
        .or_else(|| body.strip_prefix("SHA256:"))
        .unwrap_or(body);
    let digits: String = body
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CertError::BadPin { pin: pin.into() });
    }
    let bytes = hex::decode(&digits).map_err(|_| CertError::BadPin { pin: pin.into() })?;
    Ok(colon_hex(&bytes))
}

/// Which fingerprint of a certificate a pin matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMatch {
    /// The SHA-256 of the whole certificate.
    Certificate,
    /// The SHA-256 of its public key (SubjectPublicKeyInfo).
    PublicKey,
}

/// Checks a certificate against a pin. The certificate fingerprint is the
/// documented form; the public-key form is accepted as well, so a pin
/// survives a CA re-issued with the same key.
pub fn check_pin(cert: &Cert, pin: &str, what: &str) -> Result<PinMatch, CertError> {
    let expected = normalize_pin(pin)?;
    if expected == cert.info.sha256 {
        Ok(PinMatch::Certificate)
    } else if expected == cert.info.spki_sha256 {
        Ok(PinMatch::PublicKey)
    } else {
        Err(CertError::PinMismatch {
            what: what.into(),
            subject: cert.info.subject.clone(),
            actual: cert.info.sha256.clone(),
            expected,
        })
    }
}

/// Whether two PEM documents hold the same certificates, in any order and
/// whatever their whitespace. A document that does not parse equals
/// nothing, not even itself: it can never count as "already configured".
pub fn same_certificates(a: &str, b: &str) -> bool {
    match (der_set(a), der_set(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn der_set(pem: &str) -> Option<Vec<Vec<u8>>> {
    let mut ders: Vec<Vec<u8>> = parse_pem(pem, "")
        .ok()?
        .into_iter()
        .map(|c| c.der.to_vec())
        .collect();
    ders.sort();
    Some(ders)
}

/// A certificate described for people: what diffs show instead of base64.
pub fn describe_cert(cert: &Cert) -> String {
    let i = &cert.info;
    let mut out = String::new();
    let _ = writeln!(out, "subject:     {}", i.subject);
    let _ = writeln!(out, "issuer:      {}", i.issuer);
    let _ = writeln!(out, "serial:      {}", i.serial);
    let _ = writeln!(out, "not before:  {}", i.not_before_text());
    let _ = writeln!(out, "not after:   {}", i.not_after_text());
    let _ = writeln!(out, "CA:          {}", if i.is_ca { "yes" } else { "no" });
    let _ = writeln!(out, "sha256:      {}", i.sha256);
    out
}

/// A PEM document described for people, one block per certificate. A
/// document that does not parse is described as such, without its content.
pub fn describe(pem: &str) -> String {
    match parse_pem(pem, "the document") {
        Ok(certs) if certs.len() == 1 => describe_cert(&certs[0]),
        Ok(certs) => {
            let mut out = String::new();
            for (n, cert) in certs.iter().enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "certificate {} of {}:", n + 1, certs.len());
                out.push_str(&describe_cert(cert));
            }
            out
        }
        Err(CertError::PrivateKey { .. }) => "(contains a private key; not shown)\n".to_string(),
        Err(err) => format!("(not a valid certificate: {err}; {} bytes)\n", pem.len()),
    }
}

/// PEM text for a DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + 64);
    out.push_str(PEM_BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The part of a command's output from its first PEM certificate on:
/// `docker/ucp dump-certs` may print log lines before it.
pub fn from_first_pem(text: &str) -> Option<&str> {
    text.find(PEM_BEGIN).map(|at| &text[at..])
}

/// Checks that `leaf` (with the `intermediates` the server sent) chains to
/// one of `anchors` for TLS server use, at `now`. The error is a sentence.
pub fn verify_chain(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), ChainError> {
    let anchors: Vec<TrustAnchor<'_>> = anchors
        .iter()
        .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
        .collect();
    if anchors.is_empty() {
        return Err(ChainError::NoAnchor);
    }
    verify_with_anchors(leaf, intermediates, &anchors, now)
}

fn verify_with_anchors(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> Result<(), ChainError> {
    let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(ChainError::Unparsable)?;
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(ChainError::Rejected)
}

/// Why a server certificate does not chain to the CAs it was checked
/// against; the words are a sentence's end ("… does not chain: {why}").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// None of the CAs given is usable as a trust anchor.
    #[error("the CA cannot be used as a trust anchor")]
    NoAnchor,
    #[error("the server certificate cannot be parsed ({0:?})")]
    Unparsable(webpki::Error),
    /// webpki refused the chain.
    #[error("{}", chain_error(.0))]
    Rejected(webpki::Error),
}

/// webpki's reasons, in words.
fn chain_error(err: &webpki::Error) -> String {
    match err {
        webpki::Error::UnknownIssuer => "it is not issued by that CA".into(),
        webpki::Error::CertExpired { .. } => "the server certificate has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "the server certificate is not valid yet".into(),
        webpki::Error::InvalidSignatureForPublicKey => {
            "the signature does not verify with the CA's key".into()
        }
        other => format!("verification failed ({other:?})"),
    }
}

/// The trust anchors of this machine's system store (`SSL_CERT_FILE` /
/// `SSL_CERT_DIR` or the platform's), loaded once.
fn system_anchors() -> &'static [TrustAnchor<'static>] {
    static ANCHORS: OnceLock<Vec<TrustAnchor<'static>>> = OnceLock::new();
    ANCHORS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .filter_map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect()
    })
}

/// Whether a server chain (leaf first) is issued by a CA of this machine's
/// system trust store; returns the leaf's issuer when it is. The procedure
/// skips uploading and copying DTR's CA in that case (steps 3 and 5).
pub fn publicly_trusted(chain: &[CertificateDer<'_>], now: UnixTime) -> Option<String> {
    let (leaf, intermediates) = chain.split_first()?;
    verify_with_anchors(leaf, intermediates, system_anchors(), now).ok()?;
    info(leaf).ok().map(|i| i.issuer)
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    UnixTime::now().as_secs().try_into().unwrap_or(i64::MAX)
}

/// `2030-01-31 12:00:00 UTC`.
pub fn format_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{unix} (seconds since 1970)"),
    }
}

/// Colon-separated upper-case hex, `AB:CD:...`.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (n, b) in bytes.iter().enumerate() {
        if n > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };

    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    fn ca(cn: &str, days: (i64, i64)) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca"),
        }
    }

    fn leaf(ca: &Ca, name: &str) -> String {
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        params.signed_by(&key, &ca.issuer).expect("leaf").pem()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        parse_pem(pem, "t").expect("pem").remove(0).der
    }

    #[test]
    fn comparisons_ignore_whitespace_and_line_ends() {
        let a = ca("A", (-1, 30)).issuer.pem();
        let crlf = format!("log line\r\n{}\r\n", a.replace('\n', "\r\n"));
        let rewrapped = to_pem(&der(&a));
        assert!(same_certificates(&a, &crlf));
        assert!(same_certificates(&a, &rewrapped));
        let b = ca("B", (-1, 30)).issuer.pem();
        assert!(!same_certificates(&a, &b));
        assert!(!same_certificates("junk", "junk"));
    }

    #[test]
    fn a_ca_must_be_one_valid_ca_certificate() {
        let now = now_unix();
        let good = ca("UCP Cluster Root CA", (-1, 3650)).issuer.pem();
        let cert = parse_ca(&good, "the CA", now).expect("valid");
        assert_eq!(cert.info.subject, "CN=UCP Cluster Root CA");
        assert!(cert.info.is_ca);

        let two = format!("{good}{good}");
        assert!(matches!(
            parse_ca(&two, "x", now),
            Err(CertError::NotOne { count: 2, .. })
        ));
        let expired = ca("Old", (-30, -1)).issuer.pem();
        assert!(matches!(
            parse_ca(&expired, "x", now),
            Err(CertError::Expired { .. })
        ));
        let issuer = ca("I", (-1, 30));
        let not_ca = leaf(&issuer, "dtr.example.com");
        let err = parse_ca(&not_ca, "the DTR CA", now).expect_err("not a CA");
        assert!(err.to_string().contains("is not a CA certificate"), "{err}");
        assert!(matches!(
            parse_ca("hello", "x", now),
            Err(CertError::NoCertificate { .. })
        ));
        let key =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = parse_ca(key, "x", now).expect_err("key");
        assert!(matches!(err, CertError::PrivateKey { .. }));
        assert!(!err.to_string().contains("MC4C"));
        let corrupt = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_ca(corrupt, "x", now),
            Err(CertError::BadPem { .. })
        ));
    }

    #[test]
    fn pins_accept_colons_case_and_tool_prefixes() {
        let pem = ca("P", (-1, 30)).issuer.pem();
        let cert = parse_ca(&pem, "x", now_unix()).expect("ca");
        let fp = cert.info.sha256.clone();
        let plain = fp.replace(':', "").to_lowercase();
        assert_eq!(check_pin(&cert, &plain, "x"), Ok(PinMatch::Certificate));
        assert_eq!(
            check_pin(&cert, &format!("sha256 Fingerprint={fp}"), "x"),
            Ok(PinMatch::Certificate)
        );
        assert_eq!(
            check_pin(&cert, &cert.info.spki_sha256, "x"),
            Ok(PinMatch::PublicKey)
        );
        let other = "00".repeat(32);
        assert!(matches!(
            check_pin(&cert, &other, "x"),
            Err(CertError::PinMismatch { .. })
        ));
        assert!(matches!(
            check_pin(&cert, "abc", "x"),
            Err(CertError::BadPin { .. })
        ));
    }

    #[test]
    fn descriptions_show_fields_not_base64() {
        let pem = ca("DTR CA", (-1, 30)).issuer.pem();
        let text = describe(&pem);
        assert!(text.contains("subject:     CN=DTR CA"), "{text}");
        assert!(text.contains("sha256:      "), "{text}");
        assert!(!text.contains("BEGIN"), "{text}");
        assert!(describe("garbage").starts_with("(not a valid certificate"));
    }

    #[test]
    fn chains_are_checked_against_the_given_ca() {
        let issuer = ca("DTR CA", (-1, 30));
        let server = der(&leaf(&issuer, "dtr.example.com"));
        let anchor = der(&issuer.issuer.pem());
        let now = UnixTime::now();
        assert_eq!(verify_chain(&server, &[], &[anchor], now), Ok(()));
        let stranger = der(&ca("Other", (-1, 30)).issuer.pem());
        let err = verify_chain(&server, &[], &[stranger], now)
            .expect_err("unknown issuer")
            .to_string();
        assert!(err.contains("not issued by"), "{err}");
        assert!(publicly_trusted(&[server], now).is_none());
    }

    #[test]
    fn expiry_windows() {
        let pem = ca("Soon", (-1, 10)).issuer.pem();
        let cert = parse_ca(&pem, "x", now_unix()).expect("ca");
        assert!(expiring_within(&cert.info, 30, now_unix()).is_some());
        assert!(expiring_within(&cert.info, 5, now_unix()).is_none());
    }
}
