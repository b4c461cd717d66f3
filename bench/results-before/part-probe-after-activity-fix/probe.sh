#!/usr/bin/env bash
# ad-hoc profiling: healthz floor, part-sign with CPU split, moto HEAD rate
set -euo pipefail
. /work/wt-bench/bench/lib.sh
bench_init probe
start_moto S3
bench_bucket "$S3_URL" egx-probe "http://127.0.0.1"
start_portal P "$S3_URL" egx-probe "$BENCH_SECRETS/pd"
portal_onboard P bench-alice
mp=$(curl -fsS -X POST "$P_URL/api/multipart" -H "Cookie: $P_TEAMMATE_COOKIE" -H "x-csrf-token: $P_TEAMMATE_CSRF" -H 'Content-Type: application/json' -d '{"prefix":"batch","folder":"bench","relative_path":"big.bin","size":5368709120}')
export EGX_UPLOAD_ID=$(jq -r .upload_id <<<"$mp") EGX_PART_COUNT=$(jq -r .part_count <<<"$mp") EGX_COOKIE="$P_TEAMMATE_COOKIE" EGX_CSRF="$P_TEAMMATE_CSRF"
WRK_PATH=/healthz BENCH_CPU_PID=$P_PID run_wrk healthz get.lua "$P_URL"
t0=$(awk '{print $14+$15}' /proc/$P_PID/stat)
BENCH_CPU_PID=$P_PID run_wrk part portal_part.lua "$P_URL"
t1=$(awk '{print $14+$15}' /proc/$P_PID/stat)
echo "portal CPU ticks during part run: $((t1-t0)) (100/s)"
WRK_PATH=/egx-probe/batch/bench/none.csv run_wrk moto-head get.lua "$S3_URL" 
${PERF:+perf stat -p $P_PID sleep 1}
bench_finish
