"""Kim's (2014) CNN-rand as a plain PyTorch loop, on the rows a `textcnn benchmark` unit trains and scores.

Issue 11 asks that textcnn's defaults are "never below the plain Kim loop on the same split": a short
loop written as Kim's released code (github.com/yoonkim/CNN_sentence, conv_net_sentence.py) trains,
with nothing of textcnn in it but the rows. Per unit (dataset, fold, seed):

- the unit's training pool and scored rows exactly as the benchmark's (`plan_dataset`: the same
  cleaned texts, the same stratified folds; the pool is the benchmark unit's train + held-out rows);
- Kim's `clean_str` (lowercased except TREC; `clean_str_sst` for SST), a vocabulary over every text,
  train and scored alike, each word a U[-0.25, 0.25] vector, row 0 the zero pad;
- every sentence as max(w) - 1 = 4 pad rows, its words, then pad rows up to the longest sentence + 8:
  windows over padding compete in the max pooling as in Kim's code (no mask);
- widths 3 / 4 / 5 x 100 feature maps, ReLU, max over time, dropout 0.5 on the pooled features as
  Kim's (mask unscaled while training, the classifier's input scaled by 0.5 when scoring), a softmax
  layer started at zero, Glorot-uniform filters and zero biases;
- dense Adadelta (rho 0.95, eps 1e-6, lr 1) on every parameter, the embedding included (the pad row
  set back to zero after each step), max norm 3 on each class's softmax weights, batches of 50
  (the last one filled with random training rows; the batches fixed, their order shuffled each epoch);
- 10% of the pool (shuffled, seeded) as the dev set, 25 epochs, one dev evaluation per epoch, and the
  scored rows' accuracy taken at the epoch of the best dev accuracy (ties: the later epoch, `>=`).

    python docs/results/kim_loop/kim_loop.py mr --folds 1-3 --seeds 0-2 --data-dir ../shared/data \\
        --out docs/results/kim_loop/records.jsonl

One thread per process (`--threads`). A unit already in --out is skipped, so an interrupted run continues.
"""

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcnn.measure.benchmark import dataset_config, plan_dataset


def clean_str(text: str, trec: bool = False) -> str:
    """Kim's process_data.clean_str."""
    text = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", text)
    for pattern, repl in [(r"\'s", " 's"), (r"\'ve", " 've"), (r"n\'t", " n't"), (r"\'re", " 're"),
                          (r"\'d", " 'd"), (r"\'ll", " 'll"), (r",", " , "), (r"!", " ! "), (r"\(", " ( "),
                          (r"\)", " ) "), (r"\?", " ? "), (r"\s{2,}", " ")]:  # fmt: skip
        text = re.sub(pattern, repl, text)
    return text.strip() if trec else text.strip().lower()


def clean_str_sst(text: str) -> str:
    """Kim's process_data_sst.clean_str_sst."""
    text = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", text)
    return re.sub(r"\s{2,}", " ", text).strip().lower()


def clean(dataset: str, text: str, lowercase: bool) -> list[str]:
    """Kim's cleaning: SST's own, else clean_str, which keeps the case for TREC only (as the `trec` preset)."""
    if dataset.startswith("sst"):
        return clean_str_sst(text).split()
    return clean_str(text, trec=not lowercase).split()


class KimCNN(nn.Module):
    def __init__(self, vocab: int, classes: int, height: int, dim: int = 300, widths=(3, 4, 5), maps: int = 100):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        nn.init.uniform_(self.embedding.weight, -0.25, 0.25)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(dim, maps, w) for w in widths)
        for conv, w in zip(self.convs, widths, strict=True):
            fan_in, fan_out = dim * w, maps * dim * w / (height - w + 1)  # Kim's LeNetConvPoolLayer
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            nn.init.uniform_(conv.weight, -bound, bound)
            nn.init.zeros_(conv.bias)
        self.fc = nn.Linear(maps * len(widths), classes)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # (B, E, T)
        h = torch.cat([F.relu(conv(x)).amax(dim=2) for conv in self.convs], dim=1)
        # Kim's dropout: an unscaled mask while training, the softmax layer's input scaled by the keep rate when scoring
        keep = torch.bernoulli(torch.full_like(h, 0.5)) if self.training else 0.5
        return self.fc(h * keep)


def accuracy(model: KimCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])
    model.train()
    return float((pred == y).float().mean())


def run_unit(
    dataset: str, plan, lowercase: bool, fold: int | None, seed: int, epochs: int = 25, batch: int = 50
) -> dict:
    if fold is None:
        pool_texts, pool_labels = plan.texts, plan.labels
        test_texts, test_labels = plan.test_texts, plan.test_labels
    else:
        inside = plan.folds != fold
        pool_texts = [t for t, keep in zip(plan.texts, inside, strict=True) if keep]
        test_texts = [t for t, keep in zip(plan.texts, inside, strict=True) if not keep]
        pool_labels, test_labels = plan.labels[inside], plan.labels[~inside]
    pool_words = [clean(dataset, t, lowercase) for t in pool_texts]
    test_words = [clean(dataset, t, lowercase) for t in test_texts]
    vocab: dict[str, int] = {}
    for words in pool_words + test_words:  # Kim: a vocabulary over every text
        for w in words:
            vocab.setdefault(w, len(vocab) + 1)
    pad = 4  # max(widths) - 1
    height = max(len(w) for w in pool_words + test_words) + 2 * pad

    def encode(sentences: list[list[str]]) -> torch.Tensor:
        out = torch.zeros(len(sentences), height, dtype=torch.long)
        for i, words in enumerate(sentences):
            out[i, pad : pad + len(words)] = torch.tensor([vocab[w] for w in words], dtype=torch.long)
        return out

    rng = np.random.RandomState(seed)
    torch.manual_seed(seed)
    x, y = encode(pool_words), torch.as_tensor(pool_labels, dtype=torch.long)
    x_test, y_test = encode(test_words), torch.as_tensor(test_labels, dtype=torch.long)
    order = rng.permutation(len(x))
    if len(order) % batch:  # Kim: the last batch filled with random training rows
        order = np.concatenate([order, rng.permutation(len(x))[: batch - len(order) % batch]])
    n_batches = len(order) // batch
    n_train = int(np.round(n_batches * 0.9))
    train_idx = torch.as_tensor(order[: n_train * batch]).view(n_train, batch)
    dev_idx = torch.as_tensor(order[n_train * batch :])
    model = KimCNN(len(vocab) + 1, len(plan.label_names), height)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    best_dev, test_at_best, best_epoch, curve = -1.0, 0.0, 0, []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for b in rng.permutation(n_train):
            idx = train_idx[b]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.embedding.weight[0].zero_()
                norms = model.fc.weight.norm(dim=1, keepdim=True)
                model.fc.weight.mul_(norms.clamp(max=3.0) / (norms + 1e-7))
        dev = accuracy(model, x[dev_idx], y[dev_idx])
        if dev >= best_dev:
            best_dev, best_epoch = dev, epoch
            test_at_best = accuracy(model, x_test, y_test)
        curve.append(round(dev, 4))
    return {
        "dataset": dataset, "fold": None if fold is None else fold + 1, "seed": seed, "accuracy": test_at_best,
        "best_dev": best_dev, "best_epoch": best_epoch, "dev_curve": curve, "n_train": n_train * batch,
        "n_dev": len(dev_idx), "n_test": len(x_test), "vocab": len(vocab), "height": height,
        "seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
    }  # fmt: skip


def span(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--folds", type=span, help="1-based, e.g. 1-3 (cross-validated sets only)")
    parser.add_argument("--seeds", type=span, default=[0, 1, 2])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path, required=True, help="a .jsonl file of records, appended to")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="section.key=value, as the benchmark's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plan = plan_dataset(args.dataset, args.data_dir, sets=args.sets)
    lowercase = dataset_config(args.dataset, args.data_dir, args.sets).tokenizer.lowercase
    if (plan.k is None) != (args.folds is None):
        raise SystemExit(f"{args.dataset} ({plan.protocol}): --folds is for cross-validated sets only")
    done = set()
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["fold"], r["seed"]))
    for fold in args.folds or [None]:
        for seed in args.seeds:
            if (args.dataset, fold, seed) in done:
                continue
            record = run_unit(args.dataset, plan, lowercase, None if fold is None else fold - 1, seed)
            record["protocol"] = plan.protocol
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{args.dataset} fold {fold} seed {seed}: {record['accuracy']:.4f} "
                  f"(dev {record['best_dev']:.4f} at epoch {record['best_epoch']}, {record['seconds']:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
