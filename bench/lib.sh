# What the benchmarks share: sourced by bench/*.sh (not run by itself).
#
#   bench_init NAME          cd to the repository, raise the open-files limit, set $out (raw
#                            RESULT lines; OUT=… to choose) and $out.log (full reports), clean up
#                            every process started here on exit
#   need TOOL…               stop with a clear message when a tool is missing
#   free_port                a free loopback port
#   wait_for_line F PAT PID  until file F holds PAT (10 s at most, while PID lives)
#   wait_quiet               wait (QUIET_WAIT s at most) until the machine is less than QUIET_BUSY %
#                            busy with something else; prints the busy share measured
#   build_palabre            release build; sets $palabre
#   build_baseline           the bare axum broadcast baseline (../shared/tools/fanout-baseline, or
#                            BASELINE_DIR), built under target/; sets $baseline
#   start_redis              a private redis-server on a free port; sets $redis_port, $redis_pid,
#                            $redis_url; `rcli …` talks to it
#   start_servers COUNT [REDIS_URL]
#                            COUNT fresh `palabre serve` on free ports; sets $load_url (a comma
#                            list) and $load_pids; stop_servers stops them and keeps what they
#                            said besides starting and stopping in $out.log
#   run_baseline N           the baseline server under its own load client with N connections;
#                            sets $baseline_line to its RESULT line (empty when it failed)
#   check_ballot_script      stop unless ballot_floor knows the ballot script's KEYS and ARGV
#   ballot_floor PIPELINE    redis-benchmark running the server's own ballot script (the CAST
#                            Lua of src/store/redis.rs, read now) by EVALSHA on the private Redis;
#                            prints its rate (calls a second)
#   upvote_floor PIPELINE    the same for an upvote's Redis work (SADD, HINCRBY, PUBLISH)
#   table PYTHON             runs PYTHON on $out with $BENCH_PY in front (parsing and medians)
#
# Every simulated phone comes from this machine: the per-address limits are lifted. Everything
# listens on and connects to 127.0.0.x only.

bench_init() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cd "$root"
  # Every socket is a descriptor, on both sides: the servers and the load clients inherit this.
  ulimit -n "$(ulimit -Hn)"
  out=${OUT:-$(mktemp -t "$1.XXXX")}
  : >"$out"
  : >"$out.log"
  pids=()
  trap bench_cleanup EXIT
  PALABRE_ADMIN_TOKEN=bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  export PALABRE_ADMIN_TOKEN
  export PALABRE_SOCKETS_PER_IP=1000000 PALABRE_OPENS_PER_IP=1000000
  unset REDIS_URL
  logs=()
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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

wait_quiet() {
  local waited=0 busy
  while busy=$(busy_percent); [ "$busy" -ge "${QUIET_BUSY:-15}" ] && [ "$waited" -lt "${QUIET_WAIT:-120}" ]; do
    sleep 4; waited=$((waited + 5))
  done
  [ "$busy" -lt "${QUIET_BUSY:-15}" ] || echo "note: the machine was still ${busy}% busy after ${waited} s" >&2
  echo "$busy"
}

build_palabre() {
  echo "building palabre (release)…" >&2
  cargo build --release -q --bin palabre
  palabre=$root/target/release/palabre
}

build_baseline() {
  local dir=${BASELINE_DIR:-$root/../shared/tools/fanout-baseline}
  echo "building the baseline from $dir…" >&2
  [ -f "$dir/Cargo.toml" ] || { echo "no baseline at $dir (set BASELINE_DIR)" >&2; exit 1; }
  # Its folder may be read-only: build it under our own target/.
  CARGO_TARGET_DIR=$root/target/fanout-baseline cargo build --release -q --locked --manifest-path "$dir/Cargo.toml"
  baseline=$root/target/fanout-baseline/release
}

start_redis() {
  redis_port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >"$out.redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$redis_port" ping >/dev/null
  redis_url=redis://127.0.0.1:$redis_port/0
}

rcli() { redis-cli -p "$redis_port" "$@"; }

start_servers() {
  local urls=() spids=() port log
  for _ in $(seq "$1"); do
    port=$(free_port)
    log=$(mktemp -t palabre-server.XXXX)
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
  server_pids=("${spids[@]}")
  load_url=$(IFS=,; echo "${urls[*]}")
  load_pids=$(IFS=,; echo "${spids[*]}")
}

stop_servers() {
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for l in "${logs[@]}"; do
    # What the servers said besides starting and stopping (warnings, errors) goes to the log.
    grep -v -e 'palabre listening' -e 'shutting down' -e 'palabre stopped' -e 'REDIS_URL is not set' \
      -e 'PALABRE_ADMIN_TOKEN' -e 'PALABRE_BALLOT_KEY' "$l" >>"$out.log" || true
    rm -f "$l"
  done
  logs=()
}

run_baseline() {
  local port log spid
  baseline_line=
  port=$(free_port)
  log=$(mktemp -t fanout-baseline-server.XXXX)
  "$baseline/server" "$port" >"$log" 2>&1 &
  spid=$!
  pids+=("$spid")
  wait_for_line "$log" "listening" "$spid"
  baseline_line=$(timeout 120 "$baseline/load" "$port" "$1" 2>>"$out.log") || {
    baseline_line=
    echo "baseline load failed (n=$1)" >&2
  }
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  rm -f "$log"
}

# The ballot script exactly as the server runs it: `ballot_script lua` prints the Lua of
# `const CAST` in src/store/redis.rs, `ballot_script shape` how many KEYS and ARGV it takes.
ballot_script() {
  python3 - src/store/redis.rs "$1" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'const CAST: &str = r#"(.*?)"#;', src, re.S)
if not m:
    sys.exit("no `const CAST: &str = r#\"…\"#;` in src/store/redis.rs")
lua = m.group(1)
keys = max(int(k) for k in re.findall(r"KEYS\[(\d+)\]", lua))
argv = max(int(a) for a in re.findall(r"ARGV\[(\d+)\]", lua))
print(f"{keys} {argv}" if sys.argv[2] == "shape" else lua.strip())
PY
}

# Stops the run, before anything is measured, unless the ballot script takes KEYS and ARGV that
# ballot_floor knows how to fill in.
check_ballot_script() {
  local shape
  shape=$(ballot_script shape)
  case $shape in
    "7 13" | "8 14") ;;
    *) echo "the CAST script takes $shape KEYS and ARGV: update bench/lib.sh (ballot_floor)" >&2; exit 1 ;;
  esac
}

# The floor under a vote: the ballot script by EVALSHA from redis-benchmark's parallel clients
# (REDIS_CLIENTS, 50; REDIS_REQUESTS, 200000), its keys and arguments as the server passes them for
# an open-mode ballot (src/store/redis.rs, `cast`): KEYS seq, cmd:<id>, polls, ballots:<poll>,
# tally:<poll>, participants, claims[, gate]; ARGV cmd TTL, channel, session, poll, the poll as
# read, voter key, choice, weight, receipt(s), hidden, roster weight (-1: open mode), roster entry
# and its claim (empty in open mode)[, the gate expected]. A fresh __rand_int__ in the command
# id, the voter key and the receipt makes nearly every call a new ballot (each occurrence is drawn
# apart), so every call runs the whole script. One subscriber listens on the channel, as the
# servers do (SSUBSCRIBE when the script publishes with SPUBLISH). A shape of KEYS and ARGV other
# than those known here stops the run rather than measure something else. (redis-benchmark's CSV
# does not escape the quotes and commas of the command it names, so the rate is read as the 7th
# field from the end.)
ballot_floor() {
  local pipeline=$1 shape lua sha first rps tag='palabre:{bench}' subscribe=subscribe
  shape=$(ballot_script shape)
  lua=$(ballot_script lua)
  local channel="$tag:feed"
  grep -q "SPUBLISH" <<<"$lua" && subscribe=ssubscribe
  local poll_json='{"id":"pbench","draft":"d1","status":"open","method":"simple","quorum":0,"secret":false,"hidden":false,"opened_at":1700000000000,"closed_at":null,"result":null}'
  local keys=("$tag:seq" "$tag:cmd:__rand_int__" "$tag:polls" "$tag:ballots:pbench" "$tag:tally:pbench"
    "$tag:participants" "$tag:claims")
  local args=(600 "$channel" bench pbench "$poll_json" voter-__rand_int__ for 1 "AB-__rand_int__" 0 -1 '' '')
  case $shape in
    "7 13") ;;
    "8 14") keys+=("$tag:gate") args+=(open) ;;
    *) echo "the CAST script now takes $shape KEYS and ARGV (this bench knows 7 13 and 8 14): update bench/lib.sh" >&2
       return 1 ;;
  esac
  rcli flushall >/dev/null
  sha=$(rcli script load "$lua")
  rcli hset "$tag:polls" pbench "$poll_json" >/dev/null
  rcli set "$tag:seq" 1 >/dev/null
  rcli set "$tag:gate" open >/dev/null
  python3 -c 'print("\n".join(f"HSET palabre:{{bench}}:participants pt{k} 1" for k in range(2000)))' | rcli >/dev/null
  redis-cli -p "$redis_port" "$subscribe" "$channel" >/dev/null &
  local subscriber=$!
  # The script must take its whole path once before it is timed ('ok', not 'retry' or 'dup').
  local check_keys=("${keys[@]}") check_args=("${args[@]}")
  check_keys[1]="$tag:cmd:check" check_args[5]=voter-check check_args[8]=AB-CHECK
  first=$(rcli evalsha "$sha" "${#keys[@]}" "${check_keys[@]}" "${check_args[@]}" | sed -n 1p)
  if [ "$first" != ok ]; then
    kill "$subscriber" 2>/dev/null || true
    echo "the ballot script answered '$first' instead of 'ok'" >&2
    return 1
  fi
  rps=$(redis-benchmark -p "$redis_port" -c "${REDIS_CLIENTS:-50}" -n "${REDIS_REQUESTS:-200000}" -P "$pipeline" \
    -r 100000000 --csv evalsha "$sha" "${#keys[@]}" "${keys[@]}" "${args[@]}" |
    tail -1 | python3 -c 'import sys; print(sys.stdin.read().strip().split(",")[-7].strip("\""))')
  kill "$subscriber" 2>/dev/null || true
  wait "$subscriber" 2>/dev/null || true
  echo "$rps"
}

# The floor under an upvote: its Redis work (add the voter to the question's set; if new, count it
# and publish the new count), as one script, by EVALSHA from redis-benchmark's parallel clients.
upvote_floor() {
  local script="if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('PUBLISH', ARGV[3], ARGV[2] .. ':' .. n)
  return n
end
return -1"
  rcli flushall >/dev/null
  local sha
  sha=$(rcli script load "$script")
  # __rand_int__ makes nearly every voter new, so every call does all three commands.
  redis-benchmark -p "$redis_port" -c "${REDIS_CLIENTS:-50}" -n "${REDIS_REQUESTS:-200000}" -P "$1" -r 100000000 --csv \
    evalsha "$sha" 2 'bench:{s}:q:voters' 'bench:{s}:counts' __rand_int__ q1 'bench:{s}:feed' |
    tail -1 | cut -d, -f2 | tr -d '"'
}

# Python the tables share: `rows(path)` reads the raw lines (`WHO RESULT k=v …`) into
# [(who, {k: v})]; `values(rs, key)` the numbers of a key, `med` their median, `cell` the median
# with [min-max], `ratio(a, b)` a / b or "-".
BENCH_PY='
import math, statistics as st, sys

def rows(path):
    out = []
    for line in open(path):
        who, _, rest = line.partition(" RESULT ")
        if rest:
            out.append((who, dict(f.split("=", 1) for f in rest.split() if "=" in f)))
    return out

def values(rs, key):
    out = []
    for r in rs:
        try:
            v = float(r[key])
        except (KeyError, ValueError, TypeError):
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

def ratio(a, b, fmt="{:.2f}"):
    return fmt.format(a / b) if b and not math.isnan(a) and not math.isnan(b) else "-"
'

table() {
  python3 -c "$BENCH_PY
$1" "$out" "${@:2}"
}
