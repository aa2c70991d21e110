//! The conformance suite: the security invariants of `DESIGN.md`, end to end, in memory.
//!
//! | invariant | tests |
//! | --- | --- |
//! | 1. nothing before mutual authentication and confirmation | `handshake::*refused*`, `handshake::no_context_before_finished` |
//! | 2. no session below either minimum; any handshake byte changed fails | `handshake::levels_*`, `tamper::every_handshake_bit_flip_fails`, `tamper::mitm_*` |
//! | 3. every flipped record bit rejected | `tamper::record_bit_flips_*` |
//! | 4. replay, reorder, reflection, cross-session rejected | `traffic::replay_*`, `traffic::reflected_*`, `traffic::spliced_*`, `datagram::*` |
//! | 5. truncation is `Truncated` | `traffic::truncation_*` |
//! | 6. nonces never reused | `traffic::sequence_never_wraps`, `traffic::same_plaintext_never_same_record`, `traffic::key_updates_*` |
//! | 7. secrets zeroized, constant-time tags, coarse alerts | `handshake::alerts_are_coarse` (zeroizing types and ring's constant-time tag checks are by construction) |
//! | 8. bad input: clear error, no panic, no early allocation | `robustness::*` |

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alloc;
mod datagram;
mod handshake;
mod pair;
mod robustness;
mod tamper;
mod traffic;
mod vectors;
