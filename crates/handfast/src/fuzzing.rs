//! The one place where a fuzzing build lets forged input through.
//!
//! cargo-fuzz builds with `cfg(fuzzing)`. There, every record tag and every Finished MAC is
//! taken as authentic, so that a fuzzer reaches the parsing and state logic behind the MACs
//! (rustls' fuzzers do the same with a provider that does no cryptography). The production
//! checks pass their verdict through [`authentic`], which in every other build returns it
//! unchanged. Nothing else in the crate mentions `fuzzing`.

/// The verdict of an authentication check: `verified` itself, except in fuzzing builds.
#[cfg(not(fuzzing))]
#[inline(always)]
pub(crate) fn authentic(verified: bool) -> bool {
    verified
}

/// Fuzzing builds only: every check passes.
#[cfg(fuzzing)]
pub(crate) fn authentic(_verified: bool) -> bool {
    true
}
