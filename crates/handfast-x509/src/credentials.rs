//! This side's certificate and key, and the CAs and CRLs it trusts, from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::error::Error;
use crate::names::CertIdentity;

/// A certificate chain (leaf first) and the private key of its leaf.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub(crate) certified: Arc<CertifiedKey>,
    identity: CertIdentity,
    not_after: i64,
}

impl Credentials {
    /// Reads a PEM certificate chain (leaf first, then any intermediates) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// The key file is checked like every private key handfast reads: owned by this user and
    /// readable by nobody else (`chmod 600`).
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key, an unsafe key file, a key
    /// type rustls cannot sign with, or a key that does not match the leaf.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, Error> {
        let chain = load_certs(cert)?;
        let bytes = handfast::key_file::read_private(key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            Error::file(
                key,
                format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        Self::from_der(chain, key_der).map_err(|e| match e {
            Error::Config(reason) => Error::Config(format!(
                "{} and {}: {reason}",
                cert.display(),
                key.display()
            )),
            e => e,
        })
    }

    /// A chain (leaf first) and the leaf's private key, in DER.
    ///
    /// # Errors
    /// An empty chain, a key type rustls cannot sign with, or a key that does not match.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        let leaf = chain
            .first()
            .ok_or_else(|| Error::Config("the certificate chain is empty".into()))?;
        let identity = CertIdentity::from_der(leaf)?;
        let not_after = not_after(leaf)?;
        let provider = crate::provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| Error::Config(format!("the private key cannot sign: {e}")))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| {
            Error::Config(format!(
                "the private key does not belong to the certificate: {e}"
            ))
        })?;
        Ok(Self {
            certified: Arc::new(certified),
            identity,
            not_after,
        })
    }

    /// The names of the leaf certificate.
    pub fn identity(&self) -> &CertIdentity {
        &self.identity
    }

    /// The end of the leaf's validity, in seconds since the UNIX epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}

fn not_after(der: &[u8]) -> Result<i64, Error> {
    use x509_parser::prelude::{FromDer as _, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| Error::Certificate {
        reason: format!("the certificate does not parse: {e}"),
    })?;
    Ok(cert.validity().not_after.timestamp())
}

/// The CAs that vouch for peers, and the CRLs that revoke what they issued.
#[derive(Clone, Debug)]
pub struct TrustBundle {
    pub(crate) roots: Arc<rustls::RootCertStore>,
    pub(crate) crls: Vec<Arc<webpki::CertRevocationList<'static>>>,
}

impl TrustBundle {
    /// Reads a PEM file of CA certificates (a SPIFFE bundle or a PKI's roots).
    ///
    /// # Errors
    /// A file that cannot be read, holds no certificate, or holds one that is not a usable
    /// trust anchor.
    pub fn load(ca: &Path) -> Result<Self, Error> {
        Self::from_der(load_certs(ca)?).map_err(|e| match e {
            Error::Config(reason) => Error::file(ca, reason),
            e => e,
        })
    }

    /// CA certificates in DER.
    ///
    /// # Errors
    /// No certificates, or one that is not a usable trust anchor.
    pub fn from_der(cas: Vec<CertificateDer<'static>>) -> Result<Self, Error> {
        if cas.is_empty() {
            return Err(Error::Config("no CA certificates".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (i, ca) in cas.into_iter().enumerate() {
            roots
                .add(ca)
                .map_err(|e| Error::Config(format!("CA certificate {}: {e}", i + 1)))?;
        }
        Ok(Self {
            roots: Arc::new(roots),
            crls: Vec::new(),
        })
    }

    /// Adds the CRLs of a PEM file. Once any CRL is given, every certificate of a peer's chain
    /// below the trust anchor must be covered by a CRL from its issuer: a certificate whose
    /// status is unknown is refused.
    ///
    /// # Errors
    /// A file that cannot be read, holds no CRL, or holds one that does not parse.
    pub fn with_crl_file(self, crl: &Path) -> Result<Self, Error> {
        let ders = CertificateRevocationListDer::pem_file_iter(crl)
            .map_err(|e| Error::file(crl, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::file(crl, e.to_string()))?;
        if ders.is_empty() {
            return Err(Error::file(crl, "no PEM CRL (-----BEGIN X509 CRL-----)"));
        }
        self.with_crls(ders).map_err(|e| match e {
            Error::Config(reason) => Error::file(crl, reason),
            e => e,
        })
    }

    /// Adds CRLs in DER (see [`with_crl_file`](Self::with_crl_file)).
    ///
    /// # Errors
    /// A CRL that does not parse.
    pub fn with_crls(
        mut self,
        crls: impl IntoIterator<Item = CertificateRevocationListDer<'static>>,
    ) -> Result<Self, Error> {
        for der in crls {
            let crl = webpki::OwnedCertRevocationList::from_der(&der)
                .map_err(|e| Error::Config(format!("a CRL does not parse: {e:?}")))?;
            self.crls.push(Arc::new(crl.into()));
        }
        Ok(self)
    }

    /// How many CA certificates the bundle holds.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Whether the bundle is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::file(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::file(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(Error::file(
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}
