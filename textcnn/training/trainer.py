"""Training: `train(config) -> run folder`, a `Trainer` in three steps: setup, fit, finish.

setup: data (prepare.py) → model and optimizer → the run folder (new, or a checkpoint restored).
fit: `train_one_epoch` / `evaluate` with early stopping on validation accuracy, checkpoints on a step
or time interval. finish: best weights restored, test split scored when it has labels, summary.json.

Resumable: Ctrl-C / SIGTERM finish the current step and write a checkpoint; `train(resume=RUN)`
continues exactly (same batches, RNG streams, optimizer state, running sums and early-stopping
state), from that checkpoint or from any periodic one after a crash (`kill -9`), so the final weights
are bit-identical to an uninterrupted run on CPU. One writer per run folder (textcnn.run.RunLock).
Data-parallel under `torchrun` (distributed.py).

What survives a restart is small objects with a `state_dict()`: `Progress` (where the loop is),
`RunningSums` (sums since the last evaluation) and `EarlyStopping` (early_stopping.py).

Not here: model definitions (textcnn.models), the run folder format (textcnn.run), checkpoint
contents (checkpoint.py), rendering (textcnn.cli).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import Config, ConfigError, resolve_for_data
from textcnn.data.batching import Split, bucketed_batches, make_split, sorted_batches, subsample_rows
from textcnn.data.report import abbreviated
from textcnn.data.tokenizer import unk_id
from textcnn.errors import TrainingError, TrainingInterrupted
from textcnn.events import Callback
from textcnn.models.registry import unwrap
from textcnn.runtime import peak_rss_mb, reset_peak_rss, select_device, set_threads
from textcnn.training import distributed
from textcnn.training.checkpoint import CKPT, load_checkpoint, save_checkpoint
from textcnn.training.distributed import World
from textcnn.training.early_stopping import EarlyStopping
from textcnn.training.optim import apply_max_norm, make_optimizer, scheduled_lr
from textcnn.training.prepare import Prepared, load_vectors_for, prepare, tokenize_report

__all__ = [
    "CKPT", "RESUMABLE", "Prepared", "Trainer", "TrainingError", "TrainingInterrupted", "evaluate", "prepare",
    "request_stop", "resume_config", "tokenize_report", "train", "train_one_epoch",
]  # fmt: skip

RESUMABLE = ("threads", "device", "epochs", "checkpoint_every_steps", "checkpoint_every_minutes", "log_every",
             "max_seconds", "max_steps")  # fmt: skip
"""train.* fields `--resume` may change; every other field is the run's and stays as it was."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def precision(t, device: torch.device) -> str:
    """'bf16' or 'fp32': the one place the trainer reads the config's precision setting."""
    if hasattr(t, "precision"):
        from textcnn.runtime import resolve_precision

        return resolve_precision(t.precision, device)
    return "bf16" if getattr(t, "bf16", False) else "fp32"  # pragma: no cover - configs before `precision`


def autocast(device: torch.device, prec: str):
    """The forward pass's autocast context for a precision from `precision()`."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=prec == "bf16")


# ---------------------------------------------------------------------------------------------
# Steps


def evaluate(
    model: nn.Module,
    split: Split,
    *,
    batch_size: int = 1024,
    min_length: int = 1,
    world: World = World(),
    prec: str = "fp32",
) -> dict:
    """Loss and accuracy over the split (sums divided by N), and predictions in input order.

    With several ranks each scores every world-size-th length-sorted batch and the sums are reduced."""
    model.eval()
    device = split.labels.device
    scorer = scoring_form(model, int(split.lengths_np.sum()))
    preds = torch.full((len(split),), -1, dtype=torch.long, device=device)
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss, correct, n
    with torch.inference_mode(), autocast(device, prec if scorer is model else "fp32"):
        for i, idx in enumerate(sorted_batches(split.lengths_np, batch_size)):
            if i % world.size != world.rank:
                continue
            ids, lengths, labels = split.batch(idx, min_length)
            logits = scorer(ids, lengths).float()
            p = logits.argmax(-1)
            preds[torch.as_tensor(idx, device=device)] = p
            mask = labels >= 0
            if bool(mask.any()):
                sums[0] += F.cross_entropy(logits[mask], labels[mask], reduction="sum").double()
                sums[1] += (p[mask] == labels[mask]).sum()
                sums[2] += mask.sum()
    if world.size > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
        dist.all_reduce(preds, op=dist.ReduceOp.MAX)
    loss_sum, correct, count = sums.tolist()
    return {
        "loss": loss_sum / count if count else float("nan"),
        "accuracy": correct / count if count else float("nan"),
        "n": int(count),
        "predictions": preds.cpu().numpy(),
    }


def _macro_f1(labels: torch.Tensor, predictions: np.ndarray, n_classes: int) -> float:
    """The macro-F1 of a pass's predictions over the labelled rows (`inference.metrics`: the mean F1 over
    every class, 0 for a class neither predicted nor present)."""
    from textcnn.inference.metrics import classification_report

    y = labels.cpu().numpy()
    keep = y >= 0
    if not keep.any():
        return float("nan")
    return classification_report(y[keep], predictions[keep], [str(i) for i in range(n_classes)]).macro_f1


FOLD_TOKENS_PER_ROW = 2
"""A pass folds a `cnn` when it reads at least this many tokens per vocabulary row (the fold itself costs
about one matrix product per row)."""


def scoring_form(model: nn.Module, n_tokens: int):
    """What a pass of `n_tokens` tokens scores with: for a `cnn` reading at least FOLD_TOKENS_PER_ROW
    tokens per vocabulary row, its folded form (`KimCNN.folded()`: the embedding multiplied into the
    filters once, then a row lookup per token instead of a matrix product; the same logits up to float
    rounding; 0.36 s against 1.3-1.9 s per 1,024 texts of 110 tokens with a 30,000-word vocabulary,
    after a 0.35-0.5 s fold), so that the validation passes of a large set do not stall training; else
    the model itself. The folded form scores in fp32 whatever the training precision (`evaluate`), as
    `textcnn predict` does: a bf16 pass over 10,000 reviews of 110 tokens added ~190 MB of oneDNN
    primitives and scratch for its many batch shapes to the peak of a 500,000-review run (1.38 GB
    against 1.19 GB; docs/results/speed/README.md)."""
    from textcnn.inference.numpy_cnn import TABLE_BYTES_LIMIT
    from textcnn.models.registry import spec_of

    inner = unwrap(model)
    if not spec_of(inner).foldable or inner.folded_table_bytes() > TABLE_BYTES_LIMIT:
        return model
    if n_tokens < FOLD_TOKENS_PER_ROW * inner.embedding.num_embeddings:
        return model
    return inner.folded()


def validation_split(prepared: Prepared, t) -> Split:
    """The rows every validation pass scores: the validation split, or a fixed seeded subsample of
    `train.eval_max_examples` of them."""
    val = make_split(prepared.encoded["validation"], prepared.pad_id)
    rows = subsample_rows(len(val), t.eval_max_examples, t.seed)  # None: every example
    return val if rows is None else val.subset(rows)


def zero_unknown_word(model: nn.Module, unk: int | None) -> None:
    """The `[UNK]` row of every trainable embedding table set to zeros (`model.unk_vector = "zero"`)."""
    if unk is None:
        return
    with torch.no_grad():
        for mod in unwrap(model).modules():
            if isinstance(mod, nn.Embedding) and mod.weight.requires_grad and unk < mod.num_embeddings:
                mod.weight[unk].zero_()


def step_length(longest: int, granular: bool) -> int:
    """The time axis of a training batch whose longest row has `longest` tokens: that, or with
    `granular` (bf16 on a CPU) above 64 tokens the next multiple of 8. oneDNN keeps a compiled bf16
    matrix product, with its memory, for every shape it meets; on long texts (a 500,000-review csv of
    ~110 tokens) every batch length was a new shape and a run's peak grew from 1.12 to 1.30-1.34 GB in
    40 s. In multiples of 8 it stays at 1.12 GB, at the same throughput (docs/results/speed/README.md).
    The padding is masked (the same logits), but it draws dropout for more positions, so only batches
    longer than sentences (SST-2's, and Kim's sets' nearly all, are not) take it."""
    return -(-longest // 8) * 8 if granular and longest > 64 else longest


def class_weights(kind: str, labels: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """`train.class_weight`'s loss weight per class: None for `none`; for `balanced`, n / (k * n_c) over the
    labelled training rows (k: the classes that have rows; a class without rows gets 0, it never occurs)."""
    if kind == "none":
        return None
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _class_weight_note(kind: str, weights: torch.Tensor | None, names: list[str]) -> tuple[str, ...]:
    """A data-report line with the class weights `train.class_weight` chose, else none."""
    if weights is None:
        return ()
    shown = abbreviated([f"{name} {w:.3g}" for name, w in zip(names, weights.tolist(), strict=True)], 8)
    return (f"class weights ({kind}, train.class_weight): " + ", ".join(shown),)


def train_step(model: nn.Module, optimizer, batch: tuple, *, prec: str, max_norm: float | None, fc_weight,
               label_smoothing: float = 0.0, class_weight: torch.Tensor | None = None):  # fmt: skip
    """One optimizer step on (ids, lengths, labels); returns (loss, logits) without reading them back.
    With `class_weight` the loss is cross-entropy's weighted mean (each row weighted by its class's weight)."""
    ids, lengths, labels = batch
    with autocast(ids.device, prec):
        logits = model(ids, lengths)
    loss = F.cross_entropy(logits.float(), labels, weight=class_weight, label_smoothing=label_smoothing)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if max_norm is not None:
        apply_max_norm(fc_weight, max_norm)
    return loss, logits


_STOP = {"flag": False}


def request_stop() -> None:
    """Ask a running `train` to stop after the current step and write a resumable checkpoint."""
    _STOP["flag"] = True


class _Interrupt(Exception):
    pass


@dataclass
class Progress:
    """Where the loop is: all of it survives a restart (checkpoint part "progress")."""

    epoch: int = 0  # 0-based epoch in progress
    step_in_epoch: int = 0  # batches of this epoch already done
    global_step: int = 0
    evals: int = 0
    train_seconds: float = 0.0
    epoch_train_seconds: float = 0.0
    stopped_early: bool = False
    done: bool = False
    cut_by: str | None = None  # "max_seconds" or "max_steps" when a budget ended the run

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


class RunningSums:
    """Training loss / accuracy sums since the last evaluation, kept on the device (float64) so no step
    waits for it; examples, tokens and seconds on the host. Checkpointed exactly, so a resumed run
    adds the same numbers in the same order as an uninterrupted one."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.float64)
        self.reset()

    def reset(self) -> None:
        self.loss.zero_()
        self.correct.zero_()
        self.seen = 0
        self.tokens = 0
        self.seconds = 0.0

    @torch.no_grad()
    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, tokens: int) -> None:
        n = len(labels)
        self.loss += loss.detach().double() * n
        self.correct += (logits.argmax(-1) == labels).sum()
        self.seen += n
        self.tokens += tokens

    def check_finite(self, step: int) -> None:
        loss = float(self.loss)  # a device sync: only at evaluations and checkpoints
        if not math.isfinite(loss):
            raise TrainingError(
                f"the training loss became {loss} at step {step}; "
                "lower train.lr (the last good checkpoint and best weights are kept)"
            )

    def state_dict(self) -> dict:
        return {"loss": float(self.loss), "correct": float(self.correct), "seen": self.seen,
                "tokens": self.tokens, "seconds": self.seconds}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.loss.fill_(state["loss"])
        self.correct.fill_(state["correct"])
        self.seen, self.tokens, self.seconds = int(state["seen"]), int(state["tokens"]), float(state["seconds"])


def eval_steps(n_steps: int, evals_per_epoch: int) -> set[int]:
    """The steps (1-based, within an epoch) after which validation runs."""
    return {max(1, round(n_steps * (k + 1) / evals_per_epoch)) for k in range(evals_per_epoch)}


# ---------------------------------------------------------------------------------------------
# The trainer


class Trainer:
    """One run: `setup` builds everything, `fit` runs the epochs, `finish` writes the summary."""

    def __init__(self, cfg: Config, run_dir: Path, prepared: Prepared, world: World, device: torch.device,
                 threads: int, emit: Callback, *, restoring: bool = False,
                 class_weight: torch.Tensor | None = None):  # fmt: skip
        from textcnn.models import build_model, count_parameters

        self.cfg, self.run_dir, self.prepared, self.world, self.device = cfg, run_dir, prepared, world, device
        self.threads, self.emit = threads, emit
        t = cfg.train
        self.prec = precision(t, device)
        self.restoring = restoring
        vectors = None
        if cfg.model.embeddings and not restoring:  # a checkpoint brings its own weights
            vectors = load_vectors_for(cfg, prepared, emit)
        seed_everything(t.seed)
        sparse = t.sparse_embedding and not (world.size > 1 and device.type == "cuda")
        self.model = build_model(cfg.model, prepared.tokenizer.get_vocab_size(), len(prepared.label_names),
                                 vectors=vectors, sparse=sparse, pad_id=prepared.pad_id).to(device)  # fmt: skip
        if cfg.model.unk_vector == "zero" and not restoring:
            zero_unknown_word(self.model, unk_id(prepared.tokenizer))
        self.min_length = int(getattr(self.model, "min_length", 1))
        self.params = count_parameters(self.model)
        self.optimizer = make_optimizer(self.model, t.optimizer, lr=t.lr, weight_decay=t.weight_decay, rho=t.rho,
                                        eps=t.eps)  # fmt: skip
        self.train_split = make_split(prepared.encoded["train"], prepared.pad_id).to(device)
        self.val_split = validation_split(prepared, t).to(device)
        if len(self.train_split) == 0 or len(self.val_split) == 0:
            raise TrainingError("the train or validation split is empty after cleaning")
        self.progress = Progress()
        self.sums = RunningSums(device)
        self.stopper = EarlyStopping(t.patience, t.select_by)
        self.records: list[dict] = []
        self.class_weight = class_weight.to(device) if class_weight is not None else None  # `class_weights`'
        self.train_model: nn.Module = self.model
        self._last_checkpoint = time.monotonic()

    @classmethod
    def setup(cls, cfg: Config, run_dir: Path, *, resuming: bool, world: World, emit: Callback,
              prepared: Prepared | None = None) -> Trainer:  # fmt: skip
        """Data, model, optimizer; then a fresh run folder, or the state of its checkpoint."""
        device = world.device or select_device(cfg.train.device)
        threads = set_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        if prepared is None:
            tok, labels = runlib.load_tokenizer_and_labels(run_dir) if resuming else (None, None)
            prepared = prepare(cfg, tokenizer=tok, label_names=labels)
        if cfg.tokenizer.max_length is None:  # data prepared for another config (compare, autotune)
            cfg.tokenizer.max_length = prepared.cfg.tokenizer.max_length
        chosen = resolve_for_data(cfg, prepared.n_train_rows, held_out=prepared.held_out > 0)  # unset only
        lines = (*prepared.report_lines, chosen) if chosen else tuple(prepared.report_lines)
        lines += _validation_cap_note(cfg, len(prepared.encoded["validation"]))
        weights = class_weights(cfg.train.class_weight, prepared.encoded["train"].labels, len(prepared.label_names))
        lines += _class_weight_note(cfg.train.class_weight, weights, prepared.label_names)
        emit(ev.DataLoaded(prepared.source, prepared.seconds, lines))
        if len(prepared.label_names) < 2:
            raise TrainingError("the training data has fewer than two classes; nothing to learn")
        if prepared.local_path and not resuming:
            cfg.data.path = prepared.local_path  # the run says where its data came from, env or not
        restoring = resuming and (run_dir / CKPT).is_file()  # else: crashed before its first checkpoint
        trainer = cls(cfg, run_dir, prepared, world, device, threads, emit, restoring=restoring, class_weight=weights)
        trainer._restore_or_start(resuming)
        trainer._wrap()
        emit(ev.TrainingStarted(
            run_dir=str(run_dir), epochs=cfg.train.epochs, steps_per_epoch=len(trainer.batches(0)),
            params=trainer.params, device=str(device), threads=threads, world_size=world.size,
            resumed_from_step=trainer.progress.global_step if resuming else None, precision=trainer.prec,
        ))  # fmt: skip
        return trainer

    def _restore_or_start(self, resuming: bool) -> None:
        n_records = 0
        if self.restoring:
            parts, n_records = load_checkpoint(self.run_dir / CKPT, self.model, self.optimizer)
            self.progress.load_state_dict(parts["progress"])
            self.sums.load_state_dict(parts["sums"])
            self.stopper.load_state_dict(parts["early_stopping"])
        if not self.world.main:
            return
        if resuming:
            runlib.save_config(self.run_dir, self.cfg)  # the options --resume changed
            runlib.truncate_jsonl(self.run_dir / "metrics.jsonl", n_records)
            self.records = runlib.read_jsonl(self.run_dir / "metrics.jsonl")
        else:
            runlib.save_run_files(self.run_dir, self.cfg, self.prepared.tokenizer, self.prepared.label_names)
            runlib.atomic_write_text(self.run_dir / "metrics.jsonl", "")

    def _wrap(self) -> None:
        if self.cfg.train.compile:
            if hasattr(self.model, "prepare_compile"):  # parts a model keeps eager (KimCNN's fused op)
                self.model.prepare_compile()
            self.train_model = torch.compile(self.model, dynamic=True)
        if self.world.size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DDP(self.train_model, device_ids=ids)

    def batches(self, epoch: int) -> list[np.ndarray]:
        t = self.cfg.train
        return bucketed_batches(self.train_split.lengths_np, t.batch_size, seed=t.seed, epoch=epoch,
                                chunk=t.bucket_chunk, rank=self.world.rank, world_size=self.world.size)  # fmt: skip

    # -- fit --------------------------------------------------------------------------------------

    def fit(self) -> None:
        """Epochs until the budget, early stopping or a stop request (which writes a checkpoint)."""
        t = self.cfg.train
        deadline = (time.perf_counter() + t.max_seconds - self.progress.train_seconds) if t.max_seconds else None
        try:
            with _stop_signals():
                while self.progress.epoch < t.epochs and not self.progress.done:
                    train_one_epoch(self, deadline)
        except _Interrupt:
            self.save_checkpoint()
            distributed.barrier(self.world)
            raise TrainingInterrupted(self.run_dir, self.progress.global_step) from None

    def on_eval(self, end_of_epoch: bool) -> bool:
        """One validation pass: a metrics record, early stopping, best weights; True to stop."""
        p, world = self.progress, self.world
        self.sums.check_finite(p.global_step)
        t0 = time.perf_counter()
        scored = evaluate(self.model, self.val_split, min_length=self.min_length, world=world, prec=self.prec)
        f1 = _macro_f1(self.val_split.labels, scored["predictions"], len(self.prepared.label_names))
        s = self.sums
        loss_sum, correct, seen, tokens = distributed.sum_over_ranks(
            world, [float(s.loss), float(s.correct), float(s.seen), float(s.tokens)], self.device
        )
        secs = max(s.seconds, 1e-9)
        p.train_seconds += s.seconds + (time.perf_counter() - t0)
        p.evals += 1
        record = {
            "epoch": p.epoch + 1,
            "step": p.global_step,
            "end_of_epoch": end_of_epoch,
            "train_seconds": round(p.train_seconds, 4),
            "train_loss": loss_sum / seen if seen else None,
            "train_accuracy": correct / seen if seen else None,
            "val_loss": scored["loss"],
            "val_accuracy": scored["accuracy"],
            "val_macro_f1": f1,
            "examples_per_s": seen / secs,
            "tokens_per_s": tokens / secs,
            "epoch_seconds": round(p.epoch_train_seconds, 4) if end_of_epoch else None,
        }
        s.reset()
        improved = self.stopper.update(
            scored["accuracy"], scored["loss"], p.epoch + 1, runlib.plain_state_dict(self.model), macro_f1=f1
        )
        if world.main:
            self.records.append(record)
            runlib.append_jsonl(self.run_dir / "metrics.jsonl", record)
            if improved:
                runlib.save_tensors(self.run_dir / "model.safetensors", self.stopper.best_weights,
                                    metadata={"format": "pt"})  # fmt: skip
        self.emit(ev.Evaluated.from_record(record, self.stopper.best_accuracy))
        self.model.train()
        return self.stopper.should_stop

    def checkpoint_due(self) -> bool:
        t = self.cfg.train
        if t.checkpoint_every_steps and self.progress.global_step % t.checkpoint_every_steps == 0:
            return True
        minutes = t.checkpoint_every_minutes
        return bool(minutes) and time.monotonic() - self._last_checkpoint >= 60 * minutes

    def save_checkpoint(self) -> None:
        self.sums.check_finite(self.progress.global_step)
        if self.world.main:
            parts = {"progress": self.progress.state_dict(), "sums": self.sums.state_dict(),
                     "early_stopping": self.stopper.state_dict()}  # fmt: skip
            save_checkpoint(self.run_dir / CKPT, self.model, self.optimizer, parts, len(self.records))
        self._last_checkpoint = time.monotonic()

    # -- finish -----------------------------------------------------------------------------------

    def finish(self, started: float) -> dict:
        """Best weights back, the test split scored, summary.json written last, the checkpoint removed."""
        rank_diff = distributed.weight_difference(self.world, self.model, self.device)
        best = self.stopper.best_weights
        if best is not None:
            self.model.load_state_dict(best)
        test_accuracy = None
        enc = self.prepared.encoded
        if self.prepared.test_labelled and "test" in enc:
            test_split = make_split(enc["test"], self.prepared.pad_id).to(self.device)
            test_accuracy = evaluate(self.model, test_split, min_length=self.min_length, prec=self.prec)["accuracy"]
        summary = self.summary(started, test_accuracy, rank_diff)
        if self.world.main:
            if best is None:
                runlib.save_weights(self.run_dir, self.model)
            runlib.atomic_write_json(self.run_dir / "summary.json", summary)
            (self.run_dir / CKPT).unlink(missing_ok=True)
        self.emit(ev.TrainingEnded(str(self.run_dir), summary))
        return summary

    def summary(self, started: float, test_accuracy: float | None, rank_diff: float | None) -> dict:
        cfg, p, prepared, records = self.cfg, self.progress, self.prepared, self.records
        full = [r["epoch_seconds"] for r in records if r.get("epoch_seconds")]
        eps_list = [r["examples_per_s"] for r in records]
        tps_list = [r["tokens_per_s"] for r in records]
        return {
            "dataset": cfg.data.dataset,
            "model": cfg.model.name,
            "best_val_accuracy": self.stopper.best_accuracy,
            "best_epoch": self.stopper.best_epoch,
            "test_accuracy": test_accuracy,
            "test_labelled": prepared.test_labelled,
            "has_test": "test" in prepared.encoded,
            "params": self.params,
            "train_seconds": round(p.train_seconds, 3),
            "setup_seconds": round(prepared.seconds, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
            "epochs_run": p.epoch + (1 if p.step_in_epoch else 0),
            "steps": p.global_step,
            "stopped_early": p.stopped_early,
            "cut_by": p.cut_by,
            "seed": cfg.train.seed,
            "select_by": cfg.train.select_by,
            "device": str(self.device),
            "threads": self.threads,
            "precision": self.prec,
            "validation_examples": len(self.val_split),
            "world_size": self.world.size,
            "rank_max_weight_diff": rank_diff,
            "epoch_seconds": float(np.median(full)) if full else None,
            "examples_per_s": float(np.median(eps_list)) if eps_list else None,
            "tokens_per_s": float(np.median(tps_list)) if tps_list else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "torch_version": torch.__version__,
            "vocab_size": prepared.tokenizer.get_vocab_size(),
            "train_examples": len(prepared.encoded["train"]),
            "source": prepared.source,
        }


def _validation_cap_note(cfg: Config, n: int) -> tuple[str, ...]:
    """A data-report line when validation passes score a subsample (train.eval_max_examples), else none."""
    cap = cfg.train.eval_max_examples
    if cap is None or n <= cap:
        return ()
    return (
        f"validation passes score a fixed sample of {cap:,} of the {n:,} validation examples "
        f"(train.eval_max_examples; unset it to score all; the test split is scored in full)",
    )


def train_one_epoch(trainer: Trainer, deadline: float | None = None) -> None:
    """The rest of epoch `progress.epoch` from `progress.step_in_epoch`, evaluating `evals_per_epoch`
    times and checkpointing when due. Loss and accuracy stay on the device (RunningSums) and are read
    back only at evaluations, checkpoints and every `log_every` steps, so no step waits for the device."""
    p, sums, t, world = trainer.progress, trainer.sums, trainer.cfg.train, trainer.world
    split = trainer.train_split
    batches = trainer.batches(p.epoch)
    n_steps = len(batches)
    eval_at = eval_steps(n_steps, t.evals_per_epoch)
    fc_weight = unwrap(trainer.model).fc.weight
    granular = trainer.prec == "bf16" and trainer.device.type == "cpu"
    trainer.train_model.train()
    tick = time.perf_counter()
    total_steps = t.epochs * n_steps
    for i in range(p.step_in_epoch, n_steps):
        lengths = split.lengths_np[batches[i]]
        batch = split.batch(batches[i], max(trainer.min_length, step_length(int(lengths.max()), granular)))
        if t.lr_schedule != "constant":
            trainer.optimizer.set_lr(scheduled_lr(t.lr, t.lr_schedule, p.global_step, total_steps))
        loss, logits = train_step(trainer.train_model, trainer.optimizer, batch, prec=trainer.prec,
                                  max_norm=trainer.cfg.model.max_norm, fc_weight=fc_weight,
                                  label_smoothing=t.label_smoothing, class_weight=trainer.class_weight)  # fmt: skip
        sums.add(loss, logits, batch[2], int(lengths.sum()))
        p.step_in_epoch, p.global_step = i + 1, p.global_step + 1
        if p.global_step % t.log_every == 0 or i + 1 == n_steps:
            # The only per-step read-back: once every log_every steps, for the progress display.
            trainer.emit(ev.StepDone(p.epoch + 1, i + 1, n_steps, loss.item(), p.global_step))
        stop_now = distributed.any_rank(world, _STOP["flag"], trainer.device)
        cut = _budget_cut(t, p, deadline)
        if i + 1 in eval_at or stop_now or cut:
            tick = _lap(p, sums, tick)
            if i + 1 in eval_at or cut:
                stop = trainer.on_eval(end_of_epoch=i + 1 == n_steps)
                if stop or cut:
                    p.stopped_early, p.done, p.cut_by = bool(stop), True, None if stop else cut
                    return
                tick = time.perf_counter()  # the pass is not training time (on_eval adds it to train_seconds once)
            if stop_now:
                raise _Interrupt()
        if trainer.checkpoint_due():
            tick = _lap(p, sums, tick)
            trainer.save_checkpoint()
            tick = time.perf_counter()  # nor is writing the checkpoint
    p.epoch, p.step_in_epoch, p.epoch_train_seconds = p.epoch + 1, 0, 0.0


def _budget_cut(t, p: Progress, deadline: float | None) -> str | None:
    """Which budget ends the run at this step: "max_steps", "max_seconds" or None."""
    if t.max_steps is not None and p.global_step >= t.max_steps:
        return "max_steps"
    if deadline is not None and time.perf_counter() >= deadline:
        return "max_seconds"
    return None


def _lap(p: Progress, sums: RunningSums, tick: float) -> float:
    """Add the time since `tick` to the running sums and the epoch; return the new tick."""
    now = time.perf_counter()
    sums.seconds += now - tick
    p.epoch_train_seconds += now - tick
    return now


@contextlib.contextmanager
def _stop_signals():
    """Ctrl-C / SIGTERM ask for a stop at the end of the step; a second Ctrl-C stops at once."""

    def handler(signum, frame):
        if _STOP["flag"] and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        request_stop()

    _STOP["flag"] = False
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not in the main thread
            old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        _STOP["flag"] = False


# ---------------------------------------------------------------------------------------------
# The whole run


def resume_config(run_dir: Path, changes: dict | None = None) -> Config:
    """A run's saved config with `changes` ({"train": {"threads": 1, ...}}, values typed or strings as
    from --set) applied; a ConfigError names any field that cannot change on resume (model, data,
    tokenizer, seed, ...): the checkpoint only continues the run that wrote it."""
    from textcnn.config import apply_overrides, from_dict

    cfg = runlib.read_config(run_dir)
    given = {s: {k: v for k, v in vals.items() if v is not None} for s, vals in (changes or {}).items()}
    refused = [f"{s}.{k}" for s, vals in given.items() for k in vals if s != "train" or k not in RESUMABLE]
    if refused:
        allowed = ", ".join(f"train.{k}" for k in RESUMABLE)
        raise ConfigError(f"{', '.join(refused)} cannot change when resuming {run_dir} (a run keeps its "
                          f"model, data, tokenizer and seed); these can: {allowed}")  # fmt: skip
    raw = cfg.to_dict()
    apply_overrides(raw, given, "--resume")
    return from_dict(raw)


def train(
    cfg: Config | None = None,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: str | Path | None = None,
    callback: Callback | None = None,
    prepared: Prepared | None = None,
    changes: dict | None = None,
) -> Path:
    """Train `cfg` into a run folder (a new one under runs/, or `out_dir`) and return its path.

    `resume`: a run folder; training continues from its checkpoint (or from the start, when it crashed
    before its first one) with its saved config, `changes` applied (see `resume_config`).
    `callback(event)` receives the typed events of textcnn.events (rank 0 only).
    `prepared`: reuse already tokenized data (compare trains several models on the same data)."""
    started = time.perf_counter()
    reset_peak_rss()  # summary.json's peak_rss_mb: this run's, wherever the process was before
    if resume is None and cfg is None:
        raise TrainingError("train() needs a config or a run folder to resume")
    if resume is not None:
        run_dir = Path(resume)
        runlib.check_resumable(run_dir)
        cfg = resume_config(run_dir, changes)
    world = distributed.setup(cfg.train.device)
    if resume is None:  # every rank must write to (and name) rank 0's folder
        run_dir = Path(out_dir) if out_dir else runlib.new_run_dir(cfg.data.dataset or "data", cfg.model.name)
        run_dir = distributed.broadcast(world, run_dir)
    emit = callback if (callback is not None and world.main) else (lambda e: None)
    with _writer(run_dir, world, fresh=resume is None, overwrite=overwrite):
        trainer = Trainer.setup(cfg, run_dir, resuming=resume is not None, world=world, emit=emit, prepared=prepared)
        trainer.fit()
        trainer.finish(started)
    distributed.teardown(world)
    return run_dir


@contextlib.contextmanager
def _writer(run_dir: Path, world: World, *, fresh: bool, overwrite: bool):
    """Hold the run folder's lock (rank 0) while training; a fresh run needs an empty folder or overwrite."""
    error = None
    lock = runlib.RunLock(run_dir)
    if world.main:
        try:
            lock.acquire()
            if fresh:
                runlib.clear_for_new_run(run_dir, overwrite=overwrite)
        except Exception as e:  # every rank must hear about it, or the others wait forever
            lock.release()
            error = e
    failed = distributed.broadcast(world, str(error) if error else None)
    if error is not None:
        raise error
    if failed:
        raise TrainingError(f"rank 0 could not start the run: {failed}")
    try:
        yield
    finally:
        lock.release()
