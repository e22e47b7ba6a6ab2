"""--autotune: the search stays within its wall-clock budget (the whole call), trial 0 is the config as
given, the search space follows the model table, and the result reproduces from its run folder."""

from __future__ import annotations

import csv
import json
import time
from types import SimpleNamespace

import pytest
from conftest import toy_rows

from textcnn.config import config_from_toml, load_config
from textcnn.training import autotune as at

pytest.importorskip("optuna")

TINY = ["train.threads=1", "model.feature_maps=8", "model.embedding_dim=16", "train.epochs=2", "train.batch_size=16"]


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "toy.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(toy_rows(120, seed=3))
    return path


def test_search_space_follows_the_model_table_and_holds_the_defaults():
    cnn = load_config("x.csv", sets=["model.feature_maps=37"])
    space = at.search_space(cnn)
    assert "model.widths" in space and "model.hidden_size" not in space and "model.embedding_dim" in space
    assert 37 in space["model.feature_maps"][1]  # trial 0 (the config itself) is always in the space
    defaults = at.defaults_of(cnn, space)
    assert at.apply_params(cnn, defaults).to_dict() == cnn.to_dict()
    lstm = at.search_space(load_config("x.csv", model="lstm"))
    assert "model.hidden_size" in lstm and "model.widths" not in lstm
    vec = at.search_space(load_config("x.csv", sets=["model.embeddings=v.txt", "model.embedding_mode=static"]))
    assert "model.embedding_mode" in vec and "model.embedding_dim" not in vec


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_with_a_fake_clock(tmp_path, monkeypatch):
    """Each fake trial takes `epochs` fake seconds; the search (final model included) must end within
    the budget, cut the trial that would overrun it, and never lose the best complete trial."""
    from textcnn import events as ev
    from textcnn.config import to_toml
    from textcnn.training import trainer

    clock = FakeClock()

    def fake_train(cfg, out_dir, *, overwrite=False, callback=None, prepared=None, **_):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.toml").write_text(to_toml(cfg))
        acc = 0.5 + 0.4 * cfg.model.dropout  # the search should find high dropout
        for epoch in range(1, cfg.train.epochs + 1):
            clock.now += 1.0
            callback(ev.Evaluated(epoch, epoch, True, float(epoch), None, None, 0.5, acc, 1.0, 1.0, 1.0, acc))
        (out_dir / "summary.json").write_text(json.dumps({"best_val_accuracy": acc, "best_epoch": 1}))
        return out_dir

    monkeypatch.setattr(
        trainer, "prepare", lambda cfg: SimpleNamespace(encoded={"train": [0] * 100}, n_train_rows=100, held_out=10)
    )
    monkeypatch.setattr(trainer, "train", fake_train)
    cfg = load_config("x.csv", sets=["train.epochs=10", "model.dropout=0.1"])
    budget = 120.0
    run = at.autotune(cfg, budget, tmp_path / "t", clock=clock, started=clock.now)
    history = [json.loads(x) for x in (run / at.HISTORY).read_text().splitlines()]
    summary = json.loads((run / at.SUMMARY).read_text())
    assert clock.now - 1000.0 <= budget and summary["seconds"] <= budget
    assert len(history) >= 5 and history[0]["params"]["model.dropout"] == 0.1  # trial 0: the config itself
    complete = [r for r in history if r["state"] == "complete"]
    best = max(complete, key=lambda r: r["val_accuracy"])
    assert summary["best_trial"] == best["trial"] and summary["best_val_accuracy"] == best["val_accuracy"]
    assert summary["gain_val"] == pytest.approx(best["val_accuracy"] - history[0]["val_accuracy"])
    assert summary["gain_val"] > 0
    assert history[-1]["state"] in ("complete", "out of time", "pruned")
    assert sorted(p.name for p in run.iterdir()) == [
        "autotune.json", "autotune.jsonl", "checksums.json", "config.toml", "summary.json"
    ]  # fmt: skip


def test_autotune_result_reproduces_from_the_run_folder(tiny_csv, tmp_path):
    from textcnn.training.trainer import train

    cfg = load_config(str(tiny_csv), sets=TINY)
    run = at.autotune(cfg, 600, tmp_path / "tuned", max_trials=3)
    history = [json.loads(x) for x in (run / at.HISTORY).read_text().splitlines()]
    summary = json.loads((run / at.SUMMARY).read_text())
    assert len(history) == summary["trials"] == 3 and not (run / at.TRIALS).exists()
    assert history[0]["params"] == at.defaults_of(cfg, at.search_space(cfg))
    best = json.loads((run / "summary.json").read_text())
    assert best["best_val_accuracy"] == summary["best_val_accuracy"]

    # The saved config alone trains the same model again: same validation curve, same best accuracy.
    saved = config_from_toml(run / "config.toml")
    for key, value in summary["best_params"].items():
        section, name = key.split(".")
        got = getattr(getattr(saved, section), name)
        assert (",".join(map(str, got)) if name == "widths" else got) == value
    again = train(saved, tmp_path / "again")
    curve = [r["val_accuracy"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    curve2 = [r["val_accuracy"] for r in map(json.loads, (again / "metrics.jsonl").read_text().splitlines())]
    assert curve2 == curve
    assert json.loads((again / "summary.json").read_text())["best_val_accuracy"] == best["best_val_accuracy"]


def test_trials_longer_than_their_share_are_cut_kept_and_reproduce(tiny_csv, tmp_path):
    """Settings that cannot finish in the budget (here 10,000 epochs): every trial is cut at its share of
    the budget with its best weights, the search still ends with a model, and the kept run's config
    says where it was cut (train.max_steps, no time limit), so training that config again gives it."""
    from textcnn.training.trainer import train

    cfg = load_config(str(tiny_csv), sets=[*TINY, "train.epochs=10000"])
    budget = 10.0
    started = time.monotonic()
    run = at.autotune(cfg, budget, tmp_path / "tuned", started=started)
    assert time.monotonic() - started <= budget + 1.0
    history = [json.loads(x) for x in (run / at.HISTORY).read_text().splitlines()]
    assert len(history) >= 2 and history[0]["state"] == "complete" and history[0]["cut_at_step"] > 0
    assert all(r["seconds"] <= at.TRIAL_SHARE * budget + 0.5 for r in history)
    best = json.loads((run / "summary.json").read_text())
    assert best["cut_by"] == "max_seconds"
    saved = config_from_toml(run / "config.toml")
    assert saved.train.max_seconds is None and saved.train.max_steps == best["steps"]

    again = train(saved, tmp_path / "again")
    redo = json.loads((again / "summary.json").read_text())
    assert (redo["cut_by"], redo["steps"], redo["best_val_accuracy"]) == (
        "max_steps",
        best["steps"],
        best["best_val_accuracy"],
    )
    curve = [r["val_accuracy"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    curve2 = [r["val_accuracy"] for r in map(json.loads, (again / "metrics.jsonl").read_text().splitlines())]
    assert curve2 == curve


@pytest.mark.slow
def test_autotune_respects_a_real_budget(tiny_csv, tmp_path):
    """Wall clock, real training: the whole call (imports already done) ends within the budget + 1 s."""
    budget = 30.0
    started = time.monotonic()
    run = at.autotune(load_config(str(tiny_csv), sets=TINY), budget, tmp_path / "t", started=started)
    assert time.monotonic() - started <= budget + 1.0
    assert json.loads((run / at.SUMMARY).read_text())["trials"] >= 2


def test_too_small_a_budget_is_one_line(tiny_csv, tmp_path):
    with pytest.raises(at.AutotuneError, match="at least"):
        at.autotune(load_config(str(tiny_csv), sets=TINY), 1, tmp_path / "t")
