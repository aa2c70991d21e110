//! Errors from loading credentials, trust and rules.

/// Credentials, a trust bundle, a CRL or a rule could not be used. Every variant says which
/// file or value, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or holds nothing usable.
    #[error("{file}: {reason}")]
    File {
        /// The file (or file and line).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A private key file's permissions or owner are unsafe, or it cannot be read.
    #[error(transparent)]
    PrivateFile(#[from] handfast::key_file::ReadPrivateError),
    /// A certificate is unusable for this mechanism.
    #[error("certificate: {reason}")]
    Certificate {
        /// What is wrong.
        reason: String,
    },
    /// An allow rule is malformed.
    #[error("allow rule {rule:?}: {reason}")]
    Rule {
        /// The rule as given.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// The pieces do not fit together (a key that does not match its certificate, no allow
    /// rules, an empty trust bundle).
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub(crate) fn file(file: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::File {
            file: file.display().to_string(),
            reason: reason.into(),
        }
    }
}
