#!/usr/bin/env bash
# bench/upload.sh — benchmark 3: the upload path.
#
# In one run, against one LocalStack (signature-checking S3) and the same file
# (BENCH_UPLOAD_MIB MiB of random bytes, default 1024):
#   page   the portal's upload page in headless Chromium (multipart, parts
#          PUT straight to S3), timed from choosing the file to "done"
#   cli    aws s3 cp FILE s3://BUCKET/cli/FILE (awscli v1, its defaults)
# each BENCH_UPLOAD_RUNS times (default 1), alternating; each object is read
# back and its SHA-256 compared with the file's.
#
# The portal carried none of the file's bytes — measured two ways:
#   * every byte between the browser and the portal passes through a counting
#     TCP relay (bench/countproxy.py; the portal's EGX_PUBLIC_URL is the
#     relay), so a portal that relayed the upload would have to receive the
#     file through it;
#   * the portal process's wchar (/proc/PID/io: every byte it passed to
#     write(2)/writev(2), sockets included) counts whatever it sent anywhere,
#     to S3 or elsewhere.
# Results: bench/results/upload/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init upload
ensure_apt_packages chromium
ensure_localstack
ensure_node_deps "$BENCH_DIR/node"

MIB=${BENCH_UPLOAD_MIB:-1024}
RUNS=${BENCH_UPLOAD_RUNS:-1}
BUCKET=egx-bench-upload
FILES=$(mktemp -d)
BENCH_CLEANUP+=("$FILES")
FILE="$FILES/market-data-${MIB}MiB.bin"
egx_log "writing $MIB MiB of random bytes to $FILE"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$FILE"
FILE_SHA=$(sha256sum "$FILE" | cut -d' ' -f1)
SIZE=$(stat -c %s "$FILE")

start_localstack S3
PROXY_PORT=$(free_port)
PUBLIC="http://127.0.0.1:$PROXY_PORT"
bench_bucket "$S3_URL" "$BUCKET" "$PUBLIC"
start_portal P "$S3_URL" "$BUCKET" "$FILES/portal-data" "EGX_PUBLIC_URL=$PUBLIC"
egx_start_service PROXY "counting relay" "$PROXY_PORT" egx_http_ok "$PUBLIC/healthz" \
    "$EGX_LOGS/bench-proxy-$PROXY_PORT.log" -- \
    "$EGX_TOOLS/moto/bin/python" "$BENCH_DIR/countproxy.py" "$PROXY_PORT" "$P_PORT" "$FILES/proxy.json"
P_URL=$PUBLIC portal_onboard P bench-uploader

# object_sha KEY : SHA-256 of the object as S3 holds it (streamed back).
object_sha() {
    "$EGX_TOOLS/moto/bin/python" - "$S3_URL" "$BUCKET" "$1" <<'PY'
import hashlib, sys
import boto3
url, bucket, key = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
h = hashlib.sha256()
for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
    h.update(chunk)
print(h.hexdigest())
PY
}
io_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/io"; }
proxy_bytes() { jq '.to_target + .from_target' "$FILES/proxy.json"; }

SUMMARY="$RESULTS/summary.json"
json_set "$SUMMARY" file_bytes "$SIZE"
: >"$RESULTS/runs.jsonl"
for ((run = 1; run <= RUNS; run++)); do
    # --- the portal's page ---
    bench_load "page run $run"
    sleep 1
    proxy0=$(proxy_bytes)
    w0=$(io_field "$P_PID" wchar)
    r0=$(io_field "$P_PID" rchar)
    printf '%s\n' "EGX_FILE=$FILE EGX_FOLDER=page-$run node bench/node/upload-page.mjs" >>"$RESULTS/commands.txt"
    EGX_BASE_URL=$PUBLIC EGX_TEAMMATE=bench-uploader EGX_TEAMMATE_PASSWORD=$TEAMMATE_PASSWORD EGX_FILE=$FILE \
        EGX_FOLDER="page-$run" node "$BENCH_DIR/node/upload-page.mjs" >"$RESULTS/page-$run.json" \
        || egx_die "the page upload failed"
    sleep 0.5
    proxy1=$(proxy_bytes)
    w1=$(io_field "$P_PID" wchar)
    r1=$(io_field "$P_PID" rchar)
    jq -e '.state == "done"' "$RESULTS/page-$run.json" >/dev/null || egx_die "page upload ended: $(cat "$RESULTS/page-$run.json")"
    key=$(jq -r .key "$RESULTS/page-$run.json")
    page_ok=$([[ $(object_sha "$key") == "$FILE_SHA" ]] && echo true || echo false)
    jq -c --argjson proxy "$((proxy1 - proxy0))" --argjson wchar "$((w1 - w0))" --argjson rchar "$((r1 - r0))" \
        --argjson run "$run" --argjson same "$page_ok" \
        '{run: $run, how: "page", seconds, bytes, mb_per_s, part_puts, key, sha256_matches: $same,
          portal_bytes_via_relay: $proxy, portal_wchar: $wchar, portal_rchar: $rchar}' \
        "$RESULTS/page-$run.json" >>"$RESULTS/runs.jsonl"
    egx_log "page run $run: $(tail -n1 "$RESULTS/runs.jsonl")"

    # --- aws s3 cp ---
    bench_load "cli run $run"
    sleep 1
    cmd=(aws --endpoint-url "$S3_URL" s3 cp --only-show-errors "$FILE" "s3://$BUCKET/cli-$run/$(basename "$FILE")")
    printf '%s\n' "${cmd[*]}" >>"$RESULTS/commands.txt"
    t0=$EPOCHREALTIME
    env PATH="$EGX_TOOLS/moto/bin:$PATH" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
        "${cmd[@]}" || egx_die "aws s3 cp failed"
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
    cli_ok=$([[ $(object_sha "cli-$run/$(basename "$FILE")") == "$FILE_SHA" ]] && echo true || echo false)
    jq -cn --argjson run "$run" --argjson s "$secs" --argjson b "$SIZE" --argjson same "$cli_ok" \
        '{run: $run, how: "cli", seconds: $s, bytes: $b, mb_per_s: ($b / 1e6 / $s), sha256_matches: $same}' \
        >>"$RESULTS/runs.jsonl"
    egx_log "cli run $run: $(tail -n1 "$RESULTS/runs.jsonl")"
done
json_set "$SUMMARY" awscli_version "$(env PATH="$EGX_TOOLS/moto/bin:$PATH" aws --version 2>&1 | head -n1)"
bench_finish
