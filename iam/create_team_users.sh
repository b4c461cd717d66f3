#!/usr/bin/env bash
# create_team_users.sh — the egx team-upload runbook, idempotent.
#
#   iam/create_team_users.sh [--profile NAME] USER BUCKET
#
# 1. substitutes BUCKET into iam/egx_team_upload_policy.json and creates the
#    managed policy EgxTeamUploadPolicy-BUCKET if it is absent;
# 2. creates IAM user USER if absent (tagged managed-by=egx-portal, egx-bucket=BUCKET);
# 3. attaches the policy to the user;
# 4. creates an access key and prints it (stdout, two plain lines).
#
# Progress goes to stderr, so `... > alice.key` captures only the key.
# Honours AWS_ENDPOINT_URL (passed as --endpoint-url, so the awscli v1 from
# PyPI talks to an emulator too) and the usual AWS_* credential variables.
# Exit codes: 0 ok, 1 AWS/tool failure, 2 bad usage or invalid USER/BUCKET.
set -euo pipefail

readonly TAG_MANAGED_BY_KEY="managed-by"
readonly TAG_MANAGED_BY_VALUE="egx-portal"
readonly TAG_BUCKET_KEY="egx-bucket"

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly TEMPLATE="$SCRIPT_DIR/egx_team_upload_policy.json"

usage() {
    cat <<'EOF'
Usage: create_team_users.sh [--profile NAME] USER BUCKET

Creates (if absent) the managed policy EgxTeamUploadPolicy-BUCKET from
iam/egx_team_upload_policy.json, the IAM user USER, attaches the policy, then
creates and prints a new access key for USER. Safe to run again: each run only
adds a new access key (IAM allows at most two per user).

Options:
  --profile NAME   use this AWS CLI profile (else the default credential chain)
  -h, --help       show this help

Environment:
  AWS_ENDPOINT_URL  send every AWS call to this endpoint (e.g. an emulator)
EOF
}

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage_error() {
    printf 'error: %s\n' "$*" >&2
    printf "Run '%s --help' for usage.\n" "$(basename -- "$0")" >&2
    exit 2
}

# --- arguments ---------------------------------------------------------------
PROFILE=""
ARGS=()
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --profile)
            (($# >= 2)) || usage_error "--profile needs a profile name"
            PROFILE=$2; shift 2 ;;
        --profile=*) PROFILE=${1#--profile=}; shift ;;
        --) shift; ARGS+=("$@"); break ;;
        -*) usage_error "unknown option: $1" ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
((${#ARGS[@]} == 2)) || usage_error "expected USER and BUCKET, got ${#ARGS[@]} argument(s)"
USER_NAME=${ARGS[0]}
BUCKET=${ARGS[1]}
if [[ -n $PROFILE ]] && ! [[ $PROFILE =~ ^[A-Za-z0-9._@+=,-]+$ ]]; then
    usage_error "invalid profile name: '$PROFILE'"
fi

# --- validation --------------------------------------------------------------
# IAM user names: 1-64 characters from [A-Za-z0-9+=,.@_-].
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html
validate_user_name() {
    local name=$1 re='^[A-Za-z0-9+=,.@_-]{1,64}$'
    [[ $name =~ $re ]] && return 0
    if ((${#name} == 0)); then
        usage_error "USER is empty (IAM user names are 1-64 characters)"
    elif ((${#name} > 64)); then
        usage_error "USER '$name' is ${#name} characters long; IAM allows at most 64"
    fi
    usage_error "USER '$name' has characters IAM does not allow; use letters, digits and + = , . @ _ -"
}

# General purpose bucket naming rules:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
validate_bucket_name() {
    local b=$1
    local why=""
    if ((${#b} < 3 || ${#b} > 63)); then
        why="must be 3-63 characters long (it is ${#b})"
    elif ! [[ $b =~ ^[a-z0-9.-]+$ ]]; then
        why="may contain only lowercase letters, digits, dots and hyphens"
    elif ! [[ $b =~ ^[a-z0-9] && $b =~ [a-z0-9]$ ]]; then
        why="must begin and end with a lowercase letter or digit"
    elif [[ $b == *..* ]]; then
        why="must not contain two adjacent dots"
    elif [[ $b =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
        why="must not be formatted as an IP address"
    elif [[ $b == xn--* || $b == sthree-* || $b == amzn-s3-demo-* ]]; then
        why="must not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)"
    elif [[ $b == *-s3alias || $b == *--ol-s3 || $b == *.mrap || $b == *--x-s3 || $b == *--table-s3 ]]; then
        why="must not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)"
    fi
    [[ -z $why ]] || usage_error "BUCKET '$b' is not a valid S3 bucket name: it $why"
}

validate_user_name "$USER_NAME"
validate_bucket_name "$BUCKET"

# --- tools -------------------------------------------------------------------
for tool in aws jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        case "$tool" in
            aws) die "the AWS CLI ('aws') is not installed or not on PATH; install it (e.g. 'pip install awscli' or AWS CLI v2) and retry" ;;
            jq) die "'jq' is not installed or not on PATH; install it (e.g. 'apt-get install jq') and retry" ;;
        esac
    fi
done
[[ -r $TEMPLATE ]] || die "policy template not found: $TEMPLATE"

AWS=(aws --output json)
[[ -z ${AWS_ENDPOINT_URL:-} ]] || AWS+=(--endpoint-url "$AWS_ENDPOINT_URL")
[[ -z $PROFILE ]] || AWS+=(--profile "$PROFILE")
export AWS_PAGER=""

ERR_FILE=$(mktemp)
trap 'rm -f -- "$ERR_FILE"' EXIT

# aws_call ARGS... : runs aws, stdout to stdout, stderr kept in $ERR_FILE.
aws_call() { "${AWS[@]}" "$@" 2>"$ERR_FILE"; }
# fail_call WHAT : report the last aws error and stop.
fail_call() { die "$1 failed: $(tr -s '\n' ' ' <"$ERR_FILE")"; }
last_error_is() { grep -q -- "$1" "$ERR_FILE"; }

# --- 0. who are we -----------------------------------------------------------
POLICY_NAME="EgxTeamUploadPolicy-$BUCKET"
POLICY_DOC=$(sed "s/__BUCKET__/$BUCKET/g" "$TEMPLATE" | jq -c .) \
    || die "policy template $TEMPLATE is not valid JSON"

identity=$(aws_call sts get-caller-identity) || fail_call "sts get-caller-identity"
ACCOUNT_ID=$(jq -r '.Account' <<<"$identity")
PARTITION=$(jq -r '.Arn | split(":")[1]' <<<"$identity")
[[ $ACCOUNT_ID =~ ^[0-9]{12}$ ]] || die "unexpected account id from sts get-caller-identity: '$ACCOUNT_ID'"
[[ -n $PARTITION && $PARTITION != null ]] || PARTITION=aws
POLICY_ARN="arn:$PARTITION:iam::$ACCOUNT_ID:policy/$POLICY_NAME"
log "account $ACCOUNT_ID, user $USER_NAME, bucket $BUCKET"

# --- 1. managed policy -------------------------------------------------------
if policy=$(aws_call iam get-policy --policy-arn "$POLICY_ARN"); then
    log "policy $POLICY_NAME exists"
    # Warn (never silently rewrite) when the stored policy drifted from the template.
    version=$(jq -r '.Policy.DefaultVersionId' <<<"$policy")
    if stored=$(aws_call iam get-policy-version --policy-arn "$POLICY_ARN" --version-id "$version"); then
        stored=$(jq -S -c '.PolicyVersion.Document | if type == "string" then fromjson else . end' <<<"$stored" 2>/dev/null || true)
        if [[ $stored != "$(jq -S -c . <<<"$POLICY_DOC")" ]]; then
            log "warning: policy $POLICY_NAME ($version) differs from $TEMPLATE; it was left unchanged"
        fi
    fi
elif last_error_is NoSuchEntity; then
    aws_call iam create-policy --policy-name "$POLICY_NAME" \
        --description "egx-portal: upload-only access to s3://$BUCKET/streaming/ and batch/" \
        --policy-document "$POLICY_DOC" >/dev/null || fail_call "iam create-policy"
    log "policy $POLICY_NAME created"
else
    fail_call "iam get-policy $POLICY_ARN"
fi

# --- 2. user -----------------------------------------------------------------
if user=$(aws_call iam get-user --user-name "$USER_NAME"); then
    log "user $USER_NAME exists"
    managed=$(jq -r --arg k "$TAG_MANAGED_BY_KEY" '[.User.Tags // [] | .[] | select(.Key == $k) | .Value] | first // ""' <<<"$user")
    if [[ $managed != "$TAG_MANAGED_BY_VALUE" ]]; then
        log "note: user $USER_NAME has no $TAG_MANAGED_BY_KEY=$TAG_MANAGED_BY_VALUE tag (created outside this runbook); tags left unchanged"
    fi
elif last_error_is NoSuchEntity; then
    aws_call iam create-user --user-name "$USER_NAME" --tags \
        "Key=$TAG_MANAGED_BY_KEY,Value=$TAG_MANAGED_BY_VALUE" \
        "Key=$TAG_BUCKET_KEY,Value=$BUCKET" >/dev/null || fail_call "iam create-user"
    log "user $USER_NAME created"
else
    fail_call "iam get-user $USER_NAME"
fi

# --- 3. attach (idempotent in IAM) -------------------------------------------
aws_call iam attach-user-policy --user-name "$USER_NAME" --policy-arn "$POLICY_ARN" >/dev/null \
    || fail_call "iam attach-user-policy"
log "policy attached to $USER_NAME"

# --- 4. access key -----------------------------------------------------------
if ! key=$(aws_call iam create-access-key --user-name "$USER_NAME"); then
    if last_error_is LimitExceeded; then
        die "user $USER_NAME already has the maximum of two access keys; delete one first (aws iam list-access-keys --user-name $USER_NAME)"
    fi
    fail_call "iam create-access-key"
fi
log "access key created for $USER_NAME; send it over a private channel:"
jq -r '.AccessKey | "AccessKeyId: \(.AccessKeyId)\nSecretAccessKey: \(.SecretAccessKey)"' <<<"$key"
