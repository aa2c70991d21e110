//! A small certificate authority (rcgen), for those with no PKI: `handfast ca init` and
//! `handfast ca issue`. Keys are ECDSA P-256; lifetimes are short by default, so that
//! rotation is a habit rather than an incident.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::names::SpiffeId;

/// A CA's default lifetime: one year.
pub const DEFAULT_CA_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// A leaf's default lifetime: one day.
pub const DEFAULT_LEAF_LIFETIME: Duration = Duration::from_secs(86_400);
/// How far back `notBefore` is set, so that a peer whose clock runs a little behind does not
/// find a fresh certificate "not yet valid".
const BACKDATE: Duration = Duration::from_secs(300);

/// A CA certificate and its key.
pub struct Authority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// What a leaf certificate may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// clientAuth only.
    Client,
    /// serverAuth only.
    Server,
    /// Both (the default: the same identity may dial and accept).
    Both,
}

/// A leaf certificate to issue.
#[derive(Clone, Debug)]
pub struct Request {
    /// The SPIFFE ID (the single URI name of an X.509-SVID).
    pub spiffe_id: Option<SpiffeId>,
    /// DNS names.
    pub dns_names: Vec<String>,
    /// The subject's common name; defaults to the SPIFFE ID or the first DNS name.
    pub common_name: Option<String>,
    /// How long the certificate is valid from now.
    pub lifetime: Duration,
    /// What it may be used for.
    pub usage: Usage,
    /// The new key's type.
    pub key_type: KeyType,
}

/// The type of a new key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256: the most widely supported.
    #[default]
    EcdsaP256,
    /// Ed25519: the fastest to sign with, and deterministic.
    Ed25519,
}

impl KeyType {
    fn generate(self) -> Result<KeyPair, Error> {
        let alg = match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        };
        KeyPair::generate_for(alg).map_err(rcgen_error)
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "p256" | "ecdsa-p256" => Ok(Self::EcdsaP256),
            "ed25519" => Ok(Self::Ed25519),
            _ => Err(format!("key type {s:?}: expected p256 or ed25519")),
        }
    }
}

/// A certificate and its new private key, in PEM.
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

impl Authority {
    /// A new self-signed CA named `name`, valid for `lifetime`. Its key is returned by
    /// [`key_pem`](Self::key_pem).
    ///
    /// # Errors
    /// When rcgen fails (a name it cannot encode, for instance).
    pub fn init(name: &str, lifetime: Duration) -> Result<Self, Error> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, lifetime)?;
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Reads a CA certificate and its key (PEM).
    ///
    /// # Errors
    /// A file that cannot be read, an unsafe key file, or contents rcgen cannot use.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, Error> {
        let cert_pem =
            std::fs::read_to_string(cert).map_err(|e| Error::file(cert, e.to_string()))?;
        let key_bytes = handfast::key_file::read_private(key)?;
        let key_pem =
            std::str::from_utf8(&key_bytes).map_err(|_| Error::file(key, "not a PEM file"))?;
        let key_pair = KeyPair::from_pem(key_pem)
            .map_err(|e| Error::file(key, format!("no usable private key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key_pair)
            .map_err(|e| Error::file(cert, format!("not a usable CA certificate: {e}")))?;
        Ok(Self { cert_pem, issuer })
    }

    /// The CA certificate, to hand out as the trust bundle.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.issuer.key().serialize_pem())
    }

    /// Issues a leaf certificate with a new key.
    ///
    /// # Errors
    /// No name at all, a DNS name rcgen cannot encode, or an rcgen failure.
    pub fn issue(&self, req: &Request) -> Result<Issued, Error> {
        if req.spiffe_id.is_none() && req.dns_names.is_empty() {
            return Err(Error::Config(
                "a certificate needs a SPIFFE ID or at least one DNS name".into(),
            ));
        }
        let mut params = CertificateParams::default();
        let cn = req
            .common_name
            .clone()
            .or_else(|| req.spiffe_id.as_ref().map(ToString::to_string))
            .or_else(|| req.dns_names.first().cloned())
            .unwrap_or_default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match req.usage {
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Usage::Both => vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ],
        };
        if let Some(id) = &req.spiffe_id {
            params.subject_alt_names.push(SanType::URI(
                id.to_string().try_into().map_err(rcgen_error)?,
            ));
        }
        for dns in &req.dns_names {
            params.subject_alt_names.push(SanType::DnsName(
                dns.as_str().try_into().map_err(rcgen_error)?,
            ));
        }
        validity(&mut params, req.lifetime)?;
        let key = req.key_type.generate()?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

fn validity(params: &mut CertificateParams, lifetime: Duration) -> Result<(), Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Config("the clock is before 1970".into()))?;
    let at = |secs: u64| {
        i64::try_from(secs)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| Error::Config("lifetime out of range".into()))
    };
    params.not_before = at(now.as_secs().saturating_sub(BACKDATE.as_secs()))?;
    params.not_after = at(now.as_secs().saturating_add(lifetime.as_secs()))?;
    Ok(())
}

fn rcgen_error(e: rcgen::Error) -> Error {
    Error::Config(format!("certificate generation: {e}"))
}

/// Parses a lifetime: a number followed by `s`, `m`, `h` or `d` (`90d`, `24h`, `10m`).
///
/// # Errors
/// Anything else, or zero.
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("lifetime {s:?}: expected a number and s, m, h or d (24h, 90d)");
    let unit = s.chars().last().ok_or_else(bad)?;
    let n = &s[..s.len() - unit.len_utf8()];
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = n.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("lifetime {s:?}: must be positive"));
    }
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("lifetime {s:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::CertIdentity;
    use rustls_pki_types::pem::PemObject as _;

    #[test]
    fn issues_svids_and_dns_certificates() {
        let ca = Authority::init("test CA", DEFAULT_CA_LIFETIME).unwrap();
        let issued = ca
            .issue(&Request {
                spiffe_id: Some(SpiffeId::parse("spiffe://example.org/web").unwrap()),
                dns_names: vec![],
                common_name: None,
                lifetime: DEFAULT_LEAF_LIFETIME,
                usage: Usage::Both,
                key_type: KeyType::Ed25519,
            })
            .unwrap();
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let id = CertIdentity::from_der(&der).unwrap();
        assert_eq!(
            id.spiffe_id.unwrap().to_string(),
            "spiffe://example.org/web"
        );
        assert!(
            ca.issue(&Request {
                spiffe_id: None,
                dns_names: vec![],
                common_name: Some("x".into()),
                lifetime: DEFAULT_LEAF_LIFETIME,
                usage: Usage::Both,
                key_type: KeyType::Ed25519,
            })
            .is_err()
        );
    }

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_lifetime("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_lifetime("90d"), Ok(Duration::from_secs(90 * 86_400)));
        for bad in [
            "",
            "h",
            "0h",
            "5",
            "5y",
            "-1d",
            "99999999999999999999d",
            "5µ",
            "µ",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
