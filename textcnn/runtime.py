"""Where computation runs: the device, its precision, CPU threads, and this process's peak memory.

One meaning of `auto` everywhere (training, prediction, compare, bench): CUDA, then Apple's MPS, then
the CPU. One thread default: the cores this process may use (`os.sched_getaffinity`), not the
machine's core count, so a process pinned to one core (taskset, a container's cpuset) does not
oversubscribe it. One meaning of precision `auto`: bf16 autocast where the hardware computes bf16
natively (CUDA with bf16 support; a CPU with AMX-BF16 or AVX512-BF16), fp32 elsewhere.

Not here: what runs on the device (models, training, inference).
"""

from __future__ import annotations

import os
import resource
import sys

from textcnn.errors import ConfigError


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(name: str = "auto"):
    """A torch.device for `name` ('auto', 'cpu', 'cuda', 'cuda:1', 'mps'); ConfigError when it is not there."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available(torch) else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but torch sees no CUDA device")
    if device.type == "mps" and not _mps_available(torch):
        raise ConfigError(f"device {name!r} was asked for, but MPS is not available")
    return device


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: every usable core) and return the number set."""
    import torch

    n = threads or usable_cores()
    torch.set_num_threads(n)
    return n


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:  # not Linux
        pass
    return set()


def bf16_native(device) -> bool:
    """Whether `device` (a torch.device) computes bfloat16 matrix products natively."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())
    return False


def resolve_precision(precision: str, device) -> str:
    """'fp32' or 'bf16' for a config's train.precision ('auto', 'fp32', 'bf16') on `device`."""
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ConfigError(f"train.precision={precision!r} is not one of auto, fp32, bf16")
    return precision


_STATUS, _CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"


def reset_peak_rss() -> bool:
    """Start this process's peak resident memory (what `peak_rss_mb` reads) again from its present size,
    so a run trained in a process that did other work first (benchmark units, autotune trials, a
    notebook) reports its own peak, not the process's. Linux (4.0+: "5" to /proc/self/clear_refs resets
    VmHWM); False, and nothing reset, elsewhere or where the file is not writable."""
    try:
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children) in MiB: VmHWM on Linux (the
    figure `reset_peak_rss` resets; getrusage's maxrss also keeps the peaks of exited threads), else
    getrusage."""
    if not children:
        try:
            with open(_STATUS) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024  # kB
        except (OSError, ValueError, IndexError):
            pass
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    maxrss = resource.getrusage(who).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024  # Linux: KiB; macOS: bytes
