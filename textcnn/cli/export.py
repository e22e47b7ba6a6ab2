"""`textcnn export`: a run as a self-contained ONNX folder (textcnn.inference.export)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from textcnn.cli.common import RunArg, err, user_errors


class ExportFormat(str, Enum):
    onnx = "onnx"


def export(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (model.onnx, tokenizer, labels, config).")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", case_sensitive=False, help="Export format.")
    ] = ExportFormat.onnx,
    check: Annotated[
        bool, typer.Option(help="Compare ONNX Runtime's logits with torch's after writing (needs onnxruntime).")
    ] = True,
) -> None:
    """Export a run to ONNX: model.onnx (input_ids, lengths -> logits) with the run's tokenizer and labels.

    Examples:

      textcnn export latest --format onnx --out exported/

      textcnn predict exported/ "a gorgeous, witty film"
    """
    with user_errors():
        from textcnn.inference.export import describe, export_run

        done = export_run(run, out, fmt=format_.value, check=check)
        info = describe(done)
        err.print(
            f"exported → {done}: {', '.join(info['files'])} (model.onnx {info['bytes'] / 2**20:.1f} MiB, "
            f"labels {', '.join(info['labels'])})",
            highlight=False,
        )
