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
# Everything listens on and connects to 127.0.0.x only (bench/lib.sh). A run of the default
# takes about 2 minutes on 2 cores once built.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init fanout-palabre

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(1000 5000)
runs=${RUNS:-3}
store=${STORE:-memory}
moves=${MOVES:-20}
interval=${INTERVAL_MS:-200}

need python3
build_palabre
build_baseline
url=
case $store in
  memory) ;;
  redis) need redis-server redis-cli; start_redis; url=$redis_url ;;
  *) echo "STORE=$store: use memory or redis" >&2; exit 1 ;;
esac
load_timeout=$((90 + moves * interval / 1000))

echo "store=$store runs=$runs N=${ns[*]} moves=$moves interval=${interval}ms; raw lines: $out, reports: $out.log" >&2
for n in "${ns[@]}"; do
  for r in $(seq "$runs"); do
    # Palabre.
    [ -z "$url" ] || rcli flushall >/dev/null
    start_servers 1 "$url"
    echo "== palabre n=$n run=$r" >>"$out.log"
    if report=$(timeout "$load_timeout" "$palabre" load --url "$load_url" --clients "$n" \
      --server-pid "$load_pids" --moves "$moves" --interval-ms "$interval" 2>&1); then
      echo "$report" >>"$out.log"
      line=$(grep '^RESULT' <<<"$report" || true)
      echo "palabre $line load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    else
      echo "$report" >>"$out.log"
      echo "palabre load failed (n=$n run=$r); see $out.log" >&2
    fi
    stop_servers
    sleep 1

    # The baseline, same N.
    echo "== baseline n=$n run=$r" >>"$out.log"
    run_baseline "$n"
    [ -z "$baseline_line" ] || echo "baseline $baseline_line load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    sleep 1
  done
done

echo
echo "fan-out, store=$store, $(nproc) cores: median over $runs runs [min-max]; latency: Palabre from the moderator's"
echo "command to each agenda.moved, the baseline from its broadcast; load avg: 1-min, at the end of each run"
table '
by_n = {}
for who, kv in rows(sys.argv[1]):
    by_n.setdefault(int(kv.get("clients") or kv["n"]), {}).setdefault(who, []).append(kv)

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
for n in sorted(by_n):
    p, b = by_n[n].get("palabre", []), by_n[n].get("baseline", [])
    cpu = [us_per_delivery(r) for r in p]
    print("| " + " | ".join([
        f"{n} ({len(p)}/{len(b)} runs)",
        cell(p, "p50_ms"), cell(p, "p99_ms"), cell(p, "max_ms"),
        cell(b, "p50_ms"), cell(b, "p99_ms"), cell(b, "max_ms"),
        ratio(med(p, "p50_ms"), med(b, "p50_ms")), ratio(med(p, "p99_ms"), med(b, "p99_ms")),
        cell(p, "rss_per_conn_kib"), cell(b, "rss_per_conn_kib"),
        cell(p, "connect_s", "{:.2f}"), cell(b, "connect_s", "{:.2f}"),
        cell(p, "lost", "{:.0f}"), cell(b, "lost", "{:.0f}"),
        cell([c for c in cpu if c], "x"),
        cell(p + b, "load1", "{:.1f}"),
    ]) + " |")
'
