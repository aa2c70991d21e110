//! `--mechanism kerberos` end to end, on a throwaway MIT realm (handfast_krb5::realm): a
//! keytab on the server, kinit's ticket on the client, both levels, log lines naming the
//! principals, a principal not allowed, the TOML form, and Redis through the tunnel.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use handfast_krb5::realm::Realm;

use crate::harness::{Daemon, Echo, data, exchange, run};
use crate::redis::{cli, start_redis};

struct Kdc {
    realm: Realm,
    dir: PathBuf,
}

impl Kdc {
    fn p(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.realm.env()
    }

    fn cache(&self, user: &str) -> String {
        format!("FILE:{}", self.p(&format!("{user}.ccache")))
    }
}

/// One realm per test process: alice (allowed) and mallory (not), each with a ticket; the
/// service host/localhost with its keytab; an allow file.
fn kdc() -> &'static Kdc {
    static K: OnceLock<Kdc> = OnceLock::new();
    K.get_or_init(|| {
        let realm = Realm::temporary(300).unwrap();
        let dir = realm.dir().to_path_buf();
        let kdc = Kdc { realm, dir };
        kdc.realm
            .add_service("host/localhost", &kdc.dir.join("service.keytab"))
            .unwrap();
        for user in ["alice", "mallory"] {
            let pw = format!("{user}-pw");
            kdc.realm.add_user(user, &pw).unwrap();
            kdc.realm.kinit(user, &pw, &kdc.cache(user), None).unwrap();
        }
        std::fs::write(
            kdc.dir.join("principals.allow"),
            "# who may use the service\nalice@HANDFAST.TEST\nHTTP/*@HANDFAST.TEST\n",
        )
        .unwrap();
        kdc
    })
}

fn server(forward: &str, extra: &[&str]) -> Daemon {
    let k = kdc();
    let (keytab, allow) = (k.p("service.keytab"), k.p("principals.allow"));
    let mut args = vec![
        "server",
        "--mechanism",
        "kerberos",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        forward,
        "--keytab",
        &keytab,
        "--allow-principals",
        &allow,
    ];
    args.extend_from_slice(extra);
    Daemon::start_with_env(&args, &k.env())
}

fn client(user: &str, connect: &str, extra: &[&str]) -> Daemon {
    let k = kdc();
    let cache = k.cache(user);
    let mut args = vec![
        "client",
        "--mechanism",
        "kerberos",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        connect,
        "--service",
        "host@localhost",
        "--ccache",
        &cache,
    ];
    args.extend_from_slice(extra);
    Daemon::start_with_env(&args, &k.env())
}

#[test]
fn a_kerberos_tunnel_at_both_levels_names_its_principals() {
    let echo = Echo::start();
    let server = server(&echo.addr.to_string(), &["--min-level", "integrity"]);
    assert!(
        server.wait_log(
            "allowing alice@HANDFAST.TEST HTTP/*@HANDFAST.TEST",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    for level in ["privacy", "integrity"] {
        let client = client("alice", &server.addr.to_string(), &["--level", level]);
        let sent = data(1 << 20);
        let (got, end) = exchange(client.addr, &sent);
        assert!(end.is_ok(), "{level}: {end:?}\n{}", server.log());
        assert!(got == sent, "{level}: content differs");
        assert!(
            server.wait_log(
                &format!("level={level} mechanism=kerberos"),
                1,
                Duration::from_secs(5)
            ),
            "{}",
            server.log()
        );
        assert!(
            client.wait_log(
                "peer=\"host/localhost@HANDFAST.TEST\"",
                1,
                Duration::from_secs(5)
            ),
            "{}",
            client.log()
        );
        assert!(
            client
                .log()
                .contains("as alice@HANDFAST.TEST for the service host@localhost")
        );
    }
    assert!(
        server.log().contains("peer=\"alice@HANDFAST.TEST\""),
        "{}",
        server.log()
    );
}

#[test]
fn a_principal_not_allowed_never_reaches_the_service() {
    let echo = Echo::start();
    let server = server(&echo.addr.to_string(), &[]);
    let client = client("mallory", &server.addr.to_string(), &[]);
    let (got, end) = exchange(client.addr, b"hello");
    assert!(got.is_empty());
    assert!(end.is_err(), "the refusal is a reset, not a clean end");
    assert!(
        server.wait_log(
            "principal mallory@HANDFAST.TEST is not allowed",
            1,
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    assert_eq!(echo.count(), 0, "the refused client reached the service");
}

#[test]
fn options_are_checked_per_mechanism() {
    let k = kdc();
    let keytab = k.p("service.keytab");
    for (args, expected) in [
        (
            vec![
                "server",
                "--mechanism",
                "kerberos",
                "--listen",
                "127.0.0.1:0",
                "--forward",
                "127.0.0.1:1",
                "--keytab",
                &keytab,
            ],
            "needs the principals it allows",
        ),
        (
            vec![
                "client",
                "--mechanism",
                "kerberos",
                "--listen",
                "127.0.0.1:0",
                "--connect",
                "127.0.0.1:1",
            ],
            "needs --service",
        ),
        (
            vec![
                "client",
                "--listen",
                "127.0.0.1:0",
                "--connect",
                "127.0.0.1:1",
                "--key",
                "k",
                "--server-key",
                "s",
                "--service",
                "host@x",
            ],
            "belong to --mechanism kerberos",
        ),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(expected),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_configuration_file_takes_the_same_options() {
    let k = kdc();
    let echo = Echo::start();
    let toml = format!(
        "[[server]]\nname = \"krb-server\"\nlisten = \"127.0.0.1:0\"\nforward = \"{}\"\n\
         mechanism = \"kerberos\"\nkeytab = \"service.keytab\"\n\
         allow_principal = [\"alice@HANDFAST.TEST\"]\n",
        echo.addr
    );
    let path = k.dir.join("server.toml");
    std::fs::write(&path, toml).unwrap();
    let server = Daemon::start_with_env(&["run", path.to_str().unwrap()], &k.env());
    let toml = format!(
        "[[client]]\nlisten = \"127.0.0.1:0\"\nconnect = \"{}\"\nmechanism = \"kerberos\"\n\
         service = \"host/localhost@HANDFAST.TEST\"\nccache = \"{}\"\n",
        server.addr,
        k.cache("alice")
    );
    let path = k.dir.join("client.toml");
    std::fs::write(&path, toml).unwrap();
    let client = Daemon::start_with_env(&["run", path.to_str().unwrap()], &k.env());
    let (got, end) = exchange(client.addr, b"through the file");
    assert!(end.is_ok(), "{end:?}\n{}", server.log());
    assert_eq!(got, b"through the file");
    assert!(
        server.log().contains("peer=\"alice@HANDFAST.TEST\""),
        "{}",
        server.log()
    );
}

#[test]
fn redis_through_a_kerberos_tunnel_at_both_levels() {
    let redis = start_redis();
    let server = server(
        &format!("127.0.0.1:{}", redis.1),
        &["--min-level", "integrity"],
    );
    for level in ["privacy", "integrity"] {
        let client = client("alice", &server.addr.to_string(), &["--level", level]);
        let port = client.addr.port();
        let key = format!("krb-{level}");
        assert_eq!(cli(port, &["SET", &key, "kerberos-value"]).trim(), "OK");
        assert_eq!(cli(port, &["GET", &key]).trim(), "kerberos-value");
        assert_eq!(cli(redis.1, &["GET", &key]).trim(), "kerberos-value");
        assert!(
            server.wait_log(
                &format!("level={level} mechanism=kerberos"),
                1,
                Duration::from_secs(5)
            ),
            "{}",
            server.log()
        );
    }
}
