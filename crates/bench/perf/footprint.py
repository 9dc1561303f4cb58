#!/usr/bin/env python3
"""Distinct cache lines touched between two instructions in each round of a
lackey --trace-mem log (see footprint.sh, which finds the addresses).
usage: footprint.py LOG BINARY START END [TOP]"""
import sys, re, subprocess, bisect, collections
log, binary, st, en = sys.argv[1:5]
top = int(sys.argv[5]) if len(sys.argv) > 5 else 30
BASE = 0x108000
syms = []
for l in subprocess.run(['nm', '-C', '--defined-only', binary], capture_output=True, text=True).stdout.splitlines():
    p = l.split(' ', 2)
    if len(p) == 3 and p[1] in 'tTwW': syms.append((int(p[0], 16) + BASE, p[2]))
syms.sort(); addrs = [a for a, _ in syms]
r = -1; on = False; code = set(); data = set(); ins = 0; spans = []
with open(log) as f:
    for line in f:
        if line.startswith('I  '):
            a = line[3:].split(',', 1)[0]
            if a == st and not on:
                on = True; r += 1; c = set(); d = set(); n = 0
            if on:
                c.add(int(a, 16) >> 6); n += 1
                if a == en:
                    on = False; spans.append((c, d, n))
        elif on and line[:2] in (' L', ' S', ' M'):
            d.add(int(line[3:].split(',', 1)[0], 16) >> 6)
print('spans', len(spans))
# The first rounds warm up (allocator caches, tables growing); a round that
# refills an allocator cache touches more. The median round is the figure.
steady = spans[min(5, len(spans) - 1):]
med = lambda v: sorted(v)[len(v) // 2]
cl = [len(c) for c, _, _ in steady]; dl = [len(d) for _, d, _ in steady]
print('rounds %d..%d: code lines median %d (min %d, max %d), data lines median %d (min %d, max %d), total median %d'
      % (len(spans) - len(steady), len(spans) - 1, med(cl), min(cl), max(cl), med(dl), min(dl), max(dl),
         med([a + b for a, b in zip(cl, dl)])))
order = sorted(range(len(steady)), key=lambda i: cl[i] + dl[i])
c, d, n = steady[order[len(order) // 2]]
print('median round: %d instructions, code lines %d, data lines %d' % (n, len(c), len(d)))
cat = collections.Counter(); by = collections.Counter()
for line in c:
    k = bisect.bisect_right(addrs, line << 6) - 1
    name = re.sub(r'::h[0-9a-f]{16}$', '', syms[k][1] if k >= 0 else '?')
    by[name[:140]] += 1
    m = re.match(r'[<]*(?:\w+::)*?(tokio_util|tokio|sip|presence|presenced|quick_xml|hashbrown|alloc|core|bytes|memchr|std|quanta|tracing|metrics|udp_batch|rules)\b', name)
    cat[m.group(1) if m else ('jemalloc' if 'rjem' in name else name[:30])] += 1
print('-- by crate', cat.most_common(16))
for nm_, k in by.most_common(top): print('%5d %s' % (k, nm_))
