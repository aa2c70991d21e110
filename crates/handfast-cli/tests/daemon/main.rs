//! Black-box tests of the `handfast` binary against real TCP services on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod fault;
mod harness;
#[cfg(feature = "kerberos")]
mod kerberos;
mod load;
mod operate;
mod redis;
mod tunnel;
mod x509;
