#!/usr/bin/env bash
# Makes the test PKI with the openssl command-line tool (OpenSSL 3.0 or later) in folder $1:
# CAs, leaves of every supported key type, chains through intermediates, and certificates that
# must be refused. The tests in ../openssl.rs say what each one is for.
set -euo pipefail
out=${1:?usage: make.sh FOLDER}
mkdir -p "$out"
cd "$out"
umask 077

cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ca_pathlen0]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:spiffe://example.org/server, DNS:db.example.org

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://example.org/client

[client_dns]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:ops.example.org

[intruder]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://example.org/intruder

[other_domain]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://evil.example/client

[two_uris]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://example.org/client, URI:spiffe://example.org/admin

# Not an SVID (this side would refuse to load it as one), so that webpki's own check is what
# refuses it.
[ca_as_leaf]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
extendedKeyUsage = clientAuth
subjectAltName = DNS:ca-leaf.example.org

[no_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = URI:spiffe://example.org/client

[server_auth_only]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = URI:spiffe://example.org/client

[client_auth_only_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://example.org/server, DNS:db.example.org
EOF

# A CA folder for `openssl ca`: what it needs to sign with dates and to keep a CRL.
ca_config() { # name key cert
    mkdir -p "db-$1/new"
    : > "db-$1/index.txt"
    echo 1000 > "db-$1/serial"
    echo 1000 > "db-$1/crlnumber"
    cat > "ca-$1.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = db-$1
database = db-$1/index.txt
serial = db-$1/serial
crlnumber = db-$1/crlnumber
new_certs_dir = db-$1/new
private_key = $2
certificate = $3
default_md = sha256
default_crl_days = 30
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
EOF
}

key() { # file algorithm [options...]
    local f=$1 alg=$2
    shift 2
    openssl genpkey -algorithm "$alg" "$@" -out "$f" 2>/dev/null
}

selfsigned() { # name key subject
    openssl req -x509 -new -key "$2" -subj "$3" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

sign() { # name issuer-name extension-section [sigopts...]; key $name.key exists
    local name=$1 issuer=$2 section=$3
    shift 3
    openssl req -new -key "$name.key" -subj "/O=handfast test/CN=$name" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" \
        -CAcreateserial -days 30 -sha256 "$@" \
        -extfile ext.cnf -extensions "$section" -out "$name.pem" 2>/dev/null
    rm "$name.csr"
}

dated() { # name issuer-name extension-section startdate enddate
    local name=$1 issuer=$2 section=$3
    openssl req -new -key "$name.key" -subj "/O=handfast test/CN=$name" -out "$name.csr"
    openssl ca -batch -config "ca-$issuer.cnf" -in "$name.csr" -startdate "$4" -enddate "$5" \
        -extfile ext.cnf -extensions "$section" -notext -out "$name.pem" 2>/dev/null
    rm "$name.csr"
}

# Roots: ECDSA P-256 (the trust domain's), RSA 3072, and one nobody trusts.
key root.key EC -pkeyopt ec_paramgen_curve:P-256
selfsigned root root.key "/O=handfast test/CN=root"
ca_config root root.key root.pem
key rsa-root.key RSA -pkeyopt rsa_keygen_bits:3072
selfsigned rsa-root rsa-root.key "/O=handfast test/CN=rsa root"
key other-root.key EC -pkeyopt ec_paramgen_curve:P-256
selfsigned other-root other-root.key "/O=someone else/CN=other root"

# An intermediate (P-384) under the root.
key inter.key EC -pkeyopt ec_paramgen_curve:P-384
sign inter root ca_pathlen0
ca_config inter inter.key inter.pem

# The server and the client of every kind.
key server.key EC -pkeyopt ec_paramgen_curve:P-256
sign server root server
key client-p256.key EC -pkeyopt ec_paramgen_curve:P-256
sign client-p256 root client
key client-p384.key EC -pkeyopt ec_paramgen_curve:P-384
sign client-p384 inter client
cat client-p384.pem inter.pem > client-p384.chain.pem
key client-ed25519.key ED25519
sign client-ed25519 root client
key client-rsa2048.key RSA -pkeyopt rsa_keygen_bits:2048
sign client-rsa2048 rsa-root client
key client-rsa3072-pss.key RSA -pkeyopt rsa_keygen_bits:3072
sign client-rsa3072-pss rsa-root client -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
key client-dns.key EC -pkeyopt ec_paramgen_curve:P-256
sign client-dns root client_dns
# A key restricted to RSA-PSS (id-RSASSA-PSS), which webpki does not support.
key client-pss-key.key RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha256 \
    -pkeyopt rsa_pss_keygen_mgf1_md:sha256 -pkeyopt rsa_pss_keygen_saltlen:32
sign client-pss-key rsa-root client -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest

# Clients that must be refused.
for name in expired not-yet-valid unknown-ca intruder other-domain two-uris ca-as-leaf \
    no-client-auth no-eku revoked deep; do
    key "$name.key" EC -pkeyopt ec_paramgen_curve:P-256
done
dated expired root client 20200101000000Z 20210101000000Z
dated not-yet-valid root client 20990101000000Z 20991231000000Z
sign unknown-ca other-root client
sign intruder root intruder
sign other-domain root other_domain
sign two-uris root two_uris
sign ca-as-leaf root ca_as_leaf
sign no-client-auth root server_auth_only
sign no-eku root no_eku
dated revoked root client 20200101000000Z 20991231000000Z
openssl ca -batch -config ca-root.cnf -revoke revoked.pem -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config ca-root.cnf -gencrl -out root.crl 2>/dev/null
openssl ca -batch -config ca-inter.cnf -gencrl -out inter.crl 2>/dev/null
cat root.crl inter.crl > all.crl
# The same root CRL, past its nextUpdate.
openssl ca -batch -config ca-root.cnf -gencrl -crl_lastupdate 20200101000000Z \
    -crl_nextupdate 20200201000000Z -out root-expired.crl 2>/dev/null
cat root-expired.crl inter.crl > expired.crl

# A subject whose OU value holds ", CN=x": it must not read as two attributes.
key tricky-subject.key EC -pkeyopt ec_paramgen_curve:P-256
openssl req -new -key tricky-subject.key -subj "/O=Tenants/OU=ops, CN=x/CN=t1" -out tricky-subject.csr
openssl x509 -req -in tricky-subject.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
    -sha256 -extfile ext.cnf -extensions client_dns -out tricky-subject.pem 2>/dev/null
rm tricky-subject.csr

# A server without serverAuth.
key server-no-server-auth.key EC -pkeyopt ec_paramgen_curve:P-256
sign server-no-server-auth root client_auth_only_server

# A chain with seven intermediates under the root (webpki allows six).
issuer=root
chain=""
for i in 1 2 3 4 5 6 7; do
    key "deep-ca$i.key" EC -pkeyopt ec_paramgen_curve:P-256
    sign "deep-ca$i" "$issuer" ca
    chain="deep-ca$i.pem $chain"
    issuer="deep-ca$i"
done
sign deep "$issuer" client
# shellcheck disable=SC2086
cat deep.pem $chain > deep.chain.pem

cat root.pem rsa-root.pem > bundle.pem
rm -f ./*.srl
echo "test PKI made in $out"
