//! Chain verification for both sides: webpki against the trust bundle, with CRLs, for the
//! role's extended key usage. Names are not checked here: the mechanism authorizes the
//! verified leaf's SPIFFE ID, DNS names or subject against its allow list afterwards.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::credentials::TrustBundle;

/// Verifies a peer's chain for one role: every certificate that has an extended key usage
/// extension must allow the role (CAs commonly have none). That the leaf has the extension
/// at all is checked after, with its names (`CertIdentity::from_der`).
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    trust: TrustBundle,
    provider: Arc<CryptoProvider>,
}

impl ChainVerifier {
    pub(crate) fn new(trust: TrustBundle, provider: Arc<CryptoProvider>) -> Self {
        Self { trust, provider }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
        role: &'static str,
    ) -> Result<(), rustls::Error> {
        let eku = if role == "server" {
            "serverAuth"
        } else {
            "clientAuth"
        };
        let cert =
            webpki::EndEntityCert::try_from(end_entity).map_err(|e| chain_error(&e, role, eku))?;
        let crls: Vec<&webpki::CertRevocationList<'_>> =
            self.trust.crls.iter().map(|c| &**c).collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crls).ok().map(|b| {
            b.with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Deny)
                .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
                .build()
        });
        cert.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &self.trust.roots.roots,
            intermediates,
            now,
            usage,
            revocation,
            None,
        )
        .map(|_| ())
        .map_err(|e| chain_error(&e, role, eku))
    }

    fn tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The client's verifier of the server's chain.
#[derive(Debug)]
pub(crate) struct ServerChain(pub(crate) ChainVerifier);

impl ServerCertVerifier for ServerChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify(
                end_entity,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                "server",
            )
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not used".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.schemes()
    }
}

/// The server's verifier of the client's chain. A client certificate is mandatory.
#[derive(Debug)]
pub(crate) struct ClientChain(pub(crate) ChainVerifier);

impl ClientCertVerifier for ClientChain {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No CA names in the CertificateRequest: the client has one certificate.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verify(
                end_entity,
                intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                "client",
            )
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not used".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.schemes()
    }
}

/// Why a chain was refused, in words an operator can act on.
#[derive(Debug)]
pub(crate) struct ChainError(pub(crate) String);

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChainError {}

fn chain_error(e: &webpki::Error, role: &str, eku: &str) -> rustls::Error {
    use webpki::Error as E;
    let why = match e {
        E::CertExpired { time, not_after } => format!(
            "the {role}'s certificate expired at {} (now {})",
            utc(not_after.as_secs()),
            utc(time.as_secs())
        ),
        E::CertNotValidYet { time, not_before } => format!(
            "the {role}'s certificate is not valid before {} (now {})",
            utc(not_before.as_secs()),
            utc(time.as_secs())
        ),
        E::UnknownIssuer => format!(
            "the {role}'s certificate chain does not lead to a CA of the trust bundle (unknown issuer)"
        ),
        E::CaUsedAsEndEntity => {
            format!("the {role} presented a CA certificate (CA:TRUE) as its own certificate")
        }
        E::RequiredEkuNotFoundContext(_) => {
            format!("the {role}'s certificate lacks the {eku} extended key usage")
        }
        E::CertRevoked => format!("the {role}'s certificate is revoked (by a CRL)"),
        E::CrlExpired { time, next_update } => format!(
            "a CRL that covers the {role}'s chain expired at {} (now {}): refresh the CRL file",
            utc(next_update.as_secs()),
            utc(time.as_secs())
        ),
        E::UnknownRevocationStatus => format!(
            "the revocation status of the {role}'s certificate chain is unknown: CRLs are \
             configured, and none covers a certificate of this chain (give a CRL of every CA)"
        ),
        E::MaximumPathDepthExceeded | E::MaximumPathBuildCallsExceeded => {
            format!("the {role}'s certificate chain is too long (at most 6 intermediates)")
        }
        E::InvalidSignatureForPublicKey => {
            format!("a signature in the {role}'s certificate chain does not verify")
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "the {role}'s certificate chain uses a key or signature algorithm that is not \
             supported (ECDSA P-256/P-384, RSA 2048+ with PKCS#1 or PSS, Ed25519 are)"
        ),
        E::PathLenConstraintViolated => {
            format!("the {role}'s chain breaks a CA's path length constraint")
        }
        E::NameConstraintViolation => {
            format!("the {role}'s certificate breaks a CA's name constraints")
        }
        other => format!("the {role}'s certificate chain is invalid: {other:?}"),
    };
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(ChainError(
        why,
    )))))
}

/// Seconds since the UNIX epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_796_000_000), "2026-11-30 00:53:20 UTC");
    }
}
