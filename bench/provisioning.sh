#!/usr/bin/env bash
# bench/provisioning.sh — benchmark 2: adding BENCH_TEAMMATES (default 50)
# teammates, each an IAM user with the upload-only policy and an access key.
#
# In one run, on one moto (reset between the halves, so each side creates
# exactly the same names team-01..team-NN from the same empty state):
#   runbook      iam/create_team_users.sh NAME BUCKET (awscli) looped over the names
#   portal-bulk  the portal's bulk add: ONE POST of all names to
#                BENCH_BULK_PATH (default /admin/bulk-add) in form field
#                BENCH_BULK_FIELD (default names), as the owner's browser sends it
#   portal-form  the portal's "Add teammate" form, once per name, one after another
# A portal without the bulk route answers 404: that half is then reported as
# "not available" and the form half still runs.
# Results: bench/results/provisioning/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init provisioning
ensure_node_deps "$BENCH_DIR/node"

N=${BENCH_TEAMMATES:-50}
BULK_PATH=${BENCH_BULK_PATH:-/admin/bulk-add}
BULK_FIELD=${BENCH_BULK_FIELD:-names}
BUCKET=egx-bench-provisioning
SUMMARY="$RESULTS/summary.json"
json_set "$SUMMARY" teammates "$N"
json_set "$SUMMARY" bulk_path "$BULK_PATH"

start_moto S3
fresh_emulator() {
    curl -fsS -X POST "$S3_URL/moto-api/reset" >/dev/null || egx_die "moto reset failed"
    bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
}

# --- runbook -----------------------------------------------------------------
fresh_emulator
bench_load runbook
printf 'for i in $(seq -w 1 %s); do AWS_ENDPOINT_URL=%s iam/create_team_users.sh team-$i %s; done\n' \
    "$N" "$S3_URL" "$BUCKET" >>"$RESULTS/commands.txt"
t0=$EPOCHREALTIME
failed=0
for i in $(seq -w 1 "$N"); do
    # The script prints the new secret key: it goes nowhere.
    env PATH="$EGX_TOOLS/moto/bin:$PATH" AWS_ENDPOINT_URL="$S3_URL" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_DEFAULT_REGION=us-east-1 bash "$EGX_ROOT/iam/create_team_users.sh" "team-$i" "$BUCKET" \
        >/dev/null 2>>"$RESULTS/runbook-stderr.txt" || failed=$((failed + 1))
done
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
json_set "$SUMMARY" runbook_seconds "$secs"
json_set "$SUMMARY" runbook_failures "$failed"
egx_log "runbook: $N teammates in $secs s ($failed failed)"
# Only IAM user names and no secrets are kept from the script's log lines.
grep -v -i 'secret' "$RESULTS/runbook-stderr.txt" >"$RESULTS/runbook-stderr.tmp" || true
mv -- "$RESULTS/runbook-stderr.tmp" "$RESULTS/runbook-stderr.txt"

count_users() {
    "$EGX_TOOLS/moto/bin/python" - "$S3_URL" <<'PY'
import sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
users = [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
team = [u for u in users if u.startswith("team-")]
keys = sum(len(iam.list_access_keys(UserName=u)["AccessKeyMetadata"]) for u in team)
print(len(team), keys)
PY
}
read -r users keys < <(count_users)
json_set "$SUMMARY" runbook_users "$users"
json_set "$SUMMARY" runbook_keys "$keys"

# --- the portal's bulk add ---------------------------------------------------
fresh_emulator
start_portal PB "$S3_URL" "$BUCKET" "$BENCH_SECRETS/portal-bulk"
bench_load portal-bulk
printf 'node bench/node/portal.mjs bulk %s owner *** %s %s team %s\n' "$PB_URL" "$BULK_PATH" "$BULK_FIELD" "$N" \
    >>"$RESULTS/commands.txt"
node "$BENCH_DIR/node/portal.mjs" bulk "$PB_URL" owner "$OWNER_PASSWORD" "$BULK_PATH" "$BULK_FIELD" team "$N" \
    >"$RESULTS/portal-bulk.json" || egx_die "portal bulk run failed"
status=$(jq -r .status "$RESULTS/portal-bulk.json")
if [[ $status == 404 || $status == 405 ]]; then
    json_set "$SUMMARY" portal_bulk "not available: $BULK_PATH answered $status (bulk add is not on this branch)"
    egx_log "portal bulk: $BULK_PATH answered $status — not on this branch; skipped"
else
    read -r users keys < <(count_users)
    json_set "$SUMMARY" portal_bulk_seconds "$(jq -r .seconds "$RESULTS/portal-bulk.json")"
    json_set "$SUMMARY" portal_bulk_status "$status"
    json_set "$SUMMARY" portal_bulk_users "$users"
    json_set "$SUMMARY" portal_bulk_keys "$keys"
    egx_log "portal bulk: HTTP $status, $users users, $keys keys in $(jq -r .seconds "$RESULTS/portal-bulk.json") s"
fi
stop_services
start_moto S3

# --- the portal's single-add form, once per name -----------------------------
fresh_emulator
start_portal PF "$S3_URL" "$BUCKET" "$BENCH_SECRETS/portal-form"
bench_load portal-form
printf 'node bench/node/portal.mjs add-many %s owner *** team %s\n' "$PF_URL" "$N" >>"$RESULTS/commands.txt"
node "$BENCH_DIR/node/portal.mjs" add-many "$PF_URL" owner "$OWNER_PASSWORD" team "$N" \
    >"$RESULTS/portal-form.json" || egx_die "portal form run failed"
read -r users keys < <(count_users)
json_set "$SUMMARY" portal_form_seconds "$(jq -r .seconds "$RESULTS/portal-form.json")"
json_set "$SUMMARY" portal_form_failures "$(jq -r '.count - .ok' "$RESULTS/portal-form.json")"
json_set "$SUMMARY" portal_form_users "$users"
json_set "$SUMMARY" portal_form_keys "$keys"
egx_log "portal form: $users users, $keys keys in $(jq -r .seconds "$RESULTS/portal-form.json") s"
bench_finish
