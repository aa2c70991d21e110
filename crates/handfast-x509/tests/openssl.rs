//! The mechanism against certificates made by the `openssl` command-line tool
//! (`tests/pki/make.sh`): every supported key type, chains through an intermediate, and every
//! kind of certificate that must be refused, each with the error an operator would read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use handfast::{
    ClientConfig, Error, PolicyRejected, ProtectionLevel, SecurityContext, ServerConfig,
};
use handfast_conformance::pair::handshake;
use handfast_x509::{AllowList, Credentials, Rule, TrustBundle, X509Mechanism};

/// The test PKI, made once per test binary.
fn pki() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pki");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pki/make.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("bash and openssl are needed to make the test PKI");
        assert!(status.success(), "{} failed", script.display());
        (dir, out)
    })
    .1
}

fn file(name: &str) -> PathBuf {
    pki().join(name)
}

fn creds(cert: &str, key: &str) -> Credentials {
    Credentials::load(&file(cert), &file(key)).unwrap_or_else(|e| panic!("{cert}: {e}"))
}

fn trust(crl: Option<&str>) -> TrustBundle {
    let t = TrustBundle::load(&file("bundle.pem")).unwrap();
    match crl {
        Some(c) => t.with_crl_file(&file(c)).unwrap(),
        None => t,
    }
}

fn allow(rules: &[&str]) -> AllowList {
    AllowList::new(rules.iter().map(|r| Rule::parse(r).unwrap()))
}

/// The server of the test PKI, allowing `rules`.
fn server(rules: &[&str], crl: Option<&str>) -> ServerConfig {
    let m =
        X509Mechanism::new(creds("server.pem", "server.key"), trust(crl), allow(rules)).unwrap();
    ServerConfig::new(Arc::new(m)).with_min_level(ProtectionLevel::Integrity)
}

/// A client with the given certificate (`NAME.pem` or `NAME.chain.pem`, and `NAME.key`),
/// allowing the server by SPIFFE ID.
fn client(name: &str) -> ClientConfig {
    client_allowing(name, &["spiffe://example.org/server"])
}

fn client_allowing(name: &str, rules: &[&str]) -> ClientConfig {
    let chain = if file(&format!("{name}.chain.pem")).exists() {
        format!("{name}.chain.pem")
    } else {
        format!("{name}.pem")
    };
    let m = X509Mechanism::new(
        creds(&chain, &format!("{name}.key")),
        trust(None),
        allow(rules),
    )
    .unwrap();
    ClientConfig::new(Arc::new(m))
}

fn established(c: ClientConfig, s: ServerConfig) -> (SecurityContext, SecurityContext) {
    handshake(c, s).both()
}

/// The reason the server refused the client: a peer-not-trusted rejection, in words. (The
/// client has sent its last flight by then; it learns of the refusal from the alert.)
fn server_refusal(c: ClientConfig, s: ServerConfig) -> String {
    let out = handshake(c, s);
    match out.server {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => why,
        other => panic!("expected a trust failure, got {:?}", other.map(|_| ())),
    }
}

fn client_refusal(c: ClientConfig, s: ServerConfig) -> String {
    let out = handshake(c, s);
    assert!(out.server.is_err(), "the server must not complete either");
    match out.client {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => why,
        other => panic!("expected a trust failure, got {:?}", other.map(|_| ())),
    }
}

const CLIENT_ID: &str = "spiffe://example.org/client";

#[test]
fn every_key_type_and_chain_authenticates_both_ways() {
    for name in [
        "client-p256",
        "client-p384", // through the P-384 intermediate
        "client-ed25519",
        "client-rsa2048",     // signed by the RSA root with PKCS#1 v1.5
        "client-rsa3072-pss", // signed with RSA-PSS
    ] {
        for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
            let (mut c, mut s) =
                established(client(name).with_level(level), server(&[CLIENT_ID], None));
            assert_eq!(c.peer().name(), "spiffe://example.org/server", "{name}");
            assert_eq!(s.peer().name(), CLIENT_ID, "{name}");
            assert!(s.peer().fingerprint().starts_with("SHA256:"));
            assert_eq!(c.level(), level);
            let r = c.seal(level, b"ping").unwrap();
            let (got, msg) = s.open(&r).unwrap().unwrap();
            assert_eq!((got, &msg[..]), (level, &b"ping"[..]), "{name}");
        }
    }
}

#[test]
fn a_key_restricted_to_rsa_pss_is_refused_clearly() {
    // webpki does not support id-RSASSA-PSS public keys: loading or the handshake must say so.
    let chain = file("client-pss-key.pem");
    match Credentials::load(&chain, &file("client-pss-key.key")) {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("cannot sign") || e.contains("key"), "{e}");
        }
        Ok(_) => {
            let why = server_refusal(client("client-pss-key"), server(&[CLIENT_ID], None));
            assert!(why.contains("not supported"), "{why}");
        }
    }
}

#[test]
fn dns_names_and_subjects_are_allowed_by_pattern() {
    let s = server(&["dns:*.example.org"], None);
    let (_, s) = established(client("client-dns"), s);
    assert_eq!(s.peer().name(), "DNS:ops.example.org");
    let s = server(&["subject:O=handfast test, CN=client-p*"], None);
    established(client("client-p256"), s);
    // Subject values are escaped as RFC 4514 does: an OU of "ops, CN=x" cannot pass for an OU
    // of "ops" followed by a CN, and `*` does not reach across attributes.
    let why = server_refusal(
        client("tricky-subject"),
        server(&["subject:O=Tenants, OU=ops, CN=*"], None),
    );
    assert!(
        why.contains(r#"subject "O=Tenants, OU=ops\\, CN=x, CN=t1""#),
        "{why}"
    );
    server_refusal(
        client("tricky-subject"),
        server(&["subject:O=Tenants, OU=*"], None),
    );
    let (_, s) = established(
        client("tricky-subject"),
        server(&[r"subject:O=Tenants, OU=ops\, CN=x, CN=*"], None),
    );
    assert_eq!(s.peer().name(), "DNS:ops.example.org");
    // The client may pin the server by DNS name instead of SPIFFE ID.
    established(
        client_allowing("client-p256", &["dns:db.example.org"]),
        server(&[CLIENT_ID], None),
    );
}

#[test]
fn refusals_name_their_reason() {
    let cases: &[(&str, &str)] = &[
        ("expired", "expired at 2021-01-01 00:00:00 UTC"),
        ("not-yet-valid", "not valid before 2099-01-01 00:00:00 UTC"),
        ("unknown-ca", "unknown issuer"),
        ("intruder", "spiffe://example.org/intruder, subject"),
        ("other-domain", "spiffe://evil.example/client, subject"),
        ("ca-as-leaf", "CA certificate (CA:TRUE)"),
        ("no-client-auth", "lacks the clientAuth extended key usage"),
        // webpki would take a leaf without the extension as good for any purpose; this
        // mechanism does not.
        ("no-eku", "lacks the clientAuth extended key usage"),
        ("deep", "chain is too long"),
    ];
    for (name, expect) in cases {
        let why = server_refusal(client(name), server(&[CLIENT_ID], None));
        assert!(why.contains(expect), "{name}: {why}");
        if name.contains('-') && expect.starts_with("spiffe") {
            assert!(why.contains("is not allowed"), "{name}: {why}");
        }
    }
}

/// A leaf with two URI names is not an X.509-SVID. This side refuses to load one as its own
/// certificate, and a peer presenting one is refused by the same check
/// (`CertIdentity::from_der`, which authorization runs on every verified leaf).
#[test]
fn a_leaf_with_two_uri_names_is_refused() {
    let e = Credentials::load(&file("two-uris.pem"), &file("two-uris.key"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exactly one URI name; this certificate has 2"),
        "{e}"
    );
    use rustls_pki_types::pem::PemObject as _;
    let der = rustls_pki_types::CertificateDer::from_pem_file(file("two-uris.pem")).unwrap();
    assert!(handfast_x509::CertIdentity::from_der(&der).is_err());
}

#[test]
fn the_client_refuses_servers_by_name_and_usage() {
    let why = client_refusal(
        client_allowing("client-p256", &["spiffe://example.org/other-server"]),
        server(&[CLIENT_ID], None),
    );
    assert!(
        why.starts_with("spiffe://example.org/server, DNS:db.example.org")
            && why.contains("is not allowed"),
        "{why}"
    );
    let m = X509Mechanism::new(
        creds("server-no-server-auth.pem", "server-no-server-auth.key"),
        trust(None),
        allow(&[CLIENT_ID]),
    )
    .unwrap();
    let why = client_refusal(client("client-p256"), ServerConfig::new(Arc::new(m)));
    assert!(
        why.contains("lacks the serverAuth extended key usage"),
        "{why}"
    );
}

#[test]
fn revoked_certificates_are_refused_by_crl() {
    // root.crl revokes `revoked`; inter.crl covers the intermediate's leaves.
    let why = server_refusal(client("revoked"), server(&[CLIENT_ID], Some("all.crl")));
    assert!(why.contains("revoked"), "{why}");
    // Certificates the CRLs cover and do not revoke still pass, directly and through the
    // intermediate.
    established(client("client-p256"), server(&[CLIENT_ID], Some("all.crl")));
    established(client("client-p384"), server(&[CLIENT_ID], Some("all.crl")));
    // A CRL past its nextUpdate tells nothing about now: refused, saying which.
    let why = server_refusal(
        client("client-p256"),
        server(&[CLIENT_ID], Some("expired.crl")),
    );
    assert!(
        why.contains("CRL that covers the client's chain expired at 2020-02-01"),
        "{why}"
    );
    // With only the root's CRL, the intermediate's leaves have no known status: refused.
    let why = server_refusal(
        client("client-p384"),
        server(&[CLIENT_ID], Some("root.crl")),
    );
    assert!(why.contains("revocation status"), "{why}");
}

#[test]
fn loading_errors_name_the_file_and_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // A key readable by others.
    let key = dir.path().join("open.key");
    std::fs::copy(file("client-p256.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Credentials::load(&file("client-p256.pem"), &key)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chmod 600"), "{e}");
    // A key that belongs to another certificate.
    let e = Credentials::load(&file("client-p256.pem"), &file("server.key"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not belong to the certificate"), "{e}");
    // A file with no certificate, and a CRL file with no CRL.
    let e = TrustBundle::load(&file("root.key"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
    let e = trust(None)
        .with_crl_file(&file("root.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no PEM CRL"), "{e}");
    // No allow rules.
    let e = X509Mechanism::new(creds("server.pem", "server.key"), trust(None), allow(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no allow rules"), "{e}");
}
