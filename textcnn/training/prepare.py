"""What training needs from the data, prepared once: loaded splits, a tokenizer, token ids, vectors.

`prepare(cfg)` loads and cleans the data (textcnn.data.sources), trains the tokenizer (or takes a
run's), and encodes every split (cached by `datasets`). compare prepares once and trains several
models on the result; `tokenize_report` is `textcnn tokenize`.

Not here: the training loop (trainer.py), padding into tensors (textcnn.data.batching).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import AUTO_LENGTH, Config, auto_max_length
from textcnn.data.tokenizer import (
    Encoded,
    encode_dataset,
    encode_in_parts,
    pad_id,
    train_tokenizer_cached,
    truncation_note,
)
from textcnn.errors import TrainingError
from textcnn.events import Callback
from textcnn.runtime import usable_cores

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything training needs from the data, tokenized once."""

    cfg: Config
    tokenizer: object  # tokenizers.Tokenizer
    label_names: list[str]
    encoded: dict[str, Encoded]  # train / validation / test
    test_labelled: bool
    report_lines: list[str]
    source: str
    seconds: float
    examples: list[str]  # a few validation texts, to show encodings
    local_path: str | None = None
    """The local file or folder the data were read from (absolute), None for the hub."""
    held_out: int = 0
    """Training rows held out as the validation split (0: the data has a validation split of its own)."""

    @property
    def n_train_rows(self) -> int:
        """The training rows before any hold-out: the size `config.holdout_fraction` chose the held-out
        share for, so `config.resolve_for_data` picks the same size regime from it."""
        return len(self.encoded["train"]) + self.held_out

    @property
    def pad_id(self) -> int:
        return pad_id(self.tokenizer)


def prepare(cfg: Config, tokenizer=None, label_names: list[str] | None = None) -> Prepared:
    """Load the data, train (or take) the tokenizer, encode every split (cached by `datasets`)."""
    import datasets

    from textcnn.config import holdout_fraction
    from textcnn.data.sources import load_data

    datasets.disable_progress_bars()  # our own display reports progress; theirs would interleave
    t0 = time.perf_counter()
    data = load_data(cfg.data, seed=cfg.train.seed, fraction=lambda n: holdout_fraction(cfg, n))
    if cfg.data.validation_fraction is None and data.validation_fraction is not None:
        # the run's config records the share held out: a resume holds out the same rows
        cfg.data.validation_fraction = data.validation_fraction
    if label_names is not None and list(label_names) != list(data.label_names):
        raise TrainingError(f"the data's labels {data.label_names} differ from the run's {label_names}")
    train_ds = data.splits["train"]
    chosen = cfg.tokenizer.max_length is None  # then chosen from the training texts (config.AUTO_LENGTH)
    max_length, train_ids = AUTO_LENGTH["most"] if chosen else cfg.tokenizer.max_length, None
    workers = cfg.train.threads or usable_cores()  # a large set is tokenized on these cores
    if tokenizer is None:  # read back when this data was seen before; else the train ids come with it
        tokenizer, train_ids = train_tokenizer_cached(train_ds, cfg.tokenizer, max_length, workers)
    encoded = {}
    for name, ds in data.splits.items():
        ids = train_ids if name == "train" else None
        if name != "train" and train_ids is not None:  # a new tokenizer: no other split is cached yet
            ids = encode_in_parts(ds, tokenizer, max_length, workers)
        encoded[name] = encode_dataset(ds, tokenizer, max_length, ids)
    del train_ids, ids
    if chosen:  # encoded up to the longest length it could choose; now cut to the one it chose
        max_length = cfg.tokenizer.max_length = auto_max_length(encoded["train"].n_tokens)
        encoded = {name: enc.cut(max_length) for name, enc in encoded.items()}
    if chosen and max_length > AUTO_LENGTH["least"]:
        data.report.notes.append(_length_note(encoded["train"], max_length))  # says what it cuts too
    elif cut := truncation_note(encoded["train"], max_length):
        data.report.notes.append(cut)
    return Prepared(
        cfg=cfg,
        tokenizer=tokenizer,
        label_names=list(data.label_names),
        encoded=encoded,
        test_labelled=data.test_labelled,
        report_lines=data.report.lines(),
        source=data.source,
        seconds=time.perf_counter() - t0,
        examples=list(data.splits["validation"][:3]["text"]),
        local_path=_local_path(cfg),
        held_out=len(data.splits["validation"]) if data.validation_from_train else 0,
    )


def _length_note(enc, max_length: int) -> str:
    """The data report's one line on a length chosen above the least (`config.AUTO_LENGTH`): how much it
    reads whole, and how many texts it cuts (then no `truncation_note` beside it)."""
    whole = 1 - enc.truncated / max(len(enc), 1)
    cut = f", {enc.truncated:,} of {len(enc):,} cut to their first {max_length} tokens" if enc.truncated else ""
    return (
        f"tokenizer.max_length={max_length}, chosen from the data: reads {whole:.1%} of the training texts whole"
        f"{cut} (the 99th percentile of their lengths, within {AUTO_LENGTH['least']}-{AUTO_LENGTH['most']}; "
        "a step's time grows with its longest row; --set tokenizer.max_length=N to choose)"
    )


def _local_path(cfg: Config) -> str | None:
    from textcnn.data import sources

    resolve = getattr(sources, "resolved_path", None)
    if resolve is None:  # pragma: no cover - an older data layer
        return None
    p = resolve(cfg.data)
    return str(p) if p is not None else None


def tokenize_report(cfg: Config, out: str | Path) -> dict:
    """Train (or load) the tokenizer, write it to `out`, and return `tokenizer_stats` for every split."""
    from textcnn.data.tokenizer import tokenizer_stats

    prepared = prepare(cfg)
    runlib.atomic_write_text(out, prepared.tokenizer.to_str(pretty=True))
    return tokenizer_stats(prepared.tokenizer, prepared.encoded, cfg.tokenizer.max_length, prepared.examples)


def load_vectors_for(cfg: Config, prepared: Prepared, emit: Callback):
    """The pretrained vectors `cfg.model.embeddings` names, aligned to the tokenizer's vocabulary."""
    import numpy as np

    from textcnn.data.vectors import DEFAULT_INIT_RANGE, load_vectors

    enc = prepared.encoded["train"]
    vocab = prepared.tokenizer.get_vocab()
    id_to_tok = {i: w for w, i in vocab.items()}
    counts = np.bincount(enc.ids, minlength=len(id_to_tok))  # (V,), no Python object per token
    token_counts = {id_to_tok[i]: int(counts[i]) for i in np.flatnonzero(counts) if i in id_to_tok}
    res = load_vectors(cfg.model.embeddings, vocab, token_counts=token_counts, seed=cfg.train.seed)
    if res.dim != cfg.model.embedding_dim:
        log.info("model.embedding_dim set to the vectors' dimension %d", res.dim)
        cfg.model.embedding_dim = res.dim
    summary = res.summary()
    if cfg.model.vector_scale == "kim" and res.init_range != DEFAULT_INIT_RANGE:
        factor = DEFAULT_INIT_RANGE / res.init_range  # the found vectors' spread -> Kim's U[-0.25, 0.25]
        res.vectors.mul_(factor)
        summary += f"; scaled by {factor:.3g} to the spread of Kim's random vectors (model.vector_scale)"
    emit(ev.VectorsLoaded(summary))
    return res.vectors
