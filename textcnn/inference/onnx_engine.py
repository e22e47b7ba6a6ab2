"""Prediction with ONNX Runtime from an export folder (`textcnn export RUN --format onnx --out DIR`).

The engine runs DIR/model.onnx on padded id batches: `input_ids` int64 [batch, time] and `lengths`
int64 [batch] in, `logits` float32 [batch, classes] out. It never imports torch. ONNX Runtime is the
optional extra `[onnx]`; without it, loading is one PredictError that says how to install it.

Not here: writing the export (export.py), choosing an engine (predictor.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from textcnn.errors import PredictError, RunError

INSTALL = "pip install 'textcnn[onnx]'"


class OnnxEngine:
    """`model.onnx` on ONNX Runtime's CPU provider; `threads`: intra-op threads (None: 1, as for the
    numpy engine: these small ops gain little from more and lose badly on a busy machine)."""

    name = "onnx"

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise PredictError(f"predicting from an ONNX export needs ONNX Runtime: {INSTALL}") from None
        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own Fail / InvalidGraph exceptions
            raise RunError(f"{self.path} is not a readable ONNX model ({str(e).splitlines()[0]})") from None
        names = [i.name for i in self.session.get_inputs()]
        if names != ["input_ids", "lengths"] or [o.name for o in self.session.get_outputs()] != ["logits"]:
            raise RunError(f"{self.path}: expected inputs input_ids, lengths and output logits, not {names}")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.model_name = meta.get("textcnn.model", "?")
        self.min_length = int(meta.get("textcnn.min_length", 1))
        shape = self.session.get_outputs()[0].shape
        self.num_classes = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else self._probe_classes()
        self.threads = options.intra_op_num_threads

    def _probe_classes(self) -> int:
        ids = np.zeros((1, self.min_length), dtype=np.int64)
        return int(self.session.run(["logits"], {"input_ids": ids, "lengths": np.zeros(1, np.int64)})[0].shape[1])

    def describe(self) -> str:
        return f"onnx ({self.model_name} from {self.path.name} on ONNX Runtime, {self.threads} thread(s); torch not imported)"

    def check(self, path: Path) -> None:
        """Nothing to check beyond what loading the session did."""

    def __call__(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"input_ids": ids, "lengths": lengths})[0]

    @contextlib.contextmanager
    def job(self, flat: np.ndarray, lengths: np.ndarray, pad_id: int):
        yield self
