//! The tunnel end to end: levels, refusals, tampering, half-close, load, deadlines, signals.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Daemon, Dir, Keys, Mutation, Setup, data, exchange, run};

const MB: usize = 1024 * 1024;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn round_trip_several_megabytes_at_both_levels() {
    let _heavy = crate::harness::heavy();
    for (min, level, expected) in [
        ("integrity", "integrity", "level=integrity"),
        ("privacy", "privacy", "level=privacy"),
    ] {
        let s = Setup::new(min, level, None);
        let sent = data(6 * MB);
        let (got, end) = exchange(s.client.addr, &sent);
        assert!(end.is_ok(), "{level}: {end:?}");
        assert_eq!(got.len(), sent.len(), "{level}");
        assert!(got == sent, "{level}: content differs");
        assert!(
            s.server.wait_log(expected, 1, Duration::from_secs(5)),
            "{}",
            s.server.log()
        );
        assert!(
            s.server
                .wait_log("reason=clean close", 1, Duration::from_secs(5)),
            "{}",
            s.server.log()
        );
        assert_eq!(s.echo.count(), 1);
    }
}

#[test]
fn plaintext_on_the_wire_at_integrity_and_never_at_privacy() {
    let marker = b"MARKER: the quick brown fox jumps over the lazy dog 0123456789";
    for (min, level, visible) in [
        ("integrity", "integrity", true),
        ("privacy", "privacy", false),
    ] {
        let s = Setup::new(min, level, None);
        let (got, end) = exchange(s.client.addr, marker);
        assert!(end.is_ok());
        assert_eq!(got, marker);
        let up = s.proxy.seen(Dir::ToServer);
        let down = s.proxy.seen(Dir::ToClient);
        assert!(up.len() > marker.len() && down.len() > marker.len());
        assert_eq!(contains(&up, marker), visible, "{level}, client to server");
        assert_eq!(
            contains(&down, marker),
            visible,
            "{level}, server to client"
        );
        // Not even a fragment leaks at privacy.
        if !visible {
            assert!(!contains(&up, &marker[8..24]) && !contains(&down, &marker[8..24]));
        }
    }
}

#[test]
fn server_minimum_beats_a_lower_client_request() {
    let marker = b"this must not be readable on the wire";
    let s = Setup::new("privacy", "integrity", None);
    let (got, end) = exchange(s.client.addr, marker);
    assert!(end.is_ok());
    assert_eq!(got, marker);
    assert!(!contains(&s.proxy.seen(Dir::ToServer), marker));
    assert!(
        s.server
            .wait_log("level=privacy", 1, Duration::from_secs(5))
    );
    assert!(
        s.client
            .wait_log("level=privacy", 1, Duration::from_secs(5))
    );
}

#[test]
fn unknown_client_is_refused_before_any_backend_connection() {
    let s = Setup::with(
        "privacy",
        "privacy",
        None,
        "stranger.key",
        "server.key.pub",
        &[],
    );
    let (got, end) = exchange(s.client.addr, b"let me in");
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(
        s.server.wait_log(
            "refused: peer not trusted: unknown key SHA256:",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        s.server.log()
    );
    // The client has verified the server and sent its last flight (with the application's
    // first bytes) before the server refuses it: it learns the refusal from the alert.
    assert!(
        s.client.wait_log(
            "refused by the peer after the handshake: access denied",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        s.client.log()
    );
    assert_eq!(
        s.echo.count(),
        0,
        "the backend was contacted for an unknown client"
    );
}

#[test]
fn unpinned_server_is_refused_before_any_application_byte() {
    // The client pins the stranger's key, so the real server is not the one it trusts.
    let s = Setup::with(
        "privacy",
        "privacy",
        None,
        "client.key",
        "stranger.key.pub",
        &[],
    );
    let secret = b"password=hunter2";
    let (got, end) = exchange(s.client.addr, secret);
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(
        s.client.wait_log(
            "refused: peer not trusted: unknown key",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        s.client.log()
    );
    assert_eq!(s.echo.count(), 0);
    // The client sent its hello and nothing else: no application byte, no identity.
    let up = s.proxy.seen(Dir::ToServer);
    assert!(!contains(&up, secret));
    assert!(up.len() < 200, "client sent {} bytes", up.len());
}

/// Sends 2 MB with a mutation at `at` bytes into one direction; the application must see a
/// reset and an exact prefix of what it sent, and the side that detects it logs why.
fn assert_reset_with_prefix(mutation: Mutation, detector: fn(&Setup) -> &Daemon, reason: &str) {
    let s = Setup::new("privacy", "privacy", Some(mutation.clone()));
    let sent = data(2 * MB);
    let (got, end) = exchange(s.client.addr, &sent);
    let err = end.expect_err("the application must not see a clean end");
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionReset,
        "{mutation:?}: {err}"
    );
    assert!(got.len() < sent.len(), "{mutation:?}: everything arrived");
    assert!(
        got == sent[..got.len()],
        "{mutation:?}: delivered bytes are not a prefix of the sent bytes"
    );
    let d = detector(&s);
    assert!(
        d.wait_log(reason, 1, Duration::from_secs(5)),
        "{mutation:?}: no {reason:?} in:\n{}",
        d.log()
    );
}

fn server(s: &Setup) -> &Daemon {
    &s.server
}

fn client(s: &Setup) -> &Daemon {
    &s.client
}

#[test]
fn flipped_byte_client_to_server_resets_with_exact_prefix() {
    assert_reset_with_prefix(
        Mutation::Flip {
            dir: Dir::ToServer,
            at: 700_000,
        },
        server,
        "tampering detected",
    );
}

#[test]
fn flipped_byte_server_to_client_resets_with_exact_prefix() {
    assert_reset_with_prefix(
        Mutation::Flip {
            dir: Dir::ToClient,
            at: 700_000,
        },
        client,
        "tampering detected",
    );
}

#[test]
fn inserted_bytes_reset_with_exact_prefix() {
    // Inserted bytes shift the record boundaries: the next record fails its tag, or its header
    // fails to parse.
    assert_reset_with_prefix(
        Mutation::Insert {
            dir: Dir::ToServer,
            at: 500_000,
            bytes: b"evil".to_vec(),
        },
        server,
        "reason=",
    );
}

#[test]
fn cut_connection_resets_with_exact_prefix() {
    assert_reset_with_prefix(
        Mutation::Cut {
            dir: Dir::ToClient,
            at: 600_000,
        },
        client,
        "tunnel cut",
    );
}

#[test]
fn half_close_in_both_directions() {
    let s = Setup::new("privacy", "privacy", None);
    let mut tcp = TcpStream::connect(s.client.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"request, then my write side closes")
        .unwrap();
    tcp.shutdown(Shutdown::Write).unwrap();
    // The echo service sees our end of stream, replies, and closes its side: a clean EOF here.
    let mut reply = Vec::new();
    tcp.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"request, then my write side closes");
    assert!(
        s.server
            .wait_log("reason=clean close", 1, Duration::from_secs(5)),
        "{}",
        s.server.log()
    );
}

#[test]
fn two_hundred_concurrent_connections() {
    let _heavy = crate::harness::heavy();
    let s = Setup::new("privacy", "privacy", None);
    let addr = s.client.addr;
    let workers: Vec<_> = (0..200)
        .map(|i| {
            thread::spawn(move || {
                let sent = data(32 * 1024 + i);
                let (got, end) = exchange(addr, &sent);
                end.is_ok() && got == sent
            })
        })
        .collect();
    let ok = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .filter(|&ok| ok)
        .count();
    assert_eq!(ok, 200);
    assert!(
        s.server
            .wait_log("reason=clean close", 200, Duration::from_secs(20))
    );
    assert_eq!(s.echo.count(), 200);
}

#[test]
fn idle_handshakes_do_not_block_others_and_are_dropped_at_the_deadline() {
    let _heavy = crate::harness::heavy();
    let s = Setup::with(
        "privacy",
        "privacy",
        None,
        "client.key",
        "server.key.pub",
        &["--handshake-timeout", "1.5"],
    );
    let idle: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(s.server.addr).unwrap())
        .collect();
    // Half of them send a partial hello header and stall.
    for tcp in idle.iter().step_by(2) {
        (&*tcp).write_all(&[0x16, 0x00]).unwrap();
    }
    let start = Instant::now();
    let (got, end) = exchange(s.client.addr, b"honest client");
    assert!(end.is_ok());
    assert_eq!(got, b"honest client");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "honest client took {:?}",
        start.elapsed()
    );
    assert!(
        s.server
            .wait_log("refused: handshake timed out", 150, Duration::from_secs(10)),
        "{}",
        s.server.log().matches("handshake timed out").count()
    );
    for mut tcp in idle {
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        // Dropped by the server: end of stream or reset, never a hang.
        match tcp.read(&mut buf) {
            Ok(n) => assert!(n == 0 || buf[0] == 0x15, "unexpected bytes"),
            Err(e) => assert_ne!(e.kind(), ErrorKind::WouldBlock, "still open"),
        }
    }
    assert_eq!(s.echo.count(), 1);
}

#[test]
fn max_connections_is_enforced_with_a_log_line() {
    let s = Setup::with(
        "privacy",
        "privacy",
        None,
        "client.key",
        "server.key.pub",
        &["--max-connections", "2"],
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(s.client.addr).unwrap();
        tcp.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.read_exact(&mut b).unwrap();
        held.push(tcp);
    }
    let (got, end) = exchange(s.client.addr, b"third");
    assert!(got.is_empty() && end.is_err(), "{end:?}");
    assert!(s.server.wait_log(
        "refused: too many sessions (max_connections 2)",
        1,
        Duration::from_secs(5)
    ));
    drop(held);
    assert!(
        s.server
            .wait_log("reason=clean close", 2, Duration::from_secs(5))
    );
    let (got, end) = exchange(s.client.addr, b"fourth");
    assert!(end.is_ok());
    assert_eq!(got, b"fourth");
}

#[test]
fn sigterm_stops_accepting_lets_open_connections_finish_and_exits_zero() {
    let keys = Keys::new();
    let echo = crate::harness::Echo::start();
    let mut server = Daemon::start(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        &echo.addr.to_string(),
        "--key",
        &keys.p("server.key"),
        "--allow",
        &keys.p("clients.allow"),
    ]);
    let client = Daemon::start(&[
        "client",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &server.addr.to_string(),
        "--key",
        &keys.p("client.key"),
        "--server-key",
        &keys.p("server.key.pub"),
    ]);
    let mut open = TcpStream::connect(client.addr).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    open.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    open.read_exact(&mut buf).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait_log("shutting down", 1, Duration::from_secs(5)));
    // New connections are refused...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        thread::sleep(Duration::from_millis(20));
    }
    // ...while the open one still works within the grace period.
    open.write_all(b"during").unwrap();
    open.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"during");
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "exited with a connection open"
    );
    open.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    open.read_to_end(&mut rest).unwrap();
    let exit = server
        .wait_exit(Duration::from_secs(10))
        .expect("exited after the last connection closed");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn run_starts_servers_and_clients_from_a_config_file() {
    let keys = Keys::new();
    let echo = crate::harness::Echo::start();
    // Fixed free ports: bind, read, release.
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (sp, cp) = (port(), port());
    let toml = format!(
        "[[server]]\nname = \"echo\"\nlisten = \"127.0.0.1:{sp}\"\nforward = \"{}\"\nkey = \"server.key\"\nallow = \"clients.allow\"\nmin_level = \"integrity\"\n\n\
         [[client]]\nname = \"echo-client\"\nlisten = \"127.0.0.1:{cp}\"\nconnect = \"127.0.0.1:{sp}\"\nkey = \"client.key\"\nserver_key = \"server.key.pub\"\nlevel = \"integrity\"\n",
        echo.addr
    );
    std::fs::write(keys.path("handfast.toml"), toml).unwrap();
    let d = Daemon::start(&["run", &keys.p("handfast.toml")]);
    assert!(d.wait_log("echo-client: listening on", 1, Duration::from_secs(5)));
    let (got, end) = exchange(format!("127.0.0.1:{cp}").parse().unwrap(), b"configured");
    assert!(end.is_ok());
    assert_eq!(got, b"configured");
    assert!(
        d.wait_log("level=integrity", 2, Duration::from_secs(5)),
        "{}",
        d.log()
    );
}

#[test]
fn keygen_and_pubkey() {
    let keys = Keys::new();
    let key = keys.path("server.key");
    assert_eq!(crate::harness::mode(&key), 0o600);
    let o = run(&["pubkey", key.to_str().unwrap()]);
    assert!(o.status.success());
    let line = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        line,
        std::fs::read_to_string(keys.path("server.key.pub")).unwrap()
    );
    assert!(line.starts_with("handfast-x25519 ") && line.trim_end().ends_with(" server"));
    let again = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn demo_runs_with_no_setup_and_tells_the_story() {
    let o = run(&["demo"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "demo failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for expected in [
        "level=privacy",
        "level=integrity",
        "-> ciphertext: the message is not visible",
        "-> readable by anyone on the path",
        "refused: peer not trusted",
        "connections the service received from the stranger: 0",
        "then: connection reset (not a clean end)",
        "reason=tampering detected",
        "MB/s",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
}
