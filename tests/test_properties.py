"""Property-based tests: any Unicode string, of any length, goes text → tokens → model → prediction."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textcnn.config import ModelConfig, TokenizerConfig
from textcnn.data.tokenizer import encode_flat, train_tokenizer
from textcnn.models import build_model

CORPUS = ["a gorgeous witty film", "a dull mess of a plot", "it's not bad, it's great!"] * 3
texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=3000)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, TokenizerConfig())


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    from conftest import toy_rows

    from textcnn.config import load_config
    from textcnn.inference.predictor import Predictor
    from textcnn.training.trainer import train

    csv = tmp_path_factory.mktemp("prop") / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(120)))
    sets = ["model.embedding_dim=8", "model.feature_maps=4", "train.epochs=1", "tokenizer.max_length=64"]
    return Predictor.from_run(train(load_config(str(csv), sets=sets), csv.parent / "run"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_tokens_are_valid_ids_and_truncation_is_exact(tok, text):
    flat, _, (n_tokens,) = encode_flat(tok, [text], max_length=50)
    ids = flat.tolist()
    assert len(ids) <= 50
    assert all(0 < i < tok.get_vocab_size() for i in ids)  # never the pad id
    full = tok.encode(text).ids
    assert n_tokens == len(full)
    assert ids == full[:50]


@pytest.mark.parametrize("name", ["cnn", "cnn2d", "image2d", "lstm"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_every_model_gives_finite_logits_for_any_text(tok, name, text):
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, embedding_dim=8, feature_maps=4, channels=[4], hidden_size=4)
    model = build_model(cfg, tok.get_vocab_size(), 3).eval()
    ids = encode_flat(tok, [text], max_length=200)[0].tolist()
    t = max(len(ids), model.min_length)
    x = torch.zeros(1, t, dtype=torch.long)
    x[0, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    with torch.inference_mode():
        logits = model(x, torch.tensor([len(ids)]))
    assert logits.shape == (1, 3)
    assert torch.isfinite(logits).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_predictions_are_probabilities_in_input_order(predictor, batch):
    preds = predictor.predict(batch)
    assert len(preds) == len(batch)
    for text, p in zip(batch, preds, strict=True):
        assert p.text == text
        assert p.label in predictor.label_names
        assert math.isclose(sum(p.probabilities.values()), 1.0, rel_tol=1e-5)
        assert p.probability == max(p.probabilities.values())
    # a text predicts the same alone as inside any batch
    alone = predictor.predict([batch[-1]])[0]
    assert alone.label == preds[-1].label
    assert math.isclose(alone.probability, preds[-1].probability, rel_tol=1e-4, abs_tol=1e-6)
