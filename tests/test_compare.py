"""compare.py: tiny end-to-end comparisons (in-process and in spawned processes), records, aggregation."""

from __future__ import annotations

import csv
import json
import random

import pytest

from textcnn import events as ev
from textcnn.errors import CompareError
from textcnn.measure.compare import model_configs, run_compare
from textcnn.measure.records import CompareReport, ModelSummary, headline, median_time, ratios_vs, time_to_target
from textcnn.measure.render import render_compare, render_dir

TINY_SETS = [
    "model.feature_maps=4",
    "model.embedding_dim=8",
    "model.hidden_size=4",
    "model.channels=[2,2]",
    "train.batch_size=8",
    "tokenizer.max_length=16",
]


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    """60 rows, 2 classes, separable by a handful of sentiment words."""
    rng = random.Random(0)
    pos = ["good", "great", "fine", "lovely", "superb", "enjoyable", "fun"]
    neg = ["bad", "awful", "boring", "dull", "terrible", "poor", "weak"]
    filler = ["the", "movie", "was", "a", "story", "and", "plot", "with", "actors", "it", "really", "quite"]
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(60):
            label = i % 2
            words = rng.choices(filler, k=rng.randint(3, 12)) + rng.choices(pos if label else neg, k=2)
            rng.shuffle(words)
            w.writerow([" ".join(words), "pos" if label else "neg"])
    return str(path)


# ---------------------------------------------------------------------------------------------
# Pure aggregation


def test_time_to_target_is_the_first_pass_at_or_above_it():
    metrics = [{"val_accuracy": a, "train_seconds": s} for a, s in ((0.5, 1.0), (0.8, 2.0), (0.7, 3.0), (0.9, 4.0))]
    assert time_to_target(metrics, 0.8) == 2.0
    assert time_to_target(metrics, 0.85) == 4.0
    assert time_to_target(metrics, 0.95) is None


def test_median_time_counts_never_as_infinitely_slow():
    assert median_time([1.0, 3.0, None]) == 3.0
    assert median_time([1.0, None, None]) is None
    assert median_time([2.0, 4.0]) == 3.0


def model_summary(name, epoch_s, ttt, infer, acc=0.8):
    return ModelSummary(
        model=name, params=1, epoch_seconds=epoch_s, epoch_seconds_spread=[], examples_per_s=100 / epoch_s,
        tokens_per_s=None, best_val_accuracy=acc, best_val_accuracy_sd=0.0, best_val_accuracies=[acc],
        test_accuracy=None, time_to_target_s=ttt, reached_target=int(ttt is not None), train_seconds=1.0,
        epochs_run=[1], inference_sentences_per_s=infer, latency_p50_ms=None, latency_p95_ms=None,
        peak_rss_mb=None, peak_gpu_mb=None, flops_per_example=None, mean_length=None, achieved_gflops=None,
        inference_gflops=None,
    )  # fmt: skip


def test_ratios_and_headlines_against_the_lstm():
    s = {
        "cnn": model_summary("cnn", 2.0, 5.0, 9000.0, acc=0.86),
        "image2d": model_summary("image2d", 24.4, None, 100.0),
        "lstm": model_summary("lstm", 12.2, 21.5, 1000.0),
    }
    r = ratios_vs(s, "lstm")
    assert set(r) == {"cnn", "image2d"}
    assert r["cnn"]["epoch_time"] == pytest.approx(6.1)
    assert r["cnn"]["time_to_target"] == pytest.approx(4.3)
    assert r["cnn"]["inference_throughput"] == pytest.approx(9.0)
    assert r["image2d"]["time_to_target"] is None
    assert (
        headline("cnn", s, 0.85, r)
        == "cnn trains 6.1× faster per epoch than lstm and reaches 85.0% validation accuracy 4.3× sooner"
    )
    assert headline("image2d", s, 0.85, r) == (
        "image2d trains 2.0× slower per epoch than lstm and does not reach 85.0% validation accuracy"
    )
    assert headline("lstm", s, 0.85, r).startswith("lstm (baseline): 12.20 s per epoch")
    assert headline("cnn", {"cnn": s["cnn"]}, 0.85, None) == (
        "cnn: 2.00 s per epoch, best validation accuracy 86.0%, reaches 85.0% validation accuracy after 5.0 s"
    )


def test_model_configs_force_shared_conditions_and_keep_model_presets(tiny_csv):
    cfgs = model_configs(tiny_csv, ["cnn", "lstm"], epochs=2, sets=["train.batch_size=7"], threads=1)
    assert [c.model.name for c in cfgs.values()] == ["cnn", "lstm"]
    for c in cfgs.values():
        assert (c.train.epochs, c.train.batch_size, c.train.threads) == (2, 7, 1)
        assert c.data.dataset == tiny_csv
    assert cfgs["cnn"].tokenizer == cfgs["lstm"].tokenizer
    budget = model_configs(tiny_csv, ["cnn"], budget=5.0)["cnn"]
    assert budget.train.max_seconds == 5.0 and budget.train.patience == 0 and budget.train.epochs >= 1000
    with pytest.raises(CompareError, match="unknown model"):
        model_configs(tiny_csv, ["bert"])
    with pytest.raises(CompareError, match="twice"):
        model_configs(tiny_csv, ["cnn", "cnn"])


# ---------------------------------------------------------------------------------------------
# End to end


def test_tiny_compare_in_process_writes_a_complete_valid_report(tiny_csv, tmp_path):
    events = []
    out = tmp_path / "cmp"
    rep = run_compare(
        tiny_csv, ["cnn", "lstm"], 2, epochs=2, sets=TINY_SETS, out_dir=out, threads=1,
        callback=events.append, isolate=False,
    )  # fmt: skip
    assert (out / "report.json").is_file()
    render_compare(rep.to_dict(), out)  # measuring and rendering are separate steps
    for name in ("report.json", "report.md", "val_acc_vs_time.png", "throughput.png"):
        assert (out / name).is_file(), name
    for run in ("cnn-seed0", "cnn-seed1", "lstm-seed0", "lstm-seed1"):
        for f in ("config.toml", "tokenizer.json", "model.safetensors", "labels.json", "summary.json", "metrics.jsonl"):
            assert (out / "runs" / run / f).is_file(), f"{run}/{f}"
    d = json.loads((out / "report.json").read_text())
    assert CompareReport.from_dict(d) == rep  # every record validates against the dataclasses
    assert rep.order == ["cnn", "lstm"] and rep.seeds == [0, 1] and len(rep.runs) == 4
    # Default target: the lowest best accuracy of any run, so every seed of every model reaches it.
    assert rep.target == min(r.summary["best_val_accuracy"] for r in rep.runs)
    for s in rep.models.values():
        assert s.reached_target == 2 and s.time_to_target_s is not None
        assert len(s.best_val_accuracies) == 2
        assert s.best_val_accuracy == pytest.approx(sum(s.best_val_accuracies) / 2)
        assert s.params > 0 and s.epoch_seconds > 0 and s.examples_per_s > 0
        assert s.inference_sentences_per_s > 0 and 0 < s.latency_p50_ms <= s.latency_p95_ms
        assert s.flops_per_example > 0 and s.achieved_gflops > 0
        assert s.epochs_run == [2, 2]
        assert s.test_accuracy is None  # the csv has no test split
        assert s.peak_rss_mb is None  # not isolated: no per-model memory
        assert s.headline in rep.headlines
    assert set(rep.ratios_vs_lstm) == {"cnn"}
    assert rep.headlines[0].startswith("cnn trains ")
    assert all(sum(m["end_of_epoch"] for m in r.metrics) == 2 and r.metrics[-1]["end_of_epoch"] for r in rep.runs)
    assert rep.conditions["epochs"] == 2 and rep.conditions["batch_size"] == 8 and rep.machine["threads"] == 1
    # Events: compare's own plus train's, tagged with model and seed.
    kinds = {type(e) for e in events} | {type(e.event) for e in events if isinstance(e, ev.FromRun)}
    assert kinds == {
        ev.CompareStarted, ev.RunStarted, ev.FromRun, ev.DataLoaded, ev.TrainingStarted, ev.StepDone, ev.Evaluated,
        ev.TrainingEnded, ev.RunEnded, ev.InferenceStarted,
    }  # fmt: skip
    evals = [e for e in events if isinstance(e, ev.FromRun) and isinstance(e.event, ev.Evaluated)]
    assert {(e.model, e.seed) for e in evals} == {
        ("cnn", 0), ("cnn", 1), ("lstm", 0), ("lstm", 1)
    }  # fmt: skip
    # `textcnn report DIR` re-renders without retraining, deterministically.
    md = (out / "report.md").read_text()
    render_dir(out)
    assert (out / "report.md").read_text() == md
    assert "cnn trains" in md and "## Against the LSTM" in md
    # A second compare into the same folder needs overwrite.
    with pytest.raises(CompareError, match="already holds a comparison"):
        run_compare(tiny_csv, ["cnn"], 1, epochs=1, sets=TINY_SETS, out_dir=out, isolate=False)


def test_tiny_compare_in_spawned_processes_measures_memory_per_model(tiny_csv, tmp_path):
    events = []
    rep = run_compare(
        tiny_csv, ["cnn"], 1, budget=30.0, sets=[*TINY_SETS, "train.epochs=1"], target=0.01,
        out_dir=tmp_path / "iso", threads=1, callback=events.append,
    )  # fmt: skip
    s = rep.models["cnn"]
    assert s.peak_rss_mb is not None and s.peak_rss_mb > 50
    assert rep.runs[0].peak_rss_mb == s.peak_rss_mb
    assert rep.conditions["isolated_processes"] is True and rep.conditions["max_seconds"] == 30.0
    assert rep.target == 0.01 and rep.target_source == "--target"
    assert rep.ratios_vs_lstm is None and rep.headlines[0].startswith("cnn: ")
    assert any(isinstance(e, ev.FromRun) and isinstance(e.event, ev.Evaluated) and e.model == "cnn" for e in events)
    assert CompareReport.from_dict(json.loads((tmp_path / "iso" / "report.json").read_text())) == rep


def test_a_failing_child_is_a_one_line_compare_error(tiny_csv, tmp_path):
    with pytest.raises(CompareError, match="training cnn .seed 0. failed: .*lr"):
        run_compare(
            tiny_csv, ["cnn"], 1, epochs=1, sets=[*TINY_SETS, "train.lr=1e30", "train.optimizer=sgd"],
            out_dir=tmp_path / "bad", threads=1,
        )  # fmt: skip
