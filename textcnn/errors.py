"""Every error textcnn raises on purpose, in one hierarchy.

`TextcnnError` is what a user can cause and fix: bad options, missing or broken files, data that
cannot be used. Its message is one line that says what is wrong and, where there is one, what to do.
The CLI turns any `TextcnnError` into that line on stderr and exit code 2; anything else is a bug and
keeps its traceback. Callers branch on these types, never on message text.

Not here: warnings and notes (they are logged or returned in records), `KeyboardInterrupt`.
"""

from __future__ import annotations

from pathlib import Path


class TextcnnError(ValueError):
    """A problem the user can fix; the message is one line. (A ValueError, for callers that expect one.)"""


class ConfigError(TextcnnError):
    """A config field, preset, override or combination that is not valid."""


class DataError(TextcnnError):
    """A dataset that cannot be found, read or used for training."""


class ColumnNotFound(DataError):
    """A text or label column that was named (option, preset or run) is not in the data."""


class SplitNotFound(DataError):
    """A split that was asked for does not exist in the data."""


class NoLabelledRows(DataError):
    """A split has no rows with a label, so it cannot be scored."""


class TokenizerError(TextcnnError):
    """A tokenizer that cannot be trained, loaded or used."""


class VectorsError(TextcnnError):
    """Pretrained word vectors that cannot be found or read."""


class RunError(TextcnnError):
    """A run folder that is missing, incomplete, damaged or does not match its files."""


class RunInProgress(RunError):
    """A run folder another process is still training (it holds the folder's lock)."""


class WriteFailed(RunError):
    """A file of a run folder could not be written (disk full, file-size limit, read-only folder).

    The previous version of the file is kept, so the run can be resumed once the cause is gone."""


class TrainingError(TextcnnError):
    """Training cannot go on (non-finite loss, bad resume state, no classes)."""


class TrainingInterrupted(TextcnnError):
    """Training stopped on request (Ctrl-C, SIGTERM) after writing a resumable checkpoint."""

    def __init__(self, run_dir: Path, step: int):
        super().__init__(f"interrupted at step {step}; resume with: textcnn train --resume {run_dir}")
        self.run_dir = run_dir
        self.step = step


class PredictError(TextcnnError):
    """A prediction input or option that cannot be used."""


class ExplainError(TextcnnError):
    """A text or run that cannot be explained."""


class MetricsError(TextcnnError):
    """Labels and predictions that cannot be scored together."""


class RecordError(TextcnnError):
    """A measurement record (JSON) with a missing key or a value of the wrong type."""


class CompareError(TextcnnError):
    """A comparison that cannot be run or rendered."""


class BenchError(TextcnnError):
    """A benchmark cell or option that cannot be measured."""


class ReportError(TextcnnError):
    """A report folder that cannot be re-rendered."""


class ExportError(TextcnnError):
    """A run that cannot be exported, or an export that does not reproduce its model."""


class BenchmarkError(TextcnnError):
    """A `textcnn benchmark` dataset, option or baseline that cannot be run."""


class AutotuneError(TextcnnError):
    """An `--autotune` budget or search that cannot be run."""


class ServeError(TextcnnError):
    """A `textcnn serve` option, or a run that cannot be served."""
