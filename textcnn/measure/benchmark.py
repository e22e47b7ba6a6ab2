"""`textcnn benchmark`: the standard sentence-classification suite, textcnn against fastText and Kim (2014).

What it is: for each dataset a protocol (`plan_dataset`), the evaluation units it implies (one per
seed, or one per fold and seed), the split files of each unit written once, a textcnn run per model
and unit (the normal `train()`, reading those files, so the run folder is self-describing) and, with
`fasttext=True`, fastText unigram / bigram runs on the very same files and the same token
normalisation (and, where textcnn's runs start from pretrained vectors, a fastText bigram run that starts
from the same vectors: `VECTORS_VARIANT`). Measuring returns `BenchmarkResult` (records); `summarize`
turns records into the `benchmark.json` dict; render_benchmark.py writes markdown and the plot.

Protocol per dataset, first match wins:
- "test": the test split has labels -> train on train, score test.
- "validation": no labelled test split but a labelled validation split (SST-2, SST-5 on the hub)
  -> train on train, score that validation split.
- "cv<K>": only a train split (MR, Subj, CR, MPQA) -> stratified K-fold cross-validation (Kim's
  protocol), folds fixed by `FOLD_SEED` whatever the training seeds are.
In every case model selection (early stopping, best checkpoint) uses a validation split held out of
the unit's training rows (stratified, `config.holdout_fraction` of them, seeded by the training seed); the
scored rows are never seen before the final evaluation. fastText trains on the same training rows
(the held-out validation rows excluded) and is scored on the same rows.

Reuse: each finished run leaves `bench_result.json` next to its files with the settings it ran with;
a later call with the same settings reads it back instead of training again, and a textcnn run that
was interrupted with a checkpoint is resumed, so an interrupted benchmark continues where it stopped.

Not here: rendering (render_benchmark.py), the CLI (cli/benchmark.py), the training loop (training/).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textcnn import run as runlib
from textcnn.config import (
    Config,
    config_from_toml,
    holdout_fraction,
    load_config,
    pin_held_out,
    selection_fraction,
    to_toml,
)
from textcnn.errors import BenchmarkError, ConfigError, SplitNotFound

log = logging.getLogger(__name__)

SUITE = ("sst2", "mr", "subj", "cr", "mpqa", "sst5", "trec")
"""The sets of Kim (2014), Table 2, by their folder names under --data-dir."""
FOLD_SEED = 0
"""Seed of the cross-validation fold assignment (fixed: every seed and model sees the same folds)."""
KIM_VARIANTS = ("rand", "static", "nonstatic", "multichannel")
KIM2014: dict[str, dict[str, float]] = {
    name: dict(zip(KIM_VARIANTS, (round(v / 100, 4) for v in values), strict=True))
    for name, values in {
        "mr": (76.1, 81.0, 81.5, 81.1),
        "sst5": (45.0, 45.5, 48.0, 47.4),  # SST-1 (Kim trained on phrases too)
        "sst2": (82.7, 86.8, 87.2, 88.1),
        "subj": (89.6, 93.0, 93.4, 93.2),
        "trec": (91.2, 92.8, 93.6, 92.2),
        "cr": (79.8, 84.7, 84.3, 85.0),
        "mpqa": (83.4, 89.6, 89.5, 89.4),
    }.items()
}
"""Kim (2014, arXiv:1408.5882) Table 2: CNN-rand / -static / -non-static / -multichannel accuracy."""
FASTTEXT_VARIANTS: dict[str, dict[str, Any]] = {
    "unigram": {"epoch": 5, "wordNgrams": 1},
    "bigram": {"epoch": 10, "wordNgrams": 2},
}
"""fastText settings (Joulin et al. 2017): defaults otherwise (lr 0.1, dim 100, softmax loss)."""
VECTORS_VARIANT = "bigram-vectors"
"""fastText bigram started from the pretrained vectors textcnn's runs use (`model.embeddings`: its
`pretrainedVectors`, with `dim` their size), run beside the others wherever textcnn has vectors, so a
textcnn row with vectors is also compared with a fastText that had them."""


def fasttext_options(variant: str) -> dict[str, Any]:
    """The fastText settings of a variant (`VECTORS_VARIANT` has bigram's; its vectors are added to them)."""
    return FASTTEXT_VARIANTS["bigram" if variant == VECTORS_VARIANT else variant]


FASTTEXT_INSTALL = "fastText is not installed: pip install 'textcnn[baselines]' (the fasttext-wheel package)"
RESULT_FILE = "bench_result.json"


# ---------------------------------------------------------------------------------------------
# Folds


def stratified_folds(labels: Sequence[int] | np.ndarray, k: int, seed: int = FOLD_SEED) -> np.ndarray:
    """Fold id (0..k-1) of every row: each class is shuffled (seeded) and dealt round-robin, the deal
    continuing from class to class, so every fold gets each class's share to within one row and the
    fold sizes differ by at most one. The same labels, k and seed always give the same folds."""
    labels = np.asarray(labels)
    if k < 2:
        raise BenchmarkError(f"--folds {k}: cross-validation needs at least 2 folds")
    if len(labels) < k:
        raise BenchmarkError(f"{len(labels)} rows cannot be split into {k} folds")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        folds[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return folds


# ---------------------------------------------------------------------------------------------
# Plans: what is trained and scored for one dataset


@dataclass
class DatasetPlan:
    """One dataset: its protocol, the pool of labelled rows and the rows scored."""

    name: str
    protocol: str
    """'test', 'validation' or 'cv<K>'."""
    source: str
    texts: list[str]
    """Training pool (the whole train split, cleaned)."""
    labels: np.ndarray
    label_names: list[str]
    test_texts: list[str] = field(default_factory=list)
    """Scored rows for 'test' / 'validation' (empty for CV: the folds are scored)."""
    test_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    folds: np.ndarray | None = None
    """Fold id of every pool row (CV only)."""

    @property
    def k(self) -> int | None:
        return int(self.protocol[2:]) if self.protocol.startswith("cv") else None

    @property
    def n_train(self) -> int:
        """Rows a unit trains on (validation hold-out included); the mean over folds for CV."""
        if self.k is None:
            return len(self.texts)
        return round(len(self.texts) * (self.k - 1) / self.k)

    @property
    def n_test(self) -> int:
        return len(self.test_texts) if self.k is None else round(len(self.texts) / self.k)

    def units(self, seeds: Sequence[int], max_folds: int | None = None) -> list[tuple[int | None, int]]:
        """(fold or None, seed) for every run of one model on this dataset (CV: the first `max_folds` folds)."""
        folds: list[int | None] = list(range(self.k))[:max_folds] if self.k else [None]
        return [(f, s) for f in folds for s in seeds]


def dataset_config(
    name: str, data_dir: str | Path | None, sets: Sequence[str] = (), model: str | None = None
) -> Config:
    """The config `textcnn train NAME` would use: preset, then `$data_dir/NAME` when that folder exists."""
    from textcnn.data.sources import data_folder

    options: dict[str, dict[str, Any]] = {}
    if data_dir is not None and (folder := data_folder(data_dir, name)).exists():
        options["data"] = {"path": str(folder)}
    return load_config(dataset=name, model=model, overrides=options, sets=list(sets))


def plan_dataset(name: str, data_dir: str | Path | None, *, folds: int = 10, sets: Sequence[str] = ()) -> DatasetPlan:
    """Load NAME (as `textcnn train` finds it) and choose its protocol (module docstring)."""
    import datasets

    from textcnn.data.sources import VALIDATION_NAMES, load_data, load_split

    datasets.disable_progress_bars()  # the benchmark's own display reports progress
    cfg = dataset_config(name, data_dir, sets)
    # The whole train split, nothing held out yet: name train as the validation split too.
    whole = dataclasses.replace(cfg.data, validation_split=cfg.data.train_split, max_train_rows=None)
    data = load_data(whole, seed=0)
    train = data.splits["train"]
    texts, labels = list(train["text"]), np.asarray(train["label"], dtype=np.int64)
    plan = DatasetPlan(name, "", data.source, texts, labels, list(data.label_names))
    if data.test_labelled:
        test = data.splits["test"]
        plan.protocol, plan.test_texts = "test", list(test["text"])
        plan.test_labels = np.asarray(test["label"], dtype=np.int64)
        return plan
    for split in [cfg.data.validation_split] if cfg.data.validation_split else list(VALIDATION_NAMES):
        try:
            ds, _ = load_split(dataclasses.replace(cfg.data, validation_split=None), split, plan.label_names)
        except SplitNotFound:
            continue
        plan.protocol, plan.test_texts = "validation", list(ds["text"])
        plan.test_labels = np.asarray(ds["label"], dtype=np.int64)
        return plan
    plan.protocol = f"cv{folds}"
    plan.folds = stratified_folds(labels, folds, FOLD_SEED)
    return plan


def find_datasets(data_dir: str | Path | None) -> list[str]:
    """The suite sets present under `data_dir`, in suite order."""
    if data_dir is None:
        raise BenchmarkError("no DATASET given and no --data-dir (or $TEXTCNN_DATA_DIR) to look for the suite in")
    from textcnn.data.sources import data_folder

    found = [n for n in SUITE if data_folder(data_dir, n).exists()]  # SentEval's MR, SUBJ, SST/binary, ...
    if not found:
        raise BenchmarkError(f"none of the suite sets ({', '.join(SUITE)}) is under {data_dir}")
    return found


# ---------------------------------------------------------------------------------------------
# Split files: one folder per unit, read by textcnn and fastText alike


@dataclass(frozen=True)
class UnitSplit:
    """The rows of one unit, as pool / test positions."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    """Positions in the pool (CV) or in the plan's test rows."""


def unit_split(
    plan: DatasetPlan, fold: int | None, seed: int, validation_fraction: float | Callable[[int], float]
) -> UnitSplit:
    """Training rows of the unit, the validation rows held out of them (seeded by `seed`), scored rows.
    `validation_fraction`: a share, or the rule that gives it for the unit's number of training rows."""
    from textcnn.data.sources import holdout

    if fold is None:
        pool = np.arange(len(plan.texts))
        test = np.arange(len(plan.test_texts))
    else:
        assert plan.folds is not None
        pool, test = np.flatnonzero(plan.folds != fold), np.flatnonzero(plan.folds == fold)
    share = validation_fraction(len(pool)) if callable(validation_fraction) else validation_fraction
    keep, val = holdout(plan.labels[pool], share, seed)
    return UnitSplit(train=pool[keep], validation=pool[val], test=test)


def unit_name(plan: DatasetPlan, fold: int | None, seed: int) -> str:
    return f"seed{seed}" if fold is None else f"{plan.protocol}-fold{fold:02d}-seed{seed}"


def write_split_files(plan: DatasetPlan, split: UnitSplit, folder: Path) -> Path:
    """train / validation / test .jsonl with columns text and label (the label's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = plan.label_names
    if plan.k is None:
        test_texts, test_labels = [plan.test_texts[i] for i in split.test], plan.test_labels[split.test]
    else:
        test_texts, test_labels = [plan.texts[i] for i in split.test], plan.labels[split.test]
    parts = {
        "train": ([plan.texts[i] for i in split.train], plan.labels[split.train]),
        "validation": ([plan.texts[i] for i in split.validation], plan.labels[split.validation]),
        "test": (test_texts, test_labels),
    }
    for part, (texts, labels) in parts.items():
        lines = "".join(
            json.dumps({"text": t, "label": names[int(y)]}, ensure_ascii=False) + "\n"
            for t, y in zip(texts, labels, strict=True)
        )
        path = folder / f"{part}.jsonl"
        if not path.is_file() or path.read_text(encoding="utf-8") != lines:
            runlib.atomic_write_text(path, lines)
    return folder


def split_digest(folder: Path) -> str:
    """SHA-256 of a unit's three files: a finished run is reused only for the very same rows."""
    import hashlib

    h = hashlib.sha256()
    for part in ("train", "validation", "test"):
        h.update((folder / f"{part}.jsonl").read_bytes())
    return h.hexdigest()


def read_split_file(path: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


def unit_config(plan_cfg: Config, split_dir: Path, seed: int) -> Config:
    """The dataset's config pointed at one unit's files (explicit splits), with the unit's seed."""
    cfg = Config(**{s: dataclasses.replace(getattr(plan_cfg, s)) for s in ("data", "tokenizer", "model", "train")})
    cfg.data = dataclasses.replace(
        cfg.data, path=str(split_dir), hub_id=None, hub_config=None, text_column="text", label_column="label",
        train_split="train", validation_split="validation", test_split="test",
    )  # fmt: skip
    cfg.train.seed = seed
    return cfg


# ---------------------------------------------------------------------------------------------
# fastText on the same files


def fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


def words_function(train_texts: list[str], tokenizer_cfg) -> Callable[[str], list[str]]:
    """textcnn's normalisation and word splitting (the tokenizer `train` builds), without the vocabulary
    lookup: NFKC, lowercase when the config says so, clitics and punctuation split off, truncation."""
    from textcnn.data.tokenizer import train_tokenizer

    tok = train_tokenizer(iter(train_texts), tokenizer_cfg, length=len(train_texts))
    normalizer, pre = tok.normalizer, tok.pre_tokenizer
    limit = tokenizer_cfg.max_length

    def words(text: str) -> list[str]:
        return [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))][:limit]

    return words


def fasttext_inputs(split_dir: Path, tokenizer_cfg) -> dict[str, list[tuple[str, list[str]]]]:
    """(label name, words) of every train and test row of a unit, as fastText is fed them."""
    train_texts, train_labels = read_split_file(split_dir / "train.jsonl")
    test_texts, test_labels = read_split_file(split_dir / "test.jsonl")
    words = words_function(train_texts, tokenizer_cfg)
    return {
        "train": [(y, words(t)) for t, y in zip(train_texts, train_labels, strict=True)],
        "test": [(y, words(t)) for t, y in zip(test_texts, test_labels, strict=True)],
    }


def fasttext_vectors_file(words: Sequence[list[str]], vectors: str, path: Path) -> dict[str, Any]:
    """Write the pretrained vectors (a name or file, as `model.embeddings`) of the words in `words` that
    have one, as a fastText `.vec` file at `path` (what `pretrainedVectors` reads); their size and count."""
    from textcnn.data.vectors import load_vectors

    vocab: dict[str, int] = {}
    for ws in words:
        for w in ws:
            vocab.setdefault(w, len(vocab) + 2)  # ids 0 and 1 are textcnn's padding and unknown rows
    loaded = load_vectors(vectors, vocab)
    rows = [(w, loaded.vectors[i]) for w, i in vocab.items() if loaded.has_vector[i]]
    with path.open("w", encoding="utf-8") as f:
        f.write(f"{len(rows)} {loaded.dim}\n")
        f.writelines(f"{w} {' '.join(f'{x:.6g}' for x in v.tolist())}\n" for w, v in rows)
    return {"dim": loaded.dim, "words_with_vectors": len(rows)}


def run_fasttext(
    split_dir: Path, tokenizer_cfg, variant: str, seed: int, threads: int = 1, vectors: str | None = None
) -> dict[str, Any]:
    """Train fastText `variant` on the unit's train rows, score its test rows: accuracy, seconds, sizes.

    `VECTORS_VARIANT` needs `vectors` (a name or file, as `model.embeddings`): its words start from them."""
    try:
        import fasttext
    except ImportError:
        raise BenchmarkError(FASTTEXT_INSTALL) from None
    import tempfile

    inputs = fasttext_inputs(split_dir, tokenizer_cfg)
    label = {name: f"__label__{i}" for i, name in enumerate(sorted({y for y, _ in inputs["train"]}))}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("".join(f"{label[y]} {' '.join(w)}\n" for y, w in inputs["train"]), encoding="utf-8")
        options = dict(fasttext_options(variant))
        if variant == VECTORS_VARIANT:
            if not vectors:
                raise BenchmarkError(f"fastText {VECTORS_VARIANT} needs pretrained vectors (model.embeddings)")
            vec = Path(tmp) / "vectors.vec"
            extra = fasttext_vectors_file([w for _, w in inputs["train"]], vectors, vec)
            options.update(pretrainedVectors=str(vec), dim=extra["dim"])
        t0 = time.perf_counter()
        model = fasttext.train_supervised(input=str(path), seed=seed, thread=threads, verbose=0, **options)
        seconds = time.perf_counter() - t0
    predicted, _ = model.predict([" ".join(w) for _, w in inputs["test"]], k=1)
    correct = sum(p[0] == label.get(y) for p, (y, _) in zip(predicted, inputs["test"], strict=True))
    return {
        "accuracy": correct / len(inputs["test"]),
        "train_seconds": round(seconds, 4),
        "n_train": len(inputs["train"]),
        "n_test": len(inputs["test"]),
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class RunRecord:
    """One finished run: a textcnn model or a fastText variant on one unit."""

    dataset: str
    system: str
    """'textcnn' or 'fasttext'."""
    variant: str
    """The model name (textcnn) or 'unigram' / 'bigram' (fastText)."""
    fold: int | None
    seed: int
    accuracy: float
    train_seconds: float | None
    """None only in records gathered from runs that did not keep it."""
    n_train: int | None
    n_test: int | None
    run_dir: str
    reused: bool = False


@dataclass(frozen=True)
class BenchmarkProgress:
    """A run of the benchmark starts (accuracy None) or ends; for the progress display."""

    index: int
    """1-based run index among `total`."""
    total: int
    dataset: str
    system: str
    variant: str
    fold: int | None
    folds: int | None
    seed: int
    elapsed: float
    eta: float | None
    """Seconds left, estimated from the runs measured so far (None before the first)."""
    accuracy: float | None = None
    reused: bool = False


@dataclass
class BenchmarkResult:
    machine: dict[str, Any]
    plans: dict[str, DatasetPlan]
    records: list[RunRecord]
    settings: dict[str, Any]


def _eta(done: list[tuple[tuple[str, str, str], float]], todo: list[tuple[str, str, str]]) -> float | None:
    """Seconds left: per (dataset, system, variant) mean of measured runs, else that system's mean."""
    if not done:
        return None
    by_key: dict[tuple[str, str, str], list[float]] = {}
    by_system: dict[str, list[float]] = {}
    for key, secs in done:
        by_key.setdefault(key, []).append(secs)
        by_system.setdefault(key[1], []).append(secs)
    overall = statistics.fmean(s for _, s in done)
    total = 0.0
    for key in todo:
        xs = by_key.get(key) or by_system.get(key[1])
        total += statistics.fmean(xs) if xs else overall
    return total


def run_benchmark(
    datasets: Sequence[str],
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    models: Sequence[str] = ("cnn",),
    seeds: int = 3,
    folds: int = 10,
    fasttext: bool = False,
    autotune: float | None = None,
    sets: Sequence[str] = (),
    max_folds: int | None = None,
    callback: Callable[[Any], None] | None = None,
) -> BenchmarkResult:
    """Run every model (and fastText) on every unit of every dataset; finished runs are reused.

    `max_folds`: with cross-validation, run only the first N of the K folds (a quicker, partial
    estimate of the same protocol; `folds_note` says so in the report)."""
    from textcnn.measure.timing import load_average, machine_info

    _check_benchmark_args(fasttext, seeds, max_folds, autotune)
    emit = callback or (lambda e: None)
    out = Path(out_dir)
    seed_list = list(range(seeds))
    plans = {name: plan_dataset(name, data_dir, folds=folds, sets=sets) for name in datasets}
    configs = {(n, m): dataset_config(n, data_dir, sets, model=m) for n in plans for m in (None, *models)}
    threads = next(iter(configs.values())).train.threads if configs else None
    machine = machine_info("cpu", threads)
    variants = [("textcnn", m) for m in models] + ([("fasttext", v) for v in FASTTEXT_VARIANTS] if fasttext else [])
    if fasttext and any(cfg.model.embeddings for cfg in configs.values()):
        variants.append(("fasttext", VECTORS_VARIANT))
    jobs = [
        (n, f, s, system, v)
        for n, p in plans.items()
        for f, s in p.units(seed_list, max_folds)
        for system, v in variants
    ]
    records: list[RunRecord] = []
    done: list[tuple[tuple[str, str, str], float]] = []
    t_start = time.perf_counter()
    for index, (name, fold, seed, system, variant) in enumerate(jobs, 1):
        plan = plans[name]
        key = (name, system, variant)
        eta = _eta(done, [(j[0], j[3], j[4]) for j in jobs[index - 1 :]])
        emit(BenchmarkProgress(index, len(jobs), name, system, variant, fold, plan.k, seed,
                               time.perf_counter() - t_start, eta))  # fmt: skip
        base_cfg = configs[(name, None if system == "fasttext" else variant)]
        record, seconds = _run_unit(base_cfg, out, plan, name, fold, seed, system, variant, autotune)
        if not record.reused:
            done.append((key, seconds))
        records.append(record)
        emit(BenchmarkProgress(index, len(jobs), name, system, variant, fold, plan.k, seed,
                               time.perf_counter() - t_start, _eta(done, [(j[0], j[3], j[4]) for j in jobs[index:]]),
                               record.accuracy, record.reused))  # fmt: skip
    machine["load_average_end"] = load_average()
    settings = {
        "datasets": list(datasets), "models": list(models), "seeds": seed_list, "folds": folds,
        "fold_seed": FOLD_SEED, "max_folds": max_folds, "fasttext": fasttext, "autotune": autotune, "sets": list(sets),
        "data_dir": str(data_dir) if data_dir is not None else None,
    }  # fmt: skip
    return BenchmarkResult(machine=machine, plans=plans, records=records, settings=settings)


def _check_benchmark_args(fasttext: bool, seeds: int, max_folds: int | None, autotune: float | None) -> None:
    """Refuse fastText when it is not installed, and counts or budgets that are not positive."""
    if fasttext and not fasttext_available():
        raise BenchmarkError(FASTTEXT_INSTALL)
    if seeds < 1:
        raise BenchmarkError(f"--seeds {seeds} must be >= 1")
    if max_folds is not None and max_folds < 1:
        raise BenchmarkError(f"--max-folds {max_folds} must be >= 1")
    if autotune is not None and autotune <= 0:
        raise BenchmarkError(f"--autotune {autotune} must be a positive number of seconds")


def _run_unit(base_cfg, out: Path, plan, name: str, fold, seed: int, system: str, variant: str, autotune):
    """One unit (fold x seed) of one system: write its split files, then train and score (or reuse) its run.

    Returns the record and the seconds of the run (split files excluded: what the ETA scales)."""
    if autotune is not None:  # its trials are chosen on the held-out rows
        data = dataclasses.replace(base_cfg.data, validation_fraction=selection_fraction(base_cfg))
        base_cfg = dataclasses.replace(base_cfg, data=data)
    split = unit_split(plan, fold, seed, lambda n: holdout_fraction(base_cfg, n))
    name = folder_name(name)
    split_dir = write_split_files(plan, split, out / "splits" / name / unit_name(plan, fold, seed))
    t0 = time.perf_counter()
    if system == "textcnn":
        run_dir = out / "runs" / name / variant / unit_name(plan, fold, seed)
        cfg = unit_config(base_cfg, split_dir, seed)
        pin_held_out(cfg, len(split.train) + len(split.validation))  # its validation rows came out of train
        record = _textcnn_run(cfg, run_dir, plan, fold, seed, autotune)
    else:
        run_dir = out / "runs" / name / f"fasttext-{variant}" / unit_name(plan, fold, seed)
        record = _fasttext_run(base_cfg, split_dir, run_dir, plan, variant, fold, seed)
    return record, time.perf_counter() - t0


def folder_name(dataset: str) -> str:
    """A DATASET as one folder name under --out: a suite name as it is, a path or hub id with its
    separators turned into dashes ('/data/trec' -> 'data-trec'), never a path that leaves --out."""
    name = re.sub(r"[^\w.-]+", "-", dataset).strip("-.")
    return name or "dataset"


def same_run_settings(run_dir: Path, cfg: Config) -> bool:
    """Whether the run in `run_dir` was started with `cfg`: every field `cfg` sets has the saved value.
    The fields `cfg` leaves unset are the ones the run chose from the data (`SIZE_DEFAULTS`), so the
    saved config holds values there; an interrupted run with the same settings is resumed."""
    try:
        saved = config_from_toml(run_dir / "config.toml")
    except ConfigError:
        return False
    for section, values in cfg.to_dict().items():
        kept = getattr(saved, section)
        if any(v is not None and getattr(kept, k) != v for k, v in values.items()):
            return False
    return True


def _reusable(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return saved if saved.get("settings") == settings else None


def _record(plan, system, variant, fold, seed, result: dict[str, Any], run_dir: Path, reused: bool) -> RunRecord:
    return RunRecord(
        dataset=plan.name, system=system, variant=variant, fold=fold, seed=seed, accuracy=result["accuracy"],
        train_seconds=result["train_seconds"], n_train=result["n_train"], n_test=result["n_test"],
        run_dir=str(run_dir), reused=reused,
    )  # fmt: skip


def _textcnn_run(cfg: Config, run_dir: Path, plan: DatasetPlan, fold, seed, autotune: float | None) -> RunRecord:
    from textcnn.training.trainer import CKPT, train

    settings = {"config": to_toml(cfg), "autotune": autotune, "rows": split_digest(Path(cfg.data.path or "."))}
    saved = _reusable(run_dir, settings)
    if saved is not None:
        return _record(plan, "textcnn", cfg.model.name, fold, seed, saved["result"], run_dir, True)
    if autotune is not None:
        from textcnn.training.autotune import autotune as autotune_fn

        autotune_fn(cfg, autotune, run_dir, overwrite=True)
    elif (run_dir / CKPT).is_file() and same_run_settings(run_dir, cfg):
        train(resume=run_dir)
    else:
        train(cfg, run_dir, overwrite=True)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    if summary.get("test_accuracy") is None:
        raise BenchmarkError(f"{run_dir}: the run scored no test rows")
    result = {
        "accuracy": summary["test_accuracy"],
        "train_seconds": summary["train_seconds"],
        "n_train": summary["train_examples"],
        "n_test": len(plan.test_texts) if fold is None else int((plan.folds == fold).sum()),
        "best_val_accuracy": summary["best_val_accuracy"],
    }
    runlib.atomic_write_json(run_dir / RESULT_FILE, {"settings": settings, "result": result})
    return _record(plan, "textcnn", cfg.model.name, fold, seed, result, run_dir, False)


def _fasttext_run(cfg: Config, split_dir: Path, run_dir: Path, plan, variant: str, fold, seed) -> RunRecord:
    threads = cfg.train.threads or 1
    vectors = cfg.model.embeddings if variant == VECTORS_VARIANT else None
    settings = {
        "variant": variant, "options": fasttext_options(variant), "seed": seed,
        "threads": threads, "tokenizer": dataclasses.asdict(cfg.tokenizer), "rows": split_digest(split_dir),
    }  # fmt: skip
    if vectors:
        settings["vectors"] = vectors
    saved = _reusable(run_dir, settings)
    if saved is not None:
        return _record(plan, "fasttext", variant, fold, seed, saved["result"], run_dir, True)
    result = run_fasttext(split_dir, cfg.tokenizer, variant, seed, threads, vectors=vectors)
    run_dir.mkdir(parents=True, exist_ok=True)
    runlib.atomic_write_json(run_dir / RESULT_FILE, {"settings": settings, "result": result})
    return _record(plan, "fasttext", variant, fold, seed, result, run_dir, False)


# ---------------------------------------------------------------------------------------------
# Summary: the benchmark.json dict


def _stats(accuracies: list[float], seconds: list[float | None]) -> dict[str, Any]:
    timed = [s for s in seconds if s is not None]  # records gathered from elsewhere may carry no time
    return {
        "accuracies": accuracies,
        "median": statistics.median(accuracies),
        "mean": statistics.fmean(accuracies),
        "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "train_seconds": statistics.median(timed) if timed else None,
    }


def per_seed_accuracies(records: Sequence[RunRecord]) -> list[float]:
    """One accuracy per seed: the run's own, or the mean over the folds for cross-validation (Kim's)."""
    by_seed: dict[int, list[float]] = {}
    for r in records:
        by_seed.setdefault(r.seed, []).append(r.accuracy)
    return [statistics.fmean(by_seed[s]) for s in sorted(by_seed)]


def summarize(result: BenchmarkResult) -> dict[str, Any]:
    """benchmark.json: machine, and per dataset the protocol, sizes, textcnn / fastText / Kim figures.

    accuracies: one per seed (CV: mean over folds); train_seconds: median training time of one run."""
    out: dict[str, Any] = {"machine": result.machine, "datasets": {}}
    for name, plan in result.plans.items():
        entry: dict[str, Any] = {"protocol": plan.protocol, "n_train": plan.n_train, "n_test": plan.n_test}
        for system in ("textcnn", "fasttext"):
            recs = [r for r in result.records if r.dataset == name and r.system == system]
            if not recs:
                continue
            variants = list(dict.fromkeys(r.variant for r in recs))
            entry[system] = {
                v: _stats(
                    per_seed_accuracies([r for r in recs if r.variant == v]),
                    [r.train_seconds for r in recs if r.variant == v],
                )
                for v in variants
            }
        if name in KIM2014:
            entry["kim2014"] = dict(KIM2014[name])
        out["datasets"][name] = entry
    return out


def folds_note(result: BenchmarkResult) -> str | None:
    """One line when cross-validation ran on only some of its folds, naming them; else None."""
    parts = []
    for name, plan in result.plans.items():
        if plan.k is None:
            continue
        run = sorted({r.fold for r in result.records if r.dataset == name and r.fold is not None})
        if len(run) < plan.k:
            parts.append(f"{name}: folds {', '.join(str(f + 1) for f in run)} of {plan.k}")
    if not parts:
        return None
    return (
        "Partial cross-validation (--max-folds): " + "; ".join(parts) + ". Each seed's figure is the mean over the "
        "folds run, each fold trained on the rest of the rows as in full K-fold CV."
    )


def write_records(result: BenchmarkResult, path: Path) -> Path:
    """Every run, one JSON object per line (records.jsonl beside benchmark.json)."""
    runlib.atomic_write_text(path, "".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in result.records))
    return path


def default_data_dir() -> str | None:
    return os.environ.get("TEXTCNN_DATA_DIR") or None
