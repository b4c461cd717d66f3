#!/usr/bin/env bash
# bench/machine.sh OUT.json — the machine and the versions a benchmark ran with.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$ROOT/.tools"
v() { "$@" 2>&1 | head -n1 || true; }
lock_version() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"; }
jq -n \
    --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --arg cores "$(nproc)" \
    --arg ram "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" \
    --arg kernel "$(uname -sr)" \
    --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
    --arg rustc "$(v rustc --version)" \
    --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')" \
    --arg aws_sdk_s3 "$(lock_version aws-sdk-s3)" \
    --arg wrk "$(v wrk --version)" \
    --arg hyperfine "$(v hyperfine --version)" \
    --arg node "$(v node --version)" \
    --arg companion "$(jq -r .version "$ROOT/bench/node/node_modules/@uppy/companion/package.json" 2>/dev/null || echo none)" \
    --arg playwright "$(jq -r .version "$ROOT/bench/node/node_modules/playwright-core/package.json" 2>/dev/null || echo none)" \
    --arg chromium "$(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo none)" \
    --arg moto "$("$TOOLS/moto/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo none)" \
    --arg localstack "$("$TOOLS/localstack/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))' 2>/dev/null || echo none)" \
    --arg awscli "$(v "$TOOLS/moto/bin/aws" --version)" \
    '{cpu: $cpu, cores: $cores, ram: $ram, kernel: $kernel, os: $os, rustc: $rustc, commit: $commit,
      "aws-sdk-s3": $aws_sdk_s3, wrk: $wrk, hyperfine: $hyperfine, node: $node, "@uppy/companion": $companion,
      "playwright-core": $playwright, chromium: $chromium, moto: $moto, "localstack-core": $localstack, awscli: $awscli}' >"$1"
