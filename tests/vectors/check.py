#!/usr/bin/env python3
"""Recomputes the handfast key-schedule and record vectors from docs/PROTOCOL.md alone.

An independent second implementation of sections 3 and 5 (Python standard library plus the
`cryptography` package for the AEADs). Exits non-zero on the first mismatch.
"""

import hashlib
import hmac
import pathlib
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

HERE = pathlib.Path(__file__).parent
PREFIX = b"handfast v1 "


def hkdf_expand(prk, info, length):
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def expand_label(secret, label, context, length):
    full = PREFIX + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length)


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
        secret, hm, hc = (bytes.fromhex(v[k]) for k in ("secret", "h_mech", "h_client_finished"))
        prk = hmac.new(b"handfast v1", secret, hashlib.sha256).digest()
        cf = expand_label(prk, "c finished", hm, 32)
        sf = expand_label(prk, "s finished", hm, 32)
        ct = expand_label(prk, "c ap traffic", hc, 32)
        want = {
            "prk": prk,
            "c_finished_key": cf,
            "s_finished_key": sf,
            "c_finished": hmac.new(cf, hm, hashlib.sha256).digest(),
            "s_finished": hmac.new(sf, hc, hashlib.sha256).digest(),
            "c_traffic_0": ct,
            "s_traffic_0": expand_label(prk, "s ap traffic", hc, 32),
            "c_traffic_1": expand_label(ct, "key update", b"", 32),
        }
        for label in ("privacy", "integrity", "signature"):
            want[f"c_traffic_0 {label} key"] = expand_label(ct, f"{label} key", b"", 32)
            want[f"c_traffic_0 {label} iv"] = expand_label(ct, f"{label} iv", b"", 12)
        for key, value in want.items():
            assert v[key] == value.hex(), f"key_schedule: {key}: {v[key]} != {value.hex()}"
            n += 1
    return n


def aead(suite, key):
    return AESGCM(key) if suite == "AES-256-GCM" else ChaCha20Poly1305(key)


def check_records():
    text = (HERE / "records.txt").read_text()
    secrets = {}
    for line in text.splitlines():
        if line.startswith("# c_traffic_0: "):
            secrets["c"] = bytes.fromhex(line.split(": ")[1])
        if line.startswith("# key_update_interval: "):
            interval = int(line.split(": ")[1].split()[0])
    n = 0
    for block in parse_blocks(text):
        v = dict(block[:3])
        suite, mode, level = v["suite"], v["mode"], v["level"]
        for key, value in block[3:]:
            record = bytes.fromhex(value)
            seq = int(key.split("seq ")[1].split()[0])
            if key.startswith("reject"):
                assert not verify(record, suite, mode, secrets["c"], interval, seq), f"accepted {key}"
                n += 1
                continue
            words = key.split()
            kind = words[2]
            rebuilt = protect(suite, mode, secrets["c"], interval, seq, kind, words[3], key, record)
            assert rebuilt == record, f"records: {suite} {mode} {level} {key}"
            assert verify(record, suite, mode, secrets["c"], interval, seq)
            n += 1
    return n


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


def protect(suite, mode, secret, interval, seq, kind, level_word, key, record):
    level = {"integrity": 1, "privacy": 2}
    if kind == "signature":
        k, iv = keys(secret, interval, seq, "signature")
        h = header(mode, 0x41, 0, seq)
        return h + aead(suite, k).encrypt(nonce(iv, seq), b"", b"signed")
    payload = key.split('"')[1].encode() if '"' in key else b""
    lv = level_word
    type_byte = (0x20 if kind == "data" else 0x30) | level[lv]
    k, iv = keys(secret, interval, seq, lv)
    h = header(mode, type_byte, len(payload), seq)
    if lv == "privacy":
        return h + aead(suite, k).encrypt(nonce(iv, seq), payload, h)
    return h + payload + aead(suite, k).encrypt(nonce(iv, seq), b"", h + payload)


def verify(record, suite, mode, secret, interval, seq, signed=b"signed"):
    """Opens a record the way section 3.4 says; stream sequence numbers are implicit, so the
    caller passes the position of the record in its direction."""
    hl = 4 if mode == "stream" else 9
    t = record[0]
    kind, lv = t >> 4, t & 0x0F
    if kind not in (2, 3, 4) or lv not in (1, 2):
        return False
    if mode == "stream":
        if int.from_bytes(record[1:4], "big") != len(record) - 4:
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


def check_handshake_structure():
    """Parses the handshake flights per section 4 (the Noise part needs a Noise library)."""
    n = 0
    for line in (HERE / "handshake.txt").read_text().splitlines():
        if not line.startswith("flight "):
            continue
        data = bytes.fromhex(line.split(": ")[1])
        while data:
            assert data[0] in (0x16,), line
            length = int.from_bytes(data[1:4], "big")
            msg = data[4 : 4 + length]
            assert len(msg) == length and msg[0] in (1, 2, 3, 4)
            if msg[0] == 4:
                assert length == 33
            data = data[4 + length :]
            n += 1
    return n


def main():
    counts = (check_key_schedule(), check_records(), check_handshake_structure())
    print(f"check.py: {counts[0]} key-schedule values, {counts[1]} records, "
          f"{counts[2]} handshake messages match docs/PROTOCOL.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
