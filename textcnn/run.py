"""The run folder: a trained model that describes itself.

    config.toml        the fully resolved config
    tokenizer.json     the tokenizer, in the `tokenizers` library's own format
    model.safetensors  the weights (never pickled)
    labels.json        label names, in id order
    metrics.jsonl      one line per validation pass
    summary.json       the headline numbers
    checkpoint.safetensors  resumable training state (removed when training finishes)

Every file is written atomically (temporary file in the same folder, flush, fsync, rename), so a
crash during a save leaves the previous version, never half a file. Loading validates every file
and says exactly what is wrong. Not here: training (textcnn.training) and prediction (textcnn.inference).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textcnn.config import Config, ConfigError, config_from_toml
from textcnn.errors import RunError

FILES = ("config.toml", "tokenizer.json", "model.safetensors", "labels.json")


def runs_dir() -> Path:
    return Path(os.environ.get("TEXTCNN_RUNS_DIR", "runs"))


# ---------------------------------------------------------------------------------------------
# Atomic writes


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one line and fsync (a torn last line is skipped by `read_jsonl`)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    out = []
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return out


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write tensors as safetensors, atomically."""
    from safetensors.torch import save

    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write_bytes(path, save(clean, metadata=metadata))


def load_tensors(path: str | Path) -> dict:
    """Read a safetensors file; a clear RunError when it is missing or corrupt."""
    from safetensors.torch import load

    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p} is missing")
    try:
        return load(p.read_bytes())
    except Exception as e:  # safetensors raises its own SafetensorError for bad headers or sizes
        raise RunError(f"{p} is corrupt or not a safetensors file ({str(e).splitlines()[0]})") from None


# ---------------------------------------------------------------------------------------------
# Saving and loading a run


def save_run_files(run_dir: Path, cfg: Config, tokenizer, label_names: list[str]) -> None:
    """The files that describe a run; written before training starts, so a crash leaves a usable folder."""
    from textcnn.config import to_toml

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.toml", to_toml(cfg))
    atomic_write_text(run_dir / "tokenizer.json", tokenizer.to_str(pretty=True))
    atomic_write_json(run_dir / "labels.json", list(label_names))


def save_weights(run_dir: Path, model) -> None:
    save_tensors(Path(run_dir) / "model.safetensors", plain_state_dict(model), metadata={"format": "pt"})


def plain_state_dict(model) -> dict:
    """The module's own state dict, without DDP / torch.compile prefixes."""
    from textcnn.models.registry import unwrap

    return unwrap(model).state_dict()


def load_state_into(model, state: dict, source: str) -> None:
    """load_state_dict with a message that names the missing, unexpected and mismatched tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""))
    if mismatched:
        problems.append(f"shape mismatch {', '.join(mismatched[:5])}")
    if problems:
        raise RunError(f"{source} does not match the model in config.toml: {'; '.join(problems)}")
    model.load_state_dict(state)


@dataclass
class Run:
    """A loaded run: everything needed to predict, rebuilt from the folder alone."""

    path: Path
    config: Config
    tokenizer: Any  # tokenizers.Tokenizer
    label_names: list[str]
    model: Any  # torch.nn.Module, eval mode
    device: Any  # torch.device
    pad_id: int = 0
    summary: dict = field(default_factory=dict)


def check_run_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise RunError(f"run folder {p} does not exist")
    missing = [f for f in FILES if not (p / f).is_file()]
    if missing:
        raise RunError(f"{p} is not a complete run folder: missing {', '.join(missing)}")
    return p


def load_run(path: str | Path, device: str = "cpu", weights: str = "model.safetensors") -> Run:
    """Rebuild the exact model of a run folder from its files; every problem is a RunError."""
    import torch

    from textcnn.data.tokenizer import TokenizerError, load_tokenizer
    from textcnn.data.tokenizer import pad_id as tokenizer_pad_id
    from textcnn.models import build_model

    p = check_run_dir(path)
    try:
        cfg = config_from_toml(p / "config.toml")
    except ConfigError as e:
        raise RunError(f"{p / 'config.toml'}: {e}") from None
    try:
        tok = load_tokenizer(p / "tokenizer.json")
    except TokenizerError as e:
        raise RunError(str(e)) from None
    try:
        labels = json.loads((p / "labels.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{p / 'labels.json'} is not valid JSON: {e}") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise RunError(f"{p / 'labels.json'} must be a non-empty list of label names")
    pad = tokenizer_pad_id(tok)
    state = load_tensors(p / weights)
    model = build_model(cfg.model, tok.get_vocab_size(), len(labels), pad_id=pad)
    load_state_into(model, state, str(p / weights))
    dev = torch.device(device)
    model.to(dev).eval()
    summary = {}
    if (p / "summary.json").is_file():
        try:
            summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            summary = {}
    return Run(p, cfg, tok, labels, model, dev, pad, summary)


@dataclass
class RunFiles:
    """A run folder (or an export folder) read without torch: everything `Run` has but the model object.

    Prediction engines that need no torch (textcnn.inference) build their model from `weights`."""

    path: Path
    config: Config
    tokenizer: Any  # tokenizers.Tokenizer
    label_names: list[str]
    pad_id: int
    weights: Path
    """model.safetensors of a run folder, model.onnx of an export folder."""
    summary: dict = field(default_factory=dict)


def load_run_files(path: str | Path, weights: str = "model.safetensors") -> RunFiles:
    """`load_run` without building the model (and without importing torch); every problem is a RunError.

    `weights` names the file that must be there besides config.toml, tokenizer.json and labels.json."""
    from textcnn.data.tokenizer import TokenizerError, load_tokenizer
    from textcnn.data.tokenizer import pad_id as tokenizer_pad_id

    p = Path(path)
    if weights == "model.safetensors":
        check_run_dir(p)
    else:
        if not p.is_dir():
            raise RunError(f"folder {p} does not exist")
        missing = [f for f in (*FILES[:2], FILES[3], weights) if not (p / f).is_file()]
        if missing:
            raise RunError(f"{p} is not a complete export folder: missing {', '.join(missing)}")
    try:
        cfg = config_from_toml(p / "config.toml")
    except ConfigError as e:
        raise RunError(f"{p / 'config.toml'}: {e}") from None
    try:
        tok = load_tokenizer(p / "tokenizer.json")
    except TokenizerError as e:
        raise RunError(str(e)) from None
    try:
        labels = json.loads((p / "labels.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{p / 'labels.json'} is not valid JSON: {e}") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise RunError(f"{p / 'labels.json'} must be a non-empty list of label names")
    summary = {}
    if (p / "summary.json").is_file():
        try:
            summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            summary = {}
    return RunFiles(p, cfg, tok, labels, tokenizer_pad_id(tok), p / weights, summary)


def load_arrays(path: str | Path) -> dict:
    """A safetensors file as numpy arrays (no torch); a RunError when it is missing, corrupt, or holds a
    dtype numpy has no type for (bf16)."""
    from safetensors.numpy import load

    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p} is missing")
    try:
        return load(p.read_bytes())
    except Exception as e:  # SafetensorError for bad headers or sizes, TypeError / ValueError for bf16
        raise RunError(f"{p} cannot be read as numpy arrays ({str(e).splitlines()[0]})") from None


def run_name(dataset: str) -> str:
    """The name a dataset gives its runs: a preset or hub id's last part, a file's stem, a folder's name.

    `data/sample_sentiment.csv` -> `sample_sentiment`, `stanfordnlp/sst2` -> `sst2`, `reviews.tsv.gz` -> `reviews`.
    """
    name = Path(dataset.rstrip("/\\")).name or dataset
    while Path(name).suffix.lower() in _DATA_SUFFIXES and Path(name).stem:
        name = Path(name).stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


_DATA_SUFFIXES = {".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet", ".arrow", ".txt"}
_DATA_SUFFIXES |= {".gz", ".bz2", ".xz", ".zst"}


def new_run_dir(dataset: str, model: str, root: Path | None = None) -> Path:
    """runs/<dataset>-<model>-<timestamp>, unique; <dataset> as `run_name` gives it."""
    import time

    root = root or runs_dir()
    safe = run_name(dataset)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p = root / f"{safe}-{model}-{stamp}"
    n = 1
    while p.exists():
        n += 1
        p = root / f"{safe}-{model}-{stamp}-{n}"
    return p


def _trained_runs(root: Path) -> list[Path]:
    """Complete run folders under `root` (not one still training or crashed: see `is_complete`)."""
    if not root.is_dir():
        return []
    return [d for d in root.iterdir() if d.is_dir() and (d / "model.safetensors").is_file()]


def _newest(runs: list[Path]) -> list[Path]:
    return sorted(runs, key=lambda d: (d / "model.safetensors").stat().st_mtime, reverse=True)


def runs_trained_on(dataset: str | Path, root: Path | None = None) -> list[Path]:
    """Runs under runs/ trained on `dataset` (a preset, hub id, file or folder), newest first.

    A run matches by its name (`run_name(dataset)-...`) or, for a file or folder that exists, by the
    data its config.toml names.
    """
    import tomllib

    given = Path(dataset).expanduser()
    target = given.resolve() if given.exists() else None
    prefix = run_name(str(dataset)) + "-"
    found = []
    for d in _trained_runs(root or runs_dir()):
        if d.name.startswith(prefix):
            found.append(d)
        elif target is not None and (d / "config.toml").is_file():
            try:
                data = tomllib.loads((d / "config.toml").read_text(encoding="utf-8")).get("data", {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                continue
            if any(isinstance(v, str) and Path(v).expanduser().resolve() == target for v in data.values()):
                found.append(d)
    return _newest(found)


def _not_a_run(spec: str | Path, root: Path) -> RunError:
    """Data given where a run is expected: say which runs were trained on it."""
    runs = runs_trained_on(spec, root)
    if runs:
        listing = ", ".join(str(r) for r in runs[:3]) + (f" (and {len(runs) - 3} more)" if len(runs) > 3 else "")
        return RunError(f"{spec} is data, not a run folder; runs trained on it: {listing}")
    return RunError(f"{spec} is data, not a run folder, and no run under {root}/ was trained on it; "
                    f"train one with `textcnn train {spec}`")  # fmt: skip


def resolve_run(spec: str | Path, root: Path | None = None) -> Path:
    """A run folder from a path, 'latest' (newest under runs/), or a dataset name (its newest run).

    A data file or a dataset folder given where a run is expected is a RunError that names the runs
    trained on it.
    """
    p = Path(spec)
    root = root or runs_dir()
    if p.is_dir():
        if not (p / "config.toml").is_file() and not (p / "model.safetensors").is_file() and runs_trained_on(p, root):
            raise _not_a_run(spec, root)
        return p
    if p.is_file():
        raise _not_a_run(spec, root)
    name = str(spec)
    if name == "latest":
        runs = _newest(_trained_runs(root))
        if runs:
            return runs[0]
        raise RunError(f"no trained runs under {root}/ yet; train one with `textcnn train DATASET`")
    runs = runs_trained_on(name, root)
    if runs:
        return runs[0]
    raise RunError(f"run folder {spec} does not exist (nor a run named {run_name(name)}-* under {root}/)")
