#!/usr/bin/env bash
# scripts/dev.sh — run the portal locally against an S3/IAM/STS emulator.
#
#   scripts/dev.sh             emulator + demo bucket, then `cargo run --locked -- serve`
#   scripts/dev.sh --no-run    emulator + demo bucket only; print the env, wait for Ctrl-C
#
# Settings (environment):
#   EGX_LISTEN          where the portal listens          (default 127.0.0.1:8080;
#                       another port if 8080 is taken: EGX_LISTEN=127.0.0.1:8090)
#   EGX_PUBLIC_URL      the portal's URL                  (default http://$EGX_LISTEN)
#   EGX_BUCKET          demo bucket created in the emulator (default egx-demo)
#   EGX_DEV_S3_PORT     the emulator's port on 127.0.0.1  (default: a free port)
#
# The emulator is LocalStack in host mode (installed in .tools/localstack): like
# AWS it checks presigned URL signatures, applies the bucket's CORS rules and
# refuses DeleteUser while a user still has keys, so what works here is what
# works on AWS. (moto, which the tests also use, cannot list service-specific
# credentials, so removing a teammate could never finish on it.) The bucket
# gets a CORS rule for the portal's origins (PUT/POST/GET/HEAD, any header,
# ETag exposed) and a rule that aborts unfinished multipart uploads after a
# day, so `egx-portal doctor` is green.
#
# The emulator keeps nothing between runs, so neither does the dev portal:
# every start begins with an empty .tools/dev-data and prints a new owner
# setup link. Ctrl-C stops the portal and the emulator; nothing is left running.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
cd "$EGX_ROOT"

NO_RUN=0
for arg in "$@"; do
    case "$arg" in
        --no-run) NO_RUN=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
            exit 0 ;;
        *) printf 'error: unknown argument: %s (try --help)\n' "$arg" >&2; exit 2 ;;
    esac
done

EGX_LISTEN=${EGX_LISTEN:-127.0.0.1:8080}
EGX_BUCKET=${EGX_BUCKET:-egx-demo}
EGX_PUBLIC_URL=${EGX_PUBLIC_URL:-http://$EGX_LISTEN}
EGX_PUBLIC_URL=${EGX_PUBLIC_URL%/}

[[ $EGX_LISTEN =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$ ]] \
    || egx_die "EGX_LISTEN must be HOST:PORT, got '$EGX_LISTEN'"
LISTEN_HOST=${BASH_REMATCH[1]}
LISTEN_PORT=${BASH_REMATCH[2]}
[[ $EGX_PUBLIC_URL =~ ^(https?://[^/?#]+) ]] \
    || egx_die "EGX_PUBLIC_URL must start with http:// or https://, got '$EGX_PUBLIC_URL'"
PUBLIC_ORIGIN=${BASH_REMATCH[1]}

# Browser origins allowed by the bucket's CORS rule.
ORIGINS=()
case "$LISTEN_HOST" in
    127.0.0.1 | localhost | 0.0.0.0 | '[::]' | '[::1]')
        ORIGINS+=("http://127.0.0.1:$LISTEN_PORT" "http://localhost:$LISTEN_PORT") ;;
    *) ORIGINS+=("http://$LISTEN_HOST:$LISTEN_PORT") ;;
esac
[[ " ${ORIGINS[*]} " == *" $PUBLIC_ORIGIN "* ]] || ORIGINS+=("$PUBLIC_ORIGIN")

trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ensure_apt_packages curl
ensure_moto          # the AWS CLI and boto3 (for the bucket below, and for teammates trying their key)
ensure_localstack
start_localstack DEV_S3 "${EGX_DEV_S3_PORT:-}"

"$EGX_TOOLS/moto/bin/python" - "$DEV_S3_URL" "$EGX_BUCKET" "${ORIGINS[@]}" <<'PY' \
    || egx_die "could not create bucket $EGX_BUCKET in the emulator"
import sys
import boto3

url, bucket, *origins = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
try:
    s3.create_bucket(Bucket=bucket)
except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
    pass
s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": origins,
    "AllowedMethods": ["PUT", "POST", "GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3000,
}]})
s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
    "ID": "egx-abort-incomplete-multipart",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}]})
PY
egx_log "bucket $EGX_BUCKET ready, CORS for ${ORIGINS[*]}"

# The emulator starts empty: a database from an earlier run would describe
# IAM users and objects that no longer exist.
if [[ -d $EGX_TOOLS/dev-data ]]; then
    egx_log "starting fresh: the emulator keeps nothing between runs, so .tools/dev-data is emptied"
    rm -rf -- "$EGX_TOOLS/dev-data"
fi
mkdir -p "$EGX_TOOLS/dev-data"
DEV_ENV=(
    "EGX_BUCKET=$EGX_BUCKET"
    "EGX_REGION=us-east-1"
    "EGX_LISTEN=$EGX_LISTEN"
    "EGX_PUBLIC_URL=$EGX_PUBLIC_URL"
    "EGX_DATA_DIR=$EGX_TOOLS/dev-data"
    "EGX_S3_ENDPOINT=$DEV_S3_URL"
    "EGX_IAM_ENDPOINT=$DEV_S3_URL"
    "EGX_STS_ENDPOINT=$DEV_S3_URL"
    "AWS_ACCESS_KEY_ID=test"
    "AWS_SECRET_ACCESS_KEY=test"
    "AWS_REGION=us-east-1"
)

if ((NO_RUN)); then
    {
        echo
        echo "  LocalStack (S3/IAM/STS) at $DEV_S3_URL, bucket $EGX_BUCKET"
        echo "  environment for the portal (paste into a shell, then: cargo run -- serve):"
        echo
    } >&2
    for kv in "${DEV_ENV[@]}"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
    echo "  Ctrl-C stops the emulator." >&2
    # Returns when the emulator dies or a signal arrives (the traps then stop it).
    wait "$DEV_S3_PID" || true
    egx_die "the emulator exited on its own; see $DEV_S3_LOG"
fi

command -v cargo >/dev/null 2>&1 || egx_die "cargo not found: install Rust (https://rustup.rs)"
{
    echo
    echo "  egx-portal (dev): $EGX_PUBLIC_URL"
    echo "  S3/IAM/STS: LocalStack at $DEV_S3_URL, bucket $EGX_BUCKET; data in .tools/dev-data"
    echo "  On a fresh start the portal's log below prints the owner's one-time sign-up address (WARN line)."
    echo "  Ctrl-C stops the portal and the emulator."
    echo
} >&2
rc=0
# Not exec: this shell stays to stop the emulator when the portal exits.
env -u AWS_SESSION_TOKEN -u AWS_PROFILE "${DEV_ENV[@]}" cargo run --locked -- serve || rc=$?
exit "$rc"
