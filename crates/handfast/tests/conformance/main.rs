//! Core tests that no mechanism changes: the record layer from fixed secrets, the negotiation
//! rules, hostile input, allocation bounds, and the known-answer vectors. The invariant suite
//! that runs over real handshakes is the conformance kit (`handfast-conformance`), run here
//! against its reference shapes and in `handfast-noise` against Noise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alloc;
mod negotiation;
mod records;
mod robustness;
mod vectors;

use handfast_conformance::shapes::{Shape, ShapeFixture};

/// The fixture core tests use for real handshakes: a one-round-trip mechanism with its own
/// secret.
pub(crate) const FIXTURE: ShapeFixture = ShapeFixture(Shape::Exporter);
