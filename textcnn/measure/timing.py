"""Timing primitives: repeat a call, drop the warm-up, report median and spread; describe the machine.

`time_fn` is the only clock-reading code in textcnn's measuring tools (bench, compare). It takes the
clock and the device sync as arguments so tests can drive it with a fake clock. `machine_info` is the
header of every report (CPU model, cores, threads, versions, device; never the hostname).
`from_dict_strict` rebuilds the measuring records (dataclasses) from their JSON form and rejects
unknown or missing keys, so a report.json is validated by reading it back.

This module does not render anything (see report.py) and does not know about models.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import statistics
import time
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from textcnn.errors import RecordError


def percentile(xs: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    values = sorted(float(x) for x in xs)
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q={q} must be in [0, 100]")
    pos = (len(values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass
class Timing:
    """Wall-clock seconds of each measured call (warm-up calls already dropped)."""

    seconds: list[float]
    warmup: int

    @property
    def n(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p50(self) -> float:
        return percentile(self.seconds, 50)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 95)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.seconds)

    @property
    def sd(self) -> float:
        """Sample standard deviation (0.0 for a single call)."""
        return statistics.stdev(self.seconds) if len(self.seconds) > 1 else 0.0

    @property
    def total(self) -> float:
        return math.fsum(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": list(self.seconds), "warmup": self.warmup}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timing:
        return from_dict_strict(cls, d)


def time_fn(
    fn: Callable[[], Any],
    *,
    repeats: int = 10,
    warmup: int = 2,
    sync: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
) -> Timing:
    """Call `fn` `warmup` times (not timed), then time each of `repeats` calls.

    `sync` (e.g. `torch.cuda.synchronize`) is called before every clock read, so queued device work
    is finished before the clock starts and counted before it stops. `min_seconds`: keep calling past
    `repeats` until the measured calls add up to at least this (fast functions get more samples).
    `max_seconds`: stop before `repeats` once the measured calls add up to this (slow functions get
    fewer samples; at least one call is always measured).
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    if warmup < 0:
        raise ValueError(f"warmup={warmup} must be >= 0")
    for _ in range(warmup):
        fn()
    seconds: list[float] = []
    total = 0.0
    while True:
        if sync is not None:
            sync()
        start = clock()
        fn()
        if sync is not None:
            sync()
        elapsed = clock() - start
        seconds.append(elapsed)
        total += elapsed
        if max_seconds is not None and total >= max_seconds:
            break
        if len(seconds) >= repeats and total >= min_seconds:
            break
    return Timing(seconds=seconds, warmup=warmup)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), sysctl-free fallbacks elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float | None:
    """1-minute load average (runnable processes); above the core count means CPU contention."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # pragma: no cover - Windows
        return None


def contention_warning(machine: dict[str, Any]) -> str | None:
    """A one-line warning when other work competed for the CPU while measuring, else None.

    Reads `load_average` (at the start) and `load_average_end` (set by the caller when done); the
    measurement itself accounts for about `threads` of the load at the end.
    """
    cores = machine.get("cores") or 1
    start, end = machine.get("load_average"), machine.get("load_average_end")
    own = machine.get("threads") or 1
    busy = []
    if start is not None and start > max(1.0, 0.25 * cores):
        busy.append(f"{start:.1f} at the start")
    if end is not None and end - own > max(1.0, 0.25 * cores):
        busy.append(f"{end:.1f} at the end")
    if not busy:
        return None
    return (
        f"Other processes competed for the CPU (1-minute load average {' and '.join(busy)} on {cores} cores): "
        "timings are pessimistic and noisy; rerun on an idle machine for clean numbers."
    )


def machine_info(device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """The header of every report: CPU, cores, torch threads, versions and device (no hostname).

    `threads` is what the measurement asked for; `torch_threads` is what torch reports now.
    """
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "device": device,
        "device_name": cpu_model(),
        "load_average": load_average(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["device_name"] = torch.cuda.get_device_name(index)
        info["cudnn"] = torch.backends.cudnn.version()
    elif device == "mps":
        info["device_name"] = "Apple MPS"
    return info


def machine_line(machine: dict[str, Any]) -> str:
    """One line naming the machine, for logs and report headers."""
    cuda = f", CUDA {machine['cuda']}" if machine.get("cuda") else ""
    dev = machine.get("device", "cpu")
    name = machine.get("device_name") or ""
    device = f"{dev} ({name})" if dev != "cpu" and name else dev
    load = machine.get("load_average")
    load_s = f"; load average {load:.2f}" if load is not None else ""
    end = machine.get("load_average_end")
    load_s += f" (end {end:.2f})" if end is not None and load is not None else ""
    return (
        f"{machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('threads')} threads{load_s}; "
        f"torch {machine.get('torch')}{cuda}, Python {machine.get('python')}; device {device}"
    )


# ---------------------------------------------------------------------------------------------
# Strict JSON -> dataclass (the records of bench.py and compare.py).

T = typing.TypeVar("T")


def from_dict_strict(cls: type[T], d: Any, where: str = "") -> T:
    """Build dataclass `cls` from a JSON dict, checking keys and value types; RecordError names the key."""
    where = where or cls.__name__
    if not isinstance(d, dict):
        raise RecordError(f"{where} must be an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise RecordError(f"{where} has unknown keys {unknown}; valid: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where} is missing key {name!r}")
            continue
        kwargs[name] = _convert(d[name], hints[name], f"{where}.{name}")
    return cls(**kwargs)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise RecordError(f"{where} must not be null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except RecordError as e:
                errors.append(str(e))
        raise RecordError(errors[0] if errors else f"{where} has an unexpected value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise RecordError(f"{where} must be a list, got {type(value).__name__}")
        item = args[0] if args else Any
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where} must be an object, got {type(value).__name__}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return from_dict_strict(hint, value, where)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise RecordError(f"{where} must be a number, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RecordError(f"{where} must be an integer, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise RecordError(f"{where} must be true or false, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise RecordError(f"{where} must be a string, got {value!r}")
    return value
