//! Handshake messages and their encoding. Every field is parsed strictly: unknown codes and
//! trailing bytes are errors, so every byte on the wire carries meaning.

use crate::codec::Reader;
use crate::error::{AlertCode, Error, InvalidMessage, PeerMisbehaved};
use crate::identity::MechanismId;
use crate::key_schedule::HASH_LEN;
use crate::level::ProtectionLevel;
use crate::record::{ContentType, Mode, STREAM_HEADER_LEN, TYPE_ALERT, write_stream_header};
use crate::suite::CipherSuite;

/// The only protocol version.
pub(crate) const VERSION: u16 = 2;
/// Length of an X25519 key share.
pub(crate) const KEY_SHARE_LEN: usize = 32;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_MECHANISM_TOKEN: u8 = 3;
const HS_FINISHED: u8 = 4;

/// A decoded handshake-phase record.
#[derive(Debug)]
pub(crate) enum Message<'a> {
    ClientHello(ClientHello),
    ServerHello(ServerHello),
    MechanismToken(&'a [u8]),
    Finished(&'a [u8]),
    Alert(AlertCode),
}

impl Message<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::ClientHello(_) => "ClientHello",
            Self::ServerHello(_) => "ServerHello",
            Self::MechanismToken(_) => "MechanismToken",
            Self::Finished(_) => "Finished",
            Self::Alert(_) => "Alert",
        }
    }
}

/// The client's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) mechanisms: Vec<MechanismId>,
    pub(crate) requested_level: ProtectionLevel,
    pub(crate) suites: Vec<CipherSuite>,
    pub(crate) mode: Mode,
    pub(crate) max_record_len: u32,
    pub(crate) key_update_interval: u64,
    pub(crate) key_share: Option<[u8; KEY_SHARE_LEN]>,
}

/// The server's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) mechanism: MechanismId,
    pub(crate) required_level: ProtectionLevel,
    pub(crate) negotiated_level: ProtectionLevel,
    pub(crate) suite: CipherSuite,
    pub(crate) mode: Mode,
    pub(crate) max_record_len: u32,
    pub(crate) key_update_interval: u64,
    pub(crate) key_share: Option<[u8; KEY_SHARE_LEN]>,
}

impl ClientHello {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&self.version.to_be_bytes());
        b.extend_from_slice(&self.random);
        b.push(self.mechanisms.len() as u8);
        for m in &self.mechanisms {
            b.extend_from_slice(&m.0.to_be_bytes());
        }
        b.push(self.requested_level.to_wire());
        b.push(self.suites.len() as u8);
        for s in &self.suites {
            b.extend_from_slice(&s.to_wire().to_be_bytes());
        }
        b.push(self.mode.to_wire());
        b.extend_from_slice(&self.max_record_len.to_be_bytes());
        b.extend_from_slice(&self.key_update_interval.to_be_bytes());
        put_key_share(&mut b, self.key_share.as_ref());
        handshake_record(HS_CLIENT_HELLO, &b)
    }

    fn decode(body: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "ClientHello";
        let mut r = Reader::new(body, WHAT);
        let version = r.u16()?;
        if version != VERSION {
            // Later versions may change everything after the version field.
            return Err(PeerMisbehaved::UnsupportedVersion(version).into());
        }
        let random = r.array()?;
        let n = r.u8()?;
        if n == 0 || n > 16 {
            return Err(InvalidMessage::Malformed(WHAT).into());
        }
        let mut mechanisms = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let m = MechanismId(r.u16()?);
            if mechanisms.contains(&m) {
                return Err(InvalidMessage::Malformed(WHAT).into());
            }
            mechanisms.push(m);
        }
        let requested_level = level(r.u8()?, WHAT)?;
        let n = r.u8()?;
        if n == 0 || n > 8 {
            return Err(InvalidMessage::Malformed(WHAT).into());
        }
        // Unknown suites are skipped (a later version may offer more), but must be well-formed.
        let mut suites = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            if let Some(s) = CipherSuite::from_wire(r.u16()?) {
                suites.push(s);
            }
        }
        let mode = Mode::from_wire(r.u8()?).ok_or(InvalidMessage::Malformed(WHAT))?;
        let max_record_len = r.u32()?;
        let key_update_interval = r.u64()?;
        let key_share = key_share(&mut r)?;
        r.finish()?;
        Ok(Self {
            version,
            random,
            mechanisms,
            requested_level,
            suites,
            mode,
            max_record_len,
            key_update_interval,
            key_share,
        })
    }
}

impl ServerHello {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&self.version.to_be_bytes());
        b.extend_from_slice(&self.random);
        b.extend_from_slice(&self.mechanism.0.to_be_bytes());
        b.push(self.required_level.to_wire());
        b.push(self.negotiated_level.to_wire());
        b.extend_from_slice(&self.suite.to_wire().to_be_bytes());
        b.push(self.mode.to_wire());
        b.extend_from_slice(&self.max_record_len.to_be_bytes());
        b.extend_from_slice(&self.key_update_interval.to_be_bytes());
        put_key_share(&mut b, self.key_share.as_ref());
        handshake_record(HS_SERVER_HELLO, &b)
    }

    fn decode(body: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "ServerHello";
        let mut r = Reader::new(body, WHAT);
        let version = r.u16()?;
        if version != VERSION {
            return Err(PeerMisbehaved::UnsupportedVersion(version).into());
        }
        let random = r.array()?;
        let mechanism = MechanismId(r.u16()?);
        let required_level = level(r.u8()?, WHAT)?;
        let negotiated_level = level(r.u8()?, WHAT)?;
        let suite = CipherSuite::from_wire(r.u16()?).ok_or(PeerMisbehaved::Downgrade(
            "server chose a suite the client did not offer",
        ))?;
        let mode = Mode::from_wire(r.u8()?).ok_or(InvalidMessage::Malformed(WHAT))?;
        let max_record_len = r.u32()?;
        let key_update_interval = r.u64()?;
        let key_share = key_share(&mut r)?;
        r.finish()?;
        Ok(Self {
            version,
            random,
            mechanism,
            required_level,
            negotiated_level,
            suite,
            mode,
            max_record_len,
            key_update_interval,
            key_share,
        })
    }
}

/// A mechanism token record.
pub(crate) fn mechanism_token(token: &[u8]) -> Vec<u8> {
    handshake_record(HS_MECHANISM_TOKEN, token)
}

/// A Finished record.
pub(crate) fn finished(mac: &[u8; HASH_LEN]) -> Vec<u8> {
    handshake_record(HS_FINISHED, mac)
}

/// An alert record.
pub(crate) fn alert(code: AlertCode) -> Vec<u8> {
    vec![TYPE_ALERT, 0, 0, 1, code.to_wire()]
}

/// Decodes one complete handshake-phase record (`header || body`), whose header the caller
/// parsed as an alert or handshake record.
pub(crate) fn decode(record: &[u8]) -> Result<Message<'_>, Error> {
    let (ty, body) = (record[0], &record[STREAM_HEADER_LEN..]);
    match ContentType::parse(ty)? {
        ContentType::Alert => match body {
            [code] => Ok(Message::Alert(AlertCode::from_wire(*code))),
            _ => Err(InvalidMessage::Malformed("Alert").into()),
        },
        ContentType::Handshake => {
            let Some((&hs, rest)) = body.split_first() else {
                return Err(InvalidMessage::Malformed("handshake record").into());
            };
            match hs {
                HS_CLIENT_HELLO => Ok(Message::ClientHello(ClientHello::decode(rest)?)),
                HS_SERVER_HELLO => Ok(Message::ServerHello(ServerHello::decode(rest)?)),
                HS_MECHANISM_TOKEN => Ok(Message::MechanismToken(rest)),
                HS_FINISHED if rest.len() == HASH_LEN => Ok(Message::Finished(rest)),
                HS_FINISHED => Err(InvalidMessage::Malformed("Finished").into()),
                _ => Err(InvalidMessage::Malformed("handshake message type").into()),
            }
        }
        ContentType::Protected(..) => Err(InvalidMessage::Unexpected {
            expected: "handshake record",
            got: "protected record",
        }
        .into()),
    }
}

/// The error for a message that is not valid in the current state.
pub(crate) fn unexpected(expected: &'static str, got: &Message<'_>) -> Error {
    InvalidMessage::Unexpected {
        expected,
        got: got.name(),
    }
    .into()
}

fn handshake_record(hs_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; STREAM_HEADER_LEN + 1 + body.len()];
    write_stream_header(&mut out, ContentType::Handshake, body.len() + 1);
    out[STREAM_HEADER_LEN] = hs_type;
    out[STREAM_HEADER_LEN + 1..].copy_from_slice(body);
    out
}

fn put_key_share(b: &mut Vec<u8>, share: Option<&[u8; KEY_SHARE_LEN]>) {
    match share {
        Some(s) => {
            b.push(KEY_SHARE_LEN as u8);
            b.extend_from_slice(s);
        }
        None => b.push(0),
    }
}

fn key_share(r: &mut Reader<'_>) -> Result<Option<[u8; KEY_SHARE_LEN]>, Error> {
    match usize::from(r.u8()?) {
        0 => Ok(None),
        KEY_SHARE_LEN => Ok(Some(r.array()?)),
        _ => Err(PeerMisbehaved::IllegalParameter("key share length").into()),
    }
}

fn level(code: u8, what: &'static str) -> Result<ProtectionLevel, InvalidMessage> {
    ProtectionLevel::from_wire(code).ok_or(InvalidMessage::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_client_hello() -> ClientHello {
        ClientHello {
            version: VERSION,
            random: [7; 32],
            mechanisms: vec![MechanismId(1), MechanismId(0x99)],
            requested_level: ProtectionLevel::Integrity,
            suites: vec![CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305],
            mode: Mode::Datagram,
            max_record_len: 65_536,
            key_update_interval: 4096,
            key_share: Some([3; 32]),
        }
    }

    #[test]
    fn hellos_round_trip() {
        let ch = sample_client_hello();
        match decode(&ch.encode()).unwrap() {
            Message::ClientHello(got) => assert_eq!(got, ch),
            other => panic!("decoded {}", other.name()),
        }
        let sh = ServerHello {
            version: VERSION,
            random: [9; 32],
            mechanism: MechanismId(1),
            required_level: ProtectionLevel::Privacy,
            negotiated_level: ProtectionLevel::Privacy,
            suite: CipherSuite::ChaCha20Poly1305,
            mode: Mode::Stream,
            max_record_len: 1024,
            key_update_interval: 7,
            key_share: None,
        };
        match decode(&sh.encode()).unwrap() {
            Message::ServerHello(got) => assert_eq!(got, sh),
            other => panic!("decoded {}", other.name()),
        }
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let rec = sample_client_hello().encode();
        for cut in 5..rec.len() {
            let mut r = rec[..cut].to_vec();
            let n = cut - 4;
            r[1..4].copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
            assert!(decode(&r).is_err(), "cut at {cut}");
        }
        let mut r = rec.clone();
        r.push(0);
        let n = r.len() - 4;
        r[1..4].copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        assert!(decode(&r).is_err());
    }

    #[test]
    fn duplicate_mechanisms_and_odd_key_shares_are_rejected() {
        let mut ch = sample_client_hello();
        ch.mechanisms = vec![MechanismId(1), MechanismId(1)];
        assert!(decode(&ch.encode()).is_err());
        let mut rec = sample_client_hello().encode();
        // The key share length byte sits 33 bytes before the end.
        let at = rec.len() - 33;
        rec[at] = 31;
        assert_eq!(
            decode(&rec).unwrap_err(),
            PeerMisbehaved::IllegalParameter("key share length").into()
        );
    }
}
