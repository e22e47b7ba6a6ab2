"""The `textcnn` command line: a thin shell over the library.

Each command parses its options, builds a config, calls one library function and renders the
result with rich. Heavy libraries (torch, datasets) are imported inside the commands so that
`textcnn --help` is instant. A user error (any `textcnn.errors.TextcnnError`) is one line on stderr
and exit code 2, never a traceback.

- `app.py`: the Typer app and its root options; `common.py`: consoles, option types, error boundary.
- `train.py`, `data.py` (datasets, tokenize), `predict.py` (predict, evaluate, explain, filters),
  `measure.py` (compare, bench, report), `benchmark.py` (the suite), `serve.py` (the HTTP server): one module per command group.
- `display.py`: renders the typed training events (a live bar on a terminal, plain lines in logs).

Not here: anything that computes (the library packages do), tensors, training logic.
"""

from __future__ import annotations

import copy
import os
import sys

from textcnn.cli import benchmark, data, export, measure, predict, serve, train
from textcnn.cli.app import app

COMMANDS = (
    train.train, data.datasets, data.tokenize,
    predict.predict, predict.evaluate, predict.explain, predict.filters, export.export,
    measure.compare, measure.bench, benchmark.benchmark, measure.report,
    serve.serve,
)  # fmt: skip
"""Every command, in the order `textcnn --help` lists them; the function name is the command name."""
for _command in COMMANDS:
    app.command()(_command)


ONE_BLAS_THREAD = ("predict", "evaluate")
"""Commands that score on the numpy engine, which runs its batches (and folds) on its own threads:
numpy's OpenBLAS is kept to one thread there (unless OPENBLAS_NUM_THREADS says otherwise), since it
starts a thread per core when numpy is imported and joins them at exit, 40 ms of a 0.4 s one-sentence
prediction, for matrix products that are a few rows or already split over the engine's threads."""


def main() -> None:
    """Run the command line. Typer reads every command's signature to build the command tree (about 70 ms
    for all of them here), so when the arguments name a command, only that one is built; `--help`
    and anything unrecognised get the whole tree (and its messages)."""
    name = invoked(sys.argv[1:])
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # ours report progress; theirs interleave
    if name in ONE_BLAS_THREAD:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy is first imported
    if name is None:
        app()
        return
    one = copy.copy(app)  # the module's app keeps every command
    one.registered_commands = [c for c in app.registered_commands if c.callback.__name__ == name]
    one()


def invoked(args: list[str]) -> str | None:
    """The command the arguments run, or None: the first argument that is not an option (the root
    options are flags and take no value), if it names a command."""
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in {c.__name__ for c in COMMANDS} else None


__all__ = ["app", "main"]
