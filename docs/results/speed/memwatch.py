"""Run a command and report its peak memory: the RSS of the process itself and the PSS (shared pages
split between their users) and RSS summed over its process tree, sampled every 0.1 s.

`/usr/bin/time -v` reports the largest RSS of any one process in the tree, and a forked helper's RSS
counts every page it shares with its parent, so neither says what a run with helpers holds.

    python docs/results/speed/memwatch.py textcnn train reviews500k.csv --set train.max_steps=1 --out RUN
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux: /proc/PID/task/TID/children)."""
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    except OSError:  # the process ended meanwhile
        pass
    return out


def rss_pss_kb(pid: int) -> tuple[int, int]:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split()[:2] for line in f if line.split()[0] in ("Rss:", "Pss:"))
        return int(fields.get("Rss:", 0)), int(fields.get("Pss:", 0))
    except OSError:
        return 0, 0


def main() -> int:
    proc = subprocess.Popen(sys.argv[1:])
    own = pss = rss = 0
    most = 1
    while proc.poll() is None:
        pids = tree(proc.pid)
        mem = [rss_pss_kb(p) for p in pids]
        own, most = max(own, mem[0][0]), max(most, len(pids))
        pss, rss = max(pss, sum(m[1] for m in mem)), max(rss, sum(m[0] for m in mem))
        time.sleep(0.1)
    print(
        f"memwatch: peak RSS {own / 1024:.0f} MB (the process), peak PSS {pss / 1024:.0f} MB and RSS sum "
        f"{rss / 1024:.0f} MB (its tree, at most {most} processes)",
        file=sys.stderr,
    )
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
