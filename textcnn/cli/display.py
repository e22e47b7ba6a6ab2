"""Rendering of training events: a rich progress bar on a terminal, one plain line per record otherwise.

Output that is not a terminal gets no bar and is never wrapped (common.console), so a log has one
record per line. Not here: what the events are (textcnn.events).
"""

from __future__ import annotations

import os

from textcnn import events as ev
from textcnn.cli.common import (
    console,
)


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
            # soft_wrap: a record is one line on a terminal too (the terminal folds it; copy-paste keeps it whole)
            (self.progress.console if self.progress else console).print(msg, highlight=False, soft_wrap=True)

    def __call__(self, e: ev.TrainingEvent) -> None:
        if isinstance(e, ev.DataLoaded):
            self._print(f"[bold]data[/bold] {e.source} ({e.seconds:.1f} s to load and tokenize)")
            for line in e.lines:
                self._print(f"  {line}")
        elif isinstance(e, ev.VectorsLoaded):
            self._print(f"[bold]vectors[/bold] {e.summary}")
        elif isinstance(e, ev.TrainingStarted):
            self._started(e)
        elif isinstance(e, ev.StepDone) and self.progress is not None:
            # One bar over the whole run (every epoch's steps), so the time-remaining estimate holds
            # across epochs; the description says which epoch and step within it.
            self.progress.update(
                self.task, completed=e.global_step, description=f"{self.label}epoch {e.epoch} step {e.step}/{e.steps}",
                info=f"loss {e.loss:.3f}",
            )  # fmt: skip
        elif isinstance(e, ev.Evaluated):
            self._print(
                f"{self.label}epoch {e.epoch:>3} step {e.step:>6}  train loss {e.train_loss:.4f} "
                f"acc {e.train_accuracy:.4f}  val loss {e.val_loss:.4f} acc {e.val_accuracy:.4f}  "
                f"{e.examples_per_s:,.0f} ex/s  {e.train_seconds:.1f} s"
            )

    def _started(self, e: ev.TrainingStarted) -> None:
        resumed = f", resumed at step {e.resumed_from_step}" if e.resumed_from_step else ""
        procs = f", {e.world_size} processes" if e.world_size > 1 else ""
        self._print(
            f"[bold]training[/bold] {self.label}{e.params:,} parameters on {e.device} ({e.threads} threads{procs})"
            f"{resumed} → {e.run_dir}"
        )
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(), console=console, transient=True,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task(
                f"{self.label}epoch 1", total=e.steps_per_epoch * e.epochs, completed=e.resumed_from_step or 0, info=""
            )


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

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.CompareStarted):
            console.print(f"[bold]compare[/bold] loading and tokenizing {e.dataset} once for every run")
        elif isinstance(e, ev.RunStarted):
            if self.inner is not None:
                self.inner.__exit__(None, None, None)
            console.print(f"[bold]run {e.run}/{e.runs}[/bold]: {e.model} seed {e.seed} → {e.run_dir}")
            self.inner = TrainDisplay(label=f"{e.model} s{e.seed} ")
        elif isinstance(e, ev.RunEnded):
            if self.inner is not None:
                self.inner.__exit__(None, None, None)
                self.inner = None
        elif isinstance(e, ev.InferenceStarted):
            console.print(f"[bold]inference[/bold] {e.model}: throughput at batch 512 and single-sentence latency")
        elif isinstance(e, ev.FromRun) and not isinstance(e.event, ev.DataLoaded) and self.inner is not None:
            self.inner(e.event)  # data lines were already shown once for every run
