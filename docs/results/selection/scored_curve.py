"""Diagnostic, never a way to choose a checkpoint: train a benchmark run again with its scored split in
the place of the validation split, so metrics.jsonl holds the scored split's accuracy after every epoch
of the very same training trajectory (the validation pass draws no random numbers; rules.py checks
that the training losses match).

    python scored_curve.py RUNS/sst5/cnn/seed0 diag/sst5-seed0
"""

import sys
from pathlib import Path

from textcnn.config import config_from_toml
from textcnn.training.trainer import train

run, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = config_from_toml(run / "config.toml")
cfg.data.validation_split, cfg.data.test_split = cfg.data.test_split, cfg.data.validation_split
cfg.train.threads = 1
train(cfg, out, overwrite=True)
