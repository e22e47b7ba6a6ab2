"""Checkpoint-selection rules compared after the fact: for each pair RUN=DIAG (a benchmark run and its
scored_curve.py re-run), which epoch each rule picks from the run's held-out curve, and the scored
split's accuracy at that epoch.

    python rules.py RUNS/sst5/cnn/seed0=diag/sst5-seed0 RUNS/mr/cnn/cv10-fold00-seed0=diag/mr-f0 ...
"""

import json
import statistics
import sys
from pathlib import Path


def curve(run: str) -> list[dict]:
    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("end_of_epoch", True)]


rules: dict[str, list[float]] = {}
for pair in sys.argv[1:]:
    orig, diag = pair.split("=")
    o, d = curve(orig), curve(diag)
    n = min(len(o), len(d))
    same = all(abs(a["train_loss"] - b["train_loss"]) < 1e-6 for a, b in zip(o[:n], d[:n], strict=True))
    scored = [r["val_accuracy"] for r in d[:n]]
    acc, loss = [r["val_accuracy"] for r in o[:n]], [r["val_loss"] for r in o[:n]]
    pick = {
        "best held-out accuracy (default)": max(range(n), key=lambda i: (acc[i], -i)),
        "lowest held-out loss": min(range(n), key=lambda i: loss[i]),
        "last epoch": n - 1,
        "best scored (oracle, not a rule)": max(range(n), key=lambda i: scored[i]),
    }
    print(
        f"{'/'.join(Path(orig).parts[-3:])}: same trajectory {same}; "
        + "; ".join(f"{k}: epoch {v + 1} {scored[v] * 100:.1f}" for k, v in pick.items())
    )
    print("  scored after each epoch:", " ".join(f"{s * 100:.0f}" for s in scored))
    for k, v in pick.items():
        rules.setdefault(k, []).append(scored[v])
for k, v in rules.items():
    print(f"{k}: mean {statistics.mean(v) * 100:.2f} over {len(v)} runs")
