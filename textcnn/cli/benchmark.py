"""`textcnn benchmark`: the standard suite against fastText and Kim (2014), with a progress display.

Not here: the protocol, the runs and the summary (textcnn.measure.benchmark), rendering
(textcnn.measure.render_benchmark).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import _csv, console, err, user_errors


class BenchmarkDisplay:
    """One line per finished run: which dataset, fold, seed, system; its accuracy; elapsed and ETA.
    On a terminal a status line also shows the run in progress."""

    def __init__(self) -> None:
        self.status = None

    def __enter__(self):
        if console.is_terminal:
            self.status = console.status("benchmark: starting")
            self.status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, e) -> None:
        where = f"{e.dataset}" + (f" fold {e.fold + 1}/{e.folds}" if e.fold is not None else "") + f" seed {e.seed}"
        what = f"{e.system} {e.variant}"
        eta = "" if e.eta is None else f" · ETA {_duration(e.eta)}"
        head = f"[{e.index}/{e.total}] {where} · {what}"
        if e.accuracy is None:
            if self.status is not None:
                self.status.update(f"{head} · elapsed {_duration(e.elapsed)}{eta}")
            return
        reused = " (reused)" if e.reused else ""
        console.print(
            f"{head} · {100 * e.accuracy:.1f}%{reused} · elapsed {_duration(e.elapsed)}{eta}", highlight=False
        )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def benchmark(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Folder names under --data-dir, or anything `train` accepts (default: the suite found there).",
            show_default=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder holding the sets (default: $TEXTCNN_DATA_DIR).")
    ] = None,
    models: Annotated[str, typer.Option("--models", help="Comma-separated textcnn models.")] = "cnn",
    seeds: Annotated[int, typer.Option(help="Seeds 0..N-1 per model (median over them).")] = 3,
    folds: Annotated[int, typer.Option(help="K of K-fold cross-validation for sets with only a train split.")] = 10,
    max_folds: Annotated[
        int | None, typer.Option(help="Run only the first N of the K folds (a partial CV; the report says which).")
    ] = None,
    fasttext: Annotated[
        bool,
        typer.Option(
            "--fasttext",
            help="Also train fastText unigram and bigram on the same splits (with model.embeddings set, a "
            "bigram started from the same vectors too).",
        ),
    ] = False,
    autotune: Annotated[
        float | None, typer.Option(help="Tune every textcnn run on its validation split within SECONDS (per run).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads per run (sets train.threads; fastText too).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; finished runs in it are reused.")] = Path(
        "runs/benchmark"
    ),
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any field for every run: section.key=value.")
    ] = None,
) -> None:
    """Run the sentence-classification suite: textcnn beside fastText and Kim (2014).

    Protocol per set: the test split when it has labels, else a labelled validation split, else
    stratified 10-fold cross-validation; model selection only on validation rows held out of training.

    Writes benchmark.md, benchmark.json, benchmark.png, records.jsonl, splits/ and runs/ into --out.
    Run it again with the same settings to reuse finished runs (an interrupted benchmark continues).

    Examples:

      textcnn benchmark --data-dir ../shared/data --fasttext

      textcnn benchmark mr trec --seeds 1 --folds 5 --threads 1

      textcnn benchmark mr --set model.embedding_mode=non-static --set model.embeddings=glove-6b-50d
    """
    with user_errors():
        from textcnn.measure.benchmark import (
            FASTTEXT_INSTALL,
            default_data_dir,
            fasttext_available,
            find_datasets,
            folds_note,
            run_benchmark,
            summarize,
            write_records,
        )
        from textcnn.measure.render_benchmark import BENCHMARK_MD, render_benchmark
        from textcnn.models.registry import NAMES

        if fasttext and not fasttext_available():
            err.print(f"error: {FASTTEXT_INSTALL}", markup=False, highlight=False)
            raise typer.Exit(2)
        names = _csv(models, "models", allowed=NAMES)
        root = str(data_dir) if data_dir is not None else default_data_dir()
        chosen = list(datasets) if datasets else find_datasets(root)
        sets = list(set_ or []) + ([f"train.threads={threads}"] if threads else [])
        with BenchmarkDisplay() as display:
            result = run_benchmark(
                chosen, out, data_dir=root, models=names, seeds=seeds, folds=folds, fasttext=fasttext,
                autotune=autotune, sets=sets, max_folds=max_folds, callback=display,
            )  # fmt: skip
        summary = summarize(result)
        mode = next(
            (s.split("=", 1)[1] for s in sets if s.replace(" ", "").startswith("model.embedding_mode=")), "rand"
        )
        kim_variant = mode.replace("-", "")
        command = "textcnn " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
        note = folds_note(result)
        rendered = render_benchmark(
            summary, out, command=command, kim_variant=kim_variant, notes=[note] if note else []
        )
        write_records(result, out / "records.jsonl")
        console.print(f"report: {out / BENCHMARK_MD}")
        if rendered.note:
            console.print(rendered.note)
