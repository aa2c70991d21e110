# Shared pieces of the tunnel benchmarks (sourced by tunnel.sh and latency.sh): tools, ports,
# keys and certificates, and the peer tunnels configured as their users would run them.

install_missing() {
    local need=() tool
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        echo "installing ${need[*]} (Debian packages)"
        local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
    echo "port $1 never opened" >&2
    return 1
}

# Noise keys for a handfast client and server in $1.
handfast_keys() {
    "$HF" keygen --out "$1/server.key" >/dev/null
    "$HF" keygen --out "$1/client.key" >/dev/null
}

# A private CA and ECDSA P-256 certificates for stunnel's server and client, in $1.
stunnel_certs() {
    (
        cd "$1"
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 2 -out ca.pem 2>/dev/null
        for who in server client; do
            openssl ecparam -name prime256v1 -genkey -noout -out "$who.key" 2>/dev/null
            openssl req -new -key "$who.key" -subj "/CN=$who.test" -out "$who.csr" 2>/dev/null
            printf 'subjectAltName=DNS:%s.test\n' "$who" > "$who.ext"
            openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                -extfile "$who.ext" -out "$who.pem" 2>/dev/null
        done
    )
}

# stunnel as a TLS 1.3 server with client certificates required: $1 work dir, $2 listen
# port, $3 target port. Runs in the background; its pid is appended to pids.
stunnel_server() {
    cat > "$1/stunnel-server-$2.conf" <<CONF
foreground = yes
pid =
[bench]
accept = 127.0.0.1:$2
connect = 127.0.0.1:$3
cert = $1/server.pem
key = $1/server.key
CAfile = $1/ca.pem
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
CONF
    stunnel "$1/stunnel-server-$2.conf" >"$1/stunnel-server-$2.log" 2>&1 & pids+=($!)
}

# stunnel as the matching client: $1 work dir, $2 listen port, $3 server port.
stunnel_client() {
    cat > "$1/stunnel-client-$2.conf" <<CONF
foreground = yes
pid =
[bench]
client = yes
accept = 127.0.0.1:$2
connect = 127.0.0.1:$3
cert = $1/client.pem
key = $1/client.key
CAfile = $1/ca.pem
verifyChain = yes
checkHost = server.test
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
CONF
    stunnel "$1/stunnel-client-$2.conf" >"$1/stunnel-client-$2.log" 2>&1 & pids+=($!)
}
