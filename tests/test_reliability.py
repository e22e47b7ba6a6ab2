"""Run folders under crashes and concurrent use (issue 15), and what `--resume` may change (issue 14).

- SIGKILL at random moments (and during checkpoint writes), then resume: bit-identical final weights
  and identical metrics records against an uninterrupted run. The tests that start training
  subprocesses are marked slow: `pytest -m slow tests/test_reliability.py`.
- One writer per folder; readers refuse a folder still training; `latest` skips it.
- Damaged files name themselves; a failed write (file-size limit) keeps the previous checkpoint and
  best weights, and the run resumes to the same result once the cause is gone.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from textcnn import run as runlib
from textcnn.cli import app
from textcnn.config import config_from_toml, load_config
from textcnn.errors import RunError, RunInProgress
from textcnn.training.trainer import TrainingInterrupted, request_stop, train

SETS = [
    "model.embedding_dim=32", "model.feature_maps=8", "train.log_every=1", "train.checkpoint_every_minutes=0",
    "train.checkpoint_every_steps=3", "train.evals_per_epoch=3", "train.patience=0", "train.batch_size=25",
]  # fmt: skip
EPOCHS = 3
TIMINGS = ("train_seconds", "epoch_seconds", "examples_per_s", "tokens_per_s")


def rare_word_rows(n: int = 500, vocab: int = 1500, seed: int = 0) -> list[tuple[str, str]]:
    """A noisy task with a large vocabulary: most embedding rows skip many steps between updates (the
    case where lazy Adadelta's catch-up decay matters), and validation accuracy keeps moving."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = i % 2
        words = [f"w{rng.randint(0, vocab)}" for _ in range(rng.randint(3, 12))]
        if rng.random() < 0.7:
            words.insert(rng.randint(0, len(words)), rng.choice(["good", "fine", "great"] if y else ["bad", "poor"]))
        rows.append((" ".join(words), "pos" if y else "neg"))
    return rows


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("rare") / "rare.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rare_word_rows()))
    return p


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "textcnn", *args]


def train_cmd(csv: Path, out: Path) -> list[str]:
    sets = [x for s in SETS for x in ("--set", s)]
    return cli("train", str(csv), "--out", str(out), "--threads", "1", "--epochs", str(EPOCHS), *sets)


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = runlib.load_tensors(a / "model.safetensors"), runlib.load_tensors(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert strip(runlib.read_jsonl(a / "metrics.jsonl")) == strip(runlib.read_jsonl(b / "metrics.jsonl"))
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in ("best_val_accuracy", "best_epoch", "steps", "epochs_run", "test_accuracy"):
        assert sa[key] == sb[key], key


@pytest.fixture(scope="module")
def reference(csv, tmp_path_factory) -> tuple[Path, float]:
    """An uninterrupted run (a subprocess, as the killed ones) and its wall time."""
    out = tmp_path_factory.mktemp("ref") / "run"
    t0 = time.monotonic()
    proc = subprocess.run(train_cmd(csv, out), capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, time.monotonic() - t0


def _training_started(out: Path) -> bool:
    return (out / "metrics.jsonl").is_file()


def _writing_checkpoint(out: Path) -> bool:
    return any(f.name.startswith(".checkpoint.safetensors.") for f in out.iterdir()) if out.is_dir() else False


def kill_once(cmd: list[str], out: Path, *, delay: float | None, in_write: bool, timeout: float) -> str:
    """Start `cmd`, SIGKILL it (after `delay` s of training, or the moment a checkpoint write is seen);
    returns what happened: 'killed', 'killed in a checkpoint write' or 'finished'."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + timeout
    started = None
    while proc.poll() is None and time.monotonic() < deadline:
        if started is None and _training_started(out):
            started = time.monotonic()
        if in_write and started is not None and _writing_checkpoint(out):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "killed in a checkpoint write"
        if not in_write and started is not None and time.monotonic() - started >= delay:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "killed"
        time.sleep(0.001 if in_write else 0.01)
    if proc.poll() is None:
        proc.kill()
        pytest.fail(f"{cmd} did not finish in {timeout} s")
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    return "finished"


def crash_and_resume(csv: Path, out: Path, ref_seconds: float, rng: random.Random, kills: int) -> list[str]:
    """Train into `out`, killing it `kills` times (the first start and then each resume), then finish."""
    what = []
    cmd = train_cmd(csv, out)
    for k in range(kills):
        in_write = k % 3 == 1  # every third kill waits for a checkpoint write
        what.append(kill_once(cmd, out, delay=rng.uniform(0.0, 0.6 * ref_seconds), in_write=in_write,
                              timeout=max(120.0, 6 * ref_seconds)))  # fmt: skip
        if what[-1] == "finished" or (
            (out / "summary.json").is_file() and not (out / "checkpoint.safetensors").exists()
        ):
            return what  # (killed after the run had finished: nothing to resume)
        assert not (out / "run.lock").exists() or runlib.lock_owner(out) is None  # the kill left a stale lock
        cmd = cli("train", "--resume", str(out))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=max(120.0, 6 * ref_seconds))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return what


@pytest.mark.slow  # subprocesses that train: ~30 s alone, minutes on a busy machine
def test_sigkill_at_random_moments_then_resume_is_bit_identical(csv, reference, tmp_path):
    ref, seconds = reference
    rng = random.Random(int(os.environ.get("TEXTCNN_FAULT_SEED", "1")))
    what = crash_and_resume(csv, tmp_path / "run", seconds, rng, kills=3)
    assert what.count("finished") == 0 or what[-1] == "finished"
    assert_same_run(ref, tmp_path / "run")


@pytest.mark.slow
def test_many_sigkills_resume_bit_identical(csv, reference, tmp_path):
    """TEXTCNN_FAULT_TRIALS runs (default 4) of 3 kills each; prints what happened to every kill."""
    ref, seconds = reference
    trials = int(os.environ.get("TEXTCNN_FAULT_TRIALS", "4"))
    seen = []
    for trial in range(trials):
        out = tmp_path / f"run{trial}"
        seen += crash_and_resume(csv, out, seconds, random.Random(100 + trial), kills=3)
        assert_same_run(ref, out)
    print(f"\nfault injection: {trials} runs, kills: {seen}")


# ---------------------------------------------------------------------------------------------
# One writer, readers that wait for a complete run


def _wait_for(cond, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.02)


@pytest.mark.slow  # subprocesses that train: ~30 s alone, minutes on a busy machine
def test_second_writer_refuses_and_readers_wait(csv, tmp_path, monkeypatch):
    out = tmp_path / "same"
    first = subprocess.Popen([*train_cmd(csv, out), "--seed", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    try:
        _wait_for(lambda: runlib.lock_owner(out) is not None or first.poll() is not None)
        assert first.poll() is None, "the first run ended before the test could race it"
        owner = runlib.lock_owner(out)
        assert owner["pid"] == first.pid
        res = CliRunner().invoke(app, [*train_cmd(csv, out)[3:], "--seed", "2"])
        assert res.exit_code == 2, res.output
        (line,) = res.stderr.strip().splitlines()
        assert f"{out} is being trained by another process (pid {first.pid}, started " in line
        res = CliRunner().invoke(app, ["train", "--resume", str(out)])
        assert res.exit_code == 2 and f"pid {first.pid}" in res.stderr
        with pytest.raises(RunInProgress, match="is still training"):
            runlib.check_run_dir(out)
        _wait_for(lambda: (out / "model.safetensors").is_file() or first.poll() is not None)
        if first.poll() is None:
            with pytest.raises(RunInProgress, match=f"still training \\(pid {first.pid}"):
                runlib.load_run(out)
            monkeypatch.setenv("TEXTCNN_RUNS_DIR", str(tmp_path))
            with pytest.raises(RunError, match="no trained runs"):
                runlib.resolve_run("latest")  # the only run is still training
    finally:
        assert first.wait(timeout=600) == 0, first.stderr.read().decode()[-2000:]
    assert not (out / "run.lock").exists()
    cfg = config_from_toml(out / "config.toml")
    assert cfg.train.seed == 1  # the folder describes the first run alone
    metrics = runlib.read_jsonl(out / "metrics.jsonl")
    assert len(metrics) == EPOCHS * 3 and sorted(r["step"] for r in metrics) == [r["step"] for r in metrics]
    assert runlib.load_run(out).model is not None
    monkeypatch.setenv("TEXTCNN_RUNS_DIR", str(tmp_path))
    assert runlib.resolve_run("latest") == out


def test_stale_lock_of_a_dead_process_is_taken_over(csv, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / "run.lock").write_text(json.dumps({"pid": int(dead.stdout), "started": "then", "host": os.uname()[1]}))
    assert runlib.lock_owner(out) is None
    train(load_config(str(csv), sets=[*SETS, "train.epochs=1"]), out)
    assert (out / "summary.json").is_file() and not (out / "run.lock").exists()


# ---------------------------------------------------------------------------------------------
# Damaged files


@pytest.fixture(scope="module")
def interrupted(csv, tmp_path_factory) -> Path:
    """A run stopped (Ctrl-C) in its second epoch: model.safetensors and checkpoint.safetensors both there."""
    out = tmp_path_factory.mktemp("cut") / "run"

    def stop(e):
        if getattr(e, "global_step", 0) == 14:
            request_stop()

    with pytest.raises(TrainingInterrupted):
        train(load_config(str(csv), sets=[*SETS, f"train.epochs={EPOCHS}", "train.threads=1"]), out, callback=stop)
    return out


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # one bit flipped, in the tensor data of a safetensors file, mid-file for text
        at = len(data) - 5 if path.suffix == ".safetensors" else len(data) // 2
        data[at] ^= 0x01
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.toml", "labels.json"])
def test_damaged_run_file_is_named_by_every_reader(interrupted, tmp_path, name, how):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    (run / "checkpoint.safetensors").unlink()
    _damage(run / name, how)
    with pytest.raises(RunError) as e:
        runlib.load_run(run)
    assert name in str(e.value) and "\n" not in str(e.value)
    for args in (["predict", str(run), "a good film"], ["evaluate", str(run)], ["explain", str(run), "a good film"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        (line,) = res.stderr.strip().splitlines()
        assert name in line, (args, line)


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
@pytest.mark.parametrize("name", ["checkpoint.safetensors", "tokenizer.json", "config.toml", "labels.json"])
def test_damaged_file_stops_resume_with_one_line(interrupted, tmp_path, name, how):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    _damage(run / name, how)
    res = CliRunner().invoke(app, ["train", "--resume", str(run)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert name in line


# ---------------------------------------------------------------------------------------------
# Failed writes


def _limit_file_size(n: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))


@pytest.mark.slow  # subprocesses that train: ~30 s alone, minutes on a busy machine
def test_failed_checkpoint_write_keeps_the_previous_one_and_resumes_exactly(csv, reference, interrupted, tmp_path):
    ref, _ = reference
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    ckpt = (run / "checkpoint.safetensors").read_bytes()
    best = (run / "model.safetensors").read_bytes()
    limit = (len(ckpt) + len(best)) // 2  # room for the best weights and metrics, not for a checkpoint
    proc = subprocess.run(cli("train", "--resume", str(run)), capture_output=True, text=True, env=ENV, timeout=600,
                          preexec_fn=_limit_file_size(limit))  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert f"could not write {run / 'checkpoint.safetensors'}: File too large" in line
    assert (run / "checkpoint.safetensors").read_bytes() == ckpt  # the previous checkpoint, untouched
    runlib.load_tensors(run / "model.safetensors")  # the best weights still load
    assert not [f for f in run.iterdir() if f.name.endswith(".tmp")] and not (run / "run.lock").exists()
    proc = subprocess.run(cli("train", "--resume", str(run)), capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_run(ref, run)


def test_failed_metrics_append_leaves_no_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    runlib.append_jsonl(path, {"a": 1})
    size = path.stat().st_size
    code = (
        "import resource, sys; from textcnn import run as r\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 10}, {size + 10}))\n"
        f"r.append_jsonl({str(path)!r}, {{'b': 'x' * 100}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 1 and f"WriteFailed: could not write {path}: File too large" in proc.stderr
    assert path.stat().st_size == size and runlib.read_jsonl(path) == [{"a": 1}]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_run_folder_is_one_line(interrupted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    run.chmod(0o555)
    try:
        res = CliRunner().invoke(app, ["train", "--resume", str(run)])
        assert res.exit_code == 2
        (line,) = res.stderr.strip().splitlines()
        assert "could not write" in line and "Permission denied" in line
    finally:
        run.chmod(0o755)
    assert (run / "checkpoint.safetensors").is_file()


# ---------------------------------------------------------------------------------------------
# --resume: what may change (issue 14)


def test_resume_applies_threads_epochs_and_checkpoint_interval(interrupted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    res = CliRunner().invoke(app, ["train", "--resume", str(run), "--threads", "1", "--epochs", str(EPOCHS + 1),
                                   "--set", "train.checkpoint_every_steps=7"])  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = config_from_toml(run / "config.toml")
    assert (cfg.train.threads, cfg.train.epochs, cfg.train.checkpoint_every_steps) == (1, EPOCHS + 1, 7)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["threads"] == 1 and summary["epochs_run"] == EPOCHS + 1
    assert runlib.load_run(run).model is not None  # config.toml rewritten with its checksum


@pytest.mark.parametrize(
    "args, named",
    [(["--model", "lstm"], "--model"), (["--seed", "3"], "--seed"), (["--set", "model.dropout=0.1"], "model.dropout"),
     (["--set", "tokenizer.lowercase=false"], "tokenizer.lowercase"), (["--batch-size", "8"], "--batch-size")],
)  # fmt: skip
def test_resume_refuses_what_would_change_the_run(interrupted, tmp_path, args, named):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    before = (run / "config.toml").read_text()
    res = CliRunner().invoke(app, ["train", "--resume", str(run), *args])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert named in line and "resum" in line
    assert (run / "config.toml").read_text() == before


def test_run_finds_its_data_without_the_data_dir(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    (root / "rareset").mkdir(parents=True)
    rows = rare_word_rows(200)
    (root / "rareset" / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows[:160]))
    (root / "rareset" / "test.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows[160:]))
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(root))
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "rareset", "--out", str(out), "--epochs", "1", "--threads", "1",
                                   *[x for s in SETS for x in ("--set", s)]])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert config_from_toml(out / "config.toml").data.path == str((root / "rareset").resolve())
    monkeypatch.delenv("TEXTCNN_DATA_DIR")
    res = CliRunner().invoke(app, ["evaluate", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == 40
