"""Datasets that come as an archive: a Kaggle download (`archive.zip` holding train.csv and test.csv), a
corpus's tarball (`aclImdb_v1.tar.gz`: class folders of .txt files). `unpacked` unpacks one once into
the `datasets` cache and gives back what is inside, which sources.py then reads as it reads any local
file or folder: the one data file or folder at the archive's top, else the archive's top folder.

Unpacked into a temporary folder then renamed, so an interrupted unpacking is never taken for a finished
one; keyed by the archive's absolute path, size and modification time, so a changed archive is unpacked
again. Only regular files and folders are unpacked, within the target folder (no absolute paths, no
`..`, no links), and macOS's `__MACOSX/` copies and `._*` / `.DS_Store` files are left out: read as data
files they would be taken for splits.

Not here: reading the files inside (sources.py, folders.py). Imports only the standard library, and only
`logging` and `os` until it unpacks (`predict --file` checks every name with `is_archive`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

from textcnn.errors import DataError

log = logging.getLogger("textcnn.data.sources")

ARCHIVES = (".zip", ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz")
"""The archive formats read as datasets (by the end of their names)."""


def is_archive(p: Path) -> bool:
    """Whether the file `p` is an archive `unpacked` reads, by its name."""
    return p.name.lower().endswith(ARCHIVES)


def unpacked(p: Path, cache: Path) -> Path:
    """What the archive `p` holds, unpacked once into `cache` (the `datasets` cache): the one data file or
    folder at its top (followed down through single folders), else its top folder."""
    import hashlib
    import shutil

    stat = p.stat()
    key = hashlib.sha256(f"{p.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    stem = p.name[: -len(next(s for s in ARCHIVES if p.name.lower().endswith(s)))]
    root = cache / "textcnn-archives" / f"{stem}-{key}"
    if not root.is_dir():
        partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        log.warning("%s: unpacking into %s (once; later runs read it there)", p.name, root)
        try:
            count = _unpack(p, partial)
        except Exception as e:  # zipfile / tarfile / decompressor errors, a full disk
            shutil.rmtree(partial, ignore_errors=True)
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"could not unpack {p}: {why}") from None
        if count == 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise DataError(f"{p} holds no files")
        try:
            partial.rename(root)
        except OSError:  # another process unpacked it first
            shutil.rmtree(partial, ignore_errors=True)
    return _inside(root)


def _unpack(p: Path, into: Path) -> int:
    """Unpack the regular files of archive `p` under `into`; returns how many."""
    import tarfile
    import zipfile

    count = 0
    if p.name.lower().endswith(".zip"):
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if not info.is_dir() and _kept(info.filename):
                    z.extract(info, into)  # zipfile drops absolute paths and ".." parts
                    count += 1
        return count
    with tarfile.open(p) as t:
        members = [m for m in t.getmembers() if m.isfile() and _kept(m.name)]
        for m in members:
            parts = PurePosixPath(m.name).parts
            if m.name.startswith("/") or ".." in parts:
                raise ValueError(f"member {m.name!r} would be unpacked outside its folder")
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+ / 3.11.4+: the safe filter
            t.extractall(into, members=members, filter="data")
        else:  # pragma: no cover - older Pythons; members were checked above
            t.extractall(into, members=members)
        return len(members)


def _kept(name: str) -> bool:
    """Whether an archive member is data (not macOS's resource copies or folder settings)."""
    parts = PurePosixPath(name).parts
    return bool(parts) and "__MACOSX" not in parts and not parts[-1].startswith("._") and parts[-1] != ".DS_Store"


def _inside(root: Path) -> Path:
    """The one entry at `root`'s top, followed down through folders that hold one entry; `root` else. A
    README or licence file beside it does not count (rt-polaritydata.tar.gz: the folder
    rt-polaritydata/ and rt-polaritydata.README.1.0.txt)."""
    from textcnn.data.folders import NOT_DATA

    here = root
    while True:
        entries = [e for e in here.iterdir() if not e.name.startswith(".")]
        if len(entries) > 1:
            entries = [e for e in entries if e.is_dir() or not any(w in e.name.lower() for w in NOT_DATA)]
        if len(entries) != 1:
            return here
        here = entries[0]
        if here.is_file():
            return here
