#!/bin/sh
# Resident memory of Node.js processes that wait on a timer, the
# counterpart of `cargo bench -p konnector-tests --bench js_memory`.
#
# Usage: tests/benches/node_memory.sh [COUNT]
#
# Starts COUNT (default 100) `node inputs/js-wait/index.js` processes at
# once, waits until each has printed "waiting", and prints the mean Rss,
# Pss and Anonymous memory of one process, in KiB, read from
# /proc/PID/smaps_rollup (Linux only).
set -eu

count=${1:-100}
script="$(dirname "$0")/inputs/js-wait/index.js"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Whether process $1 is still running. An ended child stays a zombie
# (state Z), with no memory, until `wait` reaps it.
is_running() {
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

pids=""
i=0
while [ "$i" -lt "$count" ]; do
    node "$script" >"$out/$i.log" &
    pids="$pids $!"
    i=$((i + 1))
done

# Each process prints "waiting" once its timer is set. One that ends before
# all are waiting failed, or the machine is too slow to start them all
# within the timer's 10 seconds.
while [ "$(cat "$out"/*.log | grep -c '^waiting$')" -lt "$count" ]; do
    for pid in $pids; do
        if ! is_running "$pid"; then
            echo "error: node process $pid ended before every process was waiting" >&2
            exit 1
        fi
    done
    sleep 0.1
done
# A short pause lets each process reach its wait.
sleep 0.2

for pid in $pids; do
    if ! is_running "$pid" || ! cat "/proc/$pid/smaps_rollup" >>"$out/rollups"; then
        echo "error: node process $pid ended before it was measured" >&2
        exit 1
    fi
done
awk -v count="$count" '
    /^Rss:/ { rss += $2 }
    /^Pss:/ { pss += $2 }
    /^Anonymous:/ { anonymous += $2 }
    END {
        printf "%d node processes waiting; per process: Rss %.0f KiB, Pss %.0f KiB, Anonymous %.0f KiB\n",
            count, rss / count, pss / count, anonymous / count
    }' "$out/rollups"
wait
