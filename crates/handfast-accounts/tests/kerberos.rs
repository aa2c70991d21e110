//! The example service over the Kerberos mechanism, on a throwaway MIT realm: the caller in
//! each request is the principal, and the policy allows and refuses by principal and level,
//! as it does for Noise keys and SPIFFE IDs.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use handfast::ProtectionLevel::{self, Integrity, Privacy};
use handfast::{ClientConfig, ServerConfig};
use handfast_accounts::messages::{BalanceRequest, TransferRequest};
use handfast_accounts::{AccountsClient, AccountsServer, Bank};
use handfast_krb5::realm::Realm;
use handfast_krb5::{AllowList, ClientCredentials, KerberosMechanism, Keytab, Rule, Service};
use handfast_tonic::policy::{Policy, Rule as CallRule};
use tonic::Code;
use tonic::transport::Channel;

struct Kdc {
    _realm: Realm,
    keytab: PathBuf,
    dir: PathBuf,
}

fn kdc() -> &'static Kdc {
    static K: OnceLock<Kdc> = OnceLock::new();
    K.get_or_init(|| {
        let realm = Realm::temporary(300).unwrap();
        for (k, v) in realm.env() {
            // SAFETY: once, inside the OnceLock every test goes through before it uses
            // GSS-API, so no other thread reads the environment meanwhile.
            unsafe { std::env::set_var(k, v) };
        }
        let dir = realm.dir().to_path_buf();
        let keytab = dir.join("service.keytab");
        realm.add_service("host/localhost", &keytab).unwrap();
        for user in ["teller", "alice"] {
            realm.add_user(user, "pw").unwrap();
            let cache = format!("FILE:{}", dir.join(user).display());
            realm.kinit(user, "pw", &cache, None).unwrap();
        }
        Kdc {
            _realm: realm,
            keytab,
            dir,
        }
    })
}

async fn serve() -> SocketAddr {
    let k = kdc();
    let mechanism = KerberosMechanism::server(
        &Keytab::File(k.keytab.clone()),
        AllowList::new([Rule::parse("*@HANDFAST.TEST").unwrap()]),
    )
    .unwrap();
    let config = Arc::new(ServerConfig::new(Arc::new(mechanism)).with_min_level(Integrity));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let policy = Policy::new()
        .method("accounts.Accounts/GetBalance", CallRule::level(Integrity))
        .method(
            "accounts.Accounts/Transfer",
            CallRule::privacy().allow(["teller@HANDFAST.TEST"]),
        );
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(policy.layer())
            .add_service(AccountsServer::new(Bank::default()))
            .serve_with_incoming(handfast_tonic::server::incoming(
                listener,
                config,
                Default::default(),
            )),
    );
    addr
}

async fn client(addr: SocketAddr, user: &str, level: ProtectionLevel) -> AccountsClient<Channel> {
    let cache = format!("FILE:{}", kdc().dir.join(user).display());
    let m = KerberosMechanism::client(
        Service::parse("host@localhost").unwrap(),
        &ClientCredentials::Cache(cache),
    )
    .unwrap();
    let config = Arc::new(ClientConfig::new(Arc::new(m)).with_level(level));
    AccountsClient::new(
        handfast_tonic::client::connect(&addr.to_string(), config)
            .await
            .unwrap(),
    )
}

fn transfer(cents: i64) -> TransferRequest {
    TransferRequest {
        from: "alice".into(),
        to: "bob".into(),
        cents,
    }
}

#[tokio::test]
async fn principals_are_callers_and_the_policy_holds() {
    let addr = serve().await;
    // The teller at privacy may transfer; the handler sees the principal.
    let mut teller = client(addr, "teller", Privacy).await;
    let r = teller.transfer(transfer(100)).await.unwrap().into_inner();
    assert_eq!(r.teller, "teller@HANDFAST.TEST");
    // The teller at integrity may read, not transfer.
    let mut reader = client(addr, "teller", Integrity).await;
    let b = reader
        .get_balance(BalanceRequest {
            account: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.cents, 9_900);
    let e = reader.transfer(transfer(100)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("this connection runs at integrity"),
        "{}",
        e.message()
    );
    // Another principal of the realm, at privacy: authenticated, but not the teller.
    let mut alice = client(addr, "alice", Privacy).await;
    let e = alice.transfer(transfer(100)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message()
            .contains("caller \"alice@HANDFAST.TEST\" is not allowed"),
        "{}",
        e.message()
    );
}
