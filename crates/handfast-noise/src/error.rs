//! Errors from reading keys and trust files.

use std::path::{Path, PathBuf};

/// A key or trust file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A private key file's permissions or owner are unsafe.
    #[error(transparent)]
    PrivateFile(#[from] handfast::key_file::PrivateFileError),
    /// A public key file was given where a private key file belongs.
    #[error(
        "{path} holds a public key (a handfast-x25519 line); this option takes the private key \
         file, the one without .pub, which starts with handfast-x25519-private",
        path = .path.display()
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
    },
    /// A line is not a valid key line.
    #[error("{file} line {line}: {reason}")]
    Malformed {
        /// The file (or other source) name.
        file: String,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// No key line was found.
    #[error("{file}: no key found")]
    Empty {
        /// The file (or other source) name.
        file: String,
    },
}

impl KeyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
