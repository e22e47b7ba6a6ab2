"""Forward + backward of `KimCNN` under bf16 autocast, two versions of `textcnn/models/kim.py` interleaved.

    git worktree add /tmp/base HEAD && (cd /tmp/base && git apply docs/results/tried/bf16_sums/bf16_sums.patch)
    python docs/results/tried/bf16_sums/opbench.py textcnn/models/kim.py /tmp/base/textcnn/models/kim.py

Batches of 50 random ids of length 12 (SST-2's shape), a 15,000-word vocabulary, sparse embedding
gradients, 2 threads; 8 rounds of 200 steps per version, alternating which goes first; prints each
version's median ms per forward + backward."""

import importlib.util
import statistics
import sys
import time

import torch

torch.set_num_threads(2)


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


paths = {"A": sys.argv[1], "B": sys.argv[2]}
models = {}
for label, path in paths.items():
    torch.manual_seed(0)
    models[label] = load(path, f"kim_{label}").KimCNN(
        vocab_size=15000, num_classes=2, sparse=True, embedding_dropout=0.3
    )
ids = torch.randint(1, 15000, (50, 12))
lengths = torch.randint(4, 13, (50,))


def run(model, n: int = 200) -> float:
    model.train()
    t = time.perf_counter()
    for _ in range(n):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(ids, lengths)
        out.float().sum().backward()
        model.zero_grad(set_to_none=True)
    return (time.perf_counter() - t) / n * 1e3


for m in models.values():
    run(m, 30)
times = {label: [] for label in models}
for r in range(8):
    for label in ("A", "B") if r % 2 else ("B", "A"):
        times[label].append(run(models[label]))
for label, v in times.items():
    print(f"{label} {paths[label]}: median {statistics.median(v):.3f} ms", " ".join(f"{x:.2f}" for x in v))
