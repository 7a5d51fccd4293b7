#!/bin/sh
# Resident memory of Node.js processes that have loaded cozy-konnector-libs
# and cheerio and wait on a timer: tests/benches/node_memory.sh's method,
# applied to the js-libs-start konnector bundled by build.mjs.
#
# Usage: tests/benches/node/libs_memory.sh [COUNT [WAIT_SECONDS]]
#
# Starts COUNT (default 100) `node` processes of the bundle, each with the
# job parameter wait_ms set to WAIT_SECONDS (default 10) seconds. Once each
# has logged "waiting", it prints the mean Rss, Pss and Anonymous memory of
# one process, in KiB, read from /proc/PID/smaps_rollup (Linux only), and
# stops the processes.
#
# Unlike node_memory.sh, it starts the processes in batches of BATCH
# (environment, default 50), each batch once the previous one is waiting,
# because a process loading the bundle uses more memory than a waiting one.
# Before each batch it checks MemAvailable in /proc/meminfo, and stops
# everything when less than MIN_AVAILABLE_MIB (environment, default 4096)
# is left. WAIT_SECONDS must cover the start of all COUNT processes: on 2
# cores, 1000 processes take more than a minute to start.
#
# Needs the konnector's packages, which
# `konnector build tests/benches/inputs/js-libs-start` installs.
set -eu

count=${1:-100}
wait_seconds=${2:-10}
script_dir=$(dirname "$0")
out=$(mktemp -d)
pids=""
stop_all() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    wait
    rm -rf "$out"
}
trap stop_all EXIT
trap 'exit 1' INT TERM

node "$script_dir/build.mjs" "$script_dir/../inputs/js-libs-start" "$out/js-libs-start.js"
KONNECTOR_PARAMETERS="{\"wait_ms\": $((wait_seconds * 1000))}"
export KONNECTOR_PARAMETERS

# Whether process $1 is still running. An ended child stays a zombie
# (state Z), with no memory, until `wait` reaps it.
is_running() {
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

batch=${BATCH:-50}
min_available_mib=${MIN_AVAILABLE_MIB:-4096}

# Waits until $1 processes have logged "waiting", which the shim writes to
# standard error as "[info] waiting".
wait_for_waiting() {
    while [ "$(cat "$out"/*.log | grep -c '^\[info\] waiting$')" -lt "$1" ]; do
        for pid in $pids; do
            if ! is_running "$pid"; then
                echo "error: node process $pid ended before every process was waiting" >&2
                exit 1
            fi
        done
        sleep 0.2
    done
}

started=0
while [ "$started" -lt "$count" ]; do
    available_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
    if [ "$available_mib" -lt "$min_available_mib" ]; then
        echo "error: only $available_mib MiB available after $started processes, less than MIN_AVAILABLE_MIB ($min_available_mib); stopping" >&2
        exit 1
    fi
    end=$((started + batch))
    if [ "$end" -gt "$count" ]; then
        end=$count
    fi
    while [ "$started" -lt "$end" ]; do
        node "$out/js-libs-start.js" 2>"$out/$started.log" &
        pids="$pids $!"
        started=$((started + 1))
    done
    wait_for_waiting "$started"
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
