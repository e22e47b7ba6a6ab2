"""The CLI end to end through typer's CliRunner: train → predict → evaluate → explain, and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import toy_rows
from typer.testing import CliRunner

from textcnn import __version__
from textcnn.cli import app

runner = CliRunner()
TINY = ["--set", "model.embedding_dim=16", "--set", "model.feature_maps=8", "--set", "train.optimizer=adam",
        "--set", "train.lr=0.01"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    csv = root / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(400)))
    out = root / "run"
    res = runner.invoke(app, ["train", str(csv), "--out", str(out), "--epochs", "6", "--seed", "1", *TINY])
    assert res.exit_code == 0, res.output
    return csv, out, res.output


def test_version_and_help():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    for cmd in ("train", "predict", "evaluate", "explain", "filters", "compare", "bench", "report", "tokenize"):
        res = runner.invoke(app, [cmd, "-h"])
        assert res.exit_code == 0, cmd
        assert "Examples" in res.output, cmd


def test_train_writes_the_run_and_a_summary(trained):
    _, out, output = trained
    assert "best validation accuracy" in output
    assert "no test split" in output
    for f in ("config.toml", "tokenizer.json", "model.safetensors", "labels.json", "metrics.jsonl", "summary.json"):
        assert (out / f).is_file()
    assert json.loads((out / "summary.json").read_text())["seed"] == 1


def test_predict_arguments_and_formats(trained):
    _, out, _ = trained
    res = runner.invoke(
        app, ["predict", str(out), "a wonderful superb film", "an awful dull plot", "--format", "jsonl"]
    )
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in res.output.splitlines()]
    assert [r["label"] for r in recs] == ["positive", "negative"]
    for r in recs:
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-5
    res = runner.invoke(app, ["predict", str(out), "a wonderful superb film", "--top-k", "2"])
    assert res.exit_code == 0 and "positive" in res.output


def test_predict_file_keeps_input_order_and_reports_bad_lines(trained, tmp_path):
    _, out, _ = trained
    f = tmp_path / "in.txt"
    f.write_bytes(b"superb lovely film\n\xff\xfe broken line\nawful boring dull\n\n")
    res = runner.invoke(app, ["predict", str(out), "--file", str(f), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "skipped 1 lines that are not UTF-8: 2" in res.output
    rows = [x for x in res.stdout.splitlines() if x and not x.startswith("skipped")]
    assert rows[0].startswith("text,label")
    assert rows[1].startswith("superb lovely film,positive")
    assert rows[2].startswith("awful boring dull,negative")
    res = runner.invoke(app, ["predict", str(out), "--file", str(f), "--on-error", "stop"])
    assert res.exit_code == 2
    assert "line 2" in res.output


def test_evaluate_json(trained):
    csv, out, _ = trained
    res = runner.invoke(app, ["evaluate", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert set(rep) >= {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n"}
    assert rep["accuracy"] == pytest.approx(json.loads((out / "summary.json").read_text())["best_val_accuracy"])
    assert 0 <= rep["macro_f1"] <= 1


def test_explain_shows_ngrams(trained):
    _, out, _ = trained
    res = runner.invoke(app, ["explain", str(out), "the film was superb and lovely"])
    assert res.exit_code == 0, res.output
    assert "positive" in res.output
    assert "superb" in res.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["predict", "/nonexistent/run", "hi"], "does not exist"),
        (["train", "sst2", "--set", "model.bogus=1"], "unknown config key"),
        (["train", "sst2", "--set", "train.epochs=x"], "expects an integer"),
        (["train", "/nonexistent/file.csv"], ""),
        (["evaluate", "/nonexistent/run"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert fragment in res.output


def test_corrupted_weights_are_a_clear_error(trained, tmp_path):
    import shutil

    _, out, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    res = runner.invoke(app, ["predict", str(bad), "hello"])
    assert res.exit_code == 2
    assert "model.safetensors" in res.output and "Traceback" not in res.output


def test_help_does_not_import_torch():
    code = (
        "import sys; from textcnn.cli import app; assert 'torch' not in sys.modules and 'datasets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hub_unreachable_is_one_line(monkeypatch):
    res = runner.invoke(app, ["train", "someone/not-a-real-dataset"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "--data" in res.output or "TEXTCNN_DATA_DIR" in res.output
