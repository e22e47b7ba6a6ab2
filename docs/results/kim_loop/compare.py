"""The plain Kim loop's records beside textcnn's defaults on the same units (dataset, fold, seed).

    python docs/results/kim_loop/compare.py

textcnn's records are those of today's defaults kept elsewhere in docs/results (each run as
`textcnn benchmark` runs the unit; the files named below); the loop's are records.jsonl here.
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE.parent
TREC_CV = "trec (CV of its train split)"


def textcnn_records() -> dict[tuple[str, int | None, int], float]:
    """(set, fold (1-based) or None, seed) -> accuracy, for the current defaults."""
    out = {}
    for line in (RESULTS / "speed/step_passes/records.jsonl").read_text().splitlines():
        r = json.loads(line)  # "after": today's step; TREC test, SST-5 validation, MR fold 1
        if r["side"] == "after":
            out[(r["dataset"], None if r["fold"] is None else r["fold"] + 1, r["seed"])] = r["accuracy"]
    for line in (RESULTS / "tried/lr_schedule/records.jsonl").read_text().splitlines():
        r = json.loads(line)  # its constant arm, run beside it: MR folds 2-3, Subj fold 1
        if r["variant"].startswith("adadelta lr 1, constant") and r["dataset"] in ("mr", "subj"):
            out.setdefault((r["dataset"], r["fold"] + 1, r["seed"]), r["accuracy"])
    for line in (RESULTS / "tried/trec_case/records.jsonl").read_text().splitlines():
        r = json.loads(line)  # its cased arm (the trec preset's tokenizer): TREC's CV folds 1-6
        if r["variant"].startswith("cased"):
            out[(TREC_CV, r["fold"] + 1, r["seed"])] = r["accuracy"]
    return out


def loop_records() -> dict[tuple[str, int | None, int], float]:
    out = {}
    for line in (HERE / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        name = TREC_CV if r["dataset"].endswith(".parquet") else r["dataset"]
        out[(name, r["fold"], r["seed"])] = r["accuracy"]
    return out


def main() -> None:
    ours, loop = textcnn_records(), loop_records()
    print("| set | units | textcnn defaults | plain Kim loop | textcnn − loop (pairs higher / lower) |")
    print("|---|---|---|---|---:|")
    pairs_all = []
    for name in ("trec", TREC_CV, "sst5", "mr", "subj"):
        units = sorted((k for k in loop if k[0] == name and k in ours), key=lambda k: (k[1] or 0, k[2]))
        if not units:
            continue
        a, b = [ours[k] * 100 for k in units], [loop[k] * 100 for k in units]
        diffs = [x - y for x, y in zip(a, b, strict=True)]
        pairs_all += diffs
        folds = sorted({k[1] for k in units if k[1] is not None})
        seeds = sorted({k[2] for k in units})
        where = f"folds {folds[0]}-{folds[-1]} x " if folds else ""
        label = f"{where}seeds {seeds[0]}-{seeds[-1]}"
        if folds:
            cell = lambda xs: f"{statistics.mean(xs):.1f} mean"  # noqa: E731
        else:
            cell = lambda xs: " / ".join(f"{x:.1f}" for x in xs) + f" (median {statistics.median(xs):.1f})"  # noqa: E731
        higher, lower = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        print(f"| {name} | {label} | {cell(a)} | {cell(b)} | {statistics.mean(diffs):+.2f} ({higher} / {lower}) |")
    if pairs_all:
        print(f"\nover all {len(pairs_all)} pairs: {statistics.mean(pairs_all):+.2f} points")


if __name__ == "__main__":
    main()
