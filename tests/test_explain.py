"""Explanations: the exact max-pooling decomposition adds up to the logits, padded windows are labelled,
cnn2d agrees with cnn, other models fall back to honest occlusion, highlight spans cover the text, and
top_filters reports n-grams of the filters' widths that really activate them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import toy_rows

from textcnn import run as runlib
from textcnn.config import load_config
from textcnn.data.batching import pad_batch
from textcnn.inference.explain import (
    ExplainError,
    exact_method,
    explain,
    filter_texts,
    highlight_spans,
    max_pooled,
    top_filters,
)
from textcnn.inference.predictor import Predictor

MAX_LENGTH = 24
TEXTS = [
    "the acting was great and the plot was dull",
    "superb",
    "a b",
    "",
    "   ",
    "ﬁne ﬁlm 😀, really lovely!",
    " ".join(["great"] * 30),
    "zzkq blorf",
]


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("toy") / "toy.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(300)), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def predictor(toy_csv, tmp_path_factory):
    from textcnn.training.trainer import train

    sets = ["model.embedding_dim=16", "model.feature_maps=8", f"tokenizer.max_length={MAX_LENGTH}",
            "train.epochs=6", "train.optimizer=adam", "train.lr=0.01", "train.checkpoint_every_minutes=0"]  # fmt: skip
    return Predictor.from_run(train(load_config(str(toy_csv), sets=sets), tmp_path_factory.mktemp("runs") / "cnn"))


def other_model(predictor, name: str, **options) -> Predictor:
    """A Predictor for an untrained model of another kind, sharing the trained run's tokenizer."""
    from textcnn.models import build_model

    torch.manual_seed(0)
    cfg = load_config(sets=[f"model.name={name}", "model.embedding_dim=16", "model.feature_maps=8",
                            "model.hidden_size=8", "model.channels=[4,8]", f"tokenizer.max_length={MAX_LENGTH}", "model.edge_padding=true",
                            *(f"model.{k}={v}" for k, v in options.items())])  # fmt: skip
    model = build_model(cfg.model, predictor.tokenizer.get_vocab_size(), 2).eval()
    run = runlib.Run(predictor.path, cfg, predictor.tokenizer, ["negative", "positive"], model, torch.device("cpu"))
    return Predictor(run)


def assert_exact(ex):
    """Window contributions + bias == every logit; scores and token scores add up as documented."""
    assert ex.method == "exact"
    for c in ex.logits:
        total = ex.bias[c] + sum(g.contributions[c] for g in ex.ngrams)
        assert total == pytest.approx(ex.logits[c], abs=1e-5)
    mean_logit = np.mean(list(ex.logits.values()))
    mean_bias = np.mean(list(ex.bias.values()))
    centred = ex.logits[ex.label] - mean_logit
    assert sum(g.score for g in ex.ngrams) + ex.bias[ex.label] - mean_bias == pytest.approx(centred, abs=1e-5)
    with_tokens = sum(g.score for g in ex.ngrams if g.tokens)
    assert sum(ex.token_scores) == pytest.approx(with_tokens, abs=1e-9)
    assert len(ex.token_scores) == len(ex.tokens) == len(ex.offsets)


# ---------------------------------------------------------------------------------------------
# Exact decomposition


@pytest.mark.parametrize("text", TEXTS)
def test_contributions_plus_bias_equal_every_logit(predictor, text):
    ex = explain(predictor, text)
    assert_exact(ex)
    (p,) = predictor.predict([text])
    assert ex.label == p.label
    assert ex.probabilities == pytest.approx(p.probabilities, abs=1e-6)
    n_features = predictor.model.fc.in_features
    assert sum(len(g.filters) for g in ex.ngrams) == n_features  # every filter's window is counted once
    scores = [abs(g.score) for g in ex.ngrams]
    assert scores == sorted(scores, reverse=True)


def test_ngrams_map_to_the_original_text(predictor):
    text = "the acting was great and the plot was dull"
    ex = explain(predictor, text)
    assert ex.tokens == text.split()
    L, edge = len(ex.tokens), predictor.model.edge
    assert edge == max(predictor.model.widths) - 1
    for g in ex.ngrams:
        assert g.width in predictor.model.widths
        assert -edge <= g.start <= L + edge - g.width  # windows hang over either end by up to `edge` pads
        assert g.tokens == ex.tokens[max(g.start, 0) : max(g.start + g.width, 0)]
        assert g.padded == (g.start < 0 or g.start + g.width > L)
        if g.tokens:
            assert g.text == text[g.char_start : g.char_end]
            assert g.text.split() == g.tokens
    # the sentiment word's windows carry the evidence
    top = ex.ngrams[0]
    assert "great" in top.tokens or "dull" in top.tokens


def test_windows_over_padding_are_labelled(predictor):
    ex = explain(predictor, "superb")  # 1 token, filters of width 3, 4, 5
    assert {g.width for g in ex.ngrams} == {3, 4, 5}
    for g in ex.ngrams:
        assert g.padded
        if -g.width < g.start <= 0:
            assert g.tokens == ["superb"] and g.text == "superb"
        else:  # a window of pads only (edge padding of a short text): scores f(bias), as in Kim's code
            assert g.tokens == [] and g.text == "" and g.char_start is None
    assert any(g.tokens == ["superb"] for g in ex.ngrams)
    empty = explain(predictor, "   ")
    assert empty.tokens == [] and empty.token_scores == []
    assert all(g.padded and g.tokens == [] and g.text == "" and g.char_start is None for g in empty.ngrams)
    assert_exact(empty)


def test_truncated_text_explains_what_the_model_read(predictor):
    text = " ".join(["great"] * 30)
    ex = explain(predictor, text)
    assert ex.truncated and ex.n_tokens == 30 and len(ex.tokens) == MAX_LENGTH
    assert all(g.start + g.width <= MAX_LENGTH for g in ex.ngrams if not g.padded)


def test_cnn2d_decomposes_exactly_and_agrees_with_cnn(predictor):
    from textcnn.models import copy_cnn_weights

    p2d = other_model(predictor, "cnn2d")
    copy_cnn_weights(predictor.model, p2d.model)
    text = "the acting was great and the plot was dull"
    a, b = explain(predictor, text), explain(p2d, text)
    assert_exact(b)
    assert b.logits == pytest.approx(a.logits, abs=1e-5)
    got = {(g.start, g.width): g.contributions["positive"] for g in b.ngrams}
    want = {(g.start, g.width): g.contributions["positive"] for g in a.ngrams}
    assert got.keys() == want.keys()
    assert list(got.values()) == pytest.approx([want[k] for k in got], abs=1e-5)


@pytest.mark.parametrize("name", ["cnn", "cnn2d"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_max_pooled_features_give_the_model_logits(predictor, name, activation):
    p = other_model(predictor, name, activation=activation)
    ids_list = [[5, 6, 7, 8, 9, 10], [5], []]
    ids, lengths = pad_batch(ids_list, p.min_length, 0)
    with torch.inference_mode():
        feats, pos, widths = max_pooled(p.model, ids, lengths)
        np.testing.assert_allclose(p.model.fc(feats), p.model(ids, lengths), atol=1e-6)
    assert feats.shape == pos.shape == (3, p.model.fc.in_features)
    assert widths.tolist() == [w for w in p.model.widths for _ in range(p.model.feature_maps)]
    e = p.model.edge
    assert e == max(p.model.widths) - 1
    # a window starts at most e before the sentence and ends at most e after it: a 1-token text has
    # e + 1 - w + e + 1 starts per width, and the empty text's windows are all pads
    assert (pos >= -e).all() and (pos[1] <= 1 + e - widths).all() and (pos[2] <= e - widths).all()


# ---------------------------------------------------------------------------------------------
# Occlusion for every other model


@pytest.mark.parametrize(
    ("name", "options"), [("lstm", {}), ("image2d", {}), ("cnn", {"pooling": "avg"}), ("cnn", {"pooling": "kmax"})]
)
def test_models_without_exact_decomposition_use_occlusion(predictor, name, options):
    p = other_model(predictor, name, **options)
    assert not exact_method(p.model)
    text = "the acting was great and the plot was dull"
    ex = explain(p, text)
    assert ex.method == "occlusion" and ex.bias == {}
    assert len(ex.ngrams) == len(ex.tokens) == 9
    full = p.score([text]).logits[0]
    words = text.split()
    for g in ex.ngrams[:3]:
        without = " ".join(words[: g.start] + words[g.start + 1 :])
        dropped = p.score([without]).logits[0]
        assert g.width == 1 and g.filters == [] and g.text == words[g.start]
        assert [g.contributions["negative"], g.contributions["positive"]] == pytest.approx(full - dropped, abs=1e-5)
        assert g.score == pytest.approx(ex.token_scores[g.start])
    assert explain(p, "").ngrams == []


# ---------------------------------------------------------------------------------------------
# Rendering helpers


@pytest.mark.parametrize("text", TEXTS)
def test_highlight_spans_cover_the_text(predictor, text):
    ex = explain(predictor, text)
    spans = highlight_spans(ex)
    assert "".join(s for s, _ in spans) == text
    assert sum(score for _, score in spans) == pytest.approx(sum(ex.token_scores), abs=1e-9)
    json.dumps(ex.to_dict())  # JSON-ready


def test_explain_rejects_non_text(predictor):
    with pytest.raises(ExplainError, match="one text"):
        explain(predictor, ["a list"])


# ---------------------------------------------------------------------------------------------
# top_filters


def test_top_filters_report_ngrams_that_activate_them(predictor):
    texts = [t for t, _ in toy_rows(120, seed=5)] + ["ok"]
    reports = top_filters(predictor, texts, top=6, per_filter=3)
    assert len(reports) == 6
    importance = [r.importance for r in reports]
    assert importance == sorted(importance, reverse=True)
    model = predictor.model
    for r in reports:
        assert r.width == model.widths[r.filter // model.feature_maps]
        assert r.favours in ("negative", "positive") and set(r.weights) == {"negative", "positive"}
        assert 1 <= len(r.ngrams) <= 3
        acts = [g.activation for g in r.ngrams]
        assert acts == sorted(acts, reverse=True)
        for g in r.ngrams:
            assert len(g.tokens) == r.width or (g.padded and len(g.tokens) < r.width)
            assert g.text in texts[g.text_index]
            # the activation is the filter's max-pooled feature on that text
            enc = predictor.encode([texts[g.text_index]])
            batch, lens = pad_batch([enc.ids], predictor.min_length, 0)
            with torch.inference_mode():
                feats, _, _ = max_pooled(model, batch, lens)
            assert float(feats[0, r.filter]) == pytest.approx(g.activation, abs=1e-5)
    assert len({" ".join(g.tokens) for g in reports[0].ngrams}) == len(reports[0].ngrams)  # distinct
    json.dumps([r.to_dict() for r in reports])


def test_top_filters_need_a_max_pooling_cnn(predictor):
    with pytest.raises(ExplainError, match="max pooling"):
        top_filters(other_model(predictor, "lstm"), ["great"])
    with pytest.raises(ExplainError, match="no texts"):
        top_filters(predictor, [])


def test_filter_texts_from_a_text_file_and_the_runs_own_data(predictor, tmp_path):
    f = tmp_path / "texts.txt"
    f.write_text("great film\nawful film\nthird\n", encoding="utf-8")
    assert filter_texts(predictor, f, limit=2) == ["great film", "awful film"]
    tabs = tmp_path / "labelled.txt"  # tab-separated columns: the text column, as predict --file reads it
    tabs.write_text("".join(f"{label}\t{text}\n" for label, text in [("pos", "great film"), ("neg", "awful film")] * 5))
    assert filter_texts(predictor, tabs, limit=3) == ["great film", "awful film", "great film"]
    ft = tmp_path / "fasttext.txt"  # fastText lines: their texts, without the labels
    ft.write_text("__label__pos great film\n__label__neg awful film\n", encoding="utf-8")
    assert filter_texts(predictor, ft) == ["great film", "awful film"]
    table = tmp_path / "reviews.csv"  # one file, one split: searched whatever --split says, its labels unused
    table.write_text("text,stars\ngreat film,5\nawful film,1\nfine,3\nok,3\nbad,1\ngood,5\n", encoding="utf-8")
    assert filter_texts(predictor, table, limit=3) == ["great film", "awful film", "fine"]
    own = filter_texts(predictor, split="validation")
    assert len(own) == 30 and all(isinstance(t, str) for t in own)


def test_distinct_ngrams_keep_the_strongest_of_overlapping_windows():
    from textcnn.inference.explain import NGram, distinct_ngrams

    def gram(start, width, score, n_tokens=None):
        toks = [f"t{i}" for i in range(start, start + (width if n_tokens is None else n_tokens))]
        return NGram(start, width, toks, " ".join(toks), None, None, n_tokens is not None, [], {}, score)

    grams = [
        gram(0, 5, 2.0),  # "How far is it from"
        gram(0, 3, 1.5),  # "How far is": overlaps, same sign -> dropped
        gram(1, 4, 1.2),  # overlaps -> dropped
        gram(2, 3, -0.9),  # overlaps but pushes the other way -> kept
        gram(6, 3, 0.8),  # elsewhere -> kept
        gram(9, 4, 3.0, n_tokens=0),  # padding only -> never shown
    ]
    shown = distinct_ngrams(grams, top=10)
    assert [(g.start, g.width) for g in shown] == [(0, 5), (2, 3), (6, 3)]
    assert [(g.start, g.width) for g in distinct_ngrams(grams, top=1)] == [(0, 5)]


def test_windows_over_the_edges_overlap_by_their_real_tokens_and_show_where_the_padding_is():
    from textcnn.inference.explain import NGram, distinct_ngrams

    def gram(start, width, score, words):  # a 4-word text: "the plot is thin"
        toks = ["the", "plot", "is", "thin"][max(start, 0) : start + width]
        return NGram(start, width, toks, words, None, None, start < 0 or start + width > 4, [], {}, score)

    lead = gram(-2, 4, 2.0, "the plot")  # [pad] [pad] the plot: Kim's edge padding before the text
    also = gram(0, 3, 1.0, "the plot is")  # overlaps lead's real words, the same way -> not shown
    tail = gram(2, 3, -0.5, "is thin")  # is thin [pad]
    both = gram(-1, 6, 0.3, "the plot is thin")  # wider than the text
    assert [(g.start, g.width) for g in distinct_ngrams([lead, also, tail], top=10)] == [(-2, 4), (2, 3)]
    assert [g.shown() for g in (lead, tail, both)] == [
        "[pad] the plot",
        "is thin [pad]",
        "[pad] the plot is thin [pad]",
    ]
    assert gram(0, 2, 0.1, "the plot").shown() == "the plot"
