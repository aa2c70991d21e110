#!/usr/bin/env bash
# The tunnel end to end with iperf3 on loopback: no tunnel, handfast at privacy and at
# integrity, stunnel (TLS 1.3, AES-256-GCM, client certificates required) and spiped, taking
# turns in one run, several rounds, medians. Writes its table into BENCHMARKS.md.
#
# Usage: bench/tunnel.sh                       # ROUNDS=5 SECS=5 by default
#        ROUNDS=1 SECS=1 BENCHMARKS=/tmp/b.md bench/tunnel.sh    # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
SECS="${SECS:-5}"
OUT="${BENCHMARKS:-$PWD/BENCHMARKS.md}"

need=()
for tool in iperf3:iperf3 stunnel:stunnel4 spiped:spiped openssl:openssl; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]} (Debian packages)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cargo build --release --locked -q -p handfast-cli
HF="$PWD/target/release/handfast"

work="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

P_IPERF=$(free_port); iperf3 -s -p "$P_IPERF" >/dev/null 2>&1 & pids+=($!)

# handfast: one server (minimum integrity, so the client chooses) and a client per level.
"$HF" keygen --out "$work/server.key" >/dev/null
"$HF" keygen --out "$work/client.key" >/dev/null
P_HF=$(free_port); P_HFP=$(free_port); P_HFI=$(free_port)
HANDFAST_LOG=warn "$HF" server --listen "127.0.0.1:$P_HF" --forward "127.0.0.1:$P_IPERF" --key "$work/server.key" \
    --allow "$work/client.key.pub" --min-level integrity 2>"$work/hf-server.log" & pids+=($!)
for level in privacy integrity; do
    port=$P_HFP; [ "$level" = integrity ] && port=$P_HFI
    HANDFAST_LOG=warn "$HF" client --listen "127.0.0.1:$port" --connect "127.0.0.1:$P_HF" --key "$work/client.key" \
        --server-key "$work/server.key.pub" --level "$level" 2>"$work/hf-client-$level.log" & pids+=($!)
done

# stunnel: a private CA, ECDSA P-256 certificates, client certificates required, TLS 1.3 only.
(
    cd "$work"
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
P_ST=$(free_port); P_STC=$(free_port)
cat > "$work/stunnel-server.conf" <<CONF
foreground = yes
pid =
[bench]
accept = 127.0.0.1:$P_ST
connect = 127.0.0.1:$P_IPERF
cert = $work/server.pem
key = $work/server.key
CAfile = $work/ca.pem
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
CONF
cat > "$work/stunnel-client.conf" <<CONF
foreground = yes
pid =
[bench]
client = yes
accept = 127.0.0.1:$P_STC
connect = 127.0.0.1:$P_ST
cert = $work/client.pem
key = $work/client.key
CAfile = $work/ca.pem
verifyChain = yes
checkHost = server.test
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
CONF
stunnel "$work/stunnel-server.conf" >"$work/stunnel-server.log" 2>&1 & pids+=($!)
stunnel "$work/stunnel-client.conf" >"$work/stunnel-client.log" 2>&1 & pids+=($!)

# spiped: a shared 32-byte key.
head -c 32 /dev/urandom > "$work/spiped.key"
P_SP=$(free_port); P_SPC=$(free_port)
spiped -d -F -s "[127.0.0.1]:$P_SP" -t "[127.0.0.1]:$P_IPERF" -k "$work/spiped.key" & pids+=($!)
spiped -e -F -s "[127.0.0.1]:$P_SPC" -t "[127.0.0.1]:$P_SP" -k "$work/spiped.key" & pids+=($!)

for p in "$P_IPERF" "$P_HF" "$P_HFP" "$P_HFI" "$P_ST" "$P_STC" "$P_SP" "$P_SPC"; do wait_port "$p"; done

names=("no tunnel" "handfast privacy" "handfast integrity" "stunnel (TLS 1.3, client certs)" "spiped")
ports=("$P_IPERF" "$P_HFP" "$P_HFI" "$P_STC" "$P_SPC")
results="$work/results"
: > "$results"
measure() {
    iperf3 -c 127.0.0.1 -p "$1" -t "$SECS" -J 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["end"]["sum_received"]["bits_per_second"]/1e9, 3))' \
        2>/dev/null || echo 0
}
for round in $(seq "$ROUNDS"); do
    for i in "${!names[@]}"; do
        gbps=$(measure "${ports[$i]}")
        if [ "$gbps" = 0 ]; then
            # The iperf3 server takes one test at a time; give it a moment and try once more.
            sleep 1
            gbps=$(measure "${ports[$i]}")
        fi
        echo "round $round: ${names[$i]}: $gbps Gbit/s"
        printf '%s\t%s\n' "${names[$i]}" "$gbps" >> "$results"
    done
done

python3 - "$results" "$OUT" "$ROUNDS" "$SECS" <<'PY'
import statistics, sys, platform, os, re
results, out, rounds, secs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for line in open(results):
    name, v = line.rstrip("\n").split("\t")
    by.setdefault(name, []).append(float(v))
med = {k: statistics.median(v) for k, v in by.items()}
st = med.get("stunnel (TLS 1.3, client certs)") or float("nan")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
lines = ["<!-- tunnel: generated by bench/tunnel.sh -->", "",
         f"iperf3 through each tunnel pair on loopback, one stream, {secs} s per run, taking turns, median of {rounds} rounds.",
         f"Machine: {cpu}, {os.cpu_count()} cores; iperf3, both tunnel ends and the tunnels share them.", "",
         "| path | Gbit/s (median) | runs | vs stunnel |", "| --- | ---: | --- | ---: |"]
for name, v in by.items():
    lines.append(f"| {name} | {med[name]:.2f} | {', '.join(f'{x:.2f}' for x in v)} | {med[name]/st:.2f} |")
lines += ["", "<!-- end tunnel -->"]
section = "\n".join(lines)
old = open(out).read() if os.path.exists(out) else "# Benchmarks\n"
m = re.search(r"<!-- tunnel:.*?<!-- end tunnel -->", old, re.S)
new = old[:m.start()] + section + old[m.end():] if m else old.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(new)
print(section)
PY
