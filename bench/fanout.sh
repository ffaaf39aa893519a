#!/usr/bin/env bash
# Fan-out benchmark: Palabre against the bare axum broadcast baseline, same machine, same run.
#
# Usage: bench/fanout.sh [N ...]        (default N: 1000 5000)
#
# For each N, RUNS times: a fresh `palabre serve` (memory store, or STORE=redis) on a free
# loopback port, put under `palabre load --clients N --server-pid <pid>`; then a fresh baseline
# server (../shared/tools/fanout-baseline) under its own load client with the same N. Prints
# one line per run, then a table of medians with the Palabre / baseline latency ratio.
#
# Environment:
#   RUNS=3            runs per N
#   STORE=memory      or redis: a private redis-server on a free port (REDIS_URL), flushed between runs
#   MOVES=20          Palabre moves (the baseline always sends 20 events, 200 ms apart)
#   INTERVAL_MS=200   ms between two moves
#   BASELINE_DIR=…    the baseline's sources (default: ../shared/tools/fanout-baseline from the repo root)
#   OUT=…             file for the raw RESULT lines (default: a new temporary file; the full
#                     reports go to $OUT.log)
#
# Everything listens on and connects to 127.0.0.x only. A run of the default takes about
# 2 minutes on 2 cores once built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(1000 5000)
runs=${RUNS:-3}
store=${STORE:-memory}
moves=${MOVES:-20}
interval=${INTERVAL_MS:-200}
baseline_dir=${BASELINE_DIR:-$root/../shared/tools/fanout-baseline}
out=${OUT:-$(mktemp -t fanout-palabre.XXXX)}
: >"$out"
: >"$out.log"

# Every socket is a descriptor, on both sides: the servers and the load clients inherit this.
ulimit -n "$(ulimit -Hn)"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_line FILE PATTERN PID: until FILE holds PATTERN (10 s at most, and while PID lives).
wait_for_line() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" && return 0
    kill -0 "$3" 2>/dev/null || { echo "process $3 died:" >&2; cat "$1" >&2; return 1; }
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2
  return 1
}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "building palabre (release)…" >&2
cargo build --release -q
palabre=$root/target/release/palabre

echo "building the baseline from $baseline_dir…" >&2
[ -f "$baseline_dir/Cargo.toml" ] || { echo "no baseline at $baseline_dir (set BASELINE_DIR)" >&2; exit 1; }
# Its folder may be read-only: build it under our own target/.
CARGO_TARGET_DIR=$root/target/fanout-baseline cargo build --release -q --locked \
  --manifest-path "$baseline_dir/Cargo.toml"
baseline=$root/target/fanout-baseline/release

unset REDIS_URL
redis_port=
if [ "$store" = redis ]; then
  redis_port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >"$out.redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$redis_port" ping >/dev/null
  export REDIS_URL=redis://127.0.0.1:$redis_port/0
elif [ "$store" != memory ]; then
  echo "STORE=$store: use memory or redis" >&2
  exit 1
fi
PALABRE_ADMIN_TOKEN=bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export PALABRE_ADMIN_TOKEN
# Every simulated phone comes from this one address: lift the per-address limits.
export PALABRE_SOCKETS_PER_IP=1000000 PALABRE_OPENS_PER_IP=1000000
load_timeout=$((90 + moves * interval / 1000))

echo "store=$store runs=$runs N=${ns[*]} moves=$moves interval=${interval}ms; raw lines: $out, reports: $out.log" >&2
for n in "${ns[@]}"; do
  for r in $(seq "$runs"); do
    # Palabre.
    [ -z "$redis_port" ] || redis-cli -p "$redis_port" flushall >/dev/null
    port=$(free_port)
    log=$(mktemp -t fanout-palabre-server.XXXX)
    PALABRE_ADDR=127.0.0.1:$port "$palabre" serve >"$log" 2>&1 &
    spid=$!
    pids+=("$spid")
    wait_for_line "$log" "palabre listening" "$spid"
    echo "== palabre n=$n run=$r" >>"$out.log"
    if report=$(timeout "$load_timeout" "$palabre" load --url "http://127.0.0.1:$port" --clients "$n" \
      --server-pid "$spid" --moves "$moves" --interval-ms "$interval" 2>&1); then
      echo "$report" >>"$out.log"
      line=$(grep '^RESULT' <<<"$report" || true)
      echo "palabre $line load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    else
      echo "$report" >>"$out.log"
      echo "palabre load failed (n=$n run=$r); see $out.log" >&2
    fi
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    rm -f "$log"
    sleep 1

    # The baseline, same N.
    port=$(free_port)
    log=$(mktemp -t fanout-baseline-server.XXXX)
    "$baseline/server" "$port" >"$log" 2>&1 &
    spid=$!
    pids+=("$spid")
    wait_for_line "$log" "listening" "$spid"
    echo "== baseline n=$n run=$r" >>"$out.log"
    if line=$(timeout 120 "$baseline/load" "$port" "$n" 2>>"$out.log"); then
      echo "baseline $line load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    else
      echo "baseline load failed (n=$n run=$r)" >&2
    fi
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    rm -f "$log"
    sleep 1
  done
done

echo
echo "fan-out, store=$store, $(nproc) cores: median over $runs runs [min-max]; latency: Palabre from the moderator's"
echo "command to each agenda.moved, the baseline from its broadcast; load avg: 1-min, at the end of each run"
python3 - "$out" <<'PY'
import math, statistics as st, sys

rows = {}
for line in open(sys.argv[1]):
    who, _, rest = line.partition(" RESULT ")
    if not rest:
        continue
    kv = dict(f.split("=", 1) for f in rest.split())
    n = int(kv.get("clients") or kv["n"])
    rows.setdefault(n, {}).setdefault(who, []).append(kv)

def values(rs, key):
    out = []
    for r in rs:
        try:
            v = float(r[key])
        except (KeyError, ValueError):
            continue
        if not math.isnan(v):
            out.append(v)
    return out

def med(rs, key):
    v = values(rs, key)
    return st.median(v) if v else float("nan")

def cell(rs, key, fmt="{:.1f}"):
    v = values(rs, key)
    if not v:
        return "-"
    return fmt.format(st.median(v)) + (" [" + fmt.format(min(v)) + "-" + fmt.format(max(v)) + "]" if len(v) > 1 else "")

def us_per_delivery(r):
    try:
        return {"x": str(float(r["server_cpu_s"]) * 1e6 / max(float(r["received"]), 1))}
    except (KeyError, ValueError):
        return {}

head = ["N", "palabre p50 ms", "p99 ms", "max ms", "baseline p50 ms", "p99 ms", "max ms",
        "ratio p50", "ratio p99", "RSS/conn KiB palabre", "baseline", "connect s palabre", "baseline",
        "lost palabre", "baseline", "palabre server µs/delivery", "load avg"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for n in sorted(rows):
    p, b = rows[n].get("palabre", []), rows[n].get("baseline", [])
    ratio = lambda k: (lambda x: "-" if math.isnan(x) else f"{x:.2f}")(med(p, k) / med(b, k) if med(b, k) else float("nan"))
    cpu = [us_per_delivery(r) for r in p]
    print("| " + " | ".join([
        f"{n} ({len(p)}/{len(b)} runs)",
        cell(p, "p50_ms"), cell(p, "p99_ms"), cell(p, "max_ms"),
        cell(b, "p50_ms"), cell(b, "p99_ms"), cell(b, "max_ms"),
        ratio("p50_ms"), ratio("p99_ms"),
        cell(p, "rss_per_conn_kib"), cell(b, "rss_per_conn_kib"),
        cell(p, "connect_s", "{:.2f}"), cell(b, "connect_s", "{:.2f}"),
        cell(p, "lost", "{:.0f}"), cell(b, "lost", "{:.0f}"),
        cell([c for c in cpu if c], "x"),
        cell(p + b, "load1", "{:.1f}"),
    ]) + " |")
PY
