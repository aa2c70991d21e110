#!/usr/bin/env bash
# Installs what the tests use, when missing (Debian packages; Python's `cryptography`):
# - a real Redis (redis-server, redis-tools) for the end-to-end tunnel tests;
# - openssl, which makes the X.509 test PKI;
# - MIT Kerberos: a KDC and its tools for a throwaway realm (krb5-kdc, krb5-admin-server,
#   krb5-user), MIT's GSS-API sample programs (krb5-gss-samples), and what the libgssapi crate
#   builds against (libkrb5-dev, libclang-dev, pkg-config);
# - Python's `cryptography`, for the independent protocol vector check.
set -euo pipefail

packages=(redis-server redis-tools openssl krb5-kdc krb5-admin-server krb5-user
    krb5-gss-samples libkrb5-dev libclang-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages) for the tests"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! python3 -c 'import cryptography' 2>/dev/null; then
    python3 -m pip install --quiet cryptography
fi
# Where the KDC's programs live (not on every user's PATH); the tests look there too.
command -v krb5kdc >/dev/null || [ -x /usr/sbin/krb5kdc ]
