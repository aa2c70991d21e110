#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from real handshakes and records
(tests/vectors/*.txt) and sample key and configuration files."""

import pathlib

HERE = pathlib.Path(__file__).parent
VECTORS = HERE.parent / "tests" / "vectors"


def framed(*parts):
    """The targets split input into chunks, each prefixed with its length (one byte)."""
    out = b""
    for p in parts:
        for i in range(0, len(p), 255):
            piece = p[i : i + 255]
            out += bytes([len(piece)]) + piece
    return out


def lines(name, prefix):
    for line in (VECTORS / name).read_text().splitlines():
        if line.startswith(prefix):
            yield line.split(": ", 1)[1]


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


flights = [bytes.fromhex(v) for v in lines("handshake.txt", "flight ")]
write("handshake_server", "clienthello", b"\x00" + framed(flights[0]))
write("handshake_server", "clienthello-then-finished", b"\x01" + framed(flights[0], flights[2]))
write("handshake_client", "serverhello-and-finished", b"\x00" + framed(flights[1]))
write("noise_tokens", "flight0", framed(flights[0]))
write("noise_tokens", "flight0-flight2", framed(flights[0], flights[2]))

block, n = None, 0
for line in (VECTORS / "records.txt").read_text().splitlines():
    if line.startswith("mode: "):
        block = line.split(": ")[1]
    elif line.startswith("seq ") and block:
        rec = bytes.fromhex(line.split(": ", 1)[1])
        n += 1
        if block == "stream":
            write("stream_records", f"record{n}", b"\x01" + framed(rec))
        else:
            write("datagram_records", f"record{n}", b"\x01" + framed(rec))

pub = "handfast-x25519 hyv2CP8wOYGQ1O4Y7awLXn7OTxzmIQVtxk3fOK8xTUI= demo-client\n"
write("key_files", "public", pub.encode())
write("key_files", "allow", f"# clients\n\n{pub}  {pub}".encode())
write(
    "key_files",
    "private",
    b"# handfast private key\nhandfast-x25519-private 0123456789abcdefghijklmnopqrstuvwxyzABCDEFG= server\n",
)
write(
    "config_toml",
    "full",
    b"""[[server]]
name = "redis"
listen = "0.0.0.0:7379"
forward = "127.0.0.1:6379"
key = "server.key"
allow = "clients.allow"
min_level = "privacy"
handshake_timeout = 10
max_connections = 1024
max_record_size = 65536
idle_timeout = 0
keepalive = 60

[[client]]
listen = "127.0.0.1:6379"
connect = "db.example.net:7379"
key = "client.key"
server_key = "server.key.pub"
level = "integrity"
""",
)
print("seed corpora written to", HERE / "corpus")
