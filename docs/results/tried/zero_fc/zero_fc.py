"""Kim's zero-initialised classifier: the default run with `fc.weight` and `fc.bias` set to zero once the
model is built. The random stream is the default run's (the layer is drawn, then zeroed), so each run
pairs with the default run of the same seed.

    TEXTCNN_DATA_DIR=../shared/data python zero_fc.py DATASET SEED OUT

Prints one JSON line (`results.jsonl` holds them): the last validation pass and the test accuracy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

import textcnn.models as models
import textcnn.training.trainer as T
from textcnn.config import load_config


def main(dataset: str, seed: int, out: str) -> dict:
    build = models.build_model

    def zero_fc(*args, **kwargs):
        model = build(*args, **kwargs)
        with torch.no_grad():
            model.fc.weight.zero_()
            model.fc.bias.zero_()
        return model

    models.build_model = zero_fc  # the trainer imports it from textcnn.models when it builds the model
    T.train(load_config(sets=[f"data.dataset={dataset}", f"train.seed={seed}", "train.threads=1"]), out, overwrite=True)
    summary = json.loads((Path(out) / "summary.json").read_text())
    last = json.loads((Path(out) / "metrics.jsonl").read_text().splitlines()[-1])
    return {"dataset": dataset, "seed": seed, "val": last["val_accuracy"], "test": summary["test_accuracy"]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
