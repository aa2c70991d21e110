#![no_main]
//! The real x509 mechanism (TLS 1.3 records, the server's binding signature) on either side.
//! The first byte picks what is fuzzed:
//! - 0: a server, fed the rest as a stranger's flights;
//! - 1: a client that has sent its hello, fed the rest as the server's reply;
//! - 2: a server, fed a real client's first flight with the rest XORed over it;
//! - 3: a client, fed a real server's reply with the rest XORed over it.
use libfuzzer_sys::fuzz_target;

fn xor(flight: &mut [u8], mask: &[u8]) {
    if mask.is_empty() {
        return;
    }
    // The mask is placed at an offset chosen by its first two bytes, so short inputs reach
    // every part of a long flight.
    let at = usize::from(u16::from_be_bytes([mask[0], *mask.get(1).unwrap_or(&0)]));
    let at = at % flight.len().max(1);
    for (b, m) in flight[at..].iter_mut().zip(mask.iter().skip(2)) {
        *b ^= m;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&side, rest)) = data.split_first() else {
        return;
    };
    match side % 4 {
        0 | 1 => {
            let mut hs = if side % 4 == 0 {
                handfast_fuzz::x509_server()
            } else {
                handfast_fuzz::x509_client()
            };
            for chunk in handfast_fuzz::chunks(rest) {
                if hs.handle_input(chunk).is_err() {
                    return;
                }
                let _ = hs.take_output();
            }
        }
        2 => {
            let mut client = handfast_fuzz::x509_client_fresh();
            let mut flight = client.take_output();
            xor(&mut flight, rest);
            let mut server = handfast_fuzz::x509_server();
            let _ = server.handle_input(&flight);
        }
        _ => {
            let mut client = handfast_fuzz::x509_client_fresh();
            let mut server = handfast_fuzz::x509_server();
            if server.handle_input(&client.take_output()).is_err() {
                return;
            }
            let mut reply = server.take_output();
            xor(&mut reply, rest);
            let _ = client.handle_input(&reply);
        }
    }
});
