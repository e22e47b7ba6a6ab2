"""report.py: deterministic markdown from records, optional plots, `textcnn report DIR` re-rendering."""

from __future__ import annotations

import json
import sys

import pytest

from textcnn.measure.bench import BenchRecord, BenchReport, MatmulPeak, SkippedCell
from textcnn.measure.records import CompareReport, ModelSummary, RunRecord
from textcnn.measure.render import (
    PLOT_NOTE,
    ReportError,
    render_compare,
    render_dir,
    table,
    write_bench,
    write_json,
)
from textcnn.measure.timing import RecordError

MACHINE = {
    "cpu": "Test CPU",
    "cores": 2,
    "threads": 2,
    "torch_threads": 2,
    "os": "Linux",
    "arch": "x86_64",
    "python": "3.11.0",
    "torch": "2.0.0",
    "cuda": None,
    "mkldnn": True,
    "device": "cpu",
    "device_name": "Test CPU",
}


def bench_report() -> BenchReport:
    records = [
        BenchRecord(
            m,
            4,
            t,
            mode,
            ms,
            ms * 1.1,
            4 / ms * 1e3,
            4 * t / ms * 1e3,
            1.0,
            2.0,
            flops_per_example=1000,
            repeats=3,
            min_ms=ms,
            seconds=[ms / 1e3] * 3,
        )  # fmt: skip
        for m in ("cnn", "lstm")
        for mode in ("forward", "train")
        for t, ms in ((8, 0.5), (16, 1.5))
    ]
    return BenchReport(
        machine=MACHINE,
        peak_gflops=50.0,
        records=records,
        config={
            "models": ["cnn", "lstm"],
            "lengths": [8, 16],
            "batch_sizes": [4],
            "modes": ["forward", "train"],
            "repeats": 3,
            "min_repeats": 3,
            "budget_s": 0.5,
            "max_call_seconds": 2.0,
            "threads": 2,
            "device": "cpu",
            "vocab_size": 100,
            "num_classes": 2,
            "seed": 0,
            "model_overrides": {},
            "model_configs": {},
        },  # fmt: skip
        skipped=[SkippedCell("lstm", 4, 32, "train", "estimated 9.0 s per call > 2 s limit")],
        matmul=[MatmulPeak(64, 64, 64, 0.01, 50.0)],
        params={"cnn": 1000, "lstm": 2000},
        seconds=3.0,
    )


def summary(model: str, epoch_s: float, acc: float, ttt: float | None) -> ModelSummary:
    return ModelSummary(
        model=model, params=1234, epoch_seconds=epoch_s, epoch_seconds_spread=[epoch_s * 0.9, epoch_s * 1.1],
        examples_per_s=1000 / epoch_s, tokens_per_s=20000 / epoch_s, best_val_accuracy=acc,
        best_val_accuracy_sd=0.01, best_val_accuracies=[acc - 0.01, acc + 0.01], test_accuracy=None,
        time_to_target_s=ttt, reached_target=2 if ttt else 0, train_seconds=epoch_s * 3, epochs_run=[3, 3],
        inference_sentences_per_s=5000.0, latency_p50_ms=0.8, latency_p95_ms=1.2, peak_rss_mb=400.0,
        peak_gpu_mb=None, flops_per_example=10**6, mean_length=20.0, achieved_gflops=3.0, inference_gflops=5.0,
        headline=f"{model} headline",
    )  # fmt: skip


def compare_report() -> CompareReport:
    runs = [
        RunRecord(
            model=m,
            seed=s,
            run_dir=f"runs/{m}-seed{s}",
            summary={
                "best_val_accuracy": 0.8,
                "best_epoch": 2,
                "epochs_run": 3,
                "train_seconds": 3.0,
                "setup_seconds": 0.5,
                "params": 1234,
            },
            metrics=[
                {
                    "epoch": e,
                    "train_seconds": float(e),
                    "val_accuracy": 0.6 + 0.1 * e,
                    "end_of_epoch": True,
                    "epoch_seconds": 1.0,
                }
                for e in (1, 2, 3)
            ],
            peak_rss_mb=400.0,
        )  # fmt: skip
        for m in ("cnn", "lstm")
        for s in (0, 1)
    ]
    return CompareReport(
        dataset="tiny",
        machine=MACHINE,
        order=["cnn", "lstm"],
        seeds=[0, 1],
        models={"cnn": summary("cnn", 1.0, 0.8, 2.0), "lstm": summary("lstm", 6.0, 0.82, 12.0)},
        target=0.8,
        target_source="--target",
        conditions={"epochs": 3, "max_seconds": None, "batch_size": 50, "threads": 2, "device": "cpu"},
        inference={"batch_size": 512, "texts": 10, "latency_sentences": 10},
        headlines=["cnn headline", "lstm headline"],
        runs=runs,
        notes=["a note"],
        ratios_vs_lstm={
            "cnn": {"epoch_time": 6.0, "training_throughput": 6.0, "time_to_target": 6.0, "inference_throughput": 1.0}
        },  # fmt: skip
        peak_gflops=50.0,
    )


def test_table_renders_markdown():
    assert table(["a", "b"], [["x", "1"]]) == "| a | b |\n| --- | ---: |\n| x | 1 |"


def test_bench_json_round_trips_and_markdown_has_tables(tmp_path):
    rep = bench_report()
    r = write_bench(rep, tmp_path)
    d = json.loads((tmp_path / "bench.json").read_text())
    assert BenchReport.from_dict(d) == rep
    md = (tmp_path / "bench.md").read_text()
    assert "## forward: ms per batch of 4" in md and "## train: GFLOP/s (% of matmul peak), batch 4" in md
    assert "| 16 | 1.50 | 1.50 |" in md
    assert "Test CPU" in md and "estimated 9.0 s per call" in md
    assert "Warning" not in md
    assert (tmp_path / "bench.png").stat().st_size > 1000
    assert r.note is None and tmp_path / "bench.png" in r.files


def test_compare_report_renders_deterministically(tmp_path):
    d = compare_report().to_dict()
    r1 = render_compare(d, tmp_path / "a")
    r2 = render_compare(json.loads(json.dumps(d)), tmp_path / "b")
    md = (tmp_path / "a" / "report.md").read_text()
    assert md == (tmp_path / "b" / "report.md").read_text()
    assert (tmp_path / "a" / "val_acc_vs_time.png").read_bytes() == (
        tmp_path / "b" / "val_acc_vs_time.png"
    ).read_bytes()
    assert r1.note is None and r2.note is None
    for want in ("# textcnn compare: tiny", "Test CPU", "- cnn headline", "## Against the LSTM", "| cnn | 6.0× |",
                 "![validation accuracy against training time](val_acc_vs_time.png)", "`runs/lstm-seed1`"):  # fmt: skip
        assert want in md
    assert (tmp_path / "a" / "throughput.png").stat().st_size > 1000
    d["machine"]["load_average"] = 5.0
    render_compare(d, tmp_path / "c")
    assert "> **Warning:** Other processes competed for the CPU" in (tmp_path / "c" / "report.md").read_text()


def test_without_matplotlib_reports_are_written_and_a_note_is_returned(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = render_compare(compare_report().to_dict(), tmp_path)
    assert r.note == PLOT_NOTE == "plots skipped: pip install 'textcnn[plot]'"
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "val_acc_vs_time.png").exists()
    assert PLOT_NOTE in (tmp_path / "report.md").read_text()
    r = write_bench(bench_report(), tmp_path / "b")
    assert r.note == PLOT_NOTE and (tmp_path / "b" / "bench.md").is_file()
    assert not (tmp_path / "b" / "bench.png").exists()


def test_render_dir_finds_report_or_bench(tmp_path):
    write_json(compare_report().to_dict(), tmp_path / "c" / "report.json")
    assert render_dir(tmp_path / "c").files[0] == tmp_path / "c" / "report.md"
    write_json(bench_report().to_dict(), tmp_path / "b" / "bench.json")
    assert render_dir(tmp_path / "b").files[0] == tmp_path / "b" / "bench.md"
    with pytest.raises(ReportError, match="neither report.json"):
        render_dir(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{nope")
    with pytest.raises(ReportError, match="not valid JSON"):
        render_dir(tmp_path / "bad")


def test_a_report_json_that_does_not_match_the_records_is_rejected(tmp_path):
    d = compare_report().to_dict()
    d["models"]["cnn"]["speed"] = 1
    with pytest.raises(RecordError, match=r"CompareReport.models.cnn has unknown keys \['speed'\]"):
        render_compare(d, tmp_path)
    d = compare_report().to_dict()
    del d["target"]
    with pytest.raises(RecordError, match="missing key 'target'"):
        render_compare(d, tmp_path)


def _captured_figures(monkeypatch) -> dict:
    """Render without writing: every figure by file name."""
    import textcnn.measure.render as render

    figures: dict = {}
    monkeypatch.setattr(render, "_save", lambda fig, path: figures.__setitem__(path.name, fig))
    return figures


def test_plots_use_linear_axes_where_the_range_allows_and_plain_tick_labels(tmp_path, monkeypatch):
    figures = _captured_figures(monkeypatch)
    render_compare(compare_report().to_dict(), tmp_path)
    train_ax, infer_ax = figures["throughput.png"].axes
    assert train_ax.get_yscale() == infer_ax.get_yscale() == "linear"  # each quantity on its own axis
    write_bench(bench_report(), tmp_path / "b")
    ax = figures["bench.png"].axes[0]
    labels = [ax.xaxis.get_major_formatter()(v, 0) for v in (8, 16, 512)]
    assert labels == ["8", "16", "512"]  # not 2³, 2⁴
    fmt = ax.yaxis.get_major_formatter()
    assert [fmt(v, 0) for v in (0.5, 2, 2000)] == ["0.5", "2", "2,000"]  # not 2×10⁰


def test_bench_says_what_the_peak_is(tmp_path):
    write_bench(bench_report(), tmp_path)
    md = (tmp_path / "bench.md").read_text()
    assert "The peak is a yardstick, not the hardware's limit" in md and "A model can pass 100%" in md


def test_compare_names_the_precision_its_runs_used():
    from textcnn.measure.render import compare_markdown

    rep = compare_report()
    assert "precision" not in compare_markdown(rep).split("## Headlines")[0]  # reports from before precision
    for r in rep.runs:
        r.summary["precision"] = "bf16"
    assert ", precision bf16. Target accuracy" in compare_markdown(rep)
