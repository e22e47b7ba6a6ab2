"""The run folder: a trained model that describes itself.

    config.toml        the fully resolved config
    tokenizer.json     the tokenizer, in the `tokenizers` library's own format
    model.safetensors  the weights (never pickled)
    labels.json        label names, in id order
    metrics.jsonl      one line per validation pass
    summary.json       the headline numbers
    checkpoint.safetensors  resumable training state (removed when training finishes)
    checksums.json     sha256 of config.toml, tokenizer.json and labels.json as written
    run.lock           while a process trains into the folder: its pid and start time

Every file is written atomically (storage.py: temporary file in the same folder, flush, fsync,
rename), so a crash during a save leaves the previous version, never half a file; a write that fails (disk full,
a file-size limit, a read-only folder) is a `WriteFailed` that names the file and keeps its previous
version. Safetensors files carry a sha256 of their data in their header, the text files theirs in
checksums.json, so loading tells a truncated or bit-flipped file by name and says what is wrong.
One writer per folder: `RunLock` (flock on run.lock; the kernel drops it when its process dies, so
a crashed run's lock is stale, never stuck); readers refuse a folder still being trained
(`check_readable`), and `latest` only picks complete runs (summary.json written, no live lock). Not here: training (textcnn.training) and prediction (textcnn.inference).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textcnn.config import Config, ConfigError, config_from_toml
from textcnn.errors import RunError, RunInProgress
from textcnn.storage import (  # noqa: F401  (re-exported: callers write run files through runlib)
    SHA_KEY,
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_tensors,
    map_arrays,
    read_jsonl,
    read_tensors,
    save_tensors,
    truncate_jsonl,
    verify_tensors_file,
    write_failed,
)

FILES = ("config.toml", "tokenizer.json", "model.safetensors", "labels.json")


def runs_dir() -> Path:
    return Path(os.environ.get("TEXTCNN_RUNS_DIR", "runs"))


# ---------------------------------------------------------------------------------------------
# Saving and loading a run


def save_run_files(run_dir: Path, cfg: Config, tokenizer, label_names: list[str]) -> None:
    """The files that describe a run; written before training starts, so a crash leaves a usable folder."""
    from textcnn.config import to_toml

    atomic_write_text(run_dir / "config.toml", to_toml(cfg))
    atomic_write_text(run_dir / "tokenizer.json", tokenizer.to_str(pretty=True))
    atomic_write_json(run_dir / "labels.json", list(label_names))
    write_checksums(run_dir)


def save_config(run_dir: Path, cfg: Config) -> None:
    """Rewrite a run's config.toml (and its checksum), e.g. with the options `--resume` changed."""
    from textcnn.config import to_toml

    atomic_write_text(run_dir / "config.toml", to_toml(cfg))
    write_checksums(run_dir)


CHECKSUMS = "checksums.json"
CHECKED = ("config.toml", "tokenizer.json", "labels.json")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checksums(run_dir: Path) -> None:
    atomic_write_json(run_dir / CHECKSUMS, {f: _sha256(run_dir / f) for f in CHECKED if (run_dir / f).is_file()})


def verify_checksums(run_dir: Path) -> None:
    """Each text file against checksums.json (when there is one: older runs have none)."""
    p = Path(run_dir) / CHECKSUMS
    if not p.is_file():
        return
    try:
        sums = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(sums, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise RunError(f"{p} is damaged (not the JSON object of checksums training wrote)") from None
    for name, want in sums.items():
        f = Path(run_dir) / str(name)
        if name in CHECKED and f.is_file() and _sha256(f) != want:
            raise RunError(f"{f} is damaged or was edited: its sha256 differs from the one in {CHECKSUMS} "
                           f"(delete {CHECKSUMS} to accept an edit)")  # fmt: skip


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
    """A run folder that can be read: not being trained, every file there, the text files undamaged."""
    p = Path(path)
    if not p.is_dir():
        raise RunError(f"run folder {p} does not exist")
    check_readable(p)
    missing = [f for f in FILES if not (p / f).is_file()]
    if missing:
        raise RunError(f"{p} is not a complete run folder: missing {', '.join(missing)}")
    verify_checksums(p)
    return p


# ---------------------------------------------------------------------------------------------
# One writer per run folder

LOCK = "run.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock file and its pid alone
    fcntl = None


def _process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot; Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict) -> bool:
    import socket

    if owner.get("host") != socket.gethostname():
        return True  # another machine's process: assume it is still there
    pid = int(owner.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    started = owner.get("proc_start")
    return started is None or _process_start(pid) in (None, started)


def lock_owner(run_dir: str | Path) -> dict | None:
    """{"pid", "started", "host"} of the live process training into `run_dir`, or None (no lock, or a
    stale one left by a process that is gone)."""
    p = Path(run_dir) / LOCK
    try:
        owner = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict):
        return None
    return owner if _alive(owner) else None


def _owner_text(owner: dict) -> str:
    return f"pid {owner.get('pid')}, started {owner.get('started')}" + (
        f" on {owner['host']}" if owner.get("host") and owner["host"] != _hostname() else ""
    )


def _hostname() -> str:
    import socket

    return socket.gethostname()


def check_readable(run_dir: str | Path) -> None:
    """RunInProgress when a live process is still training into `run_dir` (its files are not final)."""
    owner = lock_owner(run_dir)
    if owner is not None:
        raise RunInProgress(f"{run_dir} is still training ({_owner_text(owner)}); use it when it has "
                            "finished, or pick a complete run")  # fmt: skip


def is_complete(run_dir: Path) -> bool:
    """Trained to the end: summary.json and weights written, no process still training into it."""
    return (
        (run_dir / "summary.json").is_file()
        and (run_dir / "model.safetensors").is_file()
        and (lock_owner(run_dir) is None)
    )


class RunLock:
    """The exclusive right to write a run folder, held from before the first write until the run ends.

    flock(2) on `run.lock`, which records the owner's pid and start time: the kernel releases the lock
    when the process exits or is killed, so a crash leaves a stale file, never a stuck folder."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        import time

        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            while not self._try_lock():
                pass
            owner = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "host": _hostname(), "proc_start": _process_start(os.getpid())}  # fmt: skip
            data = json.dumps(owner).encode("utf-8")
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
            os.fsync(self._fd)
        except OSError as e:
            self.release()
            raise write_failed(self.path, e) from None

    def _try_lock(self) -> bool:
        """True when locked; False to try again (the file was replaced meanwhile); RunInProgress if held."""
        if fcntl is None:  # pragma: no cover
            owner = lock_owner(self.run_dir)
            if owner is not None:
                raise self._held(owner)
            self.path.unlink(missing_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._held(lock_owner(self.run_dir) or {"pid": "?", "started": "?"}) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # its previous owner removed it between our open and our flock
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _held(self, owner: dict) -> RunInProgress:
        return RunInProgress(f"{self.run_dir} is being trained by another process ({_owner_text(owner)}); "
                             "wait for it to finish or stop it, or train into another folder")  # fmt: skip

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still holding it, so no one locks a file on its way out
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def clear_for_new_run(run_dir: Path, *, overwrite: bool) -> None:
    """A fresh run needs an empty folder (its own lock aside); with `overwrite` a run's files are removed."""
    others = [f for f in run_dir.iterdir() if f.name != LOCK] if run_dir.is_dir() else []
    if not others:
        return
    if not overwrite:
        raise RunError(f"{run_dir} already exists; pass --overwrite to replace it or --resume to continue")
    for name in (*FILES, "metrics.jsonl", "summary.json", "checkpoint.safetensors", CHECKSUMS):
        try:
            (run_dir / name).unlink(missing_ok=True)
        except OSError as e:
            raise write_failed(run_dir / name, e) from None


def check_resumable(run_dir: Path) -> None:
    """A folder `train --resume` can continue: its config is there and it has not finished."""
    if not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} does not exist")
    owner = lock_owner(run_dir)
    if owner is not None:
        raise RunLock(run_dir)._held(owner)
    if not (run_dir / "config.toml").is_file():
        raise RunError(f"{run_dir} has no config.toml: training never started there; start it again with "
                       f"`textcnn train DATASET --out {run_dir} --overwrite`")  # fmt: skip
    if (run_dir / "summary.json").is_file() and not (run_dir / "checkpoint.safetensors").is_file():
        raise RunError(f"{run_dir} has finished training (summary.json); there is nothing to resume")
    verify_checksums(run_dir)


def _read_summary(run_dir: Path) -> dict:
    """summary.json, or {} when the run has none (yet) or it is not JSON."""
    p = run_dir / "summary.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def read_config(run_dir: Path) -> Config:
    """A run folder's config.toml; a RunError naming the file when it cannot be read."""
    try:
        return config_from_toml(run_dir / "config.toml")
    except ConfigError as e:
        raise RunError(f"{run_dir / 'config.toml'}: {e}") from None


def load_tokenizer_and_labels(run_dir: Path) -> tuple[Any, list[str]]:
    """A run's (or export folder's) tokenizer and label names, checked; a RunError naming the file."""
    from textcnn.data.tokenizer import TokenizerError, load_tokenizer

    try:
        tok = load_tokenizer(run_dir / "tokenizer.json")
    except TokenizerError as e:
        raise RunError(str(e)) from None
    p = run_dir / "labels.json"
    try:
        labels = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunError(f"{p} is missing or not valid JSON: {e}") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise RunError(f"{p} must be a non-empty list of label names")
    return tok, labels


def load_run(path: str | Path, device: str = "cpu", weights: str = "model.safetensors") -> Run:
    """Rebuild the exact model of a run folder from its files; every problem is a RunError."""
    import torch

    from textcnn.data.tokenizer import pad_id as tokenizer_pad_id
    from textcnn.models import build_model

    p = check_run_dir(path)
    cfg = read_config(p)
    tok, labels = load_tokenizer_and_labels(p)
    pad = tokenizer_pad_id(tok)
    state = load_tensors(p / weights)
    model = build_model(cfg.model, tok.get_vocab_size(), len(labels), pad_id=pad)
    load_state_into(model, state, str(p / weights))
    dev = torch.device(device)
    model.to(dev).eval()
    summary = _read_summary(p)
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
    cfg = read_config(p)
    tok, labels = load_tokenizer_and_labels(p)
    summary = _read_summary(p)
    return RunFiles(p, cfg, tok, labels, tokenizer_pad_id(tok), p / weights, summary)


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
    return [d for d in root.iterdir() if d.is_dir() and is_complete(d)]


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
