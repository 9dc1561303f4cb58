#!/bin/bash
# usage: footprint.sh TAG PORT [ROUNDS]
#   The server's cache footprint on the one-watcher path: presenced-TAG
#   under valgrind's lackey (every instruction and memory access traced),
#   one watcher, a PUBLISH every 50 ms, ROUNDS rounds (default 25). Then
#   footprint.py counts, for the median round, the distinct 64-byte lines of code
#   and data touched from the PUBLISH's parse to the sendmmsg that carries
#   its NOTIFY, by crate and by function. A paced request finds the
#   private caches empty, so each of those lines is a miss.
set -u
BIN=${BIN:-$(git rev-parse --show-toplevel)/target/perf-bin}
T=$1; P=$2; R=${3:-25}
SRV="$BIN/presenced-$T"; LOG=/tmp/lackey.$T.log
# Valgrind loads a position-independent executable at 0x108000.
base=0x108000
start=$(nm -C --defined-only "$SRV" | awk '$3 == "sip::parse::parse" {print $1; exit}')
end=$(objdump -d --no-show-raw-insn "$SRV" | awk '/call.*<sendmmsg@/ {sub(":", "", $1); print $1; exit}')
[ -n "$start" ] && [ -n "$end" ] || { echo "no sip::parse::parse or sendmmsg call in $SRV" >&2; exit 1; }
hex() { printf '%08x' $(( 0x$1 + base )); }
valgrind --tool=lackey --trace-mem=yes --log-file=$LOG "$SRV" --memory \
    --listen udp:127.0.0.1:$P --http-listen off > /tmp/lackey.$T.srv.log 2>&1 &
VP=$!
sleep 15
"$BIN/presenced-bench-$T" fanout --server 127.0.0.1:$P --watchers 1 --rounds "$R" --gap-ms 50 --t1-ms 4000 | grep fanout.each
sleep 2; kill -INT $VP; wait $VP
python3 "$(dirname "$0")/footprint.py" $LOG "$SRV" $(hex $start) $(hex $end) 40
