"""Synthetic speed benchmark of the models: time per batch across sequence lengths and batch sizes.

`run_bench` builds each model from its preset (`configs/<model>.toml` plus overrides), feeds it random
token ids (no dataset, no tokenizer) and times a forward pass (eval mode, `torch.inference_mode`)
and a training step without the optimizer (train mode, forward + cross-entropy + `backward`), both in
the precision training would use (`train.precision`, `auto` resolved for the device: bf16 autocast
or fp32). In the same run it measures the machine's fp32 and bf16 matmul rates, so each cell's
achieved GFLOP/s can be read as a share of what this machine can do in the precision the cell ran in. Every cell is timed with `timing.time_fn` (warm-up dropped,
median and p95 of the repeats); repeats are capped by a time budget per cell, and cells whose
estimated time per call is too long are skipped and listed as such.

It returns a `BenchReport` (records only); report.py renders bench.md, bench.json and bench.png.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from textcnn import events as ev
from textcnn.errors import BenchError
from textcnn.events import Callback
from textcnn.measure.timing import from_dict_strict, load_average, machine_info, time_fn
from textcnn.models.registry import NAMES

log = logging.getLogger(__name__)

MODES = ("forward", "train")
ENGINES = ("torch", "numpy", "onnx")
"""Prediction engines timed in forward cells (torch always; numpy for cnn; onnx with onnxruntime)."""
TRAIN_FLOPS_FACTOR = 3
"""A training step costs about 3x the forward FLOPs (forward, grad w.r.t. inputs, grad w.r.t. weights)."""


@dataclass
class BenchRecord:
    """One timed cell: a model, a batch size, a sequence length and a mode."""

    model: str
    batch_size: int
    seq_len: int
    mode: str
    """'forward' (eval, inference_mode) or 'train' (forward + loss.backward, no optimizer step)."""
    median_ms: float
    p95_ms: float
    sentences_per_s: float
    """Throughputs and GFLOP/s below are from the median time."""
    tokens_per_s: float
    gflops_per_s: float
    pct_of_peak: float
    """gflops_per_s as a percentage of the run's measured matmul peak in the cell's precision."""
    flops_per_example: int = 0
    """Forward FLOPs per sentence (models.flops_per_example)."""
    repeats: int = 0
    min_ms: float = 0.0
    seconds: list[float] = field(default_factory=list)
    """Every measured call (warm-up dropped), for redrawing."""
    engine: str = "torch"
    """Prediction engine of a forward cell: 'torch', 'numpy' (cnn only, no torch) or 'onnx' (ONNX Runtime)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchRecord:
        return from_dict_strict(cls, d)


@dataclass
class SkippedCell:
    model: str
    batch_size: int
    seq_len: int
    mode: str
    reason: str


@dataclass
class MatmulPeak:
    """torch.mm rate for one shape and dtype: [m, k] x [k, n]; the rate is from the fastest call (a peak)."""

    m: int
    k: int
    n: int
    median_ms: float
    gflops_per_s: float
    best_ms: float = 0.0
    when: str = "start"
    """'start' or 'end' of the benchmark (measured twice: a busy moment cannot lower the peak)."""
    dtype: str = "fp32"
    """'fp32' or 'bf16' (both operands in that dtype; bf16 accumulates in fp32, as autocast's matmuls do)."""


@dataclass
class BenchReport:
    machine: dict[str, Any]
    peak_gflops: float
    """Best fp32 matmul rate measured in this run (GFLOP/s): the yardstick for pct_of_peak in fp32."""
    records: list[BenchRecord]
    config: dict[str, Any]
    """What was asked: models, lengths, batch sizes, repeats, budget, vocab, each model's config."""
    skipped: list[SkippedCell] = field(default_factory=list)
    matmul: list[MatmulPeak] = field(default_factory=list)
    params: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    """Wall time of the whole benchmark."""
    precision: str = "fp32"
    """The precision every cell ran in ('fp32', or 'bf16' autocast), `train.precision` resolved."""
    peak_gflops_bf16: float | None = None
    """Best bf16 matmul rate measured in this run: the yardstick for pct_of_peak in bf16."""

    @property
    def run_peak(self) -> float:
        """The peak of the precision the cells ran in."""
        return self.peak_gflops_bf16 if self.precision == "bf16" and self.peak_gflops_bf16 else self.peak_gflops

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchReport:
        return from_dict_strict(cls, d)


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of [m, k] x [k, n]: one multiply and one add per term."""
    return 2 * m * k * n


def achieved_gflops(flops_per_example: float, batch_size: int, seconds: float, mode: str) -> float:
    """GFLOP/s of a cell: forward FLOPs x batch (x3 for a training step) / seconds."""
    if mode not in MODES:
        raise BenchError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    factor = TRAIN_FLOPS_FACTOR if mode == "train" else 1
    return flops_per_example * batch_size * factor / seconds / 1e9


PEAK_SHAPES = ((2048, 2048, 2048), (8192, 300, 1200))
"""A square GEMM and one shaped like a text CNN's (B*T tokens x 300-d embeddings x 1200 filter taps)."""
SLOW_BF16_SHAPES = ((512, 300, 1200),)
"""bf16 on hardware without native bf16 runs a slow fallback: one small shape shows its rate."""


def measure_matmul_peak(
    shapes: Sequence[tuple[int, int, int]] = PEAK_SHAPES,
    *,
    device: str = "cpu",
    repeats: int = 5,
    budget_s: float = 1.0,
    dtype: str = "fp32",
) -> list[MatmulPeak]:
    """Time torch.mm in `dtype` ('fp32' or 'bf16') for each (m, k, n)."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    out = []
    gen = torch.Generator().manual_seed(0)
    for m, k, n in shapes:
        a = torch.randn(m, k, generator=gen).to(device, torch_dtype)
        b = torch.randn(k, n, generator=gen).to(device, torch_dtype)
        c = torch.empty(m, n, device=device, dtype=torch_dtype)
        t = time_fn(
            lambda a=a, b=b, c=c: torch.mm(a, b, out=c), repeats=repeats, warmup=1, sync=sync, max_seconds=budget_s
        )
        flops = matmul_flops(m, k, n)
        out.append(MatmulPeak(m, k, n, t.median * 1e3, flops / t.min / 1e9, best_ms=t.min * 1e3, dtype=dtype))
    return out


def measure_peaks(device: str, *, bf16_native: bool, when: str = "start") -> list[MatmulPeak]:
    """fp32 and bf16 matmul peaks (bf16 on its slow-fallback shape where the hardware lacks it)."""
    bf16_shapes = PEAK_SHAPES if bf16_native else SLOW_BF16_SHAPES
    peaks = measure_matmul_peak(device=device) + measure_matmul_peak(shapes=bf16_shapes, device=device, dtype="bf16")
    return [dataclasses.replace(p, when=when) for p in peaks]


def best_peak(peaks: Sequence[MatmulPeak], dtype: str) -> float | None:
    rates = [p.gflops_per_s for p in peaks if p.dtype == dtype]
    return max(rates) if rates else None


def _parse_overrides(model: str, model_overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Overrides for one model: plain keys apply to every model, a key naming a model holds its own."""
    from textcnn.config import MODELS

    over = {k: v for k, v in (model_overrides or {}).items() if k not in MODELS}
    own = (model_overrides or {}).get(model)
    if isinstance(own, dict):
        over.update(own)
    return over


def run_bench(
    models: Sequence[str] = NAMES,
    lengths: Sequence[int] = (8, 16, 32, 64, 128, 256, 512),
    batch_sizes: Sequence[int] = (1, 32, 256),
    *,
    repeats: int = 10,
    threads: int | None = None,
    device: str = "cpu",
    model_overrides: dict[str, Any] | None = None,
    progress: Callback | None = None,
    modes: Sequence[str] = MODES,
    vocab_size: int = 20000,
    num_classes: int = 2,
    budget_s: float = 0.5,
    max_call_seconds: float = 2.0,
    min_repeats: int = 3,
    seed: int = 0,
    precision: str = "auto",
    engines: Sequence[str] = ENGINES,
) -> BenchReport:
    """Time every model x mode x batch size x length on random ids; return the records.

    `model_overrides`: ModelConfig fields (e.g. {"feature_maps": 4}) applied to every model, or
    {"lstm": {...}} for one. Per cell: one clocked warm-up call gives an estimate, then
    min(repeats, max(min_repeats, budget_s / estimate)) timed calls. A cell is skipped (and listed in
    `report.skipped`) when its estimated time per call exceeds `max_call_seconds`: the estimate is
    the previous length's time scaled linearly, and never less than FLOPs / matmul peak. `progress`
    gets a `textcnn.events.BenchCell` after each cell. `precision` ('auto', 'fp32', 'bf16'; auto as in
    training, `runtime.resolve_precision`) is the precision of every cell; the share of peak is taken
    against the matmul peak of that precision.

    `engines`: besides torch, forward cells are also timed on the other prediction engines on the CPU
    (textcnn.inference): 'numpy' for cnn (its folded tables built once, before timing) and 'onnx' (ONNX
    Runtime on the model's export, when onnxruntime is installed), with the same ids and thread count;
    their records carry `engine`.
    """
    import torch

    from textcnn.config import load_config
    from textcnn.runtime import bf16_native, resolve_precision

    _check_bench_args(models, modes, lengths, batch_sizes, repeats, device)
    started = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        machine = machine_info(device, threads)
        native = bf16_native(torch.device(device))
        prec = resolve_precision(precision, torch.device(device))
        matmul = measure_peaks(device, bf16_native=native)
        peak = best_peak(matmul, prec) or best_peak(matmul, "fp32")
        log.info("matmul peak %.1f GFLOP/s (%s)", peak, prec)

        lengths = sorted(set(lengths))
        batch_sizes = sorted(set(batch_sizes))
        run = _BenchRun(
            device=device, sync=torch.cuda.synchronize if device.startswith("cuda") else None, prec=prec,
            peak=peak, repeats=repeats, min_repeats=min_repeats, budget_s=budget_s,
            max_call_seconds=max_call_seconds, vocab_size=vocab_size, num_classes=num_classes,
            gen=torch.Generator().manual_seed(seed), progress=progress,
            total=len(models) * len(modes) * len(batch_sizes) * len(lengths),
        )  # fmt: skip
        params: dict[str, int] = {}
        model_cfgs: dict[str, Any] = {}
        for name in models:
            cfg = load_config(model=name, overrides={"model": _parse_overrides(name, model_overrides)})
            model_cfgs[name] = asdict(cfg.model)
            params[name] = _bench_model(run, name, cfg, modes, batch_sizes, lengths, engines, seed)
        # Measure the peak again: the best of both is the yardstick, whatever else ran at the start.
        matmul += measure_peaks(device, bf16_native=native, when="end")
        peak = best_peak(matmul, prec) or best_peak(matmul, "fp32")
        for r in run.records:
            r.pct_of_peak = 100.0 * r.gflops_per_s / peak
        machine["load_average_end"] = load_average()
    finally:
        torch.set_num_threads(old_threads)

    config = {
        "models": list(models), "lengths": list(lengths), "batch_sizes": list(batch_sizes), "modes": list(modes),
        "repeats": repeats, "min_repeats": min_repeats, "budget_s": budget_s, "max_call_seconds": max_call_seconds,
        "threads": threads, "device": device, "vocab_size": vocab_size, "num_classes": num_classes, "seed": seed,
        "precision": precision, "engines": list(engines), "model_overrides": model_overrides or {},
        "model_configs": model_cfgs,
    }  # fmt: skip
    return BenchReport(
        machine=machine,
        peak_gflops=best_peak(matmul, "fp32"),
        records=run.records,
        config=config,
        skipped=run.skipped,
        matmul=matmul,
        params=params,
        seconds=time.perf_counter() - started,
        precision=prec,
        peak_gflops_bf16=best_peak(matmul, "bf16"),
    )


def _check_bench_args(models, modes, lengths, batch_sizes, repeats: int, device: str) -> None:
    """Refuse unknown models or modes, empty or non-positive axes, and CUDA where there is none."""
    import torch

    from textcnn.config import MODELS

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise BenchError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    bad_modes = [m for m in modes if m not in MODES]
    if bad_modes:
        raise BenchError(f"unknown mode(s) {', '.join(bad_modes)}; valid: {', '.join(MODES)}")
    if not models or not lengths or not batch_sizes or not modes:
        raise BenchError("bench needs at least one model, length, batch size and mode")
    if any(x < 1 for x in [*lengths, *batch_sizes]):
        raise BenchError("lengths and batch sizes must be >= 1")
    if repeats < 1:
        raise BenchError(f"repeats={repeats} must be >= 1")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device {device!r} requested but CUDA is not available")


@dataclass
class _BenchRun:
    """What every cell of one run shares: its settings, the yardstick, the id generator, the records so far."""

    device: str
    sync: Any
    """torch.cuda.synchronize on a GPU (read the clock after the work), else None."""
    prec: str
    peak: float
    """The start-of-run matmul peak of `prec` (GFLOP/s): sizes the estimates before a cell is timed."""
    repeats: int
    min_repeats: int
    budget_s: float
    max_call_seconds: float
    vocab_size: int
    num_classes: int
    gen: Any
    progress: Callback | None
    total: int
    index: int = 0
    records: list[BenchRecord] = field(default_factory=list)
    skipped: list[SkippedCell] = field(default_factory=list)

    def skip(self, cell: SkippedCell, cell_event) -> None:
        self.skipped.append(cell)
        if self.progress:
            self.progress(cell_event(None, cell.reason))


def _bench_model(run: _BenchRun, name: str, cfg, modes, batch_sizes, lengths, engines, seed: int) -> int:
    """Build one model (seeded) and time its cells, length after length; return its parameter count."""
    import torch

    from textcnn.models import build_model

    torch.manual_seed(seed)
    model = build_model(cfg.model, run.vocab_size, run.num_classes, sparse=cfg.train.sparse_embedding).to(run.device)
    n_params = sum(p.numel() for p in model.parameters())
    others = _other_engines(model, cfg.model, engines, run.vocab_size) if "forward" in modes and not run.sync else {}
    for mode in modes:
        for batch in batch_sizes:
            prev: tuple[int, float] | None = None
            for seq_len in lengths:
                run.index += 1
                prev = _bench_cell(run, model, cfg.model, others, name, mode, batch, seq_len, prev)
    return n_params


def _bench_cell(run: _BenchRun, model, model_cfg, others, name, mode, batch, seq_len, prev):
    """Estimate one cell, skip it or time it (torch, then the other engines on forward cells).

    `prev` is the (length, seconds) of the last timed length of this model, mode and batch size; the
    returned one is what the next length's estimate scales from.
    """
    import torch
    import torch.nn.functional as F

    from textcnn.models import flops_per_example

    flops = int(flops_per_example(model_cfg, seq_len, run.num_classes))
    factor = TRAIN_FLOPS_FACTOR if mode == "train" else 1
    estimate = flops * batch * factor / (run.peak * 1e9)
    if prev is not None:
        estimate = max(estimate, prev[1] * seq_len / prev[0])
    cell_event = functools.partial(ev.BenchCell, run.index, run.total, name, mode, batch, seq_len)
    if estimate > run.max_call_seconds:
        reason = f"estimated {estimate:.1f} s per call > {run.max_call_seconds:g} s limit"
        run.skip(SkippedCell(name, batch, seq_len, mode, reason), cell_event)
        return prev
    ids = torch.randint(2, run.vocab_size, (batch, seq_len), generator=run.gen).to(run.device)
    lens = torch.full((batch,), seq_len, dtype=torch.long).to(run.device)
    labels = torch.randint(0, run.num_classes, (batch,), generator=run.gen).to(run.device)
    fn = (
        _forward_fn(model, ids, lens, run.prec)
        if mode == "forward"
        else _train_fn(model, ids, lens, labels, F, run.prec)
    )
    timed = functools.partial(
        _time_cell, name=name, mode=mode, batch=batch, seq_len=seq_len, flops=flops, peak=run.peak,
        repeats=run.repeats, min_repeats=run.min_repeats, budget_s=run.budget_s,
    )  # fmt: skip
    try:
        record = timed(fn, run.sync)
    except RuntimeError as e:  # out of memory on this device
        if "memory" not in str(e).lower():
            raise
        run.skip(SkippedCell(name, batch, seq_len, mode, "out of memory"), cell_event)
        if run.device.startswith("cuda"):
            torch.cuda.empty_cache()
        return prev
    finally:
        del fn
    run.records.append(record)
    prev = (seq_len, record.median_ms / 1e3)
    for engine_name, engine in others.items() if mode == "forward" else ():
        record = timed(_engine_fn(engine, ids, lens), None)
        record.engine = engine_name
        run.records.append(record)
    if run.progress:
        run.progress(cell_event(record.median_ms))
    return prev


def _other_engines(model, model_cfg, engines: Sequence[str], vocab_size: int) -> dict[str, Any]:
    """The non-torch prediction engines that can run `model`: name -> forward(ids, lengths) on numpy."""
    import torch

    out: dict[str, Any] = {}
    if "numpy" in engines:
        from textcnn.inference.numpy_cnn import NumpyKimCNN, unsupported

        if unsupported(model_cfg) is None:
            arrays = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
            engine = NumpyKimCNN(arrays, model_cfg, int(model.pad_id), vocab_size=vocab_size)
            tables = engine._fold(None)  # the steady state of a long job: the whole vocabulary folded once

            def forward(ids, lengths):
                if ids.shape[1] < engine.min_length:
                    ids = np.pad(ids, ((0, 0), (0, engine.min_length - ids.shape[1])), constant_values=engine.pad_id)
                return engine(ids, lengths, tables)

            out["numpy"] = forward
    if "onnx" in engines:
        try:
            import onnxruntime as ort
        except ImportError:
            log.info("onnxruntime is not installed: no onnx cells")
            return out
        from textcnn.errors import ExportError
        from textcnn.inference.export import onnx_bytes

        try:
            graph = onnx_bytes(model.cpu(), min_length=int(model.min_length), model_name=model_cfg.name)
        except ExportError as e:
            log.info("no onnx cells for %s: %s", model_cfg.name, e)
            return out
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        out["onnx"] = lambda ids, lengths: session.run(["logits"], {"input_ids": ids, "lengths": lengths})[0]
    return out


def _engine_fn(engine, ids, lens):
    ids_np, lens_np = ids.cpu().numpy(), lens.cpu().numpy()
    return lambda: engine(ids_np, lens_np)


def _autocast(ids, prec: str):
    import torch

    return torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=prec == "bf16")


def _forward_fn(model, ids, lens, prec: str = "fp32"):
    import torch

    def fn():
        model.eval()
        with torch.inference_mode(), _autocast(ids, prec):
            return model(ids, lens)

    return fn


def _train_fn(model, ids, lens, labels, F, prec: str = "fp32"):
    def fn():
        model.train()
        model.zero_grad(set_to_none=True)
        with _autocast(ids, prec):
            logits = model(ids, lens)
        loss = F.cross_entropy(logits.float(), labels)  # the loss in fp32, as in training
        loss.backward()

    return fn


def _time_cell(fn, sync, *, name, mode, batch, seq_len, flops, peak, repeats, min_repeats, budget_s) -> BenchRecord:
    """One clocked warm-up call sizes the repeats; then time_fn (one more warm-up when cheap)."""
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    first = time.perf_counter() - t0
    n = min(repeats, max(min_repeats, math.floor(budget_s / max(first, 1e-9))))
    warmup = 1 if first * 4 < budget_s else 0
    timing = time_fn(fn, repeats=n, warmup=warmup, sync=sync)
    median = timing.median
    gflops = achieved_gflops(flops, batch, median, mode)
    return BenchRecord(
        model=name,
        batch_size=batch,
        seq_len=seq_len,
        mode=mode,
        median_ms=median * 1e3,
        p95_ms=timing.p95 * 1e3,
        sentences_per_s=batch / median,
        tokens_per_s=batch * seq_len / median,
        gflops_per_s=gflops,
        pct_of_peak=100.0 * gflops / peak,
        flops_per_example=flops,
        repeats=timing.n,
        min_ms=timing.min * 1e3,
        seconds=timing.seconds,
    )
