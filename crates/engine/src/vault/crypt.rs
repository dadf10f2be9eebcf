//! Ansible Vault's AES256 cipher: PBKDF2-HMAC-SHA256 (10,000 iterations,
//! 32-byte salt) stretches the password into 80 bytes, which are the
//! AES-256 key, the HMAC-SHA256 key and the 16-byte initial counter block
//! of AES-256-CTR. The plaintext is PKCS#7-padded to 16 bytes before
//! encryption (CTR does not need it; Ansible's format has it), and the HMAC
//! covers the ciphertext. Decryption checks the HMAC, in constant time,
//! before it decrypts anything.

use aes::Aes256;
use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use pbkdf2::sha2::Sha256;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = hmac::Hmac<Sha256>;

/// PBKDF2 iterations, fixed by the format.
const ITERATIONS: u32 = 10_000;

/// The salt's length when dtrplay encrypts (Ansible's choice too).
pub const SALT_LEN: usize = 32;

/// AES's block size, which the padding rounds up to.
const BLOCK: usize = 16;

/// What a decryption can fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptError {
    /// The HMAC does not match: a wrong password, or altered data.
    Hmac,
    /// The HMAC matched but the padding is not PKCS#7.
    Padding,
}

/// The three values derived from a password and a salt.
struct Keys {
    cipher: [u8; 32],
    mac: [u8; 32],
    counter: [u8; 16],
}

fn derive(password: &[u8], salt: &[u8]) -> Keys {
    let mut out = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, &mut out);
    let mut keys = Keys {
        cipher: [0; 32],
        mac: [0; 32],
        counter: [0; 16],
    };
    keys.cipher.copy_from_slice(&out[..32]);
    keys.mac.copy_from_slice(&out[32..64]);
    keys.counter.copy_from_slice(&out[64..]);
    keys
}

fn keystream(keys: &Keys, data: &mut [u8]) {
    let mut cipher = Aes256Ctr::new_from_slices(&keys.cipher, &keys.counter)
        .expect("AES-256 takes a 32-byte key and a 16-byte counter block");
    cipher.apply_keystream(data);
}

fn mac(keys: &Keys) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(&keys.mac).expect("HMAC takes keys of any length")
}

/// Encrypts `plaintext`: returns the HMAC and the ciphertext.
pub fn encrypt(plaintext: &[u8], password: &[u8], salt: &[u8]) -> ([u8; 32], Vec<u8>) {
    let keys = derive(password, salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    data.extend(std::iter::repeat_n(pad as u8, pad));
    keystream(&keys, &mut data);
    let mut hmac = mac(&keys);
    hmac.update(&data);
    let mut tag = [0u8; 32];
    tag.copy_from_slice(&hmac.finalize().into_bytes());
    (tag, data)
}

/// Checks the HMAC, then decrypts and removes the padding.
pub fn decrypt(
    ciphertext: &[u8],
    tag: &[u8],
    password: &[u8],
    salt: &[u8],
) -> Result<Vec<u8>, CryptError> {
    let keys = derive(password, salt);
    let mut hmac = mac(&keys);
    hmac.update(ciphertext);
    hmac.verify_slice(tag).map_err(|_| CryptError::Hmac)?;
    let mut data = ciphertext.to_vec();
    keystream(&keys, &mut data);
    let pad = usize::from(*data.last().ok_or(CryptError::Padding)?);
    if pad == 0 || pad > BLOCK || pad > data.len() {
        return Err(CryptError::Padding);
    }
    if data[data.len() - pad..]
        .iter()
        .any(|&b| usize::from(b) != pad)
    {
        return Err(CryptError::Padding);
    }
    data.truncate(data.len() - pad);
    Ok(data)
}

/// A fresh random salt.
pub fn salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .expect("the system random number generator works");
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let salt = [7u8; 32];
        let (tag, data) = encrypt(b"hello vault", b"pw", &salt);
        assert_eq!(data.len(), 16);
        assert_eq!(
            decrypt(&data, &tag, b"pw", &salt).as_deref(),
            Ok(&b"hello vault"[..])
        );
        assert_eq!(decrypt(&data, &tag, b"other", &salt), Err(CryptError::Hmac));
        let (_, full) = encrypt(&[1u8; 16], b"pw", &salt);
        assert_eq!(full.len(), 32, "a full block gets a whole block of padding");
    }
}
