# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154  # root comes from, cluster_masters goes to, the caller
# Helpers shared by the benchmark scripts (sourced, not run): configure_release, a temp dir
# and a list of server pids that the EXIT trap stops, free 127.0.0.1 ports, start_server,
# start_redis, start_cluster and cli (redis-cli on 127.0.0.1, bounded to 10 s).
#
# The sourcing script sets `set -euo pipefail` and, before sourcing, `root` (the source tree)
# and `log_name` (the prefix of its log lines).

# configure_release <build dir>: a Release tree with the tests, benchmarks and tools, no examples.
configure_release() {
    cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASIOCACHE_BUILD_TESTS=ON \
        -DASIOCACHE_BUILD_BENCHMARKS=ON -DASIOCACHE_BUILD_EXAMPLES=OFF -DASIOCACHE_BUILD_TOOLS=ON \
        >/dev/null
}

tmp=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

log() { printf '%s: %s\n' "${log_name:-bench}" "$*" >&2; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port in 20000-59999 that nothing listens on (the server's own bind is the
# final check: start_server retries on failure).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        if [[ $p != 6379 && $p != 11211 ]] && ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
}

# start_server <name> <command with PORT placeholder...>: sets server_port to the port it
# listens on. Called directly (not in $(...)) so that its pid reaches the cleanup list.
server_port=
start_server() {
    local name=$1
    shift
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        local args=("${@//PORT/$port}")
        "${args[@]}" >"$tmp/$name.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            if port_in_use "$port"; then
                pids+=("$pid")
                server_port=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    log "$name did not start: $(tail -3 "$tmp/$name.log")"
    return 1
}

# start_redis: a redis-server without persistence; sets server_port, as start_server.
start_redis() {
    start_server redis redis-server --bind 127.0.0.1 --port PORT --save "" --appendonly no
}

cli() { timeout 10 redis-cli -h 127.0.0.1 "$@"; }

# start_cluster <masters>: a Redis Cluster of 2 * masters redis-server nodes on free ports (one
# replica per master, created with `redis-cli --cluster create`), without persistence; returns
# once every node says cluster_state:ok and every replica's link to its master is up. Sets
# cluster_nodes (every node's port, in start order) and cluster_masters (the masters' ports).
# Called directly, as start_server. Each node's bus port is a free port of its own
# (cluster-port, Redis 7): the default, the client port + 10000, can be past 65535 or taken.
cluster_nodes=()
cluster_masters=()
start_cluster() {
    local i p info deadline addresses=()
    cluster_nodes=()
    for i in $(seq $((2 * $1))); do
        mkdir -p "$tmp/node$i"
        start_server "node$i" redis-server --bind 127.0.0.1 --port PORT \
            --cluster-port "$(free_port)" --cluster-enabled yes \
            --cluster-config-file "$tmp/node$i/nodes.conf" --cluster-node-timeout 5000 \
            --dir "$tmp/node$i" --save "" --appendonly no --repl-diskless-sync-delay 0
        cluster_nodes+=("$server_port")
        addresses+=("127.0.0.1:$server_port")
    done
    timeout 60 redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
        >"$tmp/create.log" 2>&1 || {
        log "cluster create failed: $(tail -5 "$tmp/create.log")"
        return 1
    }
    deadline=$((SECONDS + 60))
    until (
        for p in "${cluster_nodes[@]}"; do
            cli -p "$p" CLUSTER INFO | grep -q '^cluster_state:ok' || exit 1
            info=$(cli -p "$p" INFO replication)
            if grep -q '^role:slave' <<<"$info"; then
                grep -q '^master_link_status:up' <<<"$info" || exit 1
            fi
        done
    ); do
        if ((SECONDS > deadline)); then
            log "the cluster did not become healthy within 60 s"
            return 1
        fi
        sleep 0.2
    done
    read -r -a cluster_masters <<<"$(cli -p "${cluster_nodes[0]}" CLUSTER NODES |
        awk '$3 ~ /master/ && NF > 8 {split($2, a, "[:@]"); print a[2]}' | sort -n | tr '\n' ' ')"
}
