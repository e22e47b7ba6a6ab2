"""The `textcnn` command line: a thin shell over the library.

Each command parses its options, builds a config, calls one library function and renders the
result with rich. Heavy libraries (torch, datasets) are imported inside the commands so that
`textcnn --help` is instant. A user error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from textcnn import __version__

app = typer.Typer(
    name="textcnn",
    help="Convolutional text classification (Kim 2014): train, predict, explain, and compare CNNs with LSTMs.\n\n"
    "Examples:\n\n"
    "  textcnn train sst2\n\n"
    '  textcnn predict latest "a gorgeous, witty film"\n\n'
    "  textcnn compare sst2 --models cnn,lstm",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class ModelName(str, Enum):
    cnn = "cnn"
    cnn2d = "cnn2d"
    image2d = "image2d"
    lstm = "lstm"


class TokenizerKind(str, Enum):
    word = "word"
    bpe = "bpe"
    wordpiece = "wordpiece"
    unigram = "unigram"


def _version(value: bool) -> None:
    if value:
        console.print(f"textcnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log library details to stderr.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


@contextlib.contextmanager
def user_errors():
    """Turn the library's own errors (and missing files) into one line on stderr and exit code 2."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except Exception as e:
        if type(e).__module__.startswith("textcnn.") or type(e).__name__ in ("ConfigError",):
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            err.print(f"error: {msg}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        raise


def _config(dataset, model, config_file, options: dict, sets: list[str] | None):
    from textcnn.config import load_config

    return load_config(dataset=dataset, model=model, config_file=config_file, overrides=options, sets=sets)


# ---------------------------------------------------------------------------------------------
# train


@app.command()
def train(
    dataset: Annotated[
        str | None, typer.Argument(help="Preset (sst2, trec, ...), hub id, or local file/folder.", show_default=False)
    ] = None,
    model: Annotated[ModelName | None, typer.Option("--model", "-m", help="Model: cnn, cnn2d, image2d, lstm.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML file of overrides.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any field: section.key=value (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<dataset>-<model>-<time>).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sentences per batch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    device: Annotated[Device | None, typer.Option(help="auto picks cuda, then mps, then cpu.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Local copy of the dataset (folder or file).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column (default: found by name).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (default: found by name).")] = None,
    embeddings: Annotated[
        Path | None, typer.Option(help="Pretrained vectors (word2vec .bin/.txt, GloVe, fastText .vec, .gz).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run folder.")] = None,
) -> None:
    """Train a model and write a run folder.

    Examples:

      textcnn train sst2

      textcnn train trec --model lstm --epochs 5

      textcnn train data/sample_sentiment.csv --set model.feature_maps=50 --out runs/sample

      TEXTCNN_DATA_DIR=../shared/data textcnn train sst2

      textcnn train --resume runs/sst2-cnn-20261125-101500
    """
    with user_errors():
        from textcnn.train import TrainingInterrupted
        from textcnn.train import train as train_fn

        if resume is None and dataset is None:
            raise typer.BadParameter("give a DATASET (or --resume RUN)")
        if resume is not None:
            cfg = None
        else:
            options = {
                "data": {"path": data, "text_column": text_column, "label_column": label_column},
                "model": {"embeddings": str(embeddings) if embeddings else None},
                "train": {
                    "epochs": epochs,
                    "batch_size": batch_size,
                    "seed": seed,
                    "device": device.value if device else None,
                    "threads": threads,
                },
            }
            if embeddings:
                options["model"]["embedding_mode"] = "non-static"
            cfg = _config(dataset, model.value if model else None, config, options, set_)
        display = TrainDisplay()
        try:
            with display:
                run_dir = train_fn(cfg, out, overwrite=overwrite, resume=resume, callback=display)
        except TrainingInterrupted as e:
            err.print(f"[yellow]{e}[/yellow]")
            raise typer.Exit(130) from None
        summary = json.loads((run_dir / "summary.json").read_text())
        _print_summary(summary, run_dir)


class TrainDisplay:
    """Progress for `train`: a rich bar on a terminal, plain lines otherwise (logs, CI, pipes)."""

    def __init__(self, label: str = "", quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = None
        self.task = None
        self.rank0 = int(os.environ.get("RANK", "0")) == 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        return False

    def _print(self, msg: str) -> None:
        if not self.quiet and self.rank0:
            (self.progress.console if self.progress else console).print(msg, highlight=False)

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "data":
            self._print(f"[bold]data[/bold] {ev['source']} ({ev['seconds']:.1f} s to load and tokenize)")
            for line in ev["lines"]:
                self._print(f"  {line}")
        elif kind == "vectors":
            self._print(f"[bold]vectors[/bold] {ev['summary']}")
        elif kind == "start":
            resumed = f", resumed at step {ev['resumed_from_step']}" if ev.get("resumed_from_step") else ""
            self._print(
                f"[bold]training[/bold] {self.label}{ev['params']:,} parameters on {ev['device']} "
                f"({ev['threads']} threads{', ' + str(ev['world_size']) + ' processes' if ev['world_size'] > 1 else ''})"
                f"{resumed} → {ev['run_dir']}"
            )
            self.steps = ev["steps_per_epoch"]
            if self.live:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self.progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
                self.progress.start()
                self.task = self.progress.add_task("epoch 1", total=self.steps, info="")
        elif kind == "step" and self.progress is not None:
            self.progress.update(
                self.task,
                completed=ev["step"],
                description=f"{self.label}epoch {ev['epoch']}",
                info=f"loss {ev['loss']:.3f}",
            )
        elif kind == "eval":
            tr = ev["train_accuracy"]
            self._print(
                f"{self.label}epoch {ev['epoch']:>3} step {ev['step']:>6}  train loss {ev['train_loss']:.4f} "
                f"acc {tr:.4f}  val loss {ev['val_loss']:.4f} acc {ev['val_accuracy']:.4f}  "
                f"{ev['examples_per_s']:,.0f} ex/s  {ev['train_seconds']:.1f} s"
            )


def _print_summary(summary: dict, run_dir: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['dataset']} · {summary['model']}", show_header=False)
    test = summary.get("test_accuracy")
    rows = [
        ("best validation accuracy", f"{summary['best_val_accuracy']:.4f} (epoch {summary['best_epoch']})"),
        (
            "test accuracy",
            f"{test:.4f}"
            if test is not None
            else ("not scored: the test split has no labels (-1, as on the hub)" if summary.get("has_test") else "no test split"),
        ),
        ("parameters", f"{summary['params']:,}"),
        ("epochs", f"{summary['epochs_run']}" + (" (early stop)" if summary.get("stopped_early") else "")),
        ("training time", f"{summary['train_seconds']:.1f} s (+ {summary['setup_seconds']:.1f} s data)"),
        ("epoch time (median)", f"{summary['epoch_seconds']:.1f} s" if summary.get("epoch_seconds") else "-"),
        ("throughput", f"{summary['examples_per_s']:,.0f} examples/s" if summary.get("examples_per_s") else "-"),
        ("run folder", str(run_dir)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# datasets, tokenize


@app.command()
def datasets() -> None:
    """List the dataset presets (configs/*.toml) with hub id, columns, classes and splits.

    Examples:

      textcnn datasets

      textcnn train rotten_tomatoes
    """
    with user_errors():
        from rich.table import Table

        from textcnn.data import list_presets

        table = Table(title="dataset presets")
        for col in ("name", "hub id", "text", "label", "classes", "splits"):
            table.add_column(col)
        for p in list_presets():
            classes = p.get("classes") or []
            shown = ", ".join(classes[:6]) + (f", … ({len(classes)})" if len(classes) > 6 else "")
            table.add_row(
                p["name"], p.get("hub_id") or "", p.get("text_column") or "", p.get("label_column") or "",
                shown, ", ".join(p.get("splits") or []),
            )  # fmt: skip
        console.print(table)
        local = os.environ.get("TEXTCNN_DATA_DIR")
        console.print(
            f"local copies: TEXTCNN_DATA_DIR={local}" if local else "local copies: set TEXTCNN_DATA_DIR or pass --data PATH"
        )


@app.command()
def tokenize(
    dataset: Annotated[str, typer.Argument(help="Preset, hub id, or local file/folder.")],
    tokenizer: Annotated[TokenizerKind | None, typer.Option("--tokenizer", "-t", help="Tokenizer kind.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="Use an existing tokenizer.json instead.")] = None,
    vocab_size: Annotated[int | None, typer.Option(help="Vocabulary size (subword tokenizers).")] = None,
    min_frequency: Annotated[int | None, typer.Option(help="Minimum word count.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Truncation length to report against.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write tokenizer.json.")] = Path("tokenizer.json"),
    data: Annotated[str | None, typer.Option("--data", help="Local copy of the dataset.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any field: section.key=value.")] = None,
) -> None:
    """Train (or load) a tokenizer, write tokenizer.json and show the statistics that guide settings.

    Examples:

      textcnn tokenize sst2

      textcnn tokenize sst2 --tokenizer bpe --vocab-size 8000 --out bpe.json
    """
    with user_errors():
        from rich.table import Table

        from textcnn.train import tokenize_report

        kind = str(from_file) if from_file else (tokenizer.value if tokenizer else None)
        options = {
            "data": {"path": data, "text_column": text_column, "label_column": label_column},
            "tokenizer": {"kind": kind, "vocab_size": vocab_size, "min_frequency": min_frequency, "max_length": max_length},
        }
        cfg = _config(dataset, None, None, options, set_)
        stats = tokenize_report(cfg, out)
        console.print(f"[bold]{cfg.tokenizer.kind}[/bold] tokenizer, vocabulary {stats['vocab_size']:,} → {out}")
        table = Table(title=f"token lengths (max_length {stats['max_length']})")
        for col in ("split", "examples", "tokens", "unknown", "p50", "p90", "p95", "p99", "max", "truncated"):
            table.add_column(col, justify="right")
        for name, s in stats["splits"].items():
            table.add_row(
                name, f"{s['examples']:,}", f"{s['tokens']:,}", f"{s['unk_rate']:.2%}",
                *(f"{s[k]:.0f}" for k in ("length_p50", "length_p90", "length_p95", "length_p99", "length_max")),
                f"{s['truncated']:,}",
            )  # fmt: skip
        console.print(table)
        for ex in stats["examples"]:
            console.print(f"  {ex['text'][:80]!r}", highlight=False)
            console.print(f"    → {' '.join(ex['tokens'])}", highlight=False, markup=False)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
