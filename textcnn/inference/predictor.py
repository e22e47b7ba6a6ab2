"""Prediction from a run folder: the Predictor, streaming file prediction, readers, writers, evaluation.

`Predictor.from_run(RUN).predict(texts)` tokenizes with the run's own tokenizer (batch encoding in
Rust), sorts the texts by length, runs length-sorted padded batches through an engine and returns
one `Prediction` per text, in input order, with the probability of every class. Engines
(`from_run(engine='auto')`): numpy for `cnn` runs on the CPU (numpy_cnn.py; torch is never
imported), ONNX Runtime for an export folder (onnx_engine.py), torch for everything else.
`predict_stream` does the same for an iterable of any size in windows of `window` texts, so memory
stays bounded and results still come back in input order. `read_lines` and the `write_*` functions
are the file side; `evaluate_run` scores a run on a labelled split.

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
enough), the same numbers, a lookup instead of a matrix product per token. Not here: training (train.py), explanations (explain.py), rendering (cli.py). This module
never imports `datasets` (only `evaluate_run` loads data, lazily through textcnn.data.sources).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from textcnn.data.tokenizer import encode_texts, unk_id
from textcnn.errors import PredictError
from textcnn.run import Run, RunError, RunFiles, load_arrays, load_run, load_run_files, resolve_run

if TYPE_CHECKING:  # pragma: no cover
    from textcnn.inference.metrics import ClassificationReport

log = logging.getLogger(__name__)

FORMATS = ("jsonl", "json", "csv")
"""Output formats of `write_predictions`."""
ON_ERROR = ("skip", "stop")
"""What `read_lines` does with a line that is not valid UTF-8."""
TABLE_BYTES_LIMIT = 256 * 2**20
"""Largest folded vocabulary table (vocabulary x sum(widths) x feature_maps floats) `KimCNN.folded()` builds."""
BOM = b"\xef\xbb\xbf"


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
        pays off). `threads`: intra-op threads while scoring (None: 1 for the folded CNN, whose small
        memory-bound ops gain nothing from more and lose badly on a busy machine: measured 4 ms vs
        86 ms per batch of 512 on 2 shared cores; the library's own setting for every other model).
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
        if _is_export(path):
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

            files = load_run_files(path)
            reason = unsupported(files.config.model) or (None if on_cpu else f"device {device!r} asks for torch")
            if reason is None:
                try:
                    arrays = load_arrays(files.weights)
                except RunError as e:  # bf16 weights, say: torch reads them (and names any other problem)
                    reason = str(e)
                else:
                    vocab = files.tokenizer.get_vocab_size()
                    np_engine = NumpyKimCNN(arrays, files.config.model, files.pad_id, vocab_size=vocab,
                                            num_classes=len(files.label_names), source=str(files.weights))  # fmt: skip
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
            if _is_export(self.path):
                return self.files
            self._run = load_run(self.path, device="cpu")
        return self._run

    @property
    def model(self):
        """The torch model (loaded on first use when this predictor runs on numpy); a PredictError for
        an export folder, which has none."""
        if _is_export(self.path):
            raise PredictError(f"{self.path} is an export folder: it has no torch model; use the run folder")
        return self.run.model

    @property
    def device(self):
        """Where the torch model runs ('cpu' for an export folder, which ONNX Runtime runs on the CPU)."""
        return "cpu" if _is_export(self.path) else self.run.device

    # -- scoring ------------------------------------------------------------------------------

    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[int], list[bool]]:
        """(token ids truncated to max_length, full token counts, truncated flags)."""
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise PredictError(f"text {i} is {type(t).__name__}, not a string")
        try:
            ids, truncated = encode_texts(self.tokenizer, texts, self.max_length)
        except Exception as e:  # lone surrogates and the like; the Rust side raises plain exceptions
            texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
            try:
                ids, truncated = encode_texts(self.tokenizer, texts, self.max_length)
            except Exception:
                raise PredictError(f"the tokenizer cannot read these texts: {str(e).splitlines()[0]}") from None
        n_tokens = [len(x) for x in ids]
        long = [i for i, t in enumerate(truncated) if t]
        if long:  # only truncated texts need their full length: encode them again, untruncated
            full = self.tokenizer.encode_batch([texts[i] for i in long])
            for i, e in zip(long, full, strict=True):
                n_tokens[i] = len(e.ids)
        return ids, n_tokens, truncated

    def score(self, texts: list[str], *, batch_size: int | None = None) -> Scores:
        """Probabilities (N, C) in input order, in length-sorted batches of `batch_size` (default: the predictor's)."""
        batch_size = batch_size or self.batch_size
        ids, n_tokens, truncated = self.encode(texts)
        n = len(ids)
        C = len(self.label_names)
        logits_out = np.zeros((n, C), dtype=np.float32)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        with self.engine.job(ids, lengths, self.pad_id) as forward:
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch_ids, batch_len = _pad_np(ids, idx, lengths, self.min_length, self.pad_id)
                logits_out[idx] = forward(batch_ids, batch_len)  # (B, C)
        bad = ~np.isfinite(logits_out).all(axis=1)
        if bad.any():
            raise PredictError(
                f"the model gave non-finite scores for {int(bad.sum())} of {n} texts (first: text {int(np.flatnonzero(bad)[0])})"
            )
        probs = _softmax(logits_out)
        unk = self.unk_id
        n_unknown = [x.count(unk) for x in ids] if unk is not None else [0] * n
        return Scores(probs, logits_out, n_tokens, truncated, n_unknown)

    def predict(self, texts: list[str], top_k: int | None = None, *, batch_size: int | None = None) -> list[Prediction]:
        """One Prediction per text, in input order. `top_k`: also list the k most probable labels."""
        if isinstance(texts, str):
            raise PredictError("predict() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        k = _check_top_k(top_k, len(self.label_names))
        if not texts:
            return []
        s = self.score(texts, batch_size=batch_size)
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


def _is_export(path: Path) -> bool:
    """An export folder (textcnn export): model.onnx and no model.safetensors."""
    return (path / "model.onnx").is_file() and not (path / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------
# Engines: job(ids, lengths, pad_id) is a context manager that yields forward(ids (B, T), lengths (B,))
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
    def job(self, ids: list[list[int]], lengths: np.ndarray, pad_id: int):
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


def _check_top_k(top_k: int | None, n_labels: int) -> int:
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


def _pad_np(
    ids: list[list[int]], idx: np.ndarray, lengths: np.ndarray, min_length: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids [B, T] int64, lengths [B] int64) for the rows idx, T = max(longest, min_length, 1)."""
    lens = lengths[idx]
    t = max(int(lens.max()) if len(idx) else 0, min_length, 1)
    out = np.full((len(idx), t), pad_id, dtype=np.int64)
    for row, i in enumerate(idx.tolist()):
        seq = ids[i]
        if seq:
            out[row, : len(seq)] = seq
    return out, lens.copy()


def _pad_rows(ids: list[list[int]], idx: np.ndarray, lengths: np.ndarray, min_length: int, pad_id: int):
    """`_pad_np` as torch tensors (for explanations, which run the torch model)."""
    import torch

    out, lens = _pad_np(ids, idx, lengths, min_length, pad_id)
    return torch.from_numpy(out), torch.from_numpy(lens)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# ---------------------------------------------------------------------------------------------
# Streams


def predict_stream(
    predictor: Predictor,
    lines: Iterable[str],
    *,
    batch_size: int = 512,
    window: int = 20000,
    top_k: int | None = None,
) -> Iterator[Prediction]:
    """Predictions for any number of texts, in input order, holding at most `window` texts at a time.

    Inside a window the texts are sorted by length into batches of `batch_size` (little padding);
    the window's results are yielded in input order before the next window is read."""
    if window < 1:
        raise PredictError(f"window={window} must be >= 1")
    if batch_size < 1:
        raise PredictError(f"batch_size={batch_size} must be >= 1")
    it = iter(lines)
    while chunk := list(itertools.islice(it, window)):
        yield from predictor.predict(chunk, top_k=top_k, batch_size=batch_size)


def read_lines(path: str | Path, on_error: str = "skip", skipped: list[int] | None = None) -> Iterator[str]:
    """The texts of a UTF-8 file, one per line ('-' reads stdin), without the line ending.

    A UTF-8 byte-order mark is dropped, "\\r\\n" endings are handled, and every line is one text (an
    empty line is an empty text). A line that is not valid UTF-8 is logged with its line number and
    skipped (`on_error='skip'`; its number is appended to `skipped` when given) or stops the reading
    with a PredictError that names the line (`on_error='stop'`)."""
    if on_error not in ON_ERROR:
        raise PredictError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR)}")
    name = "stdin" if str(path) == "-" else str(path)
    if str(path) == "-":
        yield from _decode_lines(sys.stdin.buffer, name, on_error, skipped)
        return
    p = Path(path)
    if not p.exists():
        raise PredictError(f"input file {p} does not exist")
    if p.is_dir():
        raise PredictError(f"input {p} is a folder, not a file of texts")
    try:
        f = open(p, "rb")  # noqa: SIM115 - closed below, the generator may stop early
    except OSError as e:
        raise PredictError(f"cannot read {p}: {e.strerror}") from None
    with f:
        yield from _decode_lines(f, name, on_error, skipped)


def _decode_lines(f, name: str, on_error: str, skipped: list[int] | None) -> Iterator[str]:
    for number, raw in enumerate(f, start=1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            msg = f"{name} line {number} is not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
            if on_error == "stop":
                raise PredictError(msg + "; fix the file or use --on-error skip") from None
            log.warning("%s; skipped", msg)
            if skipped is not None:
                skipped.append(number)


# ---------------------------------------------------------------------------------------------
# Writers: every record has every class probability, in input order


def write_jsonl(predictions: Iterable[Prediction], out: TextIO, *, top: bool = False) -> int:
    """One JSON object per line; returns the number written.

    Each line is exactly `json.dumps(p.to_dict(top), ensure_ascii=False)`, formatted directly (strings
    through json's own C string encoder, floats by repr as json does): 3x faster for large files."""
    n = 0
    line = _jsonl_formatter(top)
    buf: list[str] = []
    for p in predictions:
        buf.append(line(p))
        n += 1
        if len(buf) >= 4096:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    return n


def _jsonl_formatter(top: bool):
    """p -> json.dumps(p.to_dict(top), ensure_ascii=False), without building the dict."""
    from json.encoder import encode_basestring as enc  # the C encoder json.dumps uses with ensure_ascii=False

    names: dict[str, str] = {}

    def name(label: str) -> str:
        if label not in names:
            names[label] = enc(label)
        return names[label]

    def line(p: Prediction) -> str:
        probs = ", ".join(f"{name(k)}: {v!r}" for k, v in p.probabilities.items())
        out = (
            f'{{"text": {enc(p.text)}, "label": {name(p.label)}, "probability": {p.probability!r}, '
            f'"probabilities": {{{probs}}}, "truncated": {"true" if p.truncated else "false"}, '
            f'"n_tokens": {p.n_tokens}, "n_unknown": {p.n_unknown}, "empty": {"true" if p.n_tokens == 0 else "false"}'
        )
        if top:
            out += ', "top": [' + ", ".join(f'{{"label": {name(k)}, "probability": {v!r}}}' for k, v in p.top) + "]"
        return out + "}"

    return line


def write_json(predictions: Iterable[Prediction], out: TextIO, *, top: bool = False) -> int:
    """One JSON array of records, written as it streams; returns the number written."""
    n = 0
    out.write("[")
    for p in predictions:
        out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(p.to_dict(top), ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def write_csv(
    predictions: Iterable[Prediction], out: TextIO, label_names: list[str] | None = None, *, top: bool = False
) -> int:
    """CSV with a header: text, label, probability, p_<label> for every label, flags. `top` is ignored
    (every probability is already a column)."""
    del top
    it = iter(predictions)
    first = next(it, None)
    names = list(label_names) if label_names is not None else (list(first.probabilities) if first else [])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "text",
            "label",
            "probability",
            *(f"p_{name}" for name in names),
            "truncated",
            "n_tokens",
            "n_unknown",
            "empty",
        ]
    )
    n = 0
    for p in itertools.chain([first] if first is not None else [], it):
        probs = p.probabilities
        writer.writerow(
            [
                p.text,
                p.label,
                p.probability,
                *(probs[name] for name in names),
                p.truncated,
                p.n_tokens,
                p.n_unknown,
                p.empty,
            ]
        )
        n += 1
    return n


def write_predictions(
    predictions: Iterable[Prediction],
    out: TextIO,
    fmt: str = "jsonl",
    *,
    label_names: list[str] | None = None,
    top: bool = False,
) -> int:
    """Write records in `fmt` (jsonl, json or csv); returns the number written."""
    if fmt == "jsonl":
        return write_jsonl(predictions, out, top=top)
    if fmt == "json":
        return write_json(predictions, out, top=top)
    if fmt == "csv":
        return write_csv(predictions, out, label_names)
    raise PredictError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


@dataclass
class FileSummary:
    """What `predict_file` did."""

    written: int
    skipped_lines: list[int]
    """Line numbers that were not valid UTF-8 (on_error='skip')."""
    empty: int
    truncated: int


def predict_file(
    predictor: Predictor,
    path: str | Path,
    out: TextIO,
    *,
    fmt: str = "jsonl",
    top_k: int | None = None,
    on_error: str = "skip",
    batch_size: int = 512,
    window: int = 20000,
) -> FileSummary:
    """Read texts from `path` ('-': stdin), predict them in streaming windows and write records to `out`."""
    if fmt not in FORMATS:
        raise PredictError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    _check_top_k(top_k, len(predictor.label_names))
    skipped: list[int] = []
    counts = {"empty": 0, "truncated": 0}

    def counted(preds: Iterable[Prediction]) -> Iterator[Prediction]:
        for p in preds:
            counts["empty"] += p.n_tokens == 0
            counts["truncated"] += p.truncated
            yield p

    lines = read_lines(path, on_error=on_error, skipped=skipped)
    stream = predict_stream(predictor, lines, batch_size=batch_size, window=window, top_k=top_k)
    n = write_predictions(counted(stream), out, fmt, label_names=predictor.label_names, top=top_k is not None)
    return FileSummary(n, skipped, counts["empty"], counts["truncated"])


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_run(
    run: Run | Predictor | str | Path,
    data_path: str | Path | None = None,
    split: str | None = None,
    *,
    batch_size: int = 512,
    text_column: str | None = None,
    label_column: str | None = None,
) -> ClassificationReport:
    """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix of a run on a labelled split.

    Data: the run's own saved data config, or `data_path` (any dataset whose labels are the run's label
    names, or ids 0..C-1). Split: `split`, or by default the test split when it has labels, else the
    validation split (for the run's own data, the held-out one training used when there was none).
    A split whose every label is missing (-1) is refused with the reason. `text_column` / `label_column`
    name the columns of `data_path` (default: found by name). The report says which split it scored and
    where its data came from."""
    from textcnn.data.sources import DataError, load_data
    from textcnn.inference.metrics import classification_report

    predictor = (
        run if isinstance(run, Predictor) else Predictor(run) if isinstance(run, Run) else Predictor.from_run(run)
    )
    names = predictor.label_names
    cfg = predictor.config.data
    try:
        if data_path is None and split in (None, "train", "validation", "test"):
            data = load_data(cfg, seed=predictor.config.train.seed)  # exactly the splits training saw
            if list(data.label_names) != names:
                raise PredictError(f"the run's data now has labels {data.label_names}, but the run has {names}")
            name = split or ("test" if "test" in data.splits and data.test_labelled else "validation")
            if name not in data.splits:
                raise PredictError(f"{data.source} has no {name} split (splits: {', '.join(data.splits)})")
            if name == "test" and not data.test_labelled:
                raise PredictError(_unlabelled(f"the test split of {data.source}"))
            ds, source = data.splits[name], data.source
        else:
            if data_path is not None:  # other data: nothing of the run's dataset (hub id, columns) applies
                cfg = replace(cfg, path=str(data_path), dataset=None, hub_id=None, hub_config=None,
                              text_column=text_column, label_column=label_column)  # fmt: skip
            ds, name = _load_labelled_split(cfg, split, names)
            source = str(data_path) if data_path is not None else (cfg.path or cfg.dataset or "")
    except DataError as e:
        raise PredictError(str(e)) from None
    texts = list(ds["text"])
    labels = np.asarray(list(ds["label"]), dtype=np.int64)
    if (labels < 0).all():
        raise PredictError(_unlabelled("this split"))
    keep = labels >= 0
    scores = predictor.score(texts, batch_size=batch_size)
    preds = scores.probs.argmax(axis=1)
    return replace(classification_report(labels[keep], preds[keep], names), split=name, source=source)


def _unlabelled(what: str) -> str:
    return (
        f"{what} has no labels (every label is missing or -1, which means 'no label'; the public SST-2 and "
        "GLUE test splits are like that), so it cannot be scored; use --split validation"
    )


def _load_labelled_split(cfg, split: str | None, names: list[str]):
    """`data.load_split` with the run's column names (other data may name them differently: then they are
    detected) and, when `split` is None, the first of test, validation, train that exists and has labels."""
    from textcnn.data.sources import load_split
    from textcnn.errors import ColumnNotFound, NoLabelledRows, SplitNotFound

    candidates = [split] if split else ["test", "validation", "train"]
    last: Exception | None = None
    for name in candidates:
        for columns in ((cfg.text_column, cfg.label_column), (None, None)):
            try:
                ds, _ = load_split(replace(cfg, text_column=columns[0], label_column=columns[1]), name, names)
                return ds, name
            except ColumnNotFound as e:
                last = e
                if columns == (None, None) or cfg.path and (cfg.text_column or cfg.label_column):
                    raise  # columns the user named for their own data: no guessing
                continue  # other data with other column names: detect them
            except NoLabelledRows as e:
                last = e
                if split:
                    raise PredictError(_unlabelled(f"split {name!r}")) from None
                break
            except SplitNotFound as e:
                last = e
                if split:
                    raise
                break  # try the next default split
    assert last is not None
    raise last
