"""Prediction from a run folder: the Predictor, streaming file prediction, readers, writers, evaluation.

`Predictor.from_run(RUN).predict(texts)` tokenizes with the run's own tokenizer (batches of
word-level texts in one Python regex pass, data/word_encoder.py; the rest in Rust), sorts the texts
by length, runs length-sorted padded batches through an engine and returns one `Prediction` per
text, in input order, with the probability of every class. Engines (`from_run(engine='auto')`):
numpy for `cnn` runs on the CPU (numpy_cnn.py; torch is never imported; a job's batches on every
usable core), ONNX Runtime for an export folder (onnx_engine.py), torch for everything else.
`predict_stream` does the same for an iterable of any size in windows of `window` texts, so memory
stays bounded and results still come back in input order (io.py, with the readers and writers);
`evaluate_run` (evaluate.py) scores a run on a labelled split.

Inputs that need a word:
- Empty or whitespace-only text (no tokens at all): predicted from an all-padding input, which is the
  model's answer when it sees no evidence (its prior, from the biases alone), and flagged with
  `Prediction.empty = True`. It is not refused, so that a file's line i is always output record i.
- Only unknown words: predicted (the model sees [UNK] tokens) and flagged by `n_unknown == n_tokens`.
- Longer than `tokenizer.max_length` tokens: the model reads the first max_length tokens;
  `truncated = True` and `n_tokens` is the full count.
- A missing, incomplete, corrupt or mismatched run folder is a RunError (from run.py), and weights
  holding NaN or infinity are refused here; every other problem is a PredictError. Both are one line.

Speed: for `cnn` models the embedding table is folded into the convolution (numpy engine: the rows a
job uses, or the whole vocabulary once it pays; torch engine: `KimCNN.folded()` once a job is large
enough), the same numbers, a lookup instead of a matrix product per token. Not here: training (textcnn.training), files and streams (io.py), evaluation (evaluate.py),
explanations (explain.py), rendering (textcnn.cli). This module never imports `datasets`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textcnn.data.ragged import pad_ragged
from textcnn.data.tokenizer import Encoded, encode_flat, unk_id
from textcnn.data.word_encoder import MIN_TEXTS, WordEncoder
from textcnn.errors import PredictError
from textcnn.inference.numpy_cnn import TABLE_BYTES_LIMIT
from textcnn.run import Run, RunError, RunFiles, load_run, load_run_files, map_arrays, resolve_run

log = logging.getLogger(__name__)


class _Background:
    """`fn(*args)` in a thread started now; `result()` waits for it and returns it or raises its error.

    For mapping a run's weights while its config and tokenizer are read: the sha256 that checks them
    (16 ms for an 18 MB `cnn`) releases the GIL, so on a second core it costs a cold prediction nothing.
    A plain thread: concurrent.futures is not on the import path of a one-sentence prediction."""

    def __init__(self, fn, *args) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn(*args)
            except BaseException as e:  # handed to the caller by result()
                self._error = e

        self._thread = threading.Thread(target=run, name="textcnn-map-weights", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class Prediction:
    """The model's answer for one text."""

    text: str
    label: str
    """The most probable label."""
    probability: float
    """Its probability."""
    probabilities: dict[str, float]
    """Every label's probability, in the run's label order (they sum to 1)."""
    truncated: bool
    """The text had more than tokenizer.max_length tokens; the model read the first max_length."""
    n_tokens: int
    """Tokens in the whole text (before truncation); 0 for an empty or whitespace-only text."""
    n_unknown: int = 0
    """Tokens the tokenizer does not know ([UNK]) among those the model read."""
    top: list[tuple[str, float]] = field(default_factory=list)
    """The top_k (label, probability) pairs, most probable first ([(label, probability)] by default)."""

    @property
    def empty(self) -> bool:
        """No tokens: the answer comes from padding alone (the model's prior), not from the text."""
        return self.n_tokens == 0

    @property
    def note(self) -> str | None:
        """A one-line caveat for display, or None."""
        if self.empty:
            return "empty text: predicted from padding alone (the model's prior)"
        if self.n_unknown and not self.truncated and self.n_unknown == self.n_tokens:
            return "every token is unknown to the tokenizer: the answer says little about the text"
        if self.truncated:
            return f"truncated: the text has {self.n_tokens} tokens, more than the model reads (tokenizer.max_length)"
        return None

    def to_dict(self, top: bool = False) -> dict[str, Any]:
        """A JSON-ready record; `top` adds the top_k list."""
        out = {
            "text": self.text,
            "label": self.label,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "truncated": self.truncated,
            "n_tokens": self.n_tokens,
            "n_unknown": self.n_unknown,
            "empty": self.n_tokens == 0,
        }
        if top:
            out["top"] = [{"label": name, "probability": p} for name, p in self.top]
        return out


@dataclass
class Scores:
    """Probabilities of a list of texts (input order) and what the tokenizer saw."""

    probs: np.ndarray  # (N, C) float64
    logits: np.ndarray  # (N, C) float32
    n_tokens: list[int]  # full token counts
    truncated: list[bool]
    n_unknown: list[int]


# ---------------------------------------------------------------------------------------------
# The predictor

ENGINES = ("auto", "numpy", "onnx", "torch")
"""Prediction engines: `numpy` (cnn runs, no torch), `onnx` (export folders, ONNX Runtime), `torch`."""


class Predictor:
    """A loaded run ready to classify texts. Build it with `Predictor.from_run(path_or_spec)`.

    `run` is a torch `Run` (the torch engine) or, with `engine`, the torch-free `RunFiles` of a run or
    export folder. `.model`, `.run` and `.device` load the torch model on first use (explanations need it)."""

    def __init__(
        self,
        run: Run | RunFiles,
        *,
        batch_size: int = 512,
        fold: bool | None = None,
        threads: int | None = None,
        engine: Any = None,
    ) -> None:
        """`fold`: fold embeddings into the convolution for `cnn` models on the torch engine (None: when it
        pays off). `threads`: intra-op threads while scoring on torch (None: 1 for the folded CNN, whose
        small memory-bound ops gain nothing from more and lose badly on a busy machine: measured 4 ms vs
        86 ms per batch of 512 on 2 shared cores; the library's own setting for every other model); the
        numpy engine takes its own (`from_run(threads=)`: batches scored at once, default the usable cores).
        `engine`: a numpy or ONNX engine for `RunFiles` (None: the torch engine of a `Run`)."""
        if batch_size < 1:
            raise PredictError(f"batch_size={batch_size} must be >= 1")
        self._run = run if isinstance(run, Run) else None
        self.files = run
        self.config = run.config
        self.tokenizer = run.tokenizer
        self.label_names = list(run.label_names)
        self.max_length = int(run.config.tokenizer.max_length)
        self.pad_id = int(run.pad_id)
        self.unk_id = unk_id(run.tokenizer)
        self._words: WordEncoder | bool | None = None  # the Python word-level encoder, built for the first batch
        self.batch_size = batch_size
        self.fold = fold
        self.threads = threads
        if engine is None:
            if not isinstance(run, Run):
                raise PredictError("a Predictor without a torch Run needs an engine (use Predictor.from_run)")
            engine = _TorchEngine(run, fold=fold, threads=threads)
        self.engine = engine
        self.min_length = int(engine.min_length)
        engine.check(self.path)
        if engine.num_classes != len(self.label_names):
            raise RunError(
                f"{run.path}: the model has {engine.num_classes} outputs but labels.json names {len(self.label_names)} labels"
            )
        log.info("prediction engine: %s", engine.describe())

    @classmethod
    def from_run(
        cls, path_or_spec: str | Path, device: str | None = "cpu", engine: str = "auto", **kwargs
    ) -> Predictor:
        """Load a run folder, 'latest', a dataset/preset name (its newest run) or an export folder.

        engine 'auto': an export folder runs on ONNX Runtime; a `cnn` run on the CPU runs in numpy
        (torch is never imported); every other run on torch on `device` ('auto' picks cuda, then cpu).
        'numpy', 'onnx' and 'torch' insist (a PredictError says why one cannot run this folder)."""
        if engine not in ENGINES:
            raise PredictError(f"engine={engine!r} is not one of {', '.join(ENGINES)}")
        path = resolve_run(path_or_spec)
        threads = kwargs.get("threads")
        if is_export_folder(path):
            if engine not in ("auto", "onnx"):
                raise PredictError(f"{path} is an export folder (model.onnx): it runs on the onnx engine only")
            from textcnn.inference.onnx_engine import OnnxEngine

            files = load_run_files(path, weights="model.onnx")
            return cls(files, engine=OnnxEngine(files.weights, threads=threads), **kwargs)
        if engine == "onnx":
            raise PredictError(
                f"{path} is a run folder; export it first (textcnn export {path} --format onnx --out DIR) "
                "and predict from DIR"
            )
        on_cpu = device in (None, "auto", "cpu")
        if engine in ("auto", "numpy"):
            from textcnn.inference.numpy_cnn import NumpyKimCNN, unsupported

            mapping = _Background(map_arrays, path / "model.safetensors")  # its sha256 beside the reading below
            files = load_run_files(path)
            reason = unsupported(files.config.model) or (None if on_cpu else f"device {device!r} asks for torch")
            if reason is None:
                try:
                    arrays = mapping.result()
                except RunError as e:  # bf16 weights, say: torch reads them (and names any other problem)
                    reason = str(e)
                else:
                    vocab = files.tokenizer.get_vocab_size()
                    np_engine = NumpyKimCNN(arrays, files.config.model, files.pad_id, vocab_size=vocab,
                                            num_classes=len(files.label_names), source=str(files.weights),
                                            threads=threads)  # fmt: skip
                    return cls(files, engine=np_engine, **kwargs)
            if engine == "numpy":
                raise PredictError(f"the numpy engine cannot run {path}: {reason}")
            log.info("numpy engine not used: %s", reason)
        from textcnn.runtime import select_device

        return cls(load_run(path, device=str(select_device(str(device or "auto")))), **kwargs)

    @property
    def path(self) -> Path:
        return self.files.path

    @property
    def summary(self) -> dict:
        """The run's summary.json (empty when it has none)."""
        return self.files.summary

    @property
    def run(self) -> Run | RunFiles:
        """The torch Run (loaded on first use when this predictor runs on numpy); for an export folder,
        its RunFiles (config, tokenizer, labels, summary: everything but a torch model)."""
        if self._run is None:
            if is_export_folder(self.path):
                return self.files
            self._run = load_run(self.path, device="cpu")
        return self._run

    @property
    def model(self):
        """The torch model (loaded on first use when this predictor runs on numpy); a PredictError for
        an export folder, which has none."""
        if is_export_folder(self.path):
            raise PredictError(f"{self.path} is an export folder: it has no torch model; use the run folder")
        return self.run.model

    @property
    def device(self):
        """Where the torch model runs ('cpu' for an export folder, which ONNX Runtime runs on the CPU)."""
        return "cpu" if is_export_folder(self.path) else self.run.device

    # -- scoring ------------------------------------------------------------------------------

    def encode(self, texts: list[str]) -> Encoded:
        """The texts as ragged ids truncated to max_length (`Encoded`, labels -1), with their full token
        counts in `n_tokens`."""
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise PredictError(f"text {i} is {type(t).__name__}, not a string")
        if self._words is None and len(texts) >= MIN_TEXTS:
            self._words = WordEncoder.of(self.tokenizer) or False  # False: not a word-level tokenizer
        words = self._words or None
        try:
            flat, offsets, full = encode_flat(self.tokenizer, texts, self.max_length, words)
        except Exception as e:  # lone surrogates and the like; the Rust side raises plain exceptions
            texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
            try:
                flat, offsets, full = encode_flat(self.tokenizer, texts, self.max_length, words)
            except Exception:
                raise PredictError(f"the tokenizer cannot read these texts: {str(e).splitlines()[0]}") from None
        labels = np.full(len(texts), -1, dtype=np.int64)
        return Encoded(flat, offsets, labels, int((full > self.max_length).sum()), full)

    def score(self, texts: list[str], *, batch_size: int | None = None, encoded: Encoded | None = None) -> Scores:
        """Probabilities (N, C) in input order, in length-sorted batches of `batch_size` (default: the
        predictor's). `encoded`: what `encode(texts)` returned, when the caller has already encoded them."""
        batch_size = batch_size or self.batch_size
        enc = encoded if encoded is not None else self.encode(texts)
        flat, offsets, n = enc.ids, enc.offsets, len(enc)
        C = len(self.label_names)
        logits_out = np.zeros((n, C), dtype=np.float32)
        lengths = enc.lengths
        order = np.argsort(lengths, kind="stable")
        starts = range(0, n, batch_size)
        workers = min(getattr(self.engine, "workers", 1), len(starts))
        with self.engine.job(flat, lengths, self.pad_id) as forward:

            def one(start: int) -> None:
                idx = order[start : start + batch_size]
                batch_ids, batch_len = pad_ragged(flat, offsets, idx, self.min_length, self.pad_id)
                logits_out[idx] = forward(batch_ids, batch_len)  # (B, C)

            if workers > 1:  # the numpy engine: batches on several threads (disjoint rows of logits_out)
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers, thread_name_prefix="textcnn-score") as pool:
                    for _ in pool.map(one, starts):
                        pass
            else:
                for start in starts:
                    one(start)
        bad = ~np.isfinite(logits_out).all(axis=1)
        if bad.any():
            raise PredictError(
                f"the model gave non-finite scores for {int(bad.sum())} of {n} texts (first: text {int(np.flatnonzero(bad)[0])})"
            )
        probs = softmax(logits_out)
        n_unknown = np.zeros(n, dtype=np.int64)
        if self.unk_id is not None:  # the row of every unknown token, counted
            row_of = np.repeat(np.arange(n), lengths)
            n_unknown = np.bincount(row_of[flat == self.unk_id], minlength=n)
        full = enc.n_tokens if enc.n_tokens is not None else lengths
        return Scores(probs, logits_out, full.tolist(), (full > self.max_length).tolist(), n_unknown.tolist())

    def predict(
        self,
        texts: list[str],
        top_k: int | None = None,
        *,
        batch_size: int | None = None,
        encoded: Encoded | None = None,
    ) -> list[Prediction]:
        """One Prediction per text, in input order. `top_k`: also list the k most probable labels;
        `encoded`: `encode(texts)`, when already done (io.predict_stream encodes the next window meanwhile)."""
        if isinstance(texts, str):
            raise PredictError("predict() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        k = check_top_k(top_k, len(self.label_names))
        if not texts:
            return []
        return self.predictions(texts, self.score(texts, batch_size=batch_size, encoded=encoded), k)

    def predictions(self, texts: list[str], s: Scores, k: int = 1) -> list[Prediction]:
        """One Prediction per text from its `score(texts)`, listing the `k` most probable labels."""
        names = self.label_names
        best = s.probs.argmax(axis=1).tolist()
        rows = s.probs.tolist()
        out = []
        for i, text in enumerate(texts):
            row = rows[i]
            b = best[i]
            if k == 1:
                top = [(names[b], row[b])]
            else:
                top = [(names[j], row[j]) for j in sorted(range(len(names)), key=row.__getitem__, reverse=True)[:k]]
            out.append(
                Prediction(
                    text=text,
                    label=names[b],
                    probability=row[b],
                    probabilities=dict(zip(names, row, strict=True)),
                    truncated=s.truncated[i],
                    n_tokens=s.n_tokens[i],
                    n_unknown=s.n_unknown[i],
                    top=top,
                )
            )
        return out


def is_export_folder(path: Path) -> bool:
    """An export folder (textcnn export): model.onnx and no model.safetensors."""
    return (path / "model.onnx").is_file() and not (path / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------
# Engines: job(flat ids, lengths, pad_id) is a context manager that yields forward(ids (B, T), lengths (B,))
# -> logits (B, C) float32, all numpy. The numpy engine is textcnn.inference.numpy_cnn, the ONNX
# engine textcnn.inference.onnx_engine; the torch engine is here.


class _TorchEngine:
    """A torch model (or, for `cnn`, its folded form once a job has enough tokens) under inference_mode."""

    name = "torch"

    def __init__(self, run: Run, *, fold: bool | None, threads: int | None) -> None:
        self.run, self.model, self.fold, self.threads = run, run.model, fold, threads
        self.model.eval()
        self.min_length = int(getattr(run.model, "min_length", 1))
        self.num_classes = getattr(getattr(run.model, "fc", None), "out_features", len(run.label_names))
        self._folded = None  # the model's folded form (KimCNN.folded), once built
        self._tokens_seen = 0

    def describe(self) -> str:
        return f"torch ({self.run.config.model.name} on {self.run.device})"

    def check(self, path: Path) -> None:
        _check_finite(self.run)

    def _model_for(self, n_tokens: int):
        """The model itself, or its folded form once this predictor's jobs have enough tokens."""
        if self._folded is not None:
            return self._folded
        self._tokens_seen += n_tokens
        from textcnn.models.registry import spec_of

        can = spec_of(self.model).foldable and self.model.folded_table_bytes() <= TABLE_BYTES_LIMIT
        if self.fold is False or not can:
            return self.model
        if self.fold or self._tokens_seen >= self.model.embedding.num_embeddings // 2:
            self._folded = self.model.folded()
            log.info("prediction engine: torch, cnn folded (embedding x filters as one table)")
            return self._folded
        return self.model

    @contextlib.contextmanager
    def job(self, flat: np.ndarray, lengths: np.ndarray, pad_id: int):
        import torch

        model = self._model_for(int(lengths.sum()))
        threads = self.threads or (1 if model is self._folded else None)
        device = self.run.device

        def forward(batch_ids: np.ndarray, batch_len: np.ndarray) -> np.ndarray:
            logits = model(torch.from_numpy(batch_ids).to(device), torch.from_numpy(batch_len).to(device))  # (B, C)
            return logits.float().cpu().numpy()

        with torch.inference_mode(), _torch_threads(threads):
            yield forward


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run with n intra-op threads, then restore the previous setting (None: leave it)."""
    import torch

    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_top_k(top_k: int | None, n_labels: int) -> int:
    if top_k is None:
        return 1
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise PredictError(f"top_k={top_k!r} must be a whole number >= 1")
    return min(top_k, n_labels)


def _check_finite(run: Run) -> None:
    """Weights holding NaN or infinity give silently wrong answers: refuse them at load time."""
    import torch

    for name, t in run.model.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise RunError(f"{run.path / 'model.safetensors'} holds NaN or infinite values in {name}; retrain the run")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
