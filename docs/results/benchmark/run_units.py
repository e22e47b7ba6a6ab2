"""Run some units (folds x seeds) of `textcnn benchmark` into its --out folder, exactly as the benchmark
runs them (its own `_run_unit`: the same fold assignment, held-out rows, config and result files), so
that a long cross-validation can be spread over sessions or machines; `textcnn benchmark` with the
same --out and settings later reuses every finished unit and writes the report.

    python docs/results/benchmark/run_units.py mr --folds 4-10 --seeds 0-2 --data-dir ../shared/data \\
        --out runs/benchmark --threads 1 [--fasttext | --fasttext-only] [--set section.key=value ...]

Folds and seeds are 1-based and 0-based as the report prints them (fold 1 = cv10-fold00). Each
finished unit prints one line: dataset, system, fold, seed, accuracy, seconds.
"""

import argparse
import time
from pathlib import Path

from textcnn.measure.benchmark import FASTTEXT_VARIANTS, _run_unit, dataset_config, plan_dataset


def span(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


parser = argparse.ArgumentParser()
parser.add_argument("dataset")
parser.add_argument("--folds", type=span, required=True, help="1-based, e.g. 4-10")
parser.add_argument("--seeds", type=span, default=[0, 1, 2], help="e.g. 0-2")
parser.add_argument("--data-dir", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--fasttext", action="store_true", help="also fastText unigram and bigram on each unit's rows")
parser.add_argument("--fasttext-only", action="store_true", help="only fastText (the textcnn units kept elsewhere)")
parser.add_argument("--set", dest="sets", action="append", default=[], help="section.key=value, as the benchmark's")
args = parser.parse_args()

sets = [f"train.threads={args.threads}", *args.sets]
plan = plan_dataset(args.dataset, args.data_dir, sets=sets)
if plan.k is None:
    raise SystemExit(f"{args.dataset} is scored on its test split: it has no folds")
systems = [] if args.fasttext_only else [("textcnn", "cnn")]
systems += [("fasttext", v) for v in FASTTEXT_VARIANTS] if args.fasttext or args.fasttext_only else []
for fold in args.folds:
    for seed in args.seeds:
        for system, variant in systems:
            cfg = dataset_config(args.dataset, args.data_dir, sets, model=None if system == "fasttext" else variant)
            t0 = time.perf_counter()
            record, _ = _run_unit(cfg, Path(args.out), plan, args.dataset, fold - 1, seed, system, variant, None)
            print(
                f"{args.dataset} {system}-{variant} fold {fold} seed {seed}: {record.accuracy:.4f} "
                f"({time.perf_counter() - t0:.0f} s{', reused' if record.reused else ''})",
                flush=True,
            )
