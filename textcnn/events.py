"""Every event textcnn's long-running functions emit, as types: the one place to read what they say.

`train(..., callback=f)` calls `f(event)` with `DataLoaded`, `VectorsLoaded`, `TrainingStarted`,
`StepDone` (every `train.log_every` steps), `Evaluated` (each validation pass) and `TrainingEnded`.
`run_compare` adds `CompareStarted`, `RunStarted`, `RunEnded`, `InferenceStarted`, and passes each
training event on wrapped in `FromRun` (which run it came from). `run_bench` emits `BenchCell`.
Subscribers (the CLI's display, compare, a server) dispatch on the type. Events are plain frozen
dataclasses, so they cross process boundaries (compare's spawned runs) unchanged.

Not here: rendering (textcnn.cli.display), the metrics.jsonl format (an `Evaluated` minus its last field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class DataLoaded:
    """The data are loaded, cleaned and tokenized."""

    source: str
    seconds: float
    lines: tuple[str, ...]
    """The data report, one line per entry."""


@dataclass(frozen=True)
class VectorsLoaded:
    """Pretrained word vectors were aligned to the vocabulary."""

    summary: str


@dataclass(frozen=True)
class TrainingStarted:
    run_dir: str
    epochs: int
    steps_per_epoch: int
    params: int
    device: str
    threads: int
    world_size: int
    resumed_from_step: int | None
    precision: str = "fp32"


@dataclass(frozen=True)
class StepDone:
    """Every `train.log_every` steps and at the end of an epoch: the only per-step read-back of the loss."""

    epoch: int
    step: int
    steps: int
    loss: float
    global_step: int


@dataclass(frozen=True)
class Evaluated:
    """One validation pass. Every field but `best_val_accuracy` is a metrics.jsonl record."""

    epoch: int
    step: int
    end_of_epoch: bool
    train_seconds: float
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    examples_per_s: float
    tokens_per_s: float
    epoch_seconds: float | None
    best_val_accuracy: float

    def record(self) -> dict[str, Any]:
        """The metrics.jsonl row."""
        d = asdict(self)
        del d["best_val_accuracy"]
        return d

    @classmethod
    def from_record(cls, record: dict[str, Any], best_val_accuracy: float) -> Evaluated:
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name != "best_val_accuracy"},
                   best_val_accuracy=best_val_accuracy)  # fmt: skip


@dataclass(frozen=True)
class TrainingEnded:
    run_dir: str
    summary: dict[str, Any]
    """summary.json."""


TrainingEvent = DataLoaded | VectorsLoaded | TrainingStarted | StepDone | Evaluated | TrainingEnded


@dataclass(frozen=True)
class CompareStarted:
    """compare loads and tokenizes the dataset once for every run."""

    dataset: str


@dataclass(frozen=True)
class RunStarted:
    run: int
    """1-based index of this run among `runs`."""
    runs: int
    model: str
    seed: int
    run_dir: str


@dataclass(frozen=True)
class FromRun:
    """A training event of one of compare's runs."""

    model: str
    seed: int
    event: TrainingEvent


@dataclass(frozen=True)
class RunEnded:
    run: int
    runs: int
    model: str
    seed: int
    peak_rss_mb: float | None


@dataclass(frozen=True)
class InferenceStarted:
    """compare measures a model's prediction throughput and latency."""

    model: str


@dataclass(frozen=True)
class BenchCell:
    """bench finished (or skipped) one cell of its grid."""

    index: int
    total: int
    model: str
    mode: str
    batch_size: int
    seq_len: int
    median_ms: float | None
    """None when the cell was skipped."""
    skipped: str | None = None
    """Why the cell was skipped."""


Event = TrainingEvent | CompareStarted | RunStarted | FromRun | RunEnded | InferenceStarted | BenchCell
Callback = Callable[[Any], None]
"""A subscriber: called with each event, in order, on the emitting process's rank 0."""
