//! The set of public keys this side accepts as peers (an allow file, or pinned server keys).

use std::collections::HashMap;
use std::path::Path;

use crate::error::KeyError;
use crate::key::PublicKey;

/// Trusted peer keys, each with a human name.
///
/// Text format: one public key line per key (`handfast-x25519 <base64> [name]`); blank lines
/// and lines starting with `#` are ignored.
#[derive(Clone, Debug, Default)]
pub struct TrustSet {
    keys: HashMap<[u8; 32], PublicKey>,
}

impl TrustSet {
    /// An empty set: trusts nobody.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; a key already present keeps its first name.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.entry(*key.as_bytes()).or_insert(key);
    }

    /// Parses the text of an allow file; `source` names it in errors.
    ///
    /// # Errors
    /// The first malformed line, with its number.
    pub fn parse(text: &str, source: &str) -> Result<Self, KeyError> {
        let mut set = Self::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = PublicKey::parse_line(line).map_err(|reason| KeyError::Malformed {
                file: source.to_owned(),
                line: i + 1,
                reason,
            })?;
            set.insert(key);
        }
        Ok(set)
    }

    /// Reads an allow file.
    ///
    /// # Errors
    /// The file cannot be read or has a malformed line.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The trusted key with these bytes.
    pub fn get(&self, key: &[u8]) -> Option<&PublicKey> {
        let key: &[u8; 32] = key.try_into().ok()?;
        self.keys.get(key)
    }

    /// All trusted keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set trusts nobody.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<const N: usize> From<[PublicKey; N]> for TrustSet {
    fn from(keys: [PublicKey; N]) -> Self {
        keys.into_iter().collect()
    }
}

impl FromIterator<PublicKey> for TrustSet {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        let mut set = Self::new();
        for k in iter {
            set.insert(k);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateKey;

    #[test]
    fn allow_file_with_comments_and_blank_lines() {
        let a = PrivateKey::from_seed([1; 32]).public_key("alice");
        let b = PrivateKey::from_seed([2; 32]).public_key("bob laptop");
        let text = format!("# clients\n\n{a}\n   {b}  \n# end\n");
        let set = TrustSet::parse(&text, "allow").unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(a.as_bytes()).unwrap().comment(), "alice");
        assert_eq!(set.get(b.as_bytes()).unwrap().comment(), "bob laptop");
        assert!(set.get(&[9; 32]).is_none());
        assert!(set.get(&[9; 31]).is_none());
    }

    #[test]
    fn malformed_line_is_reported_with_its_number() {
        let a = PrivateKey::from_seed([1; 32]).public_key("alice");
        let text = format!("{a}\n# ok\nhandfast-x25519 n!pe\n");
        let err = TrustSet::parse(&text, "clients.allow")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "clients.allow line 3: key is not valid base64");
    }
}
