//! What operators do: scrape metrics, reload keys on SIGHUP, check a configuration file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{Daemon, Echo, Keys, client, exchange, run, server};

/// `GET /metrics` at the address the daemon logged.
fn scrape(d: &Daemon) -> String {
    assert!(d.wait_log("/metrics", 1, Duration::from_secs(5)));
    let log = d.log();
    let url = log
        .split("http://")
        .nth(1)
        .and_then(|r| r.split("/metrics").next())
        .unwrap()
        .to_owned();
    let mut tcp = TcpStream::connect(url.as_str()).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response
}

/// The value of one sample line, e.g. `handfast_sessions_open{service="server"}`.
fn value(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in\n{metrics}"))
}

#[test]
fn metrics_count_handshakes_refusals_bytes_and_durations() {
    let keys = Keys::new();
    let echo = Echo::start();
    let s = server(&keys, &echo.addr.to_string(), &["--metrics", "127.0.0.1:0"]);
    let honest = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let stranger = client(&keys, "stranger.key", &s.addr.to_string(), &[]);
    for msg in [&b"first"[..], &[7u8; 100_000][..]] {
        let (got, end) = exchange(honest.addr, msg);
        assert!(end.is_ok() && got == msg);
    }
    let (_, end) = exchange(stranger.addr, b"let me in");
    assert!(end.is_err());
    assert!(s.wait_log("reason=clean close", 2, std::time::Duration::from_secs(5)));
    assert!(s.wait_log("refused: peer not trusted", 1, Duration::from_secs(5)));
    let m = scrape(&s);
    let svc = "service=\"server\"";
    assert_eq!(
        value(&m, &format!("handfast_handshakes_completed_total{{{svc}}}")),
        2.0
    );
    assert_eq!(
        value(
            &m,
            &format!("handfast_handshakes_failed_total{{{svc},reason=\"untrusted\"}}")
        ),
        1.0
    );
    assert_eq!(value(&m, &format!("handfast_sessions_open{{{svc}}}")), 0.0);
    assert_eq!(
        value(&m, &format!("handfast_handshakes_in_progress{{{svc}}}")),
        0.0
    );
    // Bytes the server carried to its peer (the client) and from it, at privacy.
    let from_peer = value(
        &m,
        &format!("handfast_bytes_total{{{svc},level=\"privacy\",direction=\"from_peer\"}}"),
    );
    assert_eq!(from_peer, 100_005.0);
    assert_eq!(
        value(
            &m,
            &format!("handfast_bytes_total{{{svc},level=\"integrity\",direction=\"to_peer\"}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &m,
            &format!("handfast_handshake_duration_seconds_count{{{svc}}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            &format!("handfast_handshake_duration_seconds_bucket{{{svc},le=\"+Inf\"}}")
        ),
        2.0
    );
    assert!(m.contains("# TYPE handfast_handshake_duration_seconds histogram"));
    assert_eq!(
        value(&m, &format!("handfast_key_updates_total{{{svc}}}")),
        0.0
    );
}

#[test]
fn sighup_reloads_the_allow_file_without_dropping_sessions() {
    let keys = Keys::new();
    let echo = Echo::start();
    let s = server(&keys, &echo.addr.to_string(), &[]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    // A session opened before the reload.
    let mut before = TcpStream::connect(c.addr).unwrap();
    before
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    before.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    before.read_exact(&mut buf).unwrap();
    // The client's key is removed from the allow file; the stranger's is added.
    std::fs::copy(keys.path("stranger.key.pub"), keys.path("clients.allow")).unwrap();
    let hup = |d: &Daemon| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &d.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    hup(&s);
    assert!(
        s.wait_log(
            "reloaded: 1 allowed client key(s)",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        s.log()
    );
    // The removed key cannot make new connections...
    let (got, end) = exchange(c.addr, b"again");
    assert!(got.is_empty() && end.is_err());
    assert!(s.wait_log("refused: peer not trusted", 1, Duration::from_secs(5)));
    // ...the added one can...
    let stranger = client(&keys, "stranger.key", &s.addr.to_string(), &[]);
    let (got, end) = exchange(stranger.addr, b"now allowed");
    assert!(end.is_ok() && got == b"now allowed");
    // ...and the session from before the reload goes on.
    before.write_all(b"pong").unwrap();
    before.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");

    // A file that does not load keeps the previous configuration.
    std::fs::write(keys.path("clients.allow"), "handfast-x25519 not-a-key\n").unwrap();
    hup(&s);
    assert!(
        s.wait_log(
            "reload failed, keeping the previous configuration",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        s.log()
    );
    let (got, end) = exchange(stranger.addr, b"still allowed");
    assert!(end.is_ok() && got == b"still allowed");
}

#[test]
fn check_validates_a_configuration_file_and_says_what_is_wrong() {
    let keys = Keys::new();
    let file = keys.path("handfast.toml");
    std::fs::write(
        &file,
        "[[server]]\nlisten = \"127.0.0.1:0\"\nforward = \"127.0.0.1:1\"\nkey = \"server.key\"\nallow = \"clients.allow\"\n\n\
         [[client]]\nlisten = \"127.0.0.1:0\"\nconnect = \"127.0.0.1:2\"\nkey = \"client.key\"\nserver_key = \"server.key.pub\"\n",
    )
    .unwrap();
    let out = run(&["check", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK: 1 server(s), 1 client(s)"), "{stdout}");
    // A public key given where a private key belongs, and an unknown field: clear errors.
    for (text, expected) in [
        (
            "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"server.key.pub\"\nallow = \"clients.allow\"\n",
            "public key",
        ),
        (
            "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"client.key\"\nserver_key = \"server.key.pub\"\nlevle = \"privacy\"\n",
            "unknown field `levle`",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = run(&["check", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// A service that speaks first (as SMTP, MySQL or SSH do): a banner on connect, then echo.
fn banner_service() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = tcp.write_all(b"220 ready\r\n");
                let mut buf = [0u8; 1024];
                while let Ok(n) = tcp.read(&mut buf) {
                    if n == 0 || tcp.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn banner_then_echo(addr: std::net::SocketAddr) {
    let mut app = TcpStream::connect(addr).unwrap();
    app.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Nothing sent yet: the service's banner must still arrive.
    let mut banner = [0u8; 11];
    app.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"220 ready\r\n");
    app.write_all(b"EHLO").unwrap();
    let mut echo = [0u8; 4];
    app.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"EHLO");
}

#[test]
fn warm_sessions_hold_no_service_connection_and_services_that_speak_first_work() {
    use std::sync::atomic::Ordering;
    let keys = Keys::new();
    let (service, accepted) = banner_service();
    let (k, a, f) = (
        keys.p("server.key"),
        keys.p("clients.allow"),
        service.to_string(),
    );
    let s = Daemon::start(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        &f,
        "--key",
        &k,
        "--allow",
        &a,
    ]);
    // Without warm sessions: the client tells the server at once that it uses the session.
    let cold = client(&keys, "client.key", &s.addr.to_string(), &[]);
    banner_then_echo(cold.addr);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // With three warm sessions: authenticated, but no service connection until used.
    let (ck, sk, to) = (
        keys.p("client.key"),
        keys.p("server.key.pub"),
        s.addr.to_string(),
    );
    let warm = Daemon::start(&[
        "client",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &to,
        "--key",
        &ck,
        "--server-key",
        &sk,
        "--warm",
        "3",
    ]);
    assert!(
        s.wait_log("established", 1 + 3, Duration::from_secs(10)),
        "{}",
        s.log()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a warm session opened a service connection"
    );
    banner_then_echo(warm.addr);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // The used session is replaced: a fifth handshake.
    assert!(
        s.wait_log("established", 1 + 4, Duration::from_secs(10)),
        "{}",
        s.log()
    );
    for _ in 0..4 {
        banner_then_echo(warm.addr);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        6,
        "each warm session served one connection"
    );
    assert!(warm.wait_log("keeping 3 warm session(s)", 1, Duration::from_secs(1)));
}

#[test]
fn warm_sessions_are_renewed_before_an_idle_timeout() {
    let keys = Keys::new();
    let echo = Echo::start();
    let s = server(&keys, &echo.addr.to_string(), &["--idle-timeout", "2"]);
    let (ck, sk, to) = (
        keys.p("client.key"),
        keys.p("server.key.pub"),
        s.addr.to_string(),
    );
    // The client's idle timeout of 2 s renews its warm sessions every second.
    let warm = Daemon::start(&[
        "client",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &to,
        "--key",
        &ck,
        "--server-key",
        &sk,
        "--warm",
        "2",
        "--idle-timeout",
        "2",
    ]);
    // Renewed ones are closed cleanly by the client, before the server's idle timeout.
    assert!(
        s.wait_log(
            "closed: unused: the client retired",
            2,
            Duration::from_secs(10)
        ),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("idle timeout"), "{}", s.log());
    let (got, end) = exchange(warm.addr, b"still fresh");
    assert!(end.is_ok() && got == b"still fresh");
}
