"""Where a `cnn` SST-2 training step spends its time (torch.profiler), for issue 12.

    TEXTCNN_DATA_DIR=../shared/data python docs/results/speed/step_profile.py [THREADS] [fp32|bf16]

Runs 30 warm-up steps, times 200 steps unprofiled, then profiles 100 steps with one labelled range
per part of the step (batch, forward, zero_grad, backward, optimizer, max_norm)."""

import sys
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile, record_function

from textcnn.config import load_config
from textcnn.data.batching import bucketed_batches, make_split
from textcnn.models import build_model
from textcnn.training.optim import apply_max_norm, make_optimizer
from textcnn.training.prepare import prepare

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
bf16 = len(sys.argv) > 2 and sys.argv[2] == "bf16"
cfg = load_config("sst2")
cfg.model.embedding_dropout = 0.3 if cfg.model.embedding_dropout is None else cfg.model.embedding_dropout
p = prepare(cfg)
torch.manual_seed(0)
model = build_model(cfg.model, p.tokenizer.get_vocab_size(), 2, sparse=True, pad_id=0)
opt = make_optimizer(model, "adadelta", lr=1.0)
split = make_split(p.encoded["train"], 0)
batches = bucketed_batches(split.lengths_np, 50, seed=0, epoch=0)


def step(idx):
    with record_function("batch"):
        ids, lengths, labels = split.batch(idx, model.min_length)
    with record_function("forward"):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids, lengths)
        loss = F.cross_entropy(logits.float(), labels)
    with record_function("zero_grad"):
        opt.zero_grad()
    with record_function("backward"):
        loss.backward()
    with record_function("optimizer"):
        opt.step()
    with record_function("max_norm"):
        apply_max_norm(model.fc.weight, 3.0)


model.train()
for idx in batches[:30]:
    step(idx)
n = 200
t = time.perf_counter()
for idx in batches[30 : 30 + n]:
    step(idx)
el = time.perf_counter() - t
print(f"{el / n * 1e3:.2f} ms/step unprofiled ({n} steps); epoch estimate {el / n * len(batches):.1f} s")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for idx in batches[230:330]:
        step(idx)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
