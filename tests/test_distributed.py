"""Data-parallel training under torchrun: 2 CPU processes (gloo) on a tiny dataset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
from conftest import toy_rows


@pytest.mark.skipif(shutil.which("torchrun") is None and sys.platform == "win32", reason="needs torchrun")
def test_torchrun_two_processes_one_complete_run_folder(tmp_path):
    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(300)))
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "textcnn", "train", str(csv), "--out", str(out), "--epochs", "2", "--threads", "1",
        "--set", "model.embedding_dim=16", "--set", "model.feature_maps=8",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    if proc.returncode != 0:  # one retry: the launcher's local rendezvous can lose a race for its port
        warnings.warn(f"torchrun failed once, retrying: {proc.stderr[-1500:]}", stacklevel=1)
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for f in ("config.toml", "tokenizer.json", "model.safetensors", "labels.json", "metrics.jsonl", "summary.json"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["rank_max_weight_diff"] == 0.0  # every rank holds rank 0's weights
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["end_of_epoch"] for r in metrics) == 2  # one writer: rank 0
    assert proc.stdout.count(" parameters on cpu") == 1  # one progress display
    assert proc.stdout.count("validation accuracy (last pass)") == 1  # a small set: its last pass is kept
