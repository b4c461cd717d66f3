# shellcheck shell=bash
# bench/lib.sh — helpers shared by the bench/*.sh benchmarks, on top of
# scripts/lib.sh (venvs, emulators on free 127.0.0.1 ports, stop by PID).
#
#   bench_init NAME          results folder bench/results/NAME (raw outputs),
#                            traps that stop every service started, tools
#   bench_build              release binary + the two bench examples
#   bench_load LABEL         `uptime` into load.txt (how busy the machine was)
#   bench_cmd CMD...         record CMD in commands.txt, then run it
#   bench_bucket URL BUCKET ORIGIN...   bucket with browser CORS (ETag exposed)
#   start_portal PREFIX S3_URL BUCKET DATA_DIR [VAR=VALUE...]
#                            owner "owner" created with the CLI, then `serve`;
#                            sets PREFIX_URL PREFIX_PID PREFIX_PORT PREFIX_LOG
#   portal_onboard PREFIX NAME   teammate NAME enrolled; PREFIX_{OWNER,TEAMMATE}_{COOKIE,CSRF}
#   start_companion PREFIX S3_URL BUCKET     Uppy Companion on 127.0.0.1
#   run_wrk NAME SCRIPT URL [WRK ARGS...]    wrk with a bench/wrk script;
#                            results/NAME.txt (wrk's output) and NAME.json
#                            (with BENCH_CPU_PID=PID: that server's CPU per request)
#   rss_kib PID / hwm_kib PID    VmRSS / VmHWM of a process
#   sqlite_counts DB SQL...  one number per query (read-only)
#   json_set FILE KEY VALUE  add a field to a summary JSON
#   bench_finish             stop services, regenerate docs/BENCHMARKS.md
#
# Settings: BENCH_DURATION (wrk seconds, default 15), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_WARMUP (wrk warm-up seconds, default 3),
# BENCH_NO_BUILD=1 (use the binaries already built in CARGO_TARGET_DIR),
# BENCH_PORTAL_BIN / BENCH_EXAMPLES_DIR (other binaries, e.g. an older build).

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../scripts/lib.sh"
export BENCH_WRK_DIR="$BENCH_DIR/wrk"
BENCH_DURATION=${BENCH_DURATION:-15}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_TARGET=${CARGO_TARGET_DIR:-$EGX_ROOT/target}
PORTAL_BIN=${BENCH_PORTAL_BIN:-$BENCH_TARGET/release/egx-portal}
EXAMPLES_DIR=${BENCH_EXAMPLES_DIR:-$BENCH_TARGET/release/examples}
OWNER_PASSWORD=vivid-harbor-lantern-42
TEAMMATE_PASSWORD=quiet-meadow-compass-17

bench_init() {
    BENCH_NAME=$1
    RESULTS="$BENCH_DIR/results/$BENCH_NAME"
    rm -rf -- "$RESULTS"
    mkdir -p "$RESULTS"
    # Secrets (session cookies) live here, outside the results, and go away at exit.
    BENCH_SECRETS=$(mktemp -d)
    chmod 700 "$BENCH_SECRETS"
    BENCH_CLEANUP=("$BENCH_SECRETS")
    trap 'stop_services; rm -rf -- "${BENCH_CLEANUP[@]}"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    : >"$RESULTS/commands.txt"
    : >"$RESULTS/load.txt"
    export AWS_EC2_METADATA_DISABLED=true
    ensure_apt_packages wrk hyperfine time curl jq ca-certificates
    ensure_moto
    bench_build
    "$BENCH_DIR/machine.sh" "$RESULTS/machine.json"
    bench_load "start of $BENCH_NAME"
}

bench_build() {
    if [[ -n ${BENCH_NO_BUILD:-} ]]; then
        [[ -x $PORTAL_BIN && -x $EXAMPLES_DIR/bench_seed && -x $EXAMPLES_DIR/presign_ceiling ]] \
            || egx_die "BENCH_NO_BUILD is set but $PORTAL_BIN or the bench examples are missing"
    elif [[ -z ${BENCH_BUILT:-} ]]; then
        local t0=$EPOCHREALTIME
        command -v cargo >/dev/null 2>&1 || egx_die "cargo not found: install Rust (https://rustup.rs)"
        egx_log "cargo build --release (binary and bench examples); a clean build takes minutes"
        # Two invocations: the binary with exactly the production feature set
        # (building it together with the examples would unify their
        # dev-dependencies' features into it), then the examples.
        mkdir -p "$EGX_LOGS"
        (cd "$EGX_ROOT" && cargo build --release --locked \
            && cargo build --release --locked --example presign_ceiling --example bench_seed) \
            >"$EGX_LOGS/bench-build.log" 2>&1 || { egx_log_tail "$EGX_LOGS/bench-build.log"; egx_die "release build failed"; }
        egx_log "release build ready in $(egx_elapsed "$t0")"
        export BENCH_BUILT=1
    fi
}

bench_load() {
    printf '%s — %s: %s\n' "$(date -u +%FT%TZ)" "$1" "$(uptime)" >>"$RESULTS/load.txt"
}

bench_cmd() {
    printf '%s\n' "$*" >>"$RESULTS/commands.txt"
    "$@"
}

bench_bucket() {
    local url=$1 bucket=$2
    shift 2
    "$EGX_TOOLS/moto/bin/python" - "$url" "$bucket" "$@" <<'PY' || egx_die "could not create bucket $2"
import sys
import boto3
url, bucket, *origins = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=bucket)
s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": origins, "AllowedMethods": ["PUT", "POST", "GET", "HEAD"],
    "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]})
PY
}

# portal_env S3_URL BUCKET DATA_DIR [VAR=VALUE...] : the portal's environment, one a line.
portal_env() {
    local s3=$1 bucket=$2 data=$3
    shift 3
    printf '%s\n' "EGX_BUCKET=$bucket" "EGX_REGION=us-east-1" "EGX_DATA_DIR=$data" \
        "EGX_S3_ENDPOINT=$s3" "EGX_IAM_ENDPOINT=$s3" "EGX_STS_ENDPOINT=$s3" "EGX_KEY_VERIFY_SECONDS=5" \
        "AWS_ACCESS_KEY_ID=test" "AWS_SECRET_ACCESS_KEY=test" "AWS_REGION=us-east-1" "RUST_LOG=warn" "$@"
}

start_portal() {
    local prefix=$1 s3=$2 bucket=$3 data=$4
    shift 4
    local port
    port=$(free_port)
    local -a envs
    mapfile -t envs < <(portal_env "$s3" "$bucket" "$data" "EGX_LISTEN=127.0.0.1:$port" "$@")
    mkdir -p "$data"
    if [[ ! -f $data/.bench-owner ]]; then
        printf '%s\n' "$OWNER_PASSWORD" | env -u AWS_PROFILE "${envs[@]}" "$PORTAL_BIN" owner create --username owner \
            >>"$EGX_LOGS/bench-owner-create.log" 2>&1 || egx_die "egx-portal owner create failed"
        : >"$data/.bench-owner"
    fi
    printf -v "${prefix}_PORT" '%s' "$port"
    printf -v "${prefix}_URL" '%s' "http://127.0.0.1:$port"
    egx_start_service "$prefix" "egx-portal ($prefix)" "$port" egx_http_ok "http://127.0.0.1:$port/healthz" \
        "$EGX_LOGS/bench-portal-$prefix-$port.log" -- env -u AWS_PROFILE "${envs[@]}" "$PORTAL_BIN" serve
}

portal_onboard() {
    local prefix=$1 name=$2 url_var="${1}_URL" file="$BENCH_SECRETS/$1.json"
    node "$BENCH_DIR/node/portal.mjs" onboard "${!url_var}" owner "$OWNER_PASSWORD" "$name" "$TEAMMATE_PASSWORD" \
        --out "$file" >/dev/null || egx_die "onboarding $name failed"
    printf -v "${prefix}_OWNER_COOKIE" '%s' "$(jq -r .owner.cookie "$file")"
    printf -v "${prefix}_OWNER_CSRF" '%s' "$(jq -r .owner.csrf "$file")"
    printf -v "${prefix}_TEAMMATE_COOKIE" '%s' "$(jq -r .teammate.cookie "$file")"
    printf -v "${prefix}_TEAMMATE_CSRF" '%s' "$(jq -r .teammate.csrf "$file")"
}

start_companion() {
    local prefix=$1 s3=$2 bucket=$3 port
    ensure_node_deps "$BENCH_DIR/node"
    port=$(free_port)
    local data="$BENCH_SECRETS/companion-data"
    mkdir -p "$data"
    printf -v "${prefix}_PORT" '%s' "$port"
    printf -v "${prefix}_URL" '%s' "http://127.0.0.1:$port"
    local -a cmd
    mapfile -t cmd < <(companion_cmd "$port" "$s3" "$bucket" "$data")
    egx_start_service "$prefix" "Uppy Companion ($prefix)" "$port" egx_http_up "http://127.0.0.1:$port/" \
        "$EGX_LOGS/bench-companion-$port.log" -- "${cmd[@]}"
}

# companion_cmd PORT S3_URL BUCKET DATA_DIR : Companion's command line, one word a line.
companion_cmd() {
    local port=$1 s3=$2 bucket=$3 data=$4
    printf '%s\n' env "COMPANION_PORT=$port" "COMPANION_DOMAIN=127.0.0.1:$port" COMPANION_PROTOCOL=http \
        "COMPANION_DATADIR=$data" "COMPANION_CLIENT_ORIGINS=http://127.0.0.1:$port" \
        COMPANION_SECRET=bench-companion-secret COMPANION_AWS_KEY=test COMPANION_AWS_SECRET=test \
        "COMPANION_AWS_BUCKET=$bucket" COMPANION_AWS_REGION=us-east-1 "COMPANION_AWS_ENDPOINT=$s3" \
        COMPANION_AWS_FORCE_PATH_STYLE=true COMPANION_UPLOAD_URLS='^http://127\.0\.0\.1:1/$' \
        NODE_ENV=production node "$BENCH_DIR/node/companion.mjs"
}

# run_wrk NAME SCRIPT URL [extra wrk args] : a warm-up run (discarded), then the measured one.
run_wrk() {
    local name=$1 script=$2 url=$3
    shift 3
    local -a cmd=(wrk "-t$BENCH_THREADS" "-c$BENCH_CONNECTIONS" "-d${BENCH_DURATION}s" --latency -s "$BENCH_WRK_DIR/$script" "$@" "$url")
    if ((BENCH_WARMUP > 0)); then
        WRK_JSON="$RESULTS/$name-warmup.json" WRK_THREADS=$BENCH_THREADS wrk "-t$BENCH_THREADS" "-c$BENCH_CONNECTIONS" \
            "-d${BENCH_WARMUP}s" -s "$BENCH_WRK_DIR/$script" "$@" "$url" >/dev/null 2>&1 || true
    fi
    bench_load "$name"
    local vars=""
    [[ -z ${WRK_METHOD:-} ]] || vars+="WRK_METHOD=$WRK_METHOD "
    [[ -z ${WRK_PATH:-} ]] || vars+="WRK_PATH='$WRK_PATH' "
    printf '%s%s\n' "$vars" "${cmd[*]}" >>"$RESULTS/commands.txt"
    local cpu0=0 cpu1=0
    [[ -z ${BENCH_CPU_PID:-} ]] || cpu0=$(cpu_ticks "$BENCH_CPU_PID")
    WRK_JSON="$RESULTS/$name.json" WRK_THREADS=$BENCH_THREADS "${cmd[@]}" >"$RESULTS/$name.txt" 2>&1 \
        || { cat "$RESULTS/$name.txt" >&2; egx_die "wrk $name failed"; }
    if [[ -n ${BENCH_CPU_PID:-} ]]; then
        # CPU time the server spent per request: steadier than req/s on a busy machine.
        cpu1=$(cpu_ticks "$BENCH_CPU_PID")
        local tmp
        tmp=$(mktemp)
        jq --argjson t "$((cpu1 - cpu0))" --argjson hz "$(getconf CLK_TCK)" \
            '. + {server_cpu_s: ($t / $hz), server_cpu_us_per_req: ($t / $hz * 1e6 / .requests)}' \
            "$RESULTS/$name.json" >"$tmp" && mv -- "$tmp" "$RESULTS/$name.json"
    fi
    egx_log "$name: $(jq -c '{req_per_sec, p50_ms, p99_ms, non_2xx, server_cpu_us_per_req}' "$RESULTS/$name.json")"
}

# sqlite_counts DB SQL... : one number per query, space-separated (read-only).
sqlite_counts() {
    local db=$1
    shift
    "$EGX_TOOLS/moto/bin/python" -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(" ".join(str(c.execute(q).fetchone()[0]) for q in sys.argv[2:]))' "$db" "$@"
}

# cpu_ticks PID : user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# json_set FILE KEY VALUE : add a number or string to a JSON summary file.
json_set() {
    local file=$1 key=$2 value=$3 tmp
    [[ -f $file ]] || echo '{}' >"$file"
    tmp=$(mktemp)
    if [[ $value =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
        jq --arg k "$key" --argjson v "$value" '.[$k] = $v' "$file" >"$tmp"
    else
        jq --arg k "$key" --arg v "$value" '.[$k] = $v' "$file" >"$tmp"
    fi
    mv -- "$tmp" "$file"
}

# bench_finish : the benchmark's last step: stop its services, regenerate docs/BENCHMARKS.md.
bench_finish() {
    bench_load "end of $BENCH_NAME"
    stop_services
    [[ -n ${BENCH_NO_REPORT:-} ]] || python3 "$BENCH_DIR/report.py"
    egx_log "results in bench/results/$BENCH_NAME/"
}
