//! Hostile and random input to the handshake: never a panic, always an error.

use std::sync::Arc;
use std::time::Instant;

use handfast::{Handshake, Mode, ProtectionLevel};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::Fixture;
use crate::pair::{configs, handshake};

use ProtectionLevel::Privacy;

/// Random bytes at either side of a fresh handshake, and after a genuine first flight, never
/// panic.
pub fn random_bytes_never_panic_either_side(f: &dyn Fixture) {
    let mut runner = TestRunner::new(Config::with_cases(500));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..600), |data| {
            let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
            let now = Instant::now();
            let mut server = Handshake::server(Arc::new(s), [9; 32], now).unwrap();
            let _ = server.handle_input(&data);
            let mut client = Handshake::client(Arc::new(c), [9; 32], now).unwrap();
            let first = client.take_output();
            let _ = client.handle_input(&data);
            // A server that has the genuine first flight, then garbage.
            let (_, s) = configs(f, Privacy, Privacy, Mode::Stream);
            let mut server = Handshake::server(Arc::new(s), [9; 32], now).unwrap();
            server.handle_input(&first).unwrap();
            let _ = server.handle_input(&data);
            Ok(())
        })
        .unwrap();
}

/// Each flight of a genuine handshake, with one byte changed and cut short at random, never
/// panics the receiver.
pub fn mutated_flights_never_panic(f: &dyn Fixture) {
    let flights = {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        handshake(c, s).flights
    };
    let n = flights.len();
    let mut runner = TestRunner::new(Config::with_cases(500));
    runner
        .run(
            &(
                0..n,
                any::<prop::sample::Index>(),
                any::<u8>(),
                any::<prop::sample::Index>(),
            ),
            |(which, pos, val, cut)| {
                let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
                let now = Instant::now();
                let mut client = Handshake::client(Arc::new(c), [0xaa; 32], now).unwrap();
                let mut server = Handshake::server(Arc::new(s), [0xbb; 32], now).unwrap();
                for (i, _) in flights.iter().enumerate() {
                    let (from, to) = if i.is_multiple_of(2) {
                        (&mut client, &mut server)
                    } else {
                        (&mut server, &mut client)
                    };
                    let mut bytes = from.take_output();
                    if bytes.is_empty() {
                        break;
                    }
                    if i == which {
                        let p = pos.index(bytes.len());
                        bytes[p] = val;
                        bytes.truncate(cut.index(bytes.len()).max(p + 1));
                    }
                    if to.handle_input(&bytes).is_err() {
                        break;
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
