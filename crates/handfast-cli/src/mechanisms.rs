//! Which mechanism a tunnel authenticates with, its options, and building it from its files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use handfast::mechanism::Mechanism;
use handfast_noise::{NoiseMechanism, TrustSet};
use handfast_x509::{AllowList, Credentials, Rule, TrustBundle, X509Mechanism};
use serde::Deserialize;

use crate::keys;

/// How the two ends prove who they are.
#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MechanismKind {
    /// Pinned X25519 keys (Noise XX): `handfast keygen`, allow files.
    #[default]
    Noise,
    /// X.509 certificates from a PKI or SPIFFE (TLS 1.3 handshake): allowed by SPIFFE ID,
    /// DNS name or subject.
    X509,
}

impl std::fmt::Display for MechanismKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Noise => "noise",
            Self::X509 => "x509",
        })
    }
}

impl MechanismKind {
    /// The default largest handshake message: certificate chains need more room than Noise's
    /// 96-byte messages.
    pub(crate) fn default_max_handshake_message(self) -> usize {
        match self {
            Self::Noise => 4096,
            Self::X509 => 16 * 1024,
        }
    }
}

/// The options of `--mechanism x509`, on servers and clients alike.
#[derive(Args, Deserialize, Debug, Clone, Default)]
pub(crate) struct X509Options {
    /// x509: this side's certificate chain, PEM, leaf first (the key is --key).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) cert: Option<PathBuf>,
    /// x509: the CA certificates (PEM bundle) that peers' chains must lead to.
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) ca: Option<PathBuf>,
    /// x509: a PEM file of CRLs (repeatable). With any CRL, every certificate of a peer's chain
    /// must be covered by a CRL of its issuer.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) crl: Vec<PathBuf>,
    /// x509: allow peers whose SPIFFE ID matches, e.g. 'spiffe://example.org/ns/prod/*'
    /// (a final * matches one or more path segments; repeatable).
    #[arg(long, value_name = "PATTERN")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) allow_spiffe: Vec<String>,
    /// x509: allow peers with a matching DNS name, e.g. '*.example.org' (repeatable).
    #[arg(long, value_name = "PATTERN")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) allow_dns: Vec<String>,
    /// x509: allow peers whose subject matches, e.g. 'O=Example, CN=*' (repeatable).
    #[arg(long, value_name = "PATTERN")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) allow_subject: Vec<String>,
}

impl X509Options {
    fn rules(&self) -> anyhow::Result<Vec<Rule>> {
        let mut rules = Vec::new();
        for p in &self.allow_spiffe {
            rules.push(Rule::spiffe(p)?);
        }
        for p in &self.allow_dns {
            rules.push(Rule::dns(p)?);
        }
        for p in &self.allow_subject {
            rules.push(Rule::subject(p)?);
        }
        Ok(rules)
    }

    fn has_rules(&self) -> bool {
        !(self.allow_spiffe.is_empty()
            && self.allow_dns.is_empty()
            && self.allow_subject.is_empty())
    }

    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.ca.is_none() && self.crl.is_empty() && !self.has_rules()
    }

    /// Resolves relative paths against a configuration file's folder.
    pub(crate) fn resolve(&mut self, resolve: &dyn Fn(&mut PathBuf)) {
        for p in self.cert.iter_mut().chain(self.ca.iter_mut()) {
            resolve(p);
        }
        for p in &mut self.crl {
            resolve(p);
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        self.cert
            .iter()
            .chain(self.ca.iter())
            .chain(self.crl.iter())
            .cloned()
            .collect()
    }

    /// The mechanism, from the files as they are now, and a summary for logs: this side's
    /// identity and validity, and what it allows.
    fn build(
        &self,
        key: &Path,
        allow_file: Option<&Path>,
    ) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        let (Some(cert), Some(ca)) = (&self.cert, &self.ca) else {
            bail!("--mechanism x509 needs --cert and --ca");
        };
        let creds = Credentials::load(cert, key)?;
        let mut trust = TrustBundle::load(ca)?;
        for crl in &self.crl {
            trust = trust.with_crl_file(crl)?;
        }
        let mut rules = self.rules()?;
        if let Some(path) = allow_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            rules.extend(
                AllowList::parse(&text, &path.display().to_string())?
                    .rules()
                    .to_vec(),
            );
        }
        let allowed: Vec<String> = rules.iter().map(ToString::to_string).collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = creds.not_after() - i64::try_from(now).unwrap_or(i64::MAX);
        let summary = format!(
            "certificate {} (valid for {}), {} CA(s){}, allowing {}",
            creds.identity().display_name(),
            if left > 0 {
                human_secs(left.unsigned_abs())
            } else {
                "no longer: expired".into()
            },
            trust.len(),
            if self.crl.is_empty() {
                String::new()
            } else {
                format!(", {} CRL file(s)", self.crl.len())
            },
            allowed.join(" "),
        );
        let mechanism = X509Mechanism::new(creds, trust, AllowList::new(rules))?;
        Ok((Arc::new(mechanism), summary))
    }
}

fn human_secs(s: u64) -> String {
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A TOML value that may be one item or a list of them.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(v) => v,
    })
}

/// A server's mechanism: `key` and `allow` for Noise; `key`, `x509.cert`, `x509.ca` and
/// rules (from `allow` or the `allow_*` options) for X.509.
pub(crate) struct ServerAuth<'a> {
    pub(crate) kind: MechanismKind,
    pub(crate) key: &'a Path,
    pub(crate) allow: Option<&'a Path>,
    pub(crate) x509: &'a X509Options,
}

impl ServerAuth<'_> {
    /// Checks which options are present, without reading files.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        match self.kind {
            MechanismKind::Noise => {
                if !self.x509.is_empty() {
                    bail!(
                        "--cert, --ca, --crl and --allow-spiffe/-dns/-subject belong to --mechanism x509"
                    );
                }
                if self.allow.is_none() {
                    bail!("a noise server needs --allow (the allow file of client public keys)");
                }
            }
            MechanismKind::X509 => {
                if self.x509.cert.is_none() || self.x509.ca.is_none() {
                    bail!("--mechanism x509 needs --cert and --ca");
                }
                if self.allow.is_none() && !self.x509.has_rules() {
                    bail!(
                        "an x509 server needs the clients it allows: --allow-spiffe, --allow-dns, \
                         --allow-subject, or --allow FILE of such rules"
                    );
                }
            }
        }
        Ok(())
    }

    /// The mechanism and a summary of what it allows, from the files as they are now.
    pub(crate) fn build(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        self.check()?;
        match self.kind {
            MechanismKind::Noise => {
                let allow_path = self.allow.context("--allow is required")?;
                let key = keys::load_private(self.key)?;
                let allow = keys::load_allow(allow_path)?;
                let summary = format!("{} allowed client key(s)", allow.len());
                Ok((Arc::new(NoiseMechanism::new(key, allow)), summary))
            }
            MechanismKind::X509 => self.x509.build(self.key, self.allow),
        }
    }

    /// Every file the mechanism reads: watched for changes.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.key.to_owned()];
        files.extend(self.allow.map(Path::to_owned));
        files.extend(self.x509.files());
        files
    }
}

/// A client's mechanism: `key` and `server_key` for Noise; `key`, `x509.cert`, `x509.ca` and
/// the server's allowed names for X.509.
pub(crate) struct ClientAuth<'a> {
    pub(crate) kind: MechanismKind,
    pub(crate) key: &'a Path,
    pub(crate) server_key: Option<&'a Path>,
    pub(crate) x509: &'a X509Options,
}

impl ClientAuth<'_> {
    /// Checks which options are present, without reading files.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        match self.kind {
            MechanismKind::Noise => {
                if !self.x509.is_empty() {
                    bail!(
                        "--cert, --ca, --crl and --allow-spiffe/-dns/-subject belong to --mechanism x509"
                    );
                }
                if self.server_key.is_none() {
                    bail!("a noise client needs --server-key (the server's public key file)");
                }
            }
            MechanismKind::X509 => {
                if self.server_key.is_some() {
                    bail!("--server-key belongs to --mechanism noise");
                }
                if self.x509.cert.is_none() || self.x509.ca.is_none() {
                    bail!("--mechanism x509 needs --cert and --ca");
                }
                if !self.x509.has_rules() {
                    bail!(
                        "an x509 client needs the server's allowed name: --allow-spiffe, \
                         --allow-dns or --allow-subject"
                    );
                }
            }
        }
        Ok(())
    }

    /// The mechanism and a summary of the server it accepts, from the files as they are now.
    pub(crate) fn build(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        self.check()?;
        match self.kind {
            MechanismKind::Noise => {
                let server_key = self.server_key.context("--server-key is required")?;
                let key = keys::load_private(self.key)?;
                let server = keys::load_public(server_key)?;
                let summary = format!("pinned server key {}", server.fingerprint());
                Ok((
                    Arc::new(NoiseMechanism::new(key, TrustSet::from([server]))),
                    summary,
                ))
            }
            MechanismKind::X509 => self.x509.build(self.key, None),
        }
    }

    /// Every file the mechanism reads: watched for changes.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.key.to_owned()];
        files.extend(self.server_key.map(Path::to_owned));
        files.extend(self.x509.files());
        files
    }
}
