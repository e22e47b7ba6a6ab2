"""Paired units of the benchmark with 10% and with 2% of each run's training rows held out (textcnn only):
the same dataset, fold and seed, so the same scored rows and the same initialisation, only the held-out
share differs. Prints one markdown row per unit and the mean difference per dataset.

    python docs/results/benchmark/holdout/paired.py
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNITS = HERE.parent / "units"
TEN = [*sorted(UNITS.glob("folds*.jsonl")), HERE / "holdout10-sst5-trec.jsonl"]
TWO = [HERE / "holdout2-sst5-trec.jsonl", HERE / "holdout2-mr-subj.jsonl"]


def textcnn_units(files: list[Path]) -> dict[tuple, float]:
    out = {}
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r["system"] == "textcnn":
                out[(r["dataset"], r["fold"], r["seed"])] = r["accuracy"]
    return out


def main() -> None:
    ten, two = textcnn_units(TEN), textcnn_units(TWO)
    paired = sorted((k for k in two if k in ten), key=lambda k: (k[0], k[1] or 0, k[2]))
    print("| set | fold | seed | 10% held out | 2% held out | difference |")
    print("|---|---:|---:|---:|---:|---:|")
    by_set: dict[str, list[float]] = {}
    for d, fold, seed in paired:
        a, b = ten[(d, fold, seed)] * 100, two[(d, fold, seed)] * 100
        by_set.setdefault(d, []).append(b - a)
        print(f"| {d} | {'' if fold is None else fold + 1} | {seed} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    print()
    for d, diffs in by_set.items():
        sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        print(
            f"{d}: {len(diffs)} units, mean {statistics.mean(diffs):+.2f} points, sd {sd:.2f}, "
            f"{sum(x > 0 for x in diffs)} higher / {sum(x < 0 for x in diffs)} lower"
        )


if __name__ == "__main__":
    main()
