#!/usr/bin/env bash
# scripts/screenshots.sh — make the README's screenshots (docs/screenshots/*.png).
#
#   scripts/screenshots.sh
#
# Starts moto with a demo bucket (CORS for the portal), builds and starts the
# portal on a free 127.0.0.1 port with a fresh data folder, plays the browser
# journey (owner setup, add teammate "alice", reveal, enrol, uploads) with
# tests/browser/journey.mjs, then tests/browser/screenshots.mjs signs in as
# each person and takes /admin/teammates and /upload. Everything it started is
# stopped by PID on exit. Needs what scripts/test.sh installs (Chromium,
# moto, tests/browser node_modules); it installs what is missing the same way.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
cd "$EGX_ROOT"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
fi

WORK=$(mktemp -d)
EGX_CLEANUP_DIRS+=("$WORK")
PORTAL_PID=""
stop_all() {
    if [[ -n $PORTAL_PID ]] && kill -0 "$PORTAL_PID" 2>/dev/null; then
        kill -TERM "$PORTAL_PID" 2>/dev/null || true
        wait "$PORTAL_PID" 2>/dev/null || true
    fi
    stop_services
    rm -rf -- "$WORK"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_apt_packages chromium curl
ensure_moto
ensure_node_deps tests/browser
start_moto SHOT_MOTO

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
"$EGX_TOOLS/moto/bin/python" - "$SHOT_MOTO_URL" egx-demo "$BASE" <<'PY' || egx_die "could not create the demo bucket"
import sys, boto3
url, bucket, origin = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=bucket)
s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": [origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]})
PY

egx_log "building the portal"
cargo build --locked --quiet --bin egx-portal
BIN="${CARGO_TARGET_DIR:-target}/debug/egx-portal"
LOG="$WORK/portal.log"
env -i PATH="$PATH" HOME="$WORK" AWS_EC2_METADATA_DISABLED=true \
    EGX_BUCKET=egx-demo EGX_REGION=us-east-1 EGX_LISTEN="127.0.0.1:$PORT" EGX_PUBLIC_URL="$BASE" \
    EGX_DATA_DIR="$WORK/data" EGX_S3_ENDPOINT="$SHOT_MOTO_URL" EGX_IAM_ENDPOINT="$SHOT_MOTO_URL" \
    EGX_KEY_VERIFY_SECONDS=5 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    "$BIN" serve >"$LOG" 2>&1 &
PORTAL_PID=$!
for _ in $(seq 1 150); do
    grep -q 'setup link' "$LOG" 2>/dev/null && break
    kill -0 "$PORTAL_PID" 2>/dev/null || { egx_log_tail "$LOG"; egx_die "the portal exited"; }
    sleep 0.2
done
SETUP_LINK=$(grep -o 'http://[^ ]*/setup/[A-Za-z0-9_-]*' "$LOG" | head -1)
[[ -n $SETUP_LINK ]] || { egx_log_tail "$LOG"; egx_die "no setup link in the portal's log"; }

printf 'ts,price\n1,100\n2,101\n' >"$WORK/ticks 2026-01-05.csv"
head -c 300000 /dev/zero | tr '\0' 'z' >"$WORK/batch-export.bin"
printf 'notes\n' >"$WORK/README.txt"
FILES=$(printf '[{"path":"%s","prefix":"streaming","folder":"day1"},{"path":"%s","prefix":"batch","folder":""},{"path":"%s","prefix":"batch","folder":"docs"}]' \
    "$WORK/ticks 2026-01-05.csv" "$WORK/batch-export.bin" "$WORK/README.txt")
OWNER_PASSWORD="amber-kettle-$RANDOM-$RANDOM"
MATE_PASSWORD="quiet-harbor-$RANDOM-$RANDOM"

egx_log "playing the journey in Chromium"
(cd tests/browser && EGX_BASE_URL="$BASE" EGX_SETUP_LINK="$SETUP_LINK" EGX_OWNER_USER=owner \
    EGX_OWNER_PASSWORD="$OWNER_PASSWORD" EGX_TEAMMATE=alice EGX_TEAMMATE_PASSWORD="$MATE_PASSWORD" \
    EGX_FILES="$(printf '[{"path":"%s","prefix":"streaming","folder":""}]' "$WORK/README.txt")" node journey.mjs >/dev/null)
(cd tests/browser && EGX_BASE_URL="$BASE" EGX_OWNER_USER=owner EGX_OWNER_PASSWORD="$OWNER_PASSWORD" \
    EGX_TEAMMATE=alice EGX_TEAMMATE_PASSWORD="$MATE_PASSWORD" EGX_FILES="$FILES" \
    EGX_OUT_DIR="$EGX_ROOT/docs/screenshots" node screenshots.mjs)
egx_log "wrote docs/screenshots/teammates.png and docs/screenshots/upload.png"
