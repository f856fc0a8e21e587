#!/bin/bash
# entrypoint.sh — container entrypoint of the Meridian StatefulSet: derives this pod's node id,
# advertised address and bootstrap-or-join role from its ordinal, then execs `meridian serve`
# (which becomes PID 1 and receives SIGTERM directly).
#
#   node id    = NODE_ID_OFFSET + ordinal + 1          (meridian-0 -> 1, meridian-1 -> 2, ...)
#   advertise  = $POD_NAME.$HEADLESS_SERVICE:$PORT     (meridian-0.meridian-headless:7070)
#   ordinal 0  = --bootstrap, unless another pod already reports a cluster (then it joins), or
#                SEEDS is set (a StatefulSet extending a cluster that lives elsewhere)
#   ordinal >0 = --join SEEDS (default: the other pods of this StatefulSet, meridian-0 first)
#
# --bootstrap only acts on a data dir that has never been initialised, so passing it on every
# start of ordinal 0 is harmless. The peer check guards the one dangerous case: meridian-0 lost its
# volume while the others run; bootstrapping would then start a second, separate cluster.
set -euo pipefail

: "${POD_NAME:?POD_NAME must be set (downward API metadata.name)}"
HEADLESS_SERVICE=${HEADLESS_SERVICE:-meridian-headless}
PORT=${PORT:-7070}
REPLICAS=${REPLICAS:-3}
NODE_ID_OFFSET=${NODE_ID_OFFSET:-0}
SEEDS=${SEEDS:-}
MERIDIAN=${MERIDIAN:-/usr/local/bin/meridian}

ordinal=${POD_NAME##*-}
set_name=${POD_NAME%-*}
if ! [[ $ordinal =~ ^[0-9]+$ && $REPLICAS =~ ^[0-9]+$ && $NODE_ID_OFFSET =~ ^[0-9]+$ ]]; then
    echo "entrypoint: need POD_NAME like NAME-ORDINAL and numeric REPLICAS, NODE_ID_OFFSET" >&2
    exit 1
fi

peer() { echo "$set_name-$1.$HEADLESS_SERVICE:$PORT"; }

export MERIDIAN_NODE_ID=$(( NODE_ID_OFFSET + ordinal + 1 ))
export MERIDIAN_ADVERTISE; MERIDIAN_ADVERTISE=$(peer "$ordinal")
export MERIDIAN_LISTEN=${MERIDIAN_LISTEN:-0.0.0.0:$PORT}
export MERIDIAN_DATA_DIR=${MERIDIAN_DATA_DIR:-/var/lib/meridian}

own_seeds=""
for (( i = 0; i < REPLICAS; i++ )); do
    (( i == ordinal )) || own_seeds+="${own_seeds:+,}$(peer "$i")"
done

# Whether any other pod of this StatefulSet says it is a member of a cluster (bounded: one short
# request per pod; a pod that does not exist yet fails fast on DNS).
cluster_exists_elsewhere() {
    local i
    for (( i = 1; i < REPLICAS; i++ )); do
        if curl -s -m 2 "http://$(peer "$i")/readyz" 2>/dev/null | grep -q '"member":true'; then
            echo "entrypoint: $(peer "$i") is already a cluster member" >&2
            return 0
        fi
    done
    return 1
}

args=(serve)
if [[ -n $SEEDS ]]; then
    args+=(--join "$SEEDS")
elif (( ordinal > 0 )); then
    args+=(--join "$own_seeds")
elif (( REPLICAS > 1 )) && cluster_exists_elsewhere; then
    echo "entrypoint: not bootstrapping; joining the existing cluster instead" >&2
    args+=(--join "$own_seeds")
else
    args+=(--bootstrap)
fi

echo "entrypoint: node $MERIDIAN_NODE_ID advertising $MERIDIAN_ADVERTISE: meridian ${args[*]}" >&2
exec "$MERIDIAN" "${args[@]}" "$@"
