#!/usr/bin/env bash
# bench/footprint.sh — benchmark 4: what the portal costs to run, next to
# Uppy Companion (the signing service a team would run instead), in one run:
#   binary       release binary size (stripped, as built) vs Companion's
#                node_modules plus the node binary it needs
#   start-up     exec until /healthz (portal) or / (Companion) first answers
#                200, BENCH_STARTUP_RUNS (default 20) times (bench/startup.py);
#                the portal's database already exists (a restart)
#   idle RSS     after start-up, then after a teammate is onboarded and the
#                owner signed in four more times (argon2id), 5 s idle; for the
#                portal as built and with MALLOC_MMAP_THRESHOLD_=131072 (what the
#                Dockerfile set before argon2id's buffer grew past glibc's
#                sliding threshold: the two rows should now agree), and for Companion
#   loaded RSS   peak RSS (VmHWM, reset after the sign-ins) after wrk on the
#                signing endpoints (as in bench/signing.sh: single PUT, then
#                part signing); the sign-ins' own peak is recorded apart
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
rss_anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }

# signed_in_idle PREFIX NAME KEY : a teammate onboarded and four more owner
# sign-ins (each an argon2id verification, 46 MiB of working memory), then
# 5 s idle; records KEY_rss_start_kib, KEY_rss_idle_kib, KEY_rss_anon_idle_kib,
# KEY_rss_signin_peak_kib (VmHWM so far: the sign-ins' transient peak), then
# resets the peak so the loaded figure below is the signing load's own.
signed_in_idle() {
    local prefix=$1 name=$2 key=$3 pid_var="${1}_PID" url_var="${1}_URL"
    json_set "$SUMMARY" "${key}_rss_start_kib" "$(rss_kib "${!pid_var}")"
    portal_onboard "$prefix" "$name"
    for _ in 1 2 3 4; do
        node "$BENCH_DIR/node/portal.mjs" login "${!url_var}" owner "$OWNER_PASSWORD" --out "$BENCH_SECRETS/login.json" >/dev/null
    done
    sleep 5
    json_set "$SUMMARY" "${key}_rss_idle_kib" "$(rss_kib "${!pid_var}")"
    json_set "$SUMMARY" "${key}_rss_anon_idle_kib" "$(rss_anon_kib "${!pid_var}")"
    json_set "$SUMMARY" "${key}_rss_signin_peak_kib" "$(hwm_kib "${!pid_var}")"
    echo 5 >"/proc/${!pid_var}/clear_refs" # VmHWM := current RSS (proc(5), clear_refs)
}

# The portal as built, and the same binary with glibc's mmap threshold fixed
# (MALLOC_MMAP_THRESHOLD_, as the Dockerfile set it before: see docs/BENCHMARKS.md).
start_portal P "$S3_URL" "$BUCKET" "$DATA"
start_portal T "$S3_URL" "$BUCKET" "$BENCH_SECRETS/portal-tuned" MALLOC_MMAP_THRESHOLD_=131072
sleep 2
signed_in_idle P bench-alice portal
signed_in_idle T bench-bob portal_tuned
start_companion C "$S3_URL" "$BUCKET"
sleep 5
json_set "$SUMMARY" companion_rss_idle_kib "$(rss_kib "$C_PID")"

# load PREFIX NAME_PREFIX : the signing load of bench/signing.sh on one portal.
load() {
    local prefix=$1 tag=$2 url_var="${1}_URL" cookie_var="${1}_TEAMMATE_COOKIE" csrf_var="${1}_TEAMMATE_CSRF" pid_var="${1}_PID"
    local mp
    mp=$(curl -fsS -X POST "${!url_var}/api/multipart" -H "Cookie: ${!cookie_var}" -H "x-csrf-token: ${!csrf_var}" \
        -H 'Content-Type: application/json' \
        -d '{"prefix":"batch","folder":"bench","relative_path":"big.bin","size":5368709120}')
    EGX_UPLOAD_ID=$(jq -r .upload_id <<<"$mp") EGX_PART_COUNT=$(jq -r .part_count <<<"$mp") \
        EGX_COOKIE="${!cookie_var}" EGX_CSRF="${!csrf_var}" BENCH_CPU_PID=${!pid_var} \
        run_wrk "$tag-presign" portal_presign.lua "${!url_var}"
    EGX_UPLOAD_ID=$(jq -r .upload_id <<<"$mp") EGX_PART_COUNT=$(jq -r .part_count <<<"$mp") \
        EGX_COOKIE="${!cookie_var}" EGX_CSRF="${!csrf_var}" BENCH_CPU_PID=${!pid_var} \
        run_wrk "$tag-part" portal_part.lua "${!url_var}"
}
load P portal
load T portal_tuned
BENCH_CPU_PID=$C_PID run_wrk companion-params companion_params.lua "$C_URL"
json_set "$SUMMARY" portal_rss_loaded_kib "$(hwm_kib "$P_PID")"
json_set "$SUMMARY" portal_tuned_rss_loaded_kib "$(hwm_kib "$T_PID")"
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
