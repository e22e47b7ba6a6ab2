"""Dropout 0.3 on the input word vectors below 20,000 training examples (the large-set default, now the
default for every size), paired with the benchmark's units without it (2% held out, the default
before): the same dataset, fold, seed, held-out and scored rows; only `model.embedding_dropout`
differs. TREC is paired twice: on its test split (reported, never used to choose) and by
cross-validation on its train split (fold 1; both arms run here, in results.jsonl). Prints one
markdown row per unit and the mean difference per set.

    python docs/results/benchmark/embedding_dropout/paired.py
"""

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOLDOUT = HERE.parent / "holdout"
NONE = [HOLDOUT / "holdout2-sst5-trec.jsonl", HOLDOUT / "holdout2-mr-subj.jsonl"]

_spec = importlib.util.spec_from_file_location("holdout_paired", HOLDOUT / "paired.py")
holdout_paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(holdout_paired)  # its table of paired units


def key(r: dict) -> tuple:
    return r["dataset"], r["fold"], r["seed"]


def main() -> None:
    here = [json.loads(line) for line in (HERE / "results.jsonl").read_text().splitlines()]
    off = {
        **holdout_paired.textcnn_units(NONE),
        **{key(r): r["accuracy"] for r in here if r["embedding_dropout"] == 0.0},
    }
    on = {key(r): r["accuracy"] for r in here if r["embedding_dropout"] == 0.3}
    holdout_paired.print_paired(off, on, ("no input dropout (before)", "input dropout 0.3 (now)"))


if __name__ == "__main__":
    main()
