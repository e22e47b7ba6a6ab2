"""How long one validation pass takes with evaluation batches of at most N padded tokens (issue 12).

    TEXTCNN_DATA_DIR=../shared/data python docs/results/speed/eval_batches.py [MODEL] [THREADS]

Scores SST-2's 872 validation sentences with an untrained MODEL (default `cnn`; the pass's cost does not
depend on the weights) through the trainer's own `evaluate`, alternating 32,768 and 4,096 tokens per
batch for 11 rounds in each precision, and prints the median and range of rounds 2-11 and the pass's
loss and accuracy (equal for both sizes)."""

import functools
import statistics
import sys
import time

import torch

from textcnn.config import load_config
from textcnn.data.batching import make_split, sorted_batches
from textcnn.models import build_model
from textcnn.training import trainer
from textcnn.training.prepare import prepare

name = sys.argv[1] if len(sys.argv) > 1 else "cnn"
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
cfg = load_config("sst2", model=name)
p = prepare(cfg)
torch.manual_seed(0)
model = build_model(cfg.model, p.tokenizer.get_vocab_size(), 2, sparse=True, pad_id=0)
val = make_split(p.encoded["validation"], 0)
sizes = (32_768, 4_096)
times = {(n, prec): [] for n in sizes for prec in ("bf16", "fp32")}
scores = {}
for r in range(11):
    for n in sizes if r % 2 else sizes[::-1]:
        trainer.sorted_batches = functools.partial(sorted_batches, max_tokens=n)
        for prec in ("bf16", "fp32"):
            t = time.perf_counter()
            out = trainer.evaluate(model, val, min_length=int(getattr(model, "min_length", 1)), prec=prec)
            times[n, prec].append(time.perf_counter() - t)
            scores[n, prec] = (round(out["loss"], 6), out["accuracy"])
for (n, prec), ts in times.items():
    ts = ts[1:]
    print(f"{name} {prec} {n:>6} tokens/batch: median {statistics.median(ts) * 1e3:.0f} ms "
          f"({min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f}), loss {scores[n, prec][0]}, accuracy {scores[n, prec][1]:.4f}")  # fmt: skip
