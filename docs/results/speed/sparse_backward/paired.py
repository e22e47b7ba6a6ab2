"""Accuracy before and after the sparse max-pooling backward (and the torch.rand dropout masks), paired
by benchmark unit: the same dataset, fold, seed, rows and settings; before = the records of
`docs/results/benchmark/units/` (cd6df4d's numerics), after = `records.jsonl` here.

    python docs/results/speed/sparse_backward/paired.py
    python docs/results/speed/sparse_backward/paired.py docs/results/speed/step_passes/records.jsonl

With a records file whose records carry `side` ("before" / "after"), both sides come from it.

The gradients are the same up to summation order; the dropout masks are drawn from another stream,
so a unit's run differs as another seed's would. What to look for: the mean change near zero.
"""

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).parent
UNITS = HERE.parents[1] / "benchmark" / "units"


def load(paths, side: str | None = None) -> dict:
    out = {}
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["system"] == "textcnn" and r["variant"] == "cnn" and r.get("side") == side:
                out[(r["dataset"], r["fold"], r["seed"])] = r["accuracy"]
    return out


if len(sys.argv) > 1:
    before, after = load([Path(sys.argv[1])], "before"), load([Path(sys.argv[1])], "after")
else:
    before, after = load(sorted(UNITS.glob("*.jsonl"))), load([HERE / "records.jsonl"])
print("| set | units | before (mean) | after (mean) | change, points | higher / lower / equal |")
print("|---|---:|---:|---:|---:|---|")
for name in sorted({k[0] for k in after}):
    keys = sorted((k for k in after if k[0] == name and k in before), key=lambda k: (k[1] or 0, k[2]))
    b, a = [before[k] for k in keys], [after[k] for k in keys]
    d = [100 * (y - x) for x, y in zip(b, a, strict=True)]
    counts = f"{sum(x > 0 for x in d)} / {sum(x < 0 for x in d)} / {sum(x == 0 for x in d)}"
    print(
        f"| {name} | {len(keys)} | {100 * statistics.mean(b):.2f} | {100 * statistics.mean(a):.2f} | "
        f"{statistics.mean(d):+.2f} | {counts} |"
    )
