"""Hermetic tests: caches and home in a temporary folder, Hugging Face libraries offline."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest

# Set before any test module imports `datasets`, which reads its cache paths at import time.
_CACHE = Path(tempfile.mkdtemp(prefix="textcnn-tests-"))
os.environ["HF_HOME"] = str(_CACHE / "hf")
os.environ["HF_DATASETS_CACHE"] = str(_CACHE / "hf" / "datasets")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("TEXTCNN_DATA_DIR", None)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _hermetic(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TEXTCNN_RUNS_DIR", str(home / "runs"))
    monkeypatch.delenv("TEXTCNN_DATA_DIR", raising=False)
    yield


def shared_data_dir() -> Path | None:
    """The local copies of real datasets (../shared/data), or $TEXTCNN_TEST_DATA_DIR; None if absent."""
    env = os.environ.get("TEXTCNN_TEST_DATA_DIR")
    p = Path(env) if env else SHARED_DATA
    return p if (p / "sst2").is_dir() else None


needs_shared_data = pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data not present")


# A tiny separable sentiment task shared by the training, prediction and explanation tests.
POS = ["great", "wonderful", "superb", "lovely", "brilliant", "moving"]

NEG = ["awful", "boring", "dreadful", "dull", "terrible", "clumsy"]

FILL = ["the", "film", "was", "a", "story", "and", "quite", "really", "plot", "acting", "very", "it"]


def toy_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = [rng.choice(FILL) for _ in range(rng.randint(1, 12))]
        words.insert(rng.randint(0, len(words)), rng.choice(POS if i % 2 else NEG))
        rows.append((" ".join(words), label))
    return rows
