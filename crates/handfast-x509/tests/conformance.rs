//! The conformance kit against the X.509 mechanism, on certificates made by its own CA.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use handfast::mechanism::Mechanism;
use handfast_conformance::Fixture;
use handfast_x509::ca::{Authority, KeyType, Request, Usage};
use handfast_x509::{AllowList, Credentials, Rule, SpiffeId, TrustBundle, X509Mechanism};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// "client" and "server" hold (Ed25519) SVIDs of one trust domain's CA and allow each other; the
/// strangers hold SVIDs with the same names from another CA.
struct X509;

struct Mechanisms {
    client: Arc<dyn Mechanism>,
    server: Arc<dyn Mechanism>,
    stranger_client: Arc<dyn Mechanism>,
    stranger_server: Arc<dyn Mechanism>,
}

fn credentials(ca: &Authority, id: &str) -> Credentials {
    let issued = ca
        .issue(&Request {
            spiffe_id: Some(SpiffeId::parse(id).unwrap()),
            dns_names: vec![],
            common_name: None,
            lifetime: handfast_x509::ca::DEFAULT_LEAF_LIFETIME,
            usage: Usage::Both,
            // Deterministic signatures: the kit replays handshakes byte for byte.
            key_type: KeyType::Ed25519,
        })
        .unwrap();
    Credentials::from_der(
        vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn bundle(ca: &Authority) -> TrustBundle {
    TrustBundle::from_der(vec![
        CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap(),
    ])
    .unwrap()
}

fn mechanism(creds: Credentials, trust: &TrustBundle, allow: &str) -> Arc<dyn Mechanism> {
    Arc::new(
        X509Mechanism::new(
            creds,
            trust.clone(),
            AllowList::new([Rule::spiffe(allow).unwrap()]),
        )
        .unwrap(),
    )
}

fn mechanisms() -> &'static Mechanisms {
    static M: OnceLock<Mechanisms> = OnceLock::new();
    M.get_or_init(|| {
        let ca = Authority::init("example.org CA", handfast_x509::ca::DEFAULT_CA_LIFETIME).unwrap();
        let other = Authority::init("other CA", handfast_x509::ca::DEFAULT_CA_LIFETIME).unwrap();
        let trust = bundle(&ca);
        let (server_id, client_id) = ("spiffe://example.org/server", "spiffe://example.org/client");
        Mechanisms {
            client: mechanism(credentials(&ca, client_id), &trust, server_id),
            server: mechanism(credentials(&ca, server_id), &trust, client_id),
            stranger_client: mechanism(credentials(&other, client_id), &trust, server_id),
            stranger_server: mechanism(credentials(&other, server_id), &trust, client_id),
        }
    })
}

impl Fixture for X509 {
    fn pair(&self) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
        let m = mechanisms();
        (m.client.clone(), m.server.clone())
    }

    fn untrusted_client(&self) -> Arc<dyn Mechanism> {
        mechanisms().stranger_client.clone()
    }

    fn untrusted_server(&self) -> Arc<dyn Mechanism> {
        mechanisms().stranger_server.clone()
    }

    fn names(&self) -> (String, String) {
        (
            "spiffe://example.org/server".into(),
            "spiffe://example.org/client".into(),
        )
    }
}

handfast_conformance::suite!(X509);
