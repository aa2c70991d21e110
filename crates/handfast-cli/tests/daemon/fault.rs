//! Fault injection against the real binary: peers that die, backends that misbehave, peers
//! that vanish. After each, the daemon's descriptors return to baseline and it still serves.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Echo, Keys, client, data, exchange, heavy, server, stalling_service};

/// Open file descriptors of a process.
pub(crate) fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for process {pid}"));
    assert!(kib > 0);
    kib
}

/// Waits until `pid` has at most `baseline` descriptors open.
pub(crate) fn settle_fds(pid: u32, baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = fds(pid);
        if n <= baseline || Instant::now() > deadline {
            return n;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A real client's first flight, from the protocol vectors.
fn client_hello_flight() -> Vec<u8> {
    let text = include_str!("../../../../tests/vectors/handshake.txt");
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("flight 0 client: "))
        .unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn abort(tcp: TcpStream) {
    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
    drop(tcp);
}

#[test]
fn peers_dying_at_every_point_of_the_handshake_leave_nothing_behind() {
    let keys = Keys::new();
    let echo = Echo::start();
    let s = server(&keys, &echo.addr.to_string(), &["--handshake-timeout", "2"]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    assert!(exchange(c.addr, b"warm up").1.is_ok());
    assert!(s.wait_log("reason=clean close", 1, Duration::from_secs(5)));
    let baseline = settle_fds(s.pid(), fds(s.pid()));
    let flight = client_hello_flight();
    let mut cuts: Vec<usize> = vec![0, 1, 2, 3, 4, 5, 20, 40, 66, 67, 68, 100];
    cuts.push(flight.len() - 1);
    cuts.push(flight.len());
    let mut killed = 0;
    for &cut in &cuts {
        for hard in [false, true] {
            let mut tcp = TcpStream::connect(s.addr).unwrap();
            tcp.write_all(&flight[..cut.min(flight.len())]).unwrap();
            thread::sleep(Duration::from_millis(5));
            if hard {
                abort(tcp)
            } else {
                drop(tcp)
            }
            killed += 1;
        }
    }
    // And a peer that dies after the server's reply, before its own second flight.
    let mut tcp = TcpStream::connect(s.addr).unwrap();
    tcp.write_all(&flight).unwrap();
    let mut reply = [0u8; 64];
    let _ = tcp.read(&mut reply).unwrap();
    abort(tcp);
    killed += 1;
    assert_eq!(
        settle_fds(s.pid(), baseline),
        baseline,
        "descriptors leaked"
    );
    let (got, end) = exchange(c.addr, b"still serving");
    assert!(end.is_ok());
    assert_eq!(got, b"still serving");
    assert_eq!(
        echo.count(),
        2,
        "no backend connection for {killed} dead handshakes"
    );
}

#[test]
fn peer_killed_mid_transfer_resets_the_backend_and_leaks_nothing() {
    let keys = Keys::new();
    // A backend that records how its connections end.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let baddr = backend.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for tcp in backend.incoming() {
            let mut tcp = tcp.unwrap();
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut total = 0;
                let end = loop {
                    match tcp.read(&mut buf) {
                        Ok(0) => break Ok(total),
                        Ok(n) => total += n,
                        Err(e) => break Err(e.kind()),
                    }
                };
                let _ = tx.send(end);
            });
        }
    });
    let s = server(&keys, &baddr.to_string(), &[]);
    let baseline = settle_fds(s.pid(), fds(s.pid()));
    for round in 0..3 {
        let mut c = client(&keys, "client.key", &s.addr.to_string(), &[]);
        let mut app = TcpStream::connect(c.addr).unwrap();
        let chunk = data(64 * 1024);
        for _ in 0..(8 + round * 8) {
            app.write_all(&chunk).unwrap();
        }
        thread::sleep(Duration::from_millis(100));
        // The client daemon dies without a word.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &c.pid().to_string()])
            .status();
        let _ = c.wait_exit(Duration::from_secs(5));
        let end = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("backend connection ended");
        assert_eq!(
            end,
            Err(ErrorKind::ConnectionReset),
            "round {round}: the backend must see a reset, not a clean end"
        );
        assert!(
            s.wait_log("tunnel cut", round + 1, Duration::from_secs(5)),
            "{}",
            s.log()
        );
    }
    assert_eq!(settle_fds(s.pid(), baseline), baseline);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let mut app = TcpStream::connect(c.addr).unwrap();
    app.write_all(b"still serving").unwrap();
    app.shutdown(Shutdown::Write).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(13));
}

#[test]
fn backend_that_refuses_or_resets_gives_the_application_a_reset() {
    let keys = Keys::new();
    // Refuses: nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = server(&keys, &closed.to_string(), &[]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let (got, end) = exchange(c.addr, b"hello?");
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(
        s.wait_log("unreachable", 1, Duration::from_secs(5)),
        "{}",
        s.log()
    );

    // Resets every connection as soon as it is accepted.
    let rude = TcpListener::bind("127.0.0.1:0").unwrap();
    let raddr = rude.local_addr().unwrap();
    thread::spawn(move || {
        for tcp in rude.incoming().flatten() {
            abort(tcp);
        }
    });
    let s = server(&keys, &raddr.to_string(), &[]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let baseline = fds(s.pid());
    for _ in 0..5 {
        let (got, end) = exchange(c.addr, &data(100_000));
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    }
    assert_eq!(settle_fds(s.pid(), baseline), baseline);
}

#[test]
fn stalled_backend_and_vanished_peer_are_dropped_by_the_idle_timeout() {
    let keys = Keys::new();
    // A backend that accepts and then never reads or writes.
    let saddr = stalling_service();
    let s = server(&keys, &saddr.to_string(), &["--idle-timeout", "1"]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let mut app = TcpStream::connect(c.addr).unwrap();
    app.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    app.write_all(b"anyone there?").unwrap();
    let start = Instant::now();
    let err = app
        .read(&mut [0u8; 16])
        .expect_err("dropped, not a clean end");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        s.wait_log("idle timeout", 1, Duration::from_secs(5)),
        "{}",
        s.log()
    );

    // A client daemon whose server vanished without FIN or RST: a relay that goes silent.
    let echo = Echo::start();
    let s = server(&keys, &echo.addr.to_string(), &[]);
    let blackhole = TcpListener::bind("127.0.0.1:0").unwrap();
    let bh = blackhole.local_addr().unwrap();
    let upstream = s.addr;
    let go_silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let silent = go_silent.clone();
    thread::spawn(move || {
        for down in blackhole.incoming().flatten() {
            let up = TcpStream::connect(upstream).unwrap();
            for (mut from, mut to) in [
                (down.try_clone().unwrap(), up.try_clone().unwrap()),
                (up, down),
            ] {
                let silent = silent.clone();
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if !silent.load(std::sync::atomic::Ordering::SeqCst) {
                            let _ = to.write_all(&buf[..n]);
                        }
                    }
                    // Never close: the peer just disappears.
                    thread::sleep(Duration::from_secs(60));
                });
            }
        }
    });
    let c = client(
        &keys,
        "client.key",
        &bh.to_string(),
        &["--idle-timeout", "1"],
    );
    let mut app = TcpStream::connect(c.addr).unwrap();
    app.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    app.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    app.read_exact(&mut b).unwrap();
    go_silent.store(true, std::sync::atomic::Ordering::SeqCst);
    app.write_all(b"lost").unwrap();
    let err = app.read(&mut b).expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert!(
        c.wait_log("idle timeout", 1, Duration::from_secs(5)),
        "{}",
        c.log()
    );
}

#[test]
fn backend_that_never_reads_holds_memory_flat() {
    let _heavy = heavy();
    let keys = Keys::new();
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let saddr = sink.local_addr().unwrap();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    thread::spawn(move || {
        for tcp in sink.incoming().flatten() {
            h.lock().unwrap().push(tcp);
        }
    });
    let s = server(&keys, &saddr.to_string(), &[]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    let (s0, c0) = (rss_kib(s.pid()), rss_kib(c.pid()));
    let mut app = TcpStream::connect(c.addr).unwrap();
    app.set_write_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let chunk = data(256 * 1024);
    let mut written = 0usize;
    let blocked = loop {
        match app.write(&chunk) {
            Ok(n) => written += n,
            // Blocked: backpressure reached the application.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => panic!("the tunnel failed instead of pushing back: {e}"),
        }
        if written >= 512 << 20 {
            break false;
        }
    };
    assert!(blocked, "512 MiB accepted with a backend that never reads");
    // Socket buffers on the way fill first: several hundred KiB at least.
    assert!(written > 256 * 1024, "blocked after only {written} bytes");
    let (s1, c1) = (rss_kib(s.pid()), rss_kib(c.pid()));
    println!(
        "backpressure: application wrote {} KiB before blocking; RSS server {s0} -> {s1} KiB, client {c0} -> {c1} KiB",
        written / 1024
    );
    assert!(
        written < 64 << 20,
        "{written} bytes accepted with a backend that never reads"
    );
    assert!(
        s1.saturating_sub(s0) < 16 * 1024,
        "server grew {} KiB",
        s1 - s0
    );
    assert!(
        c1.saturating_sub(c0) < 16 * 1024,
        "client grew {} KiB",
        c1 - c0
    );
}

/// Keeps every core busy until dropped, so that races between the daemon's tasks show.
struct BusyCpus(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<thread::JoinHandle<()>>,
);

impl BusyCpus {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let n = thread::available_parallelism().map_or(2, |n| n.get());
        let spinners = (0..n)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        Self(stop, spinners)
    }
}

impl Drop for BusyCpus {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// How a backend connection ended, as the backend saw it.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Clean,
    Reset,
}

/// A backend that behaves as `behave` says on each connection and reports how the
/// connection ended from its side.
fn backend(
    behave: fn(TcpStream) -> Option<Ending>,
) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<Ending>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let tx = tx.clone();
            thread::spawn(move || {
                if let Some(ending) = behave(tcp) {
                    let _ = tx.send(ending);
                }
            });
        }
    });
    (addr, rx)
}

/// Reads until the end and says how it came.
fn drain(mut tcp: TcpStream) -> Ending {
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return Ending::Clean,
            Ok(_) => {}
            Err(_) => return Ending::Reset,
        }
    }
}

#[test]
fn resets_always_propagate_under_load() {
    let _heavy = heavy();
    let keys = Keys::new();
    let _busy = BusyCpus::start();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Resets as soon as it has accepted.
    let (rude, _) = backend(|tcp| {
        abort(tcp);
        None
    });
    // Reads a little of the request, then resets.
    let (midway, _) = backend(|mut tcp| {
        let _ = tcp.read(&mut [0u8; 1000]);
        abort(tcp);
        None
    });
    // Sends a reply and reads to the end, reporting how the far side ended.
    let (watching, endings) = backend(|mut tcp| {
        let _ = tcp.write_all(&data(50_000));
        Some(drain(tcp))
    });
    let daemons: Vec<_> = [closed, rude, midway, watching]
        .iter()
        .map(|addr| {
            let s = server(&keys, &addr.to_string(), &[]);
            let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
            (s, c)
        })
        .collect();
    let mut checked = 0;
    for i in 0..400 {
        let (_, c) = &daemons[i % 4];
        let what = ["refusing", "resetting", "resetting mid-request", "watching"][i % 4];
        if i % 4 == 3 {
            // The application resets its own connection mid-transfer: the service must see a
            // reset, never a clean end.
            let mut app = TcpStream::connect(c.addr).unwrap();
            app.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            app.write_all(&data(20_000)).unwrap();
            let _ = app.read(&mut [0u8; 1]);
            abort(app);
            let ending = endings.recv_timeout(Duration::from_secs(20)).unwrap();
            assert_eq!(
                ending,
                Ending::Reset,
                "iteration {i}: the service saw a clean end"
            );
        } else {
            // The service refuses or resets: the application must see a reset.
            let (_, end) = exchange(c.addr, &data(100_000));
            let err = end.expect_err(&format!("iteration {i} ({what}): clean end of stream"));
            assert_eq!(
                err.kind(),
                ErrorKind::ConnectionReset,
                "iteration {i} ({what})"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 400);
    // And a service that stalls is cut by the idle timeout, as a reset.
    let saddr = stalling_service();
    let s = server(&keys, &saddr.to_string(), &["--idle-timeout", "0.3"]);
    let c = client(&keys, "client.key", &s.addr.to_string(), &[]);
    for i in 0..5 {
        let mut app = TcpStream::connect(c.addr).unwrap();
        app.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        app.write_all(b"hello?").unwrap();
        let err = app
            .read(&mut [0u8; 8])
            .expect_err("stalled service: clean end");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "stall {i}");
    }
}
