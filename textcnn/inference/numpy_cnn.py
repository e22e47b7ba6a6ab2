"""`cnn` prediction in numpy: Kim (2014, arXiv:1408.5882) CNN logits from the run's safetensors weights, no torch.

The model (textcnn.models.kim.KimCNN) computes Y = emb[ids] @ W, (T, C_in*E) @ (C_in*E, sum(w)*F), and
sums w shifted blocks of Y into the window responses of width w. Since emb[ids] @ W == (emb @ W)[ids],
the product is folded over the vocabulary once (the same fold as `KimCNN.folded()`), so a window is
w row lookups and adds. Then the model's own masked pooling over time (valid window starts
0..max(L - w, 0), so padding never wins and an empty text gets one window of pad vectors), bias,
activation and the classifier `fc`. Logits equal the torch model's up to float32 rounding.

Folding: a job folds only the rows of the tokens it uses (a one-sentence job multiplies a handful of
rows, not the vocabulary); once this engine has seen as many tokens as the vocabulary has rows, it
folds the whole vocabulary once and keeps it (`TABLE_BYTES_LIMIT` caps that table's size).

What it covers: every `cnn` setting but the `gelu` activation (numpy has no erf): pooling max, avg and
kmax, activations relu, tanh, identity, every embedding mode. `unsupported(cfg)` says why not.
Not here: choosing an engine (predictor.py), the torch model (models/kim.py), ONNX (onnx_engine.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from textcnn.errors import RunError

ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0, out=x), "tanh": lambda x: np.tanh(x, out=x), "identity": lambda x: x}
MONOTONE = ("relu", "tanh", "identity")
"""Non-decreasing: max_t f(c_t + b) == f(max_t c_t + b), so bias and activation can follow the max."""
MAX_WORKERS = 4
"""Most threads a job's batches are scored on by default: memory-bound lookups gain little beyond."""
FOLD_ROWS_PER_THREAD = 2048
"""Rows of a fold below which it stays on one thread (a one-sentence job folds a handful)."""
TABLE_BYTES_LIMIT = 256 * 2**20
"""Largest whole-vocabulary folded table (V x sum(widths) x feature_maps float32) kept in memory; also
the limit of the torch engine's and the trainer's `KimCNN.folded()`."""


def unsupported(model_cfg: Any) -> str | None:
    """Why this engine cannot run a model config (None: it can)."""
    if model_cfg.name != "cnn":
        return f"model {model_cfg.name!r} is not a cnn"
    if model_cfg.activation not in ACTIVATIONS:
        return f"activation {model_cfg.activation!r} needs torch (numpy has no erf)"
    if model_cfg.pooling not in ("max", "avg", "kmax"):
        return f"pooling {model_cfg.pooling!r} is not implemented in numpy"
    return None


def _check_shapes(
    arrays: dict[str, np.ndarray], cfg: Any, vocab_size: int, num_classes: int | None, source: str
) -> None:
    """The arrays a `cnn` of this config has, with their shapes (as `run.load_state_into` checks them);
    `num_classes` None: whatever fc.bias says."""
    c_in = 2 if cfg.embedding_mode == "multichannel" else 1
    E, nf, nW = cfg.embedding_dim, cfg.feature_maps, len(cfg.widths)
    n_features = nW * nf * (cfg.k if cfg.pooling == "kmax" else 1)
    C = num_classes if num_classes is not None else (arrays["fc.bias"].shape[0] if "fc.bias" in arrays else None)
    want = {"embedding.weight": (vocab_size, E), "conv_weight": (c_in * E, sum(cfg.widths) * nf),
            "conv_bias": (nW * nf,), "fc.weight": (C, n_features), "fc.bias": (C,)}  # fmt: skip
    if c_in == 2:
        want["embedding_static.weight"] = (vocab_size, E)
    problems = []
    missing = sorted(set(want) - set(arrays))
    unexpected = sorted(set(arrays) - set(want))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}")
    bad = [f"{k} {tuple(arrays[k].shape)} != {v}" for k, v in want.items() if k in arrays and arrays[k].shape != v]
    if bad:
        problems.append(f"shape mismatch {', '.join(bad[:5])}")
    if problems:
        raise RunError(f"{source} does not match the model in config.toml: {'; '.join(problems)}")
    floats = [k for k, a in arrays.items() if a.dtype.kind != "f"]
    if floats:
        raise RunError(f"{source}: {', '.join(floats)} are not floating point")


class NumpyKimCNN:
    """A `cnn` run's forward pass in numpy: `engine(ids (B, T) int64, lengths (B,)) -> logits (B, C) float32`.

    `arrays` is the run's state dict as numpy arrays (embedding.weight, embedding_static.weight in
    multichannel mode, conv_weight, conv_bias, fc.weight, fc.bias)."""

    name = "numpy"

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        model_cfg: Any,
        pad_id: int,
        *,
        vocab_size: int,
        num_classes: int | None = None,
        source: str = "weights",
        threads: int | None = None,
    ) -> None:
        """`threads`: batches of one job scored at once (numpy's gathers and sums release the GIL);
        None: the cores this process may use, at most `MAX_WORKERS`."""
        _check_shapes(arrays, model_cfg, vocab_size, num_classes, source)
        if threads is None:
            from textcnn.runtime import usable_cores

            threads = min(usable_cores(), MAX_WORKERS)
        self.workers = max(1, int(threads))
        emb = arrays["embedding.weight"].astype(np.float32, copy=False)
        if "embedding_static.weight" in arrays:  # multichannel: the channels side by side, as the model does
            emb = np.concatenate([emb, arrays["embedding_static.weight"].astype(np.float32, copy=False)], axis=1)
        self.emb = emb  # (V, C_in*E)
        self.conv_weight = arrays["conv_weight"].astype(np.float32, copy=False)  # (C_in*E, sum(w)*F)
        self.conv_bias = arrays["conv_bias"].astype(np.float32, copy=False)  # (nW*F,)
        self.fc_weight = arrays["fc.weight"].astype(np.float32, copy=False)  # (C, N)
        self.fc_bias = arrays["fc.bias"].astype(np.float32, copy=False)  # (C,)
        self.widths = tuple(int(w) for w in model_cfg.widths)
        self.nf = int(model_cfg.feature_maps)
        self.activation, self.pooling, self.k = model_cfg.activation, model_cfg.pooling, int(model_cfg.k)
        self.pad_id = int(pad_id)
        self.min_length = max(self.widths) + (self.k - 1 if self.pooling == "kmax" else 0)
        self.edge = max(self.widths) - 1 if getattr(model_cfg, "edge_padding", False) else 0
        self.vocab = self.emb.shape[0]
        self.num_classes = self.fc_weight.shape[0]
        self._full: list[np.ndarray] | None = None  # whole-vocabulary tables, once folded
        self._tokens_seen = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Every weight array (for the finiteness check)."""
        return {"embedding": self.emb, "conv_weight": self.conv_weight, "conv_bias": self.conv_bias,
                "fc.weight": self.fc_weight, "fc.bias": self.fc_bias}  # fmt: skip

    def table_bytes(self) -> int:
        return self.vocab * self.conv_weight.shape[1] * 4

    def _fold(self, rows: np.ndarray | None) -> list[np.ndarray]:
        """Per width w, the (w, R, F) table of every tap: table[j, r] = (emb[rows[r]] @ W)[block(w, j)]."""
        emb = self.emb if rows is None else self.emb[rows]  # (R, C_in*E)
        R = emb.shape[0]
        folded = np.empty((R, self.conv_weight.shape[1]), dtype=np.float32)  # (R, sum(w)*F)
        k = self.workers if R >= FOLD_ROWS_PER_THREAD else 1
        bounds = [R * i // k for i in range(k + 1)]

        def fold(i: int) -> None:  # rows a:b, (b-a, C_in*E) @ (C_in*E, sum(w)*F)
            a, b = bounds[i], bounds[i + 1]
            np.matmul(emb[a:b], self.conv_weight, out=folded[a:b])

        if k > 1:  # parts of the rows on this engine's threads (the CLI keeps numpy's BLAS to one thread)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(k, thread_name_prefix="textcnn-fold") as pool:
                list(pool.map(fold, range(k)))
        else:
            fold(0)
        nf, off, tables = self.nf, 0, []
        for w in self.widths:
            block = folded[:, off : off + w * nf].reshape(R, w, nf)  # (R, w*F) -> (R, w, F)
            tables.append(np.ascontiguousarray(block.transpose(1, 0, 2)))  # -> (w, R, F)
            off += w * nf
        return tables

    def tables_for(self, ids: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """(folded tables, lookup) for the token ids a job uses (pad included): the whole vocabulary once
        this engine has seen as many tokens as it has rows (lookup None), else only these rows, with
        `lookup[token id]` the row of that token in the tables."""
        self._tokens_seen += ids.size
        if self._full is None and self._tokens_seen >= self.vocab and self.table_bytes() <= TABLE_BYTES_LIMIT:
            self._full = self._fold(None)
        if self._full is not None:
            return self._full, None
        present = np.zeros(self.vocab, dtype=bool)
        present[ids] = True
        rows = np.flatnonzero(present)  # sorted distinct ids; np.unique would import numpy.ma (20 ms cold)
        lookup = np.zeros(self.vocab, dtype=np.int64)
        lookup[rows] = np.arange(len(rows))
        return self._fold(rows), lookup

    # -- the engine interface of textcnn.inference.predictor -----------------------------------

    def describe(self) -> str:
        return "numpy (cnn: embedding x filters folded into lookup tables; torch not imported)"

    def check(self, path: Path) -> None:
        """Weights holding NaN or infinity give silently wrong answers: refuse them at load time."""
        for name, a in self.arrays().items():
            # A sum is finite when every value is (NaN and infinity carry through it): one pass and no
            # (V, E) array of flags, 2 ms instead of 7 for an 18 MB run; a sum that overflowed is checked
            # value by value.
            with np.errstate(over="ignore", invalid="ignore"):
                total = a.sum()
            if not np.isfinite(total) and not np.isfinite(a).all():
                raise RunError(f"{path / 'model.safetensors'} holds NaN or infinite values in {name}; retrain the run")

    @contextlib.contextmanager
    def job(self, flat: np.ndarray, lengths: np.ndarray, pad_id: int):
        """Fold once for the job's tokens (`flat`: every text's ids end to end); yield
        forward(padded ids (B, T), lengths (B,)) -> logits (B, C)."""
        tables, lookup = self.tables_for(np.append(flat, pad_id))

        def forward(batch_ids: np.ndarray, batch_len: np.ndarray) -> np.ndarray:
            return self(batch_ids, batch_len, tables, lookup)

        yield forward

    def _pad_edges(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As the model's `layers.pad_edges`: `edge` pads before and after each sentence, counted in its length."""
        if self.edge == 0:
            return ids, lengths
        e = self.edge
        return np.pad(ids, ((0, 0), (e, e)), constant_values=self.pad_id), np.asarray(lengths) + 2 * e

    def __call__(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        tables: list[np.ndarray] | None = None,
        lookup: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logits (B, C) for padded ids (B, T) and their lengths (B,); `tables` and `lookup`: from
        `tables_for` for tokens that include these (else they are built for this call)."""
        ids, lengths = self._pad_edges(ids, lengths)
        if tables is None:
            tables, lookup = self.tables_for(np.append(ids.ravel(), self.pad_id))
        ids = ids if lookup is None else lookup[ids]
        B, T = ids.shape
        lengths = np.asarray(lengths, dtype=np.int64)
        features = []
        for i, (w, table) in enumerate(zip(self.widths, tables, strict=True)):
            # taps past the end read pad positions: extend by w - 1 pad columns (the model's _ShiftSum
            # leaves those windows partial; they are never valid, so any finite value does)
            ext = ids if w == 1 else np.concatenate([ids, np.repeat(ids[:, -1:], w - 1, axis=1)], axis=1)
            c = table[0][ext[:, :T]]  # (B, T, F)
            for j in range(1, w):
                c += table[j][ext[:, j : j + T]]  # (B, T, F)
            last = np.maximum(lengths - w, 0)  # (B,) last valid window start
            valid = np.arange(T)[None, :] <= last[:, None]  # (B, T)
            features.append(self._pool(c, valid, self.conv_bias[i * self.nf : (i + 1) * self.nf]))
        x = np.concatenate(features, axis=1)  # (B, nW*F) or (B, nW*F*k) as the model orders them
        return x @ self.fc_weight.T + self.fc_bias  # (B, N) @ (N, C) -> (B, C)

    def _pool(self, c: np.ndarray, valid: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """One width's pooling over time, as textcnn.models.layers.pool_over_time: (B, T, F) -> (B, F[*k])."""
        act = ACTIVATIONS[self.activation]
        B, T, nf = c.shape
        if self.pooling == "max":
            if self.activation in MONOTONE:
                c[~valid] = -np.inf
                return act(c.max(axis=1) + bias)  # (B, F)
            a = act(c + bias)
            a[~valid] = -np.inf
            return a.max(axis=1)
        if self.pooling == "avg":
            a = act(c + bias) * valid[:, :, None]  # (B, T, F), invalid windows zeroed
            return a.sum(axis=1) / valid.sum(axis=1, keepdims=True)  # (B, F)
        # kmax (Kalchbrenner et al. 2014): the k largest pre-activation values in sentence order
        c[~valid] = -np.inf
        k = self.k
        top = np.argsort(-c, axis=1, kind="stable")[:, :k]  # (B, k, F): ties keep index order, as torch's stable sort
        vals = np.take_along_axis(c, np.sort(top, axis=1), axis=1)  # (B, k, F) in sentence order
        if vals.shape[1] < k:  # fewer windows than k in the whole batch
            vals = np.concatenate([vals, np.full((B, k - vals.shape[1], nf), -np.inf, np.float32)], axis=1)
        missing = np.isneginf(vals)
        out = act(np.where(missing, 0.0, vals).astype(np.float32) + bias)
        out[missing] = 0.0
        # features are filter-major (feature = filter * k + slot) within the width: (B, k, F) -> (B, F, k)
        return out.transpose(0, 2, 1).reshape(B, nf * k)
