#!/usr/bin/env bash
# bench/footprint.sh — benchmark 4: what the portal costs to run, next to
# Uppy Companion (the signing service a team would run instead), in one run:
#   binary       release binary size (stripped, as built) vs Companion's
#                node_modules plus the node binary it needs
#   start-up     exec until /healthz (portal) or / (Companion) first answers
#                200, BENCH_STARTUP_RUNS (default 20) times (bench/startup.py);
#                the portal's database already exists (a restart)
#   idle RSS     after start-up and a signed-in teammate, 5 s idle
#   loaded RSS   peak RSS (VmHWM) after wrk on the signing endpoints (as in
#                bench/signing.sh: single PUT, then part signing)
# Results: bench/results/footprint/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init footprint
ensure_node_deps "$BENCH_DIR/node"

BUCKET=egx-bench-footprint
DATA="$BENCH_SECRETS/portal-data"
SUMMARY="$RESULTS/summary.json"
RUNS=${BENCH_STARTUP_RUNS:-20}

json_set "$SUMMARY" portal_binary_bytes "$(stat -c %s "$PORTAL_BIN")"
json_set "$SUMMARY" companion_install_bytes \
    "$(($(du -sb "$BENCH_DIR/node/node_modules" | cut -f1) + $(stat -L -c %s "$(command -v node)")))"

start_moto S3
bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
start_portal P "$S3_URL" "$BUCKET" "$DATA"
portal_onboard P bench-alice
start_companion C "$S3_URL" "$BUCKET"
sleep 5
json_set "$SUMMARY" portal_rss_idle_kib "$(rss_kib "$P_PID")"
json_set "$SUMMARY" companion_rss_idle_kib "$(rss_kib "$C_PID")"

mp=$(curl -fsS -X POST "$P_URL/api/multipart" -H "Cookie: $P_TEAMMATE_COOKIE" -H "x-csrf-token: $P_TEAMMATE_CSRF" \
    -H 'Content-Type: application/json' \
    -d '{"prefix":"batch","folder":"bench","relative_path":"big.bin","size":5368709120}')
export EGX_UPLOAD_ID EGX_PART_COUNT EGX_COOKIE="$P_TEAMMATE_COOKIE" EGX_CSRF="$P_TEAMMATE_CSRF"
EGX_UPLOAD_ID=$(jq -r .upload_id <<<"$mp")
EGX_PART_COUNT=$(jq -r .part_count <<<"$mp")
run_wrk portal-presign portal_presign.lua "$P_URL"
run_wrk portal-part portal_part.lua "$P_URL"
run_wrk companion-params companion_params.lua "$C_URL"
json_set "$SUMMARY" portal_rss_loaded_kib "$(hwm_kib "$P_PID")"
json_set "$SUMMARY" companion_rss_loaded_kib "$(hwm_kib "$C_PID")"
json_set "$SUMMARY" portal_rss_after_load_kib "$(rss_kib "$P_PID")"
stop_services

start_moto S3
bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
port=$(free_port)
mapfile -t penv < <(portal_env "$S3_URL" "$BUCKET" "$DATA" "EGX_LISTEN=127.0.0.1:$port")
bench_load startup-portal
bench_cmd "$EGX_TOOLS/moto/bin/python" "$BENCH_DIR/startup.py" "$RUNS" "http://127.0.0.1:$port/healthz" -- \
    env "${penv[@]}" "$PORTAL_BIN" serve >"$RESULTS/startup-portal.json"
cport=$(free_port)
mkdir -p "$BENCH_SECRETS/companion-data"
bench_load startup-companion
mapfile -t ccmd < <(companion_cmd "$cport" "$S3_URL" "$BUCKET" "$BENCH_SECRETS/companion-data")
bench_cmd "$EGX_TOOLS/moto/bin/python" "$BENCH_DIR/startup.py" "$RUNS" "http://127.0.0.1:$cport/" -- "${ccmd[@]}" \
    >"$RESULTS/startup-companion.json"
json_set "$SUMMARY" portal_startup_median_ms "$(jq .median_ms "$RESULTS/startup-portal.json")"
json_set "$SUMMARY" companion_startup_median_ms "$(jq .median_ms "$RESULTS/startup-companion.json")"
egx_log "start-up: portal $(jq .median_ms "$RESULTS/startup-portal.json") ms, Companion $(jq .median_ms "$RESULTS/startup-companion.json") ms"
bench_finish
