#!/usr/bin/env bash
# scripts/test.sh — run the whole test suite, from a fresh Debian machine up.
#
#   scripts/test.sh [ARGS...]      ARGS go to `cargo test --locked --all-targets`
#
# Installs what is missing (apt: chromium jq curl ca-certificates pkg-config;
# .tools/moto and .tools/localstack venvs; tests/browser node_modules), checks
# that static/dist/ is a byte-for-byte rebuild of static/src/ (build-assets.sh), starts
# three emulators on free 127.0.0.1 ports, exports where they are, runs the
# tests and stops every emulator on exit (also on failure or Ctrl-C).
#
#   EGX_TEST_MOTO_URL          moto, auth off (presigned URLs, CORS, multipart)
#   EGX_TEST_MOTO_AUTH_URL     a second moto that enforces IAM policies
#   EGX_TEST_MOTO_AUTH_KEY_ID  its admin user egx-admin (Action:* Resource:*)
#   EGX_TEST_MOTO_AUTH_SECRET
#   EGX_TEST_LOCALSTACK_URL    LocalStack host mode, strict S3 signatures
#   EGX_TEST_CHROMIUM          /usr/bin/chromium
#   EGX_TEST_BROWSER_DIR       <repo>/tests/browser
# and .tools/moto/bin first on PATH, so tests can run `aws`.
#
# Hook: EGX_TEST_CMD='shell command' runs that (with ARGS as "$@") instead of
# cargo test, e.g. EGX_TEST_CMD='env | grep ^EGX_TEST' scripts/test.sh
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
cd "$EGX_ROOT"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
fi

T_START=$EPOCHREALTIME
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# -- tools ---------------------------------------------------------------------
ensure_apt_packages chromium jq curl ca-certificates pkg-config
ensure_moto
ensure_localstack
if [[ -f tests/browser/package.json ]]; then
    ensure_node_deps tests/browser
fi
# The committed upload bundle must be exactly what its sources build to.
if [[ -z ${EGX_TEST_CMD:-} ]]; then
    "$SCRIPT_DIR/build-assets.sh" --check
fi
if [[ -z ${EGX_TEST_CMD:-} ]] && ! command -v cargo >/dev/null 2>&1; then
    egx_die "cargo not found: install Rust (https://rustup.rs) or put cargo on PATH"
fi
[[ -x /usr/bin/chromium ]] || egx_die "/usr/bin/chromium missing after installing the chromium package"
egx_log "tools ready in $(egx_elapsed "$T_START")"

# -- services ------------------------------------------------------------------
T_SERVICES=$EPOCHREALTIME
start_moto MOTO
start_moto MOTO_AUTH
moto_enable_auth MOTO_AUTH
start_localstack LOCALSTACK
egx_log "services ready in $(egx_elapsed "$T_SERVICES")"

export EGX_TEST_MOTO_URL="$MOTO_URL"
export EGX_TEST_MOTO_AUTH_URL="$MOTO_AUTH_URL"
export EGX_TEST_MOTO_AUTH_KEY_ID="$MOTO_AUTH_KEY_ID"
export EGX_TEST_MOTO_AUTH_SECRET="$MOTO_AUTH_SECRET"
export EGX_TEST_LOCALSTACK_URL="$LOCALSTACK_URL"
export EGX_TEST_CHROMIUM=/usr/bin/chromium
export EGX_TEST_BROWSER_DIR="$EGX_ROOT/tests/browser"
export PATH="$EGX_TOOLS/moto/bin:$PATH"
# No instance-metadata probing (and its timeouts) when a test has no credentials.
export AWS_EC2_METADATA_DISABLED=true

# -- tests ---------------------------------------------------------------------
T_TESTS=$EPOCHREALTIME
rc=0
if [[ -n ${EGX_TEST_CMD:-} ]]; then
    egx_log "running EGX_TEST_CMD: $EGX_TEST_CMD"
    bash -c "$EGX_TEST_CMD" egx-test "$@" || rc=$?
else
    egx_log "running cargo test --locked --all-targets $*"
    cargo test --locked --all-targets "$@" || rc=$?
fi
egx_log "tests finished with status $rc in $(egx_elapsed "$T_TESTS") (total $(egx_elapsed "$T_START"))"
exit "$rc"
