"""Compare models on one dataset under identical conditions: accuracy, time to accuracy, speed, memory.

`run_compare` resolves one config per model (dataset preset < model preset < the shared conditions
< --set), loads and tokenizes the data once, trains every model x seed with `textcnn.training.trainer.train`
(each in a fresh spawned process by default, so its peak memory is its own), then measures each
model's inference speed itself: sentences/s at batch 512 over the validation texts (tokenization
included) and single-sentence latency. It returns a `CompareReport` (records.py) and writes
`report.json` and the run folders under `runs/`; render.py turns the report into `report.md` and plots.

Not here: the training loop (textcnn.training), the records and their summaries (records.py),
rendering (render.py), progress display (the CLI, through `callback`).
"""

from __future__ import annotations

import logging
import queue as queue_mod
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from textcnn import events as ev
from textcnn.config import resolve_for_data, selection_fraction
from textcnn.errors import CompareError
from textcnn.events import Callback
from textcnn.measure.records import (
    CompareReport,
    ModelSummary,
    RunRecord,
    headline,
    ratios_vs,
    summarize_model,
)
from textcnn.measure.timing import load_average, machine_info, time_fn
from textcnn.models.registry import NAMES
from textcnn.run import atomic_write_json
from textcnn.runtime import peak_rss_mb, select_device, set_threads

log = logging.getLogger(__name__)

INFERENCE_BATCH = 512
INFERENCE_MAX_TEXTS = 20_000
LATENCY_SENTENCES = 200
# Settings every model shares, whatever its preset says (its optimizer and learning rate stay its own).
SHARED_TRAIN_FIELDS = (
    "epochs", "batch_size", "patience", "evals_per_epoch", "seed", "device", "threads",
    "precision", "compile", "bucket_chunk", "max_seconds", "log_every",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Configs


def model_configs(
    dataset: str,
    models: Sequence[str],
    *,
    epochs: int | None = None,
    budget: float | None = None,
    sets: Sequence[str] = (),
    data_path: str | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """One resolved Config per model, with the data, tokenizer and shared training settings forced equal."""
    from textcnn.config import MODELS, load_config

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise CompareError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    if len(set(models)) != len(models):
        raise CompareError(f"models listed twice: {', '.join(models)}")
    if not models:
        raise CompareError("compare needs at least one model")
    if epochs is not None and epochs < 1:
        raise CompareError(f"epochs={epochs} must be >= 1")
    if budget is not None and budget <= 0:
        raise CompareError(f"budget={budget} must be > 0 seconds")
    train_over: dict[str, Any] = {"epochs": epochs, "max_seconds": budget, "threads": threads, "device": device}
    if budget is not None and epochs is None:
        # The budget is the stopping rule: no epoch cap, no early stopping (unless --set says so).
        train_over.update(epochs=100_000, patience=0)
    overrides = {"train": train_over, "data": {"path": data_path}}
    base = load_config(dataset=dataset, overrides=overrides, sets=list(sets))
    shared = {
        "data": asdict(base.data),
        "tokenizer": asdict(base.tokenizer),
        "train": {k: getattr(base.train, k) for k in SHARED_TRAIN_FIELDS},
    }
    return {m: load_config(dataset=dataset, model=m, overrides=_drop_none(shared), sets=list(sets)) for m in models}


def _drop_none(d: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s: {k: v for k, v in vals.items() if v is not None} for s, vals in d.items()}


# ---------------------------------------------------------------------------------------------
# Running


def run_compare(
    dataset: str,
    models: Sequence[str] = NAMES,
    seeds: int = 3,
    *,
    epochs: int | None = None,
    budget: float | None = None,
    target: float | None = None,
    sets: Sequence[str] = (),
    data_path: str | None = None,
    out_dir: str | Path,
    threads: int | None = None,
    device: str | None = None,
    callback: Callback | None = None,
    isolate: bool = True,
    overwrite: bool = False,
) -> CompareReport:
    """Train each of `models` with `seeds` seeds on `dataset` under identical conditions and measure them.

    Identical conditions: one data load and one tokenizer (trained once, seed = train.seed) shared by
    every run; the same batch size, epochs or wall budget (`budget` seconds per run; sets
    train.max_seconds and, without `epochs`, no epoch cap and no early stopping), patience, threads and
    device. Each model keeps its own preset (architecture, optimizer, learning rate). `sets` are
    --set overrides applied to every model. Seeds are train.seed + 0 .. seeds - 1.

    `target` is the validation accuracy for time-to-target (default: the lowest best accuracy of any
    run, so every run reaches it). With `isolate` (default) every run trains in a fresh spawned
    process, so each peak memory figure is that model's own; `isolate=False` trains in this process
    (faster start; peak memory is then not reported per model, except GPU memory on CUDA).

    `callback(event)` receives compare's events and each run's training events wrapped in `FromRun`
    (textcnn.events). Writes `out_dir`/runs/<model>-seed<k>/, report.json, report.md and plots;
    returns the report. CompareError on bad
    arguments or when `out_dir` already holds a comparison and `overwrite` is False.
    """
    import torch

    from textcnn.measure.bench import measure_matmul_peak
    from textcnn.training.trainer import prepare

    out = Path(out_dir)
    _check_compare_args(seeds, target, out, overwrite)
    target_given = target is not None
    configs = model_configs(dataset, list(models), epochs=epochs, budget=budget, sets=sets, data_path=data_path,
                            threads=threads, device=device)  # fmt: skip
    first = configs[models[0]]
    emit = callback or (lambda e: None)
    old_threads = torch.get_num_threads()
    try:
        n_threads = set_threads(first.train.threads)
        dev = _resolve_device(first.train.device)
        machine = machine_info(dev, n_threads)
        peak = max(p.gflops_per_s for p in measure_matmul_peak(device=dev, repeats=3, budget_s=0.5))

        emit(ev.CompareStarted(dataset))
        for c in configs.values():  # the curves need a held-out split of a selection's size, not a watch
            c.data.validation_fraction = selection_fraction(c)
        prepared = prepare(first)
        for c in configs.values():  # size-dependent defaults resolved once, so the report records them
            resolve_for_data(c, prepared.n_train_rows, held_out=prepared.held_out > 0)
        base_seed = first.train.seed
        seed_list = [base_seed + k for k in range(seeds)]
        runs = _train_all(configs, seed_list, out, prepared, emit, isolate=isolate, overwrite=overwrite)
        set_threads(first.train.threads)

        if target is None:
            target = min(r.summary["best_val_accuracy"] for r in runs)
        target_source = "--target" if target_given else "the lowest best validation accuracy of any run"
        summaries, inference_info = _summarize_all(configs, runs, target, out, prepared, dev, emit)
        machine["load_average_end"] = load_average()
    finally:
        torch.set_num_threads(old_threads)

    ratios = ratios_vs(summaries, "lstm") if "lstm" in summaries and len(summaries) > 1 else None
    for name, s in summaries.items():
        s.headline = headline(name, summaries, target, ratios)
    report = CompareReport(
        dataset=dataset,
        machine=machine,
        order=list(models),
        seeds=seed_list,
        models=summaries,
        target=target,
        target_source=target_source,
        conditions=_conditions(first, isolate),
        inference=inference_info,
        headlines=[summaries[m].headline for m in models],
        runs=runs,
        notes=_notes(isolate, dev, base_seed),
        ratios_vs_lstm=ratios,
        peak_gflops=peak,
    )
    atomic_write_json(out / "report.json", report.to_dict())
    return report


def _check_compare_args(seeds: int, target: float | None, out: Path, overwrite: bool) -> None:
    """Refuse a seed count below 1, a target outside (0, 1] and an `out` holding a comparison (unless `overwrite`)."""
    if seeds < 1:
        raise CompareError(f"seeds={seeds} must be >= 1")
    if target is not None and not 0.0 < target <= 1.0:
        raise CompareError(f"target={target} must be an accuracy in (0, 1]")
    used = (out / "report.json").exists() or ((out / "runs").is_dir() and any((out / "runs").iterdir()))
    if used and not overwrite:
        raise CompareError(f"{out} already holds a comparison; pass --overwrite or choose another --out")


def _train_all(
    configs: dict[str, Any],
    seed_list: list[int],
    out: Path,
    prepared,
    emit: Callback,
    *,
    isolate: bool,
    overwrite: bool,
) -> list[RunRecord]:
    """Train every model (in `configs` order) with every seed into `out`/runs/<model>-seed<k>/."""
    runs: list[RunRecord] = []
    n_runs = len(configs) * len(seed_list)
    i = 0
    for name in configs:
        for seed in seed_list:
            i += 1
            cfg = _with_seed(configs[name], seed)
            rel = f"runs/{name}-seed{seed}"
            tags = {"model": name, "seed": seed}
            emit(ev.RunStarted(i, n_runs, name, seed, str(out / rel)))
            runs.append(_train_one(cfg, out, rel, prepared, tags, emit, isolate=isolate, overwrite=overwrite))
            emit(ev.RunEnded(i, n_runs, name, seed, runs[-1].peak_rss_mb))
    return runs


def _summarize_all(
    configs: dict[str, Any], runs: list[RunRecord], target: float, out: Path, prepared, dev: str, emit: Callback
) -> tuple[dict[str, ModelSummary], dict[str, Any]]:
    """Measure each model's inference (on its first seed's run) and summarize its runs; and what the
    inference column measured (batch size, texts, latency sentences, each model's engine)."""
    first = next(iter(configs.values()))
    val_texts = _validation_texts(first)
    train_mean = float(prepared.encoded["train"].lengths.mean()) if len(prepared.encoded["train"]) else None
    summaries: dict[str, ModelSummary] = {}
    inference_info: dict[str, Any] = {}
    for name in configs:
        model_runs = [r for r in runs if r.model == name]
        emit(ev.InferenceStarted(name))
        inf = measure_inference(out / model_runs[0].run_dir, val_texts, device=dev)
        engines = {**inference_info.get("engines", {}), name: inf["engine"]}
        inference_info = {k: v for k, v in inf.items() if k in ("batch_size", "texts", "latency_sentences")}
        inference_info["engines"] = engines
        summaries[name] = summarize_model(name, model_runs, target, inf, configs[name], prepared, train_mean)
    return summaries, inference_info


def _resolve_device(name: str) -> str:
    return str(select_device(name))


def _with_seed(cfg, seed: int):
    import copy

    c = copy.deepcopy(cfg)
    c.train.seed = seed
    return c


def _conditions(cfg, isolate: bool) -> dict[str, Any]:
    t = cfg.train
    return {
        **{k: getattr(t, k) for k in SHARED_TRAIN_FIELDS},
        "tokenizer": asdict(cfg.tokenizer),
        "data": asdict(cfg.data),
        "isolated_processes": isolate,
    }


def _notes(isolate: bool, device: str, seed: int) -> list[str]:
    mem = (
        "peak RSS: each run trained in a fresh spawned process; the figure is that process's peak resident "
        "memory (torch, the tokenized data and the model's training state)."
        if isolate
        else "peak RSS: runs trained in one process, so per-model resident memory is not reported."
    )
    notes = [
        f"Data loaded and tokenized once (split seed {seed}); every run trains on the same ids.",
        "epoch s: median of each run's full-epoch training times (validation passes excluded), median over seeds; "
        "range is the fastest and slowest epoch of any seed.",
        "time to target: cumulative training seconds (validation passes included, data loading excluded) at the "
        "first validation pass reaching the target; median over seeds (a seed that never reaches it counts as "
        "infinitely slow).",
        f"inference: the first seed's best weights through `Predictor.predict`, the path `textcnn predict` runs "
        f"(numpy for cnn on the CPU, torch otherwise); sentences/s over the validation texts at batch "
        f"{INFERENCE_BATCH}, sorted by length, tokenization and softmax included; latency: one sentence at a "
        "time, p50 / p95.",
        "train GFLOP/s: 3 × forward FLOPs at the mean training length × training examples/s (padding not counted).",
        mem,
    ]
    if device.startswith("cuda"):
        notes.append("GPU memory: torch.cuda.max_memory_allocated over each run.")
    return notes


def _train_one(cfg, out: Path, rel: str, prepared, tags: dict, emit: Callback, *, isolate: bool, overwrite: bool):
    """Train one run (in a spawned process when `isolate`), forwarding its events; return its record."""
    import json

    from textcnn import run as runlib

    run_dir = out / rel
    t0 = time.perf_counter()
    if isolate:
        result = _train_in_child(cfg, run_dir, prepared, tags, emit, overwrite)
    else:
        result = _train_here(cfg, run_dir, prepared, lambda e: emit(ev.FromRun(**tags, event=e)), overwrite)
    wall = time.perf_counter() - t0
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    metrics = runlib.read_jsonl(run_dir / "metrics.jsonl")
    return RunRecord(
        model=tags["model"],
        seed=tags["seed"],
        run_dir=rel,
        summary=summary,
        metrics=metrics,
        peak_rss_mb=result.get("peak_rss_mb"),
        peak_gpu_mb=result.get("peak_gpu_mb"),
        wall_seconds=round(wall, 3),
    )


def _train_here(cfg, run_dir: Path, prepared, callback: Callback, overwrite: bool) -> dict[str, Any]:
    import torch

    from textcnn.training.trainer import train

    cuda = str(cfg.train.device).startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    train(cfg, out_dir=run_dir, overwrite=overwrite, callback=callback, prepared=prepared)
    gpu = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return {"peak_rss_mb": None, "peak_gpu_mb": gpu}


def _child_main(cfg, run_dir: str, prepared, overwrite: bool, q) -> None:
    """Entry point of a spawned training process: train, then report peak memory (or the error)."""
    try:
        result = _train_here(cfg, Path(run_dir), prepared, lambda e: q.put(("event", e)), overwrite)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        q.put(("done", result))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as one line
        q.put(("error", f"{type(e).__name__}: {e}"))


def _train_in_child(cfg, run_dir: Path, prepared, tags: dict, emit: Callback, overwrite: bool) -> dict[str, Any]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_main, args=(cfg, str(run_dir), prepared, overwrite, q), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, payload = q.get(timeout=0.5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise CompareError(
                        f"training {tags['model']} (seed {tags['seed']}) died with exit code {proc.exitcode}"
                    ) from None
                continue
            if kind == "event":
                emit(ev.FromRun(**tags, event=payload))
            elif kind == "done":
                return payload
            else:
                raise CompareError(f"training {tags['model']} (seed {tags['seed']}) failed: {payload}")
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join()
        q.close()


# ---------------------------------------------------------------------------------------------
# Inference


def _validation_texts(cfg) -> list[str]:
    from textcnn.data.sources import load_data

    data = load_data(cfg.data, seed=cfg.train.seed)
    ds = data.splits["validation"]
    n = min(len(ds), INFERENCE_MAX_TEXTS)
    return [t if isinstance(t, str) else "" for t in ds[:n]["text"]]


def measure_inference(
    run_dir: str | Path,
    texts: Sequence[str],
    *,
    device: str = "cpu",
    batch_size: int = INFERENCE_BATCH,
    latency_sentences: int = LATENCY_SENTENCES,
    repeats: int = 3,
) -> dict[str, Any]:
    """Throughput (sentences/s) and single-sentence latency of the prediction path users run.

    Both time `Predictor.predict` (textcnn.inference.predictor), exactly what `textcnn predict` and the
    Python API do: tokenize, length-sort, pad, the engine's forward (numpy for `cnn` on the CPU, torch
    otherwise), softmax and one `Prediction` per text. The predictor is loaded once and warmed up
    first, so loading and the numpy engine's one-time fold are not in the figures."""
    from textcnn.inference.predictor import Predictor

    texts = list(texts)
    if not texts:
        raise CompareError("no validation texts to measure inference on")
    predictor = Predictor.from_run(run_dir, device=device, batch_size=batch_size)
    sync = None
    if predictor.engine.name == "torch" and str(predictor.device).startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize

    throughput = time_fn(lambda: predictor.predict(texts), repeats=repeats, warmup=1, sync=sync, max_seconds=10.0)
    sample = texts[: max(1, latency_sentences)]
    it = iter(range(10**12))

    def predict_one() -> None:
        predictor.predict([sample[next(it) % len(sample)]])

    latency = time_fn(predict_one, repeats=len(sample), warmup=min(10, len(sample)), sync=sync)
    lengths = predictor.encode(texts).lengths
    return {
        "batch_size": batch_size,
        "texts": len(texts),
        "latency_sentences": len(sample),
        "engine": predictor.engine.name,
        "sentences_per_s": len(texts) / throughput.median,
        "latency_p50_ms": latency.p50 * 1e3,
        "latency_p95_ms": latency.p95 * 1e3,
        "mean_length": float(lengths.mean()),
        "vocab_size": predictor.tokenizer.get_vocab_size(),
        "num_classes": len(predictor.label_names),
    }
