#!/usr/bin/env python3
"""Recomputes every handfast vector from docs/PROTOCOL.md alone.

An independent second implementation of the protocol's sections 3 to 8, in Python (standard
library plus the `cryptography` package for X25519 and the AEADs), including its own Noise XX:

- key_schedule.txt: every derived value from its inputs (section 6);
- records.txt: every record rebuilt byte for byte, and every refused variant refused (3.4);
- handshake.txt: the whole handshake rebuilt from the two static keys and the two entropy
  inputs (sections 4, 5, 7, 8): hellos, Noise messages, transcript hashes, both Finished
  values, traffic secrets, the first records; and each refused variant of flight 1 refused by
  the client's checks, for the stated reason.

Exits non-zero on the first mismatch.
"""

import hashlib
import hmac
import pathlib
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = pathlib.Path(__file__).parent
PREFIX = b"handfast v2 "


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def hmac256(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac256(prk, block, info, bytes([i]))
        out += block
        i += 1
    return out[:length]


def expand_label(secret, label, context, length):
    full = PREFIX + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length)


def schedule(ikm, final, h_sfin, h_cfin, h_done):
    """Section 6.2 and 6.3."""
    prk_hs = hmac256(b"handfast v2 handshake", ikm)
    sfk = expand_label(prk_hs, "s finished", h_sfin, 32)
    prk_ms = hmac256(prk_hs, final)
    cfk = expand_label(prk_ms, "c finished", h_cfin, 32)
    return {
        "prk_hs": prk_hs,
        "s_finished_key": sfk,
        "s_finished": hmac256(sfk, h_sfin),
        "prk_ms": prk_ms,
        "c_finished_key": cfk,
        "c_finished": hmac256(cfk, h_cfin),
        "c_traffic_0": expand_label(prk_ms, "c ap traffic", h_done, 32),
        "s_traffic_0": expand_label(prk_ms, "s ap traffic", h_done, 32),
    }


def parse_blocks(text):
    blocks, cur = [], []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur = []
            continue
        key, _, value = line.rpartition(": ")
        cur.append((key, value))
    if cur:
        blocks.append(cur)
    return blocks


def check_key_schedule():
    n = 0
    for block in parse_blocks((HERE / "key_schedule.txt").read_text()):
        v = dict(block)
        ikm, fin, hs, hc, hd = (
            bytes.fromhex(v[k]) for k in ("handshake_ikm", "final_secret", "h_sfin", "h_cfin", "h_done")
        )
        want = schedule(ikm, fin, hs, hc, hd)
        ct = want["c_traffic_0"]
        want["c_traffic_1"] = expand_label(ct, "key update", b"", 32)
        for label in ("privacy", "integrity", "signature"):
            want[f"c_traffic_0 {label} key"] = expand_label(ct, f"{label} key", b"", 32)
            want[f"c_traffic_0 {label} iv"] = expand_label(ct, f"{label} iv", b"", 12)
        for key, value in want.items():
            assert v[key] == value.hex(), f"key_schedule: {key}: {v[key]} != {value.hex()}"
            n += 1
    return n


# --- Records (section 3) -------------------------------------------------------------------


def aead(suite, key):
    return AESGCM(key) if suite == "AES-256-GCM" else ChaCha20Poly1305(key)


def keys(secret, interval, seq, label):
    t = secret
    for _ in range(seq // interval):
        t = expand_label(t, "key update", b"", 32)
    return expand_label(t, f"{label} key", b"", 32), expand_label(t, f"{label} iv", b"", 12)


def nonce(iv, seq):
    return bytes(a ^ b for a, b in zip(iv, bytes(4) + seq.to_bytes(8, "big")))


def header(mode, type_byte, body_len, seq):
    if mode == "stream":
        return bytes([type_byte]) + (body_len + 16).to_bytes(3, "big")
    return bytes([type_byte]) + seq.to_bytes(8, "big")


LEVELS = {"integrity": 1, "privacy": 2}


def seal(suite, mode, secret, interval, seq, kind, level, payload):
    if kind == "signature":
        k, iv = keys(secret, interval, seq, "signature")
        return header(mode, 0x41, 0, seq) + aead(suite, k).encrypt(nonce(iv, seq), b"", payload)
    type_byte = (0x20 if kind == "data" else 0x30) | LEVELS[level]
    k, iv = keys(secret, interval, seq, level)
    h = header(mode, type_byte, len(payload), seq)
    if level == "privacy":
        return h + aead(suite, k).encrypt(nonce(iv, seq), payload, h)
    return h + payload + aead(suite, k).encrypt(nonce(iv, seq), b"", h + payload)


def check_records():
    text = (HERE / "records.txt").read_text()
    secret, interval = None, None
    for line in text.splitlines():
        if line.startswith("# c_traffic_0: "):
            secret = bytes.fromhex(line.split(": ")[1])
        if line.startswith("# key_update_interval: "):
            interval = int(line.split(": ")[1].split()[0])
    n = 0
    for block in parse_blocks(text):
        v = dict(block[:3])
        suite, mode = v["suite"], v["mode"]
        for key, value in block[3:]:
            record = bytes.fromhex(value)
            if key.startswith("reject"):
                assert not opens(record, suite, mode, secret, interval, 0), f"accepted {key}"
                n += 1
                continue
            words = key.split()
            seq, kind = int(words[1]), words[2]
            payload = key.split('"')[1].encode() if '"' in key else b""
            rebuilt = seal(suite, mode, secret, interval, seq, kind, words[3], payload)
            assert rebuilt == record, f"records: {suite} {mode} {key}"
            assert opens(record, suite, mode, secret, interval, seq, payload)
            n += 1
    return n


def opens(record, suite, mode, secret, interval, seq, signed=b""):
    """Opens a record the way section 3.4 says; stream sequence numbers are implicit, so the
    caller passes the position of the record in its direction."""
    hl = 4 if mode == "stream" else 9
    t = record[0]
    kind, lv = t >> 4, t & 0x0F
    if kind not in (2, 3, 4) or lv not in (1, 2) or (kind == 4 and lv != 1):
        return False
    if mode == "stream" and int.from_bytes(record[1:4], "big") != len(record) - 4:
        return False
    if mode == "datagram" and int.from_bytes(record[1:9], "big") != seq:
        return False
    h, body, tag = record[:hl], record[hl:-16], record[-16:]
    label = "signature" if kind == 4 else ("privacy" if lv == 2 else "integrity")
    k, iv = keys(secret, interval, seq, label)
    try:
        if kind == 4:
            aead(suite, k).decrypt(nonce(iv, seq), tag, signed)
        elif label == "privacy":
            aead(suite, k).decrypt(nonce(iv, seq), body + tag, h)
        else:
            aead(suite, k).decrypt(nonce(iv, seq), tag, h + body)
        return True
    except Exception:
        return False


# --- Entropy and X25519 (section 7) --------------------------------------------------------


class Entropy:
    def __init__(self, seed):
        self.prk, self.n = seed, 0

    def fill(self, length):
        self.n += 1
        return hkdf_expand(self.prk, b"handfast entropy" + self.n.to_bytes(8, "big"), length)


def x25519_public(private):
    return (
        X25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def x25519(private, public):
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public)
    )


# --- Noise XX (section 8; the Noise Protocol Framework, revision 34) ----------------------


class Noise:
    NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"

    def __init__(self, prologue):
        self.h = self.NAME  # exactly 32 bytes, so used as is
        self.ck = self.h
        self.k, self.n = None, 0
        self.mix_hash(prologue)

    def mix_hash(self, data):
        self.h = sha256(self.h, data)

    def hkdf2(self, ikm):
        temp = hmac256(self.ck, ikm)
        o1 = hmac256(temp, b"\x01")
        return o1, hmac256(temp, o1, b"\x02")

    def mix_key(self, ikm):
        self.ck, self.k = self.hkdf2(ikm)
        self.n = 0

    def _nonce(self):
        return bytes(4) + self.n.to_bytes(8, "little")

    def encrypt_and_hash(self, plaintext):
        if self.k is None:
            out = plaintext
        else:
            out = ChaCha20Poly1305(self.k).encrypt(self._nonce(), plaintext, self.h)
            self.n += 1
        self.mix_hash(out)
        return out

    def decrypt_and_hash(self, ciphertext):
        if self.k is None:
            out = ciphertext
        else:
            out = ChaCha20Poly1305(self.k).decrypt(self._nonce(), ciphertext, self.h)
            self.n += 1
        self.mix_hash(ciphertext)
        return out

    def split(self):
        a, b = self.hkdf2(b"")
        return a + b


def noise_xx(c_static, s_static, c_eph, s_eph):
    """Both sides of Noise XX; returns the three messages and the splits after message 2 and 3,
    checking that the two sides agree."""
    prologue = b"handfast v2 noise-xx"
    i, r = Noise(prologue), Noise(prologue)
    # -> e
    e_i = x25519_public(c_eph)
    i.mix_hash(e_i)
    m1 = e_i + i.encrypt_and_hash(b"")
    r.mix_hash(m1[:32])
    r.decrypt_and_hash(m1[32:])
    # <- e, ee, s, es
    e_r = x25519_public(s_eph)
    r.mix_hash(e_r)
    r.mix_key(x25519(s_eph, e_i))
    m2 = e_r + r.encrypt_and_hash(x25519_public(s_static))
    r.mix_key(x25519(s_static, e_i))
    m2 += r.encrypt_and_hash(b"")
    i.mix_hash(m2[:32])
    i.mix_key(x25519(c_eph, e_r))
    s_r = i.decrypt_and_hash(m2[32:80])
    i.mix_key(x25519(c_eph, s_r))
    assert i.decrypt_and_hash(m2[80:]) == b""
    hs_i, hs_r = i.split(), r.split()
    assert hs_i == hs_r
    # -> s, se
    m3 = i.encrypt_and_hash(x25519_public(c_static))
    i.mix_key(x25519(c_static, e_r))
    m3 += i.encrypt_and_hash(b"")
    s_i = r.decrypt_and_hash(m3[:48])
    r.mix_key(x25519(s_eph, s_i))
    assert r.decrypt_and_hash(m3[48:]) == b""
    assert i.split() == r.split()
    return m1, m2, m3, hs_i, i.split()


# --- The handshake (sections 4 and 5) -------------------------------------------------------


def hs_record(msg_type, body):
    return b"\x16" + (len(body) + 1).to_bytes(3, "big") + bytes([msg_type]) + body


def client_hello(random, level, suites, mode, max_len, interval):
    body = (2).to_bytes(2, "big") + random + b"\x01" + (1).to_bytes(2, "big") + bytes([level])
    body += bytes([len(suites)]) + b"".join(s.to_bytes(2, "big") for s in suites)
    body += bytes([mode]) + max_len.to_bytes(4, "big") + interval.to_bytes(8, "big") + b"\x00"
    return hs_record(1, body)


def server_hello(random, required, negotiated, suite, mode, max_len, interval):
    body = (2).to_bytes(2, "big") + random + (1).to_bytes(2, "big") + bytes([required, negotiated])
    body += suite.to_bytes(2, "big") + bytes([mode]) + max_len.to_bytes(4, "big")
    body += interval.to_bytes(8, "big") + b"\x00"
    return hs_record(2, body)


def records(flight):
    out = []
    while flight:
        n = 4 + int.from_bytes(flight[1:4], "big")
        out.append(flight[:n])
        flight = flight[n:]
    return out


def client_refuses(ch, t1, flight1, requested, ikm, suites, mode, max_len, interval):
    """The client's processing of flight 1 (sections 4.2 and 5.3); returns why it refuses, or
    None if it accepts."""
    sh, t2, fin = records(flight1)
    b = sh[5:]
    if int.from_bytes(b[0:2], "big") != 2:
        return "protocol version"
    mech = int.from_bytes(b[34:36], "big")
    required, negotiated = b[36], b[37]
    suite, smode = int.from_bytes(b[38:40], "big"), b[40]
    s_max, s_interval, share_len = int.from_bytes(b[41:45], "big"), int.from_bytes(b[45:53], "big"), b[53]
    if mech != 1 or suite not in suites or smode != mode or share_len != 0:
        return "downgrade detected"
    if negotiated != max(requested, required) or s_interval > interval:
        return "downgrade detected"
    if not 1 <= s_max <= (1 << 24) - 64 or not 1024 <= s_interval <= min(1 << 24, (1 << 38) // max(s_max, max_len)):
        return "illegal parameter"
    h_sfin = sha256(ch, t1, sh, t2)
    prk_hs = hmac256(b"handfast v2 handshake", ikm)
    expected = hmac256(expand_label(prk_hs, "s finished", h_sfin, 32), h_sfin)
    if not hmac.compare_digest(expected, fin[5:]):
        return "transcript mismatch"
    return None


def check_handshake():
    text = (HERE / "handshake.txt").read_text()
    v = {}
    for line in text.splitlines():
        if line.startswith("#") or ": " not in line:
            continue
        key, _, value = line.rpartition(": ")
        v[key] = value
    given = lambda key: bytes.fromhex(v[key])  # noqa: E731
    c_static, s_static = given("client static private key"), given("server static private key")
    ce, se = Entropy(given("client entropy")), Entropy(given("server entropy"))
    want = {}

    # Section 7: the client's random, then its mechanism seed; the same on the server.
    c_random, c_seed = ce.fill(32), ce.fill(32)
    s_random, s_seed = se.fill(32), se.fill(32)
    c_eph, s_eph = Entropy(c_seed).fill(32), Entropy(s_seed).fill(32)
    want.update({
        "client random": c_random, "client mechanism seed": c_seed,
        "client noise ephemeral private key": c_eph, "server random": s_random,
        "server mechanism seed": s_seed, "server noise ephemeral private key": s_eph,
    })

    # The stated configurations (header of handshake.txt): the client requests integrity with
    # AES-256-GCM then ChaCha20-Poly1305 in stream mode, 64 KiB records and the default
    # interval; the server requires privacy with the same suites and limits.
    suites, mode, max_len = [1, 2], 1, 65536
    interval = min(1 << 24, (1 << 38) // max_len)
    requested, required = 1, 2
    negotiated = max(requested, required)
    m1, m2, m3, hs_secret, final_secret = noise_xx(c_static, s_static, c_eph, s_eph)

    ch = client_hello(c_random, requested, suites, mode, max_len, interval)
    t1 = hs_record(3, m1)
    sh = server_hello(s_random, required, negotiated, suites[0], mode, max_len,
                      min(interval, interval, (1 << 38) // max_len, 1 << 24))
    t2 = hs_record(3, m2)
    h_sfin = sha256(ch, t1, sh, t2)
    # Finished values come from the schedule, with h_cfin and h_done filled in below.
    prk_hs = hmac256(b"handfast v2 handshake", hs_secret)
    sfin = hs_record(4, hmac256(expand_label(prk_hs, "s finished", h_sfin, 32), h_sfin))
    t3 = hs_record(3, m3)
    h_cfin = sha256(ch, t1, sh, t2, sfin, t3)
    prk_ms = hmac256(prk_hs, final_secret)
    cfin = hs_record(4, hmac256(expand_label(prk_ms, "c finished", h_cfin, 32), h_cfin))
    h_done = sha256(ch, t1, sh, t2, sfin, t3, cfin)
    ks = schedule(hs_secret, final_secret, h_sfin, h_cfin, h_done)
    assert ks["s_finished"] == sfin[5:] and ks["c_finished"] == cfin[5:]
    want.update({
        "flight 0 client": ch + t1,
        "flight 1 server": sh + t2 + sfin,
        "flight 2 client": t3 + cfin,
        "noise split after message 2 (handshake secret)": hs_secret,
        "h_sfin": h_sfin, "prk_hs": ks["prk_hs"], "s_finished_key": ks["s_finished_key"],
        "noise split after message 3 (final secret)": final_secret,
        "h_cfin": h_cfin, "prk_ms": ks["prk_ms"], "c_finished_key": ks["c_finished_key"],
        "h_done": h_done, "c_traffic_0": ks["c_traffic_0"], "s_traffic_0": ks["s_traffic_0"],
        'client seq 0 data privacy "ping" (sent with flight 2)':
            seal("AES-256-GCM", "stream", ks["c_traffic_0"], interval, 0, "data", "privacy", b"ping"),
        'server seq 0 data privacy "pong"':
            seal("AES-256-GCM", "stream", ks["s_traffic_0"], interval, 0, "data", "privacy", b"pong"),
    })
    n = 0
    for key, value in want.items():
        assert v[key] == value.hex(), f"handshake: {key}:\n  file {v[key]}\n  here {value.hex()}"
        n += 1

    # The genuine flight 1 is accepted; each refused variant is refused for its stated reason.
    args = (requested, hs_secret, suites, mode, max_len, interval)
    assert client_refuses(ch, t1, sh + t2 + sfin, *args) is None
    for key, value in v.items():
        if key.startswith("reject flight 1"):
            reason = key.rsplit("(", 1)[1].rstrip(")")
            got = client_refuses(ch, t1, bytes.fromhex(value), *args)
            assert got == reason, f"{key}: refused for {got!r}"
            n += 1
    assert n >= 25, n
    return n


def main():
    counts = (check_key_schedule(), check_records(), check_handshake())
    print(f"check.py: {counts[0]} key-schedule values, {counts[1]} records, "
          f"{counts[2]} handshake values and refusals recomputed from docs/PROTOCOL.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
