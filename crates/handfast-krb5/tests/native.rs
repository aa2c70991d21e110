//! The Kerberos mechanism on a throwaway MIT realm: both levels, the names each side learns,
//! and each refusal the mechanism owes, with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{client, principal, server, setup};
use handfast::mechanism::{
    Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismSession, PeerIdentity,
    Role, Step,
};
use handfast::{ClientConfig, Error, Handshake, MechanismId, ProtectionLevel, ServerConfig};
use handfast_conformance::pair::{Dir, handshake, handshake_with};
use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};
use zeroize::Zeroizing;

fn words(r: &Result<handfast::SecurityContext, Error>) -> String {
    match r {
        Ok(_) => panic!("established"),
        Err(e) => format!("{e} / {e:?}"),
    }
}

/// Why a client cannot even start its handshake.
fn start_error(m: Arc<dyn Mechanism>) -> String {
    match Handshake::client(Arc::new(ClientConfig::new(m)), [7; 32], Instant::now()) {
        Ok(_) => panic!("the client started"),
        Err(e) => format!("{e} / {e:?}"),
    }
}

#[test]
fn alice_and_the_service_know_each_other_at_both_levels() {
    let s = setup();
    for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
        let out = handshake(
            ClientConfig::new(client(&s.alice, "host@localhost")).with_level(level),
            ServerConfig::new(server(&s.keytab, &["*@HANDFAST.TEST"])).with_min_level(level),
        );
        let (mut c, mut srv) = out.both();
        assert_eq!(c.peer().name(), principal("host/localhost"));
        assert_eq!(srv.peer().name(), principal("alice"));
        assert_eq!(c.peer().mechanism(), MechanismId(0x0003));
        assert_eq!(c.level(), level);
        let r = c.seal(level, b"ping").unwrap();
        let (got, msg) = srv.open(&r).unwrap().unwrap();
        assert_eq!((got, &msg[..]), (level, &b"ping"[..]));
        if level == ProtectionLevel::Integrity {
            assert!(r.windows(4).any(|w| w == b"ping"), "integrity is readable");
        } else {
            assert!(
                !r.windows(4).any(|w| w == b"ping"),
                "privacy hides the message"
            );
        }
    }
    // The service may also be named as a principal.
    handshake(
        ClientConfig::new(client(&s.alice, "host/localhost@HANDFAST.TEST")),
        ServerConfig::new(server(&s.keytab, &["alice@HANDFAST.TEST"])),
    )
    .both();
}

#[test]
fn a_principal_not_allowed_is_refused_by_name() {
    let s = setup();
    let out = handshake(
        ClientConfig::new(client(&s.mallory, "host@localhost")),
        ServerConfig::new(server(
            &s.keytab,
            &["alice@HANDFAST.TEST", "HTTP/*@HANDFAST.TEST"],
        )),
    );
    let why = words(&out.server);
    assert!(
        why.contains("principal mallory@HANDFAST.TEST is not allowed"),
        "{why}"
    );
    assert!(out.client.is_err() || out.flights.last().unwrap().0 == Dir::ToClient);
}

#[test]
fn a_keytab_without_the_service_key_is_refused() {
    let s = setup();
    // host/other's keytab cannot open a ticket for host/localhost.
    let out = handshake(
        ClientConfig::new(client(&s.alice, "host@localhost")),
        ServerConfig::new(server(&s.other_keytab, &["alice@HANDFAST.TEST"])),
    );
    let why = words(&out.server);
    assert!(why.contains("AP-REQ"), "{why}");
    assert!(out.client.is_err());
}

#[test]
fn a_key_version_the_keytab_lacks_is_refused() {
    let s = setup();
    let stale = s.dir.join("rotated-stale.keytab");
    let fresh = s.dir.join("rotated-fresh.keytab");
    s.realm.add_service("host/rotated", &stale).unwrap();
    // A new key (kvno 2) that only the fresh keytab holds.
    s.realm.export_key("host/rotated", &fresh).unwrap();
    let ccache = format!("FILE:{}", s.dir.join("alice-rotated.ccache").display());
    s.realm
        .kinit("alice", "alice-password", &ccache, None)
        .unwrap();
    let out = handshake(
        ClientConfig::new(client(&ccache, "host@rotated")),
        ServerConfig::new(server(&stale, &["alice@HANDFAST.TEST"])),
    );
    let why = words(&out.server);
    assert!(
        why.to_lowercase().contains("key version") || why.contains("kvno"),
        "{why}"
    );
    // The keytab with the new key works.
    handshake(
        ClientConfig::new(client(&ccache, "host@rotated")),
        ServerConfig::new(server(&fresh, &["alice@HANDFAST.TEST"])),
    )
    .both();
}

#[test]
fn a_wrong_service_name_is_refused_by_the_kdc() {
    let s = setup();
    // The client learns it before it sends anything: no ticket, no first flight.
    let why = start_error(client(&s.alice, "host@nosuchhost"));
    assert!(
        why.contains("Server host/nosuchhost@HANDFAST.TEST not found in Kerberos database"),
        "{why}"
    );
}

#[test]
fn an_expired_ticket_is_refused() {
    let s = setup();
    // The realm tolerates 2 s of skew; a 3-second ticket is over well before 8 s.
    let ccache = format!("FILE:{}", s.dir.join("alice-short.ccache").display());
    s.realm
        .kinit("alice", "alice-password", &ccache, Some("3s"))
        .unwrap();
    let c = client(&ccache, "host@localhost");
    std::thread::sleep(std::time::Duration::from_secs(8));
    let why = start_error(c);
    assert!(why.contains("Ticket expired"), "{why}");
}

#[test]
fn a_clock_skewed_beyond_the_realms_limit_is_refused() {
    let s = setup();
    let path = s.dir.join("alice-skewed.ccache");
    let ccache = format!("FILE:{}", path.display());
    s.realm
        .kinit("alice", "alice-password", &ccache, None)
        .unwrap();
    let srv = server(&s.keytab, &["alice@HANDFAST.TEST"]);
    // A first handshake puts the service ticket in the cache.
    handshake(
        ClientConfig::new(client(&ccache, "host@localhost")),
        ServerConfig::new(srv.clone()),
    )
    .both();
    // The cache's header holds the client's clock offset from the KDC (MIT's kdc_timesync):
    // tag 1, 8 bytes, seconds then microseconds. Ten minutes ahead, against a realm that
    // tolerates two seconds.
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes[..8], [0x05, 0x04, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x08]);
    bytes[8..12].copy_from_slice(&600i32.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    let out = handshake(
        ClientConfig::new(client(&ccache, "host@localhost")),
        ServerConfig::new(srv),
    );
    let why = words(&out.server);
    assert!(why.contains("Clock skew too great"), "{why}");
}

#[test]
fn a_replayed_ap_req_is_refused() {
    let s = setup();
    let srv = server(&s.keytab, &["alice@HANDFAST.TEST"]);
    let first = handshake(
        ClientConfig::new(client(&s.alice, "host@localhost")),
        ServerConfig::new(srv.clone()),
    );
    assert!(first.established());
    let recorded = first.flights[0].1.clone();
    // A second handshake whose first flight is the recorded one, byte for byte.
    let out = handshake_with(
        ClientConfig::new(client(&s.alice, "host@localhost")),
        ServerConfig::new(srv),
        Some(Box::new(move |dir, n, bytes: &mut Vec<u8>| {
            if dir == Dir::ToServer && n == 0 {
                *bytes = recorded.clone();
            }
        })),
    );
    let why = words(&out.server);
    assert!(why.contains("replay"), "{why}");
}

/// A client that asks for no mutual authentication: same mechanism number, GSS flags without
/// GSS_C_MUTUAL_FLAG.
#[derive(Debug)]
struct NoMutual(String);

impl Mechanism for NoMutual {
    fn id(&self) -> MechanismId {
        handfast_krb5::MECHANISM_ID
    }
    fn name(&self) -> &'static str {
        "kerberos-without-mutual"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::AUTHENTICATION_ONLY
    }
    fn start(&self, _: Role, _: Entropy) -> Result<Box<dyn MechanismSession>, MechanismError> {
        // alice's ticket is also in the realm's default credential cache.
        let cred = None;
        let target = Name::new(b"host@localhost", Some(GSS_NT_HOSTBASED_SERVICE)).unwrap();
        let _ = &self.0;
        Ok(Box::new(NoMutualSession(ClientCtx::new(
            cred,
            target,
            CtxFlags::GSS_C_REPLAY_FLAG | CtxFlags::GSS_C_INTEG_FLAG,
            Some(GSS_MECH_KRB5),
        ))))
    }
}

struct NoMutualSession(ClientCtx);

impl MechanismSession for NoMutualSession {
    fn step(&mut self, input: Option<&[u8]>, _: &Binding) -> Result<Step, MechanismError> {
        assert!(input.is_none());
        let token = self.0.step(None, None).unwrap().unwrap();
        Ok(Step::more(token.to_vec()))
    }
    fn peer(&self) -> Option<&PeerIdentity> {
        None
    }
    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }
    fn finish(self: Box<Self>) -> Result<handfast::mechanism::Authenticated, MechanismError> {
        Err(MechanismError::Config("never finishes".into()))
    }
}

#[test]
fn a_context_without_mutual_authentication_is_refused() {
    let s = setup();
    let out = handshake(
        ClientConfig::new(Arc::new(NoMutual(s.alice.clone()))),
        ServerConfig::new(server(&s.keytab, &["alice@HANDFAST.TEST"])),
    );
    let why = words(&out.server);
    assert!(why.contains("without mutual authentication"), "{why}");
}
