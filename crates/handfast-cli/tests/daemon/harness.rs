//! Starts the real `handfast` binary and real TCP peers on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_handfast");

/// Runs `handfast` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HANDFAST_LOG", "info")
        .output()
        .expect("run handfast")
}

/// A running `handfast server` or `handfast client`.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts `handfast ARGS` and waits for its "listening on" line.
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// The same, with more environment variables (a Kerberos realm's, say).
    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, String)]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HANDFAST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn handfast");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split(": ").next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!("handfast {args:?} did not start:\n{}", log.lock().unwrap());
            }
        };
        Self { child, addr, log }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` `count` times.
    pub(crate) fn wait_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().matches(needle).count() >= count {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `handfast server` forwarding to `forward`, with the test keys (the client allowed), and
/// `extra` flags.
pub(crate) fn server(keys: &Keys, forward: &str, extra: &[&str]) -> Daemon {
    let (k, a) = (keys.p("server.key"), keys.p("clients.allow"));
    let mut args = vec![
        "server",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        forward,
        "--key",
        &k,
        "--allow",
        &a,
    ];
    args.extend_from_slice(extra);
    Daemon::start(&args)
}

/// `handfast client` with the key file `key` ("client.key", "stranger.key"), pinning the test
/// server key, connecting to `connect`, and `extra` flags.
pub(crate) fn client(keys: &Keys, key: &str, connect: &str, extra: &[&str]) -> Daemon {
    let (k, s) = (keys.p(key), keys.p("server.key.pub"));
    let mut args = vec![
        "client",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        connect,
        "--key",
        &k,
        "--server-key",
        &s,
    ];
    args.extend_from_slice(extra);
    Daemon::start(&args)
}

/// A listener on 127.0.0.1 with a deep accept queue (std's is 128): a thousand tunnelled
/// connections arriving at once must not overflow the test service's queue.
pub(crate) fn listener() -> TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(4096).unwrap();
    socket.into()
}

/// A service that accepts connections and then never reads or writes them.
pub(crate) fn stalling_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for tcp in listener.incoming().flatten() {
            held.push(tcp);
        }
    });
    addr
}

/// Key files made with `handfast keygen`, in a temporary folder.
pub(crate) struct Keys {
    pub(crate) dir: tempfile::TempDir,
}

impl Keys {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in ["server", "client", "stranger"] {
            let out = dir.path().join(format!("{name}.key"));
            let o = run(&["keygen", "--out", out.to_str().unwrap(), "--comment", name]);
            assert!(
                o.status.success(),
                "keygen: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        // The server allows the client only.
        std::fs::copy(
            dir.path().join("client.key.pub"),
            dir.path().join("clients.allow"),
        )
        .unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

/// An echo service that counts its connections.
pub(crate) struct Echo {
    pub(crate) addr: SocketAddr,
    pub(crate) connections: Arc<AtomicUsize>,
}

impl Echo {
    pub(crate) fn start() -> Self {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let mut back = tcp.try_clone().unwrap();
                    let _ = std::io::copy(&mut tcp, &mut back);
                    let _ = back.shutdown(Shutdown::Write);
                });
            }
        });
        Self { addr, connections }
    }

    pub(crate) fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Which way bytes travel through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    ToServer,
    ToClient,
}

/// What the proxy does to the byte at `at` in `dir`.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    Flip { dir: Dir, at: usize },
    Insert { dir: Dir, at: usize, bytes: Vec<u8> },
    Cut { dir: Dir, at: usize },
}

/// A TCP proxy between the two tunnels that records and alters bytes.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: SocketAddr, mutation: Option<Mutation>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let to_server = Arc::new(Mutex::new(Vec::new()));
        let to_client = Arc::new(Mutex::new(Vec::new()));
        let (ts, tc) = (to_server.clone(), to_client.clone());
        thread::spawn(move || {
            for down in listener.incoming() {
                let Ok(down) = down else { continue };
                let Ok(up) = TcpStream::connect(upstream) else {
                    continue;
                };
                for (dir, from, to, rec) in [
                    (
                        Dir::ToServer,
                        down.try_clone().unwrap(),
                        up.try_clone().unwrap(),
                        ts.clone(),
                    ),
                    (
                        Dir::ToClient,
                        up.try_clone().unwrap(),
                        down.try_clone().unwrap(),
                        tc.clone(),
                    ),
                ] {
                    let m = mutation.clone().filter(|m| m.dir() == dir);
                    thread::spawn(move || relay(from, to, rec, m));
                }
            }
        });
        Self {
            addr,
            to_server,
            to_client,
        }
    }

    pub(crate) fn seen(&self, dir: Dir) -> Vec<u8> {
        match dir {
            Dir::ToServer => self.to_server.lock().unwrap().clone(),
            Dir::ToClient => self.to_client.lock().unwrap().clone(),
        }
    }
}

impl Mutation {
    fn dir(&self) -> Dir {
        match self {
            Self::Flip { dir, .. } | Self::Insert { dir, .. } | Self::Cut { dir, .. } => *dir,
        }
    }
}

fn relay(
    mut from: TcpStream,
    mut to: TcpStream,
    record: Arc<Mutex<Vec<u8>>>,
    mut mutation: Option<Mutation>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = buf[..n].to_vec();
        let range = offset..offset + n;
        match &mutation {
            Some(Mutation::Flip { at, .. }) if range.contains(at) => {
                chunk[at - offset] ^= 0x01;
                mutation = None;
            }
            Some(Mutation::Insert { at, bytes, .. }) if range.contains(at) => {
                let pos = at - offset;
                chunk.splice(pos..pos, bytes.iter().copied());
                mutation = None;
            }
            Some(Mutation::Cut { at, .. }) if range.contains(at) => {
                // An end of stream (FIN) in the middle of a record; the rest is swallowed.
                chunk.truncate(at - offset);
                let _ = to.write_all(&chunk);
                record.lock().unwrap().extend_from_slice(&chunk);
                let _ = to.shutdown(Shutdown::Write);
                while matches!(from.read(&mut buf), Ok(n) if n > 0) {}
                return;
            }
            _ => {}
        }
        offset += n;
        record.lock().unwrap().extend_from_slice(&chunk);
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A server tunnel in front of an echo service, a proxy, and a client tunnel through it.
pub(crate) struct Setup {
    /// Kept so the key files live as long as the daemons.
    _keys: Keys,
    pub(crate) echo: Echo,
    pub(crate) server: Daemon,
    pub(crate) proxy: Proxy,
    pub(crate) client: Daemon,
}

impl Setup {
    pub(crate) fn new(min_level: &str, level: &str, mutation: Option<Mutation>) -> Self {
        Self::with(
            min_level,
            level,
            mutation,
            "client.key",
            "server.key.pub",
            &[],
        )
    }

    pub(crate) fn with(
        min_level: &str,
        level: &str,
        mutation: Option<Mutation>,
        client_key: &str,
        pinned: &str,
        server_extra: &[&str],
    ) -> Self {
        let keys = Keys::new();
        let echo = Echo::start();
        let forward = echo.addr.to_string();
        let mut args = vec![
            "server",
            "--listen",
            "127.0.0.1:0",
            "--forward",
            &forward,
            "--min-level",
            min_level,
        ];
        let (key, allow) = (keys.p("server.key"), keys.p("clients.allow"));
        args.extend(["--key", &key, "--allow", &allow]);
        args.extend_from_slice(server_extra);
        let server = Daemon::start(&args);
        let proxy = Proxy::start(server.addr, mutation);
        let connect = proxy.addr.to_string();
        let (ck, sk) = (keys.p(client_key), keys.p(pinned));
        let client = Daemon::start(&[
            "client",
            "--listen",
            "127.0.0.1:0",
            "--connect",
            &connect,
            "--key",
            &ck,
            "--server-key",
            &sk,
            "--level",
            level,
        ]);
        Self {
            _keys: keys,
            echo,
            server,
            proxy,
            client,
        }
    }
}

/// Sends `data` through `addr`, reading concurrently; returns what came back and how the
/// read side ended (`Ok(())` for a clean end of stream).
pub(crate) fn exchange(addr: SocketAddr, data: &[u8]) -> (Vec<u8>, std::io::Result<()>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = tcp.try_clone().unwrap();
    let owned = data.to_vec();
    let w = thread::spawn(move || {
        for chunk in owned.chunks(16 * 1024) {
            writer.write_all(chunk)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        match tcp.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    let written = w.join().unwrap();
    // A reset reaches whichever call on the socket comes first: when the writer thread's send
    // takes it, the kernel reports end of input to the reader afterwards. The application has
    // still been told: by the write.
    let end = match (end, written) {
        (Ok(()), Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(e),
        (end, _) => end,
    };
    (got, end)
}

/// Deterministic test data that never repeats within a few MB.
pub(crate) fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A file's permission bits.
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Held by the load tests, so that they do not share the two cores with each other.
pub(crate) static HEAVY: Mutex<()> = Mutex::new(());

/// Takes [`HEAVY`], even if a previous holder panicked.
pub(crate) fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
