"""Training: `train(config) -> run folder`, built from small functions.

prepare (data → tokenizer → cached ids → padded tensors) → build model and optimizer →
`train_one_epoch` / `evaluate` with early stopping on validation accuracy → best weights restored,
test split scored when it has labels → run folder. Resumable: Ctrl-C / SIGTERM finish the current
step and write a checkpoint; `train(resume=RUN)` continues exactly (same batches, same RNG states).
Data-parallel under `torchrun` (DistributedDataParallel: gloo on CPU, nccl on CUDA).

Not here: model definitions (models.py), the run folder format (run.py), rendering (cli.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import Config, config_from_toml
from textcnn.data.batching import PaddedSplit, bucketed_batches, pad_split, sorted_batches
from textcnn.data.tokenizer import Encoded, encode_dataset, load_tokenizer, pad_id, train_tokenizer
from textcnn.errors import TrainingError, TrainingInterrupted
from textcnn.events import Callback
from textcnn.models.registry import unwrap
from textcnn.runtime import peak_rss_mb, select_device, set_threads
from textcnn.training.optim import apply_max_norm, make_optimizer

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Set-up


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Prepared:
    """Everything training needs from the data, tokenized once."""

    cfg: Config
    tokenizer: object  # tokenizers.Tokenizer
    label_names: list[str]
    encoded: dict[str, Encoded]  # train / validation / test
    test_labelled: bool
    report_lines: list[str]
    source: str
    seconds: float
    examples: list[str]  # a few validation texts, to show encodings

    @property
    def pad_id(self) -> int:
        return pad_id(self.tokenizer)


def prepare(cfg: Config, tokenizer=None, label_names: list[str] | None = None) -> Prepared:
    """Load the data, train (or take) the tokenizer, encode every split (cached by `datasets`)."""
    import datasets

    from textcnn.data.sources import load_data

    datasets.disable_progress_bars()  # our own display reports progress; theirs would interleave
    t0 = time.perf_counter()
    data = load_data(cfg.data, seed=cfg.train.seed)
    if label_names is not None and list(label_names) != list(data.label_names):
        raise TrainingError(f"the data's labels {data.label_names} differ from the run's {label_names}")
    train_ds = data.splits["train"]
    if tokenizer is None:
        tokenizer = train_tokenizer(_iter_texts(train_ds), cfg.tokenizer, length=len(train_ds))
    encoded = {name: encode_dataset(ds, tokenizer, cfg.tokenizer.max_length) for name, ds in data.splits.items()}
    return Prepared(
        cfg=cfg,
        tokenizer=tokenizer,
        label_names=list(data.label_names),
        encoded=encoded,
        test_labelled=data.test_labelled,
        report_lines=data.report.lines(),
        source=data.source,
        seconds=time.perf_counter() - t0,
        examples=list(data.splits["validation"][:3]["text"]),
    )


def tokenize_report(cfg: Config, out: str | Path) -> dict:
    """Train (or load) the tokenizer, write it to `out`, and return `tokenizer_stats` for every split."""
    from textcnn.data.tokenizer import tokenizer_stats

    prepared = prepare(cfg)
    runlib.atomic_write_text(out, prepared.tokenizer.to_str(pretty=True))
    return tokenizer_stats(prepared.tokenizer, prepared.encoded, cfg.tokenizer.max_length, prepared.examples)


def _iter_texts(ds, batch: int = 10_000):
    for i in range(0, len(ds), batch):
        yield from ds[i : i + batch]["text"]


# ---------------------------------------------------------------------------------------------
# Steps


def evaluate(
    model: nn.Module,
    split: PaddedSplit,
    *,
    batch_size: int = 1024,
    min_length: int = 1,
    rank: int = 0,
    world_size: int = 1,
    bf16: bool = False,
) -> dict:
    """Loss and accuracy over the split (sums divided by N), and predictions in input order.

    With several ranks each scores every world_size-th length-sorted batch and the sums are reduced."""
    model.eval()
    device = split.ids.device
    preds = torch.full((len(split),), -1, dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    n = torch.zeros((), device=device, dtype=torch.float64)
    with torch.inference_mode(), _autocast(device, bf16):
        for i, idx in enumerate(sorted_batches(split.lengths_np, batch_size)):
            if i % world_size != rank:
                continue
            ids, lengths, labels = split.batch(idx, min_length)
            logits = model(ids, lengths).float()
            p = logits.argmax(-1)
            preds[torch.as_tensor(idx, device=device)] = p
            mask = labels >= 0
            if bool(mask.any()):
                loss_sum += F.cross_entropy(logits[mask], labels[mask], reduction="sum").double()
                correct += (p[mask] == labels[mask]).sum()
                n += mask.sum()
    if world_size > 1:
        import torch.distributed as dist

        stats = torch.stack([loss_sum, correct, n])
        dist.all_reduce(stats)
        loss_sum, correct, n = stats
        dist.all_reduce(preds, op=dist.ReduceOp.MAX)
    count = float(n)
    return {
        "loss": float(loss_sum) / count if count else float("nan"),
        "accuracy": float(correct) / count if count else float("nan"),
        "n": int(count),
        "predictions": preds.cpu().numpy(),
    }


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _interrupt_requested() -> bool:
    return _STOP["flag"]


_STOP = {"flag": False}


def request_stop() -> None:
    """Ask a running `train` to stop after the current step and write a resumable checkpoint."""
    _STOP["flag"] = True


@dataclass
class LoopState:
    """Where training stands; all of it goes into a checkpoint."""

    epoch: int = 0  # 0-based epoch in progress
    step_in_epoch: int = 0  # batches of this epoch already done
    global_step: int = 0
    best_val: float = -1.0
    best_epoch: int = 0
    bad_evals: int = 0
    evals: int = 0
    train_seconds: float = 0.0
    # since the last evaluation (sums over examples, for dataset averages)
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    tokens: int = 0
    seconds_since_eval: float = 0.0
    epoch_train_seconds: float = 0.0
    stopped_early: bool = False
    done: bool = False


def train_one_epoch(
    model: nn.Module,
    optimizer,
    train: PaddedSplit,
    val: PaddedSplit,
    cfg: Config,
    state: LoopState,
    *,
    min_length: int,
    device: torch.device,
    on_eval: Callable[[dict], bool],
    callback: Callback | None = None,
    rank: int = 0,
    world_size: int = 1,
    deadline: float | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> None:
    """Run the rest of epoch `state.epoch` from `state.step_in_epoch`, evaluating `evals_per_epoch` times.

    `on_eval(record)` returns True to stop (early stopping). Loss and accuracy are accumulated on the
    device and read back only at evaluation and logging points, so no step waits for the device."""
    t = cfg.train
    batches = bucketed_batches(
        train.lengths_np, t.batch_size, seed=t.seed, epoch=state.epoch, chunk=t.bucket_chunk,
        rank=rank, world_size=world_size,
    )  # fmt: skip
    n_steps = len(batches)
    eval_at = {max(1, round(n_steps * (k + 1) / t.evals_per_epoch)) for k in range(t.evals_per_epoch)}
    fc_weight = unwrap(model).fc.weight
    loss_acc = torch.zeros((), device=device, dtype=torch.float64)
    correct_acc = torch.zeros((), device=device, dtype=torch.float64)
    last_ckpt = time.monotonic()
    model.train()
    tick = time.perf_counter()
    for i in range(state.step_in_epoch, n_steps):
        idx = batches[i]
        ids, lengths, labels = train.batch(idx, min_length)
        with _autocast(device, t.bf16):
            logits = model(ids, lengths)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if cfg.model.max_norm is not None:
            apply_max_norm(fc_weight, cfg.model.max_norm)
        with torch.no_grad():
            loss_acc += loss.detach().double() * len(idx)
            correct_acc += (logits.argmax(-1) == labels).sum()
        state.seen += len(idx)
        state.tokens += int(train.lengths_np[idx].sum())
        state.step_in_epoch = i + 1
        state.global_step += 1
        if callback is not None and (state.global_step % t.log_every == 0 or i + 1 == n_steps):
            # The only per-step read-back: once every log_every steps, for the progress display.
            callback(ev.StepDone(state.epoch + 1, i + 1, n_steps, loss.item(), state.global_step))
        stop_now = _interrupt_requested()
        if world_size > 1:
            stop_now = _any_rank(stop_now, device)
        out_of_time = deadline is not None and time.perf_counter() >= deadline
        if i + 1 in eval_at or stop_now or out_of_time:
            _flush(state, tick, loss_acc, correct_acc)
            if not math.isfinite(state.loss_sum):
                raise TrainingError(
                    f"the training loss became {state.loss_sum} at step {state.global_step}; "
                    "lower train.lr (the last good checkpoint and best weights are kept)"
                )
            if i + 1 in eval_at or out_of_time:
                stop = on_eval({"end_of_epoch": i + 1 == n_steps})
                if stop or out_of_time:
                    state.stopped_early = bool(stop)
                    state.done = True
                    return
            if stop_now:
                raise _Interrupt()
            tick = time.perf_counter()
        if checkpoint is not None and _checkpoint_due(t, state, last_ckpt):
            _flush(state, tick, loss_acc, correct_acc)
            checkpoint()
            last_ckpt = time.monotonic()
            tick = time.perf_counter()
    state.epoch += 1
    state.step_in_epoch = 0
    state.epoch_train_seconds = 0.0


def _flush(state: LoopState, tick: float, loss_acc: torch.Tensor, correct_acc: torch.Tensor) -> None:
    """Move the time and the on-device loss / accuracy sums since `tick` into `state` (one device sync)."""
    elapsed = time.perf_counter() - tick
    state.seconds_since_eval += elapsed
    state.epoch_train_seconds += elapsed
    state.loss_sum += float(loss_acc)
    state.correct += float(correct_acc)
    loss_acc.zero_()
    correct_acc.zero_()


class _Interrupt(Exception):
    pass


def _checkpoint_due(t, state: LoopState, last: float) -> bool:
    if t.checkpoint_every_steps and state.global_step % t.checkpoint_every_steps == 0:
        return True
    return bool(t.checkpoint_every_minutes) and time.monotonic() - last >= 60 * t.checkpoint_every_minutes


def _any_rank(flag: bool, device: torch.device) -> bool:
    import torch.distributed as dist

    x = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return bool(x.item())


# ---------------------------------------------------------------------------------------------
# Checkpoints: one safetensors file, tensors + JSON metadata, written atomically.

CKPT = "checkpoint.safetensors"


def save_checkpoint(run_dir: Path, model, optimizer, state: LoopState, best_state: dict | None, n_records: int) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for k, v in runlib.plain_state_dict(model).items():
        tensors[f"model.{k}"] = v
    if best_state is not None:
        for k, v in best_state.items():
            tensors[f"best.{k}"] = v
    opt_meta = []
    for i, sd in enumerate(optimizer.state_dict()):
        meta_state: dict = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim.{i}.{pid}.{key}"] = val.reshape(-1) if val.dim() == 0 else val
                    meta_state.setdefault(str(pid), {})[key] = {"tensor": True, "scalar": val.dim() == 0}
                else:
                    meta_state.setdefault(str(pid), {})[key] = {"value": val}
        opt_meta.append({"param_groups": sd["param_groups"], "state": meta_state})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {
        "loop": state.__dict__,
        "optimizers": opt_meta,
        "python_rng": _py_rng_to_json(random.getstate()),
        "numpy_rng": _np_rng_to_json(np.random.get_state()),
        "records": n_records,
    }
    runlib.save_tensors(run_dir / CKPT, tensors, metadata={"textcnn": json.dumps(meta)})


def load_checkpoint(run_dir: Path, model, optimizer) -> tuple[LoopState, dict | None, int]:
    tensors = runlib.load_tensors(run_dir / CKPT)
    from safetensors import safe_open

    with safe_open(str(run_dir / CKPT), framework="pt") as f:
        meta = json.loads(f.metadata()["textcnn"])
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    runlib.load_state_into(unwrap(model), model_state, str(run_dir / CKPT))
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
    opt_states = []
    for i, om in enumerate(meta["optimizers"]):
        st: dict = {}
        for pid, entries in om["state"].items():
            d = {}
            for key, e in entries.items():
                if e.get("tensor"):
                    v = tensors[f"optim.{i}.{pid}.{key}"]
                    d[key] = v.reshape(()) if e.get("scalar") else v
                else:
                    d[key] = e["value"]
            st[int(pid)] = d
        opt_states.append({"state": st, "param_groups": om["param_groups"]})
    optimizer.load_state_dict(opt_states)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    random.setstate(_py_rng_from_json(meta["python_rng"]))
    np.random.set_state(_np_rng_from_json(meta["numpy_rng"]))
    return LoopState(**meta["loop"]), best, int(meta["records"])


def _py_rng_to_json(s):
    return [s[0], list(s[1]), s[2]]


def _py_rng_from_json(s):
    return (s[0], tuple(s[1]), s[2])


def _np_rng_to_json(s):
    return [s[0], s[1].tolist(), s[2], s[3], s[4]]


def _np_rng_from_json(s):
    return (s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4])


# ---------------------------------------------------------------------------------------------
# The whole run


def _dist_setup(device_name: str) -> tuple[int, int, torch.device | None]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    return rank, world, device


def train(
    cfg: Config | None = None,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: str | Path | None = None,
    callback: Callback | None = None,
    prepared: Prepared | None = None,
) -> Path:
    """Train `cfg` into a run folder (a new one under runs/, or `out_dir`) and return its path.

    `resume`: a run folder with a checkpoint; training continues from it with its saved config.
    `callback(event)` receives the typed events of textcnn.events (rank 0 only).
    `prepared`: reuse already tokenized data (compare trains several models on the same data)."""
    from textcnn.models import build_model, count_parameters

    t_start = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CKPT).is_file():
            raise TrainingError(f"{run_dir} has no {CKPT} to resume from")
        cfg = config_from_toml(run_dir / "config.toml")
    elif cfg is None:
        raise TrainingError("train() needs a config or a run folder to resume")
    t = cfg.train
    rank, world, dist_device = _dist_setup(t.device)
    device = dist_device or select_device(t.device)
    threads = set_threads(t.threads)
    seed_everything(t.seed)
    emit = callback if (callback is not None and rank == 0) else (lambda e: None)

    if resume is None:
        run_dir = Path(out_dir) if out_dir else runlib.new_run_dir(cfg.data.dataset or "data", cfg.model.name)
        if rank == 0 and run_dir.exists() and any(run_dir.iterdir()):
            if not overwrite:
                raise TrainingError(f"{run_dir} already exists; pass --overwrite to replace it or --resume to continue")
            for f in (*runlib.FILES, "metrics.jsonl", "summary.json", CKPT):
                (run_dir / f).unlink(missing_ok=True)
        if world > 1:  # every rank must write to (and name) the same folder
            import torch.distributed as dist

            box = [str(run_dir)]
            dist.broadcast_object_list(box, src=0)
            run_dir = Path(box[0])

    if prepared is None:
        tok = load_tokenizer(run_dir / "tokenizer.json") if resume is not None else None
        labels = json.loads((run_dir / "labels.json").read_text()) if resume is not None else None
        prepared = prepare(cfg, tokenizer=tok, label_names=labels)
    emit(ev.DataLoaded(prepared.source, prepared.seconds, tuple(prepared.report_lines)))
    label_names, tokenizer, pad = prepared.label_names, prepared.tokenizer, prepared.pad_id
    if len(label_names) < 2:
        raise TrainingError("the training data has fewer than two classes; nothing to learn")

    vectors = None
    if cfg.model.embeddings and resume is None:
        vectors = _load_vectors(cfg, prepared, emit)
    seed_everything(t.seed)
    sparse = t.sparse_embedding and not (world > 1 and device.type == "cuda")
    model = build_model(
        cfg.model, tokenizer.get_vocab_size(), len(label_names), vectors=vectors, sparse=sparse, pad_id=pad
    )
    model.to(device)
    min_length = int(getattr(model, "min_length", 1))
    params = count_parameters(model)
    optimizer = make_optimizer(model, t.optimizer, lr=t.lr, weight_decay=t.weight_decay, rho=t.rho, eps=t.eps)

    train_split = pad_split(prepared.encoded["train"], min_length, pad).to(device)
    val_split = pad_split(prepared.encoded["validation"], min_length, pad).to(device)
    if len(train_split) == 0 or len(val_split) == 0:
        raise TrainingError("the train or validation split is empty after cleaning")

    state = LoopState()
    best_state: dict | None = None
    if resume is not None:
        state, best_state, n_records = load_checkpoint(run_dir, model, optimizer)
        if rank == 0:
            _truncate_jsonl(run_dir / "metrics.jsonl", n_records)
    elif rank == 0:
        runlib.save_run_files(run_dir, cfg, tokenizer, label_names)
        (run_dir / "metrics.jsonl").write_text("")
    records = runlib.read_jsonl(run_dir / "metrics.jsonl") if rank == 0 else []

    train_model: nn.Module = model
    if t.compile:
        train_model = torch.compile(model, dynamic=True)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(train_model, device_ids=[device.index] if device.type == "cuda" else None)

    steps_per_epoch = len(bucketed_batches(train_split.lengths_np, t.batch_size, seed=t.seed, epoch=0,
                                           chunk=t.bucket_chunk, rank=rank, world_size=world))  # fmt: skip
    emit(ev.TrainingStarted(
        run_dir=str(run_dir), epochs=t.epochs, steps_per_epoch=steps_per_epoch, params=params, device=str(device),
        threads=threads, world_size=world, resumed_from_step=state.global_step if resume is not None else None,
    ))  # fmt: skip

    def on_eval(info: dict) -> bool:
        nonlocal best_state
        t0 = time.perf_counter()
        scored = evaluate(model, val_split, min_length=min_length, rank=rank, world_size=world, bf16=t.bf16)
        stats = torch.tensor(
            [state.loss_sum, state.correct, float(state.seen), float(state.tokens)], dtype=torch.float64
        )
        if world > 1:
            import torch.distributed as dist

            stats = stats.to(device)
            dist.all_reduce(stats)
            stats = stats.cpu()
        loss_sum, correct, seen, tokens = stats.tolist()
        secs = max(state.seconds_since_eval, 1e-9)
        state.train_seconds += state.seconds_since_eval + (time.perf_counter() - t0)
        state.evals += 1
        record = {
            "epoch": state.epoch + 1,
            "step": state.global_step,
            "end_of_epoch": info["end_of_epoch"],
            "train_seconds": round(state.train_seconds, 4),
            "train_loss": loss_sum / seen if seen else None,
            "train_accuracy": correct / seen if seen else None,
            "val_loss": scored["loss"],
            "val_accuracy": scored["accuracy"],
            "examples_per_s": seen / secs,
            "tokens_per_s": tokens / secs,
            "epoch_seconds": round(state.epoch_train_seconds, 4) if info["end_of_epoch"] else None,
        }
        state.loss_sum = state.correct = 0.0
        state.seen = state.tokens = 0
        state.seconds_since_eval = 0.0
        improved = scored["accuracy"] > state.best_val
        if improved:
            state.best_val, state.best_epoch, state.bad_evals = scored["accuracy"], state.epoch + 1, 0
            best_state = {k: v.detach().clone().cpu() for k, v in runlib.plain_state_dict(model).items()}
        else:
            state.bad_evals += 1
        if rank == 0:
            records.append(record)
            runlib.append_jsonl(run_dir / "metrics.jsonl", record)
            if improved:
                runlib.save_tensors(run_dir / "model.safetensors", best_state, metadata={"format": "pt"})
        emit(ev.Evaluated.from_record(record, state.best_val))
        model.train()
        return bool(t.patience) and state.bad_evals >= t.patience

    def checkpoint() -> None:
        if rank == 0:
            save_checkpoint(run_dir, model, optimizer, state, best_state, len(records))

    deadline = (time.perf_counter() + t.max_seconds - state.train_seconds) if t.max_seconds else None
    _STOP["flag"] = False
    old_handlers = _install_signal_handlers()
    try:
        while state.epoch < t.epochs and not state.done:
            train_one_epoch(
                train_model, optimizer, train_split, val_split, cfg, state,
                min_length=min_length, device=device, on_eval=on_eval, callback=emit,
                rank=rank, world_size=world, deadline=deadline,
                checkpoint=checkpoint if (t.checkpoint_every_steps or t.checkpoint_every_minutes) else None,
            )  # fmt: skip
    except _Interrupt:
        checkpoint()
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        raise TrainingInterrupted(run_dir, state.global_step) from None
    except TrainingError:
        raise
    finally:
        _restore_signal_handlers(old_handlers)
        _STOP["flag"] = False

    rank_diff = _rank_weight_difference(model, device) if world > 1 else None
    # Restore the best weights and score the test split when it has labels.
    if best_state is not None:
        model.load_state_dict(best_state)
    test_accuracy = None
    if prepared.test_labelled and "test" in prepared.encoded:
        test_split = pad_split(prepared.encoded["test"], min_length, pad).to(device)
        test_accuracy = evaluate(model, test_split, min_length=min_length, bf16=t.bf16)["accuracy"]
    full = [r["epoch_seconds"] for r in records if r.get("epoch_seconds")]
    eps_list = [r["examples_per_s"] for r in records]
    tps_list = [r["tokens_per_s"] for r in records]
    summary = {
        "dataset": cfg.data.dataset,
        "model": cfg.model.name,
        "best_val_accuracy": state.best_val,
        "best_epoch": state.best_epoch,
        "test_accuracy": test_accuracy,
        "test_labelled": prepared.test_labelled,
        "has_test": "test" in prepared.encoded,
        "params": params,
        "train_seconds": round(state.train_seconds, 3),
        "setup_seconds": round(prepared.seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "epochs_run": state.epoch + (1 if state.step_in_epoch else 0),
        "steps": state.global_step,
        "stopped_early": state.stopped_early,
        "seed": t.seed,
        "device": str(device),
        "threads": threads,
        "world_size": world,
        "rank_max_weight_diff": rank_diff,
        "epoch_seconds": float(np.median(full)) if full else None,
        "examples_per_s": float(np.median(eps_list)) if eps_list else None,
        "tokens_per_s": float(np.median(tps_list)) if tps_list else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "torch_version": torch.__version__,
        "vocab_size": tokenizer.get_vocab_size(),
        "train_examples": len(prepared.encoded["train"]),
        "source": prepared.source,
    }
    if rank == 0:
        if best_state is None:
            runlib.save_weights(run_dir, model)
        runlib.atomic_write_json(run_dir / "summary.json", summary)
        (run_dir / CKPT).unlink(missing_ok=True)
    emit(ev.TrainingEnded(str(run_dir), summary))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return run_dir


def _rank_weight_difference(model: nn.Module, device: torch.device) -> float:
    """Largest absolute difference between any rank's weights and rank 0's (0.0: in sync)."""
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(device)
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)


def _load_vectors(cfg: Config, prepared: Prepared, emit: Callback):
    from collections import Counter

    from textcnn.data.vectors import load_vectors

    enc = prepared.encoded["train"]
    vocab = prepared.tokenizer.get_vocab()
    id_to_tok = {i: w for w, i in vocab.items()}
    counts = Counter(enc.ids.tolist())
    token_counts = {id_to_tok[i]: c for i, c in counts.items() if i in id_to_tok}
    res = load_vectors(cfg.model.embeddings, vocab, token_counts=token_counts, seed=cfg.train.seed)
    if res.dim != cfg.model.embedding_dim:
        log.info("model.embedding_dim set to the vectors' dimension %d", res.dim)
        cfg.model.embedding_dim = res.dim
    emit(ev.VectorsLoaded(res.summary()))
    return res.vectors


def _truncate_jsonl(path: Path, n: int) -> None:
    rows = runlib.read_jsonl(path)[:n]
    runlib.atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _install_signal_handlers():
    def handler(signum, frame):
        if _STOP["flag"] and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        request_stop()

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not in the main thread
            old[sig] = signal.signal(sig, handler)
    return old


def _restore_signal_handlers(old) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)
