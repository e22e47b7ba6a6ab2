"""Dropout 0.3 on the input word vectors below 20,000 training examples (the large-set default, now the
default for every size), paired with the benchmark's units without it (2% held out, the default
before): the same dataset, fold, seed, held-out and scored rows; only `model.embedding_dropout`
differs. TREC is paired twice: on its test split (reported, never used to choose) and by
cross-validation on its train split (fold 1; both arms run here, in results.jsonl). Prints one
markdown row per unit and the mean difference per set.

    python docs/results/benchmark/embedding_dropout/paired.py
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOLDOUT = HERE.parent / "holdout"
NONE = [HOLDOUT / "holdout2-sst5-trec.jsonl", HOLDOUT / "holdout2-mr-subj.jsonl"]


def key(r: dict) -> tuple:
    return r["dataset"], r["fold"], r["seed"]


def main() -> None:
    here = [json.loads(line) for line in (HERE / "results.jsonl").read_text().splitlines()]
    off = {key(r): r["accuracy"] for r in here if r["embedding_dropout"] == 0.0}
    for f in NONE:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r["system"] == "textcnn":
                off.setdefault(key(r), r["accuracy"])
    on = {key(r): r["accuracy"] for r in here if r["embedding_dropout"] == 0.3}
    paired = sorted((k for k in on if k in off), key=lambda k: (k[0], k[1] or 0, k[2]))
    print("| set | fold | seed | no input dropout (before) | input dropout 0.3 (now) | difference |")
    print("|---|---:|---:|---:|---:|---:|")
    by_set: dict[str, list[float]] = {}
    for d, fold, seed in paired:
        a, b = off[(d, fold, seed)] * 100, on[(d, fold, seed)] * 100
        by_set.setdefault(d, []).append(b - a)
        print(f"| {d} | {'' if fold is None else fold + 1} | {seed} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    print()
    for d, diffs in by_set.items():
        print(
            f"{d}: {len(diffs)} units, mean {statistics.mean(diffs):+.2f} points, "
            f"{sum(x > 0 for x in diffs)} higher / {sum(x < 0 for x in diffs)} lower"
        )


if __name__ == "__main__":
    main()
