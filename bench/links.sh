#!/usr/bin/env bash
# bench/links.sh — benchmark 5: one-time links.
#
#   reveals     wrk POSTs /l/{id}/reveal over BENCH_LINKS (default 60000)
#               fresh links, each revealed once (bench/wrk/reveal.lua); the
#               same run measures GET /healthz, the HTTP floor, for comparison
#   race        BENCH_RACE_ROUNDS (100) rounds of BENCH_RACE_CONCURRENCY (100)
#               simultaneous reveals of one link, each on its own connection:
#               exactly one may win per round; any other count is a bug
# Links are stored before the portal starts by examples/bench_seed.rs, through
# the portal's own seal + insert functions. The portal trusts 127.0.0.1 as a
# proxy here (EGX_TRUSTED_PROXIES) so that each request's X-Forwarded-For
# address is its own and the per-address limit on /l/ does not bite.
# Results: bench/results/links/.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init links
ensure_node_deps "$BENCH_DIR/node"

LINKS=${BENCH_LINKS:-60000}
ROUNDS=${BENCH_RACE_ROUNDS:-100}
CONC=${BENCH_RACE_CONCURRENCY:-100}
BUCKET=egx-bench-links
DATA="$BENCH_SECRETS/portal-data"
SUMMARY="$RESULTS/summary.json"

start_moto S3
bench_bucket "$S3_URL" "$BUCKET" "http://127.0.0.1"
mapfile -t seed_env < <(portal_env "$S3_URL" "$BUCKET" "$DATA")
mkdir -p "$DATA"
bench_cmd env "${seed_env[@]}" "$EXAMPLES_DIR/bench_seed" links "$LINKS" "$BENCH_SECRETS/links.txt" 2>>"$RESULTS/seed.txt"
bench_cmd env "${seed_env[@]}" "$EXAMPLES_DIR/bench_seed" links "$ROUNDS" "$BENCH_SECRETS/race.txt" 2>>"$RESULTS/seed.txt"
start_portal P "$S3_URL" "$BUCKET" "$DATA" EGX_TRUSTED_PROXIES=127.0.0.1/32 EGX_LINK_RATE_PER_MINUTE=100000

export EGX_LINKS_FILE="$BENCH_SECRETS/links.txt"
WRK_PATH=/healthz run_wrk healthz get.lua "$P_URL"
# No warm-up for reveals: it would spend the links the measured run uses.
BENCH_WARMUP=0 run_wrk reveals reveal.lua "$P_URL"
ok=$(jq .ok "$RESULTS/reveals.json")
read -r revealed audited < <(sqlite_counts "$DATA/egx-portal.sqlite" \
    "SELECT count(*) FROM secret_links WHERE revealed_at IS NOT NULL AND payload IS NULL" \
    "SELECT count(*) FROM audit_events WHERE action = 'link.revealed'")
json_set "$SUMMARY" reveals_ok "$ok"
json_set "$SUMMARY" links_revealed_in_db "$revealed"
json_set "$SUMMARY" link_revealed_audit_rows "$audited"
# Each link used is audited; wrk does not count the answers still in flight
# when it stops, so up to one per connection more links than 200s were used.
((revealed == audited && revealed >= ok && revealed - ok <= BENCH_CONNECTIONS)) \
    || egx_log "WARNING: $ok reveals answered 200, $revealed links used, $audited audited"
[[ $(jq .non_2xx "$RESULTS/reveals.json") == 0 ]] || egx_log "WARNING: links ran out before wrk stopped (refusals counted): raise BENCH_LINKS"

bench_load race
printf 'node bench/node/portal.mjs race %s race.txt %s %s\n' "$P_URL" "$ROUNDS" "$CONC" >>"$RESULTS/commands.txt"
node "$BENCH_DIR/node/portal.mjs" race "$P_URL" "$BENCH_SECRETS/race.txt" "$ROUNDS" "$CONC" >"$RESULTS/race.json" \
    || egx_die "the race run failed"
json_set "$SUMMARY" race_rounds "$ROUNDS"
json_set "$SUMMARY" race_concurrency "$CONC"
json_set "$SUMMARY" race_bad_rounds "$(jq '.bad_rounds | length' "$RESULTS/race.json")"
egx_log "race: $(jq -c '{statuses, bad_rounds: (.bad_rounds | length)}' "$RESULTS/race.json")"
bench_finish
