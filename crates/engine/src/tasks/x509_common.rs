//! What `openssl_csr` and `x509_certificate` share: reading the CSRs,
//! certificates and public keys their check scripts send back, the names
//! community.crypto uses for subject fields, usages and alternative names,
//! its time specifications, and the readable summaries their diffs show.
//!
//! Only public material ever travels (see `x509_script`): everything is
//! parsed here, on the controller, with `x509-parser`, and compared on DER
//! values, never on PEM text.

use std::fmt::Write as _;
use std::net::IpAddr;

use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

/// The subject fields community.crypto names, as `(short name, long name,
/// OID)`. The short name is what `openssl -subj` takes and what results and
/// diffs show.
const NAME_FIELDS: &[(&str, &str, &str)] = &[
    ("C", "countryName", "2.5.4.6"),
    ("ST", "stateOrProvinceName", "2.5.4.8"),
    ("L", "localityName", "2.5.4.7"),
    ("O", "organizationName", "2.5.4.10"),
    ("OU", "organizationalUnitName", "2.5.4.11"),
    ("CN", "commonName", "2.5.4.3"),
    ("emailAddress", "emailAddress", "1.2.840.113549.1.9.1"),
    ("serialNumber", "serialNumber", "2.5.4.5"),
    ("street", "streetAddress", "2.5.4.9"),
    ("title", "title", "2.5.4.12"),
    ("SN", "surname", "2.5.4.4"),
    ("GN", "givenName", "2.5.4.42"),
    ("initials", "initials", "2.5.4.43"),
    ("pseudonym", "pseudonym", "2.5.4.65"),
    ("generationQualifier", "generationQualifier", "2.5.4.44"),
    ("dnQualifier", "dnQualifier", "2.5.4.46"),
    ("postalCode", "postalCode", "2.5.4.17"),
    ("businessCategory", "businessCategory", "2.5.4.15"),
    ("DC", "domainComponent", "0.9.2342.19200300.100.1.25"),
    ("UID", "userId", "0.9.2342.19200300.100.1.1"),
];

/// Key usages in the order of the extension's bits, with the two spellings
/// community.crypto accepts for each.
const KEY_USAGES: [(&str, &str); 9] = [
    ("digitalSignature", "Digital Signature"),
    ("nonRepudiation", "Non Repudiation"),
    ("keyEncipherment", "Key Encipherment"),
    ("dataEncipherment", "Data Encipherment"),
    ("keyAgreement", "Key Agreement"),
    ("keyCertSign", "Certificate Sign"),
    ("cRLSign", "CRL Sign"),
    ("encipherOnly", "Encipher Only"),
    ("decipherOnly", "Decipher Only"),
];

/// Extended key usages by OpenSSL's short and long names.
const EXTENDED_USAGES: &[(&str, &str, &str)] = &[
    (
        "serverAuth",
        "TLS Web Server Authentication",
        "1.3.6.1.5.5.7.3.1",
    ),
    (
        "clientAuth",
        "TLS Web Client Authentication",
        "1.3.6.1.5.5.7.3.2",
    ),
    ("codeSigning", "Code Signing", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "E-mail Protection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "Time Stamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "OCSP Signing", "1.3.6.1.5.5.7.3.9"),
    (
        "ipsecIKE",
        "ipsec Internet Key Exchange",
        "1.3.6.1.5.5.7.3.17",
    ),
    (
        "anyExtendedKeyUsage",
        "Any Extended Key Usage",
        "2.5.29.37.0",
    ),
];

/// The extensions the modules manage; anything else in a CSR makes it
/// differ from what a task asks for.
pub const SAN_OID: &str = "2.5.29.17";
pub const KEY_USAGE_OID: &str = "2.5.29.15";
pub const EXT_KEY_USAGE_OID: &str = "2.5.29.37";
pub const BASIC_CONSTRAINTS_OID: &str = "2.5.29.19";
pub const SKI_OID: &str = "2.5.29.14";
pub const AKI_OID: &str = "2.5.29.35";

/// Why a CSR or certificate task cannot run. Messages never quote file
/// contents: a file given as a CSR may hold a private key.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(
        "{module}: `{param}` has no subject field {name:?}; use a name such as CN, O, OU, C, ST, L or emailAddress, or an OID like 2.5.4.3"
    )]
    NameField {
        module: &'static str,
        param: String,
        name: String,
    },
    #[error("{module}: cannot read the subject alternative name {name:?}: {why}")]
    AltName {
        module: &'static str,
        name: String,
        why: String,
    },
    #[error("{module}: unknown key usage {0:?}; use names such as digitalSignature, keyEncipherment, keyCertSign or cRLSign", module = .1)]
    KeyUsage(String, &'static str),
    #[error("{module}: unknown extended key usage {0:?}; use names such as serverAuth or clientAuth, or a dotted OID", module = .1)]
    ExtendedUsage(String, &'static str),
    #[error("{module}: unknown basic constraint {0:?}; use CA:TRUE, CA:FALSE and pathlen:N", module = .1)]
    BasicConstraint(String, &'static str),
    #[error("{module}: the digest {0:?} is not supported; use sha256, sha384, sha512, sha224 or sha1", module = .1)]
    Digest(String, &'static str),
    #[error(
        "{module}: `{param}` {spec:?} is neither a relative time such as +365d or -1d2h nor an ASN.1 time such as 20261231000000Z"
    )]
    TimeSpec {
        module: &'static str,
        param: &'static str,
        spec: String,
    },
    #[error("{module}: `mode` {0:?} is not an octal mode such as 0644", module = .1)]
    Mode(String, &'static str),
    #[error("{0}: `{1}` is required with {2}")]
    Required(&'static str, &'static str, &'static str),
    #[error("the host has no `openssl` command line on its PATH; {0} works with it")]
    NoOpenssl(&'static str),
    #[error("the directory {0} does not exist; create it first (with the file module)")]
    Parent(String),
    #[error("{0} is a directory; `path` names the file to write")]
    IsDir(String),
    #[error("{what} {path} does not exist")]
    Missing { what: String, path: String },
    #[error(
        "{what} {path} cannot be read by openssl (not PEM, or protected by a passphrase, which is not supported)"
    )]
    Unreadable { what: String, path: String },
    #[error("openssl {action} failed: {detail}")]
    Tool { action: String, detail: String },
    #[error("openssl printed something dtrplay cannot read: {0}")]
    Output(String),
}

impl From<PkiError> for crate::task::TaskError {
    fn from(err: PkiError) -> crate::task::TaskError {
        crate::task::TaskError::failed(err.to_string())
    }
}

/// Finds a subject field by any of its names (or its OID): its short name
/// and OID.
pub fn name_field(name: &str) -> Option<(String, String)> {
    for (short, long, oid) in NAME_FIELDS {
        if name == *short || name.eq_ignore_ascii_case(long) || name == *oid {
            return Some((short.to_string(), oid.to_string()));
        }
    }
    let dotted = !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    dotted.then(|| (name.to_string(), name.to_string()))
}

/// The short name of a subject field's OID, or the OID itself.
fn field_short_name(oid: &str) -> String {
    NAME_FIELDS
        .iter()
        .find(|(_, _, o)| *o == oid)
        .map_or_else(|| oid.to_string(), |(short, _, _)| short.to_string())
}

/// The bit of a key usage name.
pub fn key_usage_bit(name: &str, module: &'static str) -> Result<u16, PkiError> {
    KEY_USAGES
        .iter()
        .position(|(short, long)| name == *short || name == *long)
        .map(|at| 1 << at)
        .ok_or_else(|| PkiError::KeyUsage(name.to_string(), module))
}

/// The usage names of key usage bits, in bit order.
pub fn key_usage_names(bits: u16) -> Vec<String> {
    KEY_USAGES
        .iter()
        .enumerate()
        .filter(|(at, _)| bits & (1 << at) != 0)
        .map(|(_, (short, _))| short.to_string())
        .collect()
}

/// The OID of an extended key usage name (or of a dotted OID).
pub fn extended_usage_oid(name: &str, module: &'static str) -> Result<String, PkiError> {
    if let Some((_, _, oid)) = EXTENDED_USAGES
        .iter()
        .find(|(short, long, oid)| name == *short || name == *long || name == *oid)
    {
        return Ok(oid.to_string());
    }
    match name_field(name) {
        Some((_, oid)) if oid == name => Ok(oid),
        _ => Err(PkiError::ExtendedUsage(name.to_string(), module)),
    }
}

/// An extended key usage OID by its short name, for people.
pub fn extended_usage_name(oid: &str) -> String {
    EXTENDED_USAGES
        .iter()
        .find(|(_, _, o)| *o == oid)
        .map_or_else(|| oid.to_string(), |(short, _, _)| short.to_string())
}

/// Reads Ansible's basic constraints (`CA:TRUE`, `pathlen:0`).
pub fn basic_constraints(
    items: &[String],
    module: &'static str,
) -> Result<(bool, Option<u32>), PkiError> {
    let mut ca = false;
    let mut path_len = None;
    for item in items {
        match item.as_str() {
            "CA:TRUE" => ca = true,
            "CA:FALSE" => ca = false,
            other => match other.strip_prefix("pathlen:").map(str::parse::<u32>) {
                Some(Ok(n)) => path_len = Some(n),
                _ => return Err(PkiError::BasicConstraint(other.to_string(), module)),
            },
        }
    }
    Ok((ca, path_len))
}

/// A subject alternative name as community.crypto writes it (`DNS:x`,
/// `IP:1.2.3.4`, `email:`, `URI:`, `RID:`), with IP addresses in their
/// canonical form, so that names compare as written and as read back.
pub fn alt_name(name: &str, module: &'static str) -> Result<String, PkiError> {
    let err = |why: &str| PkiError::AltName {
        module,
        name: name.to_string(),
        why: why.to_string(),
    };
    let (kind, value) = name
        .split_once(':')
        .ok_or_else(|| err("it has no type prefix (forgot \"DNS:\"?)"))?;
    if value.is_empty() {
        return Err(err("the value is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(err("it contains control characters"));
    }
    match kind {
        "DNS" | "email" | "URI" => Ok(name.to_string()),
        "IP" => value
            .parse::<IpAddr>()
            .map(|ip| format!("IP:{ip}"))
            .map_err(|_| err("not an IPv4 or IPv6 address")),
        "RID" => name_field(value)
            .filter(|(_, oid)| oid == value)
            .map(|_| name.to_string())
            .ok_or_else(|| err("not a dotted OID")),
        _ => Err(err(
            "only DNS:, IP:, email:, URI: and RID: names are supported",
        )),
    }
}

/// An `openssl` command-line digest option for a digest name.
pub fn digest_option(digest: &str, module: &'static str) -> Result<String, PkiError> {
    match digest.to_ascii_lowercase().as_str() {
        d @ ("sha1" | "sha224" | "sha256" | "sha384" | "sha512") => Ok(d.to_string()),
        _ => Err(PkiError::Digest(digest.to_string(), module)),
    }
}

/// Parses community.crypto's time specifications: relative to `now`
/// (`+365d`, `-1d`, `+32w1d2h`, `+90` seconds) or absolute ASN.1 times
/// (`20261231000000Z`, `202612310000Z`, and both with `+hhmm` offsets).
pub fn time_spec(spec: &str, now: i64) -> Option<i64> {
    if let Some(sign) = spec.chars().next().filter(|c| *c == '+' || *c == '-') {
        let mut total: i64 = 0;
        let mut number = String::new();
        let mut last_unit = 0;
        for c in spec[1..].chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (rank, seconds) = match c.to_ascii_lowercase() {
                'w' => (1, 604_800),
                'd' => (2, 86_400),
                'h' => (3, 3_600),
                'm' => (4, 60),
                's' => (5, 1),
                _ => return None,
            };
            if number.is_empty() || rank <= last_unit {
                return None;
            }
            last_unit = rank;
            total = total.checked_add(number.parse::<i64>().ok()?.checked_mul(seconds)?)?;
            number.clear();
        }
        if !number.is_empty() {
            if last_unit == 5 {
                return None;
            }
            total = total.checked_add(number.parse::<i64>().ok()?)?;
        } else if last_unit == 0 {
            return None;
        }
        return if sign == '+' {
            now.checked_add(total)
        } else {
            now.checked_sub(total)
        };
    }
    let (body, offset) = if let Some(body) = spec.strip_suffix('Z') {
        (body, 0)
    } else if spec.len() > 5 {
        let (body, zone) = spec.split_at(spec.len() - 5);
        let sign = match zone.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: i64 = zone[1..].parse().ok()?;
        (body, sign * ((digits / 100) * 3600 + (digits % 100) * 60))
    } else {
        return None;
    };
    if !(body.len() == 12 || body.len() == 14) || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |from: usize, to: usize| body.get(from..to).and_then(|s| s.parse::<u32>().ok());
    let date = ::time::Date::from_calendar_date(
        i32::try_from(part(0, 4)?).ok()?,
        ::time::Month::try_from(u8::try_from(part(4, 6)?).ok()?).ok()?,
        u8::try_from(part(6, 8)?).ok()?,
    )
    .ok()?;
    let seconds = if body.len() == 14 { part(12, 14)? } else { 0 };
    let clock = ::time::Time::from_hms(
        u8::try_from(part(8, 10)?).ok()?,
        u8::try_from(part(10, 12)?).ok()?,
        u8::try_from(seconds).ok()?,
    )
    .ok()?;
    Some(
        ::time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}

/// A time as `openssl ca -startdate` takes it and community.crypto
/// returns it: `YYYYMMDDHHMMSSZ`.
pub fn asn1_time(unix: i64) -> String {
    match ::time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

/// A public key: its SubjectPublicKeyInfo DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub der: Vec<u8>,
}

impl PublicKey {
    /// `ab:cd:...`: the SHA-256 of the DER, as openssl_privatekey shows it.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    fn spki(&self) -> Option<SubjectPublicKeyInfo<'_>> {
        SubjectPublicKeyInfo::from_der(&self.der)
            .ok()
            .map(|(_, spki)| spki)
    }

    /// Ed25519 and Ed448 keys sign without a separate digest.
    pub fn needs_digest(&self) -> bool {
        let Some(spki) = self.spki() else {
            return true;
        };
        let oid = spki.algorithm.algorithm.to_id_string();
        !(oid == "1.3.101.112" || oid == "1.3.101.113")
    }

    /// The key identifier `subjectKeyIdentifier = hash` gives it: the SHA-1
    /// of the public key's bits (RFC 5280, 4.2.1.2, method 1).
    pub fn key_id(&self) -> Vec<u8> {
        let bits = self
            .spki()
            .map(|spki| spki.subject_public_key.data.to_vec())
            .unwrap_or_default();
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &bits)
            .as_ref()
            .to_vec()
    }
}

/// One extension of a CSR or certificate, as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ext {
    pub oid: String,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// What a CSR or a certificate says, in the terms the modules compare.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `(short name, value)` in the order written.
    pub subject: Vec<(String, String)>,
    pub subject_der: Vec<u8>,
    /// Empty for a CSR.
    pub issuer: Vec<(String, String)>,
    pub issuer_der: Vec<u8>,
    pub key: Option<PublicKey>,
    pub extensions: Vec<Ext>,
    /// The alternative names as community.crypto writes them, and whether
    /// the extension is critical.
    pub alt_names: Option<(Vec<String>, bool)>,
    pub key_usage: Option<(u16, bool)>,
    /// OIDs.
    pub extended_usage: Option<(Vec<String>, bool)>,
    pub basic_constraints: Option<(bool, Option<u32>, bool)>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// Certificates only.
    pub not_before: i64,
    pub not_after: i64,
    pub serial: Vec<u8>,
}

fn name_pairs(name: &X509Name<'_>) -> Vec<(String, String)> {
    name.iter_attributes()
        .map(|attr| {
            let value = attr
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(attr.as_slice()).into_owned());
            (field_short_name(&attr.attr_type().to_id_string()), value)
        })
        .collect()
}

fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(v) => format!("DNS:{v}"),
        GeneralName::RFC822Name(v) => format!("email:{v}"),
        GeneralName::URI(v) => format!("URI:{v}"),
        GeneralName::RegisteredID(oid) => format!("RID:{}", oid.to_id_string()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
            ),
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                format!("IP:{}", std::net::Ipv6Addr::from(octets))
            }
            _ => format!("IP:{}", hex::encode(bytes)),
        },
        GeneralName::DirectoryName(n) => format!("dirName:{n}"),
        GeneralName::OtherName(oid, v) => {
            format!("otherName:{};{}", oid.to_id_string(), hex::encode(v))
        }
        other => format!("{other:?}"),
    }
}

impl Facts {
    fn add_extension(&mut self, ext: &X509Extension<'_>) {
        let critical = ext.critical;
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                let names = san.general_names.iter().map(general_name).collect();
                self.alt_names = Some((names, critical));
            }
            ParsedExtension::KeyUsage(ku) => {
                let flags = [
                    ku.digital_signature(),
                    ku.non_repudiation(),
                    ku.key_encipherment(),
                    ku.data_encipherment(),
                    ku.key_agreement(),
                    ku.key_cert_sign(),
                    ku.crl_sign(),
                    ku.encipher_only(),
                    ku.decipher_only(),
                ];
                let bits = flags
                    .iter()
                    .enumerate()
                    .filter(|(_, set)| **set)
                    .fold(0u16, |acc, (at, _)| acc | (1 << at));
                self.key_usage = Some((bits, critical));
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let mut oids: Vec<String> = [
                    (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
                    (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
                    (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
                    (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
                    (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
                    (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
                    (eku.any, "2.5.29.37.0"),
                ]
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, oid)| oid.to_string())
                .collect();
                oids.extend(eku.other.iter().map(|oid| oid.to_id_string()));
                self.extended_usage = Some((oids, critical));
            }
            ParsedExtension::BasicConstraints(bc) => {
                self.basic_constraints = Some((bc.ca, bc.path_len_constraint, critical));
            }
            ParsedExtension::SubjectKeyIdentifier(id) => {
                self.subject_key_id = Some(id.0.to_vec());
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                self.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
        self.extensions.push(Ext {
            oid: ext.oid.to_id_string(),
            critical,
            value: ext.value.to_vec(),
        });
    }

    /// Reads a DER certificate signing request.
    pub fn from_csr(der: &[u8]) -> Option<Facts> {
        let (_, csr) = X509CertificationRequest::from_der(der).ok()?;
        let info = &csr.certification_request_info;
        let mut facts = Facts {
            subject: name_pairs(&info.subject),
            subject_der: info.subject.as_raw().to_vec(),
            key: Some(PublicKey {
                der: info.subject_pki.raw.to_vec(),
            }),
            ..Facts::default()
        };
        for attr in info.iter_attributes() {
            if let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() {
                for ext in &request.extensions {
                    facts.add_extension(ext);
                }
            }
        }
        Some(facts)
    }

    /// Reads a DER certificate.
    pub fn from_certificate(der: &[u8]) -> Option<Facts> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut facts = Facts {
            subject: name_pairs(cert.subject()),
            subject_der: cert.subject().as_raw().to_vec(),
            issuer: name_pairs(cert.issuer()),
            issuer_der: cert.issuer().as_raw().to_vec(),
            key: Some(PublicKey {
                der: cert.public_key().raw.to_vec(),
            }),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: cert.raw_serial().to_vec(),
            ..Facts::default()
        };
        for ext in cert.extensions() {
            facts.add_extension(ext);
        }
        Some(facts)
    }

    /// The extensions other than the key identifiers, which certificates
    /// get of their own: what a certificate must carry over from its CSR.
    pub fn carried_extensions(&self) -> Vec<Ext> {
        let mut exts: Vec<Ext> = self
            .extensions
            .iter()
            .filter(|e| e.oid != SKI_OID && e.oid != AKI_OID)
            .cloned()
            .collect();
        exts.sort();
        exts
    }

    /// The serial number in decimal, as community.crypto returns it.
    pub fn serial_decimal(&self) -> String {
        let mut digits = vec![0u8];
        for byte in &self.serial {
            let mut carry = u32::from(*byte);
            for d in digits.iter_mut() {
                let v = u32::from(*d) * 256 + carry;
                *d = (v % 10) as u8;
                carry = v / 10;
            }
            while carry > 0 {
                digits.push((carry % 10) as u8);
                carry /= 10;
            }
        }
        while digits.len() > 1 && digits.last() == Some(&0) {
            digits.pop();
        }
        digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
    }
}

/// `CN=x, O=y`, or `(empty)`.
pub fn name_text(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "(empty)".to_string();
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a diff shows for a CSR or a certificate: one `name: value` line
/// each, in a fixed order, so that lines that stay the same are not shown
/// as changed.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub lines: Vec<(&'static str, String)>,
}

impl Summary {
    pub fn add(&mut self, name: &'static str, value: impl Into<String>) {
        self.lines.push((name, value.into()));
    }

    /// The lines about what a CSR or certificate says, from its facts.
    pub fn of(facts: &Facts) -> Summary {
        let mut s = Summary::default();
        s.add("subject", name_text(&facts.subject));
        if let Some((names, critical)) = &facts.alt_names {
            s.add(
                "subject alt names",
                with_critical(names.join(", "), *critical),
            );
        }
        if let Some((bits, critical)) = facts.key_usage {
            s.add(
                "key usage",
                with_critical(key_usage_names(bits).join(", "), critical),
            );
        }
        if let Some((oids, critical)) = &facts.extended_usage {
            let names: Vec<String> = oids.iter().map(|o| extended_usage_name(o)).collect();
            s.add(
                "extended key usage",
                with_critical(names.join(", "), *critical),
            );
        }
        if let Some((ca, path_len, critical)) = facts.basic_constraints {
            s.add(
                "basic constraints",
                with_critical(constraints_text(ca, path_len), critical),
            );
        }
        s
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.lines {
            let _ = writeln!(out, "{name}: {value}");
        }
        out
    }
}

/// `CA:TRUE, pathlen:0`.
pub fn constraints_text(ca: bool, path_len: Option<u32>) -> String {
    let mut text = if ca { "CA:TRUE" } else { "CA:FALSE" }.to_string();
    if let Some(n) = path_len {
        text.push_str(&format!(", pathlen:{n}"));
    }
    text
}

pub fn with_critical(text: String, critical: bool) -> String {
    if critical {
        format!("{text} (critical)")
    } else {
        text
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_specs_are_read_like_community_crypto() {
        let now = 1_000_000_000;
        assert_eq!(time_spec("+365d", now), Some(now + 365 * 86_400));
        assert_eq!(time_spec("-1d", now), Some(now - 86_400));
        assert_eq!(
            time_spec("+32w1d2h", now),
            Some(now + 32 * 604_800 + 86_400 + 7_200)
        );
        assert_eq!(time_spec("+0s", now), Some(now));
        assert_eq!(time_spec("+90", now), Some(now + 90));
        assert_eq!(time_spec("+", now), None);
        assert_eq!(time_spec("+1d1w", now), None);
        assert_eq!(time_spec("+1x", now), None);
        assert_eq!(time_spec("20261231000000Z", now), Some(1_798_675_200));
        assert_eq!(time_spec("202612310000Z", now), Some(1_798_675_200));
        assert_eq!(time_spec("20261231010000+0100", now), Some(1_798_675_200));
        assert_eq!(time_spec("20261331000000Z", now), None);
        assert_eq!(asn1_time(1_798_675_200), "20261231000000Z");
    }

    #[test]
    fn names_usages_and_alt_names_use_community_crypto_spellings() {
        assert_eq!(
            name_field("commonName"),
            Some(("CN".into(), "2.5.4.3".into()))
        );
        assert_eq!(name_field("O"), Some(("O".into(), "2.5.4.10".into())));
        assert_eq!(name_field("1.2.3"), Some(("1.2.3".into(), "1.2.3".into())));
        assert_eq!(name_field("nope"), None);
        let bits = key_usage_bit("Digital Signature", "m").expect("known")
            | key_usage_bit("keyCertSign", "m").expect("known");
        assert_eq!(key_usage_names(bits), ["digitalSignature", "keyCertSign"]);
        assert!(key_usage_bit("signing", "m").is_err());
        assert_eq!(
            extended_usage_oid("TLS Web Server Authentication", "m").expect("known"),
            "1.3.6.1.5.5.7.3.1"
        );
        assert_eq!(extended_usage_oid("1.2.3.4", "m").expect("oid"), "1.2.3.4");
        assert!(extended_usage_oid("web", "m").is_err());
        assert_eq!(alt_name("IP:::1", "m").expect("ip"), "IP:::1");
        assert_eq!(alt_name("IP:0:0::1", "m").expect("ip"), "IP:::1");
        assert!(alt_name("example.org", "m").is_err());
        assert!(alt_name("IP:300.1.1.1", "m").is_err());
        assert_eq!(
            basic_constraints(&["CA:TRUE".into(), "pathlen:0".into()], "m").expect("ok"),
            (true, Some(0))
        );
        assert!(basic_constraints(&["CA:yes".into()], "m").is_err());
    }

    /// A CSR and a certificate rcgen made read back as the modules compare
    /// them: subject fields, alternative names, usages, constraints, key.
    #[test]
    fn csrs_and_certificates_read_back_their_names_usages_and_key() {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, PublicKeyData,
        };
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["server.lab".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Lab");
        params
            .distinguished_name
            .push(DnType::CommonName, "server.lab");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let csr = params.serialize_request(&key).expect("csr");
        let facts = Facts::from_csr(csr.der()).expect("parses");
        let mut subject = facts.subject.clone();
        subject.sort();
        assert_eq!(
            subject,
            [
                ("CN".to_string(), "server.lab".to_string()),
                ("O".into(), "Lab".into())
            ]
        );
        assert_eq!(
            facts.alt_names.as_ref().map(|(n, _)| n.clone()),
            Some(vec![
                "DNS:server.lab".to_string(),
                "IP:127.0.0.1".to_string()
            ])
        );
        let bits = key_usage_bit("digitalSignature", "m").expect("known")
            | key_usage_bit("keyCertSign", "m").expect("known");
        assert_eq!(facts.key_usage.map(|(b, _)| b), Some(bits));
        assert_eq!(
            facts.extended_usage.as_ref().map(|(o, _)| o.clone()),
            Some(vec!["1.3.6.1.5.5.7.3.1".to_string()])
        );
        assert_eq!(facts.basic_constraints, None);
        assert_eq!(
            facts.key.as_ref().map(|k| k.der.clone()),
            Some(key.subject_public_key_info())
        );
        assert!(facts.key.as_ref().is_some_and(PublicKey::needs_digest));

        // rcgen puts no basic constraints in CSRs; certificates have them.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let cert = params.self_signed(&key).expect("certificate");
        let facts = Facts::from_certificate(cert.der()).expect("parses");
        assert_eq!(facts.issuer_der, facts.subject_der);
        assert!(facts.not_after > facts.not_before);
        assert_eq!(
            facts.basic_constraints.map(|(ca, n, _)| (ca, n)),
            Some((true, Some(0)))
        );
        let summary = Summary::of(&facts).text();
        assert!(
            summary.contains("subject alt names: DNS:server.lab, IP:127.0.0.1\n"),
            "{summary}"
        );
        assert!(
            summary.contains("basic constraints: CA:TRUE, pathlen:0"),
            "{summary}"
        );
        assert!(Facts::from_csr(b"not DER").is_none());
    }

    #[test]
    fn serial_numbers_read_as_decimal() {
        let serial = Facts {
            serial: vec![0x01, 0x00],
            ..Facts::default()
        };
        assert_eq!(serial.serial_decimal(), "256");
    }
}
