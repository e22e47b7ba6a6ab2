"""`textcnn predict`, `evaluate`, `explain`, `filters`: using a trained run."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import (
    Device,
    Engine,
    JsonFormat,
    OnError,
    OutputFormat,
    RunArg,
    _predictor,
    _short,
    console,
    err,
    user_errors,
)
from textcnn.cli.table import print_table, printable


def predict(
    run: RunArg,
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Texts to classify (or --file, or pipe lines on stdin).", show_default=False),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="One text per line, UTF-8; a csv / tsv / json / jsonl / parquet table; or a folder of text "
            "files, one text a file; '-' reads stdin.",
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            help="The text column of a --file table (default: the run's, or text, sentence, ...); title+body joins two."
        ),
    ] = None,
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
        OnError,
        typer.Option(
            case_sensitive=False,
            help="A line that cannot be read (not UTF-8, not a JSON record, a csv row with more fields than "
            "the header): skip it with a warning, or stop.",
        ),
    ] = OnError.skip,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batch (sorted by length).")] = 512,
    device: Annotated[
        Device | None, typer.Option(help="auto: the CPU for numpy and ONNX, else cuda, then cpu (torch).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads (default: numpy the usable cores, ONNX 1, torch its own; 1 on a busy machine)."),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            case_sensitive=False,
            help="auto: numpy for cnn runs (no torch), ONNX Runtime for export folders, torch otherwise.",
        ),
    ] = Engine.auto,
) -> None:
    """Classify texts with a trained run.

    A table for TEXT arguments; records (jsonl, json or csv) for a file or stdin.

    Examples:

      textcnn predict latest "a gorgeous, witty film" "a dull mess"

      textcnn predict runs/sst2-cnn-20261125-101500 --file reviews.txt --format csv -o out.csv

      cat reviews.txt | textcnn predict sst2 > predictions.jsonl

      textcnn predict latest --file test.csv   (a table: its text column, one record per row)

      textcnn predict latest --file aclImdb/test/   (a folder: one record per text file, named in "file")

      textcnn predict exported/ "a dull mess"   (a `textcnn export` folder, on ONNX Runtime)
    """
    with user_errors():
        from textcnn.inference.io import predict_file, write_predictions

        if texts and file:
            raise typer.BadParameter("give TEXT arguments or --file, not both")
        if text_column and not file:
            raise typer.BadParameter("--text-column names the text column of a --file table")
        if not texts and file is None:
            if sys.stdin.isatty():
                raise typer.BadParameter("give TEXT arguments, --file PATH, or pipe lines on stdin")
            file = "-"
        predictor = _predictor(run, device, threads, engine)
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(open(out, "w", encoding="utf-8", newline="")) if out else sys.stdout
            if file is not None:
                summary = predict_file(
                    predictor, file, sink, fmt=(format_ or OutputFormat.jsonl).value, top_k=top_k,
                    on_error=on_error.value, batch_size=batch_size, text_column=text_column,
                )  # fmt: skip
                _print_file_summary(summary, file, out)
                return
            preds = predictor.predict(texts, top_k=top_k)
            if format_ is not None:
                write_predictions(preds, sink, format_.value, label_names=predictor.label_names, top=top_k is not None)
                return
        _print_predictions(preds, top_k)


def _print_file_summary(summary, file: str, out: Path | None) -> None:
    """On stderr: skipped (not UTF-8, not a JSON record) and empty lines, an empty input, where the records went."""
    if summary.skipped_lines:
        shown = ", ".join(map(str, summary.skipped_lines[:10]))
        n = len(summary.skipped_lines)
        err.print(f"skipped {n} line{'s' if n > 1 else ''} that could not be read: {shown}", highlight=False)
    if summary.empty:
        err.print(f'{summary.empty} empty texts were predicted from padding alone ("empty": true)')
    if summary.written == 0 and not summary.skipped_lines:
        from textcnn.inference.io import table_suffix

        what = "rows" if file != "-" and table_suffix(Path(file)) else "lines"  # a table with a header alone
        err.print(f"note: {'stdin' if file == '-' else file} holds no {what}; nothing to predict")
    if out:
        err.print(f"{summary.written:,} predictions → {out}")


def _print_predictions(preds: list, top_k: int | None) -> None:
    """The table of TEXT arguments' predictions (with the top K when asked), then any per-text notes.
    Drawn without rich (cli/table.py: its import was a tenth of a cold prediction); the texts and labels
    are the user's, shown as written (markup is not read, control characters are not sent)."""
    headers = ["text", "label", "probability"] + ([f"top {top_k}"] if top_k else [])
    rows = []
    for p in preds:
        row = [_short(p.text), p.label, f"{p.probability:.3f}"]
        if top_k:
            row.append(", ".join(f"{name} {prob:.3f}" for name, prob in p.top))
        rows.append(row)
    print_table(headers, rows, right=[2])
    for i, p in enumerate(preds, start=1):
        if p.note:
            err.print(f"note: text {i}: {p.note}", markup=False, highlight=False)


def evaluate(
    run: RunArg,
    dataset: Annotated[
        str | None,
        typer.Argument(
            help="Another dataset with the same labels, as --data (default: the run's).", show_default=False
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Another dataset with the same labels (default: the run's).")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Split to score (default: test if labelled, else validation).")
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column of --data (default: found by name).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column of --data (default: found by name).")] = None,
    format_: Annotated[
        JsonFormat | None, typer.Option("--format", case_sensitive=False, help="json: print the report as JSON.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batch.")] = 512,
    device: Annotated[Device | None, typer.Option(help="auto picks cuda, then cpu.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
) -> None:
    """Score a run on a labelled split.

    Accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix, with the split
    and the data source they came from.

    Examples:

      textcnn evaluate latest

      textcnn evaluate runs/sst2-cnn-20261125-101500 --split validation --format json

      textcnn evaluate latest other_reviews.csv   (or --data other_reviews.csv)
    """
    with user_errors():
        from textcnn.inference.evaluate import evaluate_run

        if dataset is not None and data is not None and dataset != data:
            raise typer.BadParameter(f"give the dataset once: {dataset!r} or --data {data!r}")
        data = data or dataset
        if data is None and (text_column or label_column):
            raise typer.BadParameter("--text-column / --label-column name the columns of --data")
        report = evaluate_run(
            _predictor(run, device, threads), data_path=data, split=split, batch_size=batch_size,
            text_column=text_column, label_column=label_column,
        )  # fmt: skip
        if format_ is JsonFormat.json:
            console.print_json(data=report.to_dict())
            return
        _print_evaluation(report)


def _print_evaluation(report) -> None:
    """Accuracy and macro-F1, the per-class table and the confusion matrix (label names as plain text)."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console.print(f"split [bold]{escape(report.split)}[/bold] of {escape(str(report.source))}", highlight=False)
    console.print(
        f"accuracy [bold]{report.accuracy:.4f}[/bold]   macro-F1 [bold]{report.macro_f1:.4f}[/bold]   n = {report.n:,}"
    )
    per = Table(title="per class")
    for col in ("label", "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == "label" else "right")
    for name, m in report.per_class.items():
        per.add_row(
            Text(printable(name)), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", f"{m['support']:,}"
        )
    console.print(per)
    console.print("confusion matrix (rows: true, columns: predicted)")
    cm = Table()
    cm.add_column("")
    for name in report.labels:
        cm.add_column(Text(printable(name)), justify="right")
    for name, row in zip(report.labels, report.confusion_matrix, strict=True):
        cm.add_row(Text(printable(name)), *(f"{v:,}" for v in row))
    console.print(cm)


def _colour(score: float, scale: float) -> str:
    """green for evidence for the predicted label, red against, stronger when larger."""
    if scale <= 0 or abs(score) < 0.05 * scale:
        return ""
    strength = "bold " if abs(score) >= 0.5 * scale else ""
    return f"{strength}{'green' if score > 0 else 'red'}"


def explain(
    run: RunArg,
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    top: Annotated[int, typer.Option(min=1, help="N-grams to list.")] = 10,
    format_: Annotated[
        JsonFormat | None, typer.Option("--format", case_sensitive=False, help="json: print the explanation as JSON.")
    ] = None,
) -> None:
    """Show which n-grams decided a prediction.

    Exact contributions for max-pooling CNNs, occlusion estimates otherwise.

    Examples:

      textcnn explain latest "the acting is superb but the plot is a mess"
    """
    with user_errors():
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        from textcnn.errors import ExplainError
        from textcnn.inference.explain import distinct_ngrams, highlight_spans
        from textcnn.inference.explain import explain as explain_fn

        ex = explain_fn(_predictor(run, None, None), text)
        if not ex.tokens:
            raise ExplainError(
                f"nothing to explain: {text!r} has no tokens, so the prediction ({ex.label}) comes from padding alone"
            )
        if format_ is not None:
            console.print_json(data=ex.to_dict())
            return
        probs = ", ".join(f"{k} {v:.3f}" for k, v in ex.probabilities.items())
        console.print(f"[bold]{escape(printable(ex.label))}[/bold] ({escape(printable(probs))})   method: {ex.method}")
        spans = highlight_spans(ex)
        scale = max((abs(s) for _, s in spans), default=0.0)
        line = Text()
        for segment, score in spans:
            line.append(printable(segment, keep="\t\n"), style=_colour(score, scale))
        console.print(line)
        console.print(
            f"n-grams by evidence for '{escape(printable(ex.label))}' (score: what the n-gram adds to the logit of "
            f"'{escape(printable(ex.label))}' "
            "minus the mean logit; of overlapping n-grams that push the same way, only the strongest)",
            soft_wrap=True,
        )
        table = Table()
        for col in ("n-gram", "width", "filters", "score"):
            table.add_column(col, justify="right" if col != "n-gram" else "left")
        for g in distinct_ngrams(ex.ngrams, top):
            table.add_row(
                Text(g.shown(printable(g.text)), style=_colour(g.score, scale)),
                str(g.width), str(len(g.filters)) if g.filters else "-", f"{g.score:+.3f}",
            )  # fmt: skip
        console.print(table)
        if ex.method == "occlusion":
            err.print("note: occlusion scores (drop one token, see the logit change) are estimates, not an exact sum")
        if ex.truncated:
            err.print(f"note: truncated to the first {len(ex.tokens)} tokens")


def filters(
    run: RunArg,
    data: Annotated[str | None, typer.Option("--data", help="Dataset to search (default: the run's own).")] = None,
    split: Annotated[str, typer.Option(help="Split to search (a --data file of one split: its rows).")] = "validation",
    text_column: Annotated[str | None, typer.Option(help="Text column of --data (default: found by name).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column of --data (default: found by name).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Filters to show.")] = 10,
    per_filter: Annotated[int, typer.Option(min=1, help="N-grams per filter.")] = 5,
    max_texts: Annotated[int, typer.Option(min=1, help="Search at most this many texts.")] = 20000,
) -> None:
    """Show what the most important learned filters detect.

    For each filter, the n-grams that activate it most and the class it pushes towards.

    Examples:

      textcnn filters latest --top 10

      textcnn filters runs/sst2-cnn-20261125-101500 --data reviews.csv --split train
    """
    with user_errors():
        from rich.table import Table
        from rich.text import Text

        from textcnn.inference.explain import filter_texts, top_filters

        predictor = _predictor(run, None, None)
        if data is None and (text_column or label_column):
            raise typer.BadParameter("--text-column / --label-column name the columns of --data")
        texts = filter_texts(
            predictor, data_path=data, split=split, limit=max_texts, text_column=text_column, label_column=label_column
        )
        reports = top_filters(predictor, texts, top=top, per_filter=per_filter)
        console.print(
            f"top {len(reports)} filters on {len(texts):,} texts (importance: mean activation × class spread of fc "
            "weights). pushes towards: the label whose logit the filter raises most when it fires (its classifier "
            "weight minus the mean over labels); texts predicted: what the run predicts for the texts of those "
            "n-grams, where other words can outweigh the filter",
            soft_wrap=True,
        )
        table = Table()
        for col in ("filter", "width", "pushes towards", "importance", "top n-grams (activation)", "texts predicted"):
            table.add_column(col, justify="right" if col in ("filter", "width", "importance") else "left")
        for r in reports:
            grams = "; ".join(f"{g.text} ({g.activation:.2f})" for g in r.ngrams)
            votes = ", ".join(f"{k} {v}" for k, v in r.predicted.items())
            table.add_row(str(r.filter), str(r.width), Text(printable(r.favours)), f"{r.importance:.3f}",
                          Text(printable(grams)), Text(printable(votes)))  # fmt: skip
        console.print(table)
