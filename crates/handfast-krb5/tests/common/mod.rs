//! One throwaway realm per test process (`handfast_krb5::realm`), with the principals every
//! test uses. GSS-API reads its configuration from the environment, so the first test to ask
//! for the realm sets the variables, before any GSS-API call of this process.

#![allow(dead_code, unsafe_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use handfast::mechanism::Mechanism;
use handfast_krb5::realm::{REALM, Realm};
use handfast_krb5::{AllowList, ClientCredentials, KerberosMechanism, Keytab, Rule, Service};

pub struct Setup {
    pub realm: Realm,
    pub dir: PathBuf,
    /// host/localhost's keys.
    pub keytab: PathBuf,
    /// host/other's keys: a real service, not the one clients ask for.
    pub other_keytab: PathBuf,
    /// alice's ticket (allowed by the server), mallory's (a valid user, not allowed).
    pub alice: String,
    pub mallory: String,
}

pub fn principal(name: &str) -> String {
    format!("{name}@{REALM}")
}

pub fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let realm = Realm::temporary(2).unwrap();
        let dir = realm.dir().to_path_buf();
        for (k, v) in realm.env() {
            // SAFETY: this runs once, inside the OnceLock every test goes through before it
            // touches GSS-API or the environment, so no other thread reads the environment
            // while it is written.
            unsafe { std::env::set_var(k, v) };
        }
        let keytab = dir.join("service.keytab");
        let other_keytab = dir.join("other.keytab");
        realm.add_service("host/localhost", &keytab).unwrap();
        realm.add_service("host/other", &other_keytab).unwrap();
        let mut caches = Vec::new();
        for user in ["alice", "mallory"] {
            realm.add_user(user, &format!("{user}-password")).unwrap();
            let ccache = format!("FILE:{}", dir.join(format!("{user}.ccache")).display());
            realm
                .kinit(user, &format!("{user}-password"), &ccache, None)
                .unwrap();
            caches.push(ccache);
        }
        let default_cache = format!("FILE:{}", dir.join("ccache").display());
        realm
            .kinit("alice", "alice-password", &default_cache, None)
            .unwrap();
        let mallory = caches.pop().unwrap();
        let alice = caches.pop().unwrap();
        Setup {
            realm,
            dir,
            keytab,
            other_keytab,
            alice,
            mallory,
        }
    })
}

pub fn client(ccache: &str, service: &str) -> Arc<dyn Mechanism> {
    Arc::new(
        KerberosMechanism::client(
            Service::parse(service).unwrap(),
            &ClientCredentials::Cache(ccache.into()),
        )
        .unwrap(),
    )
}

pub fn server(keytab: &std::path::Path, allow: &[&str]) -> Arc<dyn Mechanism> {
    Arc::new(
        KerberosMechanism::server(
            &Keytab::File(keytab.into()),
            AllowList::new(allow.iter().map(|p| Rule::parse(p).unwrap())),
        )
        .unwrap(),
    )
}
