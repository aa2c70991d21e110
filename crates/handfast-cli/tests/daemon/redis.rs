//! A real Redis behind the tunnel: redis-cli and redis-benchmark at both levels.
//!
//! Needs Debian's `redis-server` and `redis-tools` (.ci/run installs them). Without them the
//! test fails rather than skips, so CI cannot pass without running it.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Daemon, Keys};

pub(crate) struct Redis(Child, pub(crate) u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect(
            "redis-server not found: install Debian's redis-server and redis-tools (see .ci/run)",
        );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        thread::sleep(Duration::from_millis(50));
    }
    Redis(child, port)
}

pub(crate) fn cli(port: u16, args: &[&str]) -> String {
    cli_with_stdin(port, args, b"")
}

/// `redis-cli ARGS`, with `stdin` as the value of a `-x` command.
fn cli_with_stdin(port: u16, args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli not found: install Debian's redis-tools");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn redis_through_the_tunnel_at_both_levels() {
    let redis = start_redis();
    let keys = Keys::new();
    for (level, min) in [("privacy", "privacy"), ("integrity", "integrity")] {
        let server = Daemon::start(&[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--forward",
            &format!("127.0.0.1:{}", redis.1),
            "--key",
            &keys.p("server.key"),
            "--allow",
            &keys.p("clients.allow"),
            "--min-level",
            min,
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
            "--level",
            level,
        ]);
        let port = client.addr.port();
        let value = format!("stored at {level} through handfast");
        assert_eq!(
            cli(port, &["SET", &format!("key:{level}"), &value]).trim(),
            "OK"
        );
        assert_eq!(cli(port, &["GET", &format!("key:{level}")]).trim(), value);
        // Read back directly from Redis: the tunnel delivered exactly what was sent.
        assert_eq!(
            cli(redis.1, &["GET", &format!("key:{level}")]).trim(),
            value
        );
        let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(
            cli_with_stdin(port, &["-x", "SET", "big"], &big).trim(),
            "OK"
        );
        assert_eq!(cli(port, &["STRLEN", "big"]).trim(), "300000");
        assert_eq!(
            cli(port, &["GETRANGE", "big", "299990", "299999"]).trim(),
            String::from_utf8_lossy(&big[299_990..])
        );

        let o = Command::new("redis-benchmark")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-n",
                "2000",
                "-c",
                "10",
                "-t",
                "set,get",
                "-q",
            ])
            .output()
            .expect("redis-benchmark not found: install Debian's redis-tools");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "redis-benchmark: {out}");
        assert!(out.contains("SET:") && out.contains("GET:"), "{out}");
        println!("redis-benchmark through handfast at {level}:\n{out}");
        assert!(
            server.wait_log(&format!("level={level}"), 10, Duration::from_secs(5)),
            "{}",
            server.log()
        );
        assert!(!server.log().contains("tampering"), "{}", server.log());
    }
}
