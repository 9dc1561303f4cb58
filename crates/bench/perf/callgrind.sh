#!/bin/bash
# usage: callgrind.sh fanout|one TAG PORT ROUNDS
#   fanout: 1 000 watchers, a PUBLISH per round -> /tmp/cg.TAG.rROUNDS.out
#   one:    one watcher, a PUBLISH every 20 ms  -> /tmp/cg1.TAG.rROUNDS.out
set -u
BIN=${BIN:-$(git rev-parse --show-toplevel)/target/perf-bin}
SHAPE=$1; T=$2; P=$3; R=$4
case "$SHAPE" in
    fanout) OUT=/tmp/cg.$T.r$R; ARGS=(--watchers 1000 --gap-ms 500 --window 100); SHOW=fanout.last ;;
    one) OUT=/tmp/cg1.$T.r$R; ARGS=(--watchers 1 --gap-ms 20); SHOW=fanout.each ;;
    *) echo "usage: $0 fanout|one TAG PORT ROUNDS" >&2; exit 2 ;;
esac
valgrind --tool=callgrind --callgrind-out-file=$OUT.out "$BIN/presenced-$T" --memory \
    --listen udp:127.0.0.1:$P --http-listen off > $OUT.log 2>&1 &
VP=$!
sleep 6
"$BIN/presenced-bench-$T" fanout --server 127.0.0.1:$P --rounds "$R" --t1-ms 4000 "${ARGS[@]}" | grep -E "$SHOW"
sleep 1; kill -INT $VP; wait $VP
