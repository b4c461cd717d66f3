#!/usr/bin/env bash
# bench/audit.sh — benchmark 6: the audit log at scale.
#
# BENCH_AUDIT_ROWS (default 1,000,000) events are appended through the
# portal's own db::audit::record (examples/bench_seed.rs: hash-chained exactly
# as in production), then `egx-portal audit verify` must pass. Then, as the
# signed-in owner, wrk (BENCH_AUDIT_CONNECTIONS, default 4, connections) on:
#   audit-first      /admin/audit                   newest 100
#   audit-deep       /admin/audit?before=ROWS/2      a page half-way down (keyset)
#   audit-actor      /admin/audit?actor=teammate-07  filtered by actor
#   audit-action     /admin/audit?action=upload.completed&outcome=failure  two filters
#   audit-target     /admin/audit?target=...         one exact object key (one row)
# and the whole-log export, CSV over HTTP vs the CLI (`egx-portal audit export`),
# with hyperfine. Results: bench/results/audit/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init audit
ensure_node_deps "$BENCH_DIR/node"

ROWS=${BENCH_AUDIT_ROWS:-1000000}
BUCKET=egx-bench-audit
DATA="$BENCH_SECRETS/portal-data"
SUMMARY="$RESULTS/summary.json"
json_set "$SUMMARY" rows "$ROWS"

start_moto S3
bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
mapfile -t penv < <(portal_env "$S3_URL" "$BUCKET" "$DATA")
mkdir -p "$DATA"
bench_load seed
t0=$EPOCHREALTIME
bench_cmd env "${penv[@]}" "$EXAMPLES_DIR/bench_seed" audit "$ROWS" 2>"$RESULTS/seed.txt"
json_set "$SUMMARY" seed_seconds "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"

bench_load verify
t0=$EPOCHREALTIME
bench_cmd env "${penv[@]}" "$PORTAL_BIN" audit verify >"$RESULTS/verify.txt" 2>&1 || {
    cat "$RESULTS/verify.txt" >&2
    egx_die "egx-portal audit verify failed on the seeded log"
}
json_set "$SUMMARY" verify_seconds "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"
json_set "$SUMMARY" verify_output "$(tr '\n' ' ' <"$RESULTS/verify.txt")"
json_set "$SUMMARY" db_bytes "$(stat -c %s "$DATA/egx-portal.sqlite")"

start_portal P "$S3_URL" "$BUCKET" "$DATA"
node "$BENCH_DIR/node/portal.mjs" login "$P_URL" owner "$OWNER_PASSWORD" --out "$BENCH_SECRETS/owner.json" >/dev/null
export EGX_COOKIE
EGX_COOKIE=$(jq -r .cookie "$BENCH_SECRETS/owner.json")
printf 'Cookie: %s\n' "$EGX_COOKIE" >"$BENCH_SECRETS/cookie-header"

target=$(sqlite_counts "$DATA/egx-portal.sqlite" "SELECT target FROM audit_events WHERE id = $((ROWS / 3))")
BENCH_CONNECTIONS=${BENCH_AUDIT_CONNECTIONS:-4}
for page in "audit-first|/admin/audit" "audit-deep|/admin/audit?before=$((ROWS / 2))" \
    "audit-actor|/admin/audit?actor=teammate-07" "audit-action|/admin/audit?action=upload.completed&outcome=failure" \
    "audit-target|/admin/audit?target=$(jq -rn --arg t "$target" '$t | @uri')"; do
    name=${page%%|*}
    path=${page#*|}
    # Each page really lists rows (not an error page).
    rows_on_page=$(curl -fsS -H @"$BENCH_SECRETS/cookie-header" "$P_URL$path" | grep -c '<tr' || true)
    json_set "$SUMMARY" "${name}_rows_on_page" "$((rows_on_page - 1))"
    WRK_PATH=$path run_wrk "$name" get.lua "$P_URL"
done

bench_load export
cli="env ${penv[*]} $PORTAL_BIN audit export --format csv"
web="curl -fsS -H @$BENCH_SECRETS/cookie-header -o /dev/null '$P_URL/admin/audit/export?format=csv'"
printf 'hyperfine --warmup 1 --runs %s -n web-export "curl ... %s/admin/audit/export?format=csv" -n cli-export "egx-portal audit export --format csv"\n' \
    "${BENCH_EXPORT_RUNS:-3}" "$P_URL" >>"$RESULTS/commands.txt"
hyperfine --warmup 1 --runs "${BENCH_EXPORT_RUNS:-3}" --export-json "$RESULTS/export.json" \
    -n web-export "$web" -n cli-export "$cli > /dev/null" >"$RESULTS/export.txt" 2>&1 \
    || { cat "$RESULTS/export.txt" >&2; egx_die "export benchmark failed"; }
json_set "$SUMMARY" export_web_seconds "$(jq '.results[0].median' "$RESULTS/export.json")"
json_set "$SUMMARY" export_cli_seconds "$(jq '.results[1].median' "$RESULTS/export.json")"
json_set "$SUMMARY" export_csv_bytes "$(curl -fsS -H @"$BENCH_SECRETS/cookie-header" "$P_URL/admin/audit/export?format=csv" | wc -c)"
egx_log "export: web $(jq '.results[0].median' "$RESULTS/export.json") s, cli $(jq '.results[1].median' "$RESULTS/export.json") s"
bench_finish
