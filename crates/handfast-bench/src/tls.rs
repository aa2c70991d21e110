//! rustls, as a user would pick it instead: TLS 1.3, AES-256-GCM, X25519, ECDSA P-256
//! certificates on both sides (client certificates required), through rustls' buffered API
//! in memory.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::aws_lc_rs as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    /// The same certificates and keys: (CA, server, client), for the x509 mechanism.
    ders: Ders,
}

struct Ders {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

fn configs() -> anyhow::Result<&'static Configs> {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    if let Some(c) = CONFIGS.get() {
        return Ok(c);
    }
    let built = build()?;
    Ok(CONFIGS.get_or_init(|| built))
}

fn build() -> anyhow::Result<Configs> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)?;
    let leaf = |name: &str| -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &ca)?;
        Ok((
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    };
    let (server_cert, server_key) = leaf("server.test")?;
    let (client_cert, client_key) = leaf("client.test")?;
    let ders = Ders {
        ca: ca.der().clone(),
        server: (server_cert.clone(), server_key.clone_key()),
        client: (client_cert.clone(), client_key.clone_key()),
    };
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let roots = Arc::new(roots);

    let mut p = provider::default_provider();
    p.cipher_suites = vec![provider::cipher_suite::TLS13_AES_256_GCM_SHA384];
    p.kx_groups = vec![provider::kx_group::X25519];
    let p = Arc::new(p);

    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), p.clone()).build()?;
    let mut server = ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert], server_key)?;
    // No session tickets: each handshake is a full one, and rustls does less work per handshake.
    server.send_tls13_tickets = 0;
    let client = ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![client_cert], client_key)?;
    Ok(Configs {
        client: Arc::new(client),
        server: Arc::new(server),
        ders,
    })
}

/// handfast-x509 mechanisms (client, server) on the certificates rustls uses here, each
/// allowing the other by DNS name.
#[allow(clippy::type_complexity)]
pub(crate) fn x509_mechanisms() -> anyhow::Result<(
    Arc<dyn handfast::mechanism::Mechanism>,
    Arc<dyn handfast::mechanism::Mechanism>,
)> {
    use handfast_x509::{AllowList, Credentials, Rule, TrustBundle, X509Mechanism};
    let d = &configs()?.ders;
    let trust = TrustBundle::from_der(vec![d.ca.clone()])?;
    let side = |(cert, key): &(CertificateDer<'static>, PrivateKeyDer<'static>), peer: &str| {
        let creds = Credentials::from_der(vec![cert.clone()], key.clone_key())?;
        let allow = AllowList::new([Rule::dns(peer)?]);
        anyhow::Ok(Arc::new(X509Mechanism::new(creds, trust.clone(), allow)?))
    };
    Ok((
        side(&d.client, "server.test")?,
        side(&d.server, "client.test")?,
    ))
}

fn connect() -> anyhow::Result<(ClientConnection, ServerConnection)> {
    let c = configs()?;
    let name = ServerName::try_from("server.test")?;
    let mut client = ClientConnection::new(c.client.clone(), name)?;
    let mut server = ServerConnection::new(c.server.clone())?;
    let mut wire = Vec::new();
    while client.is_handshaking() || server.is_handshaking() {
        transfer(&mut client, &mut server, &mut wire)?;
        transfer(&mut server, &mut client, &mut wire)?;
    }
    Ok((client, server))
}

/// Moves every pending TLS byte from `from` to `to` and processes it.
fn transfer(
    from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
    to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
    wire: &mut Vec<u8>,
) -> anyhow::Result<()> {
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire)?;
    }
    let mut rest = &wire[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest)?;
        to.process_new_packets().context("rustls")?;
    }
    Ok(())
}

/// Messages of `size` bytes per second, client to server, encrypted and decrypted.
pub(crate) fn rate(size: usize, time: Duration) -> anyhow::Result<f64> {
    let (mut client, mut server) = connect()?;
    client.set_buffer_limit(None);
    server.set_buffer_limit(None);
    let msg = vec![0x42u8; size];
    let mut out = vec![0u8; size];
    let mut wire = Vec::with_capacity(size + 1024);
    crate::per_second(time, || {
        let mut sent = 0;
        let mut got = 0;
        while got < size {
            if sent < size {
                // One TLS record's worth at a time, as a streaming sender would write.
                let end = (sent + 16 * 1024).min(size);
                sent += client.writer().write(&msg[sent..end])?;
            }
            transfer(&mut client, &mut server, &mut wire)?;
            loop {
                match server.reader().read(&mut out[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
                if got == size {
                    break;
                }
            }
        }
        black_box(&out);
        Ok(())
    })
}

/// Complete mutual handshakes per second (both sides, one thread).
pub(crate) fn handshakes(time: Duration) -> f64 {
    crate::per_second(time, || {
        black_box(connect()?);
        Ok(())
    })
    .unwrap_or(0.0)
}
