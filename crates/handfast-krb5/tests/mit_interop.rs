//! GSS mode against MIT's own sample programs (Debian's `krb5-gss-samples`), both ways, at
//! both levels: MIT `gss-client` -> handfast's sample server, and handfast's sample client ->
//! MIT `gss-server`; with `-nx` (integrity-only wrap), MIC replies, several messages per
//! connection, SPNEGO, and the refusals GSS mode owes (a level below the minimum, no mutual
//! authentication, a tampered or replayed token).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{principal, setup};
use handfast::ProtectionLevel::{self, Integrity, Privacy};
use handfast_krb5::gss::{GssClient, GssError, GssMechanism, GssServer};
use handfast_krb5::sample::{self, ClientSession, SampleError, Served};
use handfast_krb5::{AllowList, ClientCredentials, Keytab, Rule, Service};

fn allow_alice() -> Arc<AllowList> {
    Arc::new(AllowList::new(
        [Rule::parse("alice@HANDFAST.TEST").unwrap()],
    ))
}

/// handfast's sample server for one connection, on a free port; MIT's `gss-client` with
/// `args` against it. Returns what each side made of it.
fn mit_client_to_handfast(
    args: &[&str],
    min: ProtectionLevel,
) -> (Output, Result<Served, SampleError>) {
    let s = setup();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let keytab = Keytab::File(s.keytab.clone());
    let server = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        sample::serve(&mut tcp, &keytab, allow_alice(), min)
    });
    let out = s
        .realm
        .command("gss-client")
        .env("KRB5CCNAME", &s.alice)
        .arg("-port")
        .arg(port.to_string())
        .args(args)
        .args(["127.0.0.1", "host@localhost"])
        .arg("hello from MIT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out, server.join().unwrap())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn mit_gss_client_to_handfast_at_both_levels_with_several_messages() {
    for (args, level) in [
        (vec!["-mcount", "3"], Privacy),
        (vec!["-mcount", "3", "-nx"], Integrity),
        (vec!["-mcount", "2", "-nm"], Privacy),
        (vec!["-mcount", "2", "-spnego"], Privacy),
        (vec!["-mcount", "2", "-spnego", "-nx"], Integrity),
    ] {
        let (out, served) = mit_client_to_handfast(&args, Integrity);
        let served = served.unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", text(&out)));
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!(served.peer, principal("alice"));
        let count: usize = args[1].parse().unwrap();
        assert_eq!(served.messages.len(), count, "{args:?}");
        for (got, msg) in &served.messages {
            assert_eq!(*got, level, "{args:?}");
            assert_eq!(msg, b"hello from MIT");
        }
        // gss-client verified each MIC (or took each NOOP) and says so only on failure.
        assert!(
            !text(&out).contains("verifying signature"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn handfast_refuses_mit_messages_below_its_minimum_and_contexts_without_mutual_authentication() {
    let (out, served) = mit_client_to_handfast(&["-nx"], Privacy);
    match served {
        Err(SampleError::Gss(GssError::BelowMinimum { got, min })) => {
            assert_eq!((got, min), (Integrity, Privacy));
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.status.success(), "gss-client saw its message refused");
    let (_, served) = mit_client_to_handfast(&["-nomutual"], Integrity);
    match served {
        Err(SampleError::Gss(GssError::Flags(why))) => {
            assert!(why.contains("without mutual authentication"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

/// MIT's `gss-server` for one connection on a free port, with the service's keytab.
fn mit_server() -> (std::process::Child, u16) {
    let s = setup();
    // gss-server binds every interface on the port it is given; find one free.
    let port = TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = s
        .realm
        .command("gss-server")
        .arg("-port")
        .arg(port.to_string())
        .arg("-once")
        .arg("-keytab")
        .arg(&s.keytab)
        .arg("host@localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A probe connection would use up -once; wait for the port to be taken instead.
        if TcpListener::bind(("0.0.0.0", port)).is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "gss-server did not start");
        thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

#[test]
fn handfast_client_to_mit_gss_server_at_both_levels() {
    let s = setup();
    let service = Service::parse("host@localhost").unwrap();
    let credentials = ClientCredentials::Cache(s.alice.clone());
    for (mechanism, level, want_mic) in [
        (GssMechanism::Kerberos, Privacy, true),
        (GssMechanism::Kerberos, Integrity, true),
        (GssMechanism::Kerberos, Privacy, false),
        (GssMechanism::Spnego, Privacy, true),
        (GssMechanism::Spnego, Integrity, true),
    ] {
        let (server, port) = mit_server();
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let session = ClientSession {
            service: &service,
            credentials: &credentials,
            mechanism,
            level,
            want_mic,
        };
        let messages: [&[u8]; 3] = [b"first from handfast", b"second", b"third"];
        let peer = sample::client(&mut tcp, &session, &messages)
            .unwrap_or_else(|e| panic!("{mechanism:?} {level}: {e}"));
        drop(tcp);
        assert_eq!(peer, principal("host/localhost"));
        let out = server.wait_with_output().unwrap();
        let log = text(&out);
        assert!(out.status.success(), "{log}");
        assert!(log.contains("alice@HANDFAST.TEST"), "{log}");
        for m in ["first from handfast", "second", "third"] {
            assert!(log.contains(m), "gss-server did not print {m:?}: {log}");
        }
    }
}

/// Both ends in this process: a context, then tokens altered or replayed.
fn in_process_pair(
    min: ProtectionLevel,
) -> (
    handfast_krb5::gss::GssContext,
    handfast_krb5::gss::GssContext,
) {
    let s = setup();
    let service = Service::parse("host@localhost").unwrap();
    let mut c = GssClient::new(
        &service,
        &ClientCredentials::Cache(s.alice.clone()),
        GssMechanism::Kerberos,
    )
    .unwrap();
    let mut srv = GssServer::new(&Keytab::File(s.keytab.clone()), allow_alice()).unwrap();
    let mut token = c.step(None).unwrap();
    while let Some(t) = token.take() {
        if let Some(reply) = srv.step(&t).unwrap() {
            token = c.step(Some(&reply)).unwrap();
        }
    }
    assert!(c.is_complete() && srv.is_complete());
    (c.into_context(min).unwrap(), srv.into_context(min).unwrap())
}

#[test]
fn gss_mode_refuses_tampered_replayed_and_unsealed_tokens() {
    let (mut c, mut s) = in_process_pair(Integrity);
    assert_eq!(s.peer(), principal("alice"));
    for level in [Privacy, Integrity] {
        let token = c.wrap(level, b"account=42").unwrap();
        // Integrity travels readable; Privacy does not.
        assert_eq!(
            token.windows(10).any(|w| w == b"account=42"),
            level == Integrity
        );
        for bit in [0, 17, 8 * token.len() / 2, 8 * token.len() - 1] {
            let mut bad = token.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                s.unwrap(&bad).is_err(),
                "{level}: bit {bit} flipped was accepted"
            );
        }
        assert_eq!(s.unwrap(&token).unwrap(), (level, b"account=42".to_vec()));
        assert!(
            s.unwrap(&token).is_err(),
            "{level}: a replayed token was accepted"
        );
    }
    let mic = s.sign(b"receipt").unwrap();
    c.verify(b"receipt", &mic).unwrap();
    assert!(
        c.verify(b"receipt", &mic).is_err(),
        "a replayed MIC was accepted"
    );
    let mic = s.sign(b"receipt").unwrap();
    assert!(
        c.verify(b"receipt!", &mic).is_err(),
        "a MIC over another message"
    );
    // A context whose minimum is Privacy refuses an integrity-only message, and never
    // returns its content.
    let (mut c, mut s) = in_process_pair(Privacy);
    let token = c.wrap(Integrity, b"not secret enough").unwrap();
    assert_eq!(
        s.unwrap(&token),
        Err(GssError::BelowMinimum {
            got: Integrity,
            min: Privacy
        })
    );
    let mic = c.sign(b"signed only").unwrap();
    assert!(matches!(
        s.verify(b"signed only", &mic),
        Err(GssError::BelowMinimum { .. })
    ));
}

#[test]
fn frames_are_checked_before_anything_is_allocated() {
    // A length of 4 GiB - 1 is refused from its header alone.
    let mut frame: &[u8] = &[0x04, 0xff, 0xff, 0xff, 0xff];
    let e = sample::recv_token(&mut frame).unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
    let mut v1: &[u8] = &[0x00, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
    assert!(sample::recv_token(&mut v1).is_err());
    let mut out = Vec::new();
    sample::send_token(&mut out, sample::NOOP | sample::CONTEXT_NEXT, &[]).unwrap();
    assert_eq!(out, [0x11, 0, 0, 0, 0]);
    let mut r: &[u8] = &out;
    assert_eq!(sample::recv_token(&mut r).unwrap(), (0x11, vec![]));
}
