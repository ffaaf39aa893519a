#!/usr/bin/env bash
# Vote benchmark: Palabre's poll (every phone casts a ballot, some change their mind) against
# Redis's own rate for the same ballot script, same run.
#
# Usage: bench/votes.sh [N ...]        (default N: 2000)
#
# Starts a private redis-server on a free loopback port. For each setup and N, RUNS times, with
# fresh servers each time: `palabre load --phase vote --clients N` (the moderator opens a poll
# on d1, every participant casts a ballot, CHANGE_PERCENT % of them cast RECASTS more with
# another choice; the moderator closes the poll; the run fails if the poll.closed result or a
# server's receipts.json differs from what the acknowledged ballots make, or on any refusal or
# lost ack). Then, RUNS times, the floor: redis-benchmark running the server's own ballot script
# (the CAST script, read from src/store/redis.rs at run time) by EVALSHA on the same Redis, with
# a subscriber on the feed channel as the servers are. Prints one line per run, then a table of
# medians with Palabre's acknowledged votes per second as a share of Redis's script rate, and
# whether the floor is met (at least FLOOR_SHARE % of Redis's rate and at least FLOOR_RATE
# votes/s).
#
# Setups (SETUPS, default "memory redis redis2"):
#   memory   one `palabre serve`, in-memory store (a reference: no Redis at all)
#   redis    one `palabre serve` with REDIS_URL (the private Redis, flushed between runs)
#   redis2   two `palabre serve` with the same REDIS_URL; participants alternate between them,
#            and each one's receipts.json is checked
#
# Environment:
#   RUNS=3  CHANGE_PERCENT=25  RECASTS=1  SETUPS="memory redis redis2"
#   REDIS_CLIENTS=50   redis-benchmark's parallel clients (-c); REDIS_REQUESTS=200000 (-n)
#   FLOOR_SHARE=25  FLOOR_RATE=5000
#   QUIET_BUSY=15  QUIET_WAIT=120   before each run, wait up to QUIET_WAIT s for the machine to
#                      be less than QUIET_BUSY % busy (other work skews every figure); each
#                      line records the busy share measured just before it (busy=)
#   OUT=…              file for the raw RESULT lines (default: a new temporary file; the full
#                      reports go to $OUT.log)
#
# Everything listens on and connects to 127.0.0.x only. The default takes about 3 minutes on
# 2 cores once built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(2000)
runs=${RUNS:-3}
change_percent=${CHANGE_PERCENT:-25}
recasts=${RECASTS:-1}
setups=${SETUPS:-memory redis redis2}
redis_clients=${REDIS_CLIENTS:-50}
redis_requests=${REDIS_REQUESTS:-200000}
floor_share=${FLOOR_SHARE:-25}
floor_rate=${FLOOR_RATE:-5000}
quiet_busy=${QUIET_BUSY:-15}
quiet_wait=${QUIET_WAIT:-120}
out=${OUT:-$(mktemp -t votes-palabre.XXXX)}
: >"$out"
: >"$out.log"

for tool in redis-server redis-cli redis-benchmark python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done

# The ballot script exactly as the server runs it: the Lua of `const CAST` in src/store/redis.rs.
# Its KEYS and ARGV (see the comment above it there) are filled in below; if the script now
# takes other ones, stop rather than measure something else.
script=$(python3 - src/store/redis.rs <<'PY'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'const CAST: &str = r#"(.*?)"#;', src, re.S)
if not m:
    sys.exit("no `const CAST: &str = r#\"…\"#;` in src/store/redis.rs")
lua = m.group(1)
keys = max(int(k) for k in re.findall(r"KEYS\[(\d+)\]", lua))
argv = max(int(a) for a in re.findall(r"ARGV\[(\d+)\]", lua))
if (keys, argv) != (7, 13):
    sys.exit(f"the CAST script now takes {keys} keys and {argv} args (this bench fills 7 and 13): update bench/votes.sh")
print(lua.strip())
PY
)

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

# busy_percent: the share of this machine's CPU time (all cores) that was busy over the next second.
busy_percent() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local total=0 idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# wait_quiet: the machine is shared; before a run, wait (QUIET_WAIT seconds at most) until less
# than QUIET_BUSY % of its CPU is busy with something else, and say so when it never was.
wait_quiet() {
  local waited=0 busy
  while busy=$(busy_percent); [ "$busy" -ge "$quiet_busy" ] && [ "$waited" -lt "$quiet_wait" ]; do
    sleep 4; waited=$((waited + 5))
  done
  [ "$busy" -lt "$quiet_busy" ] || echo "note: the machine was still ${busy}% busy after ${waited} s" >&2
  echo "$busy"
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
redis_pid=$!
pids+=($redis_pid)
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
    log=$(mktemp -t votes-palabre-server.XXXX)
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

echo "setups: $setups; N=${ns[*]}; runs=$runs; $change_percent % cast $recasts more;" \
  "raw lines: $out, reports: $out.log" >&2
logs=()
for setup in $setups; do
  store_pid=()
  case $setup in
    memory) count=1 url= ;;
    redis) count=1 url=redis://127.0.0.1:$redis_port/0 store_pid=(--store-pid "$redis_pid") ;;
    redis2) count=2 url=redis://127.0.0.1:$redis_port/0 store_pid=(--store-pid "$redis_pid") ;;
    *) echo "unknown setup $setup (memory, redis, redis2)" >&2; exit 1 ;;
  esac
  for n in "${ns[@]}"; do
    for r in $(seq "$runs"); do
      rcli flushall >/dev/null
      busy=$(wait_quiet)
      start_servers "$count" "$url"
      echo "== $setup n=$n run=$r" >>"$out.log"
      load_url=$(IFS=,; echo "${urls[*]}")
      load_pids=$(IFS=,; echo "${spids[*]}")
      if report=$(timeout 300 "$palabre" load --phase vote --url "$load_url" --server-pid "$load_pids" \
        "${store_pid[@]}" --clients "$n" --change-percent "$change_percent" --recasts "$recasts" 2>&1); then
        status=ok
      else
        status=FAILED
        echo "palabre load failed ($setup n=$n run=$r); see $out.log" >&2
      fi
      echo "$report" >>"$out.log"
      line=$(grep '^RESULT' <<<"$report" || echo "RESULT clients=$n ok=false")
      echo "$setup $line exit=$status busy=$busy load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
      stop_servers
      sleep 1
    done
  done
done

# The floor: the ballot script by EVALSHA from redis-benchmark's parallel clients, its keys and
# args as the server passes them for an open-mode ballot (src/store/redis.rs, apply_ballot):
# KEYS seq, cmd:<id>, polls, ballots:<poll>, tally:<poll>, participants, claims; ARGV cmd TTL,
# channel, session, poll, the poll as read, voter key, choice, weight, receipt, hidden, roster
# weight (-1: open mode), roster entry and its claim (empty in open mode). A fresh __rand_int__
# in the command id and the voter key makes nearly every call a new ballot (each occurrence is
# drawn apart), so every call runs the whole script. One subscriber listens on the channel, as
# the servers do. (redis-benchmark's CSV does not escape the quotes and commas of the command it
# names, so the rate is read as the 7th field from the end.)
tag='palabre:{bench}'
poll_json='{"id":"pbench","draft":"d1","status":"open","method":"simple","quorum":0,"secret":false,"hidden":false,"opened_at":1700000000000,"closed_at":null,"result":null}'
for r in $(seq "$runs"); do
  for pipeline in 1 16; do
    rcli flushall >/dev/null
    sha=$(rcli script load "$script")
    rcli hset "$tag:polls" pbench "$poll_json" >/dev/null
    rcli set "$tag:seq" 1 >/dev/null
    python3 -c 'print("\n".join(f"HSET palabre:{{bench}}:participants pt{k} 1" for k in range(2000)))' |
      rcli >/dev/null
    busy=$(wait_quiet)
    redis-cli -p "$redis_port" subscribe palabre:feed >/dev/null &
    subscriber=$!
    # The script must take its whole path once before it is timed ('ok', not 'retry' or 'dup').
    first=$(rcli evalsha "$sha" 7 "$tag:seq" "$tag:cmd:check" "$tag:polls" "$tag:ballots:pbench" \
      "$tag:tally:pbench" "$tag:participants" "$tag:claims" 600 palabre:feed bench pbench "$poll_json" \
      voter-check for 1 AB-CDEF 0 -1 '' '' | sed -n 1p)
    [ "$first" = ok ] || { echo "the ballot script answered '$first' instead of 'ok'" >&2; exit 1; }
    rps=$(redis-benchmark -p "$redis_port" -c "$redis_clients" -n "$redis_requests" -P "$pipeline" -r 100000000 --csv \
      evalsha "$sha" 7 "$tag:seq" "$tag:cmd:__rand_int__" "$tag:polls" "$tag:ballots:pbench" "$tag:tally:pbench" \
      "$tag:participants" "$tag:claims" 600 palabre:feed bench pbench "$poll_json" voter-__rand_int__ for 1 \
      AB-CDEF 0 -1 '' '' |
      tail -1 | python3 -c 'import sys; print(sys.stdin.read().strip().split(",")[-7].strip("\""))')
    ballots=$(rcli hlen "$tag:ballots:pbench")
    kill "$subscriber" 2>/dev/null || true
    wait "$subscriber" 2>/dev/null || true
    echo "floor RESULT pipeline=$pipeline clients=$redis_clients rps=$rps ballots=$ballots busy=$busy load1=$(cut -d' ' -f1 /proc/loadavg)" |
      tee -a "$out"
  done
done

echo
echo "a vote: $(nproc) cores, one ballot per participant, $change_percent % cast $recasts more;"
echo "median over $runs runs [min-max]; Redis floor: the server's ballot script by EVALSHA, $redis_clients clients"
python3 - "$out" "$floor_share" "$floor_rate" <<'PY'
import math, statistics as st, sys

floor_share, floor_rate = float(sys.argv[2]) / 100, float(sys.argv[3])
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
head = ["setup", "N", "acked votes/s", "ack p50 ms", "ack p99 ms", "all tallies final after (ms)",
        "share of Redis script rate", "server µs/ballot", "Redis µs/ballot", "floor", "failed runs"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
order = {"memory": 0, "redis": 1, "redis2": 2}
for (who, n), rs in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
    rate = values(rs, "votes_per_s")
    median = st.median(rate) if rate else float("nan")
    share = median / floor if rate and floor == floor else float("nan")
    met = "met" if share >= floor_share and median >= floor_rate else "NOT met"
    if who == "memory":
        met = "n/a (no Redis)"
    failed = sum(1 for r in rs if r.get("ok") != "true")
    print("| " + " | ".join([
        {"redis2": "2 × palabre, Redis"}.get(who, "palabre, " + who),
        f"{n:,}", cell(rs, "votes_per_s"), cell(rs, "ack_p50_ms", "{:.1f}"), cell(rs, "ack_p99_ms", "{:.1f}"),
        cell(rs, "converge_ms"), f"{share:.1%}" if share == share else "-", cell(rs, "us_per_cmd"),
        cell(rs, "store_us_per_cmd"), met if rate else "-", f"{failed} of {len(rs)}",
    ]) + " |")
print()
print(f"Redis alone, the ballot script by EVALSHA: {floor:,.0f}/s ({len(redis.get('1', []))} runs, median);"
      f" pipelined 16 deep: {floor16:,.0f}/s")
print(f"floor: at least {floor_share:.0%} of Redis's script rate and at least {floor_rate:,.0f} votes/s")
PY
