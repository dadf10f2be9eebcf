//! What `apt_key` reads from gpg: keys in `--with-colons` listings, the
//! check's output, and key ids as Ansible accepts them.

use serde_json::Value;

use crate::task::TaskError;

/// One primary key as `gpg --with-colons` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key {
    pub fingerprint: String,
    /// The subkeys' fingerprints.
    pub subkeys: Vec<String>,
}

impl Key {
    pub fn matches(&self, id: &str) -> bool {
        std::iter::once(&self.fingerprint)
            .chain(&self.subkeys)
            .any(|f| f.ends_with(id))
    }

    /// The long ids of the key and its subkeys, as `before` lists them.
    pub fn long_ids(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&self.fingerprint)
            .chain(&self.subkeys)
            .map(|f| f[f.len().saturating_sub(16)..].to_string())
    }
}

/// Reads `pub`/`sub` records and the `fpr` record after each.
pub fn parse_keys(lines: &[&str]) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    let mut last = "";
    for line in lines {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first() {
            Some(&"pub") => {
                keys.push(Key::default());
                last = "pub";
            }
            Some(&"sub") => last = "sub",
            Some(&"fpr") => {
                let fpr = fields
                    .get(9)
                    .copied()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if let Some(key) = keys.last_mut() {
                    match last {
                        "pub" => key.fingerprint = fpr,
                        "sub" => key.subkeys.push(fpr),
                        _ => {}
                    }
                }
                last = "";
            }
            _ => {}
        }
    }
    keys.retain(|k| !k.fingerprint.is_empty());
    keys
}

/// What the check's output says.
#[derive(Debug, Default)]
pub struct Facts {
    /// Each keyring considered, with its keys.
    pub rings: Vec<(String, Vec<Key>)>,
    /// The key the task adds, when it was read.
    pub material: Vec<Key>,
    pub armor: String,
}

pub fn parse_facts(stdout: &str) -> Facts {
    let mut facts = Facts::default();
    let mut section = "";
    let mut lines: Vec<&str> = Vec::new();
    let flush = |section: &str, lines: &mut Vec<&str>, facts: &mut Facts| {
        if let Some(path) = section.strip_prefix("ring=") {
            facts.rings.push((path.to_string(), parse_keys(lines)));
        } else if section == "material" {
            facts.material = parse_keys(lines);
        } else if section == "armor" {
            facts.armor = lines.iter().map(|l| format!("{l}\n")).collect();
        }
        lines.clear();
    };
    for line in stdout.lines() {
        if line.starts_with("ring=") || line == "material" || line == "armor" {
            flush(section, &mut lines, &mut facts);
            section = line;
        } else {
            lines.push(line);
        }
    }
    flush(section, &mut lines, &mut facts);
    facts
}

/// The id as Ansible normalizes it: hexadecimal, `0x` dropped, uppercase,
/// 8, 16 or more than 16 digits.
pub fn parse_id(id: &str) -> Result<String, TaskError> {
    let upper = id.trim().to_ascii_uppercase();
    let hex = upper.strip_prefix("0X").unwrap_or(&upper).to_string();
    let ok = hex.chars().all(|c| c.is_ascii_hexdigit()) && (hex.len() == 8 || hex.len() >= 16);
    if !ok {
        return Err(TaskError::failed(format!(
            "Invalid key_id {id:?}: an id is 8, 16 or 40 hexadecimal digits (the key's fingerprint is best)"
        )));
    }
    Ok(hex)
}

/// The long ids of every key of these keyrings, as `before` lists them.
pub fn long_ids(rings: &[(String, Vec<Key>)]) -> Vec<Value> {
    rings
        .iter()
        .flat_map(|(_, keys)| keys.iter().flat_map(Key::long_ids))
        .map(Value::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalized_and_checked() {
        assert_eq!(
            parse_id("0xd8576a8ba88d21e9").expect("an id"),
            "D8576A8BA88D21E9"
        );
        assert!(parse_id("A88D21E9").is_ok());
        assert!(parse_id("123").is_err());
        assert!(parse_id("0123456789").is_err());
        assert!(parse_id("not-hex-not-hex!").is_err());
    }

    #[test]
    fn keys_are_read_from_gpg_colon_listings() {
        let facts = parse_facts(
            "ring=/etc/apt/trusted.gpg.d/a.gpg\n\
             pub:-:255:22:1111222233334444:1700000000:::-:::scSC::::::23::0:\n\
             fpr:::::::::AAAABBBBCCCCDDDDEEEEFFFF1111222233334444:\n\
             uid:-::::1700000000::X::dtrplay test <t@example.com>::::::::::0:\n\
             sub:-:255:18:5555666677778888:1700000000::::::e::::::23:\n\
             fpr:::::::::9999888877776666AAAABBBB5555444433332222:\n\
             ring=/etc/apt/trusted.gpg.d/empty.gpg\n",
        );
        assert_eq!(facts.rings.len(), 2);
        let key = &facts.rings[0].1[0];
        assert!(key.matches("1111222233334444"));
        assert!(key.matches("33332222"), "a subkey's id names its key");
        assert!(!key.matches("ABCDEF01"));
        assert_eq!(
            key.long_ids().collect::<Vec<_>>(),
            ["1111222233334444", "5555444433332222"]
        );
        assert!(facts.rings[1].1.is_empty());
    }
}
