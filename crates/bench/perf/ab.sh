#!/bin/bash
# usage: ab.sh OLD NEW REPS [ROUNDS]
#   Fan-outs of 10 000 watchers, OLD and NEW alternated in ABBA order (so
#   neither build always runs second, after the other has warmed the
#   machine), the loopback ceiling measured before and after every pair
#   and each fan-out read against the mean of the two; ROUNDS (default 9)
#   rounds per fan-out, the p50 of the last NOTIFY's arrival taken. Then
#   paced loopback round trips and one-watcher runs, alternated the same
#   way. Ends with each build's median ratio. ONLY=fan or ONLY=one runs
#   only that half.
set -u
ONLY=${ONLY:-}
BIN=${BIN:-$(git rev-parse --show-toplevel)/target/perf-bin}
O=$1; N=$2; R=$3; ROUNDS=${4:-9}
P=${PORT0:-27600}
OUT=$(mktemp -d)
ceiling() {
    "$BIN/presenced-bench-$N" ceiling --duration 3 --json "$OUT/ceiling.json" > /dev/null 2>&1
    python3 -c "import json; print('%.0f' % json.load(open('$OUT/ceiling.json'))['round_trips_per_s'])"
}
run() { # TAG WATCHERS ARGS...
    local t=$1 w=$2; shift 2; P=$((P + 1))
    "$BIN/presenced-$t" --memory --listen udp:127.0.0.1:$P --http-listen off > "$OUT/server.log" 2>&1 &
    local sp=$!; sleep 1
    "$BIN/presenced-bench-$t" fanout --server 127.0.0.1:$P --watchers "$w" "$@" > "$OUT/run.out" 2>&1
    kill $sp; wait $sp 2>/dev/null
}
fan() { # TAG -> exchanges per second
    run "$1" 10000 --rounds "$ROUNDS" --gap-ms 300 --window 100
    grep -E 'fanout.last' "$OUT/run.out" | awk '{print int(10000 / ($6 / 1e6))}'
}
one() { run "$1" 1 --rounds 1000 --gap-ms 2
    echo "one $1 p50/p99 us $(grep fanout.each "$OUT/run.out" | awk '{print $6, $7}')"; }
paced() {
    "$BIN/presenced-bench-$N" ceiling --window 1 --pairs 1 --gap-ms 2 --duration 3 > "$OUT/paced.out" 2>&1
    echo "paced $(grep -oE 'p50 [0-9]+ µs, p99 [0-9]+ µs' "$OUT/paced.out")"
}
uptime
[ "$ONLY" != one ] && before=$(ceiling)
for i in $(seq "$R"); do
    [ "$ONLY" = one ] && break
    if [ $((i % 2)) -eq 1 ]; then first=$O; second=$N; else first=$N; second=$O; fi
    a=$(fan "$first"); b=$(fan "$second"); after=$(ceiling)
    mean=$(( (before + after) / 2 ))
    echo "pair $i ceiling $before..$after: $first $a/s $(awk "BEGIN{printf \"%.1f\", 100*$a/$mean}")%, $second $b/s $(awk "BEGIN{printf \"%.1f\", 100*$b/$mean}")%"
    echo "$first $(awk "BEGIN{print 100*$a/$mean}")" >> "$OUT/ratios"
    echo "$second $(awk "BEGIN{print 100*$b/$mean}")" >> "$OUT/ratios"
    before=$after
done
for t in "$O" "$N"; do
    [ "$ONLY" = one ] && break
    echo "fan $t median $(awk -v t="$t" '$1 == t {print $2}' "$OUT/ratios" | sort -n \
        | awk '{v[NR]=$1} END {if (NR % 2) m=v[(NR+1)/2]; else m=(v[NR/2]+v[NR/2+1])/2; printf "%.1f %% of the ceiling over %d pairs", m, NR}')"
done
for i in $(seq "$R"); do
    [ "$ONLY" = fan ] && break
    if [ $((i % 2)) -eq 1 ]; then first=$O; second=$N; else first=$N; second=$O; fi
    paced; one "$first"; one "$second"
done
[ "$ONLY" != fan ] && paced
uptime
rm -rf "$OUT"
