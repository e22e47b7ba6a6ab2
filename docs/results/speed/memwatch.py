"""Run a command and report its peak memory: the RSS of the process itself and the PSS (shared pages
split between their users) and RSS summed over its process tree, sampled every 0.1 s.

`/usr/bin/time -v` reports the largest RSS of any one process in the tree, and a forked helper's RSS
counts every page it shares with its parent, so neither says what a run with helpers holds. The tree
walk and the RSS reading are the load tool's (`textcnn.serve.load`).

    python docs/results/speed/memwatch.py textcnn train reviews500k.csv --set train.max_steps=1 --out RUN
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

from textcnn.serve.load import process_tree, rss_kb, tree_total


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise ValueError(f"process {pid} has no PSS (a zombie)")


def main() -> int:
    proc = subprocess.Popen(sys.argv[1:])
    own = pss = rss = 0.0
    most = 1
    while proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):  # it ended meanwhile
            own = max(own, rss_kb(proc.pid))
        pss = max(pss, tree_total(proc.pid, pss_kb) or 0)
        rss = max(rss, tree_total(proc.pid, rss_kb) or 0)
        most = max(most, len(process_tree(proc.pid)))
        time.sleep(0.1)
    print(
        f"memwatch: peak RSS {own / 1024:.0f} MB (the process), peak PSS {pss / 1024:.0f} MB and RSS sum "
        f"{rss / 1024:.0f} MB (its tree, at most {most} processes)",
        file=sys.stderr,
    )
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
