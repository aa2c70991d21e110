#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the end-to-end tests use
# (a real Redis, the openssl tool that makes the X.509 test PKI, Python's `cryptography` for
# the independent vector check) if missing, then the Rust tests and the protocol vector check.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages) for the end-to-end tests"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! python3 -c 'import cryptography' 2>/dev/null; then
    python3 -m pip install --quiet cryptography
fi

HANDFAST_REQUIRE_PYTHON=1 cargo test --workspace --locked --no-fail-fast
python3 tests/vectors/check.py
