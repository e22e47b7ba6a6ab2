"""--autotune: the search stays within its wall-clock budget (the whole call), trial 0 is the config as
given, the search space follows the model table, and the result reproduces from its run folder."""

from __future__ import annotations

import csv
import json
import time
from types import SimpleNamespace

import numpy as np
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
            callback(ev.Evaluated(epoch, epoch, True, float(epoch), None, None, 0.5, acc, acc, 1.0, 1.0, 1.0, acc))
        (out_dir / "summary.json").write_text(json.dumps({"best_val_accuracy": acc, "best_epoch": 1}))
        return out_dir

    def fake_hits(trial_dir, val_split, cfg):  # 1,000 validation rows, the first acc x 1,000 of them right
        return np.arange(1000) < round(1000 * json.loads((trial_dir / "summary.json").read_text())["best_val_accuracy"])

    monkeypatch.setattr(
        trainer, "prepare", lambda cfg: SimpleNamespace(encoded={"train": [0] * 100}, n_train_rows=100, held_out=10)
    )
    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr(trainer, "validation_split", lambda prepared, t: None)
    monkeypatch.setattr(at, "_validation_hits", fake_hits)
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
    assert summary["gain_val"] > 0 and summary["choice"]["kept"] == "highest"
    assert history[-1]["state"] in ("complete", "out of time", "pruned")
    assert sorted(p.name for p in run.iterdir()) == [
        "autotune.json", "autotune.jsonl", "checksums.json", "config.toml", "summary.json"
    ]  # fmt: skip


def test_a_gain_within_the_validation_noise_keeps_the_defaults():
    """The highest of many noisy scores is biased upwards: a trial replaces the defaults only when it beats
    them on the same rows by more than needed_z(trials compared) standard errors of the paired difference."""
    rng = np.random.default_rng(0)
    base = rng.random(800) < 0.9
    noisy = base.copy()  # 40 rows change, 22 of them for the better: +0.5 points
    noisy[np.flatnonzero(~base)[:22]] = True
    noisy[np.flatnonzero(base)[:18]] = False
    gain, se = at.paired_gain(noisy, base)
    assert gain == pytest.approx(noisy.mean() - base.mean()) and 0 < gain < at.needed_z(1) * se
    defaults = {"trial": 0, "val_accuracy": base.mean(), "hits": base}
    top = {"trial": 7, "val_accuracy": noisy.mean(), "hits": noisy}
    kept, why = at.choose(defaults, top)
    assert kept is defaults and why["kept"] == "defaults" and why["highest_trial"] == 7
    assert why["gain_val"] == pytest.approx(gain) and why["needed"] == pytest.approx(1.645 * se, rel=1e-3)

    better = base | (rng.random(800) < 0.5)  # right wherever the defaults are, and on half the other rows
    kept, why = at.choose(defaults, {"trial": 3, "val_accuracy": better.mean(), "hits": better})
    assert kept["trial"] == 3 and why["kept"] == "highest" and why["gain_val"] > why["needed"]
    assert at.choose(None, top)[0] is top and at.choose(defaults, None)[0] is defaults


def test_the_more_trials_the_highest_was_chosen_from_the_larger_the_gain_it_needs():
    """Bonferroni over the complete trials: z = 1.645 for one, 2.13 for three, 2.58 for ten, so a gain
    that would replace the defaults as the best of one trial does not as the best of ten."""
    assert [round(at.needed_z(k), 2) for k in (1, 3, 10)] == [1.64, 2.13, 2.58]
    assert at.needed_z(0) == at.needed_z(1)
    base = np.zeros(1000, dtype=bool)
    base[:800] = True
    top = base.copy()
    top[800:820] = True  # 20 rows more right
    top[:10] = False  # and 10 rows worse: +1.0 points net, z = 1.83
    gain, se = at.paired_gain(top, base)
    assert at.needed_z(1) < gain / se < at.needed_z(3)
    defaults = {"trial": 0, "val_accuracy": base.mean(), "hits": base}
    high = {"trial": 5, "val_accuracy": top.mean(), "hits": top}
    assert at.choose(defaults, high, 1)[0] is high
    kept, why = at.choose(defaults, high, 10)
    assert kept is defaults and why["compared"] == 10 and why["z_needed"] == pytest.approx(at.needed_z(10))


def test_the_closing_line_says_why_the_defaults_stayed():
    from textcnn.cli.train import autotune_line

    s = {"trials": 12, "complete": 5, "pruned": 7, "seconds": 297.2, "budget_seconds": 300.0, "best_trial": 0,
         "gain_val": 0.0, "choice": {"kept": "defaults", "highest_trial": 4, "gain_val": 0.004, "needed": 0.013,
                                     "compared": 4}}  # fmt: skip
    assert autotune_line(s) == (
        "autotune: 12 trials (5 complete, 7 pruned) in 297 s of 300 s; kept trial 0 (the defaults); +0.0 points of "
        "validation accuracy over the defaults (trial 4 scored +0.4 points, within the validation split's noise: the "
        "highest of 4 trials needed more than +1.3)"
    )
    del s["choice"]["compared"]  # an autotune.json written before the correction for the number of trials
    assert autotune_line(s).endswith("noise: it needed more than +1.3)")
    s.update(
        best_trial=4, gain_val=0.02, choice={"kept": "highest", "highest_trial": 4, "gain_val": 0.02, "needed": 0.013}
    )
    assert autotune_line(s).endswith("kept trial 4; +2.0 points of validation accuracy over the defaults")


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
