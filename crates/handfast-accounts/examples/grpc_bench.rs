//! gRPC over handfast against gRPC over rustls with mutual TLS, in one run on 127.0.0.1: the
//! same tonic service, the same HTTP/2 stack, only the transport's security differs.
//!
//! ```sh
//! cargo run --release -p handfast-accounts --example grpc_bench            # 5 rounds
//! ROUNDS=1 SECS=0.2 cargo run --release -p handfast-accounts --example grpc_bench   # smoke
//! ```
//!
//! Rows: unary calls per second on a kept connection (one at a time, and 32 in flight);
//! streaming throughput (the Exchange echo, 16 KiB and 1 MiB messages, counted one way); new
//! connections per second (connect, handshake, one call). handfast runs at privacy and at
//! integrity (Noise keys, with the example's policy layer), and for new connections also with
//! its x509 mechanism on certificates like rustls's; rustls runs TLS 1.3 (tonic's
//! `tls-aws-lc`) with X25519 and ECDSA P-256 certificates on both sides. Both use records of at
//! most 16 KiB, TCP_NODELAY, the same HTTP/2 windows, and client configurations built once.
//! Each round measures every contender in turn, the order turning each round; each figure is
//! the median of the rounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::ProtectionLevel::{Integrity, Privacy};
use handfast::{ClientConfig, ServerConfig};
use handfast_accounts::messages::{
    Balance, BalanceRequest, Chunk, Entry, Receipt, TransferRequest,
};
use handfast_accounts::{AccountsClient, AccountsServer};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
use tokio_stream::StreamExt as _;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};

/// The same handlers behind both transports: a fixed balance, and the echo.
#[derive(Default)]
struct Handlers;

type Stream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl handfast_accounts::proto::accounts_server::Accounts for Handlers {
    async fn get_balance(
        &self,
        request: tonic::Request<BalanceRequest>,
    ) -> Result<tonic::Response<Balance>, tonic::Status> {
        Ok(tonic::Response::new(Balance {
            account: request.into_inner().account,
            cents: 10_000,
            caller: String::new(),
            level: String::new(),
        }))
    }

    async fn transfer(
        &self,
        _: tonic::Request<TransferRequest>,
    ) -> Result<tonic::Response<Receipt>, tonic::Status> {
        Err(tonic::Status::unimplemented("not measured"))
    }

    type StatementStream = Stream<Entry>;

    async fn statement(
        &self,
        _: tonic::Request<BalanceRequest>,
    ) -> Result<tonic::Response<Stream<Entry>>, tonic::Status> {
        Err(tonic::Status::unimplemented("not measured"))
    }

    type ExchangeStream = Stream<Chunk>;

    async fn exchange(
        &self,
        request: tonic::Request<tonic::Streaming<Chunk>>,
    ) -> Result<tonic::Response<Stream<Chunk>>, tonic::Status> {
        Ok(tonic::Response::new(Box::pin(request.into_inner())))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Contender {
    Privacy,
    Integrity,
    Rustls,
    /// handfast's x509 mechanism at privacy: the new-connections row only.
    X509,
}

impl Contender {
    const ALL: [Self; 3] = [Self::Privacy, Self::Integrity, Self::Rustls];

    fn name(self) -> &'static str {
        match self {
            Self::Privacy => "handfast privacy",
            Self::Integrity => "handfast integrity",
            Self::Rustls => "rustls mTLS",
            Self::X509 => "handfast x509 privacy",
        }
    }
}

struct Setup {
    handfast: SocketAddr,
    /// The handfast client configurations, built once: privacy, integrity.
    clients: [Arc<ClientConfig>; 2],
    /// A handfast server with the x509 mechanism, on certificates like rustls's, and its
    /// client configuration (privacy): for the new-connections row.
    x509: (SocketAddr, Arc<ClientConfig>),
    /// The rustls endpoint, its TLS configuration built once.
    rustls: Endpoint,
}

/// Records of at most 16 KiB, as TLS's: neither side gets larger records.
const RECORD: usize = 16 * 1024;

async fn setup() -> Setup {
    // handfast: Noise keys, the example's policy.
    let (server_key, client_key) = (
        PrivateKey::from_seed([1; 32]),
        PrivateKey::from_seed([2; 32]),
    );
    let mechanism = NoiseMechanism::new(
        server_key.clone(),
        TrustSet::from([client_key.public_key("web")]),
    );
    let handfast = serve_handfast(Arc::new(mechanism)).await;
    let clients = [Privacy, Integrity].map(|level| {
        let m = NoiseMechanism::new(
            client_key.clone(),
            TrustSet::from([server_key.public_key("db")]),
        );
        let mut config = ClientConfig::new(Arc::new(m)).with_level(level);
        config.limits.max_record_len = RECORD;
        Arc::new(config)
    });

    // rustls: a CA, a server and a client certificate (ECDSA P-256).
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_pem = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let leaf = |name: &str| {
        let (cert, key) = leaf_pem(name);
        Identity::from_pem(cert, key)
    };
    // The x509 mechanism on the same kind of certificates, from the same CA.
    let x509 = {
        use handfast_x509::{AllowList, Credentials, Rule, TrustBundle, X509Mechanism};
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let trust = TrustBundle::from_der(vec![
            CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap(),
        ])
        .unwrap();
        let mechanism = |name: &str, peer: &str| {
            let (cert, key) = leaf_pem(name);
            let creds = Credentials::from_der(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
            let allow = AllowList::new([Rule::dns(peer).unwrap()]);
            Arc::new(X509Mechanism::new(creds, trust.clone(), allow).unwrap())
        };
        let addr = serve_handfast(mechanism("server.test", "client.test")).await;
        let mut config = ClientConfig::new(mechanism("client.test", "server.test"));
        config.limits.max_record_len = RECORD;
        config.limits.max_handshake_message = 16 * 1024;
        (addr, Arc::new(config))
    };
    let ca_cert = Certificate::from_pem(ca.pem());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rustls = listener.local_addr().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(leaf("server.test"))
        .client_ca_root(ca_cert.clone());
    tokio::spawn(
        windows(Server::builder())
            .tls_config(tls)
            .unwrap()
            .add_service(AccountsServer::new(Handlers))
            .serve_with_incoming(
                // TCP_NODELAY on accepted sockets, as handfast's server sets it: without it
                // Nagle's algorithm stalls TLS handshakes by a delayed ACK each.
                tokio_stream::wrappers::TcpListenerStream::new(listener).map(|tcp| {
                    if let Ok(tcp) = &tcp {
                        let _ = tcp.set_nodelay(true);
                    }
                    tcp
                }),
            ),
    );
    let tls = ClientTlsConfig::new()
        .ca_certificate(ca_cert)
        .identity(leaf("client.test"))
        .domain_name("server.test");
    Setup {
        handfast,
        clients,
        x509,
        rustls: endpoint_windows(Endpoint::from_shared(format!("https://{rustls}")).unwrap())
            .tls_config(tls)
            .unwrap(),
    }
}

/// A handfast server of the handlers with `mechanism`, the example's policy, and records of
/// at most [`RECORD`] bytes.
async fn serve_handfast(mechanism: Arc<dyn handfast::mechanism::Mechanism>) -> SocketAddr {
    let mut config = ServerConfig::new(mechanism).with_min_level(Integrity);
    config.limits.max_record_len = RECORD;
    config.limits.max_handshake_message = 16 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = handfast_tonic::server::incoming(listener, Arc::new(config), Default::default());
    tokio::spawn(
        windows(Server::builder())
            .layer(handfast_accounts::policy().layer())
            .add_service(AccountsServer::new(Handlers))
            .serve_with_incoming(incoming),
    );
    addr
}

/// HTTP/2 flow-control windows large enough that a stream of 1 MiB messages is not held back
/// by them (tonic's defaults are 64 KiB), on both transports alike.
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

fn windows(b: Server) -> Server {
    b.initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
}

fn endpoint_windows(e: Endpoint) -> Endpoint {
    e.initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
}

impl Setup {
    async fn channel(&self, c: Contender) -> Channel {
        let handfast = |addr: SocketAddr, config: &Arc<ClientConfig>| {
            let connector = handfast_tonic::client::Connector::new(config.clone());
            async move {
                endpoint_windows(handfast_tonic::client::endpoint(&addr.to_string()).unwrap())
                    .connect_with_connector(connector)
                    .await
            }
        };
        match c {
            Contender::Privacy => handfast(self.handfast, &self.clients[0]).await,
            Contender::Integrity => handfast(self.handfast, &self.clients[1]).await,
            Contender::X509 => handfast(self.x509.0, &self.x509.1).await,
            Contender::Rustls => self.rustls.connect().await,
        }
        .unwrap()
    }
}

fn request() -> BalanceRequest {
    BalanceRequest {
        account: "alice".into(),
    }
}

/// Calls per second, one at a time, on a kept connection.
async fn unary(setup: &Setup, c: Contender, time: Duration) -> f64 {
    let mut client = AccountsClient::new(setup.channel(c).await);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        client.get_balance(request()).await.unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Calls per second with `inflight` calls at once on one connection.
async fn unary_concurrent(setup: &Setup, c: Contender, time: Duration, inflight: usize) -> f64 {
    let client = AccountsClient::new(setup.channel(c).await);
    let start = Instant::now();
    let tasks: Vec<_> = (0..inflight)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < time {
                    client.get_balance(request()).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut n = 0;
    for t in tasks {
        n += t.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// MB/s one way through the echo stream, with messages of `size` bytes.
async fn stream(setup: &Setup, c: Contender, time: Duration, size: usize) -> f64 {
    let mut client = AccountsClient::new(setup.channel(c).await);
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let mut back = client
        .exchange(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let payload = vec![0x5a; size];
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        while start.elapsed() < time {
            if tx
                .send(Chunk {
                    data: payload.clone(),
                })
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let mut bytes = 0usize;
    while let Some(chunk) = back.next().await {
        bytes += chunk.unwrap().data.len();
    }
    sender.await.unwrap();
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// New connections per second: connect, authenticate, one call.
async fn connections(setup: &Setup, c: Contender, time: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        let mut client = AccountsClient::new(setup.channel(c).await);
        client.get_balance(request()).await.unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = env("ROUNDS", 5.0) as usize;
    let time = Duration::from_secs_f64(env("SECS", 1.0));
    let setup = setup().await;
    let rows: [(&str, &str); 6] = [
        ("unary calls/s, one at a time", "calls/s"),
        ("unary calls/s, 32 in flight", "calls/s"),
        ("stream, 16 KiB messages", "MB/s"),
        ("stream, 1 MiB messages", "MB/s"),
        ("new connections/s (handshake + one call)", "conn/s"),
        ("", ""),
    ];
    let mut samples = vec![vec![Vec::new(); Contender::ALL.len()]; 5];
    let mut x509 = Vec::new();
    // A round of warm-up, unmeasured.
    let _ = unary(&setup, Contender::Privacy, time / 4).await;
    let _ = unary(&setup, Contender::Rustls, time / 4).await;
    for r in 0..rounds {
        eprintln!("round {}/{rounds}", r + 1);
        // The order turns each round, so that no contender always goes first.
        for i in 0..Contender::ALL.len() {
            let k = (i + r) % Contender::ALL.len();
            let c = Contender::ALL[k];
            samples[0][k].push(unary(&setup, c, time).await);
            samples[1][k].push(unary_concurrent(&setup, c, time, 32).await);
            samples[2][k].push(stream(&setup, c, time, 16 * 1024).await);
            samples[3][k].push(stream(&setup, c, time, 1 << 20).await);
            samples[4][k].push(connections(&setup, c, time).await);
        }
        x509.push(connections(&setup, Contender::X509, time).await);
    }
    println!(
        "| row | {} | {} | {} | privacy / rustls | integrity / privacy |",
        Contender::ALL[0].name(),
        Contender::ALL[1].name(),
        Contender::ALL[2].name()
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (i, (row, unit)) in rows.iter().take(5).enumerate() {
        let m: Vec<(f64, f64, f64)> = samples[i].iter().map(|s| median(s.clone())).collect();
        println!(
            "| {row} ({unit}) | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            m[0].1,
            m[1].1,
            m[2].1,
            m[0].1 / m[2].1,
            m[1].1 / m[0].1
        );
    }
    let (x, r) = (median(x509).1, median(samples[4][2].clone()).1);
    println!(
        "\nNew connections/s with handfast's x509 mechanism on the same ECDSA P-256 certificates as rustls: {x:.0} ({:.2} x rustls).",
        x / r
    );
    println!(
        "Median of {rounds} rounds of {:?} per contender and row, the order turning each round; one process, 127.0.0.1; records of at most 16 KiB on both transports.",
        time
    );
}
