//! `--mechanism x509` end to end: certificates from `handfast ca` and from openssl, both
//! levels, refusals by name, the TOML form, and rotation of short-lived certificates under
//! load.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Daemon, Echo, data, exchange, run};

/// A CA made by `handfast ca init`, and certificates it issues.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Self { dir };
        pki.ok(&[
            "ca",
            "init",
            "--dir",
            &pki.p("ca"),
            "--name",
            "example.org CA",
        ]);
        pki
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn ok(&self, args: &[&str]) {
        let o = run(args);
        assert!(
            o.status.success(),
            "handfast {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `handfast ca issue`: NAME.pem and NAME.key.
    fn issue(&self, name: &str, spiffe_id: &str, lifetime: &str) {
        self.ok(&[
            "ca",
            "issue",
            "--dir",
            &self.p("ca"),
            "--spiffe-id",
            spiffe_id,
            "--lifetime",
            lifetime,
            "--out",
            &self.p(name),
        ]);
    }

    fn server(&self, forward: &str, allow: &str, extra: &[&str]) -> Daemon {
        let (cert, key, ca) = (self.p("db.pem"), self.p("db.key"), self.p("ca/ca.pem"));
        let mut args = vec![
            "server",
            "--mechanism",
            "x509",
            "--listen",
            "127.0.0.1:0",
            "--forward",
            forward,
            "--cert",
            &cert,
            "--key",
            &key,
            "--ca",
            &ca,
            "--allow-spiffe",
            allow,
        ];
        args.extend_from_slice(extra);
        Daemon::start(&args)
    }

    fn client(&self, name: &str, connect: &str, extra: &[&str]) -> Daemon {
        let (cert, key, ca) = (
            self.p(&format!("{name}.pem")),
            self.p(&format!("{name}.key")),
            self.p("ca/ca.pem"),
        );
        let mut args = vec![
            "client",
            "--mechanism",
            "x509",
            "--listen",
            "127.0.0.1:0",
            "--connect",
            connect,
            "--cert",
            &cert,
            "--key",
            &key,
            "--ca",
            &ca,
            "--allow-spiffe",
            "spiffe://example.org/db",
        ];
        args.extend_from_slice(extra);
        Daemon::start(&args)
    }
}

#[test]
fn a_tunnel_of_certificates_at_both_levels_names_its_peers() {
    let pki = Pki::new();
    pki.issue("db", "spiffe://example.org/db", "1h");
    pki.issue("web", "spiffe://example.org/ns/prod/web", "1h");
    let echo = Echo::start();
    let server = pki.server(
        &echo.addr.to_string(),
        "spiffe://example.org/ns/prod/*",
        &["--min-level", "integrity"],
    );
    for level in ["privacy", "integrity"] {
        let client = pki.client("web", &server.addr.to_string(), &["--level", level]);
        let sent = data(1 << 20);
        let (got, end) = exchange(client.addr, &sent);
        assert!(end.is_ok(), "{level}: {end:?}");
        assert!(got == sent, "{level}: content differs");
        assert!(
            server.wait_log(&format!("level={level}"), 1, Duration::from_secs(5)),
            "{}",
            server.log()
        );
        assert!(
            client.wait_log(
                "peer=\"spiffe://example.org/db\"",
                1,
                Duration::from_secs(5)
            ),
            "{}",
            client.log()
        );
    }
    let log = server.log();
    assert!(
        log.contains("peer=\"spiffe://example.org/ns/prod/web\""),
        "{log}"
    );
    assert!(log.contains("mechanism=x509-tls13"), "{log}");
    assert!(
        log.contains("x509 mechanism, certificate spiffe://example.org/db"),
        "{log}"
    );
}

#[test]
fn a_client_outside_the_allowed_ids_never_reaches_the_service() {
    let pki = Pki::new();
    pki.issue("db", "spiffe://example.org/db", "1h");
    pki.issue("intruder", "spiffe://example.org/ns/staging/web", "1h");
    let echo = Echo::start();
    let server = pki.server(
        &echo.addr.to_string(),
        "spiffe://example.org/ns/prod/*",
        &[],
    );
    let client = pki.client("intruder", &server.addr.to_string(), &[]);
    let (got, _) = exchange(client.addr, b"hello");
    assert!(got.is_empty());
    assert!(
        server.wait_log(
            "spiffe://example.org/ns/staging/web, subject",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    assert_eq!(echo.count(), 0, "the refused client reached the service");
}

#[test]
fn the_configuration_file_takes_the_same_options() {
    let pki = Pki::new();
    pki.issue("db", "spiffe://example.org/db", "1h");
    pki.issue("web", "spiffe://example.org/web", "1h");
    let echo = Echo::start();
    let server = pki.server(&echo.addr.to_string(), "spiffe://example.org/web", &[]);
    let toml = format!(
        "[[client]]\nlisten = \"127.0.0.1:0\"\nconnect = \"{}\"\nmechanism = \"x509\"\n\
         cert = \"web.pem\"\nkey = \"web.key\"\nca = \"ca/ca.pem\"\n\
         allow_spiffe = \"spiffe://example.org/db\"\n",
        server.addr
    );
    let path = pki.dir.path().join("handfast.toml");
    std::fs::write(&path, toml).unwrap();
    let o = run(&["check", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("x509: certificate spiffe://example.org/web"),
        "{out}"
    );
    let client = Daemon::start(&["run", path.to_str().unwrap()]);
    let (got, end) = exchange(client.addr, b"through the file");
    assert!(end.is_ok());
    assert_eq!(got, b"through the file");
    // A noise option in an x509 entry is an error that names the entry.
    std::fs::write(
        &path,
        "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nmechanism = \"x509\"\nkey = \"k\"\n\
         cert = \"c\"\nca = \"d\"\nserver_key = \"s\"\nallow_dns = \"x.org\"\n",
    )
    .unwrap();
    let o = run(&["check", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("client 1") && err.contains("--server-key belongs"),
        "{err}"
    );
}

/// Certificates that live 20 seconds, re-issued every 4 seconds with `handfast ca issue`
/// (which replaces the files atomically, key first) while clients connect without pause: no
/// handshake fails, a connection opened before the first rotation still works after the last,
/// and without the rotation the handshakes would fail once the first certificates expire.
#[test]
fn short_lived_certificates_rotate_under_load_without_a_failed_handshake() {
    let _heavy = crate::harness::heavy();
    let pki = Pki::new();
    pki.issue("db", "spiffe://example.org/db", "20s");
    pki.issue("web", "spiffe://example.org/web", "20s");
    // The first client certificate, kept to show at the end that it has expired.
    for ext in ["pem", "key"] {
        std::fs::copy(pki.p(&format!("web.{ext}")), pki.p(&format!("web0.{ext}"))).unwrap();
    }
    let echo = Echo::start();
    let server = pki.server(&echo.addr.to_string(), "spiffe://example.org/web", &[]);
    let client = pki.client("web", &server.addr.to_string(), &[]);

    // A connection that stays open across every rotation.
    let mut long = TcpStream::connect(client.addr).unwrap();
    long.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    ping(&mut long, b"before");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, addr) = (stop.clone(), ok.clone(), failed.clone(), client.addr);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (got, end) = exchange(addr, b"during rotation");
                    if end.is_ok() && got == b"during rotation" {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    let start = Instant::now();
    let mut rotations = 0;
    // 32 s: past the first certificates' end (20 s), and past the end of the second pair.
    while start.elapsed() < Duration::from_secs(32) {
        thread::sleep(Duration::from_secs(4));
        pki.issue("web", "spiffe://example.org/web", "20s");
        pki.issue("db", "spiffe://example.org/db", "20s");
        rotations += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    ping(&mut long, b"after");
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(
        failed,
        0,
        "{ok} ok\nserver:\n{}\nclient:\n{}",
        server.log(),
        client.log()
    );
    assert!(ok > 100, "only {ok} connections in 32 s");
    // Each side reloaded at least once per rotation it saw (both files may land in one check).
    for (who, d) in [("server", &server), ("client", &client)] {
        let reloads = d.log().matches("reloaded: certificate").count();
        assert!(
            reloads >= rotations - 1,
            "{who}: {reloads} reloads for {rotations} rotations\n{}",
            d.log()
        );
    }
    // What the rotation prevented: the first certificate has expired by now, and a client
    // still holding it is refused.
    let stale = pki.client("web0", &server.addr.to_string(), &[]);
    let (got, _) = exchange(stale.addr, b"stale");
    assert!(got.is_empty());
    assert!(
        server.wait_log(
            "the client's certificate expired at",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
}

fn ping(tcp: &mut TcpStream, msg: &[u8]) {
    tcp.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    tcp.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}
