//! X25519 keys and their one-line text formats.
//!
//! Public key line: `handfast-x25519 <base64 of 32 bytes> [comment]`
//! Private key file: comment lines starting with `#`, then
//! `handfast-x25519-private <base64 of 32 bytes> [comment]`.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::KeyError;

/// The tag that starts a public key line.
pub const PUBLIC_KEY_TAG: &str = "handfast-x25519";
/// The tag that starts the key line of a private key file.
pub const PRIVATE_KEY_TAG: &str = "handfast-x25519-private";
const KEY_LEN: usize = 32;

/// An X25519 static private key. Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct PrivateKey {
    secret: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; KEY_LEN],
    comment: String,
}

/// An X25519 public key with a human name (the comment of its line).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    bytes: [u8; KEY_LEN],
    comment: String,
}

impl PrivateKey {
    /// The key whose secret scalar is `seed` (32 random bytes; X25519 clamps them).
    pub fn from_seed(seed: [u8; KEY_LEN]) -> Self {
        Self::from_secret(Zeroizing::new(seed))
    }

    fn from_secret(secret: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let public = x25519_public(&secret);
        Self {
            secret,
            public,
            comment: String::new(),
        }
    }

    /// Sets the comment written into files and used as the default public key comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = sanitize_comment(&comment.into());
        self
    }

    /// The comment of this key.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The public half, named `name` (empty for the key's own comment).
    pub fn public_key(&self, name: &str) -> PublicKey {
        let comment = if name.is_empty() {
            self.comment.clone()
        } else {
            sanitize_comment(name)
        };
        PublicKey {
            bytes: self.public,
            comment,
        }
    }

    /// Reads a private key file, refusing one that the group or others can read.
    ///
    /// # Errors
    /// The file cannot be read, holds a public key, has loose permissions or another owner
    /// (the errors name the file and the fix), or holds no valid key line.
    ///
    /// The file is opened once: its permissions and owner are read from the open handle
    /// (`fstat`), and the key from the same handle, so the file cannot be swapped between the
    /// check and the read. The text is zeroized once parsed.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path).map_err(|e| KeyError::io(path, e))?;
        let meta = file.metadata().map_err(|e| KeyError::io(path, e))?;
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .map_err(|e| KeyError::io(path, e))?;
        let public = |l: &str| l.split_whitespace().next() == Some(PUBLIC_KEY_TAG);
        let private = |l: &str| l.split_whitespace().next() == Some(PRIVATE_KEY_TAG);
        if text.lines().any(public) && !text.lines().any(private) {
            return Err(KeyError::NotPrivate {
                path: path.to_owned(),
            });
        }
        handfast::key_file::check_private(path, &meta)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a private key file; `source` names it in errors.
    ///
    /// # Errors
    /// No key line, more than one, or a malformed one (with its line number).
    pub fn parse(text: &str, source: &str) -> Result<Self, KeyError> {
        let mut found = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason| KeyError::Malformed {
                file: source.to_owned(),
                line: i + 1,
                reason,
            };
            if found.is_some() {
                return Err(malformed("more than one key in a private key file"));
            }
            let (bytes, comment) = parse_key_line(line, PRIVATE_KEY_TAG).map_err(malformed)?;
            found = Some(Self::from_secret(bytes).with_comment(comment));
        }
        found.ok_or_else(|| KeyError::Empty {
            file: source.to_owned(),
        })
    }

    /// The text of a private key file (zeroized when dropped).
    pub fn to_file_string(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::from(
            "# handfast private key. Keep it secret: mode 0600, never copy it off this machine.\n",
        ));
        s.push_str(PRIVATE_KEY_TAG);
        s.push(' ');
        s.push_str(&Zeroizing::new(STANDARD.encode(&self.secret[..])));
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s.push('\n');
        s
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public_key(""))
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// A public key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN], comment: &str) -> Self {
        Self {
            bytes,
            comment: sanitize_comment(comment),
        }
    }

    /// Parses one line: `handfast-x25519 <base64> [comment]`.
    ///
    /// # Errors
    /// A wrong tag, bad base64 or a wrong length; the message says which.
    pub fn parse_line(line: &str) -> Result<Self, &'static str> {
        let (bytes, comment) = parse_key_line(line.trim(), PUBLIC_KEY_TAG)?;
        Ok(Self {
            bytes: *bytes,
            comment: comment.to_owned(),
        })
    }

    /// Reads a file holding exactly one public key line (comments and blank lines allowed).
    ///
    /// # Errors
    /// The file cannot be read or does not hold exactly one valid key line.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::io(path, e))?;
        let set = crate::TrustSet::parse(&text, &path.display().to_string())?;
        let mut keys = set.keys();
        match (keys.next(), keys.next()) {
            (Some(k), None) => Ok(k.clone()),
            (None, _) => Err(KeyError::Empty {
                file: path.display().to_string(),
            }),
            (Some(_), Some(_)) => Err(KeyError::Malformed {
                file: path.display().to_string(),
                line: 0,
                reason: "expected exactly one public key",
            }),
        }
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The comment (the peer's human name).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The same fingerprint [`handfast::PeerIdentity::fingerprint`] shows.
    pub fn fingerprint(&self) -> String {
        handfast::PeerIdentity::new(
            handfast::MechanismId::NOISE_XX_25519,
            self.bytes.to_vec(),
            "",
        )
        .fingerprint()
    }
}

impl fmt::Display for PublicKey {
    /// The one-line format, comment included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_TAG} {}", STANDARD.encode(self.bytes))?;
        if !self.comment.is_empty() {
            write!(f, " {}", self.comment)?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// `tag base64 [comment]` -> (key, comment).
fn parse_key_line<'a>(
    line: &'a str,
    tag: &str,
) -> Result<(Zeroizing<[u8; KEY_LEN]>, &'a str), &'static str> {
    let mut parts = line.splitn(3, char::is_whitespace);
    let first = parts.next().unwrap_or_default();
    if first != tag {
        return Err(if first == PRIVATE_KEY_TAG {
            "this is a private key; a public key line was expected"
        } else if first == PUBLIC_KEY_TAG {
            "this is a public key; a private key line was expected"
        } else {
            "unknown key type (expected handfast-x25519)"
        });
    }
    let b64 = parts.next().ok_or("missing key")?;
    let decoded = Zeroizing::new(
        STANDARD
            .decode(b64)
            .map_err(|_| "key is not valid base64")?,
    );
    let bytes: [u8; KEY_LEN] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| "key is not 32 bytes")?;
    Ok((
        Zeroizing::new(bytes),
        parts.next().unwrap_or_default().trim(),
    ))
}

fn sanitize_comment(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn x25519_public(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    crate::dh::public_key(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_rfc7748() {
        // RFC 7748 section 6.1, Alice's key pair.
        let secret = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(
            PrivateKey::from_seed(secret).public_key("").as_bytes(),
            &public
        );
    }

    #[test]
    fn lines_round_trip() {
        let key = PrivateKey::from_seed([5; 32]).with_comment("db server");
        let line = key.public_key("").to_string();
        assert!(line.starts_with("handfast-x25519 "));
        assert!(line.ends_with(" db server"));
        assert_eq!(PublicKey::parse_line(&line).unwrap(), key.public_key(""));
        let back = PrivateKey::parse(&key.to_file_string(), "k").unwrap();
        assert_eq!(back.public_key(""), key.public_key(""));
    }

    #[test]
    fn malformed_lines_say_why() {
        assert!(
            PublicKey::parse_line("ssh-ed25519 AAAA")
                .unwrap_err()
                .contains("unknown key type")
        );
        assert!(
            PublicKey::parse_line("handfast-x25519")
                .unwrap_err()
                .contains("missing")
        );
        assert!(
            PublicKey::parse_line("handfast-x25519 !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            PublicKey::parse_line("handfast-x25519 AAAA")
                .unwrap_err()
                .contains("32 bytes")
        );
        let private = PrivateKey::from_seed([1; 32]).to_file_string();
        let private_line = private.lines().nth(1).unwrap();
        assert!(
            PublicKey::parse_line(private_line)
                .unwrap_err()
                .contains("private key")
        );
        let err = PrivateKey::parse("# c\n\nhandfast-x25519 AAAA\n", "f.key").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.key line 3: this is a public key; a private key line was expected"
        );
        assert!(matches!(
            PrivateKey::parse("# nothing\n", "f"),
            Err(KeyError::Empty { .. })
        ));
    }

    #[test]
    fn loose_private_key_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.key");
        std::fs::write(&path, PrivateKey::from_seed([1; 32]).to_file_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = PrivateKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("id.key") && err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        PrivateKey::load(&path).unwrap();
    }

    #[test]
    fn a_public_key_file_given_as_the_private_key_says_so() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key.pub");
        let line = PrivateKey::from_seed([1; 32])
            .public_key("server")
            .to_string();
        std::fs::write(&path, format!("{line}\n")).unwrap();
        // Mode 0644, as public key files are: the content is named, not the permissions.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = PrivateKey::load(&path).unwrap_err();
        assert!(matches!(err, KeyError::NotPrivate { .. }), "{err}");
        assert!(err.to_string().contains("the one without .pub"), "{err}");
    }

    #[test]
    fn a_private_key_owned_by_another_user_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.key");
        std::fs::write(&path, PrivateKey::from_seed([1; 32]).to_file_string()).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let me = std::fs::metadata(&path).unwrap().uid();
        // Only root can give a file away; elsewhere the owner check is covered by matching
        // owners loading fine.
        if std::os::unix::fs::chown(&path, Some(me + 4242), None).is_err() {
            PrivateKey::load(&path).unwrap();
            return;
        }
        let err = PrivateKey::load(&path).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::PrivateFile(handfast::key_file::PrivateFileError::Owner { .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("chown"), "{err}");
    }

    fn hex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
