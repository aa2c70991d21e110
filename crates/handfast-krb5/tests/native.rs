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
use handfast_krb5::{ClientCredentials, KerberosMechanism, Service};
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
    // The server refused on mallory's first token: its answer is the access-denied alert,
    // with no AP-REP and no MIC.
    let last = out.flights.last().unwrap();
    assert_eq!(last.0, Dir::ToClient);
    assert!(last.1.ends_with(&[0x15, 0, 0, 1, 2]), "{:?}", last.1);
    assert!(out.client.is_err());
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
    // The realm tolerates 2 s of clock skew, which is also how long an authenticator stays
    // fresh: the replay must come within it, or the refusal would be for the skew. On a
    // machine so busy that two handshakes take longer, try again.
    for _ in 0..5 {
        let started = Instant::now();
        let first = handshake(
            ClientConfig::new(client(&s.alice, "host@localhost")),
            ServerConfig::new(srv.clone()),
        );
        assert!(first.established());
        let recorded = first.flights[0].1.clone();
        // A second handshake whose first flight is the recorded one, byte for byte.
        let out = handshake_with(
            ClientConfig::new(client(&s.alice, "host@localhost")),
            ServerConfig::new(srv.clone()),
            Some(Box::new(move |dir, n, bytes: &mut Vec<u8>| {
                if dir == Dir::ToServer && n == 0 {
                    *bytes = recorded.clone();
                }
            })),
        );
        if started.elapsed() > std::time::Duration::from_millis(1500) {
            continue;
        }
        let why = words(&out.server);
        assert!(why.contains("Request is a replay"), "{why}");
        return;
    }
    panic!("five tries each took longer than the realm's clock skew");
}

/// A client with GSS-API flags and mechanism of the test's choosing, under this mechanism's
/// number: one that asks for no mutual authentication, or that speaks SPNEGO.
#[derive(Debug)]
struct RawClient {
    flags: CtxFlags,
    mech: libgssapi::oid::Oid<'static>,
}

impl Mechanism for RawClient {
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
        Ok(Box::new(NoMutualSession(ClientCtx::new(
            cred,
            target,
            self.flags,
            Some(self.mech),
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
        ClientConfig::new(Arc::new(RawClient {
            flags: CtxFlags::GSS_C_REPLAY_FLAG | CtxFlags::GSS_C_INTEG_FLAG,
            mech: GSS_MECH_KRB5,
        })),
        ServerConfig::new(server(&s.keytab, &["alice@HANDFAST.TEST"])),
    );
    let why = words(&out.server);
    assert!(why.contains("without mutual authentication"), "{why}");
}

/// The native mode's acceptor holds credentials for Kerberos alone: SPNEGO (and whatever it
/// could negotiate) is refused, whose negotiated mechanism the server could not check.
#[test]
fn spnego_is_refused_in_native_mode() {
    let s = setup();
    let out = handshake(
        ClientConfig::new(Arc::new(RawClient {
            flags: CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_REPLAY_FLAG,
            mech: libgssapi::oid::GSS_MECH_SPNEGO,
        })),
        ServerConfig::new(server(&s.keytab, &["alice@HANDFAST.TEST"])),
    );
    let why = words(&out.server);
    assert!(why.contains("AP-REQ"), "{why}");
    assert!(out.client.is_err());
}

fn binding(before_input: u8, before_output: u8) -> Binding {
    Binding {
        before_input: [before_input; 32],
        before_output: [before_output; 32],
    }
}

fn err(r: Result<Step, MechanismError>) -> String {
    match r {
        Ok(_) => panic!("the step succeeded"),
        Err(e) => e.to_string(),
    }
}

/// Each side signs the transcript it saw and checks the other's signature against its own: a
/// man in the middle who shows the two sides different hellos (levels, key shares) is caught
/// by the mechanism itself, not only by the Finished messages.
#[test]
fn each_side_checks_the_others_mic_over_its_own_transcript() {
    let s = setup();
    let cm = client(&s.alice, "host@localhost");
    let sm = server(&s.keytab, &["alice@HANDFAST.TEST"]);
    let start = |m: &Arc<dyn Mechanism>, role| m.start(role, Entropy::new([9; 32])).unwrap();
    let first_two = || {
        let mut c = start(&cm, Role::Initiator);
        let mut srv = start(&sm, Role::Responder);
        let t1 = c.step(None, &binding(0, 0)).unwrap().token.unwrap();
        // The server saw transcript 7 before its token.
        let t2 = srv.step(Some(&t1), &binding(1, 7)).unwrap().token.unwrap();
        (c, srv, t2)
    };
    // The client saw another transcript (8) before the server's token.
    let (mut c, _, t2) = first_two();
    let why = err(c.step(Some(&t2), &binding(8, 9)));
    assert!(
        why.contains("the server's MIC over the transcript does not verify"),
        "{why}"
    );
    assert!(c.peer().is_none(), "no peer before the MIC verifies");
    // The client saw the same (7) and signs what it saw before its token (9); the server
    // saw 10 there.
    let (mut c, mut srv, t2) = first_two();
    let t3 = c.step(Some(&t2), &binding(7, 9)).unwrap().token.unwrap();
    let why = err(srv.step(Some(&t3), &binding(10, 11)));
    assert!(
        why.contains("the client's MIC over the transcript does not verify"),
        "{why}"
    );
    // And when both saw the same, both finish, each knowing the other.
    let (mut c, mut srv, t2) = first_two();
    let t3 = c.step(Some(&t2), &binding(7, 9)).unwrap().token.unwrap();
    assert!(
        srv.step(Some(&t3), &binding(9, 12))
            .unwrap()
            .token
            .is_none()
    );
    assert_eq!(srv.finish().unwrap().peer.name(), principal("alice"));
    assert_eq!(c.finish().unwrap().peer.name(), principal("host/localhost"));
}

#[test]
fn a_client_keytab_authenticates_as_its_own_principal() {
    let s = setup();
    let keytab = s.dir.join("robot.keytab");
    s.realm.admin("addprinc -randkey robot").unwrap();
    s.realm.export_key("robot", &keytab).unwrap();
    // The realm's default cache holds alice's ticket: the keytab's principal must be used,
    // and its tickets kept out of that cache.
    let m: Arc<dyn Mechanism> = Arc::new(
        KerberosMechanism::client(
            Service::parse("host@localhost").unwrap(),
            &ClientCredentials::Keytab(keytab),
        )
        .unwrap(),
    );
    let (_, srv) = handshake(
        ClientConfig::new(m),
        ServerConfig::new(server(&s.keytab, &["robot@HANDFAST.TEST"])),
    )
    .both();
    assert_eq!(srv.peer().name(), principal("robot"));
    let default_cache = std::fs::read(s.dir.join("ccache")).unwrap();
    assert!(
        !default_cache.windows(5).any(|w| w == b"robot"),
        "the keytab's tickets went into the default cache"
    );
}

#[test]
fn service_names_are_checked_against_the_answer() {
    let hb = Service::parse("host@db.example.com").unwrap();
    assert!(hb.is_answered_by("host/db.example.com@EXAMPLE.COM"));
    assert!(hb.is_answered_by("host/DB.example.com@OTHER.ORG"));
    assert!(!hb.is_answered_by("host/evil.example.com@EXAMPLE.COM"));
    assert!(!hb.is_answered_by("HTTP/db.example.com@EXAMPLE.COM"));
    assert!(!hb.is_answered_by("host/db.example.com/x@EXAMPLE.COM"));
    let p = Service::parse("host/db.example.com@EXAMPLE.COM").unwrap();
    assert!(p.is_answered_by("host/db.example.com@EXAMPLE.COM"));
    assert!(!p.is_answered_by("host/db.example.com@OTHER.COM"));
    let no_realm = Service::parse("host/db.example.com").unwrap();
    assert!(no_realm.is_answered_by("host/db.example.com@EXAMPLE.COM"));
    let e = Service::parse("alice@HANDFAST.TEST")
        .unwrap_err()
        .to_string();
    assert!(e.contains("looks like a realm"), "{e}");
    for bad in ["host", "@x", "host@", "host/@R"] {
        assert!(Service::parse(bad).is_err(), "{bad}");
    }
}

/// A server's keytab is read at each handshake: a key added to the same file (`ktadd`, a new
/// key version) is accepted by the running mechanism, with no rebuild.
#[test]
fn a_key_added_to_the_keytab_is_used_at_once() {
    let s = setup();
    let keytab = s.dir.join("growing.keytab");
    s.realm.add_service("host/growing", &keytab).unwrap();
    let srv = server(&keytab, &["alice@HANDFAST.TEST"]);
    // A new key version, appended to the file the running mechanism was built from.
    s.realm.export_key("host/growing", &keytab).unwrap();
    // A fresh cache, so the ticket is for the new key version.
    let ccache = format!("FILE:{}", s.dir.join("alice-growing.ccache").display());
    s.realm
        .kinit("alice", "alice-password", &ccache, None)
        .unwrap();
    let (c, _) = handshake(
        ClientConfig::new(client(&ccache, "host@growing")),
        ServerConfig::new(srv),
    )
    .both();
    // "growing" has no [domain_realm] entry: MIT names the target in the referral realm, an
    // empty one, as it does for any host it cannot map to a realm.
    assert_eq!(c.peer().name(), "host/growing@");
}
