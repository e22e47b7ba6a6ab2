"""Paired units of the benchmark with 10% and with 2% of each run's training rows held out (textcnn only):
the same dataset, fold and seed, so the same scored rows and the same initialisation, only the held-out
share differs. Prints one markdown row per unit and the mean difference per dataset.

    python docs/results/benchmark/holdout/paired.py
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEN = [HERE / "holdout10-mr.jsonl", HERE / "holdout10-subj.jsonl", HERE / "holdout10-sst5-trec.jsonl"]
TWO = [HERE / "holdout2-sst5-trec.jsonl", HERE / "holdout2-mr-subj.jsonl"]


def textcnn_units(files: list[Path]) -> dict[tuple, float]:
    out = {}
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r["system"] == "textcnn":
                out[(r["dataset"], r["fold"], r["seed"])] = r["accuracy"]
    return out


def print_paired(before: dict[tuple, float], after: dict[tuple, float], columns: tuple[str, str]) -> None:
    """One markdown row per unit in both (dataset, fold, seed -> accuracy), then each set's mean difference."""
    paired = sorted((k for k in after if k in before), key=lambda k: (k[0], k[1] or 0, k[2]))
    print(f"| set | fold | seed | {columns[0]} | {columns[1]} | difference |")
    print("|---|---:|---:|---:|---:|---:|")
    by_set: dict[str, list[float]] = {}
    for d, fold, seed in paired:
        a, b = before[(d, fold, seed)] * 100, after[(d, fold, seed)] * 100
        by_set.setdefault(d, []).append(b - a)
        print(f"| {d} | {'' if fold is None else fold + 1} | {seed} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    print()
    for d, diffs in by_set.items():
        sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        print(
            f"{d}: {len(diffs)} units, mean {statistics.mean(diffs):+.2f} points, sd {sd:.2f}, "
            f"{sum(x > 0 for x in diffs)} higher / {sum(x < 0 for x in diffs)} lower"
        )


def main() -> None:
    print_paired(textcnn_units(TEN), textcnn_units(TWO), ("10% held out", "2% held out"))


if __name__ == "__main__":
    main()
