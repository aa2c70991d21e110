//! Errors of this crate, and GSS-API status codes turned into readable reasons.

use libgssapi::error::Error as GssError;

/// A configuration error: credentials that cannot be acquired, a bad name or pattern.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credentials could not be acquired (no ticket in the cache, an unreadable keytab).
    #[error("Kerberos credentials: {0}")]
    Credentials(String),
    /// A service or principal name GSS-API refused.
    #[error("name {name:?}: {reason}")]
    Name {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A line of an allow list that is not a principal pattern.
    #[error("{source_name}:{line}: {reason}")]
    Pattern {
        /// Where the pattern came from (a file name).
        source_name: String,
        /// The line, counting from 1.
        line: usize,
        /// Why it was refused.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One line for a GSS-API failure: the Kerberos reason (the minor status, "Clock skew too
/// great", "Key version number for principal in key table is incorrect", ...) where there is
/// one, else the GSS-API major status.
pub(crate) fn describe(e: &GssError) -> String {
    let text = e.to_string();
    // libgssapi formats "<major message> (<minor message>)"; MIT's major message for
    // mechanism errors is the uninformative "Unspecified GSS failure.  Minor code may provide
    // more information".
    let text = text.trim();
    if let Some(rest) =
        text.strip_prefix("Unspecified GSS failure.  Minor code may provide more information")
    {
        let rest = rest.trim();
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        if !rest.trim().is_empty() && !rest.contains("Success") {
            return rest.trim().to_string();
        }
    }
    text.trim_end_matches(" (Success)").to_string()
}
