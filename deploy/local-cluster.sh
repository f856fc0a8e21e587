#!/usr/bin/env bash
# local-cluster.sh — runs a multi-node, multi-region Meridian cluster on 127.0.0.1 for development
# and demos: `start` (default), `stop` (only the PIDs this script recorded) and `status`.
#
#   deploy/local-cluster.sh [start] [-n NODES] [-r REGIONS] [-p BASE_PORT] [-d DIR] [-b BINARY]
#   deploy/local-cluster.sh stop   [-d DIR]
#   deploy/local-cluster.sh status [-d DIR]
#
# Defaults: 3 nodes over 3 regions, ports 7071.., data under ./local-cluster, binary
# target/release/meridian (or `meridian` on PATH). Environment overrides: NODES, REGIONS,
# BASE_PORT, CLUSTER_DIR, MERIDIAN_BIN, WAIT_SECS (start), STOP_WAIT_SECS (stop).
# Node data survives `stop`; `start` again restarts the same nodes (they rejoin by themselves).
set -euo pipefail

REGION_NAMES=(us-east eu-west ap-south sa-east af-south me-central)
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$SCRIPT_DIR")"

NODES="${NODES:-3}"
REGIONS="${REGIONS:-3}"
BASE_PORT="${BASE_PORT:-7071}"
CLUSTER_DIR="${CLUSTER_DIR:-./local-cluster}"
MERIDIAN_BIN="${MERIDIAN_BIN:-}"
WAIT_SECS="${WAIT_SECS:-120}"
STOP_WAIT_SECS="${STOP_WAIT_SECS:-20}"

die() { echo "local-cluster: $*" >&2; exit 1; }
say() { echo "local-cluster: $*"; }

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

parse_args() {
    COMMAND=start
    if [[ $# -gt 0 && $1 != -* ]]; then COMMAND=$1; shift; fi
    while [[ $# -gt 0 ]]; do
        case $1 in
            -n) NODES=${2:?-n needs a value}; shift 2 ;;
            -r) REGIONS=${2:?-r needs a value}; shift 2 ;;
            -p) BASE_PORT=${2:?-p needs a value}; shift 2 ;;
            -d) CLUSTER_DIR=${2:?-d needs a value}; shift 2 ;;
            -b) MERIDIAN_BIN=${2:?-b needs a value}; shift 2 ;;
            -h|--help) usage 0 ;;
            *) echo "local-cluster: unknown argument: $1" >&2; usage 2 ;;
        esac
    done
    [[ $NODES =~ ^[1-9][0-9]*$ ]] || die "NODES must be a positive integer, got '$NODES'"
    [[ $REGIONS =~ ^[1-9][0-9]*$ ]] || die "REGIONS must be a positive integer, got '$REGIONS'"
    if ! [[ $BASE_PORT =~ ^[0-9]+$ ]] || (( BASE_PORT == 0 || BASE_PORT + NODES - 1 > 65535 )); then
        die "BASE_PORT must leave room for $NODES ports below 65536, got '$BASE_PORT'"
    fi
    [[ $WAIT_SECS =~ ^[0-9]+$ && $STOP_WAIT_SECS =~ ^[0-9]+$ ]] \
        || die "WAIT_SECS and STOP_WAIT_SECS must be whole seconds"
}

find_binary() {
    if [[ -n $MERIDIAN_BIN ]]; then
        [[ -x $MERIDIAN_BIN ]] || die "MERIDIAN_BIN=$MERIDIAN_BIN is not an executable"
    elif [[ -x $REPO_DIR/target/release/meridian ]]; then
        MERIDIAN_BIN=$REPO_DIR/target/release/meridian
    elif command -v meridian >/dev/null 2>&1; then
        MERIDIAN_BIN=$(command -v meridian)
    else
        die "no meridian binary: run 'cargo build --release -p meridian' or pass -b PATH"
    fi
}

region_of() { # node number (1-based) -> region name
    local k=$(( ($1 - 1) % REGIONS ))
    if (( k < ${#REGION_NAMES[@]} )); then echo "${REGION_NAMES[$k]}"; else echo "region-$((k + 1))"; fi
}
addr_of() { echo "127.0.0.1:$(( BASE_PORT + $1 - 1 ))"; }

# Full response (status line, headers, body) of a GET to a local node; empty when nothing
# answers within 2 s. Uses curl when present, else bash's /dev/tcp.
http_get() {
    local addr=$1 path=$2
    if command -v curl >/dev/null 2>&1; then
        curl -si -m 2 "http://$addr$path" 2>/dev/null || true
        return 0
    fi
    if exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" 2>/dev/null; then
        printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$addr" >&3
        timeout 2 cat <&3 || true
        exec 3<&- 3>&-
    fi
}

# HTTP status code of a GET, or 000 when nothing answers.
http_code() {
    local code
    code=$(http_get "$1" "$2" | awk 'NR == 1 {print $2}')
    echo "${code:-000}"
}

# Whether the recorded PID is alive and still a `meridian serve` (guards against PID reuse).
pid_is_ours() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    local cmd; cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *meridian* && $cmd == *serve* ]]
}

load_token() {
    local f=$CLUSTER_DIR/admin-token
    if [[ ! -s $f ]]; then
        (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$f")
    fi
    ADMIN_TOKEN=$(<"$f")
    (( ${#ADMIN_TOKEN} >= 16 )) || die "$f holds a token shorter than 16 characters"
}

meridian_cli() { MERIDIAN_TOKEN=$ADMIN_TOKEN "$MERIDIAN_BIN" "$@"; }

start_node() {
    local i=$1 addr; addr=$(addr_of "$i")
    local data=$CLUSTER_DIR/node-$i pidf=$CLUSTER_DIR/node-$i.pid
    if [[ -f $pidf ]] && pid_is_ours "$(<"$pidf")"; then
        say "node $i already running (pid $(<"$pidf"))"
        return 0
    fi
    local args=(serve --node-id "$i" --region "$(region_of "$i")" --listen "$addr"
                --advertise "$addr" --data-dir "$data" --allow-private-targets)
    if (( i > 1 )); then args+=(--join "$(addr_of 1)"); fi
    # The token goes through the environment, not argv, so `ps` does not show it. NO_COLOR keeps
    # terminal colour codes out of the log files.
    MERIDIAN_ADMIN_TOKEN=$ADMIN_TOKEN NO_COLOR=1 nohup "$MERIDIAN_BIN" "${args[@]}" \
        >>"$CLUSTER_DIR/node-$i.log" 2>&1 </dev/null &
    echo $! >"$pidf"
    say "started node $i ($(region_of "$i"), $addr) pid $!, log $CLUSTER_DIR/node-$i.log"
}

# Runs "$@" once a second until it succeeds or WAIT_SECS pass since $deadline was set.
wait_until() {
    local what=$1; shift
    while ! "$@"; do
        (( SECONDS < deadline )) || die "gave up after ${WAIT_SECS}s waiting for $what" \
            "(logs: $CLUSTER_DIR/*.log; stop what runs with: $0 stop -d $CLUSTER_DIR)"
        sleep 1
    done
}

all_healthy() {
    local i
    for (( i = 1; i <= NODES; i++ )); do
        pid_is_ours "$(<"$CLUSTER_DIR/node-$i.pid")" \
            || die "node $i exited; see $CLUSTER_DIR/node-$i.log (stop the rest: $0 stop -d $CLUSTER_DIR)"
        [[ $(http_code "$(addr_of "$i")" /healthz) == 200 ]] || return 1
    done
}

all_members() {
    local json
    json=$(meridian_cli cluster status --node "$(addr_of 1)" --output json 2>/dev/null) || return 1
    (( $(grep -c '"role": ' <<<"$json") == NODES && $(grep -c '"status": "up"' <<<"$json") == NODES ))
}

# Whether any node reports that it is a member of a cluster (then `cluster init` must not run:
# it would start a second cluster on a node that lost its data dir).
any_member() {
    local i
    for (( i = 1; i <= NODES; i++ )); do
        http_get "$(addr_of "$i")" /readyz | grep -q '"member":true' && return 0
    done
    return 1
}

all_ready() {
    local i
    for (( i = 1; i <= NODES; i++ )); do
        [[ $(http_code "$(addr_of "$i")" /readyz) == 200 ]] || return 1
    done
}

cmd_start() {
    find_binary
    mkdir -p "$CLUSTER_DIR"
    CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
    load_token
    echo "$NODES $REGIONS $BASE_PORT" >"$CLUSTER_DIR/layout"
    local i
    for (( i = 1; i <= NODES; i++ )); do start_node "$i"; done

    local deadline=$(( SECONDS + WAIT_SECS ))
    wait_until "every node to answer /healthz" all_healthy
    # New cluster: no node is a member yet. A restart: members rejoin by themselves.
    if ! any_member; then
        meridian_cli cluster init --node "$(addr_of 1)"
    fi
    wait_until "all $NODES nodes to be members and up" all_members
    wait_until "every node to answer /readyz with 200" all_ready

    meridian_cli cluster status --node "$(addr_of 1)"
    echo
    echo "admin token: $ADMIN_TOKEN   (also in $CLUSTER_DIR/admin-token)"
    for (( i = 1; i <= NODES; i++ )); do
        echo "node $i  $(region_of "$i")  http://$(addr_of "$i")"
    done
    echo "stop with: $0 stop -d $CLUSTER_DIR"
}

cmd_stop() {
    [[ -d $CLUSTER_DIR ]] || die "no cluster dir $CLUSTER_DIR"
    local pidf pid stopped=0
    shopt -s nullglob
    for pidf in "$CLUSTER_DIR"/node-*.pid; do
        pid=$(<"$pidf")
        if pid_is_ours "$pid"; then
            kill -TERM "$pid"
            local deadline=$(( SECONDS + STOP_WAIT_SECS ))
            while pid_is_ours "$pid" && (( SECONDS < deadline )); do sleep 0.2; done
            if pid_is_ours "$pid"; then
                echo "local-cluster: pid $pid ignored SIGTERM for ${STOP_WAIT_SECS}s; sending SIGKILL" >&2
                kill -KILL "$pid" 2>/dev/null || true
            fi
            say "stopped $(basename "$pidf" .pid) (pid $pid)"
            stopped=$(( stopped + 1 ))
        else
            say "$(basename "$pidf" .pid) (pid $pid) was not running"
        fi
        rm -f "$pidf"
    done
    say "stopped $stopped node(s); data kept in $CLUSTER_DIR"
}

cmd_status() {
    [[ -d $CLUSTER_DIR && -f $CLUSTER_DIR/admin-token ]] || die "no cluster in $CLUSTER_DIR"
    find_binary
    ADMIN_TOKEN=$(<"$CLUSTER_DIR/admin-token")
    if [[ -f $CLUSTER_DIR/layout ]]; then read -r NODES REGIONS BASE_PORT <"$CLUSTER_DIR/layout"; fi
    local i pid target=""
    for (( i = 1; i <= NODES; i++ )); do
        pid=$(cat "$CLUSTER_DIR/node-$i.pid" 2>/dev/null || echo -)
        local state=stopped
        pid_is_ours "$pid" && state="running pid $pid"
        echo "node $i  $(region_of "$i")  $(addr_of "$i")  $state  readyz=$(http_code "$(addr_of "$i")" /readyz)"
        [[ -z $target && $state == running* ]] && target=$(addr_of "$i")
    done
    [[ -n $target ]] || die "no node is running"
    echo
    meridian_cli cluster status --node "$target"
}

parse_args "$@"
case $COMMAND in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    help) usage 0 ;;
    *) echo "local-cluster: unknown command: $COMMAND" >&2; usage 2 ;;
esac
