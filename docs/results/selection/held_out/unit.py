"""One SST-2 benchmark unit exactly as `textcnn benchmark` runs it (its own `_run_unit`: the same held-out
rows for the seed, config and result files), with extra settings:

    TEXTCNN_DATA_DIR=../shared/data python unit.py DATASET SEED OUT [--set section.key=value ...]

Prints one line: dataset, seed, settings, accuracy on the scored split, seconds."""

import os
import sys
import time
from pathlib import Path

from textcnn.measure.benchmark import _run_unit, dataset_config, plan_dataset

name, seed, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
sets = ["train.threads=1", *[a for a in sys.argv[4:] if a != "--set"]]
data_dir = os.environ.get("TEXTCNN_DATA_DIR", "../shared/data")
plan = plan_dataset(name, data_dir, sets=sets)
cfg = dataset_config(name, data_dir, sets, model="cnn")
t0 = time.perf_counter()
record, _ = _run_unit(cfg, out, plan, name, None, seed, "textcnn", "cnn", None)
print(f"{name} seed {seed} {sets}: {record.accuracy:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
