"""Render measuring records (bench.py, compare.py) as markdown, JSON and PNG plots.

Rendering is a pure function of the record dict: the same bench.json / report.json always gives the
same bench.md / report.md, so `textcnn report DIR` redraws a comparison without retraining.
matplotlib is optional (`pip install 'textcnn[plot]'`): without it the markdown and JSON are still
written and the render functions return a one-line note saying the plots were skipped.

Nothing here measures or trains; nothing here imports torch.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textcnn.errors import ReportError
from textcnn.measure.timing import contention_warning, machine_line

log = logging.getLogger(__name__)

PLOT_NOTE = "plots skipped: pip install 'textcnn[plot]'"
BENCH_JSON = "bench.json"
COMPARE_JSON = "report.json"


@dataclass
class Rendered:
    """What a render call wrote, and a one-line note when something was skipped (e.g. plots)."""

    files: list[Path] = field(default_factory=list)
    note: str | None = None


def _matplotlib_figure():
    """matplotlib's Figure class (object API, no pyplot state, no GUI backend), or None if not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def plots_available() -> bool:
    return _matplotlib_figure() is not None


def _save(fig, path: Path) -> None:
    # No software/date metadata: the same record gives the same bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None})


# ---------------------------------------------------------------------------------------------
# Formatting helpers (fixed precision so the markdown is deterministic)


def fmt(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{digits}f}"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 100:
        return f"{ms:.2f}"
    return f"{ms:,.0f}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A markdown table; `align` is one char per column, 'l' or 'r' (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(machine: dict[str, Any]) -> str:
    keys = [
        ("CPU", "cpu"),
        ("cores", "cores"),
        ("threads", "threads"),
        ("device", "device"),
        ("device name", "device_name"),
        ("torch", "torch"),
        ("CUDA", "cuda"),
        ("Python", "python"),
        ("OS", "os"),
    ]
    rows = [[label, str(machine.get(k)) if machine.get(k) is not None else "–"] for label, k in keys if k in machine]
    text = f"**Machine:** {machine_line(machine)}\n\n" + table(["machine", ""], rows, "ll")
    warning = contention_warning(machine)
    return text + (f"\n\n> **Warning:** {warning}" if warning else "")


def write_json(obj: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# bench


def write_bench(report: Any, out_dir: str | Path) -> Rendered:
    """Write bench.json (the records) and render bench.md (+ bench.png) into `out_dir`."""
    out = Path(out_dir)
    d = report.to_dict() if hasattr(report, "to_dict") else report
    path = write_json(d, out / BENCH_JSON)
    r = render_bench(d, out)
    return Rendered([path, *r.files], r.note)


def render_bench(report: dict[str, Any], out_dir: str | Path) -> Rendered:
    """bench.md (and bench.png when matplotlib is installed) from a bench.json dict."""
    from textcnn.measure.bench import BenchReport

    rep = BenchReport.from_dict(report)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = _matplotlib_figure()
    files = []
    if figure is not None and rep.records:
        files.append(_plot_bench(rep, out / "bench.png", figure))
    md = bench_markdown(rep, plot="bench.png" if files else None)
    (out / "bench.md").write_text(md, encoding="utf-8")
    files.insert(0, out / "bench.md")
    return Rendered(files, None if figure is not None else PLOT_NOTE)


def bench_markdown(rep: Any, plot: str | None = None) -> str:
    cfg = rep.config
    models = [m for m in cfg["models"] if any(r.model == m for r in rep.records)] or list(cfg["models"])
    lengths = cfg["lengths"]
    parts = ["# textcnn bench", "", machine_section(rep.machine), ""]
    parts.append(
        f"Synthetic batches of random token ids (vocabulary {cfg['vocab_size']:,}, {cfg['num_classes']} classes), "
        f"every sequence full length. **forward**: eval mode under `torch.inference_mode()`; **train**: "
        f"forward + cross-entropy + `backward()` (no optimizer step). Median of up to {cfg['repeats']} timed "
        f"calls per cell after warm-up (at least {cfg['min_repeats']}; fewer than {cfg['repeats']} when they "
        f"would take more than {cfg['budget_s']:g} s). "
        f"Benchmark wall time {rep.seconds:.0f} s."
    )
    parts.append("")
    parts.append(
        f"**Every cell ran in {getattr(rep, 'precision', 'fp32')}; its % of peak is of the "
        f"{getattr(rep, 'precision', 'fp32')} matmul peak.** "
        f"**fp32 matmul peak (fastest of the timed calls): {rep.peak_gflops:,.1f} GFLOP/s**"
        + (f"; **bf16: {rep.peak_gflops_bf16:,.1f} GFLOP/s**" if getattr(rep, "peak_gflops_bf16", None) else "")
        + ". "
        + ", ".join(
            f"{getattr(p, 'dtype', 'fp32')} [{p.m}×{p.k}]×[{p.k}×{p.n}] at the {p.when}: {p.gflops_per_s:,.1f}"
            for p in rep.matmul
        )
        + ". Achieved GFLOP/s = forward FLOPs × batch (×3 for train) / median time; FLOPs are counted "
        "analytically (`models.flops_per_example`: multiply-adds of convolutions, recurrences and the classifier). "
        "×3 is what a dense backward computes; `cnn`'s backward through max pooling reads only each feature's "
        "winning window, so for `cnn` the train figure is dense-equivalent work per second, not FLOPs executed."
    )
    parts.append("")
    parts.append(PEAK_NOTE)
    parts.append("")
    parts.append(table(["model", "parameters"], [[m, fmt(rep.params.get(m))] for m in models]))
    by_key = {(r.model, r.mode, r.batch_size, r.seq_len): r for r in rep.records if _engine(r) == "torch"}
    for mode in cfg["modes"]:
        for batch in cfg["batch_sizes"]:
            if not any(r.mode == mode and r.batch_size == batch for r in rep.records):
                continue
            parts += ["", f"## {mode}: ms per batch of {batch}", ""]
            parts.append(_length_table(by_key, models, lengths, mode, batch, lambda r: fmt_ms(r.median_ms)))
    big = max(cfg["batch_sizes"])
    for mode in cfg["modes"]:
        if not any(r.mode == mode and r.batch_size == big for r in rep.records):
            continue
        parts += ["", f"## {mode}: GFLOP/s (% of matmul peak), batch {big}", ""]
        gflops = lambda r: f"{r.gflops_per_s:,.1f} ({r.pct_of_peak:.0f}%)"  # noqa: E731
        parts.append(_length_table(by_key, models, lengths, mode, big, gflops))
        parts += ["", f"## {mode}: sentences/s, batch {big}", ""]
        parts.append(_length_table(by_key, models, lengths, mode, big, lambda r: fmt(r.sentences_per_s, 0)))
    parts += _engine_tables(rep, models, lengths)
    if plot:
        parts += ["", f"![time per batch against length, batch {big}]({plot})"]
    if rep.skipped:
        parts += ["", "## Skipped cells", ""]
        rows = [[s.model, s.mode, str(s.batch_size), str(s.seq_len), s.reason] for s in rep.skipped]
        parts.append(table(["model", "mode", "batch", "length", "reason"], rows, "lllll"))
    return "\n".join(parts) + "\n"


def _engine(record: Any) -> str:
    return getattr(record, "engine", "torch")


def _engine_tables(rep: Any, models: list[str], lengths: list[int]) -> list[str]:
    """Forward cells on every prediction engine side by side (torch, numpy for cnn, ONNX Runtime)."""
    engines = [e for e in ("torch", "numpy", "onnx") if any(_engine(r) == e for r in rep.records)]
    if engines == ["torch"] or not engines:
        return []
    columns = [(m, e) for m in models for e in engines if any(r.model == m and _engine(r) == e for r in rep.records)]
    by_key = {(r.model, _engine(r), r.batch_size, r.seq_len): r for r in rep.records if r.mode == "forward"}
    parts = [
        "",
        "## prediction engines: forward ms per batch",
        "",
        "The same random ids through each engine `textcnn predict` can use: **torch** (the table above), **numpy** "
        "(cnn only, no torch: the embedding folded into lookup tables once, then window sums, masked max, fc) and "
        "**onnx** (ONNX Runtime on the model's `textcnn export`, as many threads as torch).",
    ]
    for batch in rep.config["batch_sizes"]:
        rows = [
            [str(t), *(fmt_ms(by_key[(m, e, batch, t)].median_ms) if (m, e, batch, t) in by_key else "skipped"
                       for m, e in columns)]
            for t in lengths
        ]  # fmt: skip
        parts += ["", f"batch {batch}:", "", table(["length", *(f"{m} {e}" for m, e in columns)], rows)]
    return parts


def _length_table(by_key: dict, models: list[str], lengths: list[int], mode: str, batch: int, cell) -> str:
    """A markdown table: one row per sequence length, one column per model, `cell(record)` or 'skipped'."""
    rows = []
    for t in lengths:
        records = [by_key.get((m, mode, batch, t)) for m in models]
        rows.append([str(t), *(cell(r) if r else "skipped" for r in records)])
    return table(["length", *models], rows)


PEAK_NOTE = (
    '**What "% of peak" means.** The peak is a yardstick, not the hardware\'s limit: the speed of one plain '
    "matrix multiply of the shapes above, in the precision the cells ran in, timed on this machine in this run. "
    "A model can pass 100%: the LSTM's work is a few large GEMMs (the input projection of every time step at "
    "once) and oneDNN's fused recurrent kernels, which can run faster than the reference shapes; and the peak is "
    "timed only at the start and the end of the run, so it does not follow the load of a busy machine in "
    "between. Compare the shares of models with each other, not with 100%."
)
"""The caption of every "% of matmul peak" figure (bench.md; the CLI prints it under its tables)."""


def _plain_ticks(axis, values: Sequence[float] | None = None) -> None:
    """Tick labels as plain numbers (8, 16, 0.5, 2,000), never 2⁴ or 2×10⁰; at `values` when given."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if values is not None:
        axis.set_ticks(list(values))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _wide(values: Sequence[float], ratio: float = 30.0) -> bool:
    """Whether positive values span more than `ratio`x, so that a linear axis would hide the small ones."""
    pos = [v for v in values if v and v > 0]
    return bool(pos) and max(pos) / min(pos) > ratio


def _plot_bench(rep: Any, path: Path, Figure) -> Path:
    big = max(rep.config["batch_sizes"])
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for i, m in enumerate(rep.config["models"]):
        for mode, style in (("forward", "-"), ("train", "--")):
            pts = sorted(
                (r.seq_len, r.median_ms)
                for r in rep.records
                if r.model == m and r.mode == mode and r.batch_size == big and _engine(r) == "torch"
            )
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    marker="o",
                    markersize=3,
                    color=f"C{i % 10}",
                    label=f"{m} {mode}",
                )
    lengths = sorted({r.seq_len for r in rep.records if r.batch_size == big})
    times = [r.median_ms for r in rep.records if r.batch_size == big]
    if _wide(lengths, 8):
        ax.set_xscale("log", base=2)  # doubling lengths: equal steps
    _plain_ticks(ax.xaxis, lengths)
    log_y = _wide(times)
    if log_y:
        ax.set_yscale("log")
    _plain_ticks(ax.yaxis)
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel(f"ms per batch of {big}" + (" (log scale)" if log_y else ""))
    ax.set_title(
        f"Time per batch against length ({rep.machine.get('device', 'cpu')}, {rep.machine.get('threads')} threads)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path


# ---------------------------------------------------------------------------------------------
# compare


def render_compare(report: dict[str, Any], out_dir: str | Path) -> Rendered:
    """report.md, val_acc_vs_time.png and throughput.png from a report.json dict (validated first)."""
    from textcnn.measure.records import CompareReport

    rep = CompareReport.from_dict(report)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = _matplotlib_figure()
    files: list[Path] = []
    plots: list[tuple[str, str]] = []
    if figure is not None:
        files.append(_plot_curves(rep, out / "val_acc_vs_time.png", figure))
        plots.append(("validation accuracy against training time", "val_acc_vs_time.png"))
        files.append(_plot_throughput(rep, out / "throughput.png", figure))
        plots.append(("training and inference throughput", "throughput.png"))
    md = compare_markdown(rep, plots, None if figure is not None else PLOT_NOTE)
    (out / "report.md").write_text(md, encoding="utf-8")
    files.insert(0, out / "report.md")
    return Rendered(files, None if figure is not None else PLOT_NOTE)


def _precision_note(rep: Any) -> str:
    """', precision fp32' (or bf16, or both) from the runs' summaries; '' for reports from before precision."""
    used = sorted({r.summary["precision"] for r in rep.runs if r.summary.get("precision")})
    return f", precision {' and '.join(used)}" if used else ""


def compare_markdown(rep: Any, plots: Sequence[tuple[str, str]] = (), note: str | None = None) -> str:
    c = rep.conditions
    parts = [f"# textcnn compare: {rep.dataset}", "", machine_section(rep.machine), ""]
    stop = f"{c.get('epochs')} epochs" if c.get("max_seconds") is None else f"a {c['max_seconds']:g} s budget per run"
    parts.append(
        f"Every model trained under the same conditions: same data and tokenizer settings, batch size "
        f"{c.get('batch_size')}, {stop}, {len(rep.seeds)} seed(s) ({', '.join(map(str, rep.seeds))}), "
        f"device {c.get('device')}, {c.get('threads') or rep.machine.get('threads')} threads"
        f"{_precision_note(rep)}. Target accuracy {fmt_pct(rep.target)} ({rep.target_source})."
    )
    parts += ["", "## Headlines", ""]
    parts += [f"- {h}" for h in rep.headlines]
    parts += ["", "## Results", "", _compare_results_table(rep)]
    if rep.ratios_vs_lstm:
        parts += _compare_lstm_section(rep)
    if plots or note:
        parts += ["", "## Plots", ""]
        parts += [f"![{alt}]({src})" for alt, src in plots]
        if note:
            parts.append(note)
    parts += ["", "## Runs", "", _compare_runs_table(rep)]
    parts += ["", "## How these numbers were measured", ""]
    parts += [f"- {line}" for line in rep.notes]
    return "\n".join(parts) + "\n"


def _compare_results_table(rep: Any) -> str:
    """One row per model: size, speed, accuracy, time to target, inference and memory."""
    rows = []
    for name in rep.order:
        m = rep.models[name]
        spread = m.epoch_seconds_spread
        epoch = fmt(m.epoch_seconds, 2) + (f" ({spread[0]:.2f}–{spread[1]:.2f})" if len(spread) == 2 else "")
        acc = fmt_pct(m.best_val_accuracy) + (
            f" ± {100 * m.best_val_accuracy_sd:.1f}" if len(m.best_val_accuracies) > 1 else ""
        )
        reached = (
            ""
            if m.reached_target == len(m.best_val_accuracies)
            else f" ({m.reached_target}/{len(m.best_val_accuracies)})"
        )
        rows.append(
            [
                name,
                fmt(m.params),
                epoch,
                fmt(m.examples_per_s, 0),
                acc,
                fmt_pct(m.test_accuracy),
                (fmt(m.time_to_target_s, 1) + " s" if m.time_to_target_s is not None else "never") + reached,
                fmt(m.inference_sentences_per_s, 0),
                f"{fmt_ms(m.latency_p50_ms)} / {fmt_ms(m.latency_p95_ms)}",
                fmt(m.peak_rss_mb, 0),
                fmt(m.achieved_gflops, 2),
            ]
        )
    header = [
        "model",
        "params",
        "epoch s (min–max)",
        "train ex/s",
        "best val acc",
        "test acc",
        f"time to {fmt_pct(rep.target)}",
        f"infer sent/s (batch {rep.inference.get('batch_size')})",
        "latency p50 / p95 ms",
        "peak RSS MB",
        "train GFLOP/s",
    ]
    return table(header, rows)


def _compare_lstm_section(rep: Any) -> list[str]:
    """The "Against the LSTM" section: each model's speed-ups over lstm."""
    rows = [
        [
            name,
            fmt_ratio(r.get("epoch_time")),
            fmt_ratio(r.get("time_to_target")),
            fmt_ratio(r.get("inference_throughput")),
        ]
        for name, r in rep.ratios_vs_lstm.items()
    ]
    return [
        "",
        "## Against the LSTM",
        "",
        "How many times faster than lstm (higher is better for every column).",
        "",
        table(["model", "per epoch", "to target accuracy", "inference throughput"], rows),
    ]


def _compare_runs_table(rep: Any) -> str:
    """One row per training run (model, seed) with its folder."""
    rows = [
        [
            r.model,
            str(r.seed),
            fmt(r.summary.get("epochs_run")),
            fmt_pct(r.summary.get("best_val_accuracy")),
            fmt(r.summary.get("best_epoch")),
            fmt(r.summary.get("train_seconds"), 1),
            fmt(r.summary.get("setup_seconds"), 1),
            f"`{r.run_dir}`",
        ]
        for r in rep.runs
    ]
    return table(
        ["model", "seed", "epochs", "best val", "best epoch", "train s", "setup s", "folder"], rows, "lrrrrrrl"
    )


def _short(dataset: str) -> str:
    """A dataset's name for a plot title: a path's last part, a hub id or preset as is."""
    return Path(dataset.rstrip("/")).name if "/" in dataset and Path(dataset).exists() else dataset


def _plot_curves(rep: Any, path: Path, Figure) -> Path:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    colors = [f"C{i}" for i in range(10)]
    for i, name in enumerate(rep.order):
        first = True
        for r in rep.runs:
            if r.model != name or not r.metrics:
                continue
            xs = [p["train_seconds"] for p in r.metrics]
            ys = [100 * p["val_accuracy"] for p in r.metrics]
            ax.plot(xs, ys, marker="o", markersize=3, color=colors[i % 10], alpha=0.85, label=name if first else None)
            first = False
    ax.axhline(100 * rep.target, color="grey", linestyle=":", linewidth=1, label=f"target {100 * rep.target:.1f}%")
    ax.set_xlabel("training wall-clock seconds")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{_short(rep.dataset)}: validation accuracy against training time")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path


def _plot_throughput(rep: Any, path: Path, Figure) -> Path:
    """Two panels on their own linear axes (training examples/s, inference sentences/s), each bar labelled."""
    fig = Figure(figsize=(8, 4.2))
    names = list(rep.order)
    panels = (
        ("training examples/s", [rep.models[n].examples_per_s or 0.0 for n in names]),
        ("inference sentences/s (batch 512)", [rep.models[n].inference_sentences_per_s or 0.0 for n in names]),
    )
    for k, (title, values) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        bars = ax.bar(range(len(names)), values, 0.6, color=f"C{k}")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names)
        if _wide(values, 100):  # a linear axis would show the slowest as an empty bar
            ax.set_yscale("log")
            title += " (log scale)"
        _plain_ticks(ax.yaxis)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "-" for v in values], fontsize=8)
        ax.margins(y=0.12)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{_short(rep.dataset)}: throughput (higher is better)")
    fig.tight_layout()
    _save(fig, path)
    return path


# ---------------------------------------------------------------------------------------------
# `textcnn report DIR`


def render_dir(out_dir: str | Path) -> Rendered:
    """Re-render a compare (report.json) or bench (bench.json) folder without measuring again."""
    out = Path(out_dir)
    for name, render in ((COMPARE_JSON, render_compare), (BENCH_JSON, render_bench)):
        p = out / name
        if p.is_file():
            try:
                d = json.loads(p.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ReportError(f"{p} is not valid JSON: {e}") from None
            return render(d, out)
    raise ReportError(f"{out} holds neither {COMPARE_JSON} (textcnn compare) nor {BENCH_JSON} (textcnn bench)")
