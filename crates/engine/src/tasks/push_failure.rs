//! What real Docker engines print when a push or pull to DTR fails, and
//! which trust link each text points at. `push-test` and `doctor` share
//! this one classification.
//!
//! Every text is kept with the engine version it was seen on: the seed's
//! Docker 1.11 (the procedure's troubleshooting section, ucp-dtr-api.md
//! §8), Debian's Docker 20.10 (measured against the lab, real-world-facts.md
//! §2), and the current client (Docker 28.x, built with Go ≥ 1.20, which adds
//! `tls: failed to verify certificate: ` before every x509 error).
//! Matching is on the distinctive part only, lower-cased, so that the
//! prefixes that differ between versions (`Error response from daemon: `,
//! the quoted or unquoted URL, `/v1/_ping` or `/v2/`) do not matter.

/// Docker 1.11: the layer line of a refused push (`5f70bf18a086: Image
/// push failed`), followed by [`UNAUTHORIZED_1_11`].
pub const IMAGE_PUSH_FAILED_1_11: &str = "Image push failed";

/// Docker 1.11: a registry refusal (401 `UNAUTHORIZED` "authentication
/// required", printed as code and message).
pub const UNAUTHORIZED_1_11: &str = "unauthorized: authentication required";

/// Docker 20.10 and current: a registry refusal of a push or pull without
/// the needed rights (after `<id>: Preparing`, or inside `pull access
/// denied for …`).
pub const DENIED_20_10: &str = "denied: requested access to the resource is denied";

/// Docker 20.10 and current: a 401 whose body has no detail, shortened to a
/// bare word (`Error response from daemon: Get "https://…/v2/":
/// unauthorized`, e.g. a wrong password at `docker login`).
pub const BARE_UNAUTHORIZED_20_10: &str = ": unauthorized";

/// Every version: the engine does not trust the CA of DTR's certificate
/// (1.11: `Get https://dtr/v1/_ping: x509: …`; 20.10: `Get
/// "https://dtr/v2/": x509: …`; current: with [`TLS_VERIFY_PREFIX_CURRENT`]).
pub const X509_UNKNOWN_AUTHORITY: &str = "x509: certificate signed by unknown authority";

/// Go ≥ 1.20 (current clients and engines): the prefix of every
/// certificate verification error.
pub const TLS_VERIFY_PREFIX_CURRENT: &str = "tls: failed to verify certificate: ";

/// Every version: DTR's certificate does not name the host the engine
/// dialled (`x509: certificate is valid for A, not B`).
pub const X509_WRONG_NAME: &str = "x509: certificate is valid for ";

/// Every version: DTR's certificate (or its CA) is outside its validity.
pub const X509_EXPIRED: &str = "x509: certificate has expired or is not yet valid";

/// Docker 20.10: a `client.cert` in `certs.d` without its `client.key`
/// (`missing key client.key for client certificate client.cert. Note that
/// CA certificates should use the extension .crt`; newer engines end with
/// `; CA certificates must use the extension .crt`).
pub const MISSING_CLIENT_KEY_20_10: &str = "missing key ";

/// The part of [`MISSING_CLIENT_KEY_20_10`]'s message after the key name.
const MISSING_CLIENT_KEY_TAIL: &str = " for client certificate ";

/// The texts of the two errors the procedure names, as doctor quotes them.
pub const UNAUTHORIZED: &str = UNAUTHORIZED_1_11;
pub const UNKNOWN_AUTHORITY: &str = X509_UNKNOWN_AUTHORITY;

/// Which link a failed push or pull points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFailure {
    /// The registry refused the request (`denied`, `unauthorized`): no
    /// credentials reached it, so steps 3–4 (UCP knows DTR, DTR trusts UCP).
    /// On an anonymous pull it proves that TLS trust holds.
    Refused,
    /// The engine does not trust DTR's CA: step 5 on that node.
    UnknownAuthority,
    /// DTR's certificate is not valid for the name used: DTR's own
    /// certificate or the name in `dtr_url`.
    WrongName,
    /// DTR's certificate or CA has expired (or is not valid yet).
    Expired,
    /// `certs.d` holds a client certificate without its key: step 5 went
    /// wrong on that node.
    MissingClientKey,
    /// Anything else.
    Other,
}

impl PushFailure {
    /// The text that identified it, as shown in diagnoses.
    pub fn text(self) -> &'static str {
        match self {
            PushFailure::Refused => DENIED_20_10,
            PushFailure::UnknownAuthority => X509_UNKNOWN_AUTHORITY,
            PushFailure::WrongName => "x509: certificate is valid for …, not …",
            PushFailure::Expired => X509_EXPIRED,
            PushFailure::MissingClientKey => {
                "missing key client.key for client certificate client.cert"
            }
            PushFailure::Other => "",
        }
    }

    /// Whether the engine's TLS verification of DTR failed.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            PushFailure::UnknownAuthority | PushFailure::WrongName | PushFailure::Expired
        )
    }
}

/// Classifies the output of a failed `docker push` or `docker pull`.
pub fn classify(output: &str) -> PushFailure {
    let lower = output.to_ascii_lowercase();
    let has = |text: &str| lower.contains(&text.to_ascii_lowercase());
    // Certificate problems first: a TLS failure stops the engine before
    // the registry can refuse anything.
    if has(X509_UNKNOWN_AUTHORITY) {
        return PushFailure::UnknownAuthority;
    }
    if has(X509_WRONG_NAME) && has(", not ") {
        return PushFailure::WrongName;
    }
    if has(X509_EXPIRED) {
        return PushFailure::Expired;
    }
    if has(MISSING_CLIENT_KEY_20_10) && has(MISSING_CLIENT_KEY_TAIL) {
        return PushFailure::MissingClientKey;
    }
    if has(DENIED_20_10) || has(UNAUTHORIZED_1_11) {
        return PushFailure::Refused;
    }
    if lower
        .lines()
        .any(|line| line.trim_end().ends_with(BARE_UNAUTHORIZED_20_10))
    {
        return PushFailure::Refused;
    }
    PushFailure::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_of_three_engine_generations() {
        let cases = [
            // Docker 1.11, the procedure's own troubleshooting texts.
            (
                "5f70bf18a086: Image push failed\nunauthorized: authentication required\n",
                PushFailure::Refused,
            ),
            (
                "Get https://dtr/v1/_ping: x509: certificate signed by unknown authority",
                PushFailure::UnknownAuthority,
            ),
            // Docker 20.10 (Debian), measured against the lab.
            (
                "The push refers to repository [dtr.lab.test:4443/admin/hello-world]\nGet \"https://dtr.lab.test:4443/v2/\": x509: certificate signed by unknown authority",
                PushFailure::UnknownAuthority,
            ),
            (
                "684bbde9be1a: Preparing\ndenied: requested access to the resource is denied",
                PushFailure::Refused,
            ),
            (
                "Error response from daemon: Get \"https://dtr.lab.test:4443/v2/\": unauthorized",
                PushFailure::Refused,
            ),
            (
                "Error response from daemon: missing key client.key for client certificate client.cert. Note that CA certificates should use the extension .crt",
                PushFailure::MissingClientKey,
            ),
            // Current clients (Go >= 1.20).
            (
                "Error response from daemon: Get \"https://dtr/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
                PushFailure::UnknownAuthority,
            ),
            (
                "tls: failed to verify certificate: x509: certificate is valid for dtr.lab.test, not other.lab.test",
                PushFailure::WrongName,
            ),
            (
                "Get \"https://dtr/v2/\": x509: certificate has expired or is not yet valid: current time 2030-01-01",
                PushFailure::Expired,
            ),
            ("no space left on device", PushFailure::Other),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text), want, "{text}");
        }
    }
}
