"""The records of `textcnn compare` and the pure functions that summarise them.

`RunRecord` (one model x seed), `ModelSummary` (a model over its seeds), `CompareReport` (the whole
comparison, report.json) and the aggregation: time to a target accuracy, medians where "never" is
infinitely slow, ratios against a baseline model, and the one-line headlines. Rendering reads these
records (render.py); running the comparison writes them (compare.py).

Not here: training or timing anything (compare.py), markdown and plots (render.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from textcnn.measure.timing import from_dict_strict

REPORT_VERSION = 1


@dataclass
class RunRecord:
    """One training run (a model and a seed): its summary and every validation pass."""

    model: str
    seed: int
    run_dir: str
    """Relative to the compare folder, e.g. runs/cnn-seed0."""
    summary: dict[str, Any]
    """The run's summary.json."""
    metrics: list[dict[str, Any]]
    """The run's metrics.jsonl (one record per validation pass): the accuracy-against-time curve."""
    peak_rss_mb: float | None
    """Peak resident memory of the process that trained this run (None when not isolated)."""
    peak_gpu_mb: float | None = None
    """torch.cuda.max_memory_allocated during training (CUDA only)."""
    wall_seconds: float = 0.0
    """Wall time of the whole run, process start-up included."""


@dataclass
class ModelSummary:
    """One model, aggregated over its seeds."""

    model: str
    params: int
    epoch_seconds: float | None
    """Median over seeds of each run's median full-epoch training time (validation excluded)."""
    epoch_seconds_spread: list[float]
    """[min, max] over every full epoch of every seed ([] when no epoch finished)."""
    examples_per_s: float | None
    tokens_per_s: float | None
    best_val_accuracy: float
    """Mean over seeds."""
    best_val_accuracy_sd: float
    best_val_accuracies: list[float]
    test_accuracy: float | None
    """Median over seeds; None when the test split has no labels."""
    time_to_target_s: float | None
    """Median over seeds of the training seconds at the first validation pass >= target (None: never)."""
    reached_target: int
    """Seeds that reached the target."""
    train_seconds: float
    """Median over seeds of the whole training time."""
    epochs_run: list[int]
    inference_sentences_per_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    peak_rss_mb: float | None
    """Max over seeds of the training process's peak resident memory."""
    peak_gpu_mb: float | None
    flops_per_example: int | None
    """Forward FLOPs per sentence at the training data's mean length."""
    mean_length: float | None
    """Mean tokens per training sentence."""
    achieved_gflops: float | None
    """Training: 3 x flops_per_example x examples_per_s (padding not counted)."""
    inference_gflops: float | None
    headline: str = ""


@dataclass
class CompareReport:
    dataset: str
    machine: dict[str, Any]
    order: list[str]
    seeds: list[int]
    models: dict[str, ModelSummary]
    target: float
    target_source: str
    conditions: dict[str, Any]
    inference: dict[str, Any]
    headlines: list[str]
    runs: list[RunRecord]
    notes: list[str]
    ratios_vs_lstm: dict[str, dict[str, float | None]] | None = None
    peak_gflops: float | None = None
    version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareReport:
        return from_dict_strict(cls, d)


# ---------------------------------------------------------------------------------------------
# Aggregation (pure functions of the records)


def time_to_target(metrics: Sequence[dict[str, Any]], target: float) -> float | None:
    """Training seconds at the first validation pass with accuracy >= target (None: never reached)."""
    for m in metrics:
        if m.get("val_accuracy") is not None and m["val_accuracy"] >= target - 1e-12:
            return float(m["train_seconds"])
    return None


def median_or_none(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(statistics.median(vals)) if vals else None


def median_time(xs: Sequence[float | None]) -> float | None:
    """Median where None means 'never' (infinitely slow); None when the median itself is 'never'."""
    vals = sorted(math.inf if x is None else x for x in xs)
    if not vals:
        return None
    m = statistics.median(vals)
    return None if math.isinf(m) or math.isnan(m) else float(m)


def summarize_model(
    name: str,
    runs: Sequence[RunRecord],
    target: float,
    inference: dict[str, Any],
    cfg,
    prepared,
    train_mean: float | None,
) -> ModelSummary:
    from textcnn.models import flops_per_example

    classes = inference["num_classes"]
    best = [float(r.summary["best_val_accuracy"]) for r in runs]
    epochs = [float(m["epoch_seconds"]) for r in runs for m in r.metrics if m.get("epoch_seconds")]
    ttt = [time_to_target(r.metrics, target) for r in runs]
    eps = median_or_none([r.summary.get("examples_per_s") for r in runs])
    tests = [r.summary.get("test_accuracy") for r in runs]
    flops = int(flops_per_example(cfg.model, max(1, round(train_mean)), classes)) if train_mean else None
    val_flops = int(flops_per_example(cfg.model, max(1, round(inference["mean_length"])), classes))
    rss = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
    gpu = [r.peak_gpu_mb for r in runs if r.peak_gpu_mb is not None]
    return ModelSummary(
        model=name,
        params=int(runs[0].summary["params"]),
        epoch_seconds=median_or_none([r.summary.get("epoch_seconds") for r in runs]),
        epoch_seconds_spread=[min(epochs), max(epochs)] if epochs else [],
        examples_per_s=eps,
        tokens_per_s=median_or_none([r.summary.get("tokens_per_s") for r in runs]),
        best_val_accuracy=statistics.fmean(best),
        best_val_accuracy_sd=statistics.stdev(best) if len(best) > 1 else 0.0,
        best_val_accuracies=best,
        test_accuracy=median_or_none(tests),
        time_to_target_s=median_time(ttt),
        reached_target=sum(t is not None for t in ttt),
        train_seconds=float(statistics.median(float(r.summary["train_seconds"]) for r in runs)),
        epochs_run=[int(r.summary["epochs_run"]) for r in runs],
        inference_sentences_per_s=inference["sentences_per_s"],
        latency_p50_ms=inference["latency_p50_ms"],
        latency_p95_ms=inference["latency_p95_ms"],
        peak_rss_mb=max(rss) if rss else None,
        peak_gpu_mb=max(gpu) if gpu else None,
        flops_per_example=flops,
        mean_length=train_mean,
        achieved_gflops=3 * flops * eps / 1e9 if (flops and eps) else None,
        inference_gflops=val_flops * inference["sentences_per_s"] / 1e9,
    )


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0 or num <= 0:
        return None
    return num / den


def ratios_vs(summaries: dict[str, ModelSummary], base: str) -> dict[str, dict[str, float | None]]:
    """How many times faster than `base` each other model is (epoch time, time to target, inference)."""
    b = summaries[base]
    out = {}
    for name, s in summaries.items():
        if name == base:
            continue
        out[name] = {
            "epoch_time": _ratio(b.epoch_seconds, s.epoch_seconds),
            "training_throughput": _ratio(s.examples_per_s, b.examples_per_s),
            "time_to_target": _ratio(b.time_to_target_s, s.time_to_target_s),
            "inference_throughput": _ratio(s.inference_sentences_per_s, b.inference_sentences_per_s),
        }
    return out


def _times(r: float, faster: str, slower: str) -> str:
    return f"{r:.1f}× {faster}" if r >= 1 else f"{1 / r:.1f}× {slower}"


def headline(
    name: str, summaries: dict[str, ModelSummary], target: float, ratios: dict[str, dict[str, float | None]] | None
) -> str:
    """One sentence per model, e.g. 'cnn trains 6.1× faster per epoch than lstm and reaches 85.0%
    validation accuracy 4.3× sooner'."""
    s = summaries[name]
    goal = f"{100 * target:.1f}% validation accuracy"
    if ratios is None or name not in ratios:
        parts = [f"{name}"]
        parts.append(
            f"{s.epoch_seconds:.2f} s per epoch"
            if s.epoch_seconds is not None
            else f"{fmt_rate(s.examples_per_s)} examples/s"
        )
        parts.append(f"best validation accuracy {100 * s.best_val_accuracy:.1f}%")
        if s.time_to_target_s is not None:
            parts.append(f"reaches {goal} after {s.time_to_target_s:.1f} s")
        else:
            parts.append(f"does not reach {goal}")
        role = " (baseline)" if ratios is not None else ""
        return parts[0] + role + ": " + ", ".join(parts[1:])
    r = ratios[name]
    base = "lstm"
    if r["epoch_time"] is not None:
        speed = f"trains {_times(r['epoch_time'], 'faster', 'slower')} per epoch than {base}"
    elif r["training_throughput"] is not None:
        speed = f"trains {_times(r['training_throughput'], 'faster', 'slower')} (examples/s) than {base}"
    else:
        speed = f"trains at an unmeasured speed relative to {base}"
    if r["time_to_target"] is not None:
        reach = f"reaches {goal} {_times(r['time_to_target'], 'sooner', 'later')}"
    elif s.time_to_target_s is not None:
        reach = f"reaches {goal} after {s.time_to_target_s:.1f} s ({base} never does)"
    else:
        reach = f"does not reach {goal}"
    return f"{name} {speed} and {reach}"


def fmt_rate(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"
