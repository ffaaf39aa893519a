#!/usr/bin/env bash
# Upvote benchmark: Palabre's question storm against Redis's own rate for the same work, same run.
#
# Usage: bench/questions.sh [N ...]        (default N: 200 2000)
#
# Starts a private redis-server on a free loopback port. For each setup and N, RUNS times, with
# fresh servers each time: `palabre load --phase questions --clients N` (questions asked and
# approved, then every participant upvotes UPVOTES questions and unvotes UNVOTES of them; the
# run fails if any client's counts or a fresh moderator state differ from the expected ones).
# Then, RUNS times, the floor: redis-benchmark running an upvote-sized script (SADD + HINCRBY +
# PUBLISH, by EVALSHA) on the same Redis. Prints one line per run, then a table of medians with
# Palabre's acked upvotes per second as a share of Redis's script rate.
#
# Setups (SETUPS, default "memory redis redis2"):
#   memory   one `palabre serve`, in-memory store
#   redis    one `palabre serve` with REDIS_URL (the private Redis, flushed between runs)
#   redis2   two `palabre serve` with the same REDIS_URL; participants alternate between them,
#            and each one's fresh moderator state is checked
#
# Environment:
#   RUNS=3  QUESTIONS=20  UPVOTES=12  UNVOTES=6  SETUPS="memory redis redis2"
#   REDIS_CLIENTS=50   redis-benchmark's parallel clients (-c); REDIS_REQUESTS=200000 (-n)
#   OUT=…              file for the raw RESULT lines (default: a new temporary file; the full
#                      reports go to $OUT.log)
#
# Everything listens on and connects to 127.0.0.x only. The default takes about 5 minutes on
# 2 cores once built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(200 2000)
runs=${RUNS:-3}
questions=${QUESTIONS:-20}
upvotes=${UPVOTES:-12}
unvotes=${UNVOTES:-6}
setups=${SETUPS:-memory redis redis2}
redis_clients=${REDIS_CLIENTS:-50}
redis_requests=${REDIS_REQUESTS:-200000}
out=${OUT:-$(mktemp -t questions-palabre.XXXX)}
: >"$out"
: >"$out.log"

for tool in redis-server redis-cli redis-benchmark python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done

# Every socket is a descriptor, on both sides: the servers and the load client inherit this.
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
cargo build --release -q --bin palabre
palabre=$root/target/release/palabre

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >"$out.redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$redis_port" ping >/dev/null
rcli() { redis-cli -p "$redis_port" "$@"; }

PALABRE_ADMIN_TOKEN=bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export PALABRE_ADMIN_TOKEN
# Every simulated phone comes from this one address: lift the per-address limits.
export PALABRE_SOCKETS_PER_IP=1000000 PALABRE_OPENS_PER_IP=1000000
unset REDIS_URL

# start_servers COUNT [REDIS_URL]: starts COUNT fresh `palabre serve`; sets urls and spids.
start_servers() {
  urls=() spids=()
  for _ in $(seq "$1"); do
    local port log
    port=$(free_port)
    log=$(mktemp -t questions-palabre-server.XXXX)
    if [ -n "${2:-}" ]; then
      REDIS_URL=$2 PALABRE_ADDR=127.0.0.1:$port "$palabre" serve >"$log" 2>&1 &
    else
      PALABRE_ADDR=127.0.0.1:$port "$palabre" serve >"$log" 2>&1 &
    fi
    spids+=($!)
    pids+=($!)
    wait_for_line "$log" "palabre listening" "$!"
    urls+=("http://127.0.0.1:$port")
    logs+=("$log")
  done
}

stop_servers() {
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${spids[@]}"; do wait "$p" 2>/dev/null || true; done
  for l in "${logs[@]}"; do
    # What the servers said besides starting and stopping (warnings, errors) goes to the log.
    grep -v -e 'palabre listening' -e 'shutting down' -e 'palabre stopped' -e 'REDIS_URL is not set' \
      -e 'PALABRE_ADMIN_TOKEN' "$l" >>"$out.log" || true
    rm -f "$l"
  done
  logs=()
}

echo "setups: $setups; N=${ns[*]}; runs=$runs; $questions questions, $upvotes upvotes + $unvotes unvotes each;" \
  "raw lines: $out, reports: $out.log" >&2
logs=()
for setup in $setups; do
  case $setup in
    memory) count=1 url= ;;
    redis) count=1 url=redis://127.0.0.1:$redis_port/0 ;;
    redis2) count=2 url=redis://127.0.0.1:$redis_port/0 ;;
    *) echo "unknown setup $setup (memory, redis, redis2)" >&2; exit 1 ;;
  esac
  for n in "${ns[@]}"; do
    for r in $(seq "$runs"); do
      rcli flushall >/dev/null
      start_servers "$count" "$url"
      echo "== $setup n=$n run=$r" >>"$out.log"
      load_url=$(IFS=,; echo "${urls[*]}")
      load_pids=$(IFS=,; echo "${spids[*]}")
      if report=$(timeout 300 "$palabre" load --phase questions --url "$load_url" --server-pid "$load_pids" \
        --clients "$n" --questions "$questions" --upvotes "$upvotes" --unvotes "$unvotes" 2>&1); then
        status=ok
      else
        status=FAILED
        echo "palabre load failed ($setup n=$n run=$r); see $out.log" >&2
      fi
      echo "$report" >>"$out.log"
      line=$(grep '^RESULT' <<<"$report" || echo "RESULT clients=$n ok=false")
      echo "$setup $line exit=$status load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
      stop_servers
      sleep 1
    done
  done
done

# The floor: an upvote's Redis work (add the voter to the question's set; if new, count it and
# publish the new count), as one script, by EVALSHA from redis-benchmark's parallel clients.
script="if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('PUBLISH', ARGV[3], ARGV[2] .. ':' .. n)
  return n
end
return -1"
for r in $(seq "$runs"); do
  for pipeline in 1 16; do
    rcli flushall >/dev/null
    sha=$(rcli script load "$script")
    # __rand_int__ makes nearly every voter new, so every call does all three commands.
    rps=$(redis-benchmark -p "$redis_port" -c "$redis_clients" -n "$redis_requests" -P "$pipeline" -r 100000000 --csv \
      evalsha "$sha" 2 'bench:{s}:q:voters' 'bench:{s}:counts' __rand_int__ q1 'bench:{s}:feed' |
      tail -1 | cut -d, -f2 | tr -d '"')
    echo "floor RESULT pipeline=$pipeline clients=$redis_clients rps=$rps load1=$(cut -d' ' -f1 /proc/loadavg)" |
      tee -a "$out"
  done
done

echo
echo "upvote storm: $(nproc) cores, $questions questions, $upvotes upvotes + $unvotes unvotes per participant;"
echo "median over $runs runs [min-max]; Redis floor: the upvote script by EVALSHA, $redis_clients clients"
python3 - "$out" <<'PY'
import math, statistics as st, sys

rows, redis = {}, {}
for line in open(sys.argv[1]):
    who, _, rest = line.partition(" RESULT ")
    if not rest:
        continue
    kv = dict(f.split("=", 1) for f in rest.split() if "=" in f)
    if who == "floor":
        redis.setdefault(kv["pipeline"], []).append(float(kv["rps"]))
        continue
    rows.setdefault((who, int(kv["clients"])), []).append(kv)

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

def cell(rs, key, fmt="{:.0f}"):
    v = values(rs, key)
    if not v:
        return "-"
    return fmt.format(st.median(v)) + (" [" + fmt.format(min(v)) + "-" + fmt.format(max(v)) + "]" if len(v) > 1 else "")

floor = st.median(redis["1"]) if redis.get("1") else float("nan")
floor16 = st.median(redis["16"]) if redis.get("16") else float("nan")
head = ["setup", "N", "acked upvotes/s", "ack p50 ms", "ack p99 ms", "all clients final after (ms)",
        "share of Redis script rate", "server µs/command", "failed runs"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
order = {"memory": 0, "redis": 1, "redis2": 2}
for (who, n), rs in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
    rate = values(rs, "acked_per_s")
    share = f"{st.median(rate) / floor:.1%}" if rate and floor == floor else "-"
    failed = sum(1 for r in rs if r.get("ok") != "true")
    print("| " + " | ".join([
        {"redis2": "2 × palabre, Redis"}.get(who, "palabre, " + who),
        f"{n:,}", cell(rs, "acked_per_s"), cell(rs, "ack_p50_ms", "{:.1f}"), cell(rs, "ack_p99_ms", "{:.1f}"),
        cell(rs, "converge_ms"), share, cell(rs, "us_per_cmd", "{:.0f}"), f"{failed} of {len(rs)}",
    ]) + " |")
print()
print(f"Redis alone, the upvote script by EVALSHA: {floor:,.0f}/s ({len(redis.get('1', []))} runs, median);"
      f" pipelined 16 deep: {floor16:,.0f}/s")
PY
