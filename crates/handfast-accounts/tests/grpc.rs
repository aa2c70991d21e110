//! Real tonic clients and servers over TCP on 127.0.0.1, through handfast: levels, the policy,
//! streams both ways, concurrency on one connection, cuts, strangers, and both mechanisms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use handfast::ProtectionLevel::{self, Integrity, Privacy};
use handfast::mechanism::Mechanism;
use handfast::{ClientConfig, ServerConfig};
use handfast_accounts::messages::{BalanceRequest, Chunk, TransferRequest};
use handfast_accounts::{AccountsClient, AccountsServer, Bank};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::transport::Channel;

fn key(name: &str) -> PrivateKey {
    let seed = match name {
        "server" => [1; 32],
        "teller" => [2; 32],
        "web" => [3; 32],
        _ => [4; 32],
    };
    PrivateKey::from_seed(seed).with_comment(name)
}

/// A running server: its address and how many connections it has accepted.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

async fn serve(mechanism: Arc<dyn Mechanism>) -> Server {
    serve_with(mechanism, Default::default()).await
}

async fn serve_with(
    mechanism: Arc<dyn Mechanism>,
    options: handfast_tonic::server::Options,
) -> Server {
    let config = Arc::new(ServerConfig::new(mechanism).with_min_level(Integrity));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let incoming = handfast_tonic::server::incoming(listener, config, options).map(move |c| {
        count.fetch_add(1, Ordering::SeqCst);
        c
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(handfast_accounts::policy().layer())
            .add_service(AccountsServer::new(Bank::default()))
            .serve_with_incoming(incoming),
    );
    Server { addr, connections }
}

/// A Noise server allowing `teller` and `web`.
async fn noise_server() -> Server {
    serve(noise_server_mechanism()).await
}

fn noise_server_mechanism() -> Arc<dyn Mechanism> {
    let allowed = TrustSet::from([
        key("teller").public_key("teller"),
        key("web").public_key("web"),
    ]);
    Arc::new(NoiseMechanism::new(key("server"), allowed))
}

fn noise_client(name: &str, level: ProtectionLevel) -> Arc<ClientConfig> {
    let m = NoiseMechanism::new(
        key(name),
        TrustSet::from([key("server").public_key("server")]),
    );
    Arc::new(ClientConfig::new(Arc::new(m)).with_level(level))
}

async fn client(addr: SocketAddr, config: Arc<ClientConfig>) -> AccountsClient<Channel> {
    let channel = handfast_tonic::client::connect(&addr.to_string(), config)
        .await
        .unwrap();
    AccountsClient::new(channel)
}

fn balance(account: &str) -> BalanceRequest {
    BalanceRequest {
        account: account.into(),
    }
}

fn transfer(cents: i64) -> TransferRequest {
    TransferRequest {
        from: "alice".into(),
        to: "bob".into(),
        cents,
    }
}

#[tokio::test]
async fn each_request_carries_the_callers_identity_and_level() {
    let server = noise_server().await;
    for (name, level) in [("web", Integrity), ("web", Privacy), ("teller", Privacy)] {
        let mut c = client(server.addr, noise_client(name, level)).await;
        let b = c.get_balance(balance("alice")).await.unwrap().into_inner();
        assert_eq!((b.cents, b.caller.as_str()), (10_000, name));
        assert_eq!(b.level, level.to_string());
    }
}

#[tokio::test]
async fn a_method_below_its_level_or_from_another_caller_never_reaches_its_handler() {
    let server = noise_server().await;
    // Below its level: the teller, at integrity.
    let mut c = client(server.addr, noise_client("teller", Integrity)).await;
    let e = c.transfer(transfer(100)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("accounts.Accounts/Transfer requires privacy (the rule of method accounts.Accounts/Transfer); this connection runs at integrity"),
        "{}",
        e.message()
    );
    // The wrong caller, at privacy.
    let mut web = client(server.addr, noise_client("web", Privacy)).await;
    let e = web.transfer(transfer(100)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains(
            "caller \"web\" is not allowed (the rule of method accounts.Accounts/Transfer)"
        ),
        "{}",
        e.message()
    );
    // A streaming method with the default rule, at integrity.
    let e = c.statement(balance("alice")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("the default rule"), "{}", e.message());
    // Nothing moved; the teller at privacy may.
    let mut teller = client(server.addr, noise_client("teller", Privacy)).await;
    let b = teller
        .get_balance(balance("alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.cents, 10_000);
    let r = teller.transfer(transfer(250)).await.unwrap().into_inner();
    assert_eq!((r.from_cents, r.teller.as_str()), (9_750, "teller"));
}

#[tokio::test]
async fn streams_flow_both_ways_at_both_levels() {
    let server = noise_server().await;
    for level in [Integrity, Privacy] {
        let mut c = client(server.addr, noise_client("web", level)).await;
        // Client and server streaming: every chunk echoed, in order, sizes up to 1 MiB.
        let sizes: Vec<usize> = (0..40).map(|i| (i * 26_713) % (1 << 20) + 1).collect();
        let chunks: Vec<Chunk> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Chunk {
                data: vec![i as u8; n],
            })
            .collect();
        let mut back = c
            .exchange(tokio_stream::iter(chunks.clone()))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(chunk) = back.next().await {
            got.push(chunk.unwrap());
        }
        assert!(got == chunks, "{level}: echo differs");
        if level == Privacy {
            let entries: Vec<_> = c
                .statement(balance("bob"))
                .await
                .unwrap()
                .into_inner()
                .collect::<Result<_, _>>()
                .await
                .unwrap();
            assert_eq!(entries.len(), 2);
            assert_eq!(entries[0].cents, 5_000);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_share_one_connection() {
    let server = noise_server().await;
    let c = client(server.addr, noise_client("web", Integrity)).await;
    let calls: Vec<_> = (0..500)
        .map(|i| {
            let mut c = c.clone();
            tokio::spawn(async move {
                let account = if i % 2 == 0 { "alice" } else { "bob" };
                c.get_balance(balance(account))
                    .await
                    .map(|r| r.into_inner().cents)
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let cents = call.await.unwrap().unwrap();
        assert_eq!(cents, if i % 2 == 0 { 10_000 } else { 5_000 });
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

/// A relay that passes `limit` bytes from the server and then closes both sides with a plain
/// TCP FIN: no handfast close was sent.
async fn cutting_relay(upstream: SocketAddr, limit: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
        });
        let mut passed = 0;
        let mut buf = vec![0u8; 16 * 1024];
        while passed < limit {
            let n = sr.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            let n = n.min(limit - passed);
            cw.write_all(&buf[..n]).await.unwrap();
            passed += n;
        }
        let _ = cw.shutdown().await;
    });
    addr
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_an_error_not_an_end() {
    let server = noise_server().await;
    let relay = cutting_relay(server.addr, 300 * 1024).await;
    let mut c = client(relay, noise_client("web", Integrity)).await;
    let chunks = (0..64).map(|_| Chunk {
        data: vec![7; 64 * 1024],
    });
    let mut back = c
        .exchange(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), back.next()).await {
            Ok(Some(Ok(chunk))) => received += chunk.data.len(),
            Ok(Some(Err(status))) => break Ok(status),
            Ok(None) => break Err("a clean end of stream"),
            Err(_) => break Err("no end at all"),
        }
    };
    let status = end.unwrap_or_else(|e| panic!("after {received} bytes: {e}"));
    assert!(received < 64 * 64 * 1024, "everything arrived");
    assert_ne!(status.code(), Code::Ok);
}

/// One round trip: the client's side of the handshake is complete when it sends its last
/// flight, so its channel exists; the server's refusal (an alert instead of data) fails the
/// first call, and the server never serves the connection.
#[tokio::test]
async fn an_unknown_key_is_refused_before_any_call_is_served() {
    let server = noise_server().await;
    let mut c = client(server.addr, noise_client("stranger", Privacy)).await;
    let e = c.get_balance(balance("alice")).await.unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    // A known key on the same server is served.
    let mut web = client(server.addr, noise_client("web", Privacy)).await;
    web.get_balance(balance("alice")).await.unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn certificates_and_spiffe_ids_work_the_same() {
    use handfast_x509::ca::{Authority, KeyType, Request, Usage};
    use handfast_x509::{AllowList, Credentials, Rule, SpiffeId, TrustBundle, X509Mechanism};
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let ca = Authority::init("test CA", Duration::from_secs(3600)).unwrap();
    let trust = TrustBundle::from_der(vec![
        CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap(),
    ])
    .unwrap();
    let mechanism = |me: &str, allow: &str| -> Arc<dyn Mechanism> {
        let issued = ca
            .issue(&Request {
                spiffe_id: Some(SpiffeId::parse(me).unwrap()),
                dns_names: vec![],
                common_name: None,
                lifetime: Duration::from_secs(3600),
                usage: Usage::Both,
                key_type: KeyType::EcdsaP256,
            })
            .unwrap();
        let creds = Credentials::from_der(
            vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        Arc::new(
            X509Mechanism::new(
                creds,
                trust.clone(),
                AllowList::new([Rule::spiffe(allow).unwrap()]),
            )
            .unwrap(),
        )
    };
    let server = serve(mechanism(
        "spiffe://bank.test/accounts",
        "spiffe://bank.test/*",
    ))
    .await;
    let mut config = ClientConfig::new(mechanism(
        "spiffe://bank.test/web",
        "spiffe://bank.test/accounts",
    ));
    config.limits.max_handshake_message = 16 * 1024;
    let mut c = client(server.addr, Arc::new(config.with_level(Integrity))).await;
    let b = c.get_balance(balance("alice")).await.unwrap().into_inner();
    assert_eq!(b.caller, "spiffe://bank.test/web");
    assert_eq!(b.level, "integrity");
    // The teller rule names `teller`: a SPIFFE ID is not it.
    let e = c.transfer(transfer(1)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
}

/// Strangers who connect and say nothing, four times the pre-authentication budget, do not
/// keep a caller out: the oldest of them are dropped to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_strangers_past_the_budget_do_not_keep_callers_out() {
    // One address, with a share larger than the whole budget: the overall limit evicts.
    let options = handfast_tonic::server::Options {
        max_handshakes: 16,
        max_handshakes_per_source: 1024,
        ..Default::default()
    };
    let server = serve_with(noise_server_mechanism(), options).await;
    let mut silent = Vec::new();
    for _ in 0..64 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = std::time::Instant::now();
    let mut c = client(server.addr, noise_client("web", Privacy)).await;
    c.get_balance(balance("alice")).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // The oldest strangers were dropped: reading their sockets ends.
    let mut first = silent.remove(0);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), first.read(&mut buf))
        .await
        .expect("the oldest stranger was not dropped")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

/// Authenticated connections beyond `max_connections` are dropped; closing one frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_connections_are_limited_too() {
    let options = handfast_tonic::server::Options {
        max_connections: 2,
        ..Default::default()
    };
    let server = serve_with(noise_server_mechanism(), options).await;
    let mut a = client(server.addr, noise_client("web", Privacy)).await;
    let mut b = client(server.addr, noise_client("web", Privacy)).await;
    a.get_balance(balance("alice")).await.unwrap();
    b.get_balance(balance("alice")).await.unwrap();
    let mut c = client(server.addr, noise_client("web", Privacy)).await;
    assert!(
        c.get_balance(balance("alice")).await.is_err(),
        "a third connection was served"
    );
    drop(a);
    // The first connection's place comes back once the server sees it close.
    let mut served = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut d = client(server.addr, noise_client("web", Privacy)).await;
        if d.get_balance(balance("alice")).await.is_ok() {
            served = true;
            break;
        }
    }
    assert!(served, "the closed connection's place was not freed");
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}
