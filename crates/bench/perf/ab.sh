#!/bin/bash
# usage: ab.sh OLD NEW REPS -> ceiling and fan-outs alternated, then paced round trips and one-watcher runs
set -u
BIN=${BIN:-$(git rev-parse --show-toplevel)/target/perf-bin}
O=$1; N=$2; R=$3
P=${PORT0:-27600}
ceiling() {
    "$BIN/presenced-bench-$N" ceiling --duration 3 --json /tmp/ab.ceiling.json > /dev/null 2>&1
    python3 -c "import json; print('ceiling %.0f' % json.load(open('/tmp/ab.ceiling.json'))['round_trips_per_s'])"
}
run() { # TAG WATCHERS ARGS...
    local t=$1 w=$2; shift 2; P=$((P + 1))
    "$BIN/presenced-$t" --memory --listen udp:127.0.0.1:$P --http-listen off > /tmp/ab.server.log 2>&1 &
    local sp=$!; sleep 1
    "$BIN/presenced-bench-$t" fanout --server 127.0.0.1:$P --watchers "$w" "$@" > /tmp/ab.out 2>&1
    kill $sp; wait $sp 2>/dev/null
}
fan() { run "$1" 10000 --rounds 5 --gap-ms 300 --window 100
    echo "fan $1 exchanges/s $(grep -E 'fanout.last' /tmp/ab.out | awk '{print int(10000 / ($6 / 1e6))}')"; }
one() { run "$1" 1 --rounds 1000 --gap-ms 2
    echo "one $1 p50/p99 us $(grep fanout.each /tmp/ab.out | awk '{print $6, $7}')"; }
paced() {
    "$BIN/presenced-bench-$N" ceiling --window 1 --pairs 1 --gap-ms 2 --duration 3 > /tmp/ab.paced.out 2>&1
    echo "paced $(grep -oE 'p50 [0-9]+ µs, p99 [0-9]+ µs' /tmp/ab.paced.out)"
}
uptime
for _ in $(seq "$R"); do ceiling; fan "$O"; fan "$N"; done; ceiling
for _ in $(seq "$R"); do paced; one "$O"; one "$N"; done; paced
uptime
