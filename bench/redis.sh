#!/usr/bin/env bash
# redis-benchmark against a real Redis directly and through the handfast tunnel at privacy and
# at integrity, taking turns, ROUNDS rounds; prints requests per second (medians).
# Usage: bench/redis.sh            (ROUNDS=3 N=100000 CLIENTS=50 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"; N="${N:-100000}"; CLIENTS="${CLIENTS:-50}"
command -v redis-server >/dev/null || { echo "needs redis-server and redis-tools (apt-get install redis-server redis-tools)"; exit 1; }
cargo build --release --locked -q -p handfast-cli
HF="$PWD/target/release/handfast"
work="$(mktemp -d)"; pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. bench/lib.sh

R=$(free_port); redis-server --bind 127.0.0.1 --port "$R" --save "" --appendonly no >/dev/null & pids+=($!)
handfast_keys "$work"
S=$(free_port); P=$(free_port); I=$(free_port)
HANDFAST_LOG=warn "$HF" server --listen "127.0.0.1:$S" --forward "127.0.0.1:$R" --key "$work/server.key" \
    --allow "$work/client.key.pub" --min-level integrity 2>/dev/null & pids+=($!)
HANDFAST_LOG=warn "$HF" client --listen "127.0.0.1:$P" --connect "127.0.0.1:$S" --key "$work/client.key" \
    --server-key "$work/server.key.pub" --level privacy 2>/dev/null & pids+=($!)
HANDFAST_LOG=warn "$HF" client --listen "127.0.0.1:$I" --connect "127.0.0.1:$S" --key "$work/client.key" \
    --server-key "$work/server.key.pub" --level integrity 2>/dev/null & pids+=($!)
for p in "$R" "$S" "$P" "$I"; do wait_port "$p"; done

results="$work/results"; : > "$results"
for round in $(seq "$ROUNDS"); do
    for path in "direct:$R" "handfast privacy:$P" "handfast integrity:$I"; do
        name="${path%%:*}"; port="${path##*:}"
        redis-benchmark -h 127.0.0.1 -p "$port" -n "$N" -c "$CLIENTS" -t set,get -q 2>/dev/null | tr '\r' '\n' \
            | grep -E '^(SET|GET): [0-9.]+ requests per second' \
            | while read -r op rps _; do printf '%s\t%s\t%s\n' "$name" "${op%:}" "$rps" >> "$results"; done
    done
done
python3 - "$results" "$N" "$CLIENTS" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = {}
for name, op, rps in rows:
    med.setdefault((name, op), []).append(float(rps))
print(f"redis-benchmark -n {sys.argv[2]} -c {sys.argv[3]} -t set,get, median of {sys.argv[4]} rounds (requests/s)")
print("| path | SET | GET | vs direct |")
print("| --- | ---: | ---: | ---: |")
d = statistics.median(med[("direct", "SET")] + med[("direct", "GET")])
for name in ["direct", "handfast privacy", "handfast integrity"]:
    s, g = statistics.median(med[(name, "SET")]), statistics.median(med[(name, "GET")])
    print(f"| {name} | {s:,.0f} | {g:,.0f} | {statistics.median(med[(name,'SET')] + med[(name,'GET')]) / d:.2f} |")
PY
