"""Training end to end on a tiny separable task: learning, run folder, determinism, resume, errors."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import toy_rows

import textcnn
from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import ModelConfig, load_config
from textcnn.errors import RunError
from textcnn.models import build_model
from textcnn.training.trainer import TrainingError, TrainingInterrupted, request_stop, train


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("toy") / "toy.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(400)))
    return p


TINY = ["model.embedding_dim=16", "model.feature_maps=8", "train.log_every=5", "train.checkpoint_every_minutes=0"]


def tiny_cfg(csv, *sets, model=None):
    return load_config(str(csv), model=model, sets=[*TINY, *sets])


def read_metrics(run_dir):
    return runlib.read_jsonl(run_dir / "metrics.jsonl")


def without_timings(metrics):
    """metrics.jsonl records less the wall-clock fields, which differ between identical runs."""
    return [{k: v for k, v in r.items() if "second" not in k and "_per_s" not in k} for r in metrics]


def test_cnn_learns_a_separable_task_and_writes_a_complete_run(toy_csv, tmp_path):
    events = []
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=6", "train.optimizer=adam", "train.lr=0.01"), tmp_path / "run",
                    callback=events.append)  # fmt: skip
    for f in ("config.toml", "tokenizer.json", "model.safetensors", "labels.json", "metrics.jsonl", "summary.json"):
        assert (run_dir / f).is_file(), f
    assert not (run_dir / "checkpoint.safetensors").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_val_accuracy"] >= 0.9
    assert 0.0 <= summary["best_val_accuracy"] <= 1.0
    assert summary["test_accuracy"] is None and summary["has_test"] is False
    for key in ("params", "train_seconds", "epochs_run", "dataset", "model"):
        assert key in summary
    assert json.loads((run_dir / "labels.json").read_text()) == ["negative", "positive"]
    metrics = read_metrics(run_dir)
    per_epoch = runlib.load_run(run_dir).config.train.evals_per_epoch  # resolved from the data size
    assert len(metrics) == summary["epochs_run"] * per_epoch
    assert sum(r["end_of_epoch"] for r in metrics) == summary["epochs_run"]
    assert metrics[-1]["end_of_epoch"] and metrics[-1]["epoch_seconds"] > 0
    kinds = [type(e) for e in events]
    assert kinds[:2] == [ev.DataLoaded, ev.TrainingStarted] and kinds[-1] is ev.TrainingEnded
    assert {ev.StepDone, ev.Evaluated} <= set(kinds)
    evals = [e for e in events if isinstance(e, ev.Evaluated)]
    assert [e.record() for e in evals] == metrics  # every validation pass is one metrics.jsonl record


def test_summary_peak_memory_is_the_runs_own_not_the_processes(toy_csv, tmp_path):
    """A benchmark or autotune process trains many runs; each summary.json has its own run's peak."""
    from textcnn.runtime import peak_rss_mb, reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("no /proc/self/clear_refs here: the peak cannot be reset")
    block = np.ones(80_000_000)  # 610 MiB, every page touched, freed before the run starts
    held = peak_rss_mb()
    del block
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=1"), tmp_path / "run")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["peak_rss_mb"] < held - 300  # the tiny run itself adds ~200 MiB (torch, data, model)


def test_validation_passes_are_not_training_time(toy_csv, tmp_path, monkeypatch):
    """epoch_seconds and examples/s leave the validation passes out; train_seconds (time to accuracy)
    counts each pass once. On a clock that moves 1 us a reading, each pass takes 0.4 s more."""
    from textcnn.training import trainer as trainer_mod

    clock = {"now": 0.0}

    def perf_counter():
        clock["now"] += 1e-6
        return clock["now"]

    real = trainer_mod.evaluate

    def slow(*args, **kwargs):
        clock["now"] += 0.4
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_mod.time, "perf_counter", perf_counter)
    monkeypatch.setattr(trainer_mod, "evaluate", slow)
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=1", "train.evals_per_epoch=4"), tmp_path / "run")
    last = read_metrics(run_dir)[-1]
    assert len(read_metrics(run_dir)) == 4
    assert last["epoch_seconds"] < 0.4  # three of the passes were counted here before (>= 1.2 s)
    assert 1.6 <= last["train_seconds"] - last["epoch_seconds"] < 1.7  # four passes once (seven before: >= 2.8)


def test_reloaded_run_reproduces_the_best_validation_accuracy(toy_csv, tmp_path):
    from textcnn.data.batching import make_split
    from textcnn.training.trainer import evaluate, prepare

    cfg = tiny_cfg(toy_csv, "train.epochs=3")
    run_dir = train(cfg, tmp_path / "run")
    loaded = runlib.load_run(run_dir)
    prepared = prepare(cfg, tokenizer=loaded.tokenizer)
    val = make_split(prepared.encoded["validation"], prepared.pad_id)
    summary = json.loads((run_dir / "summary.json").read_text())
    acc = evaluate(loaded.model, val, min_length=loaded.model.min_length, prec=summary["precision"])["accuracy"]
    assert acc == pytest.approx(summary["best_val_accuracy"])  # scored in the precision training scored in


def test_a_pass_with_many_tokens_per_word_scores_a_cnn_folded_with_the_same_results():
    from textcnn.data.batching import make_split
    from textcnn.data.tokenizer import Encoded
    from textcnn.models import build_model
    from textcnn.models.kim import FoldedKimCNN
    from textcnn.training import trainer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 12, 300)  # empty texts included
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    enc = Encoded(rng.integers(2, 40, offsets[-1]), offsets, rng.integers(0, 3, 300), 0)
    split = make_split(enc, pad_id=0)
    model = build_model(load_config(sets=["model.widths=2,3", "model.feature_maps=6", "model.embedding_dim=8",
                                          "model.edge_padding=true"]).model, 40, 3)  # fmt: skip
    n = int(lengths.sum())
    assert n >= trainer.FOLD_TOKENS_PER_ROW * 40  # this pass folds ...
    assert isinstance(trainer.scoring_form(model, n), FoldedKimCNN)
    assert trainer.scoring_form(model, 79) is model  # ... a short one does not
    folded = trainer.evaluate(model, split, batch_size=32, min_length=model.min_length)
    bf16 = trainer.evaluate(model, split, batch_size=32, min_length=model.min_length, prec="bf16")
    assert bf16["loss"] == folded["loss"]  # a bf16 run's large passes fold too, and score in fp32
    with mock.patch.object(trainer, "FOLD_TOKENS_PER_ROW", 10**9):
        plain = trainer.evaluate(model, split, batch_size=32, min_length=model.min_length)
    assert np.array_equal(folded["predictions"], plain["predictions"])
    assert folded["accuracy"] == plain["accuracy"] and folded["n"] == plain["n"] == 300
    assert folded["loss"] == pytest.approx(plain["loss"], rel=1e-6)


def test_same_seed_same_metrics(toy_csv, tmp_path):
    a = train(tiny_cfg(toy_csv, "train.epochs=2"), tmp_path / "a")
    b = train(tiny_cfg(toy_csv, "train.epochs=2"), tmp_path / "b")
    ma, mb = read_metrics(a), read_metrics(b)
    assert without_timings(ma) == without_timings(mb)


def _stop_at(step):
    def cb(e):
        if isinstance(e, ev.StepDone) and e.global_step == step:
            request_stop()

    return cb


@pytest.mark.parametrize(
    ("optimizer", "schedule"), [("adadelta", "constant"), ("adam", "constant"), ("adam", "linear")]
)
def test_interrupted_and_resumed_run_equals_uninterrupted(toy_csv, tmp_path, optimizer, schedule):
    sets = [
        "train.epochs=3",
        f"train.optimizer={optimizer}",
        "train.lr=0.01" if optimizer == "adam" else "train.lr=1.0",
        f"train.lr_schedule={schedule}",  # linear: the resumed run goes on down the same slope
    ]
    full = train(tiny_cfg(toy_csv, *sets), tmp_path / "full")
    with pytest.raises(TrainingInterrupted) as e:
        train(tiny_cfg(toy_csv, *sets), tmp_path / "cut", callback=_stop_at(10))  # mid-epoch 2 (8 steps/epoch)
    assert "textcnn train --resume" in str(e.value)
    assert (tmp_path / "cut" / "checkpoint.safetensors").is_file()
    resumed = train(resume=tmp_path / "cut")
    wa = runlib.load_tensors(full / "model.safetensors")
    wb = runlib.load_tensors(resumed / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert without_timings(read_metrics(full)) == without_timings(read_metrics(resumed))


def test_existing_run_folder_is_not_overwritten(toy_csv, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="already exists; pass --overwrite"):
        train(tiny_cfg(toy_csv, "train.epochs=1"), out)
    assert (out / "keep.txt").read_text() == "mine"
    train(tiny_cfg(toy_csv, "train.epochs=1"), out, overwrite=True)
    assert (out / "model.safetensors").is_file()


def test_non_finite_loss_stops_with_a_clear_error(toy_csv, tmp_path):
    with pytest.raises(TrainingError, match="loss became"):
        train(tiny_cfg(toy_csv, "train.epochs=2", "train.optimizer=sgd", "train.lr=1e30", "model.max_norm=none"),
              tmp_path / "run")  # fmt: skip


def test_early_stopping_and_budget(toy_csv, tmp_path):
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=50", "train.patience=1", "train.evals_per_epoch=2"), tmp_path / "a")
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["stopped_early"] and s["epochs_run"] < 50
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=1000", "train.max_seconds=1.0", "train.patience=0"), tmp_path / "b")
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["epochs_run"] < 1000 and s["train_seconds"] < 10


def test_early_stopping_keeps_the_best_accuracy_or_the_lowest_loss():
    from textcnn.training.early_stopping import EarlyStopping

    evals = [(0.70, 0.60, 0.50), (0.72, 0.55, 0.66), (0.75, 0.58, 0.61), (0.74, 0.62, 0.64)]  # acc, loss, F1
    picks = {}
    for by in ("accuracy", "loss", "macro_f1", "last"):
        stopper = EarlyStopping(patience=2, by=by)
        for epoch, (acc, loss, f1) in enumerate(evals, start=1):
            stopper.update(acc, loss, epoch, {"w": torch.tensor([float(epoch)])}, macro_f1=f1)
        picks[by] = (stopper.best_epoch, stopper.best_accuracy, float(stopper.best_weights["w"]), stopper.should_stop)
        restored = EarlyStopping(patience=2, by=by)
        restored.load_state_dict(stopper.state_dict())
        assert restored.state_dict()["best_score"] == stopper.state_dict()["best_score"]
    # by loss: pass 2 (the lowest loss) is kept with its own accuracy, and two worse passes stop training;
    # "last" keeps the latest pass whatever it scored, and never stops early
    # by macro-F1: pass 2 as well (0.66), though pass 3 is the more accurate
    assert picks == {"accuracy": (3, 0.75, 3.0, False), "loss": (2, 0.72, 2.0, True),
                     "macro_f1": (2, 0.72, 2.0, True), "last": (4, 0.74, 4.0, False)}  # fmt: skip


@pytest.mark.parametrize("by", ["loss", "macro_f1", "last"])
def test_train_keeps_the_pass_select_by_names(toy_csv, tmp_path, by):
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=6", f"train.select_by={by}"), tmp_path / "run")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    s = json.loads((run_dir / "summary.json").read_text())
    best = {"loss": lambda r: -r["val_loss"], "macro_f1": lambda r: r["val_macro_f1"]}
    kept = max(records, key=best[by]) if by in best else records[-1]  # the first of equals, as the stopper
    assert (s["best_epoch"], s["best_val_accuracy"]) == (kept["epoch"], kept["val_accuracy"])
    assert runlib.load_run(run_dir).model is not None


@pytest.mark.parametrize("model", ["cnn2d", "image2d", "lstm"])
def test_every_model_trains(toy_csv, tmp_path, model):
    sets = ["train.epochs=4", "model.channels=4,8", "model.hidden_size=8", "train.optimizer=adam", "train.lr=0.01"]
    run_dir = train(tiny_cfg(toy_csv, *sets, model=model), tmp_path / model)
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["model"] == model
    assert s["best_val_accuracy"] > 0.6
    assert runlib.load_run(run_dir).model is not None


def test_labels_are_sorted_string_ids(toy_csv, tmp_path):
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=1"), tmp_path / "run")
    cfg = runlib.load_run(run_dir).config
    assert cfg.data.dataset == str(toy_csv)
    assert np.isfinite(json.loads((run_dir / "summary.json").read_text())["train_seconds"])


def test_big_validation_splits_are_subsampled_and_the_precision_is_recorded(toy_csv, tmp_path):
    from textcnn.runtime import resolve_precision

    events = []
    run_dir = train(tiny_cfg(toy_csv, "train.epochs=1", "train.eval_max_examples=15"), tmp_path / "run",
                    callback=events.append)  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["validation_examples"] == 15  # of the 40 held out
    assert summary["precision"] == resolve_precision("auto", torch.device("cpu"))
    (loaded,) = [e for e in events if isinstance(e, ev.DataLoaded)]
    assert any("fixed sample of 15 of the 40 validation examples" in line for line in loaded.lines)
    (started,) = [e for e in events if isinstance(e, ev.TrainingStarted)]
    assert started.precision == summary["precision"]


class IdsAsFeatures(torch.nn.Module):
    """A plain module under `train_step`, which calls model(ids, lengths): the "ids" are its features."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, ids, lengths):
        return self.inner(ids)


def test_label_smoothing_trains_against_the_smoothed_targets():
    from textcnn.config import ConfigError
    from textcnn.training.trainer import train_step

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))

    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the loss of these weights only
    batch = (x, torch.ones(8, dtype=torch.long), y)
    plain, _ = train_step(IdsAsFeatures(model), opt, batch, prec="fp32", max_norm=None, fc_weight=None)
    smooth, _ = train_step(IdsAsFeatures(model), opt, batch, prec="fp32", max_norm=None, fc_weight=None,
                           label_smoothing=0.2)  # fmt: skip
    logp = torch.log_softmax(model(x), dim=1)
    target = torch.full((8, 3), 0.2 / 3).scatter_add_(1, y[:, None], torch.full((8, 1), 0.8))
    assert smooth.item() == pytest.approx(-(target * logp).sum(1).mean().item(), rel=1e-6)
    assert plain.item() == pytest.approx(torch.nn.functional.nll_loss(logp, y).item(), rel=1e-6)
    with pytest.raises(ConfigError, match=r"train.label_smoothing=1.0 must be in \[0, 1\)"):
        load_config("x.csv", sets=["train.label_smoothing=1.0"])


def test_bf16_cpu_batches_over_64_tokens_are_padded_to_multiples_of_8_and_score_the_same():
    from textcnn.training.trainer import step_length

    assert [step_length(n, True) for n in (1, 37, 64, 65, 72, 73, 250)] == [1, 37, 64, 72, 72, 80, 256]
    assert [step_length(n, False) for n in (65, 73, 250)] == [65, 73, 250]
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="cnn", embedding_dim=8, feature_maps=4), 50, 3).eval()
    ids = torch.randint(1, 50, (3, 69))
    lengths = torch.tensor([69, 20, 5])
    longer = torch.cat([ids, torch.zeros(3, 3, dtype=ids.dtype)], dim=1)  # the 3 pad columns step_length adds
    assert torch.allclose(model(ids, lengths), model(longer, lengths), atol=1e-6)


@pytest.mark.parametrize("model", ["cnn", "lstm"])
def test_unk_vector_zero_gives_unknown_words_a_zero_vector(toy_csv, tmp_path, model):
    run = train(tiny_cfg(toy_csv, "train.epochs=1", "model.unk_vector=zero", model=model), tmp_path / "zero")
    weights = runlib.load_tensors(run / "model.safetensors")["embedding.weight"]
    assert torch.count_nonzero(weights[1]) == 0 and torch.count_nonzero(weights[2]) > 0  # [UNK] is id 1
    run = train(tiny_cfg(toy_csv, "train.epochs=1", model=model), tmp_path / "random")
    assert torch.count_nonzero(runlib.load_tensors(run / "model.safetensors")["embedding.weight"][1]) > 0


def test_balanced_class_weights_are_n_over_k_times_the_class_count():
    from textcnn.training.trainer import class_weights

    assert class_weights("none", np.array([0, 0, 1]), 2) is None
    w = class_weights("balanced", np.array([0, 0, 0, 1, -1]), 2)  # an unlabelled row (-1) counts for nothing
    assert w.dtype == torch.float32 and w.tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])
    w = class_weights("balanced", np.array([0, 0, 2]), 3)  # class 1 has no training rows: k = 2, its weight 0
    assert w.tolist() == pytest.approx([3 / (2 * 2), 0.0, 3 / (2 * 1)])
    from textcnn.config import ConfigError

    with pytest.raises(ConfigError, match="train.class_weight='inverse' is not one of none, balanced"):
        load_config("x.csv", sets=["train.class_weight=inverse"])


def test_class_weight_trains_on_the_weighted_loss():
    from textcnn.training.trainer import train_step

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])

    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the loss of these weights only
    w = torch.tensor([0.5, 2.0, 4.0])
    loss, _ = train_step(IdsAsFeatures(model), opt, (x, torch.ones(8, dtype=torch.long), y), prec="fp32", max_norm=None,
                         fc_weight=None, class_weight=w)  # fmt: skip
    nll = -torch.log_softmax(model(x), dim=1)[torch.arange(8), y]
    assert loss.item() == pytest.approx((w[y] * nll).sum().item() / w[y].sum().item(), rel=1e-6)


def test_balanced_class_weight_moves_an_ambiguous_text_towards_the_rare_class(tmp_path):
    """The same text labelled negative 9 times in 10: unweighted, the model gives it p(positive) near or
    below 0.1; weighted by n / (k * n_c) (positive rows 3.7 times a negative one here), well above that.
    The data report prints the weights and the run records the setting."""
    csv = tmp_path / "imbalanced.csv"
    rows = [("a meh film", "negative")] * 180 + [("a meh film", "positive")] * 20
    toy = toy_rows(200)
    rows += [t for t in toy if t[1] == "negative"][:40] + [t for t in toy if t[1] == "positive"][:40]
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    sets = ["train.epochs=8", "train.optimizer=adam", "train.lr=0.01", "data.validation_fraction=0.1"]
    p_positive = {}
    for kind in ("none", "balanced"):
        events = []
        run_dir = train(tiny_cfg(csv, *sets, f"train.class_weight={kind}"), tmp_path / kind, callback=events.append)
        (loaded,) = [e for e in events if isinstance(e, ev.DataLoaded)]
        notes = [line for line in loaded.lines if line.startswith("class weights")]
        assert bool(notes) == (kind == "balanced")
        run = textcnn.load_run(run_dir)
        assert run.config.train.class_weight == kind
        [p] = run.predict(["a meh film"])
        p_positive[kind] = p.probabilities["positive"]
    assert p_positive["none"] < 0.1 and p_positive["balanced"] > 2 * p_positive["none"]
    # 280 rows, 220 negative and 60 positive; 90% of each in train: 252 rows, 198 / 54
    assert notes == [
        f"class weights (balanced, train.class_weight): negative {252 / 396:.3g}, positive {252 / 108:.3g}"
    ]


def test_each_pass_records_the_macro_f1_of_its_predictions():
    from textcnn.inference.metrics import classification_report
    from textcnn.training.trainer import _macro_f1

    labels = torch.tensor([0, 0, 0, 1, 1, 2, -1, -1])  # -1: unlabelled rows, not scored
    preds = np.array([0, 0, 1, 1, 1, 1, 2, 0])
    expected = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1], ["0", "1", "2"]).macro_f1
    assert _macro_f1(labels, preds, 3) == pytest.approx(expected) == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
    assert np.isnan(_macro_f1(torch.tensor([-1, -1]), np.array([0, 1]), 2))
