"""Why a run predicted what it did, and what its filters detect.

Exact for max-over-time CNNs (`cnn`, `cnn2d` with pooling = "max"). Each pooled feature f is the
activation of one window, the `width[f]` tokens from `position[f]`, and the logits are linear in the
features: logit[c] = bias[c] + sum_f feature[f] * fc.weight[c, f] (dropout is off in eval mode). So a
window's contribution to class c is the sum of feature[f] * fc.weight[c, f] over the filters whose
maximum fell on it, and the contributions of all windows plus the bias give every logit exactly.

`score` (of an n-gram, and of a token) is the evidence for the predicted label: its contribution to
that label's logit minus the mean of its contributions to all logits. Softmax ignores what adds to
every logit alike, so this is the part that moves the prediction; the scores of all n-grams plus the
bias's own part add up to logit[label] - mean(logits) exactly. Per-token scores split each window's
score equally among the real tokens it covers (padding gets none), so they sum to the same total,
less the windows that cover no token at all (an empty text).

Every other model (average or k-max pooling, `image2d`, `lstm`) has no exact decomposition here;
`explain` then says method="occlusion": each token is dropped in turn and the change of every logit
(full text minus text without the token) is that token's contribution. Those are estimates (they do
not add up to the logits), and the Explanation says so.

`top_filters` answers "what does each learned filter detect": the most important filters and the
n-grams that activate them most. Not here: rendering (cli.py), prediction (predict.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn.data.batching import pad_batch, pad_rows
from textcnn.data.tokenizer import Encoded
from textcnn.errors import ExplainError, PredictError
from textcnn.inference.predictor import Predictor, softmax
from textcnn.run import Run

log = logging.getLogger(__name__)


@dataclass
class NGram:
    """One window of tokens and what it adds to each logit."""

    start: int
    """Index of its first token in Explanation.tokens."""
    width: int
    """Window width in tokens (the filter width; 1 for occlusion)."""
    tokens: list[str]
    """The real tokens it covers (fewer than `width` when it runs into padding)."""
    text: str
    """The part of the original text it covers ("" for padding only)."""
    char_start: int | None
    char_end: int | None
    padded: bool
    """The window covers padding: the text is shorter than the filter, or the window hangs over its
    beginning or end (Kim's edge padding)."""
    filters: list[int]
    """Filters whose maximum fell on this window (empty for occlusion)."""
    contributions: dict[str, float]
    """What it adds to each class logit."""
    score: float
    """Evidence for the predicted label: contributions[label] minus the mean contribution."""

    @property
    def first(self) -> int:
        """Index of its first real token (`start` is negative for a window over the text's beginning)."""
        return max(self.start, 0)

    def shown(self, text: str | None = None) -> str:
        """Its text as displayed: "[pad]" on the side(s) where the window covers padding."""
        text = self.text if text is None else text
        before = self.start < 0
        after = self.start + self.width > self.first + len(self.tokens)
        return " ".join(x for x in ("[pad]" if before else "", text, "[pad]" if after else "") if x)


@dataclass
class Explanation:
    """A prediction broken down into n-gram and token contributions."""

    text: str
    method: str
    """"exact" (max-pooling decomposition: contributions + bias = logits) or "occlusion" (estimates)."""
    model: str
    tokens: list[str]
    """The tokens the model read (the first tokenizer.max_length)."""
    offsets: list[tuple[int, int]]
    """Each token's character span in `text`."""
    label: str
    probability: float
    probabilities: dict[str, float]
    logits: dict[str, float]
    bias: dict[str, float]
    """The classifier's bias per class (exact method; empty for occlusion)."""
    ngrams: list[NGram]
    """By |score|, largest first."""
    token_scores: list[float]
    """Per token: evidence for the predicted label (for highlighting)."""
    truncated: bool
    n_tokens: int
    """Tokens in the whole text (more than len(tokens) when truncated)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["offsets"] = [list(o) for o in self.offsets]
        return d


# ---------------------------------------------------------------------------------------------
# explain


def _as_predictor(run: Run | Predictor | str | Path) -> Predictor:
    if isinstance(run, Predictor):
        return run
    if isinstance(run, Run):
        return Predictor(run)
    return Predictor.from_run(run)


def exact_method(model) -> bool:
    """Whether a model's prediction decomposes exactly into window contributions (max-pooling CNNs)."""
    from textcnn.models.registry import explains_exactly, spec_of

    return explains_exactly(spec_of(model).name, getattr(model, "pooling", None))


def max_pooled(model, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features (B, N), winning window starts (B, N), widths (N,)) of a max-pooling cnn or cnn2d."""
    return model.pooled_features(ids, lengths)


def _encode_one(predictor: Predictor, text: str):
    if not isinstance(text, str):
        raise ExplainError(f"explain() takes one text (a string), not {type(text).__name__}")
    try:
        return predictor.tokenizer.encode(text)
    except Exception:  # lone surrogates: the Rust side cannot take them
        return predictor.tokenizer.encode(text.encode("utf-8", "replace").decode("utf-8"))


def _centred(contrib: np.ndarray, label: int) -> np.ndarray:
    """(..., C) contributions -> (...,) evidence for `label`: its contribution minus the class mean."""
    return contrib[..., label] - contrib.mean(axis=-1)


def explain(run: Run | Predictor | str | Path, text: str) -> Explanation:
    """Explain one prediction: exact n-gram contributions for max-pooling CNNs, occlusion otherwise."""
    predictor = _as_predictor(run)
    enc = _encode_one(predictor, text)
    n_tokens = len(enc.ids)
    L = min(n_tokens, predictor.max_length)
    ids_list = list(enc.ids[:L])
    tokens = list(enc.tokens[:L])
    offsets = [tuple(o) for o in enc.offsets[:L]]
    model = predictor.model
    names = predictor.label_names
    ids, lengths = pad_batch([ids_list], predictor.min_length, predictor.pad_id)
    ids, lengths = ids.to(predictor.device), lengths.to(predictor.device)
    model.eval()
    with torch.inference_mode():
        logits = model(ids, lengths).float()[0].cpu().numpy().astype(np.float64)  # (C,)
        if exact_method(model):
            features, pos, widths = max_pooled(model, ids, lengths)
            weight = model.fc.weight.detach().double().cpu().numpy()  # (C, N)
            bias = model.fc.bias.detach().double().cpu().numpy()  # (C,)
            per_filter = features[0].double().cpu().numpy()[:, None] * weight.T  # (N, C)
            starts, widths = pos[0].cpu().numpy(), widths.cpu().numpy()
            method = "exact"
        else:
            occl = _occlusion(predictor, ids_list)  # (L, C)
            method = "occlusion"
    probs = softmax(logits[None].astype(np.float32))[0]
    label = int(np.argmax(logits))
    base = dict(
        text=text, method=method, model=predictor.run.config.model.name, tokens=tokens, offsets=offsets,
        label=names[label], probability=float(probs[label]), probabilities=dict(zip(names, probs.tolist(), strict=True)),
        logits=dict(zip(names, logits.tolist(), strict=True)), truncated=n_tokens > L, n_tokens=n_tokens,
    )  # fmt: skip
    if method == "exact":
        ngrams, token_scores = _window_ngrams(text, tokens, offsets, per_filter, starts, widths, names, label)
        return Explanation(
            **base, bias=dict(zip(names, bias.tolist(), strict=True)), ngrams=ngrams, token_scores=token_scores
        )
    scores = _centred(occl, label) if L else np.zeros(0)
    ngrams = [
        NGram(
            start=i,
            width=1,
            tokens=[tokens[i]],
            text=text[offsets[i][0] : offsets[i][1]],
            char_start=offsets[i][0],
            char_end=offsets[i][1],
            padded=False,
            filters=[],
            contributions=dict(zip(names, occl[i].tolist(), strict=True)),
            score=float(scores[i]),
        )
        for i in range(L)
    ]
    ngrams.sort(key=lambda g: -abs(g.score))
    return Explanation(**base, bias={}, ngrams=ngrams, token_scores=[float(s) for s in scores])


def _window_tokens(start: int, width: int, L: int) -> tuple[int, int, bool]:
    """The real tokens [lo, end) of a window of `width` starting at `start` (negative: it hangs over the
    beginning of an edge-padded sentence), maybe none, and whether it covers any padding."""
    lo = max(start, 0)
    return lo, max(min(start + width, L), lo), start < 0 or start + width > L


def _window_ngrams(text, tokens, offsets, per_filter, starts, widths, names, label) -> tuple[list[NGram], list[float]]:
    """Group filters by window (start, width) and sum their contributions; split scores over tokens."""
    L = len(tokens)
    groups: dict[tuple[int, int], list[int]] = {}
    for f, key in enumerate(zip(starts.tolist(), widths.tolist(), strict=True)):
        groups.setdefault(key, []).append(f)
    token_scores = np.zeros(L)
    ngrams = []
    for (start, width), filters in groups.items():
        contrib = per_filter[filters].sum(axis=0)  # (C,)
        score = float(_centred(contrib, label))
        lo, end, padded = _window_tokens(start, width, L)
        if end > lo:
            token_scores[lo:end] += score / (end - lo)
            a, b = offsets[lo][0], offsets[end - 1][1]
            span, part = (a, b), text[a:b]
        else:
            span, part = (None, None), ""
        ngrams.append(
            NGram(
                start=start,
                width=width,
                tokens=tokens[lo:end],
                text=part,
                char_start=span[0],
                char_end=span[1],
                padded=padded,
                filters=filters,
                contributions=dict(zip(names, contrib.tolist(), strict=True)),
                score=score,
            )
        )
    ngrams.sort(key=lambda g: (-abs(g.score), g.start, g.width))
    return ngrams, token_scores.tolist()


def distinct_ngrams(ngrams: list[NGram], top: int) -> list[NGram]:
    """The `top` strongest n-grams that do not repeat each other, for display.

    Windows of different widths often cover the same words ("How far is" / "How far is it" / "How far is
    it from"); of n-grams that overlap and push the same way only the strongest is kept. Windows that
    cover padding alone are left out. `Explanation.ngrams` keeps every window (they sum to the logits).
    """
    kept: list[NGram] = []
    for g in sorted(ngrams, key=lambda g: (-abs(g.score), g.start, g.width)):
        if len(kept) >= top:
            break
        if not g.tokens:
            continue
        end = g.first + len(g.tokens)
        if any(g.first < k.first + len(k.tokens) and k.first < end and (g.score > 0) == (k.score > 0) for k in kept):
            continue
        kept.append(g)
    return kept


def _occlusion(predictor: Predictor, ids: list[int]) -> np.ndarray:
    """(L, C): logits of the full text minus logits with token i removed, for each i."""
    L = len(ids)
    if L == 0:
        return np.zeros((0, len(predictor.label_names)))
    variants = [ids] + [ids[:i] + ids[i + 1 :] for i in range(L)]
    out = np.zeros((len(variants), len(predictor.label_names)))
    order = np.arange(len(variants))
    for s in range(0, len(variants), predictor.batch_size):
        idx = order[s : s + predictor.batch_size]
        batch, lens = pad_batch([variants[i] for i in idx], predictor.min_length, predictor.pad_id)
        out[idx] = predictor.model(batch.to(predictor.device), lens.to(predictor.device)).double().cpu().numpy()
    return out[0][None, :] - out[1:]


def highlight_spans(explanation: Explanation) -> list[tuple[str, float]]:
    """The original text cut into (segment, score) pieces whose concatenation is the text: each token's
    span with its score, the text between tokens (and after the last token read) with 0.0."""
    text = explanation.text
    out: list[tuple[str, float]] = []
    cursor = 0
    for (a, b), score in zip(explanation.offsets, explanation.token_scores, strict=True):
        if a < cursor:  # a token sharing characters with the previous one (e.g. one NFKC character, two tokens)
            if out and b <= cursor:
                seg, prev = out[-1]
                out[-1] = (seg, prev + score)
                continue
            a = cursor
        if a > cursor:
            out.append((text[cursor:a], 0.0))
        out.append((text[a:b], float(score)))
        cursor = b
    if cursor < len(text):
        out.append((text[cursor:], 0.0))
    return out


# ---------------------------------------------------------------------------------------------
# What the filters detect


@dataclass
class FilterNGram:
    """An n-gram of the searched texts that activates a filter strongly."""

    text: str
    """The part of the original text the window covers."""
    tokens: list[str]
    activation: float
    """The filter's max-pooled activation on that text."""
    text_index: int
    """Which of the searched texts it comes from."""
    padded: bool
    """The window runs past the end of its text (a text shorter than the filter)."""


@dataclass
class FilterReport:
    """One learned filter: how much it matters and the n-grams it responds to most."""

    filter: int
    """Index into the pooled features (width-major: filter f has width widths[f // feature_maps])."""
    width: int
    importance: float
    """mean_activation x spread, the size of its typical push on the decision."""
    mean_activation: float
    """Mean max-pooled activation over the searched texts."""
    spread: float
    """L2 norm of its classifier weights after removing their mean over classes (softmax ignores the mean)."""
    favours: str
    """The label it pushes towards when it fires: its classifier weight minus the mean over labels is
    largest there. Activations are >= 0 (ReLU), so every n-gram shown pushes that way, by activation x weight;
    the text as a whole may still be predicted otherwise (see `predicted`)."""
    weights: dict[str, float]
    """Its classifier weight for each label."""
    ngrams: list[FilterNGram] = field(default_factory=list)
    predicted: dict[str, int] = field(default_factory=dict)
    """label -> how many of the texts its n-grams come from the run predicts as that label."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_filters(
    run: Run | Predictor | str | Path, texts: list[str], *, top: int = 10, per_filter: int = 5, batch_size: int = 256
) -> list[FilterReport]:
    """The `top` most important filters and, for each, the `per_filter` distinct n-grams of `texts` that
    activate it most (each text's max-pooled window, so at most one n-gram per text per filter).

    Importance of filter f = mean max-pooled activation over `texts` x the L2 norm of fc.weight[:, f]
    minus its mean over classes: how far the filter typically moves the logits apart."""
    predictor = _as_predictor(run)
    model = predictor.model
    texts = _filter_inputs(predictor, texts, top, per_filter)
    enc = predictor.encode(texts)
    keep = max(per_filter * 4, 20)  # candidates per filter (duplicates are removed at the end)
    best_val, best_ref, total, widths = _strongest_windows(predictor, enc, keep, batch_size)
    mean_act = (total / len(texts)).numpy()
    weight = model.fc.weight.detach().double().cpu().numpy()  # (C, N)
    centred = weight - weight.mean(axis=0, keepdims=True)
    spread = np.linalg.norm(centred, axis=0)  # (N,)
    importance = mean_act * spread
    names = predictor.label_names
    chosen = np.argsort(-importance, kind="stable")[: min(top, model.fc.in_features)]
    predicted_label: dict[int, str] = {}
    encodings: dict[int, Any] = {}
    reports = []
    for f in chosen.tolist():
        w = int(widths[f])
        grams = _filter_ngrams(
            predictor, texts, enc.lengths, best_val[:, f], best_ref[:, :, f], w, per_filter, encodings
        )
        todo = sorted({g.text_index for g in grams} - set(predicted_label))
        if todo:
            for t_i, pred in zip(todo, predictor.predict([texts[t_i] for t_i in todo]), strict=True):
                predicted_label[t_i] = pred.label
        votes: dict[str, int] = {}
        for g in grams:
            votes[predicted_label[g.text_index]] = votes.get(predicted_label[g.text_index], 0) + 1
        reports.append(
            FilterReport(
                filter=f,
                width=w,
                importance=float(importance[f]),
                mean_activation=float(mean_act[f]),
                spread=float(spread[f]),
                favours=names[int(np.argmax(centred[:, f]))],
                weights=dict(zip(names, weight[:, f].tolist(), strict=True)),
                ngrams=grams,
                predicted=dict(sorted(votes.items(), key=lambda kv: -kv[1])),
            )  # fmt: skip
        )
    return reports


def _filter_inputs(predictor: Predictor, texts: list[str], top: int, per_filter: int) -> list[str]:
    """The texts to search (strings only), after checking the model and the options; ExplainError otherwise."""
    model = predictor.model
    if not exact_method(model):
        raise ExplainError(
            f"filters need a cnn or cnn2d with max pooling; this run is {predictor.run.config.model.name} "
            f"with pooling {getattr(model, 'pooling', '-')!r}"
        )
    if isinstance(texts, str):
        raise ExplainError("top_filters() takes a list of texts")
    texts = [t for t in texts if isinstance(t, str)]
    if not texts:
        raise ExplainError("no texts to search for the filters' n-grams")
    if top < 1 or per_filter < 1:
        raise ExplainError("top and per_filter must be >= 1")
    return texts


def _strongest_windows(
    predictor: Predictor, enc: Encoded, keep: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """One pass over the texts (shortest first): for every filter its `keep` strongest max-pooled windows.

    Returns (activations (keep, N) in decreasing order, their (text index, window start) (2, keep, N),
    the summed activation per filter (N,), the filter widths (N,))."""
    model = predictor.model
    n_feat = model.fc.in_features
    best_val = torch.full((keep, n_feat), float("-inf"))
    best_ref = torch.zeros((2, keep, n_feat), dtype=torch.long)  # text index, window start
    total = torch.zeros(n_feat, dtype=torch.float64)
    widths = None
    order = np.argsort(enc.lengths, kind="stable")
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch, lens = pad_rows(enc.ids, enc.offsets, idx, predictor.min_length, predictor.pad_id)
            feats, pos, widths = max_pooled(model, batch.to(predictor.device), lens.to(predictor.device))
            feats, pos = feats.float().cpu(), pos.cpu()  # (B, N)
            total += feats.double().sum(0)
            refs = torch.stack([torch.as_tensor(idx, dtype=torch.long)[:, None].expand_as(pos), pos])  # (2, B, N)
            vals = torch.cat([best_val, feats])  # (keep + B, N)
            allrefs = torch.cat([best_ref, refs], dim=1)  # (2, keep + B, N)
            k = min(keep, vals.shape[0])
            best_val, where = vals.topk(k, dim=0)  # (k, N)
            best_ref = allrefs.gather(1, where[None].expand(2, -1, -1))  # (2, k, N)
    return best_val, best_ref, total, widths.cpu().numpy()


def _filter_ngrams(
    predictor: Predictor,
    texts: list[str],
    lengths: np.ndarray,
    vals: torch.Tensor,
    refs: torch.Tensor,
    width: int,
    per_filter: int,
    encodings: dict[int, Any],
) -> list[FilterNGram]:
    """Up to `per_filter` distinct n-grams (case-insensitive) from one filter's strongest windows.

    `vals` (keep,) and `refs` (2, keep) are that filter's column of `_strongest_windows`; `encodings`
    caches each text's encoding across filters."""
    grams: list[FilterNGram] = []
    seen: set[str] = set()
    for j in range(vals.shape[0]):
        act = float(vals[j])
        if act == float("-inf") or len(grams) >= per_filter:
            break
        t_i, start = int(refs[0, j]), int(refs[1, j])
        if t_i not in encodings:
            encodings[t_i] = _encode_one(predictor, texts[t_i])
        enc = encodings[t_i]
        lo, end, padded = _window_tokens(start, width, int(lengths[t_i]))
        toks = list(enc.tokens[lo:end])
        part = texts[t_i][enc.offsets[lo][0] : enc.offsets[end - 1][1]] if end > lo else ""
        key = " ".join(toks).lower()
        if key in seen:
            continue
        seen.add(key)
        grams.append(FilterNGram(part, toks, act, t_i, padded))
    return grams


def filter_texts(
    run: Run | Predictor | str | Path,
    data_path: str | Path | None = None,
    split: str = "validation",
    limit: int = 20000,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
) -> list[str]:
    """Texts to search for `top_filters`: a .txt file (one per line, or its text column when its lines are
    separated columns, as `predict --file` reads it), or a split of a dataset (the run's own by
    default; its held-out validation split when the dataset has none; a .txt of fastText lines is one).
    First `limit`."""
    from itertools import islice

    from textcnn.data.sources import DataError, fasttext_lines, load_data, load_raw, load_split
    from textcnn.inference.io import read_texts

    predictor = _as_predictor(run)
    txt = data_path is not None and Path(data_path).suffix.lower() == ".txt"
    if txt and not (Path(data_path).is_file() and fasttext_lines(Path(data_path))):
        try:
            return list(islice(read_texts(data_path, text_column=text_column), limit))
        except PredictError as e:
            raise ExplainError(str(e)) from None

    r = predictor.run
    try:
        if data_path is None and split in ("train", "validation", "test"):
            data = load_data(r.config.data, seed=r.config.train.seed)
            if split not in data.splits:
                raise ExplainError(f"{data.source} has no {split} split (splits: {', '.join(data.splits)})")
            ds = data.splits[split]
        else:
            cfg, raw = r.config.data, None
            if data_path is not None:  # other data: nothing of the run's dataset (hub id, columns) applies
                cfg = replace(cfg, path=str(data_path), dataset=None, hub_id=None, hub_config=None,
                              text_column=text_column, label_column=label_column)  # fmt: skip
                raw = load_raw(cfg)
                if len(raw[0]) == 1 and split not in raw[0]:  # one file, one split: its rows are the texts
                    split = next(iter(raw[0]))
            ds = load_split(cfg, split, predictor.label_names if raw is None else None, raw=raw)[0]  # texts only
    except DataError as e:
        raise ExplainError(str(e)) from None
    n = min(limit, len(ds))
    return list(ds.select(range(n))["text"])
