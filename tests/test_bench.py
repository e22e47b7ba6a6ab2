"""bench.py: tiny benchmark runs end to end, records validate, FLOP accounting is right, skipping works."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from textcnn.config import load_config
from textcnn.measure import bench
from textcnn.measure.bench import (
    BenchError,
    BenchReport,
    MatmulPeak,
    achieved_gflops,
    matmul_flops,
    measure_matmul_peak,
    run_bench,
)
from textcnn.measure.render import write_bench
from textcnn.models import build_model, flops_per_example

TINY = {"feature_maps": 4, "embedding_dim": 8, "hidden_size": 4, "channels": [2, 2]}


@pytest.fixture
def fast_peak(monkeypatch):
    """A small matmul instead of 2048^3 (the real one takes a second or two)."""
    real = measure_matmul_peak

    def small(**kw):
        return real(shapes=((128, 64, 128),), repeats=2, device=kw.get("device", "cpu"))

    monkeypatch.setattr(bench, "measure_matmul_peak", small)


def fixed_peak(monkeypatch, gflops: float):
    monkeypatch.setattr(bench, "measure_matmul_peak", lambda **kw: [MatmulPeak(1, 1, 1, 1.0, gflops)])


def test_cells_run_in_the_resolved_precision_and_are_a_share_of_its_peak(monkeypatch):
    def peaks(**kw):
        dtype = kw.get("dtype", "fp32")
        return [MatmulPeak(1, 1, 1, 1.0, 100.0 if dtype == "fp32" else 40.0, dtype=dtype)]

    monkeypatch.setattr(bench, "measure_matmul_peak", peaks)
    rep = run_bench(["cnn"], [8], [2], repeats=1, model_overrides=TINY, vocab_size=50, precision="bf16")
    assert rep.precision == "bf16" and rep.peak_gflops == 100.0 and rep.peak_gflops_bf16 == 40.0
    assert rep.run_peak == 40.0 and {p.dtype for p in rep.matmul} == {"fp32", "bf16"}
    for r in rep.records:
        assert r.pct_of_peak == pytest.approx(100 * r.gflops_per_s / 40.0)
    fp32 = run_bench(["cnn"], [8], [2], repeats=1, model_overrides=TINY, vocab_size=50, precision="fp32")
    assert fp32.precision == "fp32" and fp32.run_peak == 100.0
    assert fp32.records[0].pct_of_peak == pytest.approx(fp32.records[0].gflops_per_s)


def test_matmul_peak_in_bf16_is_measured_with_its_dtype():
    (p,) = measure_matmul_peak(shapes=((64, 32, 64),), repeats=1, dtype="bf16")
    assert p.dtype == "bf16" and p.gflops_per_s > 0


def test_flop_arithmetic():
    assert matmul_flops(2, 3, 4) == 48
    assert achieved_gflops(1e9, 2, 1.0, "forward") == pytest.approx(2.0)
    assert achieved_gflops(1e9, 2, 1.0, "train") == pytest.approx(6.0)  # forward + 2x backward
    assert achieved_gflops(5e8, 4, 0.5, "forward") == pytest.approx(4.0)
    with pytest.raises(BenchError):
        achieved_gflops(1.0, 1, 1.0, "eval")


def count_flops(name: str, batch: int, seq_len: int) -> tuple[int, int]:
    """(FLOPs torch's FlopCounterMode sees in one forward, batch x models.flops_per_example)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = load_config(model=name, overrides={"model": TINY})
    model = build_model(cfg.model, 50, 3).eval()
    ids = torch.randint(2, 50, (batch, seq_len))
    lengths = torch.full((batch,), seq_len)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(ids, lengths)
    return fc.get_total_flops(), batch * flops_per_example(cfg.model, seq_len, 3)


def test_flops_per_example_matches_what_torch_counts():
    # cnn2d and image2d are plain Conv2d stacks: the analytic count is exactly what runs.
    for name, length in (("cnn2d", 10), ("image2d", 10), ("image2d", 64)):
        counted, analytic = count_flops(name, 2, length)
        assert counted == analytic, name
    # cnn projects every position onto every tap (a few wasted windows at the edges): close for long inputs.
    counted, analytic = count_flops("cnn", 2, 200)
    assert analytic <= counted <= 1.05 * analytic


def test_matmul_peak_is_measured_and_plausible():
    (p,) = measure_matmul_peak(shapes=((256, 128, 64),), repeats=2)
    assert (p.m, p.k, p.n) == (256, 128, 64)
    assert p.gflops_per_s == pytest.approx(matmul_flops(256, 128, 64) / (p.best_ms / 1e3) / 1e9)
    assert p.best_ms <= p.median_ms
    assert 0.01 < p.gflops_per_s < 1e6


def test_tiny_bench_produces_complete_valid_records(tmp_path, fast_peak):
    events = []
    rep = run_bench(
        ["cnn", "cnn2d", "image2d", "lstm"], [4, 8], [1, 2], repeats=2, threads=1, model_overrides=TINY,
        progress=events.append, vocab_size=50, budget_s=0.05,
    )  # fmt: skip
    assert len([r for r in rep.records if r.engine == "torch"]) == 4 * 2 * 2 * 2 and not rep.skipped
    # forward cells also on the other prediction engines: numpy for cnn, ONNX Runtime for every model
    others = {(r.model, r.engine) for r in rep.records if r.engine != "torch"}
    assert all(r.mode == "forward" for r in rep.records if r.engine != "torch")
    assert {m for m, e in others if e == "numpy"} == {"cnn"}
    if importlib.util.find_spec("onnxruntime"):
        assert {m for m, e in others if e == "onnx"} == {"cnn", "cnn2d", "image2d", "lstm"}
    assert [e.index for e in events] == list(range(1, 33)) and events[-1].total == 32
    assert set(rep.params) == {"cnn", "cnn2d", "image2d", "lstm"} and all(v > 0 for v in rep.params.values())
    assert rep.machine["threads"] == 1 and rep.config["model_overrides"] == TINY
    for r in rep.records:
        cfg = load_config(model=r.model, overrides={"model": TINY}).model
        assert r.flops_per_example == flops_per_example(cfg, r.seq_len, 2)
        median = r.median_ms / 1e3
        assert r.sentences_per_s == pytest.approx(r.batch_size / median)
        assert r.tokens_per_s == pytest.approx(r.batch_size * r.seq_len / median)
        factor = 3 if r.mode == "train" else 1
        assert r.gflops_per_s == pytest.approx(r.flops_per_example * r.batch_size * factor / median / 1e9)
        assert r.pct_of_peak == pytest.approx(100 * r.gflops_per_s / rep.peak_gflops)
        assert r.p95_ms >= r.median_ms >= r.min_ms > 0 and r.repeats == len(r.seconds) >= 2
    # JSON round trip validates every record against the dataclasses.
    d = json.loads(json.dumps(rep.to_dict()))
    assert BenchReport.from_dict(d) == rep
    out = write_bench(rep, tmp_path)
    assert (tmp_path / "bench.json").is_file() and (tmp_path / "bench.md").is_file()
    assert out.files[0] == tmp_path / "bench.json"
    assert torch.get_num_threads() >= 1


def test_cells_too_slow_to_time_are_skipped_and_reported(tmp_path, monkeypatch):
    cfg = load_config(model="cnn", overrides={"model": TINY}).model
    flops_16 = flops_per_example(cfg, 16, 2)
    # A "peak" slow enough that length 16 (and train mode at 8) are estimated above 1 s per call.
    fixed_peak(monkeypatch, gflops=flops_16 * 0.5 / 1e9)
    rep = run_bench(["cnn"], [8, 16], [1], repeats=1, model_overrides=TINY, vocab_size=50, max_call_seconds=1.0)
    timed = {(r.mode, r.seq_len) for r in rep.records}
    skipped = {(s.mode, s.seq_len) for s in rep.skipped}
    assert timed == {("forward", 8)}
    assert skipped == {("forward", 16), ("train", 8), ("train", 16)}
    assert all("s per call > 1 s limit" in s.reason for s in rep.skipped)
    write_bench(rep, tmp_path)
    md = (tmp_path / "bench.md").read_text()
    assert "## Skipped cells" in md and "skipped" in md


def test_bad_requests_are_one_line_errors():
    with pytest.raises(BenchError, match="unknown model"):
        run_bench(["transformer"], [8], [1])
    with pytest.raises(BenchError, match="lengths and batch sizes"):
        run_bench(["cnn"], [0], [1])
    with pytest.raises(BenchError, match="unknown mode"):
        run_bench(["cnn"], [8], [1], modes=["eval"])
