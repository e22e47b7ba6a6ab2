"""`textcnn export --format onnx`: every model kind exports, ONNX Runtime reproduces torch's logits on
short, long and empty inputs, and an export folder predicts like its run folder (without torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import toy_rows
from typer.testing import CliRunner

from textcnn import run as runlib
from textcnn.cli import app
from textcnn.config import load_config
from textcnn.data.tokenizer import train_tokenizer
from textcnn.errors import ExportError, PredictError
from textcnn.inference.export import check_inputs, export_run
from textcnn.inference.predictor import Predictor
from textcnn.models import build_model
from textcnn.models.layers import pad_to

ort = pytest.importorskip("onnxruntime")

SMALL = {
    "cnn": {"embedding_dim": 12, "feature_maps": 6},
    "cnn2d": {"embedding_dim": 12, "feature_maps": 6},
    "image2d": {"embedding_dim": 16, "channels": [4, 8]},
    "lstm": {"embedding_dim": 12, "hidden_size": 8},
}
KINDS = [  # every model kind in the default suite; other settings of each are marked slow
    ("cnn", {}),
    ("cnn2d", {}),
    ("image2d", {}),
    ("lstm", {}),
    pytest.param("cnn", {"pooling": "avg", "activation": "tanh"}, marks=pytest.mark.slow),
    pytest.param("image2d", {"pool2d": "avg", "batch_norm": True}, marks=pytest.mark.slow),
    pytest.param("lstm", {"pooling": "last", "num_layers": 2}, marks=pytest.mark.slow),
    pytest.param("lstm", {"pooling": "mean", "bidirectional": False}, marks=pytest.mark.slow),
]
TEXTS = ["", "great", "a b", "the film was a really wonderful story and the acting was great", "zzz qqq " * 40]


@pytest.fixture(scope="module")
def tokenizer():
    cfg = load_config(sets=["tokenizer.max_length=64"])
    return train_tokenizer([t for t, _ in toy_rows(200)], cfg.tokenizer)


def make_run(path, name: str, options: dict, tokenizer, seed: int = 0):
    """A run folder holding an untrained (seeded) model of kind `name`: what export reads."""
    cfg = load_config(model=name, overrides={"model": {**SMALL[name], **options}, "tokenizer": {"max_length": 64}})
    torch.manual_seed(seed)
    model = build_model(cfg.model, tokenizer.get_vocab_size(), 3).eval()
    if options.get("batch_norm"):  # non-trivial running statistics, so eval-mode normalisation matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    runlib.save_run_files(path, cfg, tokenizer, ["neg", "neutral", "pos"])
    runlib.save_weights(path, model)
    return path, model


@pytest.mark.parametrize(("name", "options"), KINDS)
def test_every_model_exports_and_onnx_runtime_matches_torch(tmp_path, tokenizer, name, options):
    run_dir, model = make_run(tmp_path / "run", name, options, tokenizer)
    out = export_run(run_dir, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "labels.json", "model.onnx", "tokenizer.json"]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {"input_ids": ("tensor(int64)", ["batch", "time"]), "lengths": ("tensor(int64)", ["batch"])}
    (logits,) = session.get_outputs()
    assert (logits.name, logits.type, logits.shape) == ("logits", "tensor(float)", ["batch", 3])
    # short, long (120 tokens) and empty inputs, mixed lengths with padding, batch sizes 1 to 5
    for ids, lengths in check_inputs(tokenizer.get_vocab_size(), 0, model.min_length, seed=1):
        got = session.run(["logits"], {"input_ids": ids, "lengths": lengths})[0]
        with torch.inference_mode():
            want = model(pad_to(torch.from_numpy(ids), model.min_length, 0), torch.from_numpy(lengths)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    # an export folder predicts like its run folder
    by_onnx = Predictor.from_run(out)
    assert by_onnx.engine.name == "onnx"
    by_torch = Predictor.from_run(run_dir, engine="torch")
    a, b = by_onnx.predict(TEXTS), by_torch.predict(TEXTS)
    assert [p.label for p in a] == [p.label for p in b]
    np.testing.assert_allclose([list(p.probabilities.values()) for p in a],
                               [list(p.probabilities.values()) for p in b], atol=1e-5)  # fmt: skip
    assert [(p.n_tokens, p.truncated, p.empty) for p in a] == [(p.n_tokens, p.truncated, p.empty) for p in b]


def test_cli_export_then_predict_from_the_folder_without_torch(tmp_path, tokenizer):
    run_dir, _ = make_run(tmp_path / "run", "lstm", {}, tokenizer)
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "exp")])
    assert r.exit_code == 0, r.output
    assert "exported" in r.output
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from textcnn.cli import app\n"
        f"r = CliRunner().invoke(app, ['predict', {str(tmp_path / 'exp')!r}, 'great', '', '--format', 'jsonl'])\n"
        "print(json.dumps([r.exit_code, 'torch' in sys.modules, r.output]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    exit_code, torch_loaded, output = json.loads(out.stdout.strip().splitlines()[-1])
    assert (exit_code, torch_loaded) == (0, False)
    records = [json.loads(line) for line in output.strip().splitlines() if line.startswith("{")]
    expected = Predictor.from_run(run_dir).predict(["great", ""])
    assert [r["label"] for r in records] == [p.label for p in expected]
    assert abs(records[0]["probability"] - expected[0].probability) < 1e-5


def test_missing_onnxruntime_is_one_line_saying_what_to_install(tmp_path, tokenizer, monkeypatch):
    run_dir, _ = make_run(tmp_path / "run", "cnn", {}, tokenizer)
    out = export_run(run_dir, tmp_path / "exp")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(PredictError, match=r"pip install 'textcnn\[onnx\]'") as e:
        Predictor.from_run(out)
    assert "\n" not in str(e.value)
    r = CliRunner().invoke(app, ["predict", str(out), "great"])
    assert r.exit_code == 2
    assert "pip install 'textcnn[onnx]'" in r.output


def test_what_cannot_be_exported_is_one_clear_error(tmp_path, tokenizer):
    run_dir, _ = make_run(tmp_path / "run", "cnn", {"pooling": "kmax"}, tokenizer)
    with pytest.raises(ExportError, match="kmax"):
        export_run(run_dir, tmp_path / "exp")
    with pytest.raises(ExportError, match="not the run folder"):
        export_run(run_dir, run_dir)
    with pytest.raises(ExportError, match="format 'tflite'"):
        export_run(run_dir, tmp_path / "exp", fmt="tflite")
    ok, _ = make_run(tmp_path / "ok", "cnn", {}, tokenizer)
    out = export_run(ok, tmp_path / "exp2")
    with pytest.raises(PredictError, match="export folder"):
        Predictor.from_run(out, engine="torch")
    with pytest.raises(PredictError, match="export folder"):
        _ = Predictor.from_run(out).model  # explain needs the run folder
