#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests use if missing
# (scripts/deps.sh: a real Redis, openssl for the X.509 test PKI, MIT Kerberos for a
# throwaway realm and its GSS-API samples, Python's `cryptography` for the independent vector
# check), then the Rust tests and the protocol vector check.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

HANDFAST_REQUIRE_PYTHON=1 cargo test --workspace --locked --no-fail-fast --features handfast-cli/kerberos
python3 tests/vectors/check.py
