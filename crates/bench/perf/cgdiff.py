#!/usr/bin/env python3
"""Per-unit difference of two callgrind outputs: (B - A) / N per function.

usage: cgdiff.py A.out B.out N [TOP] [incl]
"""
import re
import subprocess
import sys


def load(path, inclusive):
    args = ["callgrind_annotate", "--threshold=100"]
    if inclusive:
        args.append("--inclusive=yes")
    out = subprocess.run(args + [path], capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        name = re.sub(r" \[/.*\]$", "", m.group(2))
        name = re.sub(r" \([\d,]+x\)$", "", name)
        name = name.split(":", 1)[-1] if ":" in name else name
        cost = int(m.group(1).replace(",", ""))
        if inclusive:
            costs[name] = max(costs.get(name, 0), cost)
        else:
            costs[name] = costs.get(name, 0) + cost
    return costs


def main():
    inclusive = len(sys.argv) > 5 and sys.argv[5] == "incl"
    a = load(sys.argv[1], inclusive)
    b = load(sys.argv[2], inclusive)
    n = float(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 80
    rows = sorted(((b.get(k, 0) - a.get(k, 0)) / n, k) for k in set(a) | set(b))
    for value, name in list(reversed(rows))[:top]:
        print("%8.0f  %s" % (value, name[:170]))


main()
