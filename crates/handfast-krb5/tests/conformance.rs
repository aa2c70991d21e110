//! The conformance kit against the Kerberos mechanism, on a throwaway MIT realm: alice (with
//! a ticket from kinit) and the service host/localhost (with a keytab) authenticate each
//! other; mallory is a valid user the server does not allow; host/other is a real service, but
//! not the one the client asks for, so it cannot open alice's ticket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{client, principal, server, setup};
use handfast::mechanism::Mechanism;
use handfast_conformance::{Fixture, Refusal};

struct Kerberos;

impl Fixture for Kerberos {
    fn pair(&self) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
        let s = setup();
        (
            client(&s.alice, "host@localhost"),
            server(&s.keytab, &["alice@HANDFAST.TEST"]),
        )
    }

    fn untrusted_client(&self) -> Arc<dyn Mechanism> {
        client(&setup().mallory, "host@localhost")
    }

    fn untrusted_server(&self) -> Arc<dyn Mechanism> {
        server(&setup().other_keytab, &["alice@HANDFAST.TEST"])
    }

    fn names(&self) -> (String, String) {
        (principal("host/localhost"), principal("alice"))
    }

    fn deterministic(&self) -> bool {
        false
    }

    fn untrusted_server_refusal(&self) -> Refusal {
        Refusal::ByServer
    }
}

handfast_conformance::suite!(Kerberos);
