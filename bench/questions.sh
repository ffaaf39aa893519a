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
# Everything listens on and connects to 127.0.0.x only (bench/lib.sh). The default takes about
# 5 minutes on 2 cores once built.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init questions-palabre

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(200 2000)
runs=${RUNS:-3}
questions=${QUESTIONS:-20}
upvotes=${UPVOTES:-12}
unvotes=${UNVOTES:-6}
setups=${SETUPS:-memory redis redis2}

need redis-server redis-cli redis-benchmark python3
build_palabre
start_redis

echo "setups: $setups; N=${ns[*]}; runs=$runs; $questions questions, $upvotes upvotes + $unvotes unvotes each;" \
  "raw lines: $out, reports: $out.log" >&2
for setup in $setups; do
  case $setup in
    memory) count=1 url= ;;
    redis) count=1 url=$redis_url ;;
    redis2) count=2 url=$redis_url ;;
    *) echo "unknown setup $setup (memory, redis, redis2)" >&2; exit 1 ;;
  esac
  for n in "${ns[@]}"; do
    for r in $(seq "$runs"); do
      rcli flushall >/dev/null
      start_servers "$count" "$url"
      echo "== $setup n=$n run=$r" >>"$out.log"
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

for r in $(seq "$runs"); do
  for pipeline in 1 16; do
    rps=$(upvote_floor "$pipeline")
    echo "floor RESULT pipeline=$pipeline clients=${REDIS_CLIENTS:-50} rps=$rps load1=$(cut -d' ' -f1 /proc/loadavg)" |
      tee -a "$out"
  done
done

echo
echo "upvote storm: $(nproc) cores, $questions questions, $upvotes upvotes + $unvotes unvotes per participant;"
echo "median over $runs runs [min-max]; Redis floor: the upvote script by EVALSHA, ${REDIS_CLIENTS:-50} clients"
table '
by, redis = {}, {}
for who, kv in rows(sys.argv[1]):
    if who == "floor":
        redis.setdefault(kv["pipeline"], []).append(kv)
    else:
        by.setdefault((who, int(kv["clients"])), []).append(kv)
floor, floor16 = med(redis.get("1", []), "rps"), med(redis.get("16", []), "rps")
head = ["setup", "N", "acked upvotes/s", "ack p50 ms", "ack p99 ms", "all clients final after (ms)",
        "share of Redis script rate", "server µs/command", "failed runs"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
order = {"memory": 0, "redis": 1, "redis2": 2}
for (who, n), rs in sorted(by.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
    failed = sum(1 for r in rs if r.get("ok") != "true")
    print("| " + " | ".join([
        {"redis2": "2 × palabre, Redis"}.get(who, "palabre, " + who),
        f"{n:,}", cell(rs, "acked_per_s", "{:.0f}"), cell(rs, "ack_p50_ms"), cell(rs, "ack_p99_ms"),
        cell(rs, "converge_ms", "{:.0f}"), ratio(med(rs, "acked_per_s"), floor, "{:.1%}"),
        cell(rs, "us_per_cmd", "{:.0f}"), f"{failed} of {len(rs)}",
    ]) + " |")
print()
runs = len(redis.get("1", []))
print(f"Redis alone, the upvote script by EVALSHA: {floor:,.0f}/s ({runs} runs, median); pipelined 16 deep: {floor16:,.0f}/s")
'
