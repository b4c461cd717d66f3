#!/usr/bin/env bash
# scripts/build-assets.sh — bundle the upload page's front-end (Uppy) into
# static/dist/, which is committed so `cargo build` needs no npm.
#
#   scripts/build-assets.sh           npm ci (from the lock file) + esbuild -> static/dist/
#   scripts/build-assets.sh --check   build into a temporary folder and fail unless it
#                                     equals the committed static/dist/ byte for byte
#
# Sources: static/src/upload.js, static/src/upload.css, static/src/package.json
# and package-lock.json (exact versions). The output depends only on those and
# esbuild's version (pinned), so a rebuild reproduces the committed bundle.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
cd "$EGX_ROOT"

SRC=static/src
DIST=static/dist
check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) egx_die "unknown argument: $1 (try --help)" ;;
esac

ensure_node_deps "$SRC"
out=$DIST
if ((check)); then
    out=$(mktemp -d)
    trap 'rm -rf -- "$out"' EXIT
fi
mkdir -p "$out"
esbuild="$SRC/node_modules/.bin/esbuild"
"$esbuild" "$SRC/upload.js" --bundle --minify --format=iife --target=es2020 --charset=utf8 \
    --legal-comments=eof --log-level=warning --outfile="$out/upload.js"
"$esbuild" "$SRC/upload.css" --bundle --minify --charset=utf8 --log-level=warning --outfile="$out/upload.css"

if ((check)); then
    for f in upload.js upload.css; do
        cmp -s "$out/$f" "$DIST/$f" \
            || egx_die "$DIST/$f differs from a fresh build: run scripts/build-assets.sh and commit static/dist/"
    done
    egx_log "static/dist/ matches a fresh build of static/src/"
else
    egx_log "built $(wc -c <"$out/upload.js") bytes of JS and $(wc -c <"$out/upload.css") bytes of CSS in $out/"
fi
