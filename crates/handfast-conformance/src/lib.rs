//! # handfast-conformance
//!
//! The security invariants of handfast (`DESIGN.md`, "Security invariants"), as a suite that
//! runs against any [`Mechanism`]: a mechanism author implements [`Fixture`] (mechanisms for
//! a client and a server that trust each other, and for identities they do not trust) and
//! calls [`suite!`] once in an integration test; every invariant becomes its own `#[test]`.
//!
//! ```text
//! // tests/conformance.rs of a mechanism crate
//! struct MyFixture;
//! impl handfast_conformance::Fixture for MyFixture { /* ... */ }
//! handfast_conformance::suite!(MyFixture);
//! ```
//!
//! The suite runs on a deterministic in-memory [`pair`] with hooks that drop, duplicate,
//! reorder, truncate or flip bytes in flight (after quinn-proto's `Pair`), and covers:
//!
//! | invariant | tests |
//! | --- | --- |
//! | 1. nothing before mutual authentication and confirmation | `handshake::untrusted_*`, `handshake::unauthorized_*`, `handshake::early_data_waits_for_the_clients_finished`, `handshake::no_context_without_the_peers_finished` |
//! | one round trip | `handshake::flights_until_seal_and_delivery` |
//! | 2. no session below either minimum; any handshake byte changed fails | `handshake::levels_*`, `tamper::every_handshake_bit_flip_fails_*`, `tamper::mitm_*` |
//! | 3. every flipped record bit rejected | `tamper::record_bit_flips_in_a_live_session` |
//! | 4. replay, reorder, reflection, cross-session rejected | `traffic::replayed_reordered_and_dropped_records_are_fatal`, `traffic::reflected_*`, `traffic::spliced_*`, `datagram::*` |
//! | 5. truncation is `Truncated` | `traffic::truncation_*` |
//! | 6. nonces never reused | `traffic::sequence_never_wraps_*`, `traffic::same_plaintext_*`, `traffic::key_updates_*` |
//! | 7. coarse alerts (zeroizing types and aws-lc's constant-time tag checks are by construction; the core's `records::a_failed_open_leaves_no_unverified_plaintext` checks what a failed open leaves) | `handshake::alerts_are_coarse` |
//! | 8. bad input: clear error, no panic | `robustness::*`, `tamper::spliced_token_*`, `handshake::limits_*` |
//!
//! [`shapes`] holds small reference mechanisms of the shapes the mechanism interface serves
//! (authentication only over handfast's key exchange, several legs, the server's token last,
//! a secret exported at the server's last token); the suite runs against each of them in this
//! crate's own tests.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use handfast::mechanism::Mechanism;

pub mod datagram;
pub mod handshake;
pub mod pair;
pub mod robustness;
pub mod shapes;
pub mod tamper;
pub mod traffic;

/// What the suite needs from a mechanism: identities that trust each other, and identities
/// that are not trusted.
pub trait Fixture {
    /// A client and a server mechanism that authenticate and trust each other.
    fn pair(&self) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>);

    /// A client the server of [`pair`](Self::pair) does not trust (it trusts that server).
    fn untrusted_client(&self) -> Arc<dyn Mechanism>;

    /// A server the client of [`pair`](Self::pair) does not trust (it trusts that client).
    fn untrusted_server(&self) -> Arc<dyn Mechanism>;

    /// The names the peers carry: (the server as the client sees it, the client as the server
    /// sees it), as [`handfast::PeerIdentity::name`] returns them.
    fn names(&self) -> (String, String);

    /// How many flights a handshake takes. One round trip unless the mechanism needs more legs.
    fn flights(&self) -> Flights {
        Flights::ONE_ROUND_TRIP
    }

    /// Whether two handshakes with the same seed send the same bytes. Mechanisms whose tokens
    /// carry timestamps or their own randomness (Kerberos) are not; the suite then compares
    /// the shape of flights rather than their bytes.
    fn deterministic(&self) -> bool {
        true
    }

    /// Which side refuses [`untrusted_server`](Self::untrusted_server).
    fn untrusted_server_refusal(&self) -> Refusal {
        Refusal::ByClient
    }
}

/// Which side refuses a server the client does not trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server answers, and the client's mechanism refuses what it proved (a key or a
    /// certificate the client does not trust).
    ByClient,
    /// The client's first token names the server it wants and can be answered only by that
    /// server (Kerberos: only the named service's key opens the ticket), so a server without
    /// that identity fails on the client's first token and can send nothing but an alert.
    ByServer,
}

/// Flight counts of a handshake, counting every batch of bytes one side sends before it waits
/// for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flights {
    /// Flights exchanged (both directions) before the client can seal application data.
    pub client_seals_after: usize,
    /// Flights exchanged before the server delivers the client's first application record
    /// (which travels with the client's last handshake flight).
    pub server_delivers_after: usize,
}

impl Flights {
    /// ClientHello + token; ServerHello + token + Finished; token + Finished + data.
    pub const ONE_ROUND_TRIP: Self = Self {
        client_seals_after: 2,
        server_delivers_after: 3,
    };
}

/// Expands to one `#[test]` per invariant, each run against the given [`Fixture`].
#[macro_export]
macro_rules! suite {
    ($fixture:expr) => {
        $crate::suite!(@tests $fixture;
            handshake::levels_negotiate_to_the_higher_of_request_and_requirement,
            handshake::defaults_are_privacy,
            handshake::flights_until_seal_and_delivery,
            handshake::early_data_waits_for_the_clients_finished,
            handshake::no_context_without_the_peers_finished,
            handshake::untrusted_client_is_refused_by_server,
            handshake::untrusted_server_is_refused_before_the_client_says_more,
            handshake::servers_refused_by_the_clients_policy_learn_nothing_more,
            handshake::unauthorized_client_is_refused_with_a_coarse_alert,
            handshake::clients_authorization_sees_the_server_once,
            handshake::alerts_are_coarse,
            handshake::no_common_suite_or_mode_is_refused,
            handshake::both_suites_work,
            handshake::server_may_choose_a_later_mechanism,
            handshake::handshake_deadline,
            handshake::limits_cap_handshake_messages,
            tamper::every_handshake_bit_flip_fails_in_stream_mode,
            tamper::every_handshake_bit_flip_fails_in_datagram_mode,
            tamper::mitm_rewriting_requested_level_fails,
            tamper::mitm_rewriting_required_level_fails,
            tamper::mitm_rewriting_suite_list_fails,
            tamper::mitm_rewriting_mechanism_list_fails,
            tamper::mitm_rewriting_mode_or_record_size_fails,
            tamper::spliced_token_from_another_handshake_fails,
            tamper::record_bit_flips_in_a_live_session,
            traffic::round_trip_both_directions_at_both_levels,
            traffic::integrity_is_readable_and_privacy_is_not,
            traffic::replayed_reordered_and_dropped_records_are_fatal,
            traffic::reflected_records_are_rejected,
            traffic::spliced_records_from_another_session_are_rejected,
            traffic::truncation_is_reported_not_a_clean_end,
            traffic::same_plaintext_never_same_record,
            traffic::key_updates_crossed_many_times,
            traffic::sequence_never_wraps_on_either_side,
            traffic::send_after_a_fatal_receive_error_is_refused,
            traffic::sign_and_verify_detached,
            datagram::loss_and_reordering_within_the_window_are_tolerated,
            datagram::replay_window_matches_a_reference_model,
            datagram::reflected_and_far_future_datagrams_are_rejected,
            robustness::random_bytes_never_panic_either_side,
            robustness::mutated_flights_never_panic,
        );
    };
    (@tests $fixture:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::$module::$name(&$fixture);
            }
        )+
    };
}
