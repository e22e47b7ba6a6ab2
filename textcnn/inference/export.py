"""`textcnn export RUN --format onnx --out DIR`: a run as a self-contained ONNX folder.

DIR holds model.onnx (inputs `input_ids` int64 [batch, time] and `lengths` int64 [batch], output
`logits` float32 [batch, classes], batch and time dynamic) and the run's tokenizer.json, labels.json
and config.toml, so any ONNX runtime can classify with the folder alone: tokenize, pad with the pad id
(id 0, `[PAD]`) to the longest text, run, softmax. `textcnn predict DIR` does exactly that with ONNX
Runtime (textcnn.inference.onnx_engine).

The graph is traced (torch's TorchScript-based ONNX exporter, opset 17) from an export form of each
model that computes the same numbers without data-dependent Python control flow: the input is always
padded by `min_length` pad columns (padding never changes a model's answer), `cnn` is exported as its
`cnn2d` twin (copied weights: the same network as Conv ops), image2d's 2x2 pooling always pads one row
(the same output for odd and even lengths), and the LSTM runs each direction over the padded batch
with the backward direction reading each sentence reversed within its own length (what packed
sequences compute). After writing, the export is checked against the torch model with ONNX Runtime
(when installed) on short, long and empty inputs; a difference above 1e-4 is an ExportError.

Not here: prediction (predictor.py, onnx_engine.py), the models (textcnn.models).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcnn.errors import ExportError
from textcnn.models.image2d import ImageCNN
from textcnn.models.kim import KimCNN, KimCNN2d, copy_cnn_weights
from textcnn.models.layers import embed_concat, pad_to
from textcnn.models.lstm import LSTMClassifier
from textcnn.run import atomic_write_bytes, load_run, resolve_run

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
OPSET = 17
FILES = ("model.onnx", "tokenizer.json", "labels.json", "config.toml")
TOLERANCE = 1e-4
"""Largest |logit difference| between ONNX Runtime and torch accepted by the check after export."""


# ---------------------------------------------------------------------------------------------
# Export forms: the same numbers, no Python branch on a tensor's size (a traced graph would freeze it)


class _ExportKim2d(KimCNN2d):
    """cnn / cnn2d: ids padded by min_length pad columns, so `pad_to` never has to pad."""

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = F.pad(ids, (0, self.min_length), value=self.pad_id)  # (B, T) -> (B, T + min_length)
        return super().forward(ids, lengths)


class _ExportImage(ImageCNN):
    """image2d: ids padded by min_length; 2x2 pooling always pads one row (odd T: the row the model
    pads; even T: a masked row the floor of the pooling drops), so the output is the model's."""

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = F.pad(ids, (0, self.min_length), value=self.pad_id)  # (B, T) -> (B, T + min_length)
        return super().forward(ids, lengths)

    def _pool(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, 0, 1))  # (B, C, T, E) -> (B, C, T+1, E)
        valid = torch.arange(x.shape[2], device=x.device)[None, :] < rows[:, None]  # (B, T+1)
        if self.pool2d == "max":
            return F.max_pool2d(x.masked_fill(~valid[:, None, :, None], float("-inf")), 2)
        counts = F.avg_pool1d(valid[:, None, :].to(x.dtype), 2, 2)  # (B, 1, T'/2)
        pooled = F.avg_pool2d(x * valid[:, None, :, None], 2)  # (B, C, T'/2, E//2)
        return pooled / counts[:, :, :, None].clamp(min=0.5)


class _ExportLSTM(LSTMClassifier):
    """lstm without packed sequences: each (layer, direction) is a one-direction nn.LSTM over the padded
    batch; the backward one reads every sentence reversed within its length, then its outputs are put
    back in sentence order. Outputs at t < length are exactly the packed LSTM's."""

    def set_directions(self) -> None:
        lstm, H = self.lstm, self.lstm.hidden_size
        self.dirs = nn.ModuleList()
        for layer in range(lstm.num_layers):
            for suffix in ("", "_reverse")[: self.num_directions]:
                one = nn.LSTM(lstm.input_size if layer == 0 else H * self.num_directions, H, batch_first=True)
                with torch.no_grad():
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(one, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{layer}{suffix}"))
                self.dirs.append(one)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = F.pad(ids, (0, 1), value=self.pad_id)  # (B, T) -> (B, T+1): an empty text reads one pad
        lengths = lengths.clamp(min=1)
        x = embed_concat(self.embedding, self.embedding_static, ids)  # (B, T, C_in*E)
        t = torch.arange(x.shape[1], device=ids.device)[None, :]  # (1, T)
        valid = t < lengths[:, None]  # (B, T)
        rev = torch.where(valid, lengths[:, None] - 1 - t, t)  # (B, T): reversed within each length
        D = self.num_directions
        for layer in range(self.lstm.num_layers):
            fwd, _ = self.dirs[layer * D](x)  # (B, T, H)
            outs = [fwd]
            if D == 2:
                xr = x.gather(1, rev[:, :, None].expand(-1, -1, x.shape[2]))  # (B, T, In), reversed
                bwd, _ = self.dirs[layer * D + 1](xr)  # (B, T, H), in reversed order
                outs.append(bwd.gather(1, rev[:, :, None].expand(-1, -1, bwd.shape[2])))  # back in order
            x = torch.cat(outs, dim=2)  # (B, T, D*H)
        if self.pooling == "last":  # forward: the state after the last token; backward: after the first
            H = self.lstm.hidden_size
            last = (lengths - 1)[:, None, None].expand(-1, 1, H)  # (B, 1, H)
            feats = [x[:, :, :H].gather(1, last)[:, 0]]  # (B, H)
            if D == 2:
                feats.append(x[:, 0, H:])  # (B, H)
            feats = torch.cat(feats, dim=1)  # (B, D*H)
        elif self.pooling == "max":
            feats = x.masked_fill(~valid[:, :, None], float("-inf")).amax(1)  # (B, D*H)
        else:
            feats = (x * valid[:, :, None]).sum(1) / lengths[:, None].to(x.dtype)  # (B, D*H)
        return self.fc(feats).float()


def export_form(model: nn.Module) -> nn.Module:
    """A traceable copy of `model` (eval mode) that computes its logits."""
    model = model.eval()
    if getattr(model, "pooling", None) == "kmax":
        raise ExportError("model.pooling='kmax' cannot be exported to ONNX (torch's ONNX exporter has no stable sort)")
    if isinstance(model, KimCNN):
        twin = KimCNN2d(
            vocab_size=model.embedding.num_embeddings, num_classes=model.fc.out_features,
            embedding_dim=model.embedding.embedding_dim, widths=model.widths, feature_maps=model.feature_maps,
            activation=model.activation, pooling=model.pooling, k=model.k,
            embedding_mode="multichannel" if model.embedding_static is not None else "rand", pad_id=model.pad_id,
            edge_padding=model.edge > 0,
        )  # fmt: skip
        copy_cnn_weights(model, twin)
        model = twin
    out = copy.deepcopy(model)
    if isinstance(out, KimCNN2d):
        out.__class__ = _ExportKim2d
    elif isinstance(out, ImageCNN):
        out.__class__ = _ExportImage
    elif isinstance(out, LSTMClassifier):
        out.__class__ = _ExportLSTM
        out.set_directions()
    else:
        raise ExportError(f"{type(model).__name__} has no ONNX export form")
    return out.eval()


# ---------------------------------------------------------------------------------------------
# Export


def export_run(run: str | Path, out: str | Path, *, fmt: str = "onnx", check: bool = True) -> Path:
    """Write the export folder `out` for a run (folder, 'latest' or a preset name); returns `out`."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    loaded = load_run(resolve_run(run), device="cpu")
    out = Path(out)
    if out.resolve() == loaded.path.resolve():
        raise ExportError("--out must be a new folder, not the run folder itself")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    graph = onnx_bytes(loaded.model, min_length=int(loaded.model.min_length), model_name=loaded.config.model.name)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "model.onnx", graph)
    (out / "model.onnx").chmod(0o644)  # a folder meant to be shipped: readable like the files copied beside it
    for name in FILES[1:]:
        shutil.copyfile(loaded.path / name, out / name)
    if check:
        check_export(loaded.model, out / "model.onnx", loaded.pad_id)
    return out


def onnx_bytes(model: nn.Module, *, min_length: int = 1, model_name: str = "") -> bytes:
    """The model as an ONNX graph (opset 17, dynamic batch and time), with min_length in its metadata."""
    form = export_form(model)
    ids = torch.randint(2, max(3, model.embedding.num_embeddings), (2, max(min_length, 3)))
    lengths = torch.tensor([ids.shape[1], 1])
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes about Python values it records
        torch.onnx.export(
            form, (ids, lengths), buf, dynamo=False, opset_version=OPSET,
            input_names=["input_ids", "lengths"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip
    import onnx

    proto = onnx.load_from_string(buf.getvalue())
    meta = {"textcnn.model": model_name, "textcnn.min_length": str(min_length)}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    return proto.SerializeToString()


def check_inputs(vocab_size: int, pad_id: int, min_length: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids, lengths) batches to compare an export with its model: mixed lengths with padding, one long
    batch, single short texts and empty texts."""
    rng = np.random.default_rng(seed)
    out = []
    for B, T in ((4, 9), (3, 120), (1, 1), (2, 0), (5, max(min_length - 1, 1))):
        ids = rng.integers(2, max(3, vocab_size), (B, max(T, 1)), dtype=np.int64)
        lengths = rng.integers(0, T + 1, B).astype(np.int64)
        lengths[0] = T
        ids[np.arange(ids.shape[1])[None, :] >= lengths[:, None]] = pad_id
        out.append((ids[:, :T] if T else ids[:, :0], lengths))
    return out


def check_export(model: nn.Module, path: Path, pad_id: int) -> float:
    """Largest |logit difference| between ONNX Runtime and the torch model on `check_inputs`; an
    ExportError above TOLERANCE. Skipped (returns nan) when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is not installed: the export was not checked (pip install 'textcnn[onnx]')")
        return float("nan")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    min_length = int(getattr(model, "min_length", 1))
    for ids, lengths in check_inputs(model.embedding.num_embeddings, pad_id, min_length):
        got = session.run(["logits"], {"input_ids": ids, "lengths": lengths})[0]
        padded = pad_to(torch.from_numpy(ids), min_length, pad_id)
        with torch.inference_mode():
            want = model(padded, torch.from_numpy(lengths)).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > TOLERANCE:
        raise ExportError(f"the ONNX export differs from the model by {worst:.2g} in a logit (> {TOLERANCE:g})")
    log.info("export check: ONNX Runtime logits within %.2g of torch", worst)
    return worst


def describe(out: Path) -> dict:
    """What an export folder holds (for the CLI's summary line)."""
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    return {"files": [f for f in FILES if (out / f).is_file()], "labels": labels,
            "bytes": (out / "model.onnx").stat().st_size}  # fmt: skip
