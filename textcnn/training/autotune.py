"""`--autotune SECONDS`: the best model a wall-clock budget buys, as fastText's `-autotune-duration`.

What it is: `autotune(cfg, seconds)` searches learning rate, dropout, filter widths and feature maps
(or the LSTM's hidden size), embedding dimension (or, with pretrained vectors, Kim's embedding
mode), embedding dropout, epochs, evaluations per epoch and batch size with Optuna's TPE sampler
(`pip install 'textcnn[autotune]'`), scoring each trial on the validation split only (the test
split, when scored, is never read by the search). Trial 0 is the config as given (the defaults),
so the gain over them is measured, not assumed. Bad trials are pruned by Optuna's median rule at
the end of each epoch. The trial with the highest validation accuracy replaces the defaults only when
its gain is larger than the validation split's noise (`FAMILY_ALPHA`, corrected for the number of
trials it was the highest of): the highest of many noisy scores is biased upwards, and the defaults are
a strong prior, chosen across datasets and seeds. The budget covers the whole call, data preparation
and the final model included. No trial trains for more than `TRIAL_SHARE` of the budget (nor past its
end): a trial cut there ends as a `train.max_seconds` run does, with a validation pass and its best
weights, and counts like any other (on a slow machine the defaults themselves may be cut), so the
search always sees several trials and always leaves a model. No trial is started that the ones before
suggest would get less than half its time.

The final model: every trial is a complete, deterministic `train()` run with its own settings, so
the kept trial *is* the model those settings train (training the same config again reproduces it
bit for bit on the same machine and thread count; a test checks this). A trial cut by its time
share has `train.max_steps` = the steps it ran written into its config.toml instead of the time
limit, so it reproduces too. Its run folder becomes the
result: config.toml holds the best settings, and autotune.jsonl (one line per trial: settings,
state, validation accuracy, seconds) and autotune.json (budget, trials, the defaults' and the kept
trial's validation / test accuracy, the gain, and `choice`: how the kept trial was chosen) sit beside
the weights.

Not here: the training loop (trainer.py), the CLI option (cli/train.py), the benchmark (measure/).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import Config, validate
from textcnn.errors import AutotuneError
from textcnn.models.registry import spec

log = logging.getLogger(__name__)

HISTORY = "autotune.jsonl"
SUMMARY = "autotune.json"
TRIALS = ".autotune-trials"
"""Scratch folder (inside the run folder) for trial runs while the search goes on; removed at the end."""
MIN_SECONDS = 5.0
TRIAL_SHARE = 0.4
"""No trial trains for more than this share of the budget (so at least three trials start within it)."""
FINISH_SECONDS = 1.0
"""Kept free at the end of each trial for its set-up, last validation pass, test scoring and saving, at
least (1.5 x the most that took in a trial so far)."""

WIDTHS = ([3, 4, 5], [2, 3, 4], [1, 2, 3], [2, 3, 4, 5], [3, 4, 5, 6], [1, 2, 3, 4, 5], [4, 5, 6])
FEATURE_MAPS = (50, 100, 150, 200, 300)
EMBEDDING_DIMS = (64, 128, 200, 300)
HIDDEN_SIZES = (64, 100, 150, 200, 300)
BATCH_SIZES = (25, 50, 100)
EVALS_PER_EPOCH = (1, 2, 4)
EMBEDDING_DROPOUTS = (0.0, 0.1, 0.2, 0.3)
VECTOR_MODES = ("static", "non-static", "multichannel")
FAMILY_ALPHA = 0.05
"""The chance, when no trial is better than the defaults, that the search still replaces them. The highest
of k complete trials replaces trial 0 only when its validation gain exceeds z standard errors of the paired
difference (the same rows, each right or wrong under both models), z = the one-sided normal quantile of
FAMILY_ALPHA / k (Bonferroni: 1.645 for one trial, 2.13 for three, 2.58 for ten), since a search keeps the
maximum of k noisy scores, which is biased upwards. Without any rule 5 of 12 `benchmark --autotune 300`
runs (Subj, SST-5, MR and TREC with GloVe vectors, 3 seeds each; 2026-12-01) replaced the defaults for
0.2-1.3 points of validation accuracy, and 4 of those 5 then scored lower on their scored rows (-0.6 to
-3.1 points; one +0.6). With z = 1.645 whatever k, 3 of 15 runs of the next re-run swapped (+2.1, 0.0 and
-1.9 points against the defaults); with this correction 1 of 15 (+2.1), and an SST-2 trial that the single
threshold would have let through (z = 1.82 as the highest of 3) scored 0.6 lower than the defaults it kept.
docs/results/autotune/vectors has every run."""


class _OutOfTime(Exception):
    pass


class _Pruned(Exception):
    pass


def _choices(base: tuple, default) -> list:
    """The candidate values with the config's own value among them (so trial 0 can be the defaults);
    an unset value (None: chosen by textcnn from the data) is a candidate like any other."""
    values = list(base)
    if default not in values:
        values.append(default)
    return values


def _range(kind: str, low: float, high: float, default, grid: tuple) -> tuple[str, Any]:
    """A numeric range that holds the default, or a choice over `grid` + the default when it is unset."""
    if default is None:
        return ("choice", _choices(grid, None))
    return (kind, (min(low, default), max(high, default)))


def search_space(cfg: Config) -> dict[str, tuple[str, Any]]:
    """'section.field' -> ('float-log' | 'float' | 'int' | 'choice', bounds or choices), for this model.

    Which model options exist comes from the model table (textcnn.models.registry), not from names."""
    m, t = cfg.model, cfg.train
    options = spec(m.name).options
    space: dict[str, tuple[str, Any]] = {
        "train.lr": _range("float-log", 0.05, 2.0, t.lr, (0.1, 0.3, 0.5, 1.0, 2.0)),
        "model.dropout": _range("float", 0.0, 0.7, m.dropout, (0.2, 0.3, 0.4, 0.5, 0.6)),
        "model.embedding_dropout": ("choice", _choices(EMBEDDING_DROPOUTS, m.embedding_dropout)),
        "train.epochs": _range("int", 4, 30, t.epochs, (5, 10, 15, 20, 25, 30)),
        "train.batch_size": ("choice", _choices(BATCH_SIZES, t.batch_size)),
        "train.evals_per_epoch": ("choice", _choices(EVALS_PER_EPOCH, t.evals_per_epoch)),
    }
    if "widths" in options:
        space["model.widths"] = ("choice", [",".join(map(str, w)) for w in _choices(WIDTHS, list(m.widths))])
    if "feature_maps" in options:
        space["model.feature_maps"] = ("choice", _choices(FEATURE_MAPS, m.feature_maps))
    if "hidden_size" in options:
        space["model.hidden_size"] = ("choice", _choices(HIDDEN_SIZES, m.hidden_size))
    if m.embeddings:
        space["model.embedding_mode"] = ("choice", _choices(VECTOR_MODES, m.embedding_mode))
    else:
        space["model.embedding_dim"] = ("choice", _choices(EMBEDDING_DIMS, m.embedding_dim))
    return space


def defaults_of(cfg: Config, space: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The config's own values of the searched fields (trial 0)."""
    out = {}
    for key in space:
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        out[key] = ",".join(map(str, value)) if name == "widths" else value
    return out


def apply_params(cfg: Config, params: dict[str, Any]) -> Config:
    """A copy of `cfg` with the trial's values; validated like any config."""
    sections = {s: dataclasses.replace(getattr(cfg, s)) for s in ("data", "tokenizer", "model", "train")}
    for key, value in params.items():
        section, name = key.split(".")
        if name == "widths":
            value = [int(w) for w in str(value).split(",")]
        setattr(sections[section], name, value)
    new = Config(**sections)
    validate(new)
    return new


def _suggest(trial, space: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, (kind, arg) in space.items():
        if kind == "float-log":
            params[key] = trial.suggest_float(key, arg[0], arg[1], log=True)
        elif kind == "float":
            params[key] = trial.suggest_float(key, arg[0], arg[1])
        elif kind == "int":
            params[key] = trial.suggest_int(key, arg[0], arg[1])
        else:
            params[key] = trial.suggest_categorical(key, arg)
    return params


def autotune(
    cfg: Config,
    seconds: float,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    started: float | None = None,
    callback: Callable[[Any], None] | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    seed: int | None = None,
    max_trials: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Search within `seconds` (counted from `started`, a time.monotonic() value; default: now) and
    leave the best trial's run folder at `out_dir`; returns that folder (see the module docstring).

    `callback` receives the training events of every trial; `on_trial(record)` each autotune.jsonl line.
    `max_trials` stops the search earlier (Optuna's n_trials); `clock` is for tests (a fake clock)."""
    t0 = started if started is not None else clock()
    try:
        import optuna
    except ImportError:
        raise AutotuneError("--autotune needs Optuna: pip install 'textcnn[autotune]'") from None
    from textcnn.config import resolve_for_data, selection_fraction
    from textcnn.training.trainer import prepare, validation_split

    if seconds < MIN_SECONDS:
        raise AutotuneError(f"--autotune {seconds:g}: give at least {MIN_SECONDS:g} seconds")
    deadline = t0 + seconds - min(2.0, 0.02 * seconds)  # leave time to move the best run into place
    emit = callback or (lambda e: None)
    run_dir = _empty_run_dir(cfg, out_dir, overwrite)
    scratch = run_dir / TRIALS
    scratch.mkdir(parents=True, exist_ok=True)

    cfg.data.validation_fraction = selection_fraction(cfg)  # trials are chosen on it
    prepared = prepare(cfg)  # once: every trial trains on the same tokenized splits
    resolve_for_data(cfg, prepared.n_train_rows, held_out=prepared.held_out > 0)  # trial 0's values
    space = search_space(cfg)
    val_split = validation_split(prepared, cfg.train)  # what every trial's validation passes score
    study = _new_study(optuna, cfg, space, seed)
    history: list[dict[str, Any]] = []
    durations: list[float] = []
    margin = FINISH_SECONDS  # kept free after each trial's training (1.5 x the most its set-up etc. took)
    defaults: dict[str, Any] | None = None  # trial 0, when it completed
    top: dict[str, Any] | None = None  # the other complete trial with the highest validation accuracy

    while True:
        remaining = deadline - clock()
        expected = statistics.median(durations) if durations else 0.0
        if history and remaining < max(0.5 * expected, 2 * margin):
            break
        if max_trials is not None and len(history) >= max_trials:
            break
        trial = study.ask()
        params = _suggest(trial, space)
        trial_cfg = apply_params(cfg, params)
        limit = min(remaining, TRIAL_SHARE * seconds) - margin  # this trial's training time at most
        if trial_cfg.train.max_seconds is None or limit < trial_cfg.train.max_seconds:
            trial_cfg.train.max_seconds = max(limit, FINISH_SECONDS)
        trial_dir = scratch / f"trial{trial.number:03d}"
        started_trial = clock()
        record: dict[str, Any] = {"trial": trial.number, "params": params}
        watch = _watcher(trial, clock, deadline, emit)
        record.update(_train_trial(optuna, study, trial, trial_cfg, trial_dir, prepared, watch, cfg.train.max_seconds))
        if record["state"] == "complete":
            train_seconds = record.pop("train_seconds")
            candidate = trial.number == 0 or top is None or record["val_accuracy"] > top["val_accuracy"]
            # the paired test needs the rows right and wrong of trial 0 and of the highest other trial only
            hits = _validation_hits(trial_dir, val_split, cfg) if candidate else None
            entry = {**record, "dir": trial_dir, "hits": hits}
            durations.append(clock() - started_trial)
            margin = max(margin, 1.5 * (durations[-1] - train_seconds))
            if trial.number == 0:
                defaults = entry
            elif candidate:
                if top is not None:
                    shutil.rmtree(top["dir"], ignore_errors=True)
                top = entry
        record["seconds"] = round(clock() - started_trial, 3)
        history.append(record)
        if on_trial is not None:
            on_trial(record)
        if trial_dir not in {e["dir"] for e in (defaults, top) if e is not None}:
            shutil.rmtree(trial_dir, ignore_errors=True)
        if record["state"] == "out of time":
            break
    compared = sum(r["state"] == "complete" and r["trial"] != 0 for r in history)
    best, choice = choose(defaults, top, compared)
    for entry in (defaults, top):
        if entry is not None and entry is not best:
            shutil.rmtree(entry["dir"], ignore_errors=True)
    best = _keep_best(best, run_dir, scratch, seconds)
    summary = _summary(seconds, round(clock() - t0, 3), history, best, choice)
    runlib.atomic_write_text(run_dir / HISTORY, "".join(json.dumps(r) + "\n" for r in history))
    runlib.atomic_write_json(run_dir / SUMMARY, summary)
    return run_dir


def _empty_run_dir(cfg: Config, out_dir: str | Path | None, overwrite: bool) -> Path:
    """The run folder to fill: `out_dir` or a new one; an existing non-empty one only with `overwrite`."""
    run_dir = Path(out_dir) if out_dir else runlib.new_run_dir(cfg.data.dataset or "data", f"{cfg.model.name}-autotune")
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise AutotuneError(f"{run_dir} already exists; pass --overwrite to replace it")
        shutil.rmtree(run_dir)
    return run_dir


def _new_study(optuna, cfg: Config, space: dict[str, tuple[str, Any]], seed: int | None):
    """A TPE study maximizing validation accuracy, median pruning, with the defaults queued as trial 0."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.train.seed if seed is None else seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    study.enqueue_trial(defaults_of(cfg, space))
    return study


def _watcher(trial, clock: Callable[[], float], deadline: float, emit: Callable[[Any], None]):
    """The training callback of one trial: stops it at the deadline, reports each epoch for pruning."""

    def watch(event) -> None:
        if clock() >= deadline:
            raise _OutOfTime
        if isinstance(event, ev.Evaluated) and event.end_of_epoch:
            trial.report(event.best_val_accuracy, event.epoch)
            if trial.should_prune():
                raise _Pruned
        emit(event)

    return watch


def _train_trial(
    optuna, study, trial, trial_cfg: Config, trial_dir: Path, prepared, watch, own_max_seconds: float | None
) -> dict[str, Any]:
    """Train one trial into `trial_dir` and tell the study how it ended: its state (and scores when complete).

    A trial its time share cut gets `train.max_steps` (the steps it ran) in place of that time limit in
    its config.toml (`own_max_seconds`: the user's own limit, kept), so its config reproduces it."""
    from textcnn.training.trainer import train

    try:
        train(trial_cfg, trial_dir, overwrite=True, callback=watch, prepared=prepared)
    except _Pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return {"state": "pruned"}
    except _OutOfTime:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return {"state": "out of time"}
    summary = json.loads((trial_dir / "summary.json").read_text(encoding="utf-8"))
    study.tell(trial, summary["best_val_accuracy"])
    record = {
        "state": "complete",
        "val_accuracy": summary["best_val_accuracy"],
        "test_accuracy": summary.get("test_accuracy"),
        "best_epoch": summary["best_epoch"],
        "train_seconds": summary.get("train_seconds", 0.0),
    }
    if trial_cfg.train.max_seconds != own_max_seconds:  # the time share, not the user's limit: take it out
        train_cfg = dataclasses.replace(trial_cfg.train, max_seconds=own_max_seconds)
        if summary.get("cut_by") == "max_seconds":
            record["cut_at_step"] = train_cfg.max_steps = summary["steps"]
        runlib.save_config(trial_dir, dataclasses.replace(trial_cfg, train=train_cfg))
    return record


def _validation_hits(trial_dir: Path, val_split, cfg: Config) -> np.ndarray:
    """Whether the trial's kept model, re-read from its run folder, labels each row of `val_split` (the rows
    its own validation passes scored: `trainer.validation_split`) right, in the precision they scored in
    (the mean is its validation accuracy, to a row or two of bf16 rounding), for the paired test of `choose`."""
    import torch

    from textcnn.run import load_run
    from textcnn.training.trainer import evaluate, precision

    run = load_run(trial_dir)
    min_length = int(getattr(run.model, "min_length", 1))
    predicted = evaluate(run.model, val_split, min_length=min_length, prec=precision(cfg.train, torch.device("cpu")))
    return predicted["predictions"] == val_split.labels.numpy()


def paired_gain(hits: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """The accuracy gain of `hits` over `base` on the same rows and its standard error (paired: only the
    rows one gets right and the other wrong carry information)."""
    n = len(hits)
    if n == 0 or len(base) != n:
        return 0.0, float("inf")
    diff = hits.astype(np.float64) - base.astype(np.float64)
    gain = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return gain, se


def needed_z(compared: int) -> float:
    """The z a gain must exceed for the highest of `compared` trials to replace the defaults (`FAMILY_ALPHA`)."""
    return statistics.NormalDist().inv_cdf(1 - FAMILY_ALPHA / max(1, compared))


def choose(
    defaults: dict[str, Any] | None, top: dict[str, Any] | None, compared: int = 1
) -> tuple[dict[str, Any] | None, dict]:
    """The trial whose model is kept: the defaults, unless `top`, the highest-scoring of the `compared`
    other complete trials, beats them by more than `needed_z(compared)` standard errors on the same
    validation rows; and why, for autotune.json."""
    if defaults is None or top is None:
        kept = defaults or top
        return kept, {"rule": "the only candidate" if kept else "none complete"}
    gain, se = paired_gain(top["hits"], defaults["hits"])
    z = needed_z(compared)
    needed = z * se
    replace = gain > needed
    return (top if replace else defaults), {
        "rule": f"the highest of the other complete trials ({compared}) replaces the defaults when its gain exceeds "
        f"{z:.2f} standard errors (one-sided, {FAMILY_ALPHA:g} over all {compared})",
        "highest_trial": top["trial"],
        "highest_val_accuracy": top["val_accuracy"],
        "compared": compared,
        "gain_val": gain,
        "standard_error": se,
        "z_needed": z,
        "needed": needed,
        "kept": "highest" if replace else "defaults",
    }


def _keep_best(best: dict[str, Any] | None, run_dir: Path, scratch: Path, seconds: float) -> dict[str, Any]:
    """Move the best trial's run into the run folder and drop the scratch; no complete trial is an error."""
    if best is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise AutotuneError(
            f"--autotune {seconds:g}: not even the default settings finished training within the budget; "
            "give more seconds (or fewer epochs)"
        )
    for f in Path(best["dir"]).iterdir():  # the best trial's run becomes the run folder
        shutil.move(str(f), run_dir / f.name)
    shutil.rmtree(scratch, ignore_errors=True)
    return best


def _summary(
    seconds: float, elapsed: float, history: list[dict[str, Any]], best: dict[str, Any], choice: dict[str, Any]
) -> dict[str, Any]:
    """autotune.json: the budget, the trials, the kept ("best") and the defaults' accuracies, the gain, and
    `choice`: how the kept trial was chosen (`choose`)."""
    defaults = history[0] if history[0].get("state") == "complete" else None
    return {
        "budget_seconds": seconds,
        "seconds": elapsed,
        "trials": len(history),
        "complete": sum(r["state"] == "complete" for r in history),
        "pruned": sum(r["state"] == "pruned" for r in history),
        "best_trial": best["trial"],
        "best_params": best["params"],
        "best_val_accuracy": best["val_accuracy"],
        "best_test_accuracy": best.get("test_accuracy"),
        "default_val_accuracy": defaults and defaults["val_accuracy"],
        "default_test_accuracy": defaults and defaults.get("test_accuracy"),
        "gain_val": (best["val_accuracy"] - defaults["val_accuracy"]) if defaults else None,
        "gain_test": _gain(best.get("test_accuracy"), defaults and defaults.get("test_accuracy")),
        "choice": choice,
    }


def _gain(best: float | None, default: float | None) -> float | None:
    if best is None or default is None or not (math.isfinite(best) and math.isfinite(default)):
        return None
    return best - default
