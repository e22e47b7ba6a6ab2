"""Every step of one SST-2 epoch of `cnn`, timed alone (the training step of step_profile.py: forward,
backward, both optimizers, max-norm; no evaluation), at a given batch size: the epoch's step time, the
mean step by the batch's longest row, and a least-squares line step = a + b * T.

    TEXTCNN_DATA_DIR=../shared/data python docs/results/tried/large_batch/epoch_steps.py BATCH [THREADS] [fp32|bf16]
"""

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from textcnn.config import load_config
from textcnn.data.batching import bucketed_batches, make_split
from textcnn.models import build_model
from textcnn.training.optim import apply_max_norm, make_optimizer
from textcnn.training.prepare import prepare

batch_size = int(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
bf16 = (sys.argv[3] if len(sys.argv) > 3 else "bf16") == "bf16"
cfg = load_config("sst2")
cfg.model.embedding_dropout = 0.3  # the size default
p = prepare(cfg)
torch.manual_seed(0)
model = build_model(cfg.model, p.tokenizer.get_vocab_size(), 2, sparse=True, pad_id=0)
opt = make_optimizer(model, "adadelta", lr=1.0)
split = make_split(p.encoded["train"], 0)
batches = bucketed_batches(split.lengths_np, batch_size, seed=0, epoch=0)


def step(idx):
    ids, lengths, labels = split.batch(idx, model.min_length)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids, lengths)
    loss = F.cross_entropy(logits.float(), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    apply_max_norm(model.fc.weight, 3.0)


model.train()
for idx in batches[:30]:  # warm-up, also timed below as part of the epoch estimate's steps
    step(idx)
rec = []
for idx in batches:
    longest = int(split.lengths_np[idx].max())
    t0 = time.perf_counter()
    step(idx)
    rec.append((longest, time.perf_counter() - t0))
rec = np.array(rec)
print(
    f"batch {batch_size}: {len(batches)} steps, {rec[:, 1].sum():.1f} s an epoch, {1e3 * rec[:, 1].mean():.2f} ms a step"
)
for lo, hi in [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 25), (25, 30), (30, 40), (40, 60)]:
    m = (rec[:, 0] >= lo) & (rec[:, 0] < hi)
    if m.any():
        print(
            f"  longest row {lo:2d}-{hi - 1:2d}: {m.sum():5d} steps, {1e3 * rec[m, 1].mean():6.2f} ms a step, "
            f"{rec[m, 1].sum() / rec[:, 1].sum():.0%} of the epoch"
        )
a, b = np.linalg.lstsq(np.vstack([np.ones(len(rec)), rec[:, 0]]).T, rec[:, 1], rcond=None)[0]
print(f"  fit: {1e3 * a:.2f} ms + {1e3 * b:.3f} ms x longest row")
