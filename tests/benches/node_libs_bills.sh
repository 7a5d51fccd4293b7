#!/bin/sh
# Runs the libs-bills sample under Node.js against the fixture vendor site,
# end to end (log in, 3 pages of bills, 12 PDFs), through the Node.js
# stand-in for konnector:host in tests/benches/node/. It prints what the job
# saved and its wall time, then the `konnector run` command that runs the
# same job in the engine, and stops the site.
#
# Usage: tests/benches/node_libs_bills.sh [--hyperfine RUNS]
#
# With --hyperfine RUNS, it then times, while the site runs, the Node.js job
# against `konnector run` of the sample's artifact and of its folder, each
# with a fresh output or store before every run.
#
# Needs target/release/konnector and target/release/vendor-site
# (`cargo build --release -p konnector -p vendor-site`); hyperfine for
# --hyperfine. Everything runs on 127.0.0.1: both Node.js and the engine
# connect to the site through an explicit vendor.example:443 mapping.
set -eu

cd "$(dirname "$0")/../.."
konnector=target/release/konnector
vendor_site=target/release/vendor-site
runs=""
if [ "$#" -eq 2 ] && [ "$1" = --hyperfine ]; then
    runs=$2
elif [ "$#" -ne 0 ]; then
    echo "usage: $0 [--hyperfine RUNS]" >&2
    exit 2
fi
for binary in "$konnector" "$vendor_site"; do
    if [ ! -x "$binary" ]; then
        echo "error: $binary is missing; run cargo build --release -p konnector -p vendor-site" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/node-libs-bills.XXXXXX)
site_pid=""
stop_site() {
    if [ -n "$site_pid" ]; then
        kill "$site_pid" 2>/dev/null || true
        wait "$site_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop_site EXIT
trap 'exit 1' INT TERM

# Both builds run before the site starts, so that npm and esbuild are done
# before any job is timed. `konnector build` installs cheerio in samples/libs-bills/build/npm, where
# build.mjs finds it too.
"$konnector" build samples/libs-bills -o "$work/libs-bills.wasm" >/dev/null
node tests/benches/node/build.mjs samples/libs-bills "$work/libs-bills.node.js"

"$vendor_site" --ignore-stdin --ca-out "$work/ca.pem" \
    >"$work/site.json" 2>"$work/site.log" </dev/null &
site_pid=$!
# The site prints one JSON line once it listens.
tries=0
until grep -q '}' "$work/site.json" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$site_pid" 2>/dev/null; then
        echo "error: the vendor site did not start; its log:" >&2
        cat "$work/site.log" >&2
        exit 1
    fi
    sleep 0.1
done
port=$(sed -n 's/.*"https":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$work/site.json")
if [ -z "$port" ]; then
    echo "error: no HTTPS port in the site's line: $(cat "$work/site.json")" >&2
    exit 1
fi

fields='{"login": "demo@example.com", "password": "demo-password"}'
KONNECTOR_FIELDS=$fields
KONNECTOR_CONNECT_TO="vendor.example:443:127.0.0.1:$port"
KONNECTOR_CA_FILE="$work/ca.pem"
KONNECTOR_OUTPUT="$work/node-out"
export KONNECTOR_FIELDS KONNECTOR_CONNECT_TO KONNECTOR_CA_FILE KONNECTOR_OUTPUT

start=$(date +%s%N)
if ! node "$work/libs-bills.node.js" 2>"$work/node.log"; then
    echo "error: the Node.js job failed; its log:" >&2
    cat "$work/node.log" >&2
    exit 1
fi
end=$(date +%s%N)
count_bills='console.log((require(process.argv[1]).documents["io.cozy.bills"] ?? []).length)'
bills=$(node -e "$count_bills" "$KONNECTOR_OUTPUT/result.json")
files=$(find "$KONNECTOR_OUTPUT/files" -type f | wc -l)
wall_ms=$(((end - start) / 1000000))
echo "node: $bills bills and $files files saved in $wall_ms ms (wall time of the node process)"
if [ "$bills" -ne 12 ] || [ "$files" -ne 12 ]; then
    echo "error: expected 12 bills and 12 files; the Node.js log:" >&2
    cat "$work/node.log" >&2
    exit 1
fi

network="--connect-to vendor.example:443:127.0.0.1:$port --allow-private 127.0.0.1:$port --ca-file $work/ca.pem"
engine_run="$konnector run samples/libs-bills --store $work/e2e.sqlite --fields '$fields' $network"
echo "engine, the same job (the site and its CA file go away when this script ends; --hyperfine times it):"
echo "  $engine_run"

if [ -n "$runs" ]; then
    # The artifact is what a worker runs. Every `konnector run` of the
    # folder builds it again first (bundle, bytecode, dependency plan), and
    # runs npm only when the package files changed.
    hyperfine -N --warmup 3 -r "$runs" \
        -n "node libs-bills bundle" --prepare "rm -rf $work/node-out" \
        "node $work/libs-bills.node.js" \
        -n "konnector run libs-bills.wasm" --prepare "rm -rf $work/e2e.sqlite $work/e2e-files" \
        "$konnector run $work/libs-bills.wasm --store $work/e2e.sqlite --fields '$fields' $network" \
        -n "konnector run samples/libs-bills" --prepare "rm -rf $work/e2e.sqlite $work/e2e-files" \
        "$engine_run"
fi
