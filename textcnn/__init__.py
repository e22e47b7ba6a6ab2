"""textcnn: convolutional text classification (Kim 2014) with Hugging Face datasets and tokenizers.

The public Python API is small: `load_run(path).predict(texts)` and `train(config)`. Importing
this package is cheap (no torch, no datasets) so the CLI starts fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_run", "train"]


def load_run(path):
    """Load a trained run folder (or 'latest', or a preset name) for prediction."""
    from textcnn.inference.predictor import Predictor

    return Predictor.from_run(path)


def train(config, **kwargs):
    """Train a model from a `textcnn.config.Config`; returns the run folder."""
    from textcnn.training.trainer import train as _train

    return _train(config, **kwargs)
