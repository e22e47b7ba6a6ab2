"""Last-epoch weights against averages of the weights at the end of later epochs (SWA-style), on one
training trajectory: the averages are taken after each epoch and scored at the end, so training itself
is the default run's.

    TEXTCNN_DATA_DIR=../shared/data python averaging.py DATASET SEED OUT [KEY=VALUE ...]

KEY=VALUE settings go to `load_config(sets=...)`. Prints one JSON line (`results.jsonl` holds them):
the validation (and, when the test split has labels, test) accuracy of each set of weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import textcnn.training.trainer as T
from textcnn import run as runlib
from textcnn.config import load_config
from textcnn.data.batching import make_split

STARTS = {"avg_from_6": 6, "avg_from_13": 13, "avg_last5": 21}
"""Each average: the epoch (1-based) from which the end-of-epoch weights are summed."""


def add_to_averages(sums: dict, counts: dict, starts: dict[str, int], model, epoch: int) -> None:
    """Add `model`'s weights to each running sum of `starts` (name -> first epoch, 1-based) that has begun
    by `epoch` (1-based), in float64."""
    state = runlib.plain_state_dict(model)
    for name, start in starts.items():
        if epoch < start:
            continue
        if sums[name] is None:
            sums[name] = {k: v.detach().double().clone() for k, v in state.items()}
        else:
            for k, v in state.items():
                sums[name][k] += v.detach().double()
        counts[name] += 1


def main(dataset: str, seed: int, out: str, sets: list[str]) -> dict:
    cfg = load_config(sets=[f"data.dataset={dataset}", f"train.seed={seed}", "train.threads=1", *sets])
    sums: dict[str, dict | None] = dict.fromkeys(STARTS)
    counts = dict.fromkeys(STARTS, 0)
    scores: dict[str, dict] = {}
    on_eval, finish = T.Trainer.on_eval, T.Trainer.finish

    def averaging_on_eval(self, end_of_epoch):
        stop = on_eval(self, end_of_epoch)
        if end_of_epoch:
            add_to_averages(sums, counts, STARTS, self.model, self.progress.epoch + 1)
        return stop

    def scoring_finish(self, started):
        enc = self.prepared.encoded
        test = make_split(enc["test"], self.prepared.pad_id) if self.prepared.test_labelled and "test" in enc else None
        last = {k: v.detach().clone() for k, v in runlib.plain_state_dict(self.model).items()}

        def score(tag: str) -> None:
            r = {"val": T.evaluate(self.model, self.val_split, min_length=self.min_length)["accuracy"]}
            if test is not None:
                r["test"] = T.evaluate(self.model, test, min_length=self.min_length)["accuracy"]
            scores[tag] = {**r, "epochs_averaged": counts.get(tag)}

        score("last")
        for name, total in sums.items():
            if total is not None:
                self.model.load_state_dict({k: (v / counts[name]).to(last[k].dtype) for k, v in total.items()})
                score(name)
        self.model.load_state_dict(last)  # the run folder keeps the default's weights
        return finish(self, started)

    T.Trainer.on_eval, T.Trainer.finish = averaging_on_eval, scoring_finish
    T.train(cfg, out, overwrite=True)
    summary = json.loads((Path(out) / "summary.json").read_text())
    return {
        "dataset": dataset,
        "seed": seed,
        "select_by": summary["select_by"],
        "epochs": summary["epochs_run"],
        **scores,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])))
