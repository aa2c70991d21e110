//! `handfast demo`: the whole story in one process, on loopback, with throwaway keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use handfast::ProtectionLevel;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::config::{ClientOptions, ServerOptions, TuningOptions, defaults};
use crate::keys;
use crate::mechanisms::{KerberosOptions, MechanismKind, X509Options};
use crate::service::{ClientService, Events, ServerService, Service};
use crate::tunnel;

const MESSAGE: &[u8] = b"account=42 balance=1000.00";
const BULK: usize = 128 * 1024 * 1024;
/// Stream-mode record overhead: 4-byte header + 16-byte tag.
const OVERHEAD: usize = 20;

/// Everything the sections share: throwaway key files, the service, the tunnels and the tap.
struct Demo {
    dir: tempfile::TempDir,
    stop: watch::Receiver<bool>,
    events: mpsc::UnboundedReceiver<String>,
    events_tx: mpsc::UnboundedSender<String>,
    backend: SocketAddr,
    backend_conns: Arc<AtomicUsize>,
    server: SocketAddr,
    tap: Option<WireTap>,
}

pub(crate) async fn run() -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let (events_tx, events) = mpsc::unbounded_channel();
    println!(
        "handfast demo: everything below runs in this process on 127.0.0.1, with throwaway keys."
    );
    let mut demo = Demo {
        dir: tempfile::tempdir().context("a folder for the throwaway keys")?,
        stop,
        events,
        events_tx,
        backend: SocketAddr::from(([127, 0, 0, 1], 0)),
        backend_conns: Arc::default(),
        server: SocketAddr::from(([127, 0, 0, 1], 0)),
        tap: None,
    };
    demo.identities()?;
    demo.service().await?;
    let (privacy, integrity, stranger) = demo.tunnels().await?;
    demo.message(4, ProtectionLevel::Privacy, privacy).await?;
    demo.message(5, ProtectionLevel::Integrity, integrity)
        .await?;
    demo.stranger(stranger).await?;
    demo.tampering(privacy).await?;
    let rates = demo.throughput().await?;
    summary(&rates);
    let _ = stop_tx.send(true);
    Ok(())
}

impl Demo {
    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// 1. Identities: key files, as `handfast keygen` writes them.
    fn identities(&self) -> anyhow::Result<()> {
        section("1. identities (handfast keygen)");
        for (file, comment) in [
            ("server.key", "demo-server"),
            ("client.key", "demo-client"),
            ("stranger.key", "stranger"),
        ] {
            let key = keys::write_pair(&self.key(file), comment)?;
            println!(
                "   {:<8} {}",
                comment.trim_start_matches("demo-"),
                key.public_key("")
            );
        }
        Ok(())
    }

    /// 2. A plain service with no authentication and no protection: an echo server.
    async fn service(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        self.backend = listener.local_addr()?;
        tokio::spawn(echo_service(listener, self.backend_conns.clone()));
        section("2. a service with no security of its own");
        println!("   echo service on {}", self.backend);
        Ok(())
    }

    /// 3. The tunnels, from the same options `handfast server` and `handfast client` take, and
    ///    a wire tap between them.
    async fn tunnels(&mut self) -> anyhow::Result<(SocketAddr, SocketAddr, SocketAddr)> {
        let server = ServerOptions {
            name: Some("server".into()),
            listen: "127.0.0.1:0".into(),
            forward: self.backend.to_string(),
            mechanism: MechanismKind::Noise,
            key: Some(self.key("server.key")),
            allow: Some(keys::pub_path(&self.key("client.key"))),
            x509: X509Options::default(),
            kerberos: KerberosOptions::default(),
            min_level: ProtectionLevel::Integrity,
            handshake_timeout: defaults::HANDSHAKE_TIMEOUT,
            max_connections: 64,
            max_handshakes: 64,
            max_handshakes_per_source: 64,
            tuning: tuning(),
        };
        let mut server = ServerService::load(server, "server")?;
        server.events = Events::to(self.events_tx.clone());
        self.server = self.spawn(Service::Server(Arc::new(server))).await?;
        let tap = WireTap::start(self.server).await?;
        let tapped = tap.addr;
        self.tap = Some(tap);
        let privacy = self
            .client("client.key", ProtectionLevel::Privacy, tapped)
            .await?;
        let integrity = self
            .client("client.key", ProtectionLevel::Integrity, tapped)
            .await?;
        let stranger = self
            .client("stranger.key", ProtectionLevel::Privacy, tapped)
            .await?;
        section("3. tunnels (handfast server / handfast client)");
        println!(
            "   server tunnel   {} -> {}   allows: demo-client   minimum level: integrity",
            self.server, self.backend
        );
        println!(
            "   wire tap        {tapped} -> {}   (shows what an observer on the network sees)",
            self.server
        );
        println!("   client tunnel   {privacy} -> tap   pins demo-server, asks for privacy");
        println!("   client tunnel   {integrity} -> tap   pins demo-server, asks for integrity");
        Ok((privacy, integrity, stranger))
    }

    async fn client(
        &self,
        key: &str,
        level: ProtectionLevel,
        to: SocketAddr,
    ) -> anyhow::Result<SocketAddr> {
        let options = ClientOptions {
            name: Some("client".into()),
            listen: "127.0.0.1:0".into(),
            connect: to.to_string(),
            mechanism: MechanismKind::Noise,
            key: Some(self.key(key)),
            server_key: Some(keys::pub_path(&self.key("server.key"))),
            x509: X509Options::default(),
            kerberos: KerberosOptions::default(),
            level,
            handshake_timeout: defaults::HANDSHAKE_TIMEOUT,
            warm: 0,
            tuning: tuning(),
        };
        self.spawn(Service::Client(Arc::new(ClientService::load(
            options, "client",
        )?)))
        .await
    }

    async fn spawn(&self, svc: Service) -> anyhow::Result<SocketAddr> {
        let listener = crate::socket::bind(svc.listen()).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(tunnel::accept_loop(listener, svc, self.stop.clone()));
        Ok(addr)
    }

    /// 4 and 5. One message at `level`, and what the tap saw of it.
    async fn message(
        &mut self,
        n: u8,
        level: ProtectionLevel,
        addr: SocketAddr,
    ) -> anyhow::Result<()> {
        section(&format!("{n}. a message at {level}"));
        let mut app = TcpStream::connect(addr).await?;
        app.write_all(MESSAGE).await?;
        let mut echo = vec![0u8; MESSAGE.len()];
        app.read_exact(&mut echo)
            .await
            .context("echo through the tunnels")?;
        println!(
            "   the application sent {:?} and got it back intact: {}",
            text(MESSAGE),
            echo == MESSAGE
        );
        narrate(&mut self.events, "established").await;
        let wire = self
            .tap
            .as_ref()
            .map(|t| t.last_record(MESSAGE.len() + OVERHEAD))
            .unwrap_or_default();
        println!(
            "   on the wire ({} bytes for a {}-byte message):",
            wire.len(),
            MESSAGE.len()
        );
        hexdump(&wire);
        if wire.windows(MESSAGE.len()).any(|w| w == MESSAGE) {
            println!(
                "   -> readable by anyone on the path, but any change to it is detected (16-byte tag)."
            );
        } else {
            println!("   -> ciphertext: the message is not visible; any change to it is detected.");
        }
        app.shutdown().await?;
        let _ = app.read(&mut [0u8; 1]).await;
        narrate(&mut self.events, "closed").await;
        Ok(())
    }

    /// 6. A client whose key the server does not allow.
    async fn stranger(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        section("6. a client with a key the server does not allow");
        let before = self.backend_conns.load(Ordering::SeqCst);
        // The client tunnel accepts, fails its handshake and resets the connection, which on a
        // busy machine can all happen before this task sees its connect complete: then the reset
        // arrives as the connect's own error. Either way it is the outcome to show.
        let outcome = match TcpStream::connect(addr).await {
            Ok(mut app) => {
                let _ = app.write_all(MESSAGE).await;
                app.read(&mut [0u8; 64]).await
            }
            Err(e) => Err(e),
        };
        println!("   the stranger's application: {}", describe_end(outcome));
        narrate(&mut self.events, "refused").await;
        println!(
            "   connections the service received from the stranger: {}",
            self.backend_conns.load(Ordering::SeqCst) - before
        );
        Ok(())
    }

    /// 7. One bit flipped on the wire.
    async fn tampering(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        section("7. one bit flipped on the wire");
        let mut app = TcpStream::connect(addr).await?;
        app.write_all(b"first").await?;
        let mut got = [0u8; 5];
        app.read_exact(&mut got).await?;
        narrate(&mut self.events, "established").await;
        if let Some(tap) = &self.tap {
            tap.flip_next.store(true, Ordering::SeqCst);
        }
        let _ = app.write_all(b"second message, tampered in transit").await;
        let mut rest = Vec::new();
        let outcome = app.read_to_end(&mut rest).await.map(|_| rest.len());
        println!(
            "   the application received {:?} intact, then: {}",
            text(&got),
            describe_end(outcome)
        );
        narrate(&mut self.events, "closed").await;
        Ok(())
    }

    /// 8. Throughput, without the tap.
    async fn throughput(&mut self) -> anyhow::Result<Vec<(ProtectionLevel, f64)>> {
        section(&format!(
            "8. throughput: {} MiB each way through both tunnels, echoed",
            BULK >> 20
        ));
        let mut rates = Vec::new();
        for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
            let addr = self.client("client.key", level, self.server).await?;
            let rate = bulk(addr).await?;
            narrate(&mut self.events, "established").await;
            println!("   {:<9} {rate:>8.0} MB/s", level.as_str());
            rates.push((level, rate));
            narrate(&mut self.events, "closed").await;
        }
        Ok(rates)
    }
}

fn tuning() -> TuningOptions {
    TuningOptions {
        max_record_size: defaults::MAX_RECORD_SIZE,
        max_handshake_message: None,
        key_update_interval: 0,
        idle_timeout: 0.0,
        keepalive: defaults::KEEPALIVE,
    }
}

fn summary(rates: &[(ProtectionLevel, f64)]) {
    section("summary");
    println!("   both ends proved who they are before any byte reached the service;");
    println!("   privacy hid the message, integrity showed it but protected it;");
    println!(
        "   the stranger never reached the service; the flipped bit ended the connection with a reset."
    );
    for (level, rate) in rates {
        println!(
            "   {:<9} {rate:>8.0} MB/s (echo through two tunnels on one machine)",
            level.as_str()
        );
    }
    println!("\nNext: README.md shows how to protect Redis with the same tunnels.");
}

fn section(title: &str) {
    println!("\n{title}");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Prints the next server-side event containing `word`.
async fn narrate(events: &mut mpsc::UnboundedReceiver<String>, word: &str) {
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(e) = events.recv() => if e.contains(word) {
                println!("   server log: {e}");
                return;
            },
            () = &mut deadline => return,
        }
    }
}

fn describe_end(r: std::io::Result<usize>) -> String {
    match r {
        Ok(0) => "connection closed".into(),
        Ok(n) => format!("{n} unexpected bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            "connection reset (not a clean end)".into()
        }
        Err(e) => format!("error: {e}"),
    }
}

fn hexdump(b: &[u8]) {
    for chunk in b.chunks(16) {
        let hex: Vec<String> = chunk.iter().map(|x| format!("{x:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&c| {
                if c.is_ascii_graphic() || c == b' ' {
                    c as char
                } else {
                    '.'
                }
            })
            .collect();
        println!("     {:<48} |{ascii}|", hex.join(" "));
    }
}

async fn echo_service(listener: TcpListener, conns: Arc<AtomicUsize>) {
    while let Ok((mut tcp, _)) = listener.accept().await {
        conns.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let (mut r, mut w) = tcp.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

/// Sends `BULK` bytes through `addr` and reads the echo; returns MB/s each way.
async fn bulk(addr: std::net::SocketAddr) -> anyhow::Result<f64> {
    let app = TcpStream::connect(addr).await?;
    app.set_nodelay(true)?;
    let (mut r, mut w) = app.into_split();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; 256 * 1024];
        let mut left = BULK;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&chunk[..n]).await?;
            left -= n;
        }
        w.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        anyhow::ensure!(buf[..n].iter().all(|&b| b == 0x5a), "echoed data corrupted");
        total += n;
    }
    writer.await??;
    anyhow::ensure!(total == BULK, "echoed {total} of {BULK} bytes");
    Ok(BULK as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// The client-to-server bytes of one tapped connection.
type Capture = Arc<Mutex<Vec<u8>>>;

/// A TCP relay that records the client-to-server bytes of each connection and can flip a bit.
struct WireTap {
    addr: std::net::SocketAddr,
    captures: Arc<Mutex<Vec<Capture>>>,
    flip_next: Arc<AtomicBool>,
}

impl WireTap {
    async fn start(upstream: std::net::SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let tap = Self {
            addr: listener.local_addr()?,
            captures: Arc::default(),
            flip_next: Arc::default(),
        };
        let (captures, flip) = (tap.captures.clone(), tap.flip_next.clone());
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let capture = Arc::new(Mutex::new(Vec::new()));
                if let Ok(mut c) = captures.lock() {
                    c.push(capture.clone());
                }
                tokio::spawn(relay(down, up, capture, flip.clone()));
            }
        });
        Ok(tap)
    }

    /// The last `len` client-to-server bytes of the newest connection.
    fn last_record(&self, len: usize) -> Vec<u8> {
        let captures = self
            .captures
            .lock()
            .map(|c| c.last().cloned())
            .ok()
            .flatten();
        let Some(capture) = captures else {
            return Vec::new();
        };
        let bytes = capture.lock().map(|b| b.clone()).unwrap_or_default();
        bytes[bytes.len().saturating_sub(len)..].to_vec()
    }
}

async fn relay(
    down: TcpStream,
    up: TcpStream,
    capture: Arc<Mutex<Vec<u8>>>,
    flip: Arc<AtomicBool>,
) {
    let (mut dr, mut dw) = down.into_split();
    let (mut ur, mut uw) = up.into_split();
    let to_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match dr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if flip.swap(false, Ordering::SeqCst) {
                buf[n / 2] ^= 0x01;
            }
            if let Ok(mut c) = capture.lock()
                && c.len() < 64 * 1024
            {
                c.extend_from_slice(&buf[..n]);
            }
            if uw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = uw.shutdown().await;
    };
    let to_client = async move {
        let _ = tokio::io::copy(&mut ur, &mut dw).await;
        let _ = dw.shutdown().await;
    };
    tokio::join!(to_server, to_client);
}
