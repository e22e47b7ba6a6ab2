"""What every command shares: the consoles, option types, the user-error boundary and small parsers.

Not here: any command (train.py, data.py, predict.py, measure.py), rendering of events (display.py).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from textcnn.errors import TextcnnError
from textcnn.models.registry import NAMES

LOG_WIDTH = 10_000
"""Width of output that is not a terminal (a file, a pipe, CI): wide enough that a record is one line."""


@functools.cache
def _console_class() -> type:
    from rich.console import Console, ConsoleDimensions

    class _Console(Console):
        """A rich Console that wraps only on a terminal, at the terminal's width.

        Sent to a file or a pipe (`textcnn train ... > log`), rich would wrap every line at 80 columns;
        here such output is never wrapped, so each progress record and each report line is one line.
        COLUMNS, when set, still wins (rich reads it at construction).
        """

        @property
        def size(self) -> ConsoleDimensions:
            if self._width is None and not self.is_terminal:
                return ConsoleDimensions(LOG_WIDTH, self._height or 25)
            return super().size

        @size.setter
        def size(self, new_size: tuple[int, int]) -> None:
            self._width, self._height = new_size

    return _Console


class _LazyConsole:
    """That Console, made (and rich imported) on first use: importing rich is about 40 ms, a tenth of a
    cold one-sentence prediction, which prints its table without it (table.py)."""

    def __init__(self, **options) -> None:
        self._options = options
        self._console = None

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    @property
    def real(self):
        """The Console itself."""
        if self._console is None:
            self._console = _console_class()(**self._options)
        return self._console

    def __enter__(self):  # rich's Live and Status hold their console with `with`
        return self.real.__enter__()

    def __exit__(self, *exc) -> None:
        self.real.__exit__(*exc)


# emoji=False: ":smile:" in a user's text is those characters (and rich's emoji table is never loaded)
console = _LazyConsole(emoji=False)
err = _LazyConsole(stderr=True, soft_wrap=True, emoji=False)  # an error stays on one line, whatever the width


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


ModelName = Enum("ModelName", {name: name for name in NAMES}, type=str)
"""Every model name, from the model table (textcnn.models.registry)."""


class TokenizerKind(str, Enum):
    word = "word"
    bpe = "bpe"
    wordpiece = "wordpiece"
    unigram = "unigram"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"


class JsonFormat(str, Enum):
    """For commands whose output is one report: the table (default) or JSON."""

    json = "json"


class OnError(str, Enum):
    skip = "skip"
    stop = "stop"


def _pick_run(spec: str | None) -> str | None:
    """Resolve 'latest' or a dataset name to a run folder, and say on stderr which run that is."""
    if spec is None or Path(spec).is_dir():
        return spec
    from textcnn.run import resolve_run

    with user_errors():
        path = resolve_run(spec)
    what = "the newest run" if spec == "latest" else f"the newest run trained on {spec}"
    print(f"using {path} ({what})", file=sys.stderr)  # plain: `predict latest TEXT` need not import rich
    return str(path)


RunArg = Annotated[
    str,
    typer.Argument(help="Run folder, 'latest', or a dataset name (its newest run).", callback=_pick_run),
]


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
        err.print(f"error: {_os_error(e)}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except TextcnnError as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        err.print(f"error: {msg}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _os_error(e: OSError) -> str:
    """An OSError in words that name the file: no raw `[Errno 2]`."""
    name = e.filename
    if name is None:
        return e.strerror or str(e)
    p = Path(name)
    if isinstance(e, FileNotFoundError):
        if not p.parent.exists():
            return f"cannot use {p}: its folder {p.parent} does not exist (create it first)"
        return f"{p} does not exist"
    if isinstance(e, IsADirectoryError):
        return f"{p} is a folder; give a file name"
    return f"no permission to {'write' if p.exists() or not p.parent.exists() else 'create'} {p}"


def _config(dataset, model, config_file, options: dict, sets: list[str] | None):
    from textcnn.config import load_config, preset_path

    preset = preset_path(dataset) if dataset and not Path(dataset).exists() else None
    if preset is not None and preset.stem.lower() == dataset.lower():
        dataset = preset.stem  # SST2 -> sst2: runs are named, and data found, by the preset's own name
    return load_config(dataset=dataset, model=model, config_file=config_file, overrides=options, sets=sets)


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


class Engine(str, Enum):
    auto = "auto"
    numpy = "numpy"
    onnx = "onnx"
    torch = "torch"


def _predictor(run: str, device: Device | None, threads: int | None, engine: Engine | None = None):
    """The library's Predictor: numpy for a cnn run on the CPU, ONNX Runtime for an export folder, torch
    otherwise (`--verbose` logs which). Torch is imported only when the torch engine runs."""
    from textcnn.inference.predictor import Predictor

    return Predictor.from_run(
        run, device=device.value if device else "auto", engine=(engine or Engine.auto).value, threads=threads
    )


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
