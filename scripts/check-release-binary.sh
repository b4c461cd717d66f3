#!/usr/bin/env bash
# scripts/check-release-binary.sh — what can be checked of the container image
# without a Docker engine: the release binary run the way the image runs it.
#
#   cargo build --release --locked
#   sudo scripts/check-release-binary.sh [BINARY]   # default: ${CARGO_TARGET_DIR:-target}/release/egx-portal
#
# As uid/gid 65534 (setpriv; needs root to switch), from an empty read-only
# working directory, with a clean environment and only its data directory
# writable: starts `serve` six times (the first on a fresh data directory)
# and prints the time from exec to the first 200 from /healthz, the resident
# memory after 10 s idle and after 200 requests, runs the `healthcheck`
# subcommand (exit 0) and `healthcheck --ready` (exit 1: the AWS endpoint is a
# closed port on purpose), stops each run with SIGTERM (exit 0), and lists any
# file written outside the data directory. Only 127.0.0.1 is used; every
# process it starts is stopped by PID; every wait is bounded.
set -euo pipefail
B=${1:-${CARGO_TARGET_DIR:-target}/release/egx-portal}
[[ -x $B ]] || { echo "no binary at $B: cargo build --release --locked" >&2; exit 2; }
echo "binary: $B ($(stat -c %s "$B") bytes)"
R=$(mktemp -d /tmp/egx-empty.XXXX)
trap 'rm -rf -- "$R"' EXIT
chmod 0755 "$R"; mkdir -p "$R/bin" "$R/cwd" "$R/data"
install -m 0555 "$B" "$R/bin/egx-portal"
chown 65534:65534 "$R/data"; chmod 0700 "$R/data"
chmod 0555 "$R/cwd" "$R/bin"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
run() { cd "$R/cwd" && exec setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin \
  AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  EGX_BUCKET=egx-demo EGX_REGION=us-east-1 EGX_LISTEN=127.0.0.1:$PORT EGX_DATA_DIR="$R/data" \
  EGX_S3_ENDPOINT=http://127.0.0.1:9 EGX_IAM_ENDPOINT=http://127.0.0.1:9 EGX_LOG_FORMAT=json "$@"; }
touch "$R/marker"; sleep 0.01
for i in 1 2 3 4 5 6; do
  t0=$(date +%s%N)
  ( run "$R/bin/egx-portal" serve ) 2>"$R/log.$i" &
  PID=$!
  n=0; until curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; do n=$((n+1)); [ $n -lt 5000 ] || { cat "$R/log.$i"; kill $PID; exit 1; }; sleep 0.002; done
  t1=$(date +%s%N)
  echo "run $i: exec -> /healthz 200 in $(( (t1 - t0) / 1000000 )) ms $( [ $i = 1 ] && echo '(fresh data dir: migrations + master key)')"
  if [ $i = 6 ]; then
    sleep 10
    echo "idle RSS after 10 s: $(grep VmRSS /proc/$PID/status)"
    for n in $(seq 1 200); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/login"; done
    sleep 2
    echo "RSS after 200 GET /login: $(grep VmRSS /proc/$PID/status)"
    ( run "$R/bin/egx-portal" healthcheck ); echo "healthcheck subcommand exit code: $?"
    ( run "$R/bin/egx-portal" healthcheck --ready ) && echo ready || echo "healthcheck --ready exit code: $? (AWS endpoint is a closed port on purpose)"
  fi
  kill -TERM $PID; wait $PID; echo "  exit code after SIGTERM: $?"
done
echo "files written as uid 65534 outside the data dir:"
find /tmp "$(dirname "$(readlink -f "$B")")" -xdev -newer "$R/marker" -uid 65534 2>/dev/null | grep -v "^$R/data" || echo "  none"
echo "data dir:"; ls -la "$R/data"
grep -o '"message":"[^"]*"' "$R/log.1" | head -3

