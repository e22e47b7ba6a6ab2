"""`textcnn compare`, `bench` and `report`: measured comparisons and their reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import (
    Device,
    _csv,
    console,
    user_errors,
)
from textcnn.models.registry import NAMES

ALL_MODELS = ",".join(NAMES)


def compare(
    dataset: Annotated[str, typer.Argument(help="Preset (sst2, trec, ...), hub id, or local file/folder.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated models to compare.")] = ALL_MODELS,
    seeds: Annotated[int, typer.Option(help="Seeds per model (accuracy mean ± sd over them).")] = 3,
    epochs: Annotated[int | None, typer.Option(help="Epochs per run (default: the config's).")] = None,
    budget: Annotated[
        float | None, typer.Option(help="Wall-clock training seconds per run (no epoch cap, no early stop).")
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(help="Validation accuracy for time-to-target, 0.85 or 85 (default: the lowest best of any run)."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any field for every model: section.key=value.")
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help="Local copy of the dataset (folder or file).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default runs/<dataset>-compare-<time>).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for every run (default: all cores).")] = None,
    device: Annotated[Device | None, typer.Option(help="Device for every run.")] = None,
    isolate: Annotated[
        bool, typer.Option(help="Train each run in a fresh process (per-model peak memory); --no-isolate is faster.")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing comparison in --out.")] = False,
) -> None:
    """Compare models trained under identical conditions.

    Reports accuracy, time to accuracy, speed and memory.

    Writes report.md, report.json, val_acc_vs_time.png, throughput.png and runs/<model>-seed<k>/.

    Examples:

      textcnn compare sst2 --models cnn,lstm --seeds 3 --epochs 5

      textcnn compare trec --budget 120 --target 0.85

      textcnn report runs/sst2-compare-20261125-101500
    """
    with user_errors():
        from textcnn.config import MODELS
        from textcnn.measure.compare import run_compare
        from textcnn.measure.render import PLOT_NOTE, plots_available, render_compare
        from textcnn.run import new_run_dir

        names = _csv(models, "models", allowed=MODELS)
        if target is not None and target > 1:
            target = target / 100
        out = out or new_run_dir(dataset, "compare")
        from textcnn.cli.display import CompareDisplay  # typed events: not on `predict`'s import path

        with CompareDisplay() as display:
            report = run_compare(
                dataset, names, seeds, epochs=epochs, budget=budget, target=target, sets=set_ or [],
                data_path=data, out_dir=out, threads=threads, device=device.value if device else None,
                callback=display, isolate=isolate, overwrite=overwrite,
            )  # fmt: skip
        render_compare(report.to_dict(), out)
        _print_compare(report)
        console.print(f"report: {out / 'report.md'}")
        if not plots_available():
            console.print(PLOT_NOTE)


def _print_compare(report) -> None:
    from rich.table import Table

    from textcnn.measure.render import fmt, fmt_ms, fmt_pct

    t = Table(title=f"{report.dataset}: {len(report.seeds)} seed(s), target {fmt_pct(report.target)}")
    for col in (
        "model",
        "params",
        "epoch s",
        "train ex/s",
        "best val",
        "test",
        "to target",
        "infer sent/s",
        "p50 ms",
        "peak MB",
    ):
        t.add_column(col, justify="left" if col == "model" else "right")
    for name in report.order:
        m = report.models[name]
        sd = f" ± {100 * m.best_val_accuracy_sd:.1f}" if len(m.best_val_accuracies) > 1 else ""
        t.add_row(
            name, fmt(m.params), fmt(m.epoch_seconds, 2), fmt(m.examples_per_s, 0), fmt_pct(m.best_val_accuracy) + sd,
            fmt_pct(m.test_accuracy), f"{m.time_to_target_s:.1f} s" if m.time_to_target_s is not None else "never",
            fmt(m.inference_sentences_per_s, 0), fmt_ms(m.latency_p50_ms), fmt(m.peak_rss_mb, 0),
        )  # fmt: skip
    console.print(t)
    for line in report.headlines:
        console.print(f"• {line}", highlight=False)


def bench(
    models: Annotated[str, typer.Option("--models", help="Comma-separated models.")] = ALL_MODELS,
    lengths: Annotated[
        str, typer.Option("--lengths", help="Comma-separated sequence lengths.")
    ] = "8,16,32,64,128,256,512",
    batch_sizes: Annotated[str, typer.Option("--batch-sizes", help="Comma-separated batch sizes.")] = "1,32,256",
    repeats: Annotated[int, typer.Option(help="Timed calls per cell (fewer when a cell would take > 0.5 s).")] = 10,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
    device: Annotated[Device, typer.Option(help="Device to time on.")] = Device.cpu,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Model field for every model: model.key=value (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default runs/bench-<time>).")] = None,
) -> None:
    """Time each model's forward and training steps.

    On random ids, across sequence lengths and batch sizes.

    Also measures this machine's fp32 matmul peak and reports each model's GFLOP/s against it. Writes
    bench.md, bench.json and bench.png.

    Examples:

      textcnn bench

      textcnn bench --models cnn,lstm --lengths 16,64,256 --batch-sizes 50 --threads 4
    """
    import time

    with user_errors():
        from textcnn.config import MODELS, ConfigError, parse_set
        from textcnn.measure.bench import run_bench
        from textcnn.measure.render import write_bench
        from textcnn.run import runs_dir
        from textcnn.runtime import select_device

        names = _csv(models, "models", allowed=MODELS)
        overrides = parse_set(set_ or [])
        if set(overrides) - {"model"}:
            raise ConfigError("bench --set takes model.key=value only (the models are timed on random ids)")
        device_name = str(select_device(device.value))
        progress, on_cell = _bench_progress()
        with progress:
            report = run_bench(
                names, _csv(lengths, "lengths", int), _csv(batch_sizes, "batch sizes", int), repeats=repeats,
                threads=threads, device=device_name, model_overrides=overrides.get("model"), progress=on_cell,
            )  # fmt: skip
        out = out or runs_dir() / time.strftime("bench-%Y%m%d-%H%M%S")
        rendered = write_bench(report, out)
        _print_bench(report)
        console.print(f"report: {out / 'bench.md'}")
        if rendered.note:
            console.print(rendered.note)


def _bench_progress():
    """A progress bar (off when not a terminal) and the callback that moves it on each timed cell."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip
    task = progress.add_task("matmul peak", total=None)

    def on_cell(e) -> None:  # a textcnn.events.BenchCell
        what = "skipped" if e.median_ms is None else f"{e.median_ms:.2f} ms"
        progress.update(task, total=e.total, completed=e.index,
                        description=f"{e.model} {e.mode} batch {e.batch_size} length {e.seq_len}: {what}")  # fmt: skip

    return progress, on_cell


def _print_bench(report) -> None:
    from rich.table import Table

    from textcnn.measure.render import fmt_ms

    big = max(report.config["batch_sizes"])
    console.print(f"fp32 matmul peak {report.peak_gflops:,.1f} GFLOP/s on {report.machine['device']}")
    for mode in report.config["modes"]:
        t = Table(title=f"{mode}: ms per batch of {big}")
        t.add_column("length", justify="right")
        for m in report.config["models"]:
            t.add_column(m, justify="right")
        cells = {(r.model, r.seq_len): r for r in report.records if r.mode == mode and r.batch_size == big}
        for length in report.config["lengths"]:
            row = [str(length)]
            for m in report.config["models"]:
                r = cells.get((m, length))
                row.append(f"{fmt_ms(r.median_ms)} ({r.pct_of_peak:.0f}%)" if r else "skipped")
            t.add_row(*row)
        console.print(t)
    console.print(
        "(%): share of the matmul peak in the cells' precision, a yardstick timed in this run, not the hardware's limit; "
        "a model can pass 100% (bench.md says why)",
        highlight=False,
    )
    if report.skipped:
        console.print(f"{len(report.skipped)} cell(s) skipped as too slow (listed in bench.md)")


def report(
    folder: Annotated[Path, typer.Argument(help="A `textcnn compare` or `textcnn bench` output folder.")],
) -> None:
    """Re-render a compare or bench report without measuring again.

    Rewrites report.md / bench.md and the plots from report.json / bench.json.

    Examples:

      textcnn report runs/sst2-compare-20261125-101500
    """
    with user_errors():
        from textcnn.measure.render import render_dir

        rendered = render_dir(folder)
        for f in rendered.files:
            console.print(f"wrote {f}")
        if rendered.note:
            console.print(rendered.note)
