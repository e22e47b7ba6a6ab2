"""The one configuration schema: dataclasses for data, tokenizer, model and training.

Defaults live here and only here. Config files (TOML, in `configs/`) hold overrides; `--set
section.key=value` overrides a single field, type-checked against this schema. This module knows
nothing about torch or datasets: it only describes and validates settings.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textcnn.errors import ConfigError
from textcnn.models.registry import MODELS as MODEL_TABLE
from textcnn.models.registry import NAMES as MODEL_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _config_dir() -> Path:
    """configs/ of a source checkout, or the copy a wheel installs as the textcnn.configs package."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "configs"
    return checkout if checkout.is_dir() else here / "configs"


CONFIG_DIR = _config_dir()


@dataclass
class DataConfig:
    dataset: str = ""
    """Preset name (configs/<name>.toml), Hugging Face hub id, or a local file/folder."""
    hub_id: str | None = None
    """Hub id to load when `dataset` is a preset (set by the preset file)."""
    hub_config: str | None = None
    """Hub configuration name, e.g. 'plain_text' (optional)."""
    path: str | None = None
    """Local copy to read instead of the hub (a folder in the hub's layout or data files)."""
    text_column: str | None = None
    """Column holding the text; found by common names when unset. Columns joined by '+' (title+body) make
    one text: their cells joined by a space."""
    label_column: str | None = None
    """Column holding the label; found by common names when unset."""
    train_split: str = "train"
    """Split used for training."""
    validation_split: str | None = None
    """Split used for model selection; unset: 'validation'/'valid'/'dev' if present, else held out."""
    test_split: str | None = None
    """Split scored at the end; unset: 'test' if present."""
    validation_fraction: float | None = None
    """Share of train held out (seeded, stratified) when the dataset has no validation split. Unset: 10% where
    a checkpoint is chosen on those rows, 2% (at least 100 rows) where the last epoch is kept and they only
    watch training (`holdout_fraction`)."""
    max_train_rows: int | None = None
    """Use only the first N training rows (quick experiments)."""
    bad_lines: str = "error"
    """A local csv / tsv row with more fields than the header, a JSON line that is not a record, or a line
    that is not UTF-8 in a UTF-8 csv or JSON-lines file: `error` stops and names the lines; `skip` skips
    every such line and names them in a warning."""
    merge_label_variants: bool = True
    """String labels that differ only in case or spacing ('Positive', 'positive ', 'POSITIVE') are one
    class, named by its most frequent spelling in train; false: a class each."""


@dataclass
class TokenizerConfig:
    kind: str = "word"
    """word | bpe | wordpiece | unigram, or the path of an existing tokenizer.json."""
    vocab_size: int = 30000
    """Vocabulary size for subword tokenizers (word: upper bound, 0 = no limit)."""
    min_frequency: int = 1
    """Minimum count for a word to enter the vocabulary (Kim 2014 uses 1)."""
    lowercase: bool = True
    """Lowercase text before tokenizing (Kim lowercases every dataset except TREC)."""
    max_length: int | None = None
    """Longer inputs are truncated to this many tokens. Unset: chosen from the training texts, the length
    that reads 99% of them whole rounded up to a multiple of 64, at least 256 and at most 1,024
    (`AUTO_LENGTH`; the data report says what was chosen); the run's config records the value."""


@dataclass
class ModelConfig:
    name: str = "cnn"
    """cnn | cnn2d | image2d | lstm."""
    embedding_dim: int = 300
    """Word vector size (the pretrained vectors' size when `embeddings` is set)."""
    embedding_mode: str = "rand"
    """rand | static | non-static | multichannel (Kim 2014)."""
    embeddings: str | None = None
    """Pretrained vectors: word2vec .bin/.txt, GloVe .txt, fastText .vec, optionally .gz."""
    vector_scale: str = "kim"
    """`kim`: pretrained vectors are multiplied by one factor so their values have the variance of Kim's random
    initialisation U[-0.25, 0.25] (the scale of the word2vec vectors Kim trained with; GloVe 6B's values are
    4.8 times larger, and with them the default training step overshoots); `none`: as in the file. Runs
    saved before this field existed: none."""
    widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    """Filter widths of the convolutions (cnn, cnn2d)."""
    feature_maps: int = 100
    """Filters per width (cnn, cnn2d)."""
    edge_padding: bool | None = None
    """cnn, cnn2d: max(widths) - 1 pad tokens before and after every sentence, as Kim (2014)'s code pads,
    so windows over a sentence's first and last words compete too. Unset: chosen from the training-set
    size (`SIZE_DEFAULTS`); runs saved before this field existed: off."""
    activation: str = "relu"
    """relu | tanh | gelu | identity."""
    pooling: str = "max"
    """Pooling over time for the CNNs: max | avg | kmax; the LSTM's: last | max | mean."""
    k: int = 2
    """k of k-max pooling (Kalchbrenner et al. 2014)."""
    dropout: float = 0.5
    """Dropout before the classifier."""
    embedding_dropout: float | None = None
    """Dropout on the embedded words (the models' input) while training; 0 = off, as in Kim 2014.
    Unset: from `SIZE_DEFAULTS` (0.3 for every size since it was measured on small sets too)."""
    unk_vector: str = "random"
    """The word vector of `[UNK]` (words the training data never had): `random`, initialised as every
    other word's (Kim gives each unseen word its own random vector), or `zero`."""
    max_norm: float | None = 3.0
    """Kim's constraint: L2 norm of each classifier weight row <= max_norm (unset: off)."""
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    """image2d: output channels of each conv block."""
    kernel_size: int = 3
    """image2d: square kernel size."""
    stride: int = 1
    """image2d: conv stride."""
    padding: int = 1
    """image2d: conv padding."""
    pool2d: str = "max"
    """image2d: pooling between blocks, max | avg."""
    patch: int = 4
    """image2d: the first conv's kernel spans, and strides over, this many embedding dimensions."""
    batch_norm: bool = False
    """image2d: BatchNorm after each conv."""
    hidden_size: int = 150
    """lstm: hidden units per direction."""
    num_layers: int = 1
    """lstm: stacked layers."""
    bidirectional: bool = True
    """lstm: run a backward LSTM too."""


@dataclass
class TrainConfig:
    epochs: int | None = None
    """Maximum number of epochs; unset: chosen from the training-set size (`SIZE_DEFAULTS`)."""
    batch_size: int = 50
    """Sentences per batch (Kim 2014: 50)."""
    optimizer: str = "adadelta"
    """adadelta | adam | adamw | sgd."""
    lr: float = 1.0
    """Learning rate."""
    lr_schedule: str = "constant"
    """constant | linear: the learning rate falls linearly from `lr` to 0 over `epochs` (by step)."""
    weight_decay: float = 0.0
    """L2 penalty (dense parameters only)."""
    label_smoothing: float = 0.0
    """Cross-entropy against (1 - x) on the true class plus x spread evenly over all classes (0 = off)."""
    class_weight: str = "none"
    """none | balanced: weight each class's training loss by n / (k * n_c), n training rows, k classes with
    rows, n_c the class's rows (scikit-learn's "balanced"), for imbalanced data where the rare classes
    matter more than accuracy (macro-F1, recall); validation and test losses stay unweighted."""
    rho: float = 0.95
    """Adadelta decay (Kim: 0.95)."""
    eps: float = 1e-6
    """Adadelta / Adam epsilon (Kim: 1e-6)."""
    sparse_embedding: bool = True
    """Update only the embedding rows a batch uses (lazy Adadelta/Adam); much faster on CPU."""
    patience: int | None = None
    """Stop after this many evaluations without a better validation accuracy (0 = never); unset: chosen
    from the training-set size (`SIZE_DEFAULTS`), 0 wherever the validation rows are held out of train."""
    select_by: str | None = None
    """Which validation pass's weights are kept: the best `accuracy`, the lowest `loss` (the held-out
    cross-entropy: better calibrated, earlier checkpoints), the best `macro_f1` (the mean F1 over the
    classes: for imbalanced data, with `class_weight`), or the `last` (no selection on a noisy held-out
    split); patience counts passes without a better one. Unset: chosen from the training-set
    size (`SIZE_DEFAULTS`), and `last` wherever the validation rows are held out of train
    (`HELD_OUT_DEFAULTS`); runs saved before this field existed: accuracy. docs/results/README.md "The standard suite"
    has what each did on MR, Subj, SST-5 and TREC."""
    evals_per_epoch: int | None = None
    """Validation passes per epoch (best checkpoint selection and time-to-accuracy curves); unset:
    chosen from the training-set size (`SIZE_DEFAULTS`)."""
    seed: int = 0
    """Random seed for initialisation, data order and dropout."""
    device: str = "auto"
    """auto | cpu | cuda | mps."""
    threads: int | None = None
    """CPU threads for torch (unset: every core this process may use; on a busy machine use 1)."""
    precision: str = "auto"
    """auto | fp32 | bf16: bf16 autocast (fp32 weights and loss); auto = bf16 where the hardware has it."""
    eval_max_examples: int | None = 10_000
    """Validation passes score at most this many examples, a fixed seeded subsample (unset: all of them),
    so the 10% hold-out of a large set never stalls training; the test split is always scored in full."""
    compile: bool = False
    """torch.compile the model (dynamic shapes; the first batches compile, seconds each). On 2 CPU cores,
    SST-2, one epoch with its compiling: cnn 16.3 s against 12.6 s uncompiled, lstm 31.9 s against 35.2 s;
    off by default (docs/results/speed/README.md)."""
    bucket_chunk: int = 100
    """Length bucketing: sort within shuffled chunks of this many batches."""
    checkpoint_every_steps: int = 0
    """Also write a resumable checkpoint every N steps (0 = off)."""
    checkpoint_every_minutes: float = 10.0
    """Also write a resumable checkpoint every N minutes (0 = off)."""
    log_every: int = 50
    """Steps between progress updates (the only place the loss is read back)."""
    max_seconds: float | None = None
    """Stop training after this many seconds (a wall-time budget; unset: no limit)."""
    max_steps: int | None = None
    """Stop training after this many optimizer steps, with a validation pass there (unset: no limit). A
    run cut by `max_seconds` reproduces with `max_steps` = its `steps`; autotune records it so."""

    @property
    def bf16(self) -> bool:
        """Old name: True when bf16 was asked for explicitly (`auto` is resolved per device, not here)."""
        return self.precision == "bf16"


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("data", "bad_lines"): ("error", "skip"),
    ("model", "name"): MODEL_NAMES,
    ("model", "embedding_mode"): ("rand", "static", "non-static", "multichannel"),
    ("model", "activation"): ("relu", "tanh", "gelu", "identity"),
    ("model", "pool2d"): ("max", "avg"),
    ("model", "unk_vector"): ("random", "zero"),
    ("model", "vector_scale"): ("kim", "none"),
    ("train", "optimizer"): ("adadelta", "adam", "adamw", "sgd"),
    ("train", "lr_schedule"): ("constant", "linear"),
    ("train", "select_by"): ("accuracy", "loss", "macro_f1", "last"),
    ("train", "class_weight"): ("none", "balanced"),
    ("train", "device"): ("auto", "cpu", "cuda", "mps"),
    ("train", "precision"): ("auto", "fp32", "bf16"),
}
MODELS = CHOICES[("model", "name")]
SUBWORD_KINDS = ("bpe", "wordpiece", "unigram")


def validate(cfg: Config) -> None:
    """Check every field; raise one ConfigError that lists all the problems found."""
    problems = _choice_problems(cfg) + _positive_problems(cfg)
    problems += _model_problems(cfg.model) + _train_problems(cfg.train) + _tokenizer_problems(cfg.tokenizer)
    if cfg.data.validation_fraction is not None and not 0.0 < cfg.data.validation_fraction < 1.0:
        problems.append(f"data.validation_fraction={cfg.data.validation_fraction} must be in (0, 1)")
    if problems:
        raise ConfigError("; ".join(problems))


def _choice_problems(cfg: Config) -> list[str]:
    """Fields that must be one of a fixed set (CHOICES), and the pooling the model kind allows."""
    problems: list[str] = []
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in allowed and not (value is None and f"{section}.{key}" in SIZE_DEFAULTS["small"]):
            problems.append(f"{section}.{key}={value!r} is not one of {', '.join(allowed)}")
    m = cfg.model
    pools = MODEL_TABLE[m.name].poolings if m.name in MODEL_TABLE else ()  # an unknown name: reported above
    if pools and m.pooling not in pools:
        problems.append(f"model.pooling={m.pooling!r} is not one of {', '.join(pools)} for {m.name}")
    return problems


def _positive_problems(cfg: Config) -> list[str]:
    """Sizes and counts that must be >= 1 when set."""
    m, t, tk = cfg.model, cfg.train, cfg.tokenizer
    positive = {
        "model.embedding_dim": m.embedding_dim,
        "model.feature_maps": m.feature_maps,
        "model.k": m.k,
        "model.kernel_size": m.kernel_size,
        "model.stride": m.stride,
        "model.patch": m.patch,
        "model.hidden_size": m.hidden_size,
        "model.num_layers": m.num_layers,
        "train.epochs": t.epochs,
        "train.batch_size": t.batch_size,
        "train.bucket_chunk": t.bucket_chunk,
        "train.evals_per_epoch": t.evals_per_epoch,
        "train.log_every": t.log_every,
        "train.max_steps": t.max_steps,
        "tokenizer.max_length": tk.max_length,
        "tokenizer.min_frequency": tk.min_frequency,
    }
    return [f"{k}={v} must be >= 1" for k, v in positive.items() if v is not None and v < 1]


def _model_problems(m: ModelConfig) -> list[str]:
    """The model section's lists, probabilities, norms and embeddings."""
    problems: list[str] = []
    if not m.widths or any(w < 1 for w in m.widths):
        problems.append(f"model.widths={m.widths} must be a non-empty list of widths >= 1")
    if not m.channels or any(c < 1 for c in m.channels):
        problems.append(f"model.channels={m.channels} must be a non-empty list of sizes >= 1")
    if m.padding < 0:
        problems.append(f"model.padding={m.padding} must be >= 0")
    for name in ("dropout", "embedding_dropout"):
        if getattr(m, name) is not None and not 0.0 <= getattr(m, name) < 1.0:
            problems.append(f"model.{name}={getattr(m, name)} must be in [0, 1)")
    if m.max_norm is not None and m.max_norm <= 0:
        problems.append(f"model.max_norm={m.max_norm} must be > 0 (or unset to switch it off)")
    if m.embedding_mode != "rand" and not m.embeddings:
        problems.append(f"model.embedding_mode={m.embedding_mode!r} needs model.embeddings (a vectors file)")
    return problems


def _train_problems(t: TrainConfig) -> list[str]:
    """The train section's learning rate, threads, evaluation size, patience and checkpoint intervals."""
    problems: list[str] = []
    if t.lr <= 0:
        problems.append(f"train.lr={t.lr} must be > 0")
    if not 0 <= t.label_smoothing < 1:
        problems.append(f"train.label_smoothing={t.label_smoothing} must be in [0, 1)")
    if t.threads is not None and t.threads < 1:
        problems.append(f"train.threads={t.threads} must be >= 1")
    if t.eval_max_examples is not None and t.eval_max_examples < 1:
        problems.append(f"train.eval_max_examples={t.eval_max_examples} must be >= 1 (or unset: every example)")
    if (t.patience or 0) < 0 or t.checkpoint_every_steps < 0 or t.checkpoint_every_minutes < 0:
        problems.append("train.patience and train.checkpoint_every_* must be >= 0")
    if t.select_by == "last" and t.patience:
        problems.append(
            f"train.patience={t.patience} stops after passes without a better one, but train.select_by=last "
            "keeps every pass: set train.patience=0 or train.select_by=accuracy"
        )
    return problems


def _tokenizer_problems(tk: TokenizerConfig) -> list[str]:
    """The tokenizer's kind and vocabulary size."""
    problems: list[str] = []
    if tk.vocab_size < 0:
        problems.append(f"tokenizer.vocab_size={tk.vocab_size} must be >= 0")
    if tk.kind in SUBWORD_KINDS and tk.vocab_size < 10:
        problems.append(f"tokenizer.vocab_size={tk.vocab_size} is too small for a {tk.kind} tokenizer")
    if tk.kind not in ("word", *SUBWORD_KINDS) and not tk.kind.endswith(".json"):
        problems.append(
            f"tokenizer.kind={tk.kind!r} is not one of word, {', '.join(SUBWORD_KINDS)} or a tokenizer.json path"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Defaults chosen from the data: how long to train, how often to validate and how much input dropout
# depend on how many training examples there are.

LARGE_DATA = 20_000
"""Training examples (after the validation hold-out) from which the large-data defaults apply."""

SIZE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Kim (2014)'s schedule for Kim-sized sets (MR, Subj, SST-5, TREC: 5k-10k sentences): 25 epochs,
    # one validation pass per epoch, no early stopping, Kim's edge padding; the last epoch's weights are
    # kept (best-of-25 on ~900 held-out rows kept noise: MR 75.9 -> 76.4 over folds 1-3 x seeds 0-2,
    # SST-5 +0.5, Subj and TREC level). Dropout 0.3 on the input word vectors, as on large sets, where
    # Kim has none: paired with none, MR +1.1 (folds 1-5 x 3 seeds), Subj +0.8 (folds 1-2), TREC +0.4 (fold 1 of its
    # train split), SST-5 -1.2 (docs/results/benchmark/embedding_dropout). README "Configuration"; the
    # measurements are in docs/results/README.md "The standard suite" and docs/results/selection.
    "small": {
        "train.epochs": 25,
        "train.evals_per_epoch": 1,
        "train.patience": 0,
        "model.embedding_dropout": 0.3,
        "model.edge_padding": True,
        "train.select_by": "last",
    },
    # Chosen on SST-2 (67k phrases): 12 epochs, 4 validation passes per epoch, stop after 20 passes (5
    # epochs) without a better one, dropout 0.3 on the input word vectors, the best pass kept (on a
    # validation split of the data's own; rows held out of train keep the last pass: HELD_OUT_DEFAULTS).
    # No edge padding: on SST-2's short phrases it would nearly double the tokens each step computes.
    "large": {
        "train.epochs": 12,
        "train.evals_per_epoch": 4,
        "train.patience": 20,
        "model.embedding_dropout": 0.3,
        "model.edge_padding": False,
        "train.select_by": "accuracy",
    },
}
"""The values of the size-dependent fields (those whose schema default is unset) for each regime."""

HELD_OUT_DEFAULTS: dict[str, Any] = {"train.patience": 0, "train.select_by": "last"}
"""Where the validation rows are held out of the training data, at every size: the last pass is kept and
nothing stops early. Held-out rows are the training data's own kind (on SST-2, 89% of held-out phrases
occur inside a training phrase), so a pass chosen on them is chosen for what training already saw; SST-2 by
the benchmark's protocol, 8 seeds paired: best held-out pass 82.4 mean / 82.3 median, last pass 82.9 /
83.7 (docs/results/selection/held_out). Small sets keep the last epoch anyway (SIZE_DEFAULTS)."""


AUTO_LENGTH = {"share": 0.99, "multiple": 64, "least": 256, "most": 1024}
"""How an unset `tokenizer.max_length` is chosen from the training texts' token counts: the count that
`share` of them do not exceed, rounded up to a multiple of `multiple`, within [least, most]. 256 was the
fixed default (every text of Kim's sets and SST-2 is shorter, so nothing changes there); longer documents
are now read whole up to 1,024 tokens, where a 50-row batch's convolution output (50 x 1,024 x 1,200
floats) takes 246 MB."""


def auto_max_length(n_tokens) -> int:
    """`tokenizer.max_length` for training texts of `n_tokens` tokens each (`AUTO_LENGTH`)."""
    import numpy as np

    a = AUTO_LENGTH
    if len(n_tokens) == 0:
        return a["least"]
    need = int(np.ceil(np.quantile(np.asarray(n_tokens), a["share"], method="inverted_cdf")))
    rounded = -(-need // a["multiple"]) * a["multiple"]
    return int(min(a["most"], max(a["least"], rounded)))


SELECT_FRACTION = 0.1
"""Share of train held out for validation (no validation split) when a checkpoint is chosen on it."""
WATCH_FRACTION = 0.02
"""Share held out when the last epoch is kept: those rows only watch training (at least WATCH_ROWS)."""
WATCH_ROWS = 100


def selection_fraction(cfg: Config) -> float:
    """The share of train held out where those rows choose something (a checkpoint, compare's curves,
    autotune's trials): `data.validation_fraction` when set, else SELECT_FRACTION."""
    return cfg.data.validation_fraction if cfg.data.validation_fraction is not None else SELECT_FRACTION


def holdout_fraction(cfg: Config, n_rows: int) -> float:
    """The share of `n_rows` training rows held out for validation when the data has no validation split:
    `data.validation_fraction` when set; else SELECT_FRACTION where a checkpoint is chosen on those rows
    (20,000 rows and more: the best pass; early stopping; `select_by` accuracy or loss), and where the last
    epoch is kept (the Kim-sized sets' default) WATCH_FRACTION, at least WATCH_ROWS rows and at most
    SELECT_FRACTION: rows that select nothing only watch training, and held out they are only training data
    lost (TREC test and SST-5 validation, 3 seeds each, and MR folds: docs/results/README.md "The standard suite")."""
    chosen = (cfg.train.select_by or _size_default(cfg, "train.select_by", n_rows, held_out=True)) != "last"
    if cfg.data.validation_fraction is not None or chosen:
        return selection_fraction(cfg)
    return min(SELECT_FRACTION, max(WATCH_FRACTION, WATCH_ROWS / max(n_rows, 1)))


def _size_default(cfg: Config, key: str, n_train: int, held_out: bool = False) -> Any:
    """`SIZE_DEFAULTS`' value of `key` for `n_train` training examples, or `HELD_OUT_DEFAULTS`' where the
    validation rows are `held_out` of the training data (where early stopping was asked for,
    `train.select_by` keeps the best pass, never the last)."""
    value = SIZE_DEFAULTS["large" if n_train >= LARGE_DATA else "small"][key]
    if held_out and key in HELD_OUT_DEFAULTS:
        value = HELD_OUT_DEFAULTS[key]
    if key == "train.select_by" and value == "last" and cfg.train.patience:
        value = "accuracy"  # early stopping was asked for: keep the best pass, which it stops after
    return value


def resolve_for_data(cfg: Config, n_train: int, held_out: bool = False) -> str | None:
    """Fill the size-dependent fields left unset with `SIZE_DEFAULTS` for `n_train` training examples
    (`_size_default`): the rows before any validation hold-out, the count `holdout_fraction` decided the
    held-out share by (a 21,000-row file is one size for both, though 10% of it is held out).
    `held_out`: the validation rows were held out of the training data (`HELD_OUT_DEFAULTS`).

    Returns one line saying what was chosen and why, or None when every one of them was set."""
    regime = "large" if n_train >= LARGE_DATA else "small"
    chosen = {}
    for key in SIZE_DEFAULTS[regime]:
        section, name = key.split(".")
        value = _size_default(cfg, key, n_train, held_out)
        if getattr(getattr(cfg, section), name) is None:
            setattr(getattr(cfg, section), name, value)
            chosen[key] = value
    if not chosen:
        return None
    why = (
        f"{n_train:,} training examples >= {LARGE_DATA:,}: the schedule chosen on SST-2"
        if regime == "large"
        else f"{n_train:,} training examples < {LARGE_DATA:,}: Kim (2014)'s schedule"
    )
    if regime == "large" and held_out and chosen.keys() & HELD_OUT_DEFAULTS.keys():
        why += ", the last pass kept as the validation rows are held out of train"
    settings = ", ".join(f"{k}={v}" for k, v in chosen.items())
    return f"defaults for the data size: {settings} ({why}; --set any of them to override)"


def pin_held_out(cfg: Config, n_train: int) -> None:
    """For a run whose validation rows were held out of its training rows before it reads them (the
    benchmark writes them as a split of their own): set the fields, left unset, whose default depends on
    that (`HELD_OUT_DEFAULTS`) where it differs from a validation split's, so the run keeps the last pass
    as `resolve_for_data(..., held_out=True)` would have it."""
    for key in HELD_OUT_DEFAULTS:  # patience first: select_by's default reads it
        section, name = key.split(".")
        if getattr(getattr(cfg, section), name) is None:
            value = _size_default(cfg, key, n_train, held_out=True)
            if value != _size_default(cfg, key, n_train):
                setattr(getattr(cfg, section), name, value)


# ---------------------------------------------------------------------------------------------
# Overrides: nested dicts (TOML files) and dotted `section.key=value` strings.

_SECTION_TYPES = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig, "train": TrainConfig}


@functools.cache  # typing.get_type_hints compiles every annotation string: once per section and process
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check `value` against the annotation `hint`, converting TOML/CLI values where lossless."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        is_null = value is None or (isinstance(value, str) and value.lower() in ("none", "null", ""))
        if is_null and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    if origin is list:
        (item,) = args
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} expects a list, got {value!r}")
        return [_coerce(name, v, item) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{name} expects true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} expects an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{name} expects an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{name} expects a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{name} expects a string, got {value!r}")
    return value


META_SECTION = "preset"
"""A table in preset files that describes the dataset (for `textcnn datasets`); not a setting."""


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> None:
    """Merge a nested override dict into `raw` (a nested dict of Config), checking every key."""
    for section, values in overrides.items():
        if section == META_SECTION:
            continue
        if section not in _SECTION_TYPES:
            raise ConfigError(f"unknown config section {section!r} in {source}; valid: {', '.join(_SECTION_TYPES)}")
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] in {source} must be a table of settings")
        types_ = _field_types(_SECTION_TYPES[section])
        for key, value in values.items():
            if (section, key) == ("train", "bf16"):  # before `precision`: run folders and files that say bf16 = ...
                key, value = "precision", "bf16" if _coerce("train.bf16", value, bool) else "fp32"
            if key not in types_:
                raise ConfigError(f"unknown config key {section}.{key!r} in {source}; valid: {', '.join(types_)}")
            raw[section][key] = _coerce(f"{section}.{key}", value, types_[key])


def parse_set(items: list[str]) -> dict[str, Any]:
    """Turn ["model.dropout=0.3", ...] into {"model": {"dropout": "0.3"}} (typed later)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--set {item!r} must look like section.key=value (e.g. model.dropout=0.3)")
        out.setdefault(section, {})[name] = value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    return _read_toml_text(path)[1]


def _read_toml_text(path: str | Path) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and its parsed tables; a ConfigError when it is missing or not TOML."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None


def preset_path(name: str) -> Path | None:
    """configs/<name>.toml for a dataset preset or model file, or the preset whose hub_id is `name`."""
    if not name:
        return None
    if "/" not in name and "\\" not in name:
        p = CONFIG_DIR / f"{name}.toml"
        if p.is_file():
            return p
        for p in sorted(CONFIG_DIR.glob("*.toml")):  # preset names are case-insensitive: SST2 is sst2
            if p.stem.lower() == name.lower():
                return p
    for p in sorted(CONFIG_DIR.glob("*.toml")):
        if read_toml(p).get("data", {}).get("hub_id") == name:
            return p
    return None


def from_dict(raw: dict[str, Any]) -> Config:
    return Config(**{s: _SECTION_TYPES[s](**raw.get(s, {})) for s in _SECTION_TYPES})


def load_config(
    dataset: str | None = None,
    model: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
) -> Config:
    """Resolve a config: defaults < dataset preset < model file < --config file < options < --set.

    `overrides` are the CLI's explicit options (nested dict; None values are ignored).
    """
    raw = dataclasses.asdict(_defaults())
    if dataset:
        raw["data"]["dataset"] = dataset
        p = preset_path(dataset)
        if p is not None:
            apply_overrides(raw, read_toml(p), str(p.name))
    chosen_model = model or (overrides or {}).get("model", {}).get("name")
    if config_file:
        file_over = read_toml(config_file)
        chosen_model = chosen_model or file_over.get("model", {}).get("name")
    raw["model"]["name"] = chosen_model or raw["model"]["name"]
    p = preset_path(raw["model"]["name"])  # the model's own file (configs/cnn.toml, ...), default model included
    if p is not None:
        apply_overrides(raw, read_toml(p), str(p.name))
    if config_file:
        apply_overrides(raw, file_over, str(config_file))
    if overrides:
        clean = {s: {k: v for k, v in d.items() if v is not None} for s, d in overrides.items()}
        apply_overrides(raw, clean, "the command line")
    if sets:
        apply_overrides(raw, parse_set(sets), "--set")
    if model:
        raw["model"]["name"] = model
    try:
        return from_dict(raw)
    except TypeError as e:  # pragma: no cover - apply_overrides checks keys first
        raise ConfigError(str(e)) from None


def _defaults() -> Config:
    return Config()


def to_toml(cfg: Config) -> str:
    """Render the resolved config as TOML (unset optional values are written as comments)."""
    lines: list[str] = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (unset)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


BEFORE_FIELD: dict[tuple[str, str], Any] = {
    ("model", "edge_padding"): False,
    ("model", "vector_scale"): "none",
    ("train", "select_by"): "accuracy",
}
"""What runs saved before a field existed did, where that differs from the field's default."""


def config_from_toml(path: str | Path) -> Config:
    """Load a run's saved config.toml (every key must be known; a key absent there was unset)."""
    text, saved = _read_toml_text(path)  # the text too: an unset field is written as a comment
    raw = dataclasses.asdict(_defaults())
    for section, cls in _SECTION_TYPES.items():
        for name, hint in _field_types(cls).items():
            if name not in saved.get(section, {}) and type(None) in typing.get_args(hint):
                raw[section][name] = None
    for (section, name), value in BEFORE_FIELD.items():
        if name not in saved.get(section, {}) and f"# {name} = (unset)" not in text:  # absent: an older run
            raw[section][name] = value
    apply_overrides(raw, saved, str(path))
    return from_dict(raw)
