//! The algorithm lists of OpenSSH's configuration (`KexAlgorithms`,
//! `Ciphers`, `MACs`, `HostKeyAlgorithms`, `PubkeyAcceptedAlgorithms`) as
//! the lists the native transport offers.
//!
//! OpenSSH reads each value the same way: a plain comma-separated list
//! replaces the default, `+list` appends to it, `-list` removes from it and
//! `^list` puts the list at its head; every entry may be a pattern with `*`
//! and `?`. The native transport does the same with its own default (what
//! russh offers when nothing is configured). A name OpenSSH knows and
//! russh does not implement makes the value "not understood", so that the
//! host goes to OpenSSH rather than to a handshake that offers less than the
//! user asked for; removing such a name (`-ssh-dss`) is always understood.

use crate::wildcard;

/// Which list a value is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kex,
    Cipher,
    Mac,
    HostKey,
    Pubkey,
}

/// The key exchange algorithms russh implements, by their OpenSSH names, in
/// the order the native transport prefers them.
pub const NATIVE_KEX: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group17-sha512",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group15-sha512",
    "diffie-hellman-group14-sha256",
];

/// russh's default ciphers, in its order.
const DEFAULT_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
];

/// Every cipher russh implements (besides `none`).
const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
    "aes256-cbc",
    "aes192-cbc",
    "aes128-cbc",
];

/// russh's default MACs (it leaves SHA-1 out, as OpenSSH should).
const DEFAULT_MACS: &[&str] = &[
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512",
    "hmac-sha2-256",
];

/// Every MAC russh implements (besides `none`).
const MACS: &[&str] = &[
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512",
    "hmac-sha2-256",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1",
];

/// The host key algorithms russh verifies, in its default order.
const HOST_KEYS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// The public key algorithms the native transport authenticates with: the
/// plain keys, and OpenSSH user certificates of each.
const PUBKEYS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

impl Kind {
    /// The keyword, in OpenSSH's spelling.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Kex => "KexAlgorithms",
            Kind::Cipher => "Ciphers",
            Kind::Mac => "MACs",
            Kind::HostKey => "HostKeyAlgorithms",
            Kind::Pubkey => "PubkeyAcceptedAlgorithms",
        }
    }

    /// What one entry is, for messages.
    fn what(self) -> &'static str {
        match self {
            Kind::Kex => "key exchange algorithm",
            Kind::Cipher => "cipher",
            Kind::Mac => "MAC",
            Kind::HostKey => "host key algorithm",
            Kind::Pubkey => "public key algorithm",
        }
    }

    /// What the native transport offers when nothing is configured.
    pub fn default_list(self) -> &'static [&'static str] {
        match self {
            Kind::Kex => NATIVE_KEX,
            Kind::Cipher => DEFAULT_CIPHERS,
            Kind::Mac => DEFAULT_MACS,
            Kind::HostKey => HOST_KEYS,
            Kind::Pubkey => PUBKEYS,
        }
    }

    /// Everything the native transport implements.
    pub fn supported(self) -> &'static [&'static str] {
        match self {
            Kind::Kex => NATIVE_KEX,
            Kind::Cipher => CIPHERS,
            Kind::Mac => MACS,
            Kind::HostKey => HOST_KEYS,
            Kind::Pubkey => PUBKEYS,
        }
    }
}

/// A configured value as the list the native transport offers, in order.
pub fn list(kind: Kind, value: &str) -> Result<Vec<String>, String> {
    let (op, rest) = match value.chars().next() {
        Some(c @ ('+' | '-' | '^')) => (Some(c), &value[1..]),
        _ => (None, value),
    };
    let entries: Vec<&str> = rest.split(',').filter(|n| !n.is_empty()).collect();
    let default = kind.default_list();
    let list: Vec<String> = if op == Some('-') {
        default
            .iter()
            .filter(|d| !entries.iter().any(|e| wildcard::matches(e, d)))
            .map(|d| d.to_string())
            .collect()
    } else {
        let named = expand(kind, &entries)?;
        match op {
            None => named,
            Some('+') => {
                let mut list: Vec<String> = default.iter().map(|d| d.to_string()).collect();
                list.extend(named.into_iter().filter(|n| !default.contains(&n.as_str())));
                list
            }
            _ => {
                let mut list = named.clone();
                list.extend(
                    default
                        .iter()
                        .filter(|d| !named.iter().any(|n| n == *d))
                        .map(|d| d.to_string()),
                );
                list
            }
        }
    };
    if list.is_empty() {
        return Err(format!(
            "{} leaves no {} to offer",
            kind.keyword(),
            kind.what()
        ));
    }
    Ok(list)
}

/// The supported names that `entries` (names or patterns) select, in the
/// entries' order. A plain name russh does not implement is an error; a
/// pattern selects what it matches among the supported names, as OpenSSH
/// matches patterns against the names it knows.
fn expand(kind: Kind, entries: &[&str]) -> Result<Vec<String>, String> {
    let supported = kind.supported();
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        if entry.contains(['*', '?']) {
            for name in supported.iter().filter(|s| wildcard::matches(entry, s)) {
                if !out.iter().any(|o| o == name) {
                    out.push(name.to_string());
                }
            }
        } else if supported.contains(entry) {
            if !out.iter().any(|o| o == entry) {
                out.push(entry.to_string());
            }
        } else {
            return Err(format!(
                "the {} {entry} is not supported natively",
                kind.what()
            ));
        }
    }
    Ok(out)
}

/// Whether `name` is in `allowed` (a configured list), or anything goes
/// when nothing was configured.
pub fn allowed(allowed: Option<&[String]>, name: &str) -> bool {
    allowed.is_none_or(|list| list.iter().any(|a| a == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value and the expected list's start, or a fragment of the reason.
    type Case<'a> = (Kind, &'a str, Result<&'a [&'a str], &'a str>);

    #[test]
    fn modifiers_and_patterns() {
        let cases: &[Case] = &[
            (
                Kind::Kex,
                "curve25519-sha256,ecdh-sha2-nistp256",
                Ok(&["curve25519-sha256", "ecdh-sha2-nistp256"]),
            ),
            (
                Kind::Kex,
                "^ecdh-sha2-nistp256",
                Ok(&["ecdh-sha2-nistp256", "mlkem768x25519-sha256"]),
            ),
            (
                Kind::Kex,
                "-mlkem*",
                Ok(&["curve25519-sha256", "curve25519-sha256@libssh.org"]),
            ),
            (Kind::Kex, "diffie-hellman-group1-sha1", Err("group1-sha1")),
            (Kind::Kex, "-*", Err("no key exchange algorithm")),
            (
                Kind::Cipher,
                "+aes128-gcm@openssh.com",
                Ok(&[
                    "chacha20-poly1305@openssh.com",
                    "aes256-gcm@openssh.com",
                    "aes256-ctr",
                    "aes192-ctr",
                    "aes128-ctr",
                    "aes128-gcm@openssh.com",
                ]),
            ),
            (
                Kind::Cipher,
                "aes*-ctr",
                Ok(&["aes256-ctr", "aes192-ctr", "aes128-ctr"]),
            ),
            (Kind::Cipher, "3des-cbc", Err("cipher 3des-cbc")),
            (
                Kind::Cipher,
                "-3des-cbc,chacha*",
                Ok(&["aes256-gcm@openssh.com"]),
            ),
            (
                Kind::Mac,
                "^hmac-sha1",
                Ok(&["hmac-sha1", "hmac-sha2-512-etm@openssh.com"]),
            ),
            (Kind::Mac, "umac-64@openssh.com", Err("MAC umac-64")),
            (Kind::HostKey, "ssh-ed25519", Ok(&["ssh-ed25519"])),
            (
                Kind::HostKey,
                "ssh-ed25519-cert-v01@openssh.com",
                Err("host key algorithm ssh-ed25519-cert"),
            ),
            (
                Kind::HostKey,
                "-ssh-rsa,rsa*",
                Ok(&["ssh-ed25519", "ecdsa-sha2-nistp256"]),
            ),
            (Kind::Pubkey, "+ssh-dss", Err("ssh-dss")),
            (
                Kind::Pubkey,
                "ssh-ed25519*",
                Ok(&["ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"]),
            ),
        ];
        for (kind, value, expected) in cases {
            match (expected, list(*kind, value)) {
                (Ok(prefix), Ok(got)) => {
                    assert!(got.len() >= prefix.len(), "{value}: {got:?}");
                    assert_eq!(&got[..prefix.len()], *prefix, "{value}");
                }
                (Err(fragment), Err(reason)) => assert!(reason.contains(fragment), "{reason}"),
                (expected, got) => panic!("{value}: expected {expected:?}, got {got:?}"),
            }
        }
        assert_eq!(list(Kind::Cipher, "aes*-ctr").map(|l| l.len()), Ok(3));
    }

    #[test]
    fn every_supported_name_is_one_russh_knows() {
        for name in Kind::Cipher.supported() {
            assert!(russh::cipher::Name::try_from(*name).is_ok(), "{name}");
        }
        for name in Kind::Mac.supported() {
            assert!(russh::mac::Name::try_from(*name).is_ok(), "{name}");
        }
        for name in Kind::HostKey.supported() {
            assert!(russh::keys::Algorithm::new(name).is_ok(), "{name}");
        }
    }
}
