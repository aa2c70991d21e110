//! `handfast demo`: the whole story in one process, on loopback, with throwaway keys.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::config::Tuning;
use crate::keys;
use crate::tunnel::{self, ClientService, Events, ServerService, Service};

const MESSAGE: &[u8] = b"account=42 balance=1000.00";
const BULK: usize = 128 * 1024 * 1024;
/// Stream-mode record overhead: 4-byte header + 16-byte tag.
const OVERHEAD: usize = 20;

pub(crate) async fn run() -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let (events_tx, mut events) = mpsc::unbounded_channel();

    println!(
        "handfast demo: everything below runs in this process on 127.0.0.1, with throwaway keys."
    );

    // 1. Identities.
    let server_key = keys::generate()?.with_comment("demo-server");
    let client_key = keys::generate()?.with_comment("demo-client");
    let stranger_key = keys::generate()?.with_comment("stranger");
    section("1. identities (handfast keygen)");
    println!("   server   {}", server_key.public_key(""));
    println!("   client   {}", client_key.public_key(""));
    println!("   stranger {}", stranger_key.public_key(""));

    // 2. A plain service with no authentication and no protection: an echo server.
    let backend = TcpListener::bind("127.0.0.1:0").await?;
    let backend_addr = backend.local_addr()?;
    let backend_conns = Arc::new(AtomicUsize::new(0));
    tokio::spawn(echo_service(backend, backend_conns.clone()));
    section("2. a service with no security of its own");
    println!("   echo service on {backend_addr}");

    // 3. The tunnels, and a wire tap between them.
    let server_listener = tunnel::bind("127.0.0.1:0").await?;
    let server_addr = server_listener.local_addr()?;
    let allow = TrustSet::from([client_key.public_key("")]);
    let server = ServerService {
        name: "server".into(),
        listen: server_addr.to_string(),
        forward: backend_addr.to_string(),
        config: Arc::new(
            ServerConfig::new(Arc::new(NoiseMechanism::new(server_key.clone(), allow)))
                .with_min_level(ProtectionLevel::Integrity),
        ),
        max_connections: 64,
        allowed_keys: 1,
        events: Events::to(events_tx.clone()),
        tuning: Tuning::default(),
    };
    tokio::spawn(tunnel::accept_loop(
        server_listener,
        Service::Server(Arc::new(server)),
        stop.clone(),
    ));
    let tap = WireTap::start(server_addr).await?;
    let client = |key: &PrivateKey, level, to: String| -> anyhow::Result<ClientService> {
        let pinned = TrustSet::from([server_key.public_key("")]);
        Ok(ClientService {
            name: "client".into(),
            listen: "127.0.0.1:0".into(),
            connect: to,
            config: Arc::new(
                ClientConfig::new(Arc::new(NoiseMechanism::new(key.clone(), pinned)))
                    .with_level(level),
            ),
            server_fingerprint: server_key.public_key("").fingerprint(),
            events: Events::default(),
            tuning: Tuning::default(),
        })
    };
    let tapped = tap.addr.to_string();
    let privacy = spawn_client(
        client(&client_key, ProtectionLevel::Privacy, tapped.clone())?,
        &stop,
    )
    .await?;
    let integrity = spawn_client(
        client(&client_key, ProtectionLevel::Integrity, tapped.clone())?,
        &stop,
    )
    .await?;
    let stranger = spawn_client(
        client(&stranger_key, ProtectionLevel::Privacy, tapped)?,
        &stop,
    )
    .await?;
    section("3. tunnels (handfast server / handfast client)");
    println!(
        "   server tunnel   {server_addr} -> {backend_addr}   allows: demo-client   minimum level: integrity"
    );
    println!(
        "   wire tap        {} -> {server_addr}   (shows what an observer on the network sees)",
        tap.addr
    );
    println!("   client tunnel   {privacy} -> tap   pins demo-server, asks for privacy");
    println!("   client tunnel   {integrity} -> tap   pins demo-server, asks for integrity");

    // 4 and 5. One message at each level.
    for (n, level, addr) in [
        (4, ProtectionLevel::Privacy, privacy),
        (5, ProtectionLevel::Integrity, integrity),
    ] {
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
        narrate(&mut events, "established").await;
        let wire = tap.last_record(MESSAGE.len() + OVERHEAD);
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
        narrate(&mut events, "closed").await;
    }

    // 6. A stranger.
    section("6. a client with a key the server does not allow");
    let before = backend_conns.load(Ordering::SeqCst);
    let mut app = TcpStream::connect(stranger).await?;
    let _ = app.write_all(MESSAGE).await;
    let outcome = app.read(&mut [0u8; 64]).await;
    println!("   the stranger's application: {}", describe_end(outcome));
    narrate(&mut events, "refused").await;
    println!(
        "   connections the service received from the stranger: {}",
        backend_conns.load(Ordering::SeqCst) - before
    );

    // 7. Tampering.
    section("7. one bit flipped on the wire");
    let mut app = TcpStream::connect(privacy).await?;
    app.write_all(b"first").await?;
    let mut got = [0u8; 5];
    app.read_exact(&mut got).await?;
    narrate(&mut events, "established").await;
    tap.flip_next.store(true, Ordering::SeqCst);
    let _ = app.write_all(b"second message, tampered in transit").await;
    let mut rest = Vec::new();
    let outcome = app.read_to_end(&mut rest).await.map(|_| rest.len());
    println!(
        "   the application received {:?} intact, then: {}",
        text(&got),
        describe_end(outcome)
    );
    narrate(&mut events, "closed").await;

    // 8. Throughput, without the tap.
    section(&format!(
        "8. throughput: {} MiB each way through both tunnels, echoed",
        BULK >> 20
    ));
    let mut rates = Vec::new();
    for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
        let addr =
            spawn_client(client(&client_key, level, server_addr.to_string())?, &stop).await?;
        let rate = bulk(addr).await?;
        narrate(&mut events, "established").await;
        println!("   {:<9} {rate:>8.0} MB/s", level.as_str());
        rates.push((level, rate));
        narrate(&mut events, "closed").await;
    }

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
    let _ = stop_tx.send(true);
    Ok(())
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

async fn spawn_client(
    svc: ClientService,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tunnel::bind(&svc.listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(tunnel::accept_loop(
        listener,
        Service::Client(Arc::new(svc)),
        stop.clone(),
    ));
    Ok(addr)
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
