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
    /// Kerberos tickets from an MIT realm or Active Directory (system GSS-API): a keytab on
    /// servers, kinit or a client keytab on clients; allowed by principal. Needs a handfast
    /// built with `--features kerberos`.
    Kerberos,
}

impl std::fmt::Display for MechanismKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Noise => "noise",
            Self::X509 => "x509",
            Self::Kerberos => "kerberos",
        })
    }
}

impl MechanismKind {
    /// The default largest handshake message: certificate chains need more room than Noise's
    /// 96-byte messages.
    pub(crate) fn default_max_handshake_message(self) -> usize {
        match self {
            Self::Noise => 4096,
            // Certificate chains, and tickets that carry a PAC (Active Directory).
            Self::X509 | Self::Kerberos => 16 * 1024,
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

/// The options of `--mechanism kerberos`.
#[derive(Args, Deserialize, Debug, Clone, Default)]
pub(crate) struct KerberosOptions {
    /// kerberos (server): the keytab holding the service's keys (default: KRB5_KTNAME, else
    /// /etc/krb5.keytab).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) keytab: Option<PathBuf>,
    /// kerberos (server): a file of allowed principals and patterns, one per line
    /// (alice@EXAMPLE.COM, *@EXAMPLE.COM, HTTP/*@EXAMPLE.COM).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) allow_principals: Option<PathBuf>,
    /// kerberos (server): allow a principal or pattern (repeatable).
    #[arg(long, value_name = "PATTERN")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) allow_principal: Vec<String>,
    /// kerberos (client): the service to authenticate to, as service@host (host@db.example.com)
    /// or as a principal (host/db.example.com@EXAMPLE.COM).
    #[arg(long, value_name = "NAME")]
    #[serde(default)]
    pub(crate) service: Option<String>,
    /// kerberos (client): the credential cache holding kinit's ticket (default: KRB5CCNAME).
    #[arg(long, value_name = "NAME")]
    #[serde(default)]
    pub(crate) ccache: Option<String>,
    /// kerberos (client): a client keytab to obtain tickets from, instead of kinit.
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) client_keytab: Option<PathBuf>,
}

impl KerberosOptions {
    fn is_empty(&self) -> bool {
        self.keytab.is_none()
            && self.allow_principals.is_none()
            && self.allow_principal.is_empty()
            && self.service.is_none()
            && self.ccache.is_none()
            && self.client_keytab.is_none()
    }

    fn server_only(&self) -> bool {
        self.keytab.is_some() || self.allow_principals.is_some() || !self.allow_principal.is_empty()
    }

    fn client_only(&self) -> bool {
        self.service.is_some() || self.ccache.is_some() || self.client_keytab.is_some()
    }

    /// Resolves relative paths against a configuration file's folder.
    pub(crate) fn resolve(&mut self, resolve: &dyn Fn(&mut PathBuf)) {
        for p in [
            &mut self.keytab,
            &mut self.allow_principals,
            &mut self.client_keytab,
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        [&self.keytab, &self.allow_principals, &self.client_keytab]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    #[cfg(feature = "kerberos")]
    fn build_server(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        use handfast_krb5::{AllowList, KerberosMechanism, Keytab, Rule};
        let mut rules = Vec::new();
        for p in &self.allow_principal {
            rules.push(Rule::parse(p).map_err(anyhow::Error::msg)?);
        }
        if let Some(path) = &self.allow_principals {
            rules.extend(AllowList::load(path)?.rules().iter().cloned());
        }
        let summary_rules: Vec<String> = rules.iter().map(ToString::to_string).collect();
        let keytab = self.keytab.clone().map_or(Keytab::Default, Keytab::File);
        let m = KerberosMechanism::server(&keytab, AllowList::new(rules))?;
        let summary = format!("{}, allowing {}", m.local(), summary_rules.join(" "));
        Ok((Arc::new(m), summary))
    }

    #[cfg(feature = "kerberos")]
    fn build_client(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        use handfast_krb5::{ClientCredentials, KerberosMechanism, Service};
        let service = self.service.as_deref().context("--service is required")?;
        let credentials = match (&self.ccache, &self.client_keytab) {
            (Some(_), Some(_)) => bail!("--ccache and --client-keytab exclude each other"),
            (Some(c), None) => ClientCredentials::Cache(c.clone()),
            (None, Some(k)) => ClientCredentials::Keytab(k.clone()),
            (None, None) => ClientCredentials::Default,
        };
        let m = KerberosMechanism::client(Service::parse(service)?, &credentials)?;
        let summary = format!("as {} for the service {service}", m.local());
        Ok((Arc::new(m), summary))
    }

    #[cfg(not(feature = "kerberos"))]
    fn build_server(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        bail!(NO_KERBEROS)
    }

    #[cfg(not(feature = "kerberos"))]
    fn build_client(&self) -> anyhow::Result<(Arc<dyn Mechanism>, String)> {
        bail!(NO_KERBEROS)
    }
}

#[cfg(not(feature = "kerberos"))]
const NO_KERBEROS: &str = "this handfast was built without Kerberos: build it with \
     `cargo build --release -p handfast-cli --features kerberos` (needs libkrb5-dev, \
     libclang-dev and pkg-config)";

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

/// Refuses the options of a mechanism other than `kind`, on servers and clients alike.
fn no_foreign_options(
    kind: MechanismKind,
    x509: &X509Options,
    kerberos: &KerberosOptions,
) -> anyhow::Result<()> {
    if kind != MechanismKind::Kerberos && !kerberos.is_empty() {
        bail!(
            "--keytab, --allow-principals, --allow-principal, --service, --ccache and \
             --client-keytab belong to --mechanism kerberos"
        );
    }
    if kind != MechanismKind::X509 && !x509.is_empty() {
        bail!("--cert, --ca, --crl and --allow-spiffe/-dns/-subject belong to --mechanism x509");
    }
    Ok(())
}

/// A server's mechanism: `key` and `allow` for Noise; `key`, `x509.cert`, `x509.ca` and
/// rules (from `allow` or the `allow_*` options) for X.509; a keytab and principals for
/// Kerberos.
pub(crate) struct ServerAuth<'a> {
    pub(crate) kind: MechanismKind,
    pub(crate) key: Option<&'a Path>,
    pub(crate) allow: Option<&'a Path>,
    pub(crate) x509: &'a X509Options,
    pub(crate) kerberos: &'a KerberosOptions,
}

impl ServerAuth<'_> {
    /// Checks which options are present, without reading files.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        no_foreign_options(self.kind, self.x509, self.kerberos)?;
        match self.kind {
            MechanismKind::Noise => {
                if self.key.is_none() {
                    bail!("a noise server needs --key (its private key file)");
                }
                if self.allow.is_none() {
                    bail!("a noise server needs --allow (the allow file of client public keys)");
                }
            }
            MechanismKind::X509 => {
                if self.key.is_none() || self.x509.cert.is_none() || self.x509.ca.is_none() {
                    bail!("--mechanism x509 needs --cert, --key and --ca");
                }
                if self.allow.is_none() && !self.x509.has_rules() {
                    bail!(
                        "an x509 server needs the clients it allows: --allow-spiffe, --allow-dns, \
                         --allow-subject, or --allow FILE of such rules"
                    );
                }
            }
            MechanismKind::Kerberos => {
                if self.key.is_some() || self.allow.is_some() {
                    bail!(
                        "a kerberos server takes --keytab and --allow-principals (not --key or \
                         --allow)"
                    );
                }
                if self.kerberos.client_only() {
                    bail!("--service, --ccache and --client-keytab are for kerberos clients");
                }
                if self.kerberos.allow_principals.is_none()
                    && self.kerberos.allow_principal.is_empty()
                {
                    bail!(
                        "a kerberos server needs the principals it allows: --allow-principals \
                         FILE or --allow-principal PATTERN"
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
                let key = keys::load_private(self.key.context("--key is required")?)?;
                let allow = keys::load_allow(allow_path)?;
                let summary = format!("{} allowed client key(s)", allow.len());
                Ok((Arc::new(NoiseMechanism::new(key, allow)), summary))
            }
            MechanismKind::X509 => self
                .x509
                .build(self.key.context("--key is required")?, self.allow),
            MechanismKind::Kerberos => self.kerberos.build_server(),
        }
    }

    /// Every file the mechanism reads: watched for changes.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.key.map(Path::to_owned).into_iter().collect();
        files.extend(self.allow.map(Path::to_owned));
        files.extend(self.x509.files());
        files.extend(self.kerberos.files());
        files
    }
}

/// A client's mechanism: `key` and `server_key` for Noise; `key`, `x509.cert`, `x509.ca` and
/// the server's allowed names for X.509; the service and credentials for Kerberos.
pub(crate) struct ClientAuth<'a> {
    pub(crate) kind: MechanismKind,
    pub(crate) key: Option<&'a Path>,
    pub(crate) server_key: Option<&'a Path>,
    pub(crate) x509: &'a X509Options,
    pub(crate) kerberos: &'a KerberosOptions,
}

impl ClientAuth<'_> {
    /// Checks which options are present, without reading files.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        no_foreign_options(self.kind, self.x509, self.kerberos)?;
        if self.kind != MechanismKind::Kerberos && self.key.is_none() {
            bail!("this client's mechanism needs --key (its private key file)");
        }
        match self.kind {
            MechanismKind::Kerberos => {
                if self.key.is_some() || self.server_key.is_some() {
                    bail!("a kerberos client takes --service (not --key or --server-key)");
                }
                if self.kerberos.server_only() {
                    bail!("--keytab and --allow-principal(s) are for kerberos servers");
                }
                if self.kerberos.service.is_none() {
                    bail!(
                        "a kerberos client needs --service: the service to authenticate to, as \
                         service@host or service/host@REALM"
                    );
                }
                if self.kerberos.ccache.is_some() && self.kerberos.client_keytab.is_some() {
                    bail!("--ccache and --client-keytab exclude each other");
                }
            }
            MechanismKind::Noise => {
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
                let key = keys::load_private(self.key.context("--key is required")?)?;
                let server = keys::load_public(server_key)?;
                let summary = format!("pinned server key {}", server.fingerprint());
                Ok((
                    Arc::new(NoiseMechanism::new(key, TrustSet::from([server]))),
                    summary,
                ))
            }
            MechanismKind::X509 => self
                .x509
                .build(self.key.context("--key is required")?, None),
            MechanismKind::Kerberos => self.kerberos.build_client(),
        }
    }

    /// Every file the mechanism reads: watched for changes.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.key.map(Path::to_owned).into_iter().collect();
        files.extend(self.server_key.map(Path::to_owned));
        files.extend(self.x509.files());
        files.extend(self.kerberos.files());
        files
    }
}
