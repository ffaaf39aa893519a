#!/usr/bin/env bash
# Session benchmark: a whole session (join, agenda, question storm, vote storm, reconnect storm)
# on one `palabre serve`, each stage's figures set against its floor measured in the same run.
#
# Usage: bench/session.sh [N ...]        (default N: 2000)
#
# For each N, RUNS times: the floors, then Palabre.
#   - the bare axum broadcast baseline (../shared/tools/fanout-baseline, built under target/) under
#     its own load client with the same N: its RSS per idle connection and its fan-out p99;
#   - redis-benchmark running the server's own ballot script (the CAST Lua of src/store/redis.rs,
#     read at run time) by EVALSHA on a private redis-server (bench/lib.sh, ballot_floor);
#   - `palabre load --phase session --clients N --questions QUESTIONS` against a fresh release
#     `palabre serve` for each setup (SETUPS: memory, and redis with the private Redis, flushed
#     before each run): QUESTIONS questions asked and approved before the join (so every welcome
#     carries them with the SOU 94 drafts), the idle RSS per connection after the join, 20 agenda
#     moves, a storm of asks, approvals, upvotes and unvotes, a vote with changed votes, a tenth
#     of the clients dropping and coming back with `since`, and every client checked at the end.
# Prints one line per run, then per setup and N the medians as ratios to the floors, against the
# targets: RSS per idle connection ≤ 1.5 × the baseline's; agenda p99 ≤ 1.25 × the baseline's p99;
# acknowledged ballots a second ≥ 25 % of Redis's script rate (Redis setups); the tally including
# the last ballot at every client within 500 ms; nothing lost (and every check passed).
#
# Environment:
#   RUNS=3  SETUPS="memory redis"  QUESTIONS=500  MOVES=20  INTERVAL_MS=200
#   ASKS=20  UPVOTES=12  UNVOTES=6  CHANGE_PERCENT=25  RECASTS=1  RECONNECT_PERCENT=10
#   REDIS_CLIENTS=50  REDIS_REQUESTS=200000   redis-benchmark's -c and -n
#   QUIET_BUSY=15  QUIET_WAIT=120   before each measurement, wait up to QUIET_WAIT s for the machine
#                      to be less than QUIET_BUSY % busy; each line records the busy share (busy=)
#   BASELINE_DIR=…     the baseline's sources
#   OUT=…              file for the raw RESULT lines (default: a new temporary file; the full
#                      reports go to $OUT.log, each run's JSON to $OUT.<setup>.<N>.<run>.json)
#
# Everything listens on and connects to 127.0.0.x only. N=2000 takes about 4 minutes a run on
# 2 cores once built; N=10000 about 8.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init session-palabre

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(2000)
runs=${RUNS:-3}
setups=${SETUPS:-memory redis}
questions=${QUESTIONS:-500}

need redis-server redis-cli redis-benchmark python3
check_ballot_script
build_palabre
build_baseline
start_redis

echo "setups: $setups; N=${ns[*]}; runs=$runs; $questions questions ahead; raw lines: $out, reports: $out.log" >&2
for n in "${ns[@]}"; do
  for r in $(seq "$runs"); do
    busy=$(wait_quiet)
    echo "== baseline n=$n run=$r" >>"$out.log"
    run_baseline "$n"
    [ -z "$baseline_line" ] || echo "baseline $baseline_line busy=$busy" | tee -a "$out"

    busy=$(wait_quiet)
    rps=$(ballot_floor 1)
    echo "floor RESULT clients=$n rps=$rps busy=$busy" | tee -a "$out"

    for setup in $setups; do
      store_pid=()
      case $setup in
        memory) url= ;;
        redis) url=$redis_url store_pid=(--store-pid "$redis_pid") ;;
        *) echo "unknown setup $setup (memory, redis)" >&2; exit 1 ;;
      esac
      rcli flushall >/dev/null
      busy=$(wait_quiet)
      start_servers 1 "$url"
      echo "== $setup n=$n run=$r" >>"$out.log"
      if report=$(timeout 900 "$palabre" load --phase session --url "$load_url" --server-pid "$load_pids" \
        "${store_pid[@]}" --clients "$n" --questions "$questions" --moves "${MOVES:-20}" \
        --interval-ms "${INTERVAL_MS:-200}" --asks "${ASKS:-20}" --upvotes "${UPVOTES:-12}" \
        --unvotes "${UNVOTES:-6}" --change-percent "${CHANGE_PERCENT:-25}" --recasts "${RECASTS:-1}" \
        --reconnect-percent "${RECONNECT_PERCENT:-10}" --json "$out.$setup.$n.$r.json" 2>&1); then
        status=ok
      else
        status=FAILED
        echo "palabre load failed ($setup n=$n run=$r); see $out.log" >&2
      fi
      echo "$report" >>"$out.log"
      line=$(grep '^RESULT' <<<"$report" || echo "RESULT clients=$n ok=false")
      echo "$setup $line exit=$status busy=$busy" | tee -a "$out"
      stop_servers
      sleep 1
    done
  done
done

echo
echo "a whole session: $(nproc) cores, load on the same machine, $questions questions ahead; median over $runs runs"
echo "[min-max]; each figure with its ratio to the floor measured in the same run (target in brackets)"
table '
by, base, floor = {}, {}, {}
for who, kv in rows(sys.argv[1]):
    n = int(kv.get("clients") or kv.get("n"))
    if who == "baseline":
        base.setdefault(n, []).append(kv)
    elif who == "floor":
        floor.setdefault(n, []).append(kv)
    else:
        by.setdefault((who, n), []).append(kv)

def target(value, limit, below=True):
    if value != value:
        return "-"
    return "met" if (value <= limit if below else value >= limit) else "NOT met"

head = ["setup", "N", "RSS/idle conn KiB (baseline)", "ratio [≤ 1.5]", "agenda p99 ms (baseline)", "ratio [≤ 1.25]",
        "acked ballots/s (Redis script)", "share [≥ 25 %]", "tally at every client ms [≤ 500]", "lost",
        "connect/s", "upvotes/s", "upvote counts ms", "failed runs"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for (who, n), rs in sorted(by.items(), key=lambda kv: ({"memory": 0}.get(kv[0][0], 1), kv[0][1])):
    b, f = base.get(n, []), floor.get(n, [])
    rss, brss = med(rs, "rss_per_conn_kib"), med(b, "rss_per_conn_kib")
    p99, bp99 = med(rs, "agenda_p99_ms"), med(b, "p99_ms")
    votes, rate = med(rs, "votes_per_s"), med(f, "rps")
    tally = med(rs, "tally_latency_ms")
    share = votes / rate if rate == rate and rate else float("nan")
    share_cell = "n/a (no Redis)" if who == "memory" else (f"{share:.1%} " + target(share, 0.25, below=False) if share == share else "-")
    failed = sum(1 for r in rs if r.get("ok") != "true")
    print("| " + " | ".join([
        "palabre, " + who, f"{n:,}",
        cell(rs, "rss_per_conn_kib", "{:.2f}") + " (" + cell(b, "rss_per_conn_kib", "{:.2f}") + ")",
        ratio(rss, brss) + " " + target(rss / brss if brss else float("nan"), 1.5),
        cell(rs, "agenda_p99_ms") + " (" + cell(b, "p99_ms") + ")",
        ratio(p99, bp99) + " " + target(p99 / bp99 if bp99 else float("nan"), 1.25),
        cell(rs, "votes_per_s", "{:.0f}") + " (" + cell(f, "rps", "{:.0f}") + ")",
        share_cell,
        cell(rs, "tally_latency_ms", "{:.0f}") + " " + target(tally, 500),
        cell(rs, "lost", "{:.0f}"),
        cell(rs, "connect_per_s", "{:.0f}"), cell(rs, "upvotes_per_s", "{:.0f}"), cell(rs, "upvote_latency_ms", "{:.0f}"),
        f"{failed} of {len(rs)}",
    ]) + " |")
'
