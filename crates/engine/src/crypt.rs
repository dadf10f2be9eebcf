//! Unix `crypt(3)` password hashes, as Ansible's `password_hash` filter
//! and `vars_prompt`'s `encrypt` make them (passlib's names): `md5_crypt`
//! (`$1$`), `sha256_crypt` (`$5$`) and `sha512_crypt` (`$6$`), the hashes
//! `/etc/shadow` and the `user` module's `password` take.
//!
//! The schemes follow their published descriptions (Poul-Henning Kamp's
//! MD5-crypt, Ulrich Drepper's SHA-crypt); the tests hold hashes that
//! glibc's `crypt` made. Salts are at most 8 (MD5) or 16 (SHA) characters
//! of `./0-9A-Za-z`; a random salt comes from the system's random source.

use sha2::{Digest, Sha256, Sha512};

/// The alphabet of salts and of the hash encoding.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SHA-crypt's default and bounds of `rounds`.
const ROUNDS_DEFAULT: u32 = 5000;
const ROUNDS_MIN: u32 = 1000;
const ROUNDS_MAX: u32 = 999_999_999;

/// The schemes, by the names Ansible accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Md5,
    Sha256,
    Sha512,
}

/// Why a hash cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    #[error(
        "`{0}` is not a password hash dtrplay can make; use sha512_crypt (sha512), sha256_crypt (sha256) or md5_crypt (md5)"
    )]
    Scheme(String),
    #[error("the salt may hold only the characters ./0-9A-Za-z")]
    Salt,
    #[error(
        "rounds must be between 1000 and 999999999 for SHA-crypt, and are not taken by md5_crypt"
    )]
    Rounds,
}

impl Scheme {
    /// The scheme a name means: passlib's (`sha512_crypt`) or the short
    /// ones the `password_hash` filter takes (`sha512`).
    pub fn named(name: &str) -> Result<Scheme, CryptError> {
        match name {
            "md5_crypt" | "md5" => Ok(Scheme::Md5),
            "sha256_crypt" | "sha256" => Ok(Scheme::Sha256),
            "sha512_crypt" | "sha512" => Ok(Scheme::Sha512),
            other => Err(CryptError::Scheme(other.to_string())),
        }
    }

    /// The salt length passlib gives the scheme when none is asked for.
    pub fn default_salt_len(self) -> usize {
        self.max_salt()
    }

    fn max_salt(self) -> usize {
        match self {
            Scheme::Md5 => 8,
            Scheme::Sha256 | Scheme::Sha512 => 16,
        }
    }
}

/// A salt of `len` random characters of the salt alphabet.
pub fn random_salt(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // The system's generator does not fail on Linux; were it to, a salt
    // of zero bytes still hashes correctly, only less uniquely.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes
        .iter()
        .map(|b| ITOA64[usize::from(b & 0x3f)] as char)
        .collect()
}

/// Whether `salt` holds only salt characters.
pub fn valid_salt(salt: &str) -> bool {
    salt.bytes().all(|b| ITOA64.contains(&b))
}

/// The hash of `password` with `salt` (cut to the scheme's length, as
/// crypt cuts it) and, for SHA-crypt, `rounds`.
pub fn hash(
    scheme: Scheme,
    password: &str,
    salt: &str,
    rounds: Option<u32>,
) -> Result<String, CryptError> {
    if !valid_salt(salt) {
        return Err(CryptError::Salt);
    }
    let salt = &salt[..salt.len().min(scheme.max_salt())];
    match scheme {
        Scheme::Md5 if rounds.is_some() => Err(CryptError::Rounds),
        Scheme::Md5 => Ok(md5_crypt(password.as_bytes(), salt)),
        Scheme::Sha256 | Scheme::Sha512 => {
            let rounds = rounds.unwrap_or(ROUNDS_DEFAULT);
            if !(ROUNDS_MIN..=ROUNDS_MAX).contains(&rounds) {
                return Err(CryptError::Rounds);
            }
            Ok(sha_crypt(scheme, password.as_bytes(), salt, rounds))
        }
    }
}

/// Appends the low `count` six-bit groups of `value`, least significant
/// first, as crypt encodes them.
fn encode_24(out: &mut String, value: u32, count: usize) {
    let mut v = value;
    for _ in 0..count {
        out.push(ITOA64[(v & 0x3f) as usize] as char);
        v >>= 6;
    }
}

/// MD5 over the parts, in order.
fn md5_of(parts: &[&[u8]]) -> [u8; 16] {
    let mut ctx = md5::Context::new();
    for part in parts {
        ctx.consume(part);
    }
    ctx.finalize().0
}

fn md5_crypt(password: &[u8], salt: &str) -> String {
    let salt = salt.as_bytes();
    let alternate = md5_of(&[password, salt, password]);
    let mut parts: Vec<&[u8]> = vec![password, b"$1$", salt];
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        parts.push(&alternate[..n]);
        left -= n;
    }
    // The length's bits pick a zero byte or the password's first byte.
    let first = password.get(..1).unwrap_or_default();
    let mut bits = password.len();
    while bits > 0 {
        parts.push(if bits & 1 == 1 { &[0u8] } else { first });
        bits >>= 1;
    }
    let mut digest = md5_of(&parts);
    for round in 0..1000 {
        let previous = digest;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        parts.push(if round % 2 == 1 { password } else { &previous });
        if round % 3 != 0 {
            parts.push(salt);
        }
        if round % 7 != 0 {
            parts.push(password);
        }
        parts.push(if round % 2 == 1 { &previous } else { password });
        digest = md5_of(&parts);
    }
    let d = |i: usize| u32::from(digest[i]);
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        encode_24(&mut out, (d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    encode_24(&mut out, d(11), 2);
    out
}

/// SHA-crypt over either digest.
fn sha_crypt(scheme: Scheme, password: &[u8], salt: &str, rounds: u32) -> String {
    let digest: fn(&[&[u8]]) -> Vec<u8> = match scheme {
        Scheme::Sha256 => |parts| {
            let mut h = Sha256::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        },
        _ => |parts| {
            let mut h = Sha512::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        },
    };
    let salt_bytes = salt.as_bytes();
    let b = digest(&[password, salt_bytes, password]);
    let n = b.len();
    // Digest A: password, salt, B repeated over the password's length,
    // then B or the password by the length's bits.
    let mut a_parts: Vec<&[u8]> = vec![password, salt_bytes];
    let mut left = password.len();
    while left > 0 {
        let take = left.min(n);
        a_parts.push(&b[..take]);
        left -= take;
    }
    let mut bits = password.len();
    while bits > 0 {
        a_parts.push(if bits & 1 == 1 { &b[..] } else { password });
        bits >>= 1;
    }
    let a = digest(&a_parts);
    // P: the password's digest repeated to its length; S: the salt's,
    // repeated (16 + A[0]) times, cut to the salt's length.
    let dp = digest(&vec![password; password.len()]);
    let p: Vec<u8> = dp.iter().cycle().take(password.len()).copied().collect();
    let ds = digest(&vec![salt_bytes; 16 + usize::from(a[0])]);
    let s: Vec<u8> = ds.iter().cycle().take(salt_bytes.len()).copied().collect();
    let mut c = a;
    for round in 0..rounds {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        let prev = c.clone();
        parts.push(if round % 2 == 1 { &p } else { &prev });
        if round % 3 != 0 {
            parts.push(&s);
        }
        if round % 7 != 0 {
            parts.push(&p);
        }
        parts.push(if round % 2 == 1 { &prev } else { &p });
        c = digest(&parts);
    }
    let mut out = match (scheme, rounds) {
        (Scheme::Sha256, ROUNDS_DEFAULT) => format!("$5${salt}$"),
        (Scheme::Sha256, r) => format!("$5$rounds={r}${salt}$"),
        (_, ROUNDS_DEFAULT) => format!("$6${salt}$"),
        (_, r) => format!("$6$rounds={r}${salt}$"),
    };
    let d = |i: usize| u32::from(c[i]);
    if scheme == Scheme::Sha256 {
        // Bytes taken in threes, each a step of 21 on from the last, then
        // the last two.
        for k in 0..10 {
            let (x, y, z) = ((k * 21) % 30, (k * 21 + 10) % 30, (k * 21 + 20) % 30);
            encode_24(&mut out, (d(x) << 16) | (d(y) << 8) | d(z), 4);
        }
        encode_24(&mut out, (d(31) << 8) | d(30), 3);
    } else {
        for k in 0..21 {
            let (x, y, z) = (k, k + 21, k + 42);
            let (x, y, z) = match k % 3 {
                0 => (x, y, z),
                1 => (y, z, x),
                _ => (z, x, y),
            };
            encode_24(&mut out, (d(x) << 16) | (d(y) << 8) | d(z), 4);
        }
        encode_24(&mut out, d(63), 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes glibc's `crypt` made (Python's `crypt.crypt`).
    #[test]
    fn hashes_match_glibc() {
        for (scheme, salt, rounds, want) in [
            (Scheme::Md5, "foo", None, "$1$foo$ygQElgzdVoe51UiGBN5TV/"),
            (
                Scheme::Sha256,
                "saltsalt",
                None,
                "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
            ),
            (
                Scheme::Sha512,
                "saltsalt",
                None,
                "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
            ),
            (
                Scheme::Sha256,
                "saltsalt",
                Some(10000),
                "$5$rounds=10000$saltsalt$RUsnTSO2Cw.gkRW/RZSmG6BCeuh1a6eDbZfnX4oz1c5",
            ),
        ] {
            assert_eq!(hash(scheme, "secret", salt, rounds).as_deref(), Ok(want));
        }
    }

    #[test]
    fn bad_names_salts_and_rounds_are_refused() {
        assert!(matches!(
            Scheme::named("bcrypt"),
            Err(CryptError::Scheme(_))
        ));
        assert_eq!(Scheme::named("sha512"), Ok(Scheme::Sha512));
        assert_eq!(hash(Scheme::Md5, "x", "a$b", None), Err(CryptError::Salt));
        assert_eq!(
            hash(Scheme::Sha512, "x", "ab", Some(10)),
            Err(CryptError::Rounds)
        );
        let salt = random_salt(16);
        assert_eq!(salt.len(), 16);
        assert!(salt.bytes().all(|b| ITOA64.contains(&b)));
    }
}
