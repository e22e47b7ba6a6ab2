"""Every model textcnn trains, behind one forward contract, and the table that names them.

- `registry.py`: the table of models (name -> class, FLOPs, what it can do), `build_model`,
  `count_parameters`, `flops_per_example`.
- `kim.py`: `cnn` (Kim 2014, fused GEMM) and `cnn2d` (Kim's Conv2d form); `image2d.py`; `lstm.py`.
- `layers.py`: embeddings (rand / static / non-static / multichannel), masks, pooling over time.

Every model maps token ids `[B, T]` and lengths `[B]` to float32 logits `[B, C]`; padding (positions
at or beyond `lengths`, id `pad_id`, whose embedding row is zero) never changes the result. Every
model has `min_length` (batches are padded to at least this many positions), `embedding` (the
trainable or main nn.Embedding), `embedding_static` (the frozen copy in multichannel mode, else None)
and `fc` (the final nn.Linear, whose rows the trainer max-norms).

Importing this package imports no torch; the names below load on first use.

Not here: training, tokenizers, loading word vectors (they arrive as a tensor), run folders.
"""

from __future__ import annotations

from typing import Any

from textcnn.models.registry import MODELS, NAMES, build_model, count_parameters, flops_per_example, spec

__all__ = [
    "MODELS", "NAMES", "build_model", "count_parameters", "flops_per_example", "spec",
    "KimCNN", "KimCNN2d", "ImageCNN", "LSTMClassifier", "copy_cnn_weights",
]  # fmt: skip

_LAZY = {
    "KimCNN": "kim", "KimCNN2d": "kim", "copy_cnn_weights": "kim", "ImageCNN": "image2d", "LSTMClassifier": "lstm",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"textcnn.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'textcnn.models' has no attribute {name!r}")
