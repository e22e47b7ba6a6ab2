"""Diagnostic, not a default: train a benchmark unit again (its run folder's config.toml) and keep running
averages of the weights at every validation pass from epoch START on; at the end the last weights and
each average are scored on the unit's test split (the scored rows). Training itself is the unit's.

    python avg_passes.py RUNS/sst2/cnn/seed0 /tmp/avg-seed0

Prints one JSON line: the scored accuracy of the last weights and of each average, with how many passes
it averaged. (The last weights are scored in fp32 here, so they may differ from the run's record by a
sentence.)
"""

import importlib.util
import json
import sys
from pathlib import Path

import textcnn.training.trainer as T
from textcnn import run as runlib
from textcnn.config import config_from_toml
from textcnn.data.batching import make_split

_spec = importlib.util.spec_from_file_location("averaging", Path(__file__).parents[1] / "averaging" / "averaging.py")
averaging = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(averaging)  # its running sums of the weights

STARTS = {"avg_last1ep": 12, "avg_last2ep": 11, "avg_last3ep": 10, "avg_last4ep": 9, "avg_last6ep": 7}
"""Each average: the epoch (1-based) from which the weights at every validation pass are summed."""

run, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = config_from_toml(run / "config.toml")
cfg.train.threads = 1
sums: dict = dict.fromkeys(STARTS)
counts = dict.fromkeys(STARTS, 0)
scores: dict = {}
on_eval, finish = T.Trainer.on_eval, T.Trainer.finish


def averaging_on_eval(self, end_of_epoch):
    stop = on_eval(self, end_of_epoch)
    averaging.add_to_averages(sums, counts, STARTS, self.model, self.progress.epoch + 1)  # at every pass
    return stop


def scoring_finish(self, started):
    test = make_split(self.prepared.encoded["test"], self.prepared.pad_id)
    last = {k: v.detach().clone() for k, v in runlib.plain_state_dict(self.model).items()}

    def score(tag):
        accuracy = T.evaluate(self.model, test, min_length=self.min_length)["accuracy"]
        scores[tag] = {"test": accuracy, "passes": counts.get(tag)}

    score("last")
    for name, total in sums.items():
        if total is not None:
            self.model.load_state_dict({k: (v / counts[name]).to(last[k].dtype) for k, v in total.items()})
            score(name)
    self.model.load_state_dict(last)  # the run folder keeps the unit's own weights
    return finish(self, started)


T.Trainer.on_eval, T.Trainer.finish = averaging_on_eval, scoring_finish
T.train(cfg, out, overwrite=True)
print(json.dumps({"run": str(run), "seed": cfg.train.seed, **scores}))
