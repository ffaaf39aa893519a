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
# (the CAST script, read from src/store/redis.rs at run time: bench/lib.sh, ballot_floor) by
# EVALSHA on the same Redis, with a subscriber on the feed channel as the servers are. Prints one
# line per run, then a table of medians with Palabre's acknowledged votes per second as a share
# of Redis's script rate, and whether the floor is met (at least FLOOR_SHARE % of Redis's rate
# and at least FLOOR_RATE votes/s).
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
# Everything listens on and connects to 127.0.0.x only (bench/lib.sh). The default takes about
# 3 minutes on 2 cores once built.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init votes-palabre

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(2000)
runs=${RUNS:-3}
change_percent=${CHANGE_PERCENT:-25}
recasts=${RECASTS:-1}
setups=${SETUPS:-memory redis redis2}

need redis-server redis-cli redis-benchmark python3
# Stop early, before any run, if the ballot script is not one this bench can fill in.
check_ballot_script
build_palabre
start_redis

echo "setups: $setups; N=${ns[*]}; runs=$runs; $change_percent % cast $recasts more;" \
  "raw lines: $out, reports: $out.log" >&2
for setup in $setups; do
  store_pid=()
  case $setup in
    memory) count=1 url= ;;
    redis) count=1 url=$redis_url store_pid=(--store-pid "$redis_pid") ;;
    redis2) count=2 url=$redis_url store_pid=(--store-pid "$redis_pid") ;;
    *) echo "unknown setup $setup (memory, redis, redis2)" >&2; exit 1 ;;
  esac
  for n in "${ns[@]}"; do
    for r in $(seq "$runs"); do
      rcli flushall >/dev/null
      busy=$(wait_quiet)
      start_servers "$count" "$url"
      echo "== $setup n=$n run=$r" >>"$out.log"
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

for r in $(seq "$runs"); do
  for pipeline in 1 16; do
    busy=$(wait_quiet)
    rps=$(ballot_floor "$pipeline")
    echo "floor RESULT pipeline=$pipeline clients=${REDIS_CLIENTS:-50} rps=$rps busy=$busy load1=$(cut -d' ' -f1 /proc/loadavg)" |
      tee -a "$out"
  done
done

echo
echo "a vote: $(nproc) cores, one ballot per participant, $change_percent % cast $recasts more;"
echo "median over $runs runs [min-max]; Redis floor: the server's ballot script by EVALSHA, ${REDIS_CLIENTS:-50} clients"
table '
floor_share, floor_rate = float(sys.argv[2]) / 100, float(sys.argv[3])
by, redis = {}, {}
for who, kv in rows(sys.argv[1]):
    if who == "floor":
        redis.setdefault(kv["pipeline"], []).append(kv)
    else:
        by.setdefault((who, int(kv["clients"])), []).append(kv)
floor, floor16 = med(redis.get("1", []), "rps"), med(redis.get("16", []), "rps")
head = ["setup", "N", "acked votes/s", "ack p50 ms", "ack p99 ms", "all tallies final after (ms)",
        "share of Redis script rate", "server µs/ballot", "Redis µs/ballot", "floor", "failed runs"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
order = {"memory": 0, "redis": 1, "redis2": 2}
for (who, n), rs in sorted(by.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
    rate = med(rs, "votes_per_s")
    share = rate / floor if floor == floor and rate == rate else float("nan")
    met = "met" if share >= floor_share and rate >= floor_rate else "NOT met"
    if who == "memory":
        met = "n/a (no Redis)"
    failed = sum(1 for r in rs if r.get("ok") != "true")
    print("| " + " | ".join([
        {"redis2": "2 × palabre, Redis"}.get(who, "palabre, " + who),
        f"{n:,}", cell(rs, "votes_per_s", "{:.0f}"), cell(rs, "ack_p50_ms"), cell(rs, "ack_p99_ms"),
        cell(rs, "converge_ms", "{:.0f}"), f"{share:.1%}" if share == share else "-", cell(rs, "us_per_cmd", "{:.0f}"),
        cell(rs, "store_us_per_cmd", "{:.0f}"), met if rate == rate else "-", f"{failed} of {len(rs)}",
    ]) + " |")
print()
runs = len(redis.get("1", []))
print(f"Redis alone, the ballot script by EVALSHA: {floor:,.0f}/s ({runs} runs, median); pipelined 16 deep: {floor16:,.0f}/s")
print(f"floor: at least {floor_share:.0%} of the script rate of Redis and at least {floor_rate:,.0f} votes/s")
' "${FLOOR_SHARE:-25}" "${FLOOR_RATE:-5000}"
