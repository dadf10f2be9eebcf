//! The text of a vault: the envelope Ansible writes and reads.
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256              (or $ANSIBLE_VAULT;1.2;AES256;<vault id>)
//! 6231653063...                          hex, 80 columns a line, trailing newline
//! ```
//!
//! The hex body decodes to three lines, `hex(salt)\nhex(hmac)\nhex(ciphertext)`
//! (a second layer of hex that the format keeps for compatibility). Version
//! 1.2 is written when a vault id other than `default` is given.

use std::fmt::Write as _;

/// The first bytes of every vault.
pub const HEADER: &str = "$ANSIBLE_VAULT";

/// The only cipher the format has.
const CIPHER: &str = "AES256";

/// Line length of the body.
const WIDTH: usize = 80;

/// A parsed vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `1.1` or `1.2`.
    pub version: String,
    /// The label of a 1.2 vault.
    pub vault_id: Option<String>,
    pub salt: Vec<u8>,
    pub hmac: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a text that starts like a vault cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "the header `{0}` is not `$ANSIBLE_VAULT;1.1;AES256` or `$ANSIBLE_VAULT;1.2;AES256;<id>`"
    )]
    Header(String),
    #[error("the cipher `{0}` is not supported (only AES256 exists)")]
    Cipher(String),
    #[error("the body is not hexadecimal text")]
    Hex,
    #[error("the body does not hold a salt, an HMAC and a ciphertext")]
    Parts,
}

/// Whether a text is vault data (it starts with the header).
pub fn is_vault(text: &[u8]) -> bool {
    text.starts_with(HEADER.as_bytes())
}

/// Parses a vault's text. Lines of the body may carry indentation and
/// trailing spaces (inline `!vault |` values do).
pub fn parse(text: &str) -> Result<Envelope, FormatError> {
    let mut lines = text.trim_start().lines();
    let header = lines.next().unwrap_or_default().trim();
    let fields: Vec<&str> = header.split(';').map(str::trim).collect();
    if fields.len() < 3 || fields[0] != HEADER || !matches!(fields[1], "1.1" | "1.2") {
        return Err(FormatError::Header(header.chars().take(60).collect()));
    }
    if fields[2] != CIPHER {
        return Err(FormatError::Cipher(fields[2].to_string()));
    }
    let vault_id = fields
        .get(3)
        .filter(|id| !id.is_empty())
        .map(|id| id.to_string());
    let body: String = lines.map(str::trim).collect();
    let inner = hex::decode(body.as_bytes()).map_err(|_| FormatError::Hex)?;
    let mut parts = inner.splitn(3, |&b| b == b'\n');
    let (Some(salt), Some(hmac), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(FormatError::Parts);
    };
    let decode = |part: &[u8]| hex::decode(part).map_err(|_| FormatError::Hex);
    Ok(Envelope {
        version: fields[1].to_string(),
        vault_id,
        salt: decode(salt)?,
        hmac: decode(hmac)?,
        ciphertext: decode(ciphertext)?,
    })
}

/// Writes a vault's text, as Ansible does: 1.2 with a vault id other than
/// `default`, else 1.1.
pub fn format(vault_id: Option<&str>, salt: &[u8], hmac: &[u8], ciphertext: &[u8]) -> String {
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(hmac),
        hex::encode(ciphertext)
    );
    let body = hex::encode(inner.as_bytes());
    let mut out = match vault_id.filter(|id| *id != "default" && !id.is_empty()) {
        Some(id) => format!("{HEADER};1.2;{CIPHER};{id}\n"),
        None => format!("{HEADER};1.1;{CIPHER}\n"),
    };
    for chunk in body.as_bytes().chunks(WIDTH) {
        // Hex is ASCII, so every chunk is valid UTF-8.
        let _ = writeln!(out, "{}", String::from_utf8_lossy(chunk));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_then_parse() {
        let text = format(Some("prod"), &[1; 32], &[2; 32], &[3; 48]);
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        assert!(text.lines().skip(1).all(|l| l.len() <= 80));
        assert!(text.ends_with('\n'));
        let env = parse(&text).expect("parses");
        assert_eq!(env.vault_id.as_deref(), Some("prod"));
        assert_eq!(env.ciphertext, vec![3; 48]);
        let indented: String = text.lines().map(|l| format!("  {l}  \n")).collect();
        assert_eq!(parse(&indented).expect("indented parses"), env);
        assert!(
            format(Some("default"), &[1], &[2], &[3]).starts_with("$ANSIBLE_VAULT;1.1;AES256\n")
        );
        assert!(matches!(
            parse("$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
            Err(FormatError::Hex)
        ));
    }
}
