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
err = Console(stderr=True, soft_wrap=True)  # an error stays on one line, whatever the width


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
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
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
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<dataset>-<model>-<time>).")
    ] = None,
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
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 reports
            _print_summary(json.loads((run_dir / "summary.json").read_text()), run_dir)


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
            else (
                "not scored: the test split has no labels (-1, as on the hub)"
                if summary.get("has_test")
                else "no test split"
            ),
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
            f"local copies: TEXTCNN_DATA_DIR={local}"
            if local
            else "local copies: set TEXTCNN_DATA_DIR or pass --data PATH"
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
            "tokenizer": {
                "kind": kind,
                "vocab_size": vocab_size,
                "min_frequency": min_frequency,
                "max_length": max_length,
            },
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


# ---------------------------------------------------------------------------------------------
# predict, evaluate, explain, filters


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"


class OnError(str, Enum):
    skip = "skip"
    stop = "stop"


RunArg = Annotated[str, typer.Argument(help="Run folder, 'latest', or a dataset name (its newest run).")]


def _predictor(run: str, device: Device | None, threads: int | None):
    import torch

    from textcnn.predict import Predictor

    if threads:
        torch.set_num_threads(threads)
    name = device.value if device else "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return Predictor.from_run(run, device=name)


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def predict(
    run: RunArg,
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Texts to classify (or --file, or pipe lines on stdin).", show_default=False),
    ] = None,
    file: Annotated[str | None, typer.Option("--file", "-f", help="One text per line, UTF-8; '-' reads stdin.")] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", min=1, help="Also show the K most probable labels.")
    ] = None,
    format_: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="Write records with every class probability (default for --file: jsonl).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the records to this file (default: stdout).")
    ] = None,
    on_error: Annotated[
        OnError, typer.Option(case_sensitive=False, help="A line that is not UTF-8: skip it with a warning, or stop.")
    ] = OnError.skip,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batch (sorted by length).")] = 512,
    device: Annotated[Device | None, typer.Option(help="auto picks cuda, then cpu.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
) -> None:
    """Classify texts with a trained run: a table for TEXT arguments, records for a file or stdin.

    Examples:

      textcnn predict latest "a gorgeous, witty film" "a dull mess"

      textcnn predict runs/sst2-cnn-20261125-101500 --file reviews.txt --format csv -o out.csv

      cat reviews.txt | textcnn predict sst2 > predictions.jsonl
    """
    with user_errors():
        from textcnn.predict import predict_file, write_predictions

        if texts and file:
            raise typer.BadParameter("give TEXT arguments or --file, not both")
        if not texts and file is None:
            if sys.stdin.isatty():
                raise typer.BadParameter("give TEXT arguments, --file PATH, or pipe lines on stdin")
            file = "-"
        predictor = _predictor(run, device, threads)
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(open(out, "w", encoding="utf-8", newline="")) if out else sys.stdout
            if file is not None:
                summary = predict_file(
                    predictor, file, sink, fmt=(format_ or OutputFormat.jsonl).value, top_k=top_k,
                    on_error=on_error.value, batch_size=batch_size,
                )  # fmt: skip
                if summary.skipped_lines:
                    shown = ", ".join(map(str, summary.skipped_lines[:10]))
                    err.print(
                        f"skipped {len(summary.skipped_lines)} lines that are not UTF-8: {shown}", highlight=False
                    )
                if summary.empty:
                    err.print(f'{summary.empty} empty lines were predicted from padding alone ("empty": true)')
                if out:
                    err.print(f"{summary.written:,} predictions → {out}")
                return
            preds = predictor.predict(texts, top_k=top_k)
            if format_ is not None:
                write_predictions(preds, sink, format_.value, label_names=predictor.label_names, top=top_k is not None)
                return
        from rich.table import Table

        table = Table(show_lines=False)
        table.add_column("text")
        table.add_column("label")
        table.add_column("probability", justify="right")
        if top_k:
            table.add_column(f"top {top_k}")
        for p in preds:
            row = [_short(p.text), p.label, f"{p.probability:.3f}"]
            if top_k:
                row.append(", ".join(f"{name} {prob:.3f}" for name, prob in p.top))
            table.add_row(*row)
        console.print(table)
        for i, p in enumerate(preds, start=1):
            if p.note:
                err.print(f"note: text {i}: {p.note}", highlight=False)


@app.command()
def evaluate(
    run: RunArg,
    data: Annotated[
        str | None, typer.Option("--data", help="Another dataset with the same labels (default: the run's).")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Split to score (default: test if labelled, else validation).")
    ] = None,
    format_: Annotated[
        OutputFormat | None, typer.Option("--format", case_sensitive=False, help="json: print the report as JSON.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batch.")] = 512,
    device: Annotated[Device | None, typer.Option(help="auto picks cuda, then cpu.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
) -> None:
    """Score a run on a labelled split: accuracy, macro-F1, per-class P/R/F1 and the confusion matrix.

    Examples:

      textcnn evaluate latest

      textcnn evaluate runs/sst2-cnn-20261125-101500 --split validation --format json

      textcnn evaluate latest --data other_reviews.csv
    """
    with user_errors():
        from rich.table import Table

        from textcnn.predict import evaluate_run

        if format_ not in (None, OutputFormat.json):
            raise typer.BadParameter("evaluate writes --format json only")
        report = evaluate_run(_predictor(run, device, threads), data_path=data, split=split, batch_size=batch_size)
        if format_ is OutputFormat.json:
            console.print_json(data=report.to_dict())
            return
        console.print(
            f"accuracy [bold]{report.accuracy:.4f}[/bold]   macro-F1 [bold]{report.macro_f1:.4f}[/bold]   n = {report.n:,}"
        )
        per = Table(title="per class")
        for col in ("label", "precision", "recall", "F1", "support"):
            per.add_column(col, justify="left" if col == "label" else "right")
        for name, m in report.per_class.items():
            per.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", f"{m['support']:,}")
        console.print(per)
        cm = Table(title="confusion matrix (rows: true, columns: predicted)")
        cm.add_column("")
        for name in report.labels:
            cm.add_column(name, justify="right")
        for name, row in zip(report.labels, report.confusion_matrix, strict=True):
            cm.add_row(name, *(f"{v:,}" for v in row))
        console.print(cm)


def _colour(score: float, scale: float) -> str:
    """green for evidence for the predicted label, red against, stronger when larger."""
    if scale <= 0 or abs(score) < 0.05 * scale:
        return ""
    strength = "bold " if abs(score) >= 0.5 * scale else ""
    return f"{strength}{'green' if score > 0 else 'red'}"


@app.command()
def explain(
    run: RunArg,
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    top: Annotated[int, typer.Option(min=1, help="N-grams to list.")] = 10,
    format_: Annotated[
        OutputFormat | None, typer.Option("--format", case_sensitive=False, help="json: print the explanation as JSON.")
    ] = None,
) -> None:
    """Show which n-grams decided a prediction (exact for max-pooling CNNs, occlusion otherwise).

    Examples:

      textcnn explain latest "the acting is superb but the plot is a mess"
    """
    with user_errors():
        from rich.table import Table
        from rich.text import Text

        from textcnn.explain import explain as explain_fn
        from textcnn.explain import highlight_spans

        ex = explain_fn(_predictor(run, None, None), text)
        if format_ is not None:
            console.print_json(data=ex.to_dict())
            return
        probs = ", ".join(f"{k} {v:.3f}" for k, v in ex.probabilities.items())
        console.print(f"[bold]{ex.label}[/bold] ({probs})   method: {ex.method}")
        spans = highlight_spans(ex)
        scale = max((abs(s) for _, s in spans), default=0.0)
        line = Text()
        for segment, score in spans:
            line.append(segment, style=_colour(score, scale))
        console.print(line)
        table = Table(title=f"n-grams by evidence for '{ex.label}' (score: logit of '{ex.label}' minus the mean logit)")
        for col in ("n-gram", "width", "filters", "score"):
            table.add_column(col, justify="right" if col != "n-gram" else "left")
        for g in ex.ngrams[:top]:
            table.add_row(
                Text(g.text + (" [pad]" if g.padded else ""), style=_colour(g.score, scale)),
                str(g.width), str(len(g.filters)) if g.filters else "-", f"{g.score:+.3f}",
            )  # fmt: skip
        console.print(table)
        if ex.method == "occlusion":
            err.print("note: occlusion scores (drop one token, see the logit change) are estimates, not an exact sum")
        if ex.truncated:
            err.print(f"note: truncated to the first {len(ex.tokens)} tokens")


@app.command()
def filters(
    run: RunArg,
    data: Annotated[str | None, typer.Option("--data", help="Dataset to search (default: the run's own).")] = None,
    split: Annotated[str, typer.Option(help="Split to search.")] = "validation",
    top: Annotated[int, typer.Option(min=1, help="Filters to show.")] = 10,
    per_filter: Annotated[int, typer.Option(min=1, help="N-grams per filter.")] = 5,
    max_texts: Annotated[int, typer.Option(min=1, help="Search at most this many texts.")] = 20000,
) -> None:
    """Show what the most important learned filters detect: the n-grams that activate them most.

    Examples:

      textcnn filters latest --top 10

      textcnn filters runs/sst2-cnn-20261125-101500 --data reviews.csv --split train
    """
    with user_errors():
        from rich.table import Table

        from textcnn.explain import filter_texts, top_filters

        predictor = _predictor(run, None, None)
        texts = filter_texts(predictor, data_path=data, split=split, limit=max_texts)
        reports = top_filters(predictor, texts, top=top, per_filter=per_filter)
        table = Table(
            title=f"top {len(reports)} filters on {len(texts):,} texts (importance: mean activation × class spread of fc weights)"
        )
        for col in ("filter", "width", "favours", "importance", "top n-grams (activation)"):
            table.add_column(col, justify="right" if col in ("filter", "width", "importance") else "left")
        for r in reports:
            grams = "; ".join(f"{g.text} ({g.activation:.2f})" for g in r.ngrams)
            table.add_row(str(r.filter), str(r.width), r.favours, f"{r.importance:.3f}", grams)
        console.print(table)


# ---------------------------------------------------------------------------------------------
# compare, bench, report


def _csv(value: str, what: str, cast=str, allowed: tuple[str, ...] | None = None) -> list:
    """'cnn,lstm' -> ['cnn', 'lstm'], checked; a bad item is a one-line usage error."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise typer.BadParameter(f"{what} must be a comma-separated list")
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise typer.BadParameter(f"unknown {what} {', '.join(bad)}; valid: {', '.join(allowed)}")
    try:
        return [cast(v) for v in items]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated numbers, got {value!r}") from None


ALL_MODELS = "cnn,cnn2d,image2d,lstm"


class CompareDisplay:
    """Progress for `compare`: which run of how many, then train's own display for that run."""

    def __init__(self):
        self.inner: TrainDisplay | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.inner is not None:
            self.inner.__exit__(*exc)
        return False

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "prepare":
            console.print(f"[bold]compare[/bold] loading and tokenizing {ev['dataset']} once for every run")
        elif kind == "run_start":
            if self.inner is not None:
                self.inner.__exit__(None, None, None)
            console.print(
                f"[bold]run {ev['run']}/{ev['runs']}[/bold]: {ev['model']} seed {ev['seed']} → {ev['run_dir']}"
            )
            self.inner = TrainDisplay(label=f"{ev['model']} s{ev['seed']} ")
        elif kind == "run_end":
            if self.inner is not None:
                self.inner.__exit__(None, None, None)
                self.inner = None
        elif kind == "inference":
            console.print(f"[bold]inference[/bold] {ev['model']}: throughput at batch 512 and single-sentence latency")
        elif kind != "data" and self.inner is not None:  # data lines were already shown by `prepare`
            self.inner(ev)


@app.command()
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
    """Train several models under identical conditions; report accuracy, time to accuracy, speed and memory.

    Writes report.md, report.json, val_acc_vs_time.png, throughput.png and runs/<model>-seed<k>/.

    Examples:

      textcnn compare sst2 --models cnn,lstm --seeds 3 --epochs 5

      textcnn compare trec --budget 120 --target 0.85

      textcnn report runs/sst2-compare-20261125-101500
    """
    with user_errors():
        from textcnn.compare import run_compare
        from textcnn.config import MODELS
        from textcnn.report import PLOT_NOTE, plots_available
        from textcnn.run import new_run_dir

        names = _csv(models, "models", allowed=MODELS)
        if target is not None and target > 1:
            target = target / 100
        out = out or new_run_dir(dataset, "compare")
        with CompareDisplay() as display:
            report = run_compare(
                dataset, names, seeds, epochs=epochs, budget=budget, target=target, sets=set_ or [],
                data_path=data, out_dir=out, threads=threads, device=device.value if device else None,
                callback=display, isolate=isolate, overwrite=overwrite,
            )  # fmt: skip
        _print_compare(report)
        console.print(f"report: {out / 'report.md'}")
        if not plots_available():
            console.print(PLOT_NOTE)


def _print_compare(report) -> None:
    from rich.table import Table

    from textcnn.report import fmt, fmt_ms, fmt_pct

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


@app.command()
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
    """Time forward and training steps of each model on random ids across lengths and batch sizes.

    Also measures this machine's fp32 matmul peak and reports each model's GFLOP/s against it. Writes
    bench.md, bench.json and bench.png.

    Examples:

      textcnn bench

      textcnn bench --models cnn,lstm --lengths 16,64,256 --batch-sizes 50 --threads 4
    """
    import time

    with user_errors():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from textcnn.bench import run_bench
        from textcnn.config import MODELS, ConfigError, parse_set
        from textcnn.report import write_bench
        from textcnn.run import runs_dir

        names = _csv(models, "models", allowed=MODELS)
        overrides = parse_set(set_ or [])
        if set(overrides) - {"model"}:
            raise ConfigError("bench --set takes model.key=value only (the models are timed on random ids)")
        device_name = (
            "cuda" if device == Device.auto and _cuda() else ("cpu" if device == Device.auto else device.value)
        )
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        )  # fmt: skip
        task = progress.add_task("matmul peak", total=None)

        def on_cell(ev: dict) -> None:
            what = "skipped" if "skipped" in ev else f"{ev['record']['median_ms']:.2f} ms"
            progress.update(task, total=ev["total"], completed=ev["index"],
                            description=f"{ev['model']} {ev['mode']} batch {ev['batch_size']} length {ev['seq_len']}: {what}")  # fmt: skip

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


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _print_bench(report) -> None:
    from rich.table import Table

    from textcnn.report import fmt_ms

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
    if report.skipped:
        console.print(f"{len(report.skipped)} cell(s) skipped as too slow (listed in bench.md)")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A `textcnn compare` or `textcnn bench` output folder.")],
) -> None:
    """Re-render report.md / bench.md and the plots from report.json / bench.json, without measuring again.

    Examples:

      textcnn report runs/sst2-compare-20261125-101500
    """
    with user_errors():
        from textcnn.report import render_dir

        rendered = render_dir(folder)
        for f in rendered.files:
            console.print(f"wrote {f}")
        if rendered.note:
            console.print(rendered.note)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
