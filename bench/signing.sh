#!/usr/bin/env bash
# bench/signing.sh — benchmark 1: the signing endpoints.
#
# In one run, on one moto (S3 emulator) and at the same wrk concurrency:
#   portal-presign     POST /api/uploads              (teammate session + CSRF)
#   companion-params   Uppy Companion GET /s3/params
#   portal-part        POST /api/multipart/{id}/parts/{n}
#   companion-part     Uppy Companion GET /s3/multipart/{uploadId}/{n}
#   ceiling            aws-sdk-s3 presign in a loop, the portal's own client
#                      and presign functions (examples/presign_ceiling.rs),
#                      BENCH_THREADS tasks on BENCH_THREADS worker threads
#   moto-head          the emulator's HeadObject rate (the single PUT's S3 check)
# plus the portal's and Companion's RSS before and at the peak of the load.
# Results: bench/results/signing/ (wrk outputs, JSON, summary.json).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init signing

BUCKET=egx-bench-signing
start_moto S3
bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
start_portal P "$S3_URL" "$BUCKET" "$BENCH_SECRETS/portal-data"
portal_onboard P bench-alice
start_companion C "$S3_URL" "$BUCKET"

# One open multipart upload each, to sign parts of (5 GiB: 320 parts of 16 MiB).
SIZE=$((5 * 1024 * 1024 * 1024))
mp=$(curl -fsS -X POST "$P_URL/api/multipart" -H "Cookie: $P_TEAMMATE_COOKIE" -H "x-csrf-token: $P_TEAMMATE_CSRF" \
    -H 'Content-Type: application/json' \
    -d "{\"prefix\":\"batch\",\"folder\":\"bench\",\"relative_path\":\"big.bin\",\"size\":$SIZE}") \
    || egx_die "the portal did not start a multipart upload"
export EGX_UPLOAD_ID EGX_PART_COUNT
EGX_UPLOAD_ID=$(jq -r .upload_id <<<"$mp")
EGX_PART_COUNT=$(jq -r .part_count <<<"$mp")
cmp=$(curl -fsS -X POST "$C_URL/s3/multipart" -H 'Content-Type: application/json' \
    -d '{"filename":"big.bin","type":"application/octet-stream","metadata":{}}') \
    || egx_die "Companion did not start a multipart upload"
export COMPANION_UPLOAD_ID COMPANION_KEY
COMPANION_UPLOAD_ID=$(jq -r .uploadId <<<"$cmp")
COMPANION_KEY=$(jq -rn --arg k "$(jq -r .key <<<"$cmp")" '$k | @uri')
# Both answer one signing request correctly before anything is timed.
curl -fsS -X POST "$P_URL/api/uploads" -H "Cookie: $P_TEAMMATE_COOKIE" -H "x-csrf-token: $P_TEAMMATE_CSRF" \
    -H 'Content-Type: application/json' -d '{"prefix":"batch","folder":"bench","relative_path":"probe.csv","size":10}' \
    | jq -e '.url | test("X-Amz-Signature")' >/dev/null || egx_die "portal presign probe failed"
curl -fsS "$C_URL/s3/params?filename=probe.csv&type=text%2Fcsv" | jq -e '.fields["X-Amz-Signature"]' >/dev/null \
    || egx_die "Companion /s3/params probe failed"

SUMMARY="$RESULTS/summary.json"
json_set "$SUMMARY" portal_rss_idle_kib "$(rss_kib "$P_PID")"
json_set "$SUMMARY" companion_rss_idle_kib "$(rss_kib "$C_PID")"

export EGX_COOKIE="$P_TEAMMATE_COOKIE" EGX_CSRF="$P_TEAMMATE_CSRF"
BENCH_CPU_PID=$P_PID run_wrk portal-presign portal_presign.lua "$P_URL"
BENCH_CPU_PID=$C_PID run_wrk companion-params companion_params.lua "$C_URL"
BENCH_CPU_PID=$P_PID run_wrk portal-part portal_part.lua "$P_URL"
BENCH_CPU_PID=$C_PID run_wrk companion-part companion_part.lua "$C_URL"
json_set "$SUMMARY" portal_rss_peak_kib "$(hwm_kib "$P_PID")"
json_set "$SUMMARY" companion_rss_peak_kib "$(hwm_kib "$C_PID")"
# Every URL answered 2xx was recorded and audited: one uploads row and one
# upload.signed audit row per signed PUT (the probe, the warm-up, the run).
signed_ok=$(jq -s '1 + .[0].ok + .[1].ok' "$RESULTS/portal-presign-warmup.json" "$RESULTS/portal-presign.json")
read -r rows audited < <(sqlite_counts "$BENCH_SECRETS/portal-data/egx-portal.sqlite" \
    "SELECT count(*) FROM uploads WHERE object_key NOT LIKE '%big.bin'" \
    "SELECT count(*) FROM audit_events WHERE action = 'upload.signed'")
json_set "$SUMMARY" portal_presign_2xx "$signed_ok"
json_set "$SUMMARY" portal_uploads_rows "$rows"
json_set "$SUMMARY" portal_upload_signed_audit_rows "$audited"
# (A request still in flight when wrk stops was signed and recorded, but not
# counted by wrk: the rows may exceed the 2xx count by up to the connections.)
((rows == audited && rows >= signed_ok && rows - signed_ok <= 2 * BENCH_CONNECTIONS)) \
    || egx_log "WARNING: $signed_ok signed URLs but $rows uploads rows and $audited audit rows"

# The single-PUT endpoint asks S3 (HeadObject) whether the key exists before
# signing (no silent overwrite); Companion does not. The emulator's own
# HeadObject rate at the same concurrency, measured here, bounds it.
WRK_METHOD=HEAD WRK_PATH="/$BUCKET/batch/bench/no-such-file.csv" EGX_COOKIE='' BENCH_CPU_PID=$S3_PID \
    run_wrk moto-head get.lua "$S3_URL"

bench_load ceiling
bench_cmd env EGX_BUCKET="$BUCKET" EGX_REGION=us-east-1 EGX_S3_ENDPOINT="$S3_URL" EGX_DATA_DIR="$BENCH_SECRETS/ceiling" \
    "$EXAMPLES_DIR/presign_ceiling" --threads "$BENCH_THREADS" --seconds "$BENCH_DURATION" >"$RESULTS/ceiling.jsonl"
egx_log "ceiling: $(jq -c '{op, per_sec, p50_us, p99_us}' "$RESULTS/ceiling.jsonl" | tr '\n' ' ')"
bench_finish
