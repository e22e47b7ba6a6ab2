"""`textcnn benchmark`: stratified, deterministic folds; the protocol each dataset gets; fastText and
textcnn see identical splits and tokens; finished runs are reused; the summary has the issue's schema."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import toy_rows
from typer.testing import CliRunner

from textcnn.cli import app
from textcnn.config import holdout_fraction
from textcnn.measure import benchmark as bm
from textcnn.measure.render_benchmark import benchmark_markdown

TINY = ["train.epochs=1", "train.threads=1", "model.feature_maps=8", "model.embedding_dim=16", "train.batch_size=16"]


def _csv(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    _csv(root / "cvset" / "train.csv", toy_rows(120, seed=1))  # train only -> cross-validation
    _csv(root / "tested" / "train.csv", toy_rows(100, seed=2))
    _csv(root / "tested" / "test.csv", toy_rows(30, seed=3))
    _csv(root / "hidden" / "train.csv", toy_rows(100, seed=4))
    _csv(root / "hidden" / "validation.csv", toy_rows(30, seed=5))
    _csv(root / "hidden" / "test.csv", [(t, "") for t, _ in toy_rows(30, seed=6)])  # labels hidden
    return root


# ---------------------------------------------------------------------------------------------
# Folds


def test_folds_are_stratified_and_balanced():
    rng = np.random.default_rng(7)
    labels = rng.choice(3, size=1003, p=[0.6, 0.3, 0.1])
    folds = bm.stratified_folds(labels, 10, seed=0)
    assert folds.shape == labels.shape and set(folds.tolist()) == set(range(10))
    sizes = np.bincount(folds, minlength=10)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        per_fold = np.bincount(folds[labels == c], minlength=10)
        assert per_fold.max() - per_fold.min() <= 1  # each class's share, to within one row


def test_folds_are_deterministic_and_depend_on_the_seed():
    labels = np.array([0, 1] * 50)
    a, b = bm.stratified_folds(labels, 5, seed=0), bm.stratified_folds(labels, 5, seed=0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, bm.stratified_folds(labels, 5, seed=1))


def test_folds_reject_bad_k():
    with pytest.raises(bm.BenchmarkError, match="at least 2"):
        bm.stratified_folds([0, 1, 0, 1], 1)
    with pytest.raises(bm.BenchmarkError, match="cannot be split"):
        bm.stratified_folds([0, 1], 3)


# ---------------------------------------------------------------------------------------------
# Protocols and splits


def test_protocol_per_dataset(data_dir):
    cv = bm.plan_dataset("cvset", data_dir, folds=4)
    assert cv.protocol == "cv4" and cv.k == 4 and len(cv.texts) == 120 and cv.n_test == 30
    assert bm.plan_dataset("tested", data_dir).protocol == "test"
    hidden = bm.plan_dataset("hidden", data_dir)
    assert hidden.protocol == "validation" and len(hidden.test_texts) == 30


def test_suite_sets_as_senteval_ships_them_are_found(tmp_path):
    """SentEval's data/downstream: MR/rt-polarity.pos and .neg, CR/custrev.pos and .neg (upper-case folders
    of one file per class, one text a line)."""
    rows = toy_rows(120, seed=8)
    for folder, stem in (("MR", "rt-polarity"), ("CR", "custrev")):
        (tmp_path / folder).mkdir()
        for label, suffix in (("positive", "pos"), ("negative", "neg")):
            lines = "".join(f"{text}\n" for text, y in rows if y == label)
            (tmp_path / folder / f"{stem}.{suffix}").write_text(lines, encoding="utf-8")
    assert bm.find_datasets(tmp_path) == ["mr", "cr"]
    plan = bm.plan_dataset("cr", tmp_path, folds=4)
    assert plan.protocol == "cv4" and sorted(plan.label_names) == ["neg", "pos"]
    full = {"pos": "positive", "neg": "negative"}  # the label from the file's name: its suffix
    assert sorted((t, full[plan.label_names[y]]) for t, y in zip(plan.texts, plan.labels, strict=True)) == sorted(rows)
    # SST/binary/sentiment-{train,dev,test} (text<TAB>label) and TREC/train_5500.label beside TREC_10.label
    (tmp_path / "SST" / "binary").mkdir(parents=True)
    for split, part in (("train", rows[:80]), ("dev", rows[80:100]), ("test", rows[100:])):
        lines = "".join(f"{text}\t{int(y == 'positive')}\n" for text, y in part)
        (tmp_path / "SST" / "binary" / f"sentiment-{split}").write_text(lines, encoding="utf-8")
    (tmp_path / "TREC").mkdir()
    questions = [(f"{c}:other {text} ?", c) for (text, _), c in zip(rows, ["NUM", "LOC", "HUM"] * 40, strict=True)]
    (tmp_path / "TREC" / "train_5500.label").write_text("".join(q + "\n" for q, _ in questions[:100]), encoding="utf-8")
    (tmp_path / "TREC" / "TREC_10.label").write_text("".join(q + "\n" for q, _ in questions[100:]), encoding="utf-8")
    assert bm.find_datasets(tmp_path) == ["sst2", "mr", "cr", "trec"]
    sst2 = bm.plan_dataset("sst2", tmp_path)  # the preset's column 'sentence' is the hub's: here 'text'
    assert sst2.protocol == "test" and len(sst2.texts) == 80 and sst2.test_texts == [t for t, _ in rows[100:]]
    trec = bm.plan_dataset("trec", tmp_path)
    assert trec.protocol == "test" and sorted(trec.label_names) == ["HUM", "LOC", "NUM"] and len(trec.test_texts) == 20
    assert trec.texts[0] == f"{rows[0][0]} ?" and trec.label_names[trec.labels[0]] == "NUM"


def test_unit_splits_are_disjoint_and_cover_the_pool(data_dir):
    plan = bm.plan_dataset("cvset", data_dir, folds=4)
    scored = []
    for fold in range(4):
        s = bm.unit_split(plan, fold, seed=0, validation_fraction=0.1)
        parts = [set(s.train.tolist()), set(s.validation.tolist()), set(s.test.tolist())]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(parts[0] | parts[1] | parts[2]) == len(plan.texts)
        scored += s.test.tolist()
    assert sorted(scored) == list(range(len(plan.texts)))  # every row scored exactly once


def test_fasttext_and_textcnn_see_identical_splits_and_tokens(data_dir, tmp_path):
    """The unit's files feed both: same training rows (validation held out), same scored rows, and the
    words fastText gets are the tokens textcnn's tokenizer produces."""
    from textcnn.training.trainer import prepare

    plan = bm.plan_dataset("cvset", data_dir, folds=4)
    cfg = bm.dataset_config("cvset", data_dir, TINY)
    split = bm.unit_split(plan, 1, seed=0, validation_fraction=lambda n: holdout_fraction(cfg, n))
    folder = bm.write_split_files(plan, split, tmp_path / "unit")
    prepared = prepare(bm.unit_config(cfg, folder, seed=0))
    inputs = bm.fasttext_inputs(folder, cfg.tokenizer)

    names = prepared.label_names
    for part, n in (("train", len(split.train)), ("test", len(split.test))):
        enc = prepared.encoded[part]
        assert len(inputs[part]) == len(enc) == n
        assert [y for y, _ in inputs[part]] == [names[int(i)] for i in enc.labels]
    vocab = {i: w for w, i in prepared.tokenizer.get_vocab().items()}
    for (_, words), ids in zip(inputs["train"], prepared.encoded["train"].sequences(), strict=True):
        assert words == [vocab[int(i)] for i in ids]  # every training word is in the vocabulary
    expected_train = sorted(plan.texts[i] for i in split.train)
    assert sorted(json.loads(line)["text"] for line in (folder / "train.jsonl").read_text().splitlines()) == (
        expected_train
    )


def _tested_unit(data_dir, tmp_path):
    """The config, split and split files of the 'tested' set's one unit (10% held out)."""
    plan = bm.plan_dataset("tested", data_dir)
    split = bm.unit_split(plan, None, seed=0, validation_fraction=0.1)
    return bm.dataset_config("tested", data_dir), split, bm.write_split_files(plan, split, tmp_path / "unit")


def test_fasttext_runner_scores_the_unit(data_dir, tmp_path):
    pytest.importorskip("fasttext")
    cfg, split, folder = _tested_unit(data_dir, tmp_path)
    a = bm.run_fasttext(folder, cfg.tokenizer, "bigram", seed=0)
    assert a["n_train"] == len(split.train) == 90 and a["n_test"] == 30 and 0.0 <= a["accuracy"] <= 1.0
    assert bm.run_fasttext(folder, cfg.tokenizer, "bigram", seed=0)["accuracy"] == a["accuracy"]  # seeded


def _vectors_file(path, dim=8):
    """GloVe-format vectors for the toy words, the sentiment words apart on their first axis; 'absent' is not
    a training word."""
    from conftest import FILL, NEG, POS

    lines = []
    for i, w in enumerate([*POS, *NEG, *FILL, "absent"]):
        v = [(1.0 if w in POS else -1.0 if w in NEG else 0.0)] + [
            round(0.01 * ((i * 7 + j) % 13), 2) for j in range(1, dim)
        ]
        lines.append(" ".join([w, *map(str, v)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fasttext_vectors_file_holds_the_training_words_that_have_a_vector(tmp_path):
    src = _vectors_file(tmp_path / "glove.txt")
    out = tmp_path / "v.vec"
    info = bm.fasttext_vectors_file([["great", "film"], ["film", "unseenword"]], str(src), out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert info == {"dim": 8, "words_with_vectors": 2} and lines[0] == "2 8"
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[1:]}
    given = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in src.read_text().splitlines()}
    assert rows == {"great": given["great"], "film": given["film"]}  # no unseen word, no word not trained on


def test_fasttext_runner_starts_from_the_same_vectors(data_dir, tmp_path):
    pytest.importorskip("fasttext")
    cfg, _, folder = _tested_unit(data_dir, tmp_path)
    vectors = str(_vectors_file(tmp_path / "glove.txt"))
    r = bm.run_fasttext(folder, cfg.tokenizer, bm.VECTORS_VARIANT, seed=0, vectors=vectors)
    assert r["dim"] == 8 and 0 < r["words_with_vectors"] <= 24 and r["n_train"] == 90 and 0.0 <= r["accuracy"] <= 1.0
    with pytest.raises(bm.BenchmarkError, match="needs pretrained vectors"):
        bm.run_fasttext(folder, cfg.tokenizer, bm.VECTORS_VARIANT, seed=0)


# ---------------------------------------------------------------------------------------------
# The whole command


def _run(args):
    return CliRunner().invoke(app, ["benchmark", *args])


def test_benchmark_end_to_end_then_reused(data_dir, tmp_path):
    fasttext = bm.fasttext_available()
    out = tmp_path / "bench"
    args = ["cvset", "--data-dir", str(data_dir), "--folds", "3", "--max-folds", "2", "--seeds", "1", "--out", str(out)]
    args += [a for s in TINY for a in ("--set", s)] + (["--fasttext"] if fasttext else [])
    first = _run(args)
    assert first.exit_code == 0, first.output
    assert "cvset fold 2/3 seed 0" in first.output and "ETA" in first.output and "fold 3/3" not in first.output
    rep = json.loads((out / "benchmark.json").read_text())
    assert set(rep) == {"machine", "datasets"}
    cv = rep["datasets"]["cvset"]
    assert cv["protocol"] == "cv3" and cv["n_train"] == 80 and cv["n_test"] == 40
    stats = cv["textcnn"]["cnn"]
    assert set(stats) == {"accuracies", "median", "mean", "sd", "train_seconds"} and len(stats["accuracies"]) == 1
    assert "kim2014" not in cv
    if fasttext:
        assert set(cv["fasttext"]) == {"unigram", "bigram"}
    assert "Partial cross-validation (--max-folds): cvset: folds 1, 2 of 3." in (out / "benchmark.md").read_text()
    assert (out / "records.jsonl").is_file()
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 * (3 if fasttext else 1)

    again = _run(args)
    assert again.exit_code == 0, again.output
    assert again.output.count("(reused)") == len(records)
    assert json.loads((out / "benchmark.json").read_text())["datasets"] == rep["datasets"]


def test_a_dataset_given_as_a_path_writes_under_out_only(data_dir, tmp_path):
    assert bm.folder_name("/data/sets/trec") == "data-sets-trec" and bm.folder_name("mr") == "mr"
    assert bm.folder_name("stanfordnlp/sst2") == "stanfordnlp-sst2" and bm.folder_name("..") == "dataset"
    before = sorted(p.name for p in (data_dir / "cvset").rglob("*"))
    out = tmp_path / "bench"
    args = [str(data_dir / "cvset"), "--folds", "3", "--max-folds", "1", "--seeds", "1", "--out", str(out)]
    r = _run(args + [a for s in TINY for a in ("--set", s)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (data_dir / "cvset").rglob("*")) == before  # nothing written beside the data
    name = bm.folder_name(str(data_dir / "cvset"))
    assert [p.name for p in (out / "runs").iterdir()] == [name] and (out / "splits" / name).is_dir()


def test_benchmark_with_vectors_runs_fasttext_from_them_too(data_dir, tmp_path):
    pytest.importorskip("fasttext")
    out = tmp_path / "bench"
    vectors = _vectors_file(tmp_path / "glove.txt")
    args = ["cvset", "--data-dir", str(data_dir), "--folds", "3", "--max-folds", "1", "--seeds", "1", "--fasttext"]
    args += [a for s in [*TINY, "model.embedding_mode=non-static", f"model.embeddings={vectors}"] for a in ("--set", s)]
    r = _run([*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    ft = json.loads((out / "benchmark.json").read_text())["datasets"]["cvset"]["fasttext"]
    assert set(ft) == {"unigram", "bigram", bm.VECTORS_VARIANT}
    saved = json.loads(next((out / "runs").rglob(f"fasttext-{bm.VECTORS_VARIANT}/*/bench_result.json")).read_text())
    assert saved["settings"]["vectors"] == str(vectors) and saved["result"]["dim"] == 8
    md = (out / "benchmark.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| dataset | protocol"))
    assert "| fastText bigram + vectors | textcnn − it |" in header
    assert _run([*args, "--out", str(out)]).output.count("(reused)") == 4


def test_missing_fasttext_is_one_line(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(bm, "fasttext_available", lambda: False)
    r = _run(["cvset", "--data-dir", str(data_dir), "--fasttext", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2
    assert "pip install 'textcnn[baselines]'" in r.output and r.output.strip().count("\n") == 0


def test_no_dataset_and_no_suite_is_one_line(tmp_path):
    r = _run(["--data-dir", str(tmp_path), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "none of the suite sets" in r.output


def test_markdown_puts_the_three_side_by_side():
    s = {"accuracies": [0.80, 0.82, 0.81], "median": 0.81, "mean": 0.81, "sd": 0.01, "train_seconds": 12.0}
    ft = {"accuracies": [0.79], "median": 0.79, "mean": 0.79, "sd": 0.0, "train_seconds": 1.5}
    rep = {
        "machine": {"cpu": "test", "cores": 2, "threads": 1},
        "datasets": {
            "mr": {"protocol": "cv10", "n_train": 8636, "n_test": 960, "textcnn": {"cnn": s},
                   "fasttext": {"unigram": ft, "bigram": ft}, "kim2014": bm.KIM2014["mr"]},
        },
    }  # fmt: skip
    md = benchmark_markdown(rep, command="textcnn benchmark mr")
    row = next(line for line in md.splitlines() if line.startswith("| mr |"))
    assert "10-fold CV" in row and "81.0 ± 1.0" in row and "**+2.0**" in row and "76.1" in row and "+4.9" in row
    assert benchmark_markdown(rep, command="textcnn benchmark mr") == md  # deterministic
    from textcnn.measure.render_benchmark import _diff

    assert _diff(0.7560, 0.7557) == "+0.0" and _diff(0.7557, 0.7560) == "+0.0"  # level: neither bold nor -0.0
    assert _diff(0.7580, 0.7557) == "**+0.2**" and _diff(0.7557, 0.7580) == "-0.2"
    assert bm.KIM2014["sst2"]["multichannel"] == 0.881 and bm.KIM2014["trec"]["rand"] == 0.912


def test_records_without_a_time_are_summarized_and_shown_as_a_dash():
    """Records gathered from runs that kept no training time (docs/results/benchmark/cv_table.py) still
    give accuracies; the time is the median of those that have one, or a dash."""
    plan = bm.DatasetPlan("mr", "cv10", "x", ["a"] * 20, np.zeros(20, dtype=np.int64), ["neg", "pos"])

    def rec(seed, fold, acc, secs):
        return bm.RunRecord("mr", "textcnn", "cnn", fold, seed, acc, secs, 18, 2, "x")

    records = [rec(0, 0, 0.7, None), rec(0, 1, 0.8, 30.0), rec(1, 0, 0.9, None), rec(1, 1, 0.6, 10.0)]
    rep = bm.summarize(bm.BenchmarkResult({}, {"mr": plan}, records, {}))
    s = rep["datasets"]["mr"]["textcnn"]["cnn"]
    assert s["accuracies"] == pytest.approx([0.75, 0.75]) and s["train_seconds"] == 20.0
    rep = bm.summarize(bm.BenchmarkResult({}, {"mr": plan}, [rec(0, 0, 0.7, None)], {}))
    assert rep["datasets"]["mr"]["textcnn"]["cnn"]["train_seconds"] is None
    row = next(line for line in benchmark_markdown(rep).splitlines() if line.startswith("| mr |"))
    assert row.rstrip(" |").endswith("–")


def test_an_interrupted_run_is_resumed_when_its_settings_match(tmp_path):
    from textcnn.config import load_config, resolve_for_data, to_toml

    cfg = load_config("trec")
    started = load_config("trec")
    resolve_for_data(started, 500)  # what the run saved: the size-dependent fields filled in
    (tmp_path / "config.toml").write_text(to_toml(started))
    assert started.train.epochs == 25 and cfg.train.epochs is None
    assert bm.same_run_settings(tmp_path, cfg)
    assert not bm.same_run_settings(tmp_path, load_config("trec", sets=["train.lr=0.5"]))
    assert not bm.same_run_settings(tmp_path, load_config("trec", sets=["train.epochs=3"]))
    assert not bm.same_run_settings(tmp_path / "nowhere", cfg)
