//! Figures for the Kerberos mechanism, on a throwaway MIT realm on loopback, in one process:
//!
//! - mutual handshakes per second with the service ticket in the cache, against the Noise
//!   mechanism on the same in-memory harness (both one round trip);
//! - throughput of 16 KiB messages (protect + verify, one thread) at both levels: native mode
//!   (handfast's record layer) against GSS mode (`gss_wrap`/`gss_unwrap` of MIT krb5,
//!   aes256-cts-hmac-sha1-96).
//!
//! `ROUNDS` rounds (default 3) of `SECS` seconds (default 1) per figure, contenders turn by
//! turn within each round; it prints each round, the median and the worst ratio.
//!
//! ```text
//! cargo run --release -p handfast-krb5 --example krb5_bench
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    unsafe_code
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::mechanism::Mechanism;
use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use handfast_conformance::pair::handshake;
use handfast_krb5::gss::{GssClient, GssContext, GssMechanism, GssServer};
use handfast_krb5::realm::Realm;
use handfast_krb5::{AllowList, ClientCredentials, KerberosMechanism, Keytab, Rule, Service};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_second(secs: f64, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut units = 0u64;
    while start.elapsed() < limit {
        units += f();
    }
    units as f64 / start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = env_or("ROUNDS", 3);
    let secs: f64 = env_or("SECS", 1.0);
    let realm = Realm::temporary(300).unwrap();
    let dir = realm.dir().to_path_buf();
    for (k, v) in realm.env() {
        // SAFETY: main has started no other thread yet, and nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var(k, v) };
    }
    let keytab = dir.join("service.keytab");
    realm.add_service("host/localhost", &keytab).unwrap();
    realm.add_user("alice", "alice-pw").unwrap();
    let ccache = format!("FILE:{}", dir.join("alice.ccache").display());
    realm.kinit("alice", "alice-pw", &ccache, None).unwrap();

    let service = Service::parse("host@localhost").unwrap();
    let credentials = ClientCredentials::Cache(ccache.clone());
    let allow = AllowList::new([Rule::parse("alice@HANDFAST.TEST").unwrap()]);
    let krb_client: Arc<dyn Mechanism> = Arc::new(
        KerberosMechanism::client(Service::parse("host@localhost").unwrap(), &credentials).unwrap(),
    );
    let krb_server: Arc<dyn Mechanism> =
        Arc::new(KerberosMechanism::server(&Keytab::File(keytab.clone()), allow.clone()).unwrap());
    let (ck, sk) = (
        PrivateKey::from_seed([1; 32]),
        PrivateKey::from_seed([2; 32]),
    );
    let noise_client: Arc<dyn Mechanism> = Arc::new(NoiseMechanism::new(
        ck.clone(),
        TrustSet::from([sk.public_key("s")]),
    ));
    let noise_server: Arc<dyn Mechanism> = Arc::new(NoiseMechanism::new(
        sk,
        TrustSet::from([ck.public_key("c")]),
    ));
    // The first handshake puts the service ticket in the cache.
    handshake(
        ClientConfig::new(krb_client.clone()),
        ServerConfig::new(krb_server.clone()),
    )
    .both();

    println!(
        "handshakes per second (in memory, one thread, service ticket cached), {rounds} rounds of {secs} s"
    );
    let (mut k, mut n, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let hs = |c: &Arc<dyn Mechanism>, s: &Arc<dyn Mechanism>| {
            per_second(secs, || {
                black_box(
                    handshake(ClientConfig::new(c.clone()), ServerConfig::new(s.clone())).both(),
                );
                1
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = hs(&krb_client, &krb_server);
            (a, hs(&noise_client, &noise_server))
        } else {
            let b = hs(&noise_client, &noise_server);
            (hs(&krb_client, &krb_server), b)
        };
        println!(
            "  round {}: kerberos {a:.0}/s  noise {b:.0}/s  ratio {:.2}",
            round + 1,
            a / b
        );
        k.push(a);
        n.push(b);
        r.push(a / b);
    }
    let worst = r.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "  median: kerberos {:.0}/s, noise {:.0}/s, kerberos/noise {:.2} (worst round {worst:.2})",
        median(&mut k),
        median(&mut n),
        median(&mut r)
    );

    let msg = vec![0x5au8; 16 * 1024];
    println!("\nthroughput of 16 KiB messages, protect + verify (one thread), MB/s");
    let (mut native, mut gss) = (
        handshake(
            ClientConfig::new(krb_client.clone()).with_level(ProtectionLevel::Integrity),
            ServerConfig::new(krb_server.clone()).with_min_level(ProtectionLevel::Integrity),
        )
        .both(),
        gss_pair(&service, &credentials, &keytab, allow),
    );
    for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
        let (mut a_v, mut b_v, mut r_v) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let a = per_second(secs, || {
                let rec = native.0.seal(level, &msg).unwrap();
                black_box(native.1.open(&rec).unwrap());
                msg.len() as u64
            }) / 1e6;
            let b = per_second(secs, || {
                let tok = gss.0.wrap(level, &msg).unwrap();
                black_box(gss.1.unwrap(&tok).unwrap());
                msg.len() as u64
            }) / 1e6;
            a_v.push(a);
            b_v.push(b);
            r_v.push(a / b);
        }
        let worst = r_v.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "  {level:<9} native {:>7.0}  gss mode {:>7.0}  native/gss {:.2} (worst round {worst:.2})",
            median(&mut a_v),
            median(&mut b_v),
            median(&mut r_v)
        );
    }
}

fn gss_pair(
    service: &Service,
    credentials: &ClientCredentials,
    keytab: &std::path::Path,
    allow: AllowList,
) -> (GssContext, GssContext) {
    let mut c = GssClient::new(service, credentials, GssMechanism::Kerberos).unwrap();
    let mut s = GssServer::new(&Keytab::File(keytab.to_path_buf()), Arc::new(allow)).unwrap();
    let mut token = c.step(None).unwrap();
    while let Some(t) = token.take() {
        if let Some(reply) = s.step(&t).unwrap() {
            token = c.step(Some(&reply)).unwrap();
        }
    }
    (
        c.into_context(ProtectionLevel::Integrity).unwrap(),
        s.into_context(ProtectionLevel::Integrity).unwrap(),
    )
}
