#!/usr/bin/env bash
# bench/run.sh — every benchmark, one after another, then docs/BENCHMARKS.md.
#
#   bench/run.sh                 all six
#   bench/run.sh signing links   only those (each is also bench/<name>.sh)
#
# Benchmarks: signing provisioning upload footprint links audit.
# Installs what it needs (apt: wrk hyperfine time curl jq chromium; the moto
# and LocalStack venvs through scripts/lib.sh; bench/node with npm ci from
# its lock file) and builds the release binary. Every service binds
# 127.0.0.1 and is stopped by PID when its benchmark ends. Settings
# (environment): BENCH_DURATION BENCH_CONNECTIONS BENCH_THREADS BENCH_WARMUP
# BENCH_TEAMMATES BENCH_BULK_PATH BENCH_BULK_FIELD BENCH_UPLOAD_MIB
# BENCH_UPLOAD_RUNS BENCH_STARTUP_RUNS BENCH_LINKS BENCH_RACE_ROUNDS
# BENCH_RACE_CONCURRENCY BENCH_AUDIT_ROWS BENCH_AUDIT_CONNECTIONS BENCH_EXPORT_RUNS
# (see each script's header). A full run takes about 25 minutes.
set -euo pipefail
DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ALL=(signing provisioning upload footprint links audit)
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
fi
(($#)) && WANT=("$@") || WANT=("${ALL[@]}")
for name in "${WANT[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || { echo "unknown benchmark: $name (one of: ${ALL[*]})" >&2; exit 2; }
done
failed=()
for name in "${WANT[@]}"; do
    echo "=== bench/$name.sh" >&2
    BENCH_NO_REPORT=1 "$DIR/$name.sh" || failed+=("$name")
done
python3 "$DIR/report.py"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
