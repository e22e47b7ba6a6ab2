"""Steady-state training step of one model, eager or under torch.compile(dynamic=True): batches of 50
with random lengths 4-30 (SST-2-like after bucketing), each model's input dropout (0.3 for the Kim
CNNs, none for image2d and lstm), bf16 autocast, plain SGD; median of steps 101-150, and the first 100
steps' total (compiling included).

    python docs/results/speed/compile/step_compiled.py cnn eager      # or: compiled, or traced
                                                                       # (traced: cnn without prepare_compile)
"""

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from textcnn.config import ModelConfig
from textcnn.models.registry import build_model

name, mode = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
cfg = ModelConfig(name=name, embedding_dropout=0.3 if name in ("cnn", "cnn2d") else 0.0, edge_padding=False)
model = build_model(cfg, 20000, 2, sparse=True)
if mode == "compiled" and hasattr(model, "prepare_compile"):
    model.prepare_compile()  # what the trainer does with train.compile
run = torch.compile(model, dynamic=True) if mode in ("compiled", "traced") else model
opt = torch.optim.SGD(model.parameters(), lr=0.1)
seconds = []
for _ in range(150):
    T = int(torch.randint(4, 30, ()).item())
    ids, lengths = torch.randint(1, 20000, (50, T)), torch.randint(1, T + 1, (50,))
    labels = torch.randint(0, 2, (50,))
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = run(ids, lengths)
    loss = F.cross_entropy(logits.float(), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    seconds.append(time.perf_counter() - start)
steady = statistics.median(seconds[100:]) * 1000
print(f"{name} {mode}: {steady:.1f} ms a step (median of steps 101-150); first 100 steps {sum(seconds[:100]):.1f} s")
