"""Files written so that a crash or a failed write loses nothing, and read back so that damage is named.

Atomic writes (a temporary file in the same folder, flush, fsync, rename, fsync of the folder), JSONL
appends that cut a torn line back, and safetensors files that carry a sha256 of their data in the
header and are checked on every read. A write that fails (disk full, a file-size limit, a read-only
folder) is a `WriteFailed` naming the file; the previous version stays.

Not here: what a run folder holds and who may write it (run.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from textcnn.errors import RunError, WriteFailed

# ---------------------------------------------------------------------------------------------
# Atomic writes


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename; on failure the old file stays
    and the error is a WriteFailed that names the file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(path, e) from None
        raise
    _fsync_dir(path.parent)


def write_failed(path: Path, e: OSError) -> WriteFailed:
    why = e.strerror or str(e)
    return WriteFailed(f"could not write {path}: {why}; its previous version is kept (free space or fix the "
                       "folder's permissions, then resume)")  # fmt: skip


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one line and fsync; a failed write is cut off again (a torn last line, left by a crash,
    is skipped by `read_jsonl`)."""
    line = memoryview((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            try:
                while line:  # a short write (file-size limit, disk full) is followed by one that fails
                    line = line[os.write(fd, line) :]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)
    except OSError as e:
        raise write_failed(Path(path), e) from None


def truncate_jsonl(path: str | Path, n: int) -> None:
    """Keep the first `n` records of a JSON-lines file (a resumed run drops what came after its checkpoint)."""
    rows = read_jsonl(path)[:n]
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


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


SHA_KEY = "textcnn_sha256"
"""Safetensors metadata key: sha256 of the file's data section (every byte after the header)."""


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write tensors as safetensors, atomically, with a sha256 of the data in the header."""
    from safetensors.torch import save

    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write_bytes(path, _with_checksum(save(clean, metadata=metadata)))


def _with_checksum(blob: bytes) -> bytes:
    """A safetensors blob with SHA_KEY added to its header metadata (the data section is unchanged)."""
    import hashlib

    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    data = memoryview(blob)[8 + n :]
    header.setdefault("__metadata__", {})[SHA_KEY] = hashlib.sha256(data).hexdigest()
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # safetensors keeps the data 8-byte aligned
    return len(raw).to_bytes(8, "little") + raw + data


def verify_tensors_file(p: Path, blob: bytes) -> dict[str, str]:
    """Check a safetensors file's framing and checksum; its metadata, or a RunError saying what is wrong."""
    return _checked_header(p, blob)[1].get("__metadata__") or {}


def _checked_header(p: Path, blob: bytes) -> tuple[int, dict]:
    """(header length, header) of a safetensors file whose framing and checksum `verify_tensors_file` checks."""
    import hashlib

    if len(blob) < 8:
        raise RunError(f"{p} is corrupt: truncated to {len(blob)} bytes, not a safetensors file")
    n = int.from_bytes(blob[:8], "little")
    if 8 + n > len(blob):
        raise RunError(f"{p} is corrupt: truncated, or a damaged header (header of {n:,} bytes, file of {len(blob):,})")
    try:
        header = json.loads(blob[8 : 8 + n])
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        metadata = header.get("__metadata__") or {}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise RunError(f"{p} is corrupt: a damaged header (not the JSON safetensors writes)") from None
    size = len(blob) - 8 - n
    if ends and max(ends) > size:
        raise RunError(f"{p} is corrupt: truncated, {size:,} of {max(ends):,} bytes of tensor data")
    want = metadata.get(SHA_KEY)
    if want is not None and hashlib.sha256(memoryview(blob)[8 + n :]).hexdigest() != want:
        raise RunError(f"{p} is corrupt: damaged, its data does not match the sha256 written with it")
    return n, header


NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}  # fmt: skip
"""Safetensors dtypes numpy has a type for (BF16 and the float8 kinds it has not)."""


def map_arrays(path: str | Path) -> dict:
    """A safetensors file as read-only numpy arrays over a memory map of it, checked like `read_tensors`
    (framing, sha256, every tensor's extent); a RunError when it is missing, damaged, or holds a dtype
    numpy has no type for (bf16).

    Nothing is copied: safetensors' own numpy loader reads the file into memory and then copies every
    tensor out of it (40 ms of a 50 ms load for an 18 MB `cnn`, most of a one-sentence prediction's
    loading). The map lives as long as the arrays do; run files are replaced by a rename, never
    rewritten in place, so a map of the old file stays valid."""
    import mmap

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p} is missing")
    with open(p, "rb") as f:
        blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size else b""
    n, header = _checked_header(p, blob)
    size = len(blob) - 8 - n
    arrays = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            kind, shape, (start, end) = entry["dtype"], [int(d) for d in entry["shape"]], entry["data_offsets"]
            start, end = int(start), int(end)
        except (TypeError, KeyError, ValueError):
            raise RunError(f"{p} is corrupt: a damaged header (not the JSON safetensors writes)") from None
        if kind not in NUMPY_DTYPES:
            raise RunError(f"{p} cannot be read as numpy arrays ({name} is {kind}, which numpy has no type for)")
        dtype = np.dtype(NUMPY_DTYPES[kind])
        count = int(np.prod(shape, dtype=np.int64))
        if min(shape, default=0) < 0 or not 0 <= start <= end <= size or end - start != count * dtype.itemsize:
            raise RunError(f"{p} is corrupt: {name}'s extent does not match its shape {shape} and dtype {kind}")
        arrays[name] = np.frombuffer(blob, dtype=dtype, count=count, offset=8 + n + start).reshape(shape)
    return arrays


def read_tensors(path: str | Path) -> tuple[dict, dict[str, str]]:
    """A safetensors file's tensors and metadata, checked; a RunError naming the file when it is missing,
    truncated, damaged or not safetensors."""
    from safetensors.torch import load

    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p} is missing")
    blob = p.read_bytes()
    metadata = verify_tensors_file(p, blob)
    try:
        return load(blob), metadata
    except Exception as e:  # safetensors raises its own SafetensorError for bad headers or sizes
        raise RunError(f"{p} is corrupt or not a safetensors file ({str(e).splitlines()[0]})") from None


def load_tensors(path: str | Path) -> dict:
    """Read a safetensors file; a clear RunError when it is missing or corrupt."""
    return read_tensors(path)[0]
