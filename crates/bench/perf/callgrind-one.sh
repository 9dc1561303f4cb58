#!/bin/bash
# usage: callgrind-one.sh TAG PORT ROUNDS -> /tmp/cg1.TAG.rROUNDS.out
set -u
BIN=${BIN:-$(git rev-parse --show-toplevel)/target/perf-bin}
T=$1; P=$2; R=$3
valgrind --tool=callgrind --callgrind-out-file=/tmp/cg1.$T.r$R.out "$BIN/presenced-$T" --memory \
    --listen udp:127.0.0.1:$P --http-listen off > /tmp/cg1.$T.r$R.log 2>&1 &
VP=$!
sleep 6
"$BIN/presenced-bench-$T" fanout --server 127.0.0.1:$P --watchers 1 --rounds "$R" \
    --gap-ms 20 --t1-ms 4000 | grep -E 'fanout.each'
sleep 1; kill -INT $VP; wait $VP
