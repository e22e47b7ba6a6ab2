"""`textcnn train`: train a model into a run folder, with live progress.

Not here: the training loop (textcnn.training), event rendering (display.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import (
    Device,
    ModelName,
    _config,
    console,
    err,
    user_errors,
)


def train(
    dataset: Annotated[
        str | None, typer.Argument(help="Preset (sst2, trec, ...), hub id, or local file/folder.", show_default=False)
    ] = None,
    model: Annotated[ModelName | None, typer.Option("--model", "-m", help="Model: cnn, cnn2d, image2d, lstm.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML file of overrides.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any field: section.key=value (repeatable).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<dataset>-<model>-<time>).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sentences per batch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    device: Annotated[Device | None, typer.Option(help="auto picks cuda, then mps, then cpu.")] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads (default: every core this process may use). On a machine other jobs keep busy, "
            "use --threads 1: oversubscribed cores made a run 10x slower."
        ),
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help="Local copy of the dataset (folder or file).")] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Text column (default: found by name); title+body joins two.")
    ] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (default: found by name).")] = None,
    embeddings: Annotated[
        str | None,
        typer.Option(
            help="Pretrained vectors: a name (glove-6b-50d, word2vec-google-news-300, glove-840b-300, "
            "fasttext-crawl-300) or a file (word2vec .bin/.txt, GloVe, fastText .vec; .gz, .zip)."
        ),
    ] = None,
    autotune: Annotated[
        float | None,
        typer.Option(
            help="Search the settings on the validation split within SECONDS (the whole command), keep the best model."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run folder.")] = None,
) -> None:
    """Train a model and write a run folder.

    Examples:

      textcnn train sst2

      textcnn train trec --model lstm --epochs 5

      textcnn train data/sample_sentiment.csv --set model.feature_maps=50 --out runs/sample

      textcnn train aclImdb/   (a folder of class folders of .txt files: train/pos, train/neg, test/...)

      TEXTCNN_DATA_DIR=../shared/data textcnn train sst2

      textcnn train --resume runs/sst2-cnn-20261125-101500

      textcnn train mr --autotune 300 --embeddings glove-6b-50d
    """
    started = time.monotonic()  # --autotune's budget covers the whole command
    with user_errors():
        if resume is None and dataset is None:
            raise typer.BadParameter("give a DATASET (or --resume RUN)")
        cfg, changes = None, None
        if resume is not None:
            fixed = {"DATASET": dataset, "--model": model, "--config": config, "--out": out, "--batch-size": batch_size,
                     "--seed": seed, "--data": data, "--text-column": text_column, "--label-column": label_column,
                     "--embeddings": embeddings, "--overwrite": overwrite or None}  # fmt: skip
            changes = _resume_changes(resume, fixed, set_, epochs=epochs, threads=threads, device=device)
        else:
            options = _option_overrides(data, text_column, label_column, embeddings, epochs=epochs,
                                        batch_size=batch_size, seed=seed, device=device, threads=threads)  # fmt: skip
            cfg = _config(dataset, model.value if model else None, config, options, set_)
        if autotune is not None:
            if cfg is None:
                raise typer.BadParameter("--autotune starts a new run; it cannot --resume one")
            _autotune(cfg, autotune, out, overwrite, started)
            return
        run_dir = _train_live(cfg, out, overwrite, resume, changes)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 reports
            _print_summary(json.loads((run_dir / "summary.json").read_text()), run_dir)


def _option_overrides(
    data: str | None, text_column: str | None, label_column: str | None, embeddings: str | None, **train
) -> dict:
    """The command-line options as config overrides (None = not given); --embeddings trains them (non-static)."""
    if train.get("device") is not None:
        train["device"] = train["device"].value
    options = {
        "data": {"path": data, "text_column": text_column, "label_column": label_column},
        "model": {"embeddings": embeddings},
        "train": train,
    }
    if embeddings:
        options["model"]["embedding_mode"] = "non-static"
    return options


def _train_live(cfg, out: Path | None, overwrite: bool, resume: Path | None, changes: dict | None) -> Path:
    """Train (or resume) with the live display; Ctrl-C ends with the interruption's message and exit 130."""
    from textcnn.cli.display import TrainDisplay  # typed events: not on `predict`'s import path
    from textcnn.training.trainer import TrainingInterrupted
    from textcnn.training.trainer import train as train_fn

    display = TrainDisplay()
    try:
        with display:
            return train_fn(cfg, out, overwrite=overwrite, resume=resume, callback=display, changes=changes)
    except TrainingInterrupted as e:
        err.print(f"[yellow]{e}[/yellow]")
        raise typer.Exit(130) from None


def _resume_changes(run: Path, fixed: dict, set_: list[str] | None, **options) -> dict:
    """What --resume may change (threads, device, epochs, --set train.checkpoint_every_steps ...); any
    option that would change the run itself is refused in one line."""
    from textcnn.config import ConfigError, parse_set

    refused = [name for name, value in fixed.items() if value is not None]
    if refused:
        raise ConfigError(f"{', '.join(refused)} cannot be given with --resume: {run} continues with its own "
                          "data, model and settings (only --threads, --device, --epochs and --set "
                          "train.checkpoint_every_steps / checkpoint_every_minutes / log_every / max_seconds / max_steps)")  # fmt: skip
    changes = parse_set(set_ or [])
    device = options.pop("device")
    options["device"] = device.value if device else None
    changes.setdefault("train", {}).update({k: v for k, v in options.items() if v is not None})
    return changes


def _autotune(cfg, seconds: float, out: Path | None, overwrite: bool, started: float) -> None:
    """--autotune: one line per trial, then the best run's summary and the gain over the defaults."""
    from textcnn.training.autotune import SUMMARY, autotune

    def on_trial(r: dict) -> None:
        val = f"validation {100 * r['val_accuracy']:.1f}%" if r.get("val_accuracy") is not None else r["state"]
        console.print(f"trial {r['trial']}: {val} · {r['seconds']:.1f} s", highlight=False)

    run_dir = autotune(cfg, seconds, out, overwrite=overwrite, started=started, on_trial=on_trial)
    if int(os.environ.get("RANK", "0")) == 0:
        _print_summary(json.loads((run_dir / "summary.json").read_text()), run_dir)
        console.print(autotune_line(json.loads((run_dir / SUMMARY).read_text())), highlight=False)


def autotune_line(s: dict) -> str:
    """The closing line of --autotune from autotune.json: trials, time, the kept trial, the gain, and why the
    defaults stayed when a trial scored higher within the validation noise."""
    gain = (
        "" if s["gain_val"] is None else f"; {100 * s['gain_val']:+.1f} points of validation accuracy over the defaults"
    )
    c = s.get("choice", {})
    if c.get("kept") == "defaults" and c["gain_val"] > 0:
        gain += (
            f" (trial {c['highest_trial']} scored {100 * c['gain_val']:+.1f} points, within the validation split's"
            f" noise: {_of(c)} needed more than {100 * c['needed']:+.1f})"
        )
    return (
        f"autotune: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned) in {s['seconds']:.0f} s"
        f" of {s['budget_seconds']:g} s; kept trial {s['best_trial']}{' (the defaults)' if s['best_trial'] == 0 else ''}"
        f"{gain}"
    )


def _of(choice: dict) -> str:
    """Who needed the gain: the best of N trials (autotune.json files written before `compared`: "it")."""
    n = choice.get("compared")
    return "it" if n is None else f"the highest of {n} trial{'s' if n != 1 else ''}"


KEPT = {
    "accuracy": "best validation accuracy",
    "loss": "validation accuracy (lowest loss)",
    "last": "validation accuracy (last pass)",
}
"""The summary table's name for the kept validation pass, by train.select_by."""


def _print_summary(summary: dict, run_dir: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['dataset']} · {summary['model']}", show_header=False)
    test = summary.get("test_accuracy")
    rows = [
        (
            KEPT.get(summary.get("select_by"), KEPT["accuracy"]),
            f"{summary['best_val_accuracy']:.4f} (epoch {summary['best_epoch']})",
        ),
        (
            "test accuracy",
            f"{test:.4f}"
            if test is not None
            else (
                "not scored: the test split has no labels (no label column, or -1 as on the hub)"
                if summary.get("has_test")
                else "no test split"
            ),
        ),
        ("parameters", f"{summary['params']:,}"),
        ("epochs", f"{summary['epochs_run']}" + _ended_by(summary)),
        ("training time", f"{summary['train_seconds']:.1f} s (+ {summary['setup_seconds']:.1f} s data)"),
        ("epoch time (median)", f"{summary['epoch_seconds']:.1f} s" if summary.get("epoch_seconds") else "-"),
        ("throughput", f"{summary['examples_per_s']:,.0f} examples/s" if summary.get("examples_per_s") else "-"),
        ("run folder", str(run_dir)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def _ended_by(summary: dict) -> str:
    """What ended training before its last epoch, for the summary table ("" when it ran them all)."""
    if summary.get("stopped_early"):
        return " (early stop)"
    if summary.get("cut_by"):
        return f" (stopped at step {summary['steps']:,} by train.{summary['cut_by']})"
    return ""
