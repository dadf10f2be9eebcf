//! The lab's public key infrastructure: every certificate authority, server
//! certificate and client certificate that a UCP 1.1 + DTR 2.0 cluster holds.
//!
//! The integration procedure is, at heart, an exchange of certificates: UCP's
//! cluster root CA goes to DTR (`authBypassCA`), DTR's CA goes to UCP and to
//! every engine (`certs.d/<dtr>/ca.crt`), and user certificates from UCP's
//! client root CA authenticate client bundles. The lab must reproduce that web
//! of trust with real X.509 certificates, so that every TLS check the real
//! cluster makes is also made here. This module owns generating it, writing
//! it to disk, reading it back, and issuing further certificates on demand.
//!
//! What it generates (file names are the `*_FILE` constants):
//! - `UCP Cluster Root CA`: self-signed, [`CA_VALIDITY_DAYS`]. It issues
//!   UCP's server certificate and the node identities (subject `OU=ucp`) that
//!   UCP-managed engines present to DTR for the auth bypass.
//! - `UCP Client Root CA`: self-signed. It issues user certificates (client
//!   bundles), including the admin's.
//! - `DTR CA` and the DTR server certificate it issues.
//!
//! Choices where the reference gives no observable answer: keys are ECDSA
//! P-256 rather than the real cluster root's RSA, because generation is fast
//! and no client observes the key type beyond parsing it. Both server
//! certificates are valid for the names in [`PkiOptions`] plus `127.0.0.1`
//! and `localhost`, because the lab always serves on loopback. Certificates
//! start one hour in the past ([`CLOCK_SKEW`]) so a slightly slow clock on a
//! lab node does not reject a certificate that was just issued.
//!
//! Private keys are written with mode 0600 and every file is written
//! atomically (temporary file, then rename), so a crash never leaves a
//! half-written key that a later `load` would trip over.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::{Duration, OffsetDateTime};

/// Lifetime of every certificate authority; the reference's cluster root CA
/// sample is valid for about five years (ucp-dtr-api.md §4).
pub const CA_VALIDITY_DAYS: i64 = 5 * 365;
/// Lifetime of server, user and node certificates.
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// How far in the past every certificate's validity starts.
pub const CLOCK_SKEW: Duration = Duration::hours(1);

/// Subject CN of UCP's cluster root CA (ucp-dtr-api.md §4, UCP 1.1).
pub const CLUSTER_ROOT_CA_CN: &str = "UCP Cluster Root CA";
/// Subject CN of UCP's client root CA (ucp-dtr-api.md §1).
pub const CLIENT_ROOT_CA_CN: &str = "UCP Client Root CA";
/// Subject CN of DTR's own CA. The real name is not documented; this is ours.
pub const DTR_CA_CN: &str = "DTR CA";
/// The OU that marks a certificate as held by a UCP-managed engine; it equals
/// DTR's `DefaultAuthBypassOU` (ucp-dtr-api.md §5).
pub const NODE_IDENTITY_OU: &str = "ucp";

/// File holding the UCP cluster root CA certificate.
pub const CLUSTER_CA_FILE: &str = "ucp-cluster-root-ca.pem";
/// File holding the UCP cluster root CA private key.
pub const CLUSTER_CA_KEY_FILE: &str = "ucp-cluster-root-ca-key.pem";
/// File holding the UCP client root CA certificate.
pub const CLIENT_CA_FILE: &str = "ucp-client-root-ca.pem";
/// File holding the UCP client root CA private key.
pub const CLIENT_CA_KEY_FILE: &str = "ucp-client-root-ca-key.pem";
/// File holding UCP's server certificate.
pub const UCP_SERVER_FILE: &str = "ucp-server-cert.pem";
/// File holding UCP's server private key.
pub const UCP_SERVER_KEY_FILE: &str = "ucp-server-key.pem";
/// File holding DTR's CA certificate.
pub const DTR_CA_FILE: &str = "dtr-ca.pem";
/// File holding DTR's CA private key.
pub const DTR_CA_KEY_FILE: &str = "dtr-ca-key.pem";
/// File holding DTR's server certificate.
pub const DTR_SERVER_FILE: &str = "dtr-server-cert.pem";
/// File holding DTR's server private key.
pub const DTR_SERVER_KEY_FILE: &str = "dtr-server-key.pem";
/// File holding the admin's client certificate (the cert of a client bundle).
pub const ADMIN_CERT_FILE: &str = "admin-cert.pem";
/// File holding the admin's client private key.
pub const ADMIN_KEY_FILE: &str = "admin-key.pem";
/// Sub-directory where node identity certificates are written.
pub const NODES_DIR: &str = "nodes";

/// What varies between labs: the names the servers answer to and the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiOptions {
    /// Extra host names and IP addresses for UCP's server certificate.
    pub ucp_hosts: Vec<String>,
    /// Extra host names and IP addresses for DTR's server certificate.
    pub dtr_hosts: Vec<String>,
    /// The admin user, the subject CN of the admin client certificate.
    pub admin_user: String,
}

impl Default for PkiOptions {
    fn default() -> Self {
        Self {
            ucp_hosts: Vec::new(),
            dtr_hosts: Vec::new(),
            admin_user: "admin".to_owned(),
        }
    }
}

/// Everything that can go wrong while making, writing or reading the lab PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// rcgen refused to build a key or certificate.
    #[error("cannot generate {what}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    /// A stored file is not the PEM it should be.
    #[error("{path} does not hold a valid PEM {kind}")]
    InvalidPem { path: PathBuf, kind: &'static str },
    /// A name cannot be used as a certificate subject or a file name.
    #[error("invalid {what} {name:?}: use letters, digits, '.', '-' and '_' only")]
    InvalidName { what: &'static str, name: String },
}

/// A certificate, its private key, and where both live on disk.
#[derive(Clone)]
pub struct CertFiles {
    cert_pem: String,
    key_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl CertFiles {
    /// The certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM encoded (PKCS#8).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Where the certificate is stored.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Where the private key is stored (mode 0600).
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }
}

impl fmt::Debug for CertFiles {
    // The key is left out so that a debug print can never leak it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertFiles")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// A freshly issued certificate that is not stored anywhere.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// Its private key, PEM encoded (PKCS#8).
    pub key_pem: String,
    /// Its public key, PEM encoded (what a client bundle ships as `cert.pub`).
    pub public_key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert").finish_non_exhaustive()
    }
}

/// A client certificate from a throwaway CA that nothing in the lab trusts,
/// for tests and rehearsals of "a certificate from some other CA".
#[derive(Clone)]
pub struct ForeignCert {
    /// The throwaway CA, PEM encoded.
    pub ca_pem: String,
    /// The client certificate it issued.
    pub cert_pem: String,
    /// The client certificate's private key.
    pub key_pem: String,
}

impl fmt::Debug for ForeignCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignCert").finish_non_exhaustive()
    }
}

/// The lab's certificates, as generated into (or loaded from) one directory.
#[derive(Debug, Clone)]
pub struct LabPki {
    dir: PathBuf,
    cluster_ca: CertFiles,
    client_ca: CertFiles,
    ucp_server: CertFiles,
    dtr_ca: CertFiles,
    dtr_server: CertFiles,
    admin: CertFiles,
}

impl LabPki {
    /// Generates a complete PKI into `dir` (created if missing), replacing
    /// whatever PKI files were there.
    pub fn generate(dir: &Path, opts: &PkiOptions) -> Result<LabPki, PkiError> {
        check_name("admin user", &opts.admin_user)?;
        fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        })?;

        let cluster = new_ca(CLUSTER_ROOT_CA_CN)?;
        let client = new_ca(CLIENT_ROOT_CA_CN)?;
        let dtr = new_ca(DTR_CA_CN)?;

        let ucp_server = issue(
            &cluster.issuer,
            &server_params("ucp", &opts.ucp_hosts)?,
            "UCP server certificate",
        )?;
        let dtr_server = issue(
            &dtr.issuer,
            &server_params("dtr", &opts.dtr_hosts)?,
            "DTR server certificate",
        )?;
        let admin = issue(
            &client.issuer,
            &user_params(&opts.admin_user)?,
            "admin client certificate",
        )?;

        Ok(LabPki {
            dir: dir.to_owned(),
            cluster_ca: store(dir, CLUSTER_CA_FILE, CLUSTER_CA_KEY_FILE, cluster.files)?,
            client_ca: store(dir, CLIENT_CA_FILE, CLIENT_CA_KEY_FILE, client.files)?,
            ucp_server: store(dir, UCP_SERVER_FILE, UCP_SERVER_KEY_FILE, ucp_server)?,
            dtr_ca: store(dir, DTR_CA_FILE, DTR_CA_KEY_FILE, dtr.files)?,
            dtr_server: store(dir, DTR_SERVER_FILE, DTR_SERVER_KEY_FILE, dtr_server)?,
            admin: store(dir, ADMIN_CERT_FILE, ADMIN_KEY_FILE, admin)?,
        })
    }

    /// Reads a PKI that [`LabPki::generate`] wrote, checking that every file
    /// holds what it should.
    pub fn load(dir: &Path) -> Result<LabPki, PkiError> {
        Ok(LabPki {
            dir: dir.to_owned(),
            cluster_ca: read_pair(dir, CLUSTER_CA_FILE, CLUSTER_CA_KEY_FILE)?,
            client_ca: read_pair(dir, CLIENT_CA_FILE, CLIENT_CA_KEY_FILE)?,
            ucp_server: read_pair(dir, UCP_SERVER_FILE, UCP_SERVER_KEY_FILE)?,
            dtr_ca: read_pair(dir, DTR_CA_FILE, DTR_CA_KEY_FILE)?,
            dtr_server: read_pair(dir, DTR_SERVER_FILE, DTR_SERVER_KEY_FILE)?,
            admin: read_pair(dir, ADMIN_CERT_FILE, ADMIN_KEY_FILE)?,
        })
    }

    /// The directory the PKI lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `UCP Cluster Root CA`: what `dump-certs --cluster --ca` prints, what
    /// UCP's `/ca` serves, and what DTR's `authBypassCA` must be set to.
    pub fn cluster_root_ca(&self) -> &CertFiles {
        &self.cluster_ca
    }

    /// `UCP Client Root CA`: the issuer of user (client bundle) certificates.
    pub fn client_root_ca(&self) -> &CertFiles {
        &self.client_ca
    }

    /// UCP's HTTPS server certificate, issued by the cluster root CA.
    pub fn ucp_server(&self) -> &CertFiles {
        &self.ucp_server
    }

    /// DTR's own CA: what DTR's `/ca` serves and engines put in `certs.d`.
    pub fn dtr_ca(&self) -> &CertFiles {
        &self.dtr_ca
    }

    /// DTR's HTTPS server certificate, issued by DTR's CA.
    pub fn dtr_server(&self) -> &CertFiles {
        &self.dtr_server
    }

    /// The admin's client certificate, issued by the client root CA.
    pub fn admin_client(&self) -> &CertFiles {
        &self.admin
    }

    /// Issues the identity a UCP-managed engine presents to DTR: subject
    /// `CN=<node_name>, OU=ucp`, issued by the cluster root CA. It is also
    /// written to `nodes/<node_name>-cert.pem` and `nodes/<node_name>-key.pem`.
    /// Returns the certificate and key PEM.
    pub fn issue_node_identity(&self, node_name: &str) -> Result<(String, String), PkiError> {
        check_name("node name", node_name)?;
        let issued = self.issue_cluster_identity(node_name, NODE_IDENTITY_OU)?;
        let dir = self.dir.join(NODES_DIR);
        fs::create_dir_all(&dir).map_err(|source| PkiError::Io {
            action: "create directory",
            path: dir.clone(),
            source,
        })?;
        let files = store(
            &dir,
            &format!("{node_name}-cert.pem"),
            &format!("{node_name}-key.pem"),
            issued,
        )?;
        Ok((files.cert_pem, files.key_pem))
    }

    /// Issues a client certificate from the cluster root CA with any OU, so a
    /// rehearsal can show that DTR rejects a trusted certificate whose OU is
    /// not the bypass OU. Nothing is written to disk.
    pub fn issue_cluster_identity(&self, cn: &str, ou: &str) -> Result<IssuedCert, PkiError> {
        let issuer = load_issuer(&self.cluster_ca)?;
        let mut params = leaf_params(&[], "node identity")?;
        params.distinguished_name = name(cn, Some(ou));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        issue(&issuer, &params, "node identity certificate")
    }

    /// Issues a fresh user certificate (`CN=<username>`) from the client root
    /// CA: the certificate of a client bundle. Nothing is written to disk.
    pub fn issue_user_cert(&self, username: &str) -> Result<IssuedCert, PkiError> {
        let issuer = load_issuer(&self.client_ca)?;
        issue(&issuer, &user_params(username)?, "user certificate")
    }
}

/// Issues a client certificate (`CN=<cn>`, optional OU) from a brand-new CA
/// that nothing in the lab trusts.
pub fn foreign_client_cert(cn: &str, ou: Option<&str>) -> Result<ForeignCert, PkiError> {
    let ca = new_ca("Some Other CA")?;
    let mut params = user_params(cn)?;
    params.distinguished_name = name(cn, ou);
    let leaf = issue(&ca.issuer, &params, "foreign client certificate")?;
    Ok(ForeignCert {
        ca_pem: ca.files.cert_pem,
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
    })
}

/// A CA still in memory: its issuer (for signing) and its PEM.
struct NewCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    files: IssuedCert,
}

fn new_ca(cn: &str) -> Result<NewCa, PkiError> {
    let key = new_key(cn)?;
    let key_pem = key.serialize_pem();
    let public_key_pem = key.public_key_pem();
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_VALIDITY_DAYS);
    let issuer =
        CertifiedIssuer::self_signed(params, key).map_err(|source| generate(cn, source))?;
    let cert_pem = issuer.pem();
    Ok(NewCa {
        issuer,
        files: IssuedCert {
            cert_pem,
            key_pem,
            public_key_pem,
        },
    })
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|source| generate(&format!("key for {what}"), source))
}

fn generate(what: &str, source: rcgen::Error) -> PkiError {
    PkiError::Generate {
        what: what.to_owned(),
        source,
    }
}

fn name(cn: &str, ou: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(ou) = ou {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    dn
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    // Whole seconds keep the encoded times free of fractions that some
    // parsers reject.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is always a valid time");
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::days(days);
}

/// Parameters shared by every end-entity certificate; `sans` are host names
/// or IP addresses.
fn leaf_params(sans: &[String], what: &str) -> Result<CertificateParams, PkiError> {
    let mut params =
        CertificateParams::new(sans.to_vec()).map_err(|source| generate(what, source))?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALIDITY_DAYS);
    Ok(params)
}

fn server_params(cn: &str, hosts: &[String]) -> Result<CertificateParams, PkiError> {
    let mut sans: Vec<String> = Vec::new();
    for host in hosts
        .iter()
        .map(String::as_str)
        .chain(["127.0.0.1", "localhost"])
    {
        if !sans.iter().any(|known| known == host) {
            sans.push(host.to_owned());
        }
    }
    let mut params = leaf_params(&sans, "server certificate")?;
    params.distinguished_name = name(cn, None);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn user_params(username: &str) -> Result<CertificateParams, PkiError> {
    if username.is_empty() || username.chars().any(char::is_control) {
        return Err(PkiError::InvalidName {
            what: "user name",
            name: username.to_owned(),
        });
    }
    let mut params = leaf_params(&[], "user certificate")?;
    params.distinguished_name = name(username, None);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

fn issue(
    issuer: &Issuer<'_, KeyPair>,
    params: &CertificateParams,
    what: &str,
) -> Result<IssuedCert, PkiError> {
    let key = new_key(what)?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|source| generate(what, source))?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        public_key_pem: key.public_key_pem(),
    })
}

fn load_issuer(ca: &CertFiles) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let invalid = |kind| PkiError::InvalidPem {
        path: ca.cert_path.clone(),
        kind,
    };
    let key = KeyPair::from_pem(&ca.key_pem).map_err(|_| PkiError::InvalidPem {
        path: ca.key_path.clone(),
        kind: "private key",
    })?;
    Issuer::from_ca_cert_pem(&ca.cert_pem, key).map_err(|_| invalid("CA certificate"))
}

/// A user or node name ends up in a subject and possibly in a file name, so
/// it is kept to a conservative alphabet.
fn check_name(what: &'static str, name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

fn store(
    dir: &Path,
    cert_file: &str,
    key_file: &str,
    pem: IssuedCert,
) -> Result<CertFiles, PkiError> {
    let cert_path = dir.join(cert_file);
    let key_path = dir.join(key_file);
    // The key goes first: a certificate on disk without its key is useless,
    // while a lone key is simply replaced by the next run.
    write_atomic(&key_path, pem.key_pem.as_bytes(), 0o600)?;
    write_atomic(&cert_path, pem.cert_pem.as_bytes(), 0o644)?;
    Ok(CertFiles {
        cert_pem: pem.cert_pem,
        key_pem: pem.key_pem,
        cert_path,
        key_path,
    })
}

/// Writes `data` to a temporary file created with `mode` next to `path`, syncs
/// it, and renames it over `path`, so readers see the old or the new file and
/// never a partial one.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    dtrplay_local_file::write_atomic(path, data, mode).map_err(|source| PkiError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

fn read_pair(dir: &Path, cert_file: &str, key_file: &str) -> Result<CertFiles, PkiError> {
    let cert_path = dir.join(cert_file);
    let key_path = dir.join(key_file);
    let cert_pem = read(&cert_path)?;
    let key_pem = read(&key_path)?;
    if parse_certificates(&cert_pem).is_none() {
        return Err(PkiError::InvalidPem {
            path: cert_path,
            kind: "certificate",
        });
    }
    if KeyPair::from_pem(&key_pem).is_err() {
        return Err(PkiError::InvalidPem {
            path: key_path,
            kind: "private key",
        });
    }
    Ok(CertFiles {
        cert_pem,
        key_pem,
        cert_path,
        key_path,
    })
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

/// Parses a PEM bundle into DER certificates. Returns `None` unless the text
/// holds at least one certificate and every one of them is well-formed X.509;
/// the simulators use this to validate CA fields a client submits.
pub fn parse_certificates(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .ok()?;
    if certs.is_empty() {
        return None;
    }
    let all_parse = certs
        .iter()
        .all(|der| x509_parser::parse_x509_certificate(der).is_ok());
    all_parse.then_some(certs)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use x509_parser::prelude::*;

    use super::*;

    fn subject_and_issuer(pem: &str) -> (String, String, bool) {
        let der = parse_certificates(pem).expect("certificate parses");
        let (_, cert) = parse_x509_certificate(&der[0]).expect("x509 parses");
        (
            cert.subject().to_string(),
            cert.issuer().to_string(),
            cert.is_ca(),
        )
    }

    fn chains_to(leaf_pem: &str, ca_pem: &str, usage: webpki::KeyUsage) -> bool {
        let ca = parse_certificates(ca_pem).expect("CA parses");
        let anchor = webpki::anchor_from_trusted_cert(&ca[0]).expect("anchor");
        let leaf = parse_certificates(leaf_pem).expect("leaf parses");
        let ee = webpki::EndEntityCert::try_from(&leaf[0]).expect("end entity");
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            rustls_pki_types::UnixTime::now(),
            usage,
            None,
            None,
        )
        .is_ok()
    }

    #[test]
    fn generate_writes_a_consistent_pki_and_load_reads_it_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = PkiOptions {
            ucp_hosts: vec!["ucp.lab".to_owned()],
            dtr_hosts: vec!["dtr.lab".to_owned(), "10.0.0.5".to_owned()],
            admin_user: "admin".to_owned(),
        };
        let pki = LabPki::generate(dir.path(), &opts).expect("generate");

        let (subject, issuer, is_ca) = subject_and_issuer(pki.cluster_root_ca().cert_pem());
        assert_eq!(subject, "CN=UCP Cluster Root CA");
        assert_eq!(issuer, subject);
        assert!(is_ca);
        let (subject, _, is_ca) = subject_and_issuer(pki.client_root_ca().cert_pem());
        assert_eq!(subject, "CN=UCP Client Root CA");
        assert!(is_ca);
        let (subject, issuer, is_ca) = subject_and_issuer(pki.admin_client().cert_pem());
        assert_eq!(
            (subject.as_str(), issuer.as_str()),
            ("CN=admin", "CN=UCP Client Root CA")
        );
        assert!(!is_ca);

        assert!(chains_to(
            pki.ucp_server().cert_pem(),
            pki.cluster_root_ca().cert_pem(),
            webpki::KeyUsage::server_auth()
        ));
        assert!(chains_to(
            pki.dtr_server().cert_pem(),
            pki.dtr_ca().cert_pem(),
            webpki::KeyUsage::server_auth()
        ));
        assert!(chains_to(
            pki.admin_client().cert_pem(),
            pki.client_root_ca().cert_pem(),
            webpki::KeyUsage::client_auth()
        ));
        assert!(!chains_to(
            pki.dtr_server().cert_pem(),
            pki.cluster_root_ca().cert_pem(),
            webpki::KeyUsage::server_auth()
        ));

        // The DTR certificate carries the requested names plus loopback.
        let der = parse_certificates(pki.dtr_server().cert_pem()).expect("parses");
        let (_, cert) = parse_x509_certificate(&der[0]).expect("x509");
        let sans = cert
            .subject_alternative_name()
            .expect("SAN extension parses")
            .expect("SAN extension present");
        let names: Vec<String> = sans
            .value
            .general_names
            .iter()
            .map(|name| name.to_string())
            .collect();
        for wanted in ["dtr.lab", "localhost"] {
            assert!(
                names.iter().any(|n| n.contains(wanted)),
                "{wanted} in {names:?}"
            );
        }
        // x509-parser prints IP addresses as hex octets.
        assert!(
            names.iter().any(|n| n == "IPAddress(7f:00:00:01)"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "IPAddress(0a:00:00:05)"),
            "{names:?}"
        );

        for key in [
            pki.cluster_root_ca().key_path(),
            pki.dtr_server().key_path(),
            pki.admin_client().key_path(),
        ] {
            let mode = fs::metadata(key).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }

        let loaded = LabPki::load(dir.path()).expect("load");
        assert_eq!(
            loaded.cluster_root_ca().cert_pem(),
            pki.cluster_root_ca().cert_pem()
        );
        assert_eq!(loaded.dtr_server().key_pem(), pki.dtr_server().key_pem());
        // A loaded PKI can still issue certificates that chain to its CAs.
        let user = loaded.issue_user_cert("alice").expect("issue");
        assert!(chains_to(
            &user.cert_pem,
            pki.client_root_ca().cert_pem(),
            webpki::KeyUsage::client_auth()
        ));
    }

    #[test]
    fn node_identities_carry_the_ucp_ou_and_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = LabPki::generate(dir.path(), &PkiOptions::default()).expect("generate");
        let (cert, key) = pki.issue_node_identity("node-1").expect("issue");
        let (subject, issuer, _) = subject_and_issuer(&cert);
        assert_eq!(subject, "CN=node-1, OU=ucp");
        assert_eq!(issuer, "CN=UCP Cluster Root CA");
        assert!(chains_to(
            &cert,
            pki.cluster_root_ca().cert_pem(),
            webpki::KeyUsage::client_auth()
        ));
        let written = dir.path().join(NODES_DIR).join("node-1-key.pem");
        assert_eq!(fs::read_to_string(&written).expect("read"), key);
        assert!(matches!(
            pki.issue_node_identity("../escape"),
            Err(PkiError::InvalidName { .. })
        ));
    }

    #[test]
    fn foreign_certificates_do_not_chain_to_the_lab() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = LabPki::generate(dir.path(), &PkiOptions::default()).expect("generate");
        let foreign = foreign_client_cert("node-x", Some("ucp")).expect("issue");
        assert!(chains_to(
            &foreign.cert_pem,
            &foreign.ca_pem,
            webpki::KeyUsage::client_auth()
        ));
        assert!(!chains_to(
            &foreign.cert_pem,
            pki.cluster_root_ca().cert_pem(),
            webpki::KeyUsage::client_auth()
        ));
    }

    #[test]
    fn load_reports_missing_and_corrupt_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(LabPki::load(dir.path()), Err(PkiError::Io { .. })));
        LabPki::generate(dir.path(), &PkiOptions::default()).expect("generate");
        fs::write(dir.path().join(DTR_CA_FILE), "not a certificate").expect("write");
        assert!(matches!(
            LabPki::load(dir.path()),
            Err(PkiError::InvalidPem { .. })
        ));
    }

    #[test]
    fn parse_certificates_rejects_non_certificates() {
        assert!(parse_certificates("").is_none());
        assert!(parse_certificates("hello").is_none());
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(parse_certificates(bogus).is_none());
    }
}
