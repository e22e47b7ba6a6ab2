"""Checkpoints: everything a run needs to continue exactly, in one safetensors file.

One file, `checkpoint.safetensors`, written atomically (textcnn.run): the model's weights, the
optimizer state, the RNG streams (torch CPU / CUDA, Python, NumPy) and named parts, each a small
object's `state_dict()` (the loop's progress, the running sums, early stopping). A part's tensors (or
dicts of tensors, such as the best weights) are stored as tensors; everything else as JSON in the
file's metadata. Loading puts every tensor back bit for bit, with the dtype it had when saved.

Not here: when checkpoints are written (trainer.py), the file format and its checksum (textcnn.run).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn import run as runlib
from textcnn.errors import RunError
from textcnn.models.registry import unwrap

CKPT = "checkpoint.safetensors"
FORMAT = 2


def save_checkpoint(path: Path, model, optimizer, parts: dict[str, dict[str, Any]], records: int) -> None:
    """Write model, optimizer, RNG streams and `parts` (name -> state_dict); `records`: metrics.jsonl lines."""
    tensors = {f"model.{k}": v for k, v in runlib.plain_state_dict(model).items()}
    meta_parts: dict[str, dict] = {}
    for name, state in parts.items():
        meta_parts[name] = {}
        for key, value in state.items():
            meta_parts[name][key] = _pack(f"{name}.{key}", value, tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {
        "format": FORMAT,
        "parts": meta_parts,
        "optimizers": _pack_optimizer(optimizer, tensors),
        "python_rng": _py_rng_to_json(random.getstate()),
        "numpy_rng": _np_rng_to_json(np.random.get_state()),
        "records": records,
    }
    runlib.save_tensors(path, tensors, metadata={"textcnn": json.dumps(meta)})


def load_checkpoint(path: Path, model, optimizer) -> tuple[dict[str, dict[str, Any]], int]:
    """Restore model, optimizer and RNG streams; return the parts (name -> state_dict) and `records`."""
    tensors, metadata = runlib.read_tensors(path)
    try:
        meta = json.loads(metadata["textcnn"])
        if meta.get("format") != FORMAT:
            raise KeyError("format")
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        runlib.load_state_into(unwrap(model), model_state, str(path))
        optimizer.load_state_dict(_unpack_optimizer(meta["optimizers"], tensors))
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        random.setstate(_py_rng_from_json(meta["python_rng"]))
        np.random.set_state(_np_rng_from_json(meta["numpy_rng"]))
        parts = {
            name: {key: _unpack(f"{name}.{key}", v, tensors) for key, v in state.items()}
            for name, state in meta["parts"].items()
        }
        return parts, int(meta["records"])
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        if isinstance(e, RunError):
            raise
        raise RunError(
            f"{path} is not a checkpoint this version of textcnn can resume ({type(e).__name__}: {e})"
        ) from None


def _pack(name: str, value: Any, tensors: dict) -> Any:
    if torch.is_tensor(value):
        tensors[name] = value
        return {"tensor": True}
    if isinstance(value, dict) and value and all(torch.is_tensor(v) for v in value.values()):
        for k, v in value.items():
            tensors[f"{name}.{k}"] = v
        return {"tensors": list(value)}
    return {"value": value}


def _unpack(name: str, packed: dict, tensors: dict) -> Any:
    if packed.get("tensor"):
        return tensors[name]
    if "tensors" in packed:
        return {k: tensors[f"{name}.{k}"] for k in packed["tensors"]}
    return packed["value"]


def _pack_optimizer(optimizer, tensors: dict) -> list[dict]:
    """The optimizers' state dicts: tensors by name (0-d ones as 1-element), the rest as JSON."""
    out = []
    for i, sd in enumerate(optimizer.state_dict()):
        meta_state: dict = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim.{i}.{pid}.{key}"] = val.reshape(-1) if val.dim() == 0 else val
                    meta_state.setdefault(str(pid), {})[key] = {"tensor": True, "scalar": val.dim() == 0}
                else:
                    meta_state.setdefault(str(pid), {})[key] = {"value": val}
        out.append({"param_groups": sd["param_groups"], "state": meta_state})
    return out


def _unpack_optimizer(meta: list[dict], tensors: dict) -> list[dict]:
    states = []
    for i, om in enumerate(meta):
        st: dict = {}
        for pid, entries in om["state"].items():
            d = {}
            for key, e in entries.items():
                if e.get("tensor"):
                    v = tensors[f"optim.{i}.{pid}.{key}"]
                    d[key] = v.reshape(()) if e.get("scalar") else v
                else:
                    d[key] = e["value"]
            st[int(pid)] = d
        states.append({"state": st, "param_groups": om["param_groups"]})
    return states


def _py_rng_to_json(s):
    return [s[0], list(s[1]), s[2]]


def _py_rng_from_json(s):
    return (s[0], tuple(s[1]), s[2])


def _np_rng_to_json(s):
    return [s[0], s[1].tolist(), s[2], s[3], s[4]]


def _np_rng_from_json(s):
    return (s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4])
