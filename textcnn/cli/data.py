"""`textcnn datasets` and `textcnn tokenize`: what data and tokenizers look like before training."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import (
    TokenizerKind,
    _config,
    console,
    user_errors,
)


def datasets() -> None:
    """List the dataset presets and where their data would come from.

    Each preset (configs/*.toml) with its hub id, columns, classes and splits, and whether
    $TEXTCNN_DATA_DIR holds a local copy.

    Examples:

      textcnn datasets

      textcnn train rotten_tomatoes
    """
    with user_errors():
        from rich.table import Table

        from textcnn.data.sources import _data_dir_candidates, data_dir_problem, list_presets

        local = os.environ.get("TEXTCNN_DATA_DIR")
        table = Table(title="dataset presets")
        table.add_column("name", no_wrap=True)
        table.add_column("hub id", overflow="fold")  # never cut: a hub id is something to copy
        for col in ("text", "label", "classes", "splits"):
            table.add_column(col)
        if local:
            table.add_column("in TEXTCNN_DATA_DIR", overflow="fold")
        for p in list_presets():
            classes = p.get("classes") or []
            shown = ", ".join(classes[:6]) + (f", … ({len(classes)})" if len(classes) > 6 else "")
            row = [
                p["name"], p.get("hub_id") or "", p.get("text_column") or "", p.get("label_column") or "",
                shown, ", ".join(p.get("splits") or []),
            ]  # fmt: skip
            if local:
                row.append(p["local"] or f"missing ({_data_dir_candidates([p['name']])[0]})")
            table.add_row(*row)
        console.print(table)
        problem = data_dir_problem()
        if problem:
            console.print(f"local copies: {problem}", highlight=False)
        elif local:
            console.print(f"local copies: TEXTCNN_DATA_DIR={local} ({Path(local).expanduser().absolute()})")
            root = Path(local).expanduser().resolve()
            found = [Path(p["local"]).resolve() for p in list_presets() if p["local"]]
            copies = {q.relative_to(root).parts[0] for q in found if q.is_relative_to(root)}  # SST/ for SST/binary
            others = sorted(d.name for d in root.iterdir()
                            if d.is_dir() and not d.name.startswith(".") and d.name not in copies)  # fmt: skip
            if others:
                console.print(f"also there, not presets (`textcnn train {others[0]}` reads one; columns found by name): "
                              f"{', '.join(others)}", highlight=False)  # fmt: skip
        else:
            console.print("local copies: set TEXTCNN_DATA_DIR=DIR (a folder holding DIR/<name>/) or pass --data PATH")


def tokenize(
    dataset: Annotated[str, typer.Argument(help="Preset, hub id, or local file/folder.")],
    tokenizer: Annotated[TokenizerKind | None, typer.Option("--tokenizer", "-t", help="Tokenizer kind.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="Use an existing tokenizer.json instead.")] = None,
    vocab_size: Annotated[int | None, typer.Option(help="Vocabulary size (subword tokenizers).")] = None,
    min_frequency: Annotated[int | None, typer.Option(help="Minimum word count.")] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Truncation length to report against (default: chosen from the training texts).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the tokenizer (default runs/<dataset>-<kind>-tokenizer.json)."
        ),
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help="Local copy of the dataset.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any field: section.key=value.")] = None,
) -> None:
    """Train or load a tokenizer and show its token statistics.

    Writes tokenizer.json under runs/ (or --out) and says where.

    Examples:

      textcnn tokenize sst2

      textcnn tokenize sst2 --tokenizer bpe --vocab-size 8000 --out runs/bpe.json
    """
    with user_errors():
        from textcnn.training.trainer import tokenize_report

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
        from textcnn.run import run_name, runs_dir

        cfg = _config(dataset, None, None, options, set_)
        if out is None:
            kind_name = Path(cfg.tokenizer.kind).stem if from_file else cfg.tokenizer.kind
            out = runs_dir() / f"{run_name(cfg.data.dataset or dataset)}-{kind_name}-tokenizer.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        stats = tokenize_report(cfg, out)
        _print_tokenizer_stats(stats, cfg.tokenizer.kind, out)


SHOWN_TOKENS = 40
"""Tokens of each example `tokenize` prints (a long document's first ones, then its count)."""


def _print_tokenizer_stats(stats: dict, kind: str, out: Path) -> None:
    """Where the tokenizer went, the token-length table per split, and a few tokenized examples."""
    from rich.table import Table

    console.print(f"[bold]{kind}[/bold] tokenizer, vocabulary {stats['vocab_size']:,} → {out}")
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
        console.print(f"  {ex['text'][:80]!r}", highlight=False, markup=False)
        tokens = ex["tokens"]
        more = f" … ({len(tokens):,} tokens)" if len(tokens) > SHOWN_TOKENS else ""
        console.print(f"    → {' '.join(tokens[:SHOWN_TOKENS])}{more}", highlight=False, markup=False)
