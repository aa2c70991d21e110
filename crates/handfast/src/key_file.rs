//! The rule every mechanism applies to a private key file before using it: readable by its
//! owner only, and owned by this process's user (as OpenSSH does for identity files).
//!
//! The check takes the metadata of an *open* file (`File::metadata`, an `fstat`), so that a
//! caller that reads the key from the same handle cannot be raced by a file swapped between
//! the check and the read.

use std::path::{Path, PathBuf};

/// A private key file that must not be used as it is. Both variants name the file and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateFileError {
    /// The file is readable (or writable) by the group or others.
    #[error(
        "private key file {path} is readable by group or others (mode {mode:03o}); \
         restrict it with: chmod 600 {path}",
        path = .path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is owned by another user: whoever owns it can replace the key.
    #[error(
        "private key file {path} is owned by user {owner}, not by this process's user {user}; \
         give it to this user with: chown {user} {path}",
        path = .path.display()
    )]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
        /// This process's effective user id.
        user: u32,
    },
}

/// Checks the metadata of an open private key file (see the module documentation).
///
/// # Errors
/// When the group or others have any access, or another user owns the file. On platforms
/// without Unix permissions the check passes.
#[cfg(unix)]
pub fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), PrivateFileError> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PrivateFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(PrivateFileError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            user,
        });
    }
    Ok(())
}

/// Checks the metadata of an open private key file (see the module documentation).
///
/// # Errors
/// Never, on this platform.
#[cfg(not(unix))]
pub fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), PrivateFileError> {
    Ok(())
}

/// Opens a private key file, checks it through the open handle, and reads it whole into
/// memory that is zeroized when dropped.
///
/// # Errors
/// The file cannot be read (the I/O error), or fails [`check_private`].
pub fn read_private(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ReadPrivateError> {
    use std::io::Read as _;
    let io = |source| ReadPrivateError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    check_private(path, &meta)?;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Why [`read_private`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadPrivateError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's permissions or owner are unsafe.
    #[error(transparent)]
    Unsafe(#[from] PrivateFileError),
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn only_owner_only_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, b"secret").unwrap();
        for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = read_private(&path);
            assert_eq!(got.is_ok(), ok, "mode {mode:o}");
            if !ok {
                let err = got.unwrap_err().to_string();
                assert!(err.contains("chmod 600"), "{err}");
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(&read_private(&path).unwrap()[..], b"secret");
        let err = read_private(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, ReadPrivateError::Io { .. }), "{err}");
    }
}
