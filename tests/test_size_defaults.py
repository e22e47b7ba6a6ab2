"""Defaults chosen from the training-set size (config.SIZE_DEFAULTS): which values, when, and the line
that says so; the resolved values are what a run folder records."""

from __future__ import annotations

import pytest
from conftest import toy_rows

from textcnn import events as ev
from textcnn import run as runlib
from textcnn.config import (
    AUTO_LENGTH,
    LARGE_DATA,
    SELECT_FRACTION,
    SIZE_DEFAULTS,
    Config,
    auto_max_length,
    holdout_fraction,
    load_config,
    pin_held_out,
    resolve_for_data,
)

SIZED = ("train.epochs", "train.evals_per_epoch", "train.patience", "model.embedding_dropout", "model.edge_padding",
         "train.select_by")  # fmt: skip


def values(cfg: Config) -> dict:
    return {k: getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) for k in SIZED}


def test_the_schema_leaves_the_size_dependent_fields_unset():
    assert set(SIZE_DEFAULTS["small"]) == set(SIZE_DEFAULTS["large"]) == set(SIZED)
    assert set(values(Config()).values()) == {None}
    assert set(values(load_config("sst2")).values()) == {None}  # the cnn model file no longer sets one


@pytest.mark.parametrize(("n", "regime"), [(1, "small"), (LARGE_DATA - 1, "small"), (LARGE_DATA, "large"),
                                           (67_349, "large")])  # fmt: skip
def test_resolve_for_data_fills_the_regime_and_says_why(n, regime):
    cfg = load_config("sst2")
    line = resolve_for_data(cfg, n)
    assert values(cfg) == SIZE_DEFAULTS[regime]
    assert f"{n:,} training examples" in line and f"{LARGE_DATA:,}" in line
    assert ("Kim (2014)" in line) == (regime == "small")
    assert all(f"{k}={v}" in line for k, v in SIZE_DEFAULTS[regime].items())
    assert resolve_for_data(cfg, n) is None  # nothing left unset: a resumed run's config stays as it was


def test_small_data_gets_kims_schedule_and_large_data_keeps_the_sst2_one():
    assert SIZE_DEFAULTS["small"] == {"train.epochs": 25, "train.evals_per_epoch": 1, "train.patience": 0,
                                      "model.embedding_dropout": 0.3, "model.edge_padding": True,
                                      "train.select_by": "last"}  # fmt: skip
    # SST-2 (67k training phrases) trains exactly as before the size rule.
    assert SIZE_DEFAULTS["large"] == {"train.epochs": 12, "train.evals_per_epoch": 4, "train.patience": 20,
                                      "model.embedding_dropout": 0.3, "model.edge_padding": False,
                                      "train.select_by": "accuracy"}  # fmt: skip


def test_early_stopping_asked_for_keeps_the_best_pass_and_never_the_last():
    from textcnn.config import ConfigError

    cfg = load_config("x.csv", sets=["train.patience=3"])
    resolve_for_data(cfg, 500)
    assert (cfg.train.patience, cfg.train.select_by) == (3, "accuracy")
    plain = load_config("x.csv")
    resolve_for_data(plain, 500)
    assert (plain.train.patience, plain.train.select_by) == (0, "last")
    with pytest.raises(ConfigError, match="train.select_by=last keeps every pass"):
        load_config("x.csv", sets=["train.patience=3", "train.select_by=last"])


def test_values_given_by_the_user_are_kept():
    cfg = load_config("sst2", sets=["train.epochs=7", "model.embedding_dropout=0.1"])
    line = resolve_for_data(cfg, 500)
    assert (cfg.train.epochs, cfg.model.embedding_dropout) == (7, 0.1)
    assert (cfg.train.evals_per_epoch, cfg.train.patience) == (1, 0)
    assert "train.epochs" not in line and "embedding_dropout" not in line and "train.patience=0" in line
    trec = load_config("trec", model="lstm")  # model files may fix a size-dependent field
    resolve_for_data(trec, 100_000)
    assert trec.model.embedding_dropout == 0.0 and trec.train.epochs == 12


def test_a_run_records_the_resolved_values_and_reports_the_choice(tmp_path):
    from textcnn.training.trainer import train

    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(200)))
    sets = ["model.embedding_dim=8", "model.feature_maps=4", "train.epochs=2", "train.threads=1",
            "train.checkpoint_every_minutes=0"]  # fmt: skip
    events = []
    run_dir = train(load_config(str(csv), sets=sets), tmp_path / "run", callback=events.append)
    saved = runlib.load_run(run_dir).config
    assert values(saved) == {**SIZE_DEFAULTS["small"], "train.epochs": 2}
    (data,) = [e for e in events if isinstance(e, ev.DataLoaded)]
    assert any(line.startswith("defaults for the data size:") and "train.epochs" not in line for line in data.lines)
    assert len(runlib.read_jsonl(run_dir / "metrics.jsonl")) == 2  # one validation pass per epoch


@pytest.mark.parametrize(
    ("n", "sets", "share"),
    [(5_452, [], 0.02), (9_596, [], 0.02), (2_000, [], 0.05), (500, [], SELECT_FRACTION), (1_000, [], SELECT_FRACTION),
     (67_349, [], 0.02),  # large, held out of train: the last pass is kept (HELD_OUT_DEFAULTS)
     (67_349, ["train.select_by=accuracy"], SELECT_FRACTION), (67_349, ["train.patience=20"], SELECT_FRACTION),
     (5_452, ["train.select_by=accuracy"], SELECT_FRACTION), (5_452, ["train.patience=3"], SELECT_FRACTION),
     (67_349, ["train.select_by=last", "train.patience=0"], 0.02), (5_452, ["data.validation_fraction=0.3"], 0.3)],
)  # fmt: skip
def test_the_held_out_share_is_a_selections_where_one_is_made_else_a_watch(n, sets, share):
    assert holdout_fraction(load_config("x.csv", sets=sets), n) == pytest.approx(share)


def test_a_run_that_keeps_its_last_epoch_holds_out_a_watch_and_records_its_share(tmp_path):
    from textcnn.training.prepare import prepare

    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(2_000)))
    cfg = load_config(str(csv))
    prepared = prepare(cfg)
    assert (len(prepared.encoded["train"]), len(prepared.encoded["validation"])) == (1_900, 100)  # 5%: 100 rows
    assert cfg.data.validation_fraction == pytest.approx(0.05)  # what the run's config.toml will hold
    assert any("held out 100 training rows (5%" in line and "only watch training" in line
               for line in prepared.report_lines)  # fmt: skip
    chooses = load_config(str(csv), sets=["train.select_by=accuracy"])
    prepared = prepare(chooses)
    assert len(prepared.encoded["validation"]) == 200 and chooses.data.validation_fraction == SELECT_FRACTION


def test_the_data_report_says_when_training_texts_are_cut_fresh_and_cached(tmp_path):
    from textcnn.training.prepare import prepare

    csv = tmp_path / "long.csv"
    rows = [(" ".join((t.split() * 50)[: 20 + i % 30]), y) for i, (t, y) in enumerate(toy_rows(400))]  # 20-49 words
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    for _ in range(2):  # tokenized now, then read back from the datasets cache
        prepared = prepare(load_config(str(csv), sets=["tokenizer.max_length=30"]))
        [line] = [x for x in prepared.report_lines if "tokenizer.max_length" in x]
        n = len(prepared.encoded["train"])
        assert line.startswith(f"note: {prepared.encoded['train'].truncated:,} of {n:,} training texts (")
        assert prepared.encoded["train"].truncated > n // 2 and "--set tokenizer.max_length=" in line
    quiet = prepare(load_config(str(csv)))  # max_length 256: nothing is cut, nothing said
    assert not any("tokenizer.max_length" in x for x in quiet.report_lines)


@pytest.mark.parametrize(("lengths", "chosen"), [
    ([], 256), ([5] * 100, 256), ([257] * 100, 320), ([3_000] * 100, 1_024),
    ([300] * 99 + [5_000], 320), ([10] * 99 + [5_000], 256), ([10] * 98 + [700, 5_000], 704),  # 99 of 100 whole
])  # fmt: skip
def test_an_unset_max_length_reads_99_percent_whole_in_multiples_of_64_within_bounds(lengths, chosen):
    assert auto_max_length(lengths) == chosen
    assert Config().tokenizer.max_length is None and load_config("sst2").tokenizer.max_length is None


def test_long_texts_are_read_whole_by_default_and_the_run_records_the_length(tmp_path):
    from textcnn.inference.predictor import Predictor
    from textcnn.training.prepare import prepare
    from textcnn.training.trainer import train

    csv = tmp_path / "long.csv"
    rows = [(" ".join((t.split() * 80)[: 300 + i % 80]), y) for i, (t, y) in enumerate(toy_rows(200))]  # 300-379
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    sets = ["model.embedding_dim=8", "model.feature_maps=4", "train.epochs=1", "train.threads=1"]
    events = []
    run_dir = train(load_config(str(csv), sets=sets), tmp_path / "run", callback=events.append)
    assert runlib.load_run(run_dir).config.tokenizer.max_length == 384 > AUTO_LENGTH["least"]
    (data,) = [e for e in events if isinstance(e, ev.DataLoaded)]
    assert [x for x in data.lines if "max_length" in x] == [
        "note: tokenizer.max_length=384, chosen from the data: reads 100.0% of the training texts whole (the 99th "
        "percentile of their lengths, within 256-1024; a step's time grows with its longest row; --set "
        "tokenizer.max_length=N to choose)"
    ]
    pred = Predictor.from_run(run_dir).predict([rows[0][0]])[0]  # read whole: 300+ tokens, none cut
    assert pred.n_tokens >= 300 and not pred.truncated
    longer = tmp_path / "longer.csv"  # one text past the chosen length: one note says both
    longer.write_text(csv.read_text() + " ".join(["fine"] * 2_000) + ",positive\n")
    notes = [x for x in prepare(load_config(str(longer))).report_lines if "max_length" in x]
    assert notes == [
        "note: tokenizer.max_length=384, chosen from the data: reads 99.4% of the training texts whole, 1 of 181 "
        "cut to their first 384 tokens (the 99th percentile of their lengths, within 256-1024; a step's time grows "
        "with its longest row; --set tokenizer.max_length=N to choose)"
    ]
    for sets in ([], ["tokenizer.max_length=200"]):  # the cached ids cut to the chosen length; a given one kept
        prepared = prepare(load_config(str(csv), sets=sets))
        assert prepared.cfg.tokenizer.max_length == (384 if not sets else 200)
        enc, limit = prepared.encoded["train"], prepared.cfg.tokenizer.max_length
        assert (enc.lengths == enc.n_tokens.clip(max=limit)).all() and enc.truncated == (enc.n_tokens > limit).sum()
        assert (enc.truncated == 0) if not sets else (enc.truncated > len(enc) // 2)


def test_the_size_regime_is_that_of_the_rows_before_the_hold_out(tmp_path):
    # 21,000 rows: the large regime, whatever share is held out (asked for here: 10%, so 18,900 train
    # rows, under 20,000, still train by the large schedule)
    from textcnn.training.prepare import prepare

    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(21_000)))
    cfg = load_config(str(csv), sets=["data.validation_fraction=0.1"])
    prepared = prepare(cfg)
    assert (len(prepared.encoded["train"]), prepared.held_out, prepared.n_train_rows) == (18_900, 2_100, 21_000)
    line = resolve_for_data(cfg, prepared.n_train_rows, held_out=True)
    assert "21,000 training examples >= 20,000" in line and "the last pass kept" in line
    assert (cfg.train.epochs, cfg.train.evals_per_epoch, cfg.train.select_by, cfg.train.patience) == (12, 4, "last", 0)
    plain = load_config(str(csv))  # unset share: a large set's held-out rows only watch, 2% of them
    prepared = prepare(plain)
    assert (prepared.held_out, prepared.n_train_rows) == (420, 21_000)
    own = tmp_path / "own"  # a validation split of its own: nothing held out, the train split's size
    own.mkdir()
    (own / "train.csv").write_text(csv.read_text())
    (own / "validation.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(50, seed=1)))
    prepared = prepare(load_config(str(own)))
    assert (prepared.held_out, prepared.n_train_rows) == (0, 21_000)


@pytest.mark.parametrize("n", [5_452, 67_349])
def test_validation_rows_held_out_of_train_keep_the_last_pass_at_every_size(n):
    given, held = load_config("x.csv"), load_config("x.csv")
    resolve_for_data(given, n)
    resolve_for_data(held, n, held_out=True)
    assert (held.train.select_by, held.train.patience) == ("last", 0)
    large = n >= LARGE_DATA
    assert (given.train.select_by, given.train.patience) == (("accuracy", 20) if large else ("last", 0))
    assert {k: v for k, v in values(held).items() if k not in ("train.select_by", "train.patience")} == {
        k: v for k, v in values(given).items() if k not in ("train.select_by", "train.patience")
    }
    early = load_config("x.csv", sets=["train.patience=5"])  # early stopping asked for: the best pass
    resolve_for_data(early, n, held_out=True)
    assert (early.train.select_by, early.train.patience) == ("accuracy", 5)


def test_pin_held_out_fixes_only_what_a_split_of_its_own_would_resolve_otherwise():
    small, large = load_config("x.csv"), load_config("x.csv")
    pin_held_out(small, 5_452)  # Kim-sized: the last epoch either way, nothing pinned (benchmark runs reused)
    assert (small.train.select_by, small.train.patience) == (None, None)
    pin_held_out(large, 67_349)
    assert (large.train.select_by, large.train.patience) == ("last", 0)
    resolve_for_data(large, 67_349)  # the run then sees a validation split of its own: the pins stay
    assert (large.train.select_by, large.train.patience, large.train.epochs) == ("last", 0, 12)
    chosen = load_config("x.csv", sets=["train.select_by=accuracy"])
    pin_held_out(chosen, 67_349)
    assert (chosen.train.select_by, chosen.train.patience) == ("accuracy", 0)  # no early stop unless asked
