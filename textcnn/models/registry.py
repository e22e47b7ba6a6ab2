"""The table of models: one entry per model name, read by everything that needs to know the models.

Config validation, the CLI's choices, compare / bench defaults, explain (exact or occlusion), the
folded prediction path and export all read `MODELS`. Adding a model is one file in this package plus
one entry here. The table is plain data; this module imports neither torch nor the model files
(builders import their module when called), so `textcnn --help` and config validation stay instant.

Not here: the models themselves (kim.py, image2d.py, lstm.py), shared layers (layers.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """What textcnn knows about one model kind."""

    name: str
    summary: str
    """One line for help texts and reports."""
    module: str
    """Module (under textcnn.models) that defines it."""
    cls: str
    """Its nn.Module class."""
    flops: str
    """Name of the analytic forward-FLOPs function in `module`: (cfg, seq_len, num_classes) -> int."""
    options: tuple[str, ...]
    """ModelConfig fields the constructor takes beyond the common ones."""
    exact_explain: bool
    """Max-over-time pooled n-gram features: `explain` decomposes a logit exactly (else occlusion)."""
    foldable: bool
    """The embedding can be multiplied into the filters once, making prediction a table lookup."""
    poolings: tuple[str, ...] = ()
    """The values `model.pooling` may take for this kind (pooling over time)."""

    def load(self, attr: str | None = None) -> Any:
        return getattr(importlib.import_module(f"textcnn.models.{self.module}"), attr or self.cls)


CNN_POOLINGS = ("max", "avg", "kmax")
LSTM_POOLINGS = ("last", "max", "mean")

_KIM = ("widths", "feature_maps", "activation", "pooling", "k", "edge_padding")

MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec(
        "cnn", "Kim (2014) CNN: 1D convolutions of several widths as one fused matrix product, max over time",
        "kim", "KimCNN", "kim_flops", _KIM, exact_explain=True, foldable=True, poolings=CNN_POOLINGS,
    ),
    "cnn2d": ModelSpec(
        "cnn2d", "the same network in Kim's own form: (w x E) Conv2d kernels over the sentence as an image",
        "kim", "KimCNN2d", "kim_flops", _KIM, exact_explain=True, foldable=False, poolings=CNN_POOLINGS,
    ),
    "image2d": ModelSpec(
        "image2d", "a genuine image CNN: small 2D convolutions and 2x2 pooling over the T x E embedding matrix",
        "image2d", "ImageCNN", "image2d_flops",
        ("channels", "kernel_size", "stride", "padding", "patch", "pool2d", "activation", "batch_norm"),
        exact_explain=False, foldable=False, poolings=CNN_POOLINGS,  # image2d pools with pool2d; kept as the CNNs'
    ),
    "lstm": ModelSpec(
        "lstm", "bidirectional LSTM baseline over packed sequences, max-pooled outputs",
        "lstm", "LSTMClassifier", "lstm_flops", ("hidden_size", "num_layers", "bidirectional", "pooling"),
        exact_explain=False, foldable=False, poolings=LSTM_POOLINGS,
    ),
}  # fmt: skip
NAMES: tuple[str, ...] = tuple(MODELS)
"""Every model name, in table order."""


def spec(name: str) -> ModelSpec:
    from textcnn.errors import ConfigError

    if name not in MODELS:
        raise ConfigError(f"model.name={name!r} is not one of {', '.join(NAMES)}")
    return MODELS[name]


def explains_exactly(name: str, pooling: str | None) -> bool:
    """Whether model kind `name` with this pooling decomposes a logit exactly into window contributions
    (max-over-time pooled n-gram features); `explain` falls back to occlusion otherwise."""
    return spec(name).exact_explain and pooling == "max"


def spec_of(model) -> ModelSpec:
    """The table entry of a built model (matched by its class; torch.compile / DDP wrappers unwrapped)."""
    inner = unwrap(model)
    for s in MODELS.values():
        if type(inner).__name__ == s.cls and type(inner).__module__ == f"textcnn.models.{s.module}":
            return s
    from textcnn.errors import ConfigError

    raise ConfigError(f"{type(inner).__name__} is not a textcnn model")


def unwrap(model):
    """The model itself, from inside DistributedDataParallel (.module) and torch.compile (._orig_mod)."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def build_model(cfg, vocab_size: int, num_classes: int, *, vectors=None, sparse: bool = False, pad_id: int = 0):
    """The model `cfg.name` names (cfg: a ModelConfig), sized for the vocabulary and label set;
    `vectors` [V, E] initialise its embedding. The only place that reads the config tree: every model
    takes flat keyword arguments."""
    s = spec(cfg.name)
    common = dict(
        vocab_size=vocab_size, num_classes=num_classes, embedding_dim=cfg.embedding_dim, dropout=cfg.dropout,
        embedding_dropout=cfg.embedding_dropout or 0.0, embedding_mode=cfg.embedding_mode, vectors=vectors,
        sparse=sparse, pad_id=pad_id,
    )  # fmt: skip
    options = {k: getattr(cfg, k) for k in s.options}
    if "edge_padding" in options:
        options["edge_padding"] = bool(options["edge_padding"])  # unset (not resolved for data): off
    return s.load()(**common, **options)


def count_parameters(model, *, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, frozen embeddings included, unless trainable_only)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def flops_per_example(cfg, seq_len: int, num_classes: int) -> int:
    """Analytic forward FLOPs for one example of `seq_len` tokens (a multiply-add is 2 FLOPs).

    Counts convolutions / matrix products on valid positions and the classifier; embedding lookups,
    activations, pooling, normalisation and the LSTM's elementwise gate maths are not counted."""
    fn: Callable[..., int] = spec(cfg.name).load(spec(cfg.name).flops)
    return fn(cfg, seq_len, num_classes)
