"""Tests for textcnn.data.sources: sources, formats, columns, labels, splits, messy rows, presets, samples."""

from __future__ import annotations

import gzip
import io
import json
import logging
import runpy
from pathlib import Path

import datasets
import pytest
from conftest import REPO, needs_shared_data, shared_data_dir

from textcnn.config import CONFIG_DIR, DataConfig, load_config, read_toml
from textcnn.data import cleaning, report
from textcnn.data import sources as D
from textcnn.data.labels import NO_LABEL, Labels
from textcnn.data.sources import DataError, load_data, load_split
from textcnn.inference.io import read_texts
from textcnn.inference.predictor import PredictError

REAL_LOAD_DATASET = datasets.load_dataset

POS = ["a lovely warm film", "great acting and a moving story", "I enjoyed every minute", "superb and clever"]
NEG = ["a dull boring mess", "the plot makes no sense", "I wanted my money back", "flat and lifeless"]


def rows(n: int = 20) -> list[dict]:
    """n distinct labelled rows, alternating positive / negative."""
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        base = (POS if label == "pos" else NEG)[(i // 2) % 4]
        out.append({"text": f"{base} number {i}", "label": label})
    return out


def write_csv(path: Path, header: list[str], body: list[list], sep: str = ",", newline: str = "\n") -> Path:
    lines = [sep.join(header)] + [sep.join(str(c) for c in r) for r in body]
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def hub_dataset(n_train: int = 20, test_label: int | None = -1) -> datasets.DatasetDict:
    """An in-memory stand-in for a hub dataset with a ClassLabel and an unlabelled test split."""
    feats = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    r = rows(n_train)
    train = {"sentence": [x["text"] for x in r], "label": [int(x["label"] == "pos") for x in r]}
    val = {"sentence": ["nice one", "awful one", "good fun", "bad stuff"], "label": [1, 0, 1, 0]}
    test = {"sentence": ["what a film", "so so"], "label": [test_label if test_label is not None else 1, -1]}
    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(train, features=feats),
            "validation": datasets.Dataset.from_dict(val, features=feats),
            "test": datasets.Dataset.from_dict(test, features=feats),
        }
    )


@pytest.fixture
def fake_hub(monkeypatch):
    """Replace datasets.load_dataset for hub ids (local builders still work); records the calls."""
    calls: list[tuple] = []
    known = {
        "stanfordnlp/sst2": hub_dataset(),
        "someone/reviews": hub_dataset(),
        "dair-ai/emotion": hub_dataset().rename_column("sentence", "text"),
    }

    def fake(path, name=None, *args, **kwargs):
        if path in known:
            calls.append((path, name))
            return known[path]
        if path in ("csv", "json", "parquet", "arrow") or Path(path).exists():
            return REAL_LOAD_DATASET(path, name, *args, **kwargs)
        calls.append((path, name))
        raise ConnectionError(f"Couldn't reach '{path}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", fake)
    return calls


def assert_clean(ld: D.LoadedData) -> None:
    for name, ds in ld.splits.items():
        assert ds.column_names == ["text", "label"], name
        assert ds.features["text"].dtype == "string"
        assert ds.features["label"].dtype == "int64"
        labels = ds["label"][:]
        assert all(-1 <= y < len(ld.label_names) for y in labels)


# ---------------------------------------------------------------------------------------------
# Local formats


@pytest.mark.parametrize("suffix", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_single_file_formats(tmp_path, suffix):
    r = rows(30)
    p = tmp_path / f"reviews.{suffix}"
    if suffix in ("csv", "tsv"):
        write_csv(p, ["text", "label"], [[x["text"], x["label"]] for x in r], sep="," if suffix == "csv" else "\t")
    elif suffix == "json":
        p.write_text(json.dumps(r), encoding="utf-8")
    elif suffix == "jsonl":
        write_jsonl(p, r)
    else:
        datasets.Dataset.from_list(r).to_parquet(str(p))
    ld = load_data(DataConfig(dataset=str(p)))
    assert_clean(ld)
    assert ld.label_names == ["neg", "pos"]
    assert set(ld.splits) == {"train", "validation"}
    assert ld.validation_from_train and not ld.test_labelled
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 30
    assert len(ld.splits["validation"]) == 3
    assert ld.text_column == "text" and ld.label_column == "label"
    # Label ids follow the sorted names.
    first = ld.splits["train"][0]
    assert ld.label_names[first["label"]] == {x["text"]: x["label"] for x in r}[first["text"]]


def test_hub_layout_folder_keeps_classlabel_names(tmp_path):
    folder = tmp_path / "mydata" / "data"
    folder.mkdir(parents=True)
    for split, ds in hub_dataset().items():
        ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    ld = load_data(DataConfig(dataset=str(tmp_path / "mydata")))
    assert_clean(ld)
    assert ld.label_names == ["negative", "positive"]
    assert ld.text_column == "sentence"
    assert [len(ld.splits[s]) for s in ("train", "validation", "test")] == [20, 4, 2]
    assert not ld.validation_from_train
    assert not ld.test_labelled  # one test label is -1, the other ... also -1 in hub_dataset()
    assert ld.splits["test"]["label"][:] == [-1, -1]
    assert ld.report.splits["test"].class_counts == {report.UNLABELLED: 2}


def test_folder_of_split_files_in_mixed_formats(tmp_path):
    r = rows(20)
    write_csv(tmp_path / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in r])
    import pyarrow as pa
    import pyarrow.feather as feather

    dev = pa.table({"text": ["fine film", "poor film"], "label": ["pos", "neg"]})
    feather.write_feather(dev, str(tmp_path / "dev.feather"))  # Feather v2: the Arrow IPC file format
    write_csv(tmp_path / "test.tsv", ["text", "label"], [["good", "pos"], ["bad", "neg"], ["ok", "pos"]], sep="\t")
    (tmp_path / "README.md").write_text("# my data\n")
    ld = load_data(DataConfig(path=str(tmp_path)))
    assert_clean(ld)
    assert [len(ld.splits[s]) for s in ("train", "validation", "test")] == [20, 2, 3]
    assert ld.test_labelled and not ld.validation_from_train
    assert ld.splits["validation"]["label"][:] == [1, 0]


def test_hub_snapshot_with_readme_configs(tmp_path):
    (tmp_path / "data").mkdir()
    for split, ds in hub_dataset().items():
        ds.to_parquet(str(tmp_path / "data" / f"{split}-00000-of-00001.parquet"))
    (tmp_path / "extra").mkdir()  # a folder the README does not name: ignored
    datasets.Dataset.from_dict({"x": [1]}).to_parquet(str(tmp_path / "extra" / "train.parquet"))
    readme = ["---", "configs:", "- config_name: default", "  data_files:"]
    readme += [f"  - split: {s}\n    path: data/{s}-*" for s in ("train", "validation", "test")]
    (tmp_path / "README.md").write_text("\n".join([*readme, "---", "# card"]) + "\n")
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert [len(ld.splits[s]) for s in ("train", "validation", "test")] == [20, 4, 2]
    assert ld.label_names == ["negative", "positive"]


def test_hub_config_subfolder(tmp_path):
    for config, n in (("split", 20), ("unsplit", 40)):
        (tmp_path / config).mkdir()
        hub_dataset(n)["train"].to_parquet(str(tmp_path / config / "train-00000-of-00001.parquet"))
    ld = load_data(DataConfig(dataset=str(tmp_path), hub_config="split"))
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20


def test_save_to_disk_folder(tmp_path):
    hub_dataset().save_to_disk(str(tmp_path / "saved"))
    ld = load_data(DataConfig(dataset=str(tmp_path / "saved")))
    assert ld.label_names == ["negative", "positive"]
    assert len(ld.splits["train"]) == 20


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "notes.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match=r"unsupported file type \(a spreadsheet: save it as CSV UTF-8\)"):
        load_data(DataConfig(path=str(tmp_path / "notes.xlsx")))
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataConfig(path=str(tmp_path / "nope.csv")))
    with pytest.raises(DataError, match="no such file"):
        load_data(DataConfig(dataset=str(tmp_path / "nope.csv")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no data files"):
        load_data(DataConfig(dataset=str(tmp_path / "empty")))
    with pytest.raises(DataError, match="no dataset given"):
        load_data(DataConfig())


def test_returned_splits_are_cache_backed_and_fingerprints_stable(tmp_path):
    p = write_csv(tmp_path / "r.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(20)])
    a = load_data(DataConfig(dataset=str(p)), seed=1)
    b = load_data(DataConfig(dataset=str(p)), seed=1)
    for name in ("train", "validation"):
        assert a.splits[name].cache_files, name
        assert a.splits[name]._fingerprint == b.splits[name]._fingerprint
    c = load_data(DataConfig(dataset=str(p)), seed=2)
    assert c.splits["train"]._fingerprint != a.splits["train"]._fingerprint


# ---------------------------------------------------------------------------------------------
# Presets, hub ids, TEXTCNN_DATA_DIR and the offline error


def test_preset_loads_from_hub_with_its_columns(fake_hub):
    ld = load_data(load_config("sst2").data)
    assert fake_hub == [("stanfordnlp/sst2", None)]
    assert ld.source.startswith("stanfordnlp/sst2")
    assert ld.text_column == "sentence" and ld.label_names == ["negative", "positive"]
    assert not ld.test_labelled and len(ld.splits["test"]) == 2


def test_preset_by_hub_id_and_hub_config(fake_hub):
    load_data(load_config("dair-ai/emotion").data)
    assert fake_hub == [("dair-ai/emotion", "split")]


def test_any_hub_id_and_python_config_without_load_config(fake_hub):
    ld = load_data(DataConfig(dataset="someone/reviews"))
    assert fake_hub == [("someone/reviews", None)]
    assert ld.text_column == "sentence"
    fake_hub.clear()
    load_data(DataConfig(dataset="sst2"))  # preset fields filled in even without load_config
    assert fake_hub == [("stanfordnlp/sst2", None)]


def test_offline_hub_gives_one_line_with_the_way_out(fake_hub):
    with pytest.raises(DataError) as e:
        load_data(DataConfig(dataset="nobody/missing"))
    msg = str(e.value)
    assert "\n" not in msg and "--data" in msg and "TEXTCNN_DATA_DIR" in msg and "nobody/missing" in msg


def test_offline_without_monkeypatch_is_a_data_error():
    # conftest sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE and an empty cache: no network is touched.
    with pytest.raises(DataError, match="TEXTCNN_DATA_DIR"):
        load_data(load_config("rotten_tomatoes").data)


def test_dataset_not_found_message(monkeypatch):
    from datasets.exceptions import DatasetNotFoundError

    def fake(path, name=None, **kwargs):
        raise DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")

    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DataError, match="cannot find dataset.*--data PATH"):
        load_data(DataConfig(dataset="typo/sst"))


def test_textcnn_data_dir_beats_the_hub(tmp_path, monkeypatch, fake_hub):
    (tmp_path / "sst2").mkdir()
    write_csv(tmp_path / "sst2" / "train.csv", ["sentence", "label"], [[x["text"], x["label"]] for x in rows(20)])
    (tmp_path / "reviews").mkdir()
    write_csv(tmp_path / "reviews" / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(10)])
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    ld = load_data(load_config("sst2").data)
    assert fake_hub == []
    assert ld.source.startswith(str(tmp_path / "sst2")) and "stanfordnlp/sst2" in ld.source
    assert len(ld.splits["train"]) == 18
    ld = load_data(DataConfig(dataset="someone/reviews"))  # the hub id's last part
    assert fake_hub == [] and len(ld.splits["train"]) == 9
    assert ld.source == f"{tmp_path / 'reviews'} (local copy of someone/reviews)"


def test_a_file_given_by_a_relative_name_is_the_data_not_a_copy(tmp_path, monkeypatch):
    """A run saves its file's absolute path beside the name it was given (`evaluate` reads both)."""
    write_csv(tmp_path / "reviews.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(20)])
    monkeypatch.chdir(tmp_path.parent)
    ld = load_data(DataConfig(dataset=f"{tmp_path.name}/reviews.csv", path=str(tmp_path / "reviews.csv")))
    assert ld.source == str(tmp_path / "reviews.csv")


def test_data_path_beats_textcnn_data_dir(tmp_path, monkeypatch, fake_hub):
    (tmp_path / "sst2").mkdir()
    write_csv(tmp_path / "sst2" / "train.csv", ["sentence", "label"], [[x["text"], x["label"]] for x in rows(20)])
    mine = write_csv(tmp_path / "mine.csv", ["sentence", "label"], [[x["text"], x["label"]] for x in rows(10)])
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    cfg = load_config("sst2", overrides={"data": {"path": str(mine)}}).data
    ld = load_data(cfg)
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 10 and fake_hub == []


# ---------------------------------------------------------------------------------------------
# Columns


def test_columns_found_by_common_names_case_insensitive(tmp_path):
    p = write_csv(
        tmp_path / "r.csv", ["id", "Review", "Sentiment"], [[i, x["text"], x["label"]] for i, x in enumerate(rows(10))]
    )
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == ("Review", "Sentiment")


def test_a_text_name_as_the_last_part_of_a_column_name_is_the_text(tmp_path, caplog):
    """Quora's qid, question_text, target: a hex id beside short questions is no longer ambiguous."""
    r = rows(20)
    p = write_csv(tmp_path / "quora.csv", ["qid", "question_text", "target"],
                  [[f"{i:020x}", x["text"], x["label"]] for i, x in enumerate(r)])  # fmt: skip
    with caplog.at_level(logging.WARNING):
        ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == ("question_text", "target")
    assert "taking 'question_text' for the text column, by its name" in caplog.text
    p = write_csv(
        tmp_path / "qa.csv",
        ["question_text", "answer_text", "label"],
        [[x["text"], f"the answer: {x['text']}", x["label"]] for x in r],
    )
    with pytest.raises(DataError, match="ambiguous text column"):  # two such names: the user says which
        load_data(DataConfig(dataset=str(p)))


def test_a_text_column_beside_a_title_is_the_text(tmp_path, caplog):
    """Women's clothing reviews: Title, Review Text, Rating; AG News' Kaggle csv: Title, Description."""
    r = rows(20)
    p = write_csv(tmp_path / "reviews.csv", ["Clothing ID", "Title", "Review Text", "Rating"],
                  [[i, f"title {i % 3}", x["text"], x["label"]] for i, x in enumerate(r)])  # fmt: skip
    with caplog.at_level(logging.WARNING):
        ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == ("Review Text", "Rating")
    assert sorted(_all_rows(ld)) == sorted((x["text"], x["label"]) for x in r)
    assert "taking 'Review Text' for the text column, not 'Title' beside it, a title (--text-column " \
           "'Title+Review Text' joins them)" in caplog.text  # fmt: skip
    assert next(iter(read_texts(p))) == r[0]["text"]  # predict --file reads the same column
    p = write_csv(tmp_path / "two.csv", ["title", "headline", "label"], [[x["text"], "h", x["label"]] for x in r])
    with pytest.raises(DataError, match=r"ambiguous text column.*headline, title"):  # two titles, no body
        load_data(DataConfig(dataset=str(p)))


def test_a_multi_label_table_is_said_to_be_one(tmp_path):
    """Jigsaw's toxic comments: comment_text and six 0 / 1 columns, none of them named as a label."""
    r = rows(20)
    p = write_csv(tmp_path / "train.csv", ["id", "comment_text", "toxic", "obscene", "insult"],
                  [[f"{i:016x}", x["text"], int(x["label"] == "neg"), i % 2, 0] for i, x in enumerate(r)])  # fmt: skip
    with pytest.raises(DataError, match=r"ambiguous label column .*: toxic, obscene, insult \(columns of 0 / 1 flags: "
                       r"a multi-label table; textcnn is single-label\).*choose one with --label-column$"):  # fmt: skip
        load_data(DataConfig(dataset=str(p)))
    ld = load_data(DataConfig(dataset=str(p), label_column="toxic"))
    assert (ld.text_column, ld.label_names) == ("comment_text", ["0", "1"])


def test_ambiguous_and_missing_columns_list_what_is_there(tmp_path):
    body = [["a", "b", "x"], ["c", "d", "y"], ["e", "f", "x"], ["g", "h", "y"]]
    p = write_csv(tmp_path / "a.csv", ["sentence", "review", "label"], body)
    with pytest.raises(
        DataError,
        match=r"ambiguous text column.*sentence, review.*columns: sentence, review, label.*"
        r"or join them: --text-column 'sentence\+review'$",
    ):
        load_data(DataConfig(dataset=str(p)))
    ld = load_data(DataConfig(dataset=str(p), text_column="review", validation_fraction=0.5))
    assert ld.text_column == "review"
    p = write_csv(tmp_path / "b.csv", ["text", "given"], [["a", 1], ["b", 2]])  # no name, no repeated values
    with pytest.raises(DataError, match=r"no label column.*columns: text, given.*--label-column"):
        load_data(DataConfig(dataset=str(p)))
    with pytest.raises(DataError, match=r"label column 'score' is not in .*columns: text, given"):
        load_data(DataConfig(dataset=str(p), label_column="score"))
    with pytest.raises(DataError, match="both 'text'"):
        load_data(DataConfig(dataset=str(p), text_column="text", label_column="text"))


def test_ambiguous_classlabel_columns(tmp_path):
    feats = datasets.Features(
        {
            "text": datasets.Value("string"),
            "coarse_label": datasets.ClassLabel(names=["a", "b"]),
            "fine_label": datasets.ClassLabel(names=["a1", "b1"]),
        }
    )
    ds = datasets.Dataset.from_dict({"text": ["x", "y"], "coarse_label": [0, 1], "fine_label": [0, 1]}, features=feats)
    ds.to_parquet(str(tmp_path / "t.parquet"))
    with pytest.raises(DataError, match="ambiguous label column.*coarse_label, fine_label"):
        load_data(DataConfig(dataset=str(tmp_path / "t.parquet")))


def test_non_string_text_column_is_refused_by_name(tmp_path):
    p = write_jsonl(tmp_path / "n.jsonl", [{"text": i, "label": i % 2} for i in range(10)])
    with pytest.raises(DataError, match=r"text column 'text' .*holds int64 values, not text"):
        load_data(DataConfig(dataset=str(p)))


def test_csv_cells_are_text_even_when_they_look_like_numbers_or_na(tmp_path):
    body = [["123", "a"], ["NA", "b"], ["null", "a"], ["45.5", "b"]] + [[x["text"], "a"] for x in rows(6)]
    p = write_csv(tmp_path / "n.csv", ["text", "label"], body)
    ld = load_data(DataConfig(dataset=str(p), validation_fraction=0.2))
    texts = set(ld.splits["train"]["text"][:]) | set(ld.splits["validation"]["text"][:])
    assert {"123", "NA", "null", "45.5"} <= texts


# ---------------------------------------------------------------------------------------------
# Labels


def test_string_labels_sorted_and_integer_labels_made_contiguous(tmp_path):
    p = write_jsonl(
        tmp_path / "s.jsonl", [{"text": f"t{i}", "label": ["zeta", "alpha", "mid"][i % 3]} for i in range(30)]
    )
    assert load_data(DataConfig(dataset=str(p))).label_names == ["alpha", "mid", "zeta"]
    p = write_jsonl(tmp_path / "i.jsonl", [{"text": f"t{i}", "label": [9, 2, 5][i % 3]} for i in range(30)])
    ld = load_data(DataConfig(dataset=str(p)))
    assert ld.label_names == ["2", "5", "9"]
    assert set(ld.splits["train"]["label"][:]) == {0, 1, 2}
    row = ld.splits["train"][0]
    assert int(ld.label_names[row["label"]]) == [9, 2, 5][int(row["text"][1:]) % 3]


def test_float_labels(tmp_path):
    p = write_jsonl(tmp_path / "f.jsonl", [{"text": f"t{i}", "label": float(i % 2)} for i in range(10)])
    ld = load_data(DataConfig(dataset=str(p)))
    assert ld.label_names == ["0", "1"]
    p = write_csv(tmp_path / "f.csv", ["text", "label"], [[f"t{i}", f"{i % 2}.0"] for i in range(10)])
    assert load_data(DataConfig(dataset=str(p))).label_names == ["0", "1"]
    p = write_jsonl(tmp_path / "g.jsonl", [{"text": f"t{i}", "label": i / 7} for i in range(10)])
    with pytest.raises(DataError, match="non-whole numbers"):
        load_data(DataConfig(dataset=str(p)))


def test_minus_one_is_no_label_next_to_0_to_k_but_a_class_in_polarity_labels(tmp_path):
    recs = [{"text": f"t{i}", "label": [0, 1, 2, -1][i % 4]} for i in range(40)]
    ld = load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "a.jsonl", recs))))
    assert ld.label_names == ["0", "1", "2"]
    assert ld.report.splits["train"].dropped["no label"] == 10
    recs = [{"text": f"t{i}", "label": [-1, 1][i % 2]} for i in range(20)]
    ld = load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "b.jsonl", recs))))
    assert ld.label_names == ["-1", "1"]


def test_label_text_column_names_integer_classes(tmp_path):
    names = ["very negative", "negative", "neutral", "positive", "very positive"]
    recs = [{"text": f"t{i}", "label": i % 5, "label_text": names[i % 5]} for i in range(50)]
    ld = load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "sst5.jsonl", recs))))
    assert ld.label_names == names


def test_list_labels_and_id_like_labels_are_refused(tmp_path):
    p = write_jsonl(tmp_path / "m.jsonl", [{"text": f"t{i}", "labels": [i % 2]} for i in range(10)])
    with pytest.raises(DataError, match="not one label per row"):
        load_data(DataConfig(dataset=str(p)))
    p = write_jsonl(tmp_path / "u.jsonl", [{"text": f"t{i}", "label": f"id{i}"} for i in range(60)])
    with pytest.raises(DataError, match="is it really the label"):
        load_data(DataConfig(dataset=str(p)))


# ---------------------------------------------------------------------------------------------
# Splits


def test_held_out_validation_is_seeded_stratified_and_disjoint(tmp_path):
    recs = [{"text": f"text {i}", "label": "a" if i % 4 else "b"} for i in range(200)]
    p = write_jsonl(tmp_path / "r.jsonl", recs)

    def split(seed):
        ld = load_data(DataConfig(dataset=str(p)), seed=seed)
        return ld, ld.splits["train"]["text"][:], ld.splits["validation"]["text"][:]

    ld, train1, val1 = split(0)
    _, train2, val2 = split(0)
    _, _, val3 = split(1)
    assert val1 == val2 and train1 == train2
    assert val1 != val3
    assert len(val1) == 20 and not set(val1) & set(train1) and len(train1) + len(val1) == 200
    assert ld.report.splits["validation"].class_counts == {"a": 15, "b": 5}
    assert ld.report.splits["train"].dropped == {cleaning.HELD_OUT: 20}
    assert train1 == sorted(train1, key=lambda t: int(t.split()[1]))  # original order kept


def test_holdout_fraction_and_tiny_data():
    import numpy as np

    tr, va = cleaning.holdout(np.array([0, 1] * 50), 0.25, seed=3)
    assert len(va) == 25 and len(tr) == 75 and not set(tr) & set(va)
    tr, va = cleaning.holdout(np.array([0, 0, 1]), 0.1, seed=0)
    assert len(va) == 1 and len(tr) == 2
    with pytest.raises(DataError, match="too few"):
        cleaning.holdout(np.array([0, 1]), 0.1, seed=0)


def test_validation_and_test_split_names(tmp_path):
    write_csv(tmp_path / "training.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(10)])
    write_csv(tmp_path / "valid.csv", ["text", "label"], [["a", "pos"], ["b", "neg"]])
    write_csv(tmp_path / "eval.csv", ["text", "label"], [["c", "pos"], ["d", "neg"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert len(ld.splits["validation"]) == 2 and len(ld.splits["test"]) == 2
    with pytest.raises(DataError, match=r"split 'dev' \(data.validation_split\) not found"):
        load_data(DataConfig(dataset=str(tmp_path), validation_split="dev"))
    ld = load_data(DataConfig(dataset=str(tmp_path), validation_split="test", test_split="validation"))
    assert ld.splits["validation"]["text"][:] == ["c", "d"]


def test_partially_labelled_and_label_free_test_splits(tmp_path):
    write_csv(tmp_path / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(10)])
    write_csv(tmp_path / "test.csv", ["text", "label"], [["a", "pos"], ["b", ""], ["c", "neg"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert ld.test_labelled and ld.splits["test"]["text"][:] == ["a", "c"]
    assert ld.report.splits["test"].dropped == {"no label": 1}
    write_csv(tmp_path / "test.csv", ["text"], [["a"], ["b"], ["c"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert not ld.test_labelled and ld.splits["test"]["label"][:] == [-1, -1, -1]
    write_csv(tmp_path / "test.csv", ["text", "label"], [["", "pos"], ["b", "maybe"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert "test" not in ld.splits and not ld.test_labelled
    assert any("test split 'test' has no usable rows" in n for n in ld.report.notes)


def test_max_train_rows_keeps_the_first_rows_after_holdout(tmp_path):
    p = write_jsonl(tmp_path / "r.jsonl", [{"text": f"t{i}", "label": i % 2} for i in range(100)])
    full = load_data(DataConfig(dataset=str(p)))
    ld = load_data(DataConfig(dataset=str(p), max_train_rows=30))
    assert ld.splits["train"]["text"][:] == full.splits["train"]["text"][:30]
    assert ld.splits["validation"]["text"][:] == full.splits["validation"]["text"][:]
    assert ld.report.splits["train"].dropped == {cleaning.HELD_OUT: 10, cleaning.OVER_MAX: 60}
    assert ld.report.splits["train"].rows_kept == 30 and ld.report.splits["train"].rows_in == 100
    with pytest.raises(DataError, match="only one class"):
        load_data(DataConfig(dataset=str(p), max_train_rows=1))


# ---------------------------------------------------------------------------------------------
# Messy data


def test_missing_empty_and_whitespace_texts_and_labels_are_dropped_and_counted(tmp_path):
    recs = [{"text": x["text"], "label": x["label"]} for x in rows(10)] + [
        {"text": None, "label": "pos"},
        {"text": "", "label": "neg"},
        {"text": "   \t ", "label": "pos"},
        {"label": "neg"},
        {"text": "no label here", "label": None},
        {"text": "  padded text  ", "label": "pos"},
    ]
    ld = load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "m.jsonl", recs)), validation_fraction=0.2))
    r = ld.report.splits["train"]
    assert r.dropped["missing text"] == 2 and r.dropped["empty text"] == 2 and r.dropped["no label"] == 1
    assert r.rows_in == 16 and r.rows_in == r.rows_kept + sum(r.dropped.values())
    texts = ld.splits["train"]["text"][:] + ld.splits["validation"]["text"][:]
    assert "padded text" in texts and all(t.strip() == t and t for t in texts)
    assert any(
        line.startswith("train") and "2 missing text, 2 empty text, 1 no label" in line for line in ld.report.lines()
    )


def test_spreadsheet_missing_value_labels_are_no_label_not_a_class(tmp_path):
    body = [[x["text"], "5.0" if x["label"] == "pos" else "1.0"] for x in rows(20)]
    body += [["marked missing one", "N/A"], ["marked missing two", "#N/A"], ["marked missing three", " null "]]
    ld = load_data(DataConfig(dataset=str(write_csv(tmp_path / "stars.csv", ["text", "stars"], body))))
    assert ld.label_names == ["1", "5"]  # the numbers stay numbers: N/A is no class beside them
    assert ld.report.splits["train"].dropped["no label"] == 3


def test_unknown_labels_in_validation_are_dropped_and_noted(tmp_path):
    write_csv(tmp_path / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(10)])
    write_csv(tmp_path / "validation.csv", ["text", "label"], [["a", "pos"], ["b", "meh"], ["c", "neg"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert ld.report.splits["validation"].dropped == {"unknown label": 1}
    assert any("'meh'" in n for n in ld.report.notes)


def test_classlabel_class_only_in_validation_is_noted(tmp_path):
    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    datasets.Dataset.from_dict(
        {"text": [f"t{i}" for i in range(10)], "label": [i % 2 for i in range(10)]}, features=feats
    ).to_parquet(str(tmp_path / "train.parquet"))
    datasets.Dataset.from_dict({"text": ["x", "y", "z"], "label": [0, 1, 2]}, features=feats).to_parquet(
        str(tmp_path / "validation.parquet")
    )
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert ld.label_names == ["a", "b", "c"] and len(ld.splits["validation"]) == 3
    assert any("'c' occurs in validation" in n and "never in train" in n for n in ld.report.notes)


def test_duplicates_are_counted_not_removed(tmp_path):
    body = [["same text", "pos"]] * 3 + [["same text", "neg"]] + [[x["text"], x["label"]] for x in rows(6)]
    write_csv(tmp_path / "train.csv", ["text", "label"], body)
    write_csv(tmp_path / "valid.csv", ["text", "label"], [["same text", "pos"], ["new text", "neg"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    r = ld.report.splits["train"]
    assert r.rows_kept == 10 and r.duplicates == 2  # two repeats of ("same text", pos)
    assert "train: 1 text occurs with more than one label" in ld.report.notes
    assert "validation: 1 of 2 texts also occurs in train" in ld.report.notes


def test_one_class_is_refused(tmp_path):
    p = write_csv(tmp_path / "one.csv", ["text", "label"], [[f"t{i}", "pos"] for i in range(10)])
    with pytest.raises(DataError, match=r"only one class \('pos'\)"):
        load_data(DataConfig(dataset=str(p)))
    p = write_csv(tmp_path / "gone.csv", ["text", "label"], [["", "pos"], ["   ", "neg"]])
    with pytest.raises(DataError, match="no usable training rows"):
        load_data(DataConfig(dataset=str(p)))


def test_fewer_rows_than_a_batch_is_fine(tmp_path):
    p = write_csv(
        tmp_path / "tiny.csv", ["text", "label"], [["good", "pos"], ["bad", "neg"], ["great", "pos"], ["awful", "neg"]]
    )
    ld = load_data(DataConfig(dataset=str(p)))
    assert len(ld.splits["train"]) == 3 and len(ld.splits["validation"]) == 1


def test_bom_crlf_and_quoted_newlines(tmp_path):
    body = '\ufefftext,label\r\n"first line\r\nsecond line",pos\r\n"she said ""no"", twice",neg\r\n'
    body += "plain,pos\r\nother,neg\r\n"
    p = tmp_path / "win.csv"
    p.write_bytes(body.encode("utf-8"))
    ld = load_data(DataConfig(dataset=str(p), validation_fraction=0.25))
    assert ld.text_column == "text"  # the BOM is not part of the column name
    texts = set(ld.splits["train"]["text"][:]) | set(ld.splits["validation"]["text"][:])
    assert texts == {"first line\r\nsecond line", 'she said "no", twice', "plain", "other"}
    p = tmp_path / "bom.jsonl"
    p.write_bytes(("\ufeff" + "".join(json.dumps(r) + "\r\n" for r in rows(10))).encode("utf-8"))
    assert len(load_data(DataConfig(dataset=str(p))).splits["train"]) == 9


def test_unreadable_file_is_one_line(tmp_path):
    p = tmp_path / "broken.jsonl"
    p.write_text('{"text": "a", "label": 1}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match="could not read") as e:
        load_data(DataConfig(dataset=str(p)))
    assert "\n" not in str(e.value)
    p = tmp_path / "mixed.csv"  # UTF-8 with a stray byte: not a Windows-1252 file either
    p.write_bytes("text,label\ncaf\u00e9 cr\u00e8me,pos\n".encode("utf-8") + b"bad \xff byte,neg\n")
    with pytest.raises(DataError, match=r"could not read .*mixed.csv: line 3 is not UTF-8 \(byte 0xff at column 5\)"):
        load_data(DataConfig(dataset=str(p)))


def test_a_compressed_file_whose_name_does_not_say_so_is_named_as_such(tmp_path):
    import gzip
    import zipfile

    table = "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows(20))
    (tmp_path / "packed.csv").write_bytes(gzip.compress(table.encode()))
    with pytest.raises(DataError, match=r"packed.csv: gzip-compressed data, not text: end the file's name in \.gz"):
        load_data(DataConfig(dataset=str(tmp_path / "packed.csv")))
    (tmp_path / "packed.csv").rename(tmp_path / "packed.csv.gz")  # as it says: then it reads
    assert load_data(DataConfig(dataset=str(tmp_path / "packed.csv.gz"))).label_names == ["neg", "pos"]
    with zipfile.ZipFile(tmp_path / "archive.csv", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inside.csv", table * 20)
    with pytest.raises(DataError, match=r"archive.csv: a zip archive, not text: end the file.s name in \.zip"):
        load_data(DataConfig(dataset=str(tmp_path / "archive.csv")))
    (tmp_path / "archive.csv").rename(tmp_path / "archive.zip")  # as it says: then it reads the csv inside
    assert load_data(DataConfig(dataset=str(tmp_path / "archive.zip"))).label_names == ["neg", "pos"]


def test_a_broken_json_line_is_named_by_its_line_number(tmp_path):
    lines = [json.dumps(r) for r in rows(8)]
    lines[5] = '{"text": "broken, "label": "pos"}'  # line 7 of the file, after a blank line
    p = tmp_path / "broken.jsonl"
    p.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"could not read .*broken.jsonl: line 7 is not a JSON record \(Expecting"):
        load_data(DataConfig(dataset=str(p)))
    p = tmp_path / "listed.jsonl"
    p.write_text("\n".join(lines[:2] + ["[1, 2]"] + lines[2:]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"listed.jsonl: .*line 3"):
        load_data(DataConfig(dataset=str(p)))


def _all_rows(ld) -> list[tuple[str, str]]:
    return sorted((x["text"], ld.label_names[x["label"]]) for part in ("train", "validation") for x in ld.splits[part])


def test_bad_lines_skip_keeps_every_other_row_and_names_the_skipped_lines(tmp_path, caplog):
    body = [[x["text"], x["label"]] for x in rows(40)]
    bad = [["a dull, boring film", "neg"]]  # unquoted separator: 3 fields
    p = write_csv(tmp_path / "some.csv", ["text", "label"], bad + body[:30] + bad + body[30:] + bad)
    with pytest.raises(DataError, match=r"line 2 has 3 fields.*; --set data.bad_lines=skip skips such lines$"):
        load_data(DataConfig(dataset=str(p)))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p), bad_lines="skip"))
    assert _all_rows(ld) == sorted((t, y) for t, y in body)
    assert "some.csv: skipped 3 lines (more fields than the header's 2 (text, label); data.bad_lines=skip): " \
           "lines 2, 33, 44" in caplog.text  # fmt: skip
    # a clean file (quoted separators and line breaks, blank lines) reads the same either way
    clean = write_csv(tmp_path / "clean.csv", ["text", "label"], [['"a dull, boring\nfilm"', "neg"], *body])
    clean.write_text(clean.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    strict, lenient = (load_data(DataConfig(dataset=str(clean), bad_lines=m)) for m in ("error", "skip"))
    assert _all_rows(strict) == _all_rows(lenient) and ("a dull, boring\nfilm", "neg") in _all_rows(lenient)

    lines = [json.dumps(r) for r in rows(12)]
    lines[5], lines[8] = '{"text": "broken, "label": "pos"}', "[1, 2]"
    j = tmp_path / "broken.jsonl"
    j.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 7 is not a JSON record .*--set data.bad_lines=skip"):
        load_data(DataConfig(dataset=str(j)))
    caplog.clear()
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(j), bad_lines="skip"))
    kept = [r for i, r in enumerate(rows(12)) if i not in (5, 8)]
    assert _all_rows(ld) == sorted((r["text"], r["label"]) for r in kept)
    assert "broken.jsonl: skipped 2 lines (not a JSON record; data.bad_lines=skip): lines 7, 10" in caplog.text


def test_lines_that_are_not_utf8_are_named_and_skipped_on_request(tmp_path, caplog):
    """Rows pasted into a UTF-8 file from a Windows-1252 one: training stops and names every such line (JSON
    lines had reached cleaning as invalid strings and crashed there), or skips exactly those with
    data.bad_lines=skip; the other rows keep their accents."""
    good = [{"text": f"caf\u00e9 cr\u00e8me number {i}", "label": "pos" if i % 2 else "neg"} for i in range(40)]
    pasted = {3: "a na\u00efve film", 17: "d\u00e9j\u00e0 vu", 30: "a caf\u00e9 film"}
    for i, text in pasted.items():
        good[i] = {"text": text, "label": "neg"}

    def encoded(i: int, line: str) -> bytes:
        return line.encode("cp1252" if i in pasted else "utf-8")

    kept = sorted((r["text"], r["label"]) for i, r in enumerate(good) if i not in pasted)
    table = tmp_path / "mixed.csv"
    table.write_bytes(b"text,label\n" + b"".join(encoded(i, f"{r['text']},{r['label']}\n") for i, r in enumerate(good)))
    lines = tmp_path / "mixed.jsonl"
    lines.write_bytes(b"".join(encoded(i, json.dumps(r, ensure_ascii=False) + "\n") for i, r in enumerate(good)))
    for f, first, where in ((table, 5, 5), (lines, 4, 15)):  # "a na" + the byte of ï
        message = rf"could not read .*{f.name}: 3 lines are not UTF-8 \(lines {first}, {first + 14}, {first + 27}; "
        with pytest.raises(DataError, match=message + rf"line {first}: byte 0x\w\w at column {where}\); save the "
                           r"file as UTF-8; --set data.bad_lines=skip skips such lines$"):  # fmt: skip
            load_data(DataConfig(dataset=str(f)))
        caplog.clear()
        with caplog.at_level("WARNING"):
            ld = load_data(DataConfig(dataset=str(f), bad_lines="skip"))
        assert _all_rows(ld) == kept
        skipped = f"{f.name}: skipped 3 lines (not UTF-8; data.bad_lines=skip): lines {first}, {first + 14}, "
        assert skipped in caplog.text
    array = tmp_path / "array.json"
    array.write_bytes(json.dumps(good[:5], ensure_ascii=False).encode("utf-8").replace(b"na\xc3\xafve", b"na\xefve"))
    with pytest.raises(DataError, match=r"array.json: line 1 is not UTF-8 \(byte 0xef at column \d+\)"):
        load_data(DataConfig(dataset=str(array)))


def test_a_file_windows_1252_at_first_and_utf8_further_on_is_not_read_as_windows_1252(tmp_path):
    """Its first 64 KiB alone say Windows-1252; read so, its UTF-8 rows would turn to mojibake unsaid."""
    body = [(f"caf\u00e9 cr\u00e8me number {i}", "pos" if i % 2 else "neg") for i in range(6000)]
    f = tmp_path / "joined.csv"
    f.write_bytes(b"text,label\n" + b"".join(f"{t},{y}\n".encode("cp1252" if i < 3000 else "utf-8")
                                             for i, (t, y) in enumerate(body)))  # fmt: skip
    with pytest.raises(DataError, match=r"3,000 lines are not UTF-8 \(lines 2, 3, 4, 5, 6, \.\.\.;"):
        load_data(DataConfig(dataset=str(f)))
    ld = load_data(DataConfig(dataset=str(f), bad_lines="skip"))
    assert _all_rows(ld) == sorted(body[3000:])


def test_a_failed_read_is_reported_once_not_also_logged_by_datasets(tmp_path, caplog):
    p = tmp_path / "mixed.csv"
    p.write_bytes("text,label\ncaf\u00e9 cr\u00e8me,pos\n".encode("utf-8") + b"bad \xff byte,neg\n")
    with caplog.at_level("DEBUG"), pytest.raises(DataError, match="line 3 is not UTF-8"):
        load_data(DataConfig(dataset=str(p)))
    assert not [r for r in caplog.records if r.name.startswith("datasets") and r.levelname == "ERROR"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_csv_written_with_another_separator_is_read_with_it(tmp_path, caplog, sep, compressed):
    import gzip

    body = [[x["text"] + (", really" if i % 3 == 0 else ""), x["label"]] for i, x in enumerate(rows(20))]
    p = write_csv(tmp_path / "export.csv", ["text", "label"], body, sep=sep, newline="\r\n")
    if compressed:
        gz = tmp_path / "export.csv.gz"
        gz.write_bytes(gzip.compress(p.read_bytes()))
        p.unlink()
        p = gz
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == ("text", "label") and ld.label_names == ["neg", "pos"]
    texts = list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"])
    assert sorted(texts) == sorted(t for t, _ in body)  # commas inside texts stay in them
    assert f"reading it as {sep!r}-separated" in caplog.text


def test_a_windows_1252_csv_is_read_in_it_with_a_warning(tmp_path, caplog):
    r = [{"text": f"{x['text']} caf\u00e9 \u201cna\u00efve\u201d", "label": x["label"]} for x in rows(20)]
    p = tmp_path / "excel.csv"
    p.write_bytes(("text,label\r\n" + "".join(f"{x['text']},{x['label']}\r\n" for x in r)).encode("cp1252"))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert "excel.csv is not UTF-8: read as Windows-1252 (cp1252)" in caplog.text
    texts = sorted(list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"]))
    assert texts == sorted(x["text"] for x in r)  # é, ï and curly quotes as written


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf16_csv_with_its_byte_order_mark_is_read_in_it(tmp_path, caplog, codec):
    r = [{"text": f"{x['text']} caf\u00e9 \u201cna\u00efve\u201d \u6f22", "label": x["label"]} for x in rows(20)]
    p = tmp_path / "unicode.tsv"  # what Windows PowerShell's Out-File writes: a BOM, then two bytes a character
    body = "text\tlabel\r\n" + "".join(f"{x['text']}\t{x['label']}\r\n" for x in r)
    p.write_bytes(("\ufeff" + body).encode(codec))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert "unicode.tsv is UTF-16" in caplog.text
    texts = sorted(list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"]))
    assert texts == sorted(x["text"] for x in r)


def test_a_spreadsheet_sep_line_names_the_separator(tmp_path):
    body = [[x["text"] + ", really", x["label"]] for x in rows(20)]
    p = write_csv(tmp_path / "excel.csv", ["text", "label"], body, sep=";")
    p.write_text("sep=;\n" + p.read_text(encoding="utf-8"), encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == ("text", "label")
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20
    bad = write_csv(tmp_path / "bad.csv", ["text", "label"], [["a; b", "pos", "x"], *body], sep=";")
    bad.write_text("sep=;\n" + bad.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv: line 3 has 4 fields but the header has 2 .* must be quoted") as e:
        load_data(DataConfig(dataset=str(bad)))
    assert str(e.value).endswith(
        """separator ';' must be quoted ("a dull; boring film";neg); --set data.bad_lines=skip skips such lines"""
    )


@pytest.mark.parametrize("sep, label_first", [(",", False), ("\t", True)])
def test_a_file_without_a_header_line_is_read_as_text_and_label(tmp_path, caplog, sep, label_first):
    import csv
    import io

    r = rows(30)
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=sep).writerows(
        [(x["label"], x["text"]) if label_first else (x["text"], x["label"]) for x in r]
    )
    p = tmp_path / ("plain.tsv" if sep == "\t" else "plain.csv")
    p.write_text(buf.getvalue(), encoding="utf-8")
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    order = "label, text" if label_first else "text, label"
    assert f"its first line is data, not column names: read as columns {order}" in caplog.text
    got = {(row["text"], ld.label_names[row["label"]]) for split in ld.splits.values() for row in split}
    assert got == {(x["text"], x["label"]) for x in r}  # the first line is a row too


@pytest.mark.parametrize("layout", ["semicolon", "sep-line", "headerless"])
def test_a_text_holding_the_replacement_character_keeps_the_layout_checks(tmp_path, caplog, layout):
    # valid UTF-8 holding U+FFFD itself (183 of MR's texts do) is text, not a sign of another encoding
    r = [
        {"text": x["text"] + (" here\ufffd ." if i % 4 == 0 else ""), "label": x["label"]}
        for i, x in enumerate(rows(20))
    ]
    if layout == "headerless":
        p = write_csv(tmp_path / "plain.tsv", ["label", "text"], [[x["label"], x["text"]] for x in r], sep="\t")
        p.write_text(p.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    else:
        p = write_csv(
            tmp_path / "export.csv", ["text", "label"], [[x["text"] + ", really", x["label"]] for x in r], sep=";"
        )
        if layout == "sep-line":
            p.write_text("sep=;\n" + p.read_text(encoding="utf-8"), encoding="utf-8")
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["neg", "pos"])
    got = sorted(row["text"] for split in ld.splits.values() for row in split)
    assert got == sorted(x["text"] + ("" if layout == "headerless" else ", really") for x in r)


def test_a_head_cut_inside_a_character_is_still_utf8(tmp_path, monkeypatch):
    from textcnn.data import sources

    p = write_csv(tmp_path / "export.csv", ["text", "label"], [["caf\u00e9 " * 40 + ", fine", "pos"]] * 3, sep=";")
    raw = p.read_bytes()
    cut = raw.index("\u00e9".encode()) + 1  # inside the two bytes of the first é
    monkeypatch.setattr(sources, "_head_bytes", lambda f: (raw[:cut], False))
    layout = sources.csv_layout(p, ",")  # "text;label" is whole; the cut character is left out
    assert (layout.sep, layout.encoding) == (";", "utf-8")  # UTF-8 cut short, not Windows-1252


def test_a_windows_1252_file_whose_only_accent_is_its_last_byte_is_read_in_it(tmp_path, caplog):
    # the whole file is in the head: a last byte 0xE9 is "é", not the start of a UTF-8 character cut short
    body = "text,label\n" + "".join(f"{x['text']},{x['label']}\n" for x in rows(20)) + "a fine caf\u00e9,pos"
    p = tmp_path / "excel.csv"
    p.write_bytes(body.encode("cp1252"))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert "excel.csv is not UTF-8: read as Windows-1252" in caplog.text
    texts = [row["text"] for split in ld.splits.values() for row in split]
    assert "a fine caf\u00e9" in texts and len(texts) == 21


def test_column_names_are_found_through_spaces_case_and_hyphens(tmp_path):
    body = [[i, x["text"], x["label"]] for i, x in enumerate(rows(20))]
    p = write_csv(tmp_path / "export.csv", ["ID", " Review Text ", " Sentiment "], body)
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column) == (" Review Text ", " Sentiment ")
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20


def test_the_text_column_is_the_one_of_plainly_longest_cells_when_no_name_says(tmp_path, caplog):
    body = [[f"r{i}", "2024-01-02", x["text"] + " and more words", x["label"]] for i, x in enumerate(rows(20))]
    p = write_csv(tmp_path / "export.csv", ["id", "date", "notes", "label"], body)
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert ld.text_column == "notes" and "taking 'notes' for the text column" in caplog.text
    # two columns of texts alike in length: still a question for the user
    twin = write_csv(
        tmp_path / "twin.csv", ["notes", "remark", "label"], [[x["text"], x["text"], x["label"]] for x in rows(20)]
    )
    with pytest.raises(DataError, match="ambiguous text column .*: notes, remark .*--text-column"):
        load_data(DataConfig(dataset=str(twin)))


def test_a_header_of_unusual_names_is_still_a_header(tmp_path):
    body = [[x["text"], 5 if x["label"] == "pos" else 1] for x in rows(20)]
    ld = load_data(DataConfig(dataset=str(write_csv(tmp_path / "amazon.csv", ["review_body", "star_rating"], body))))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("review_body", "star_rating", ["1", "5"])
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20


def test_an_unquoted_separator_in_a_text_is_named_with_its_line(tmp_path):
    body = [[x["text"], x["label"]] for x in rows(20)]
    first = write_csv(tmp_path / "first.csv", ["text", "label"], [["a dull, boring film", "neg"], *body])
    with pytest.raises(DataError, match=r"first.csv: line 2 has 3 fields but the header has 2 \(text, label\); "
                                        r"a text that holds the separator ',' must be quoted") as e:  # fmt: skip
        load_data(DataConfig(dataset=str(first)))  # pandas alone would make the texts an index, shifting the labels
    assert "\n" not in str(e.value)
    later = write_csv(tmp_path / "later.csv", ["text", "label"], [*body] * 3 + [["a dull, boring film", "neg"]])
    with pytest.raises(DataError, match=r"later.csv: .*Expected 2 fields in line 62, saw 3.*must be quoted"):
        load_data(DataConfig(dataset=str(later)))
    quoted = write_csv(tmp_path / "quoted.csv", ["text", "label"], [['"a dull, boring\nfilm"', "neg"], *body])
    ld = load_data(DataConfig(dataset=str(quoted)))  # quoted separators and line breaks are texts
    assert "a dull, boring\nfilm" in list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"])


def _class_folder(root: Path, records: list[dict], name=lambda i: f"{i}_7.txt") -> None:
    for i, r in enumerate(records):
        (root / r["label"]).mkdir(parents=True, exist_ok=True)
        (root / r["label"] / name(i)).write_text(f"  {r['text']}\n", encoding="utf-8")


def test_a_folder_per_class_of_text_files_is_a_dataset(tmp_path, caplog):
    # scikit-learn's load_files layout: DIR/CLASS/one text a file (20 Newsgroups' posts have no suffix)
    r = rows(20)
    _class_folder(tmp_path / "reviews", r, name=lambda i: f"{i}" if i % 3 else f"{i}.txt")
    (tmp_path / "reviews" / "pos" / ".DS_Store").write_bytes(b"\x00\x01")  # hidden: not a text
    (tmp_path / "reviews" / "neg" / "5").write_bytes("caf\u00e9 noir, a dull film".encode("cp1252"))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(tmp_path / "reviews")))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["neg", "pos"])
    got = {(row["text"], ld.label_names[row["label"]]) for split in ld.splits.values() for row in split}
    want = {(x["text"], x["label"]) for i, x in enumerate(r) if i != 5} | {("caf\u00e9 noir, a dull film", "neg")}
    assert got == want  # each file's content, stripped, labelled by its folder
    assert "1 files are not UTF-8: read as Windows-1252" in caplog.text


def test_split_folders_of_class_folders_keep_their_splits_and_leave_out_unlabelled_texts(tmp_path, caplog):
    # IMDB's aclImdb: train/{neg,pos,unsup}/*.txt and test/{neg,pos}/*.txt, with loose files beside them
    root = tmp_path / "aclImdb"
    _class_folder(root / "train", rows(20))
    _class_folder(root / "test", rows(10))
    _class_folder(root / "train", [{"text": "no label for me", "label": "unsup"}] * 3)
    (root / "imdbEr.txt").write_text("0.1\n", encoding="utf-8")
    (root / "train" / "labeledBow.feat").write_text("0 0:1\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(root)))
    assert "left out unsup/ (3 files): a folder of unlabelled texts" in caplog.text
    assert ld.label_names == ["neg", "pos"] and ld.test_labelled
    assert sorted(ld.splits["test"]["text"]) == sorted(x["text"] for x in rows(10))
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20
    lone = tmp_path / "lone"  # one class folder: nothing to tell apart, said as such
    _class_folder(lone, [{"text": "a film", "label": "pos"}])
    with pytest.raises(DataError, match=r"lone holds one folder of text files \(pos/, 1 file\): a dataset of class"):
        load_data(DataConfig(dataset=str(lone)))
    _class_folder(tmp_path / "split" / "train", [{"text": "a film", "label": "pos"}])
    _class_folder(tmp_path / "split" / "test", rows(4))
    with pytest.raises(DataError, match=r"split/train holds one folder of text files \(pos/, 1 file\)"):
        load_data(DataConfig(dataset=str(tmp_path / "split")))
    (lone / "pos" / "0_7.txt").unlink()  # one folder of fastText files is files of rows, as before
    (lone / "pos" / "train.txt").write_text(
        "".join(f"__label__{x['label']} {x['text']}\n" for x in rows(20)), encoding="utf-8"
    )
    assert load_data(DataConfig(dataset=str(lone))).label_names == ["neg", "pos"]


def test_a_folder_of_one_file_per_class_one_text_a_line_is_a_dataset(tmp_path, caplog, monkeypatch):
    """Kim's sets as they ship: rt-polaritydata/rt-polarity.pos and .neg (Windows-1252, a README beside
    them), Subj's quote.tok.gt9.5000 and plot.tok.gt9.5000, SentEval's custrev.pos, pos.txt and neg.txt."""
    r = rows(40)
    layouts = {
        "rt-polaritydata": ("rt-polarity.pos", "rt-polarity.neg", "pos", "neg"),
        "rotten_imdb": ("quote.tok.gt9.5000", "plot.tok.gt9.5000", "quote", "plot"),
        "txt": ("pos.txt", "neg.txt", "pos", "neg"),
    }
    for folder, (first, second, a, b) in layouts.items():
        root = tmp_path / folder
        root.mkdir()
        for name, label in ((first, "pos"), (second, "neg")):
            lines = [f"{x['text']} \n" for x in r if x["label"] == label]
            (root / name).write_bytes(("".join(lines[:5]) + "\n" + "".join(lines[5:])).encode("cp1252"))
        (root / f"{folder}.README.1.0.txt").write_text("Sentence polarity dataset v1.0\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level("WARNING"):
            ld = load_data(DataConfig(dataset=str(root)))
        assert ld.label_names == sorted([a, b]), folder
        named = {a: "pos", b: "neg"}
        assert _all_rows(ld) == sorted((x["text"], next(k for k, v in named.items() if v == x["label"])) for x in r)
        assert f"one file per class, one text a line, the label from the file's name: {second} ({b}, 20)" in caplog.text
    (tmp_path / "rt-polaritydata" / "rt-polarity.neg").write_bytes("caf\u00e9 noir, a dull film\n".encode("cp1252"))
    caplog.clear()
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(tmp_path / "rt-polaritydata")))
    assert "rt-polarity.neg is not UTF-8: read as Windows-1252" in caplog.text
    assert ("caf\u00e9 noir, a dull film", "neg") in _all_rows(ld)
    (tmp_path / "rt-polaritydata").rename(tmp_path / "MR")  # SentEval's data/downstream/MR, as `mr`
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    assert load_data(DataConfig(dataset="mr")).label_names == ["neg", "pos"]
    splits = tmp_path / "splits"  # train.txt and test.txt of plain lines: splits without labels, not classes
    splits.mkdir()
    for name in ("train.txt", "test.txt"):
        (splits / name).write_text("a gorgeous film\na dull mess\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.txt: a .txt is read as fastText lines"):
        load_data(DataConfig(dataset=str(splits)))
    essays = tmp_path / "essays"  # numbered files of prose: not classes either
    essays.mkdir()
    for name in ("essay1.txt", "essay2.txt"):
        (essays / name).write_text("a first line\nand a second\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"essay1.txt: a .txt is read as fastText lines"):
        load_data(DataConfig(dataset=str(essays)))


def test_a_folder_of_one_table_per_class_without_a_label_column_is_labelled_by_file_name(tmp_path, caplog):
    """The fake-news set: Fake.csv and True.csv, columns title, text, subject, date, no label."""
    r = rows(40)
    root = tmp_path / "news"
    root.mkdir()
    for name, label in (("Fake.csv", "neg"), ("True.csv", "pos")):
        write_csv(root / name, ["title", "text", "subject", "date"],
                  [[f"t{i}", x["text"], "politics", "2017"] for i, x in enumerate(r) if x["label"] == label])  # fmt: skip
    with caplog.at_level(logging.WARNING):
        ld = load_data(DataConfig(dataset=str(root)))
    assert "no label column in Fake.csv, True.csv: one table per class, the label from the file's name" in caplog.text
    assert ld.label_names == ["Fake", "True"] and ld.text_column == "text"
    named = {"Fake": "neg", "True": "pos"}
    assert sorted((t, named[y]) for t, y in _all_rows(ld)) == sorted((x["text"], x["label"]) for x in r)
    both = tmp_path / "parts"  # files of rows with a label column of their own keep it
    both.mkdir()
    for name, part in (("reviews_a.csv", r[:20]), ("reviews_b.csv", r[20:])):
        write_csv(both / name, ["text", "airline_sentiment"], [[x["text"], x["label"]] for x in part])
    ld = load_data(DataConfig(dataset=str(both)))
    assert ld.label_column == "airline_sentiment" and _all_rows(ld) == sorted((x["text"], x["label"]) for x in r)
    versions = tmp_path / "sarcasm"  # two versions of one table (the Kaggle sarcasm set): its own label column
    versions.mkdir()
    for name in ("Sarcasm_Headlines_Dataset.json", "Sarcasm_Headlines_Dataset_v2.json"):
        write_jsonl(versions / name, [{"is_sarcastic": int(x["label"] == "pos"), "headline": x["text"]} for x in r])
    assert load_data(DataConfig(dataset=str(versions))).label_column == "is_sarcastic"
    shards = tmp_path / "shards"  # parts of one split named so, without a label column: not classes
    shards.mkdir()
    for name, part in (("train_part1.csv", r[:20]), ("train_part2.csv", r[20:])):
        write_csv(shards / name, ["text", "stance"], [[x["text"], x["label"]] for x in part])
    assert load_data(DataConfig(dataset=str(shards))).label_column == "stance"


def test_a_data_file_beside_named_splits_that_names_none_is_said_to_be_left_out(tmp_path, caplog):
    root = tmp_path / "kaggle"
    root.mkdir()
    write_csv(root / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(20)])
    write_csv(root / "holdout.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(6)])
    (root / "README.txt").write_text("about these files\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        ld = load_data(DataConfig(dataset=str(root)))
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 20 and "test" not in ld.splits
    assert "kaggle: left out holdout.csv: its name names no split (train, validation / dev, test)" in caplog.text
    assert "README" not in caplog.text


def test_trec_question_files_are_read_with_their_coarse_label(tmp_path, monkeypatch):
    """Li & Roth's train_5500.label and TREC_10.label ("NUM:dist How far ...?", a Windows-1252 byte or two):
    text, label (coarse) and fine_label; the `trec` preset reads them too (its coarse_label is the label)."""
    classes = ["NUM:dist", "LOC:city", "HUM:ind", "DESC:manner"]
    lines = [f"{classes[i % 4]} Question {i} about caf\u00e9s ?" for i in range(60)]
    root = tmp_path / "TREC"
    root.mkdir()
    (root / "train_5500.label").write_bytes("\n".join(lines[:48]).encode("cp1252") + b"\n\n")
    (root / "TREC_10.label").write_bytes("\r\n".join(lines[48:]).encode("utf-8"))
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    ld = load_data(DataConfig(dataset="trec"))  # the preset's coarse_label is the file's label
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["DESC", "HUM", "LOC", "NUM"])
    assert ld.test_labelled and list(ld.splits["test"]["text"]) == [
        f"Question {i} about caf\u00e9s ?" for i in range(48, 60)
    ]
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 48
    assert list(read_texts(root / "TREC_10.label")) == [f"Question {i} about caf\u00e9s ?" for i in range(48, 60)]
    packed = tmp_path / "train_5500.label.gz"
    packed.write_bytes(gzip.compress((root / "train_5500.label").read_bytes()))
    assert list(read_texts(packed))[:1] == ["Question 0 about caf\u00e9s ?"]  # questions, not labelled lines
    assert load_data(DataConfig(dataset=str(packed))).label_names == ["DESC", "HUM", "LOC", "NUM"]
    fine = load_data(DataConfig(dataset=str(root), label_column="fine_label"))
    assert fine.label_names == sorted(classes)
    assert load_data(DataConfig(dataset=str(root))).label_column == "label"  # the coarse classes, as Kim's
    (root / "TREC_10.label").write_text("NUM:dist How far ?\nnot a question line\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"TREC_10.label line 2 is not 'LABEL:fine question' .*'not a question line'"):
        load_data(DataConfig(dataset="trec"))


def test_a_fasttext_txt_is_read_as_texts_and_labels(tmp_path):
    lines = [f"__label__{x['label']}  {x['text']} " for x in rows(20)]
    p = tmp_path / "train.txt"
    p.write_text("\n".join([lines[0], "", "no label here", *lines[1:]]) + "\n", encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["neg", "pos"])
    texts = sorted(list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"]))
    assert texts == sorted(x["text"] for x in rows(20))  # the prefix and the spaces around the text gone
    assert "1 no label" in "\n".join(ld.report.lines()) and "1 empty text" in "\n".join(ld.report.lines())
    multi = tmp_path / "multi.txt"
    multi.write_text(lines[0] + "\n__label__pos __label__neg a mixed bag\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"multi.txt line 2 has 2 labels \(pos, neg\); textcnn does single-label"):
        load_data(DataConfig(dataset=str(multi)))
    last = tmp_path / "last.txt"  # labels at the end of the line, as fastText also reads them
    last.write_text("".join(f"{x['text']} __label__{x['label']}\n" for x in rows(20)), encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(last)))
    assert {(t, ld.label_names[y]) for split in ld.splits.values() for t, y in zip(split["text"], split["label"],
            strict=True)} == {(x["text"], x["label"]) for x in rows(20)}  # fmt: skip
    plain = tmp_path / "plain.txt"
    plain.write_text("a gorgeous film\na dull mess\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"plain.txt: a .txt is read as fastText lines .* has no __label__"):
        load_data(DataConfig(dataset=str(plain)))


@pytest.mark.parametrize("codec", ["utf-16", "cp1252"])
def test_a_fasttext_txt_in_utf16_or_windows_1252_is_read_in_it(tmp_path, caplog, codec):
    r = [{"text": f"{x['text']} caf\u00e9 \u201cna\u00efve\u201d", "label": x["label"]} for x in rows(20)]
    p = tmp_path / "train.txt"
    p.write_bytes("\r\n".join(f"__label__{x['label']} {x['text']}" for x in r).encode(codec))
    with caplog.at_level("WARNING"):
        ld = load_data(DataConfig(dataset=str(p)))
    assert (
        "train.txt is UTF-16" if codec == "utf-16" else "train.txt is not UTF-8: read as Windows-1252"
    ) in caplog.text
    assert ld.label_names == ["neg", "pos"]
    texts = sorted(list(ld.splits["train"]["text"]) + list(ld.splits["validation"]["text"]))
    assert texts == sorted(x["text"] for x in r)


def test_json_lines_whose_labels_mix_numbers_and_numeric_strings_are_one_label_set(tmp_path):
    records = [{"text": x["text"], "label": (1 if x["label"] == "pos" else 0)} for x in rows(20)]
    for r in records[::3]:
        r["label"] = str(r["label"])  # "1" in some lines, 1 in others: datasets types the column Json
    ld = load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "mixed.jsonl", records))))
    assert ld.label_names == ["0", "1"]
    by_text = {r["text"]: int(r["label"]) for r in records}
    for split in ("train", "validation"):
        for row in ld.splits[split]:
            assert row["label"] == by_text[row["text"]]
    records[1]["label"] = ["0", "1"]  # several labels in one row: refused
    with pytest.raises(DataError, match="holds Json values, not one label per row"):
        load_data(DataConfig(dataset=str(write_jsonl(tmp_path / "lists.jsonl", records))))


@pytest.mark.parametrize("orient", ["columns", "split", "index", "lists", "lines", "wrapped", "wrapped alone"])
def test_a_json_file_laid_out_by_columns_is_read_as_rows(tmp_path, orient):
    import pandas as pd

    r = rows(20)
    df = pd.DataFrame(r)
    p = tmp_path / "frame.json"
    if orient.startswith("wrapped"):  # the records under one key, beside metadata (SQuAD-style exports)
        meta = {} if orient == "wrapped alone" else {"version": "1.0", "info": {"source": "x"}}
        p.write_text(json.dumps({**meta, "data": r}), encoding="utf-8")
    elif orient == "lists":
        p.write_text(json.dumps({k: [x[k] for x in r] for k in ("text", "label")}), encoding="utf-8")
    elif orient == "lines":
        df.to_json(p, orient="records", lines=True)  # JSON lines in a .json: the datasets reader's
    else:
        df.to_json(p, orient=orient)  # "columns" is pandas' default
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["neg", "pos"])
    got = {(row["text"], ld.label_names[row["label"]]) for split in ld.splits.values() for row in split}
    assert got == {(x["text"], x["label"]) for x in r}


@pytest.mark.parametrize("sep", ["\t", ","])
def test_a_quote_mark_that_is_part_of_a_text_loses_no_rows(tmp_path, sep, caplog):
    r = rows(40)
    texts = [x["text"] for x in r]
    texts[3] = '"' + texts[3]  # a tweet that opens with a quote mark: csv quoting would run on to the next one
    texts[30] = texts[30] + ' on a 12" screen'
    p = tmp_path / ("tweets.tsv" if sep == "\t" else "tweets.csv")
    p.write_text("text" + sep + "label\n" + "".join(f"{t}{sep}{x['label']}\n" for t, x in zip(texts, r, strict=True)))
    ld = load_data(DataConfig(dataset=str(p), validation_fraction=0.1))
    got = sorted(row["text"] for split in ld.splits.values() for row in split)
    assert got == sorted(texts)  # every row, the quote marks in their texts
    assert "read as one row per line" in caplog.text and "(13 rows instead of 40)" in caplog.text
    caplog.clear()
    real = tmp_path / "real.csv"  # quoted cells that span lines or hold the separator: csv quoting is right
    real.write_text('text,label\n"first line\nsecond line",pos\n"a, b",neg\n' + "".join(
        f"{x['text']},{x['label']}\n" for x in r))  # fmt: skip
    texts = {row["text"] for split in load_data(DataConfig(dataset=str(real))).splits.values() for row in split}
    assert {"first line\nsecond line", "a, b"} <= texts and len(texts) == 42
    assert "one row per line" not in caplog.text


def test_header_lines_repeated_inside_a_csv_are_not_examples(tmp_path, caplog):
    r = rows(30)
    lines = [f"{x['text']},{x['label']}\n" for x in r]
    lines.insert(10, "text,label\n")  # two files joined with `cat`, each with its header
    lines.insert(21, "text,label\n")
    p = tmp_path / "joined.csv"
    p.write_text("text,label\n" + "".join(lines), encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p)))
    assert ld.label_names == ["neg", "pos"]  # no class "label"
    assert sum(len(split) for split in ld.splits.values()) == 30
    assert "dropped 2 repeated header lines (data rows 11, 22" in caplog.text


def test_fields_of_nested_json_objects_are_columns_named_parent_dot_child(tmp_path):
    r = rows(20)
    records = [{"review": {"text": x["text"], "stars": 5}, "meta": {"label": x["label"]}} for x in r]
    p = write_jsonl(tmp_path / "nested.jsonl", records)
    ld = load_data(DataConfig(dataset=str(p)))  # found by name: meta.label ends in "label"
    assert (ld.text_column, ld.label_column, ld.label_names) == ("review.text", "meta.label", ["neg", "pos"])
    got = {(row["text"], ld.label_names[row["label"]]) for split in ld.splits.values() for row in split}
    assert got == {(x["text"], x["label"]) for x in r}
    given = load_data(DataConfig(dataset=str(p), text_column="review.text", label_column="meta.label"))
    assert given.label_column == "meta.label"
    with pytest.raises(
        DataError, match=r"column 'meta.nope' is not in .*\(columns: review.text, review.stars, meta.label\)"
    ):
        load_data(DataConfig(dataset=str(p), label_column="meta.nope"))


def test_labels_that_differ_only_in_case_or_spacing_are_one_class(tmp_path):
    # 'pos' 10 times, 'POS' 6, ' Pos ' 4 in train; the test split spells it 'pOs', never seen in train
    spell = ["pos"] * 10 + ["POS"] * 6 + [" Pos "] * 4
    body = [[x["text"], spell.pop() if x["label"] == "pos" else x["label"]] for x in rows(40)]
    write_csv(tmp_path / "train.csv", ["text", "label"], body)
    write_csv(tmp_path / "test.csv", ["text", "label"], [["a fine film", "pOs"], ["a dull film", "NEG"]])
    ld = load_data(DataConfig(dataset=str(tmp_path)))
    assert ld.label_names == ["neg", "pos"]  # named by the most frequent spelling
    labels = [*ld.splits["train"]["label"], *ld.splits["validation"]["label"]]  # validation: held out of train
    assert (labels.count(1), len(labels)) == (20, 40)
    assert [ld.label_names[i] for i in ld.splits["test"]["label"]] == ["pos", "neg"]
    note = "note: labels 'POS', 'Pos', 'pos' differ only in case or spacing: one class, 'pos' (the most frequent"
    assert any(line.startswith(note) for line in ld.report.lines())
    # evaluating a run on another file spelled differently maps by the same rule
    ds, names = load_split(DataConfig(path=str(tmp_path / "test.csv")), "train", ["neg", "pos"])
    assert (list(ds["label"]), names) == ([1, 0], ["neg", "pos"])


def test_labels_that_differ_only_in_case_are_kept_apart_on_request(tmp_path):
    body = [[x["text"], x["label"].upper() if i % 4 == 0 else x["label"]] for i, x in enumerate(rows(40))]
    cfg = DataConfig(
        dataset=str(write_csv(tmp_path / "cased.csv", ["text", "label"], body)), merge_label_variants=False
    )
    ld = load_data(cfg)
    assert ld.label_names == ["POS", "neg", "pos"]
    assert "note: labels 'POS', 'pos' differ only in case or spacing: they are separate classes" in ld.report.lines()
    # a run with both spellings as classes maps exact spellings only: 'Pos' is neither
    write_csv(tmp_path / "other.csv", ["text", "label"], [["a fine film", "Pos"]])
    with pytest.raises(DataError, match="not among"):
        load_split(DataConfig(path=str(tmp_path / "other.csv")), "train", ["POS", "neg", "pos"])


def test_report_lines_summarise_each_split(tmp_path):
    write_csv(tmp_path / "train.csv", ["text", "label"], [[x["text"], x["label"]] for x in rows(20)] + [["  ", "pos"]])
    write_csv(tmp_path / "test.csv", ["text"], [["a"], ["b"]])
    lines = load_data(DataConfig(dataset=str(tmp_path))).report.lines()
    assert lines[0].startswith("data: ")
    assert any(line.startswith("train") and "1 empty text" in line and "held out" in line for line in lines)
    assert any(line.startswith("test") and "unlabelled" in line for line in lines)
    assert any(line.startswith("note: no validation split") for line in lines)


# ---------------------------------------------------------------------------------------------
# load_split (textcnn evaluate --data PATH --split NAME)


def test_load_split_maps_onto_the_runs_label_names(tmp_path):
    write_csv(tmp_path / "test.csv", ["text", "label"], [["a", "positive"], ["b", "negative"], ["c", ""]])
    ds, names = load_split(DataConfig(path=str(tmp_path)), "test", ["negative", "positive"])
    assert names == ["negative", "positive"]
    assert ds.column_names == ["text", "label"] and ds["label"][:] == [1, 0]
    with pytest.raises(DataError, match=r"labels of .* \(neutral\) are not among the run's labels"):
        write_csv(tmp_path / "test.csv", ["text", "label"], [["a", "neutral"], ["b", "negative"]])
        load_split(DataConfig(path=str(tmp_path)), "test", ["negative", "positive"])
    with pytest.raises(DataError, match=r"split 'dev' not found .*splits: "):
        load_split(DataConfig(path=str(tmp_path)), "dev", ["negative", "positive"])


def test_load_split_integer_ids_and_classlabel(tmp_path):
    write_csv(tmp_path / "test.csv", ["sentence", "label"], [["a", 1], ["b", 0]])
    ds, _ = load_split(DataConfig(path=str(tmp_path)), "test", ["negative", "positive"])
    assert ds["label"][:] == [1, 0]
    hub_dataset().save_to_disk(str(tmp_path / "saved"))
    ds, names = load_split(DataConfig(path=str(tmp_path / "saved")), "validation", ["positive", "negative"])
    assert ds["label"][:] == [0, 1, 0, 1]  # remapped by name
    with pytest.raises(DataError, match="do not match the run's labels"):
        load_split(DataConfig(path=str(tmp_path / "saved")), "validation", ["neg", "pos"])
    with pytest.raises(DataError, match="no labelled rows"):
        load_split(DataConfig(path=str(tmp_path / "saved")), "test", ["negative", "positive"])
    ds, names = load_split(DataConfig(path=str(tmp_path / "saved")), "validation")
    assert names == ["negative", "positive"] and len(ds) == 4


# ---------------------------------------------------------------------------------------------
# Preset files and the sample data


def dataset_presets() -> list[Path]:
    return [p for p in sorted(CONFIG_DIR.glob("*.toml")) if "hub_id" in read_toml(p).get("data", {})]


def test_every_dataset_preset_loads_and_describes_itself():
    presets = dataset_presets()
    expected = {"sst2", "trec", "rotten_tomatoes", "imdb", "ag_news", "yelp_polarity", "sst5", "emotion"}
    assert expected <= {p.stem for p in presets}
    for p in presets:
        cfg = load_config(p.stem)
        raw = read_toml(p)
        assert cfg.data.hub_id == raw["data"]["hub_id"] and cfg.data.text_column and cfg.data.label_column
        meta = raw["preset"]
        assert meta["description"] and len(meta["classes"]) >= 2 and "train" in meta["splits"], p.name
        # a dataset may set its own schedule (trec: Kim's 25 epochs), never the model
        assert set(raw) <= {"preset", "data", "tokenizer", "train"}, f"{p.name} sets model options"
        assert p.read_text().startswith("#"), f"{p.name} needs a comment header"
    assert load_config("trec").tokenizer.lowercase is False
    assert load_config("sst2").tokenizer.lowercase is True
    assert load_config("emotion").data.hub_config == "split"


def test_list_presets(tmp_path, monkeypatch):
    (tmp_path / "trec").mkdir()
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    listed = {p["name"]: p for p in D.list_presets()}
    assert set(listed) == {p.stem for p in dataset_presets()}
    assert listed["sst2"]["hub_id"] == "stanfordnlp/sst2" and listed["sst2"]["classes"] == ["negative", "positive"]
    assert listed["trec"]["local"] == str(tmp_path / "trec") and listed["sst2"]["local"] is None
    for p in listed.values():
        assert {"name", "hub_id", "text_column", "label_column", "classes", "splits", "description"} <= set(p)


def test_samples_are_reproducible_small_and_load(tmp_path):
    make = runpy.run_path(str(REPO / "data" / "make_samples.py"))
    for p in make["write"](tmp_path):
        assert p.read_bytes() == (REPO / "data" / p.name).read_bytes(), f"{p.name} is stale: run data/make_samples.py"
    total = sum(p.stat().st_size for p in (REPO / "data").iterdir() if p.is_file())
    assert total < 100_000
    for name in ("sample_sentiment.csv", "sample_sentiment.jsonl"):
        ld = load_data(DataConfig(dataset=str(REPO / "data" / name)))
        assert ld.label_names == ["negative", "positive"]
        counts = {
            k: ld.report.splits["train"].class_counts[k] + ld.report.splits["validation"].class_counts[k]
            for k in ld.label_names
        }
        assert counts == {"negative": 200, "positive": 200}
        assert ld.report.splits["train"].duplicates == 0


# ---------------------------------------------------------------------------------------------
# The real local copies (../shared/data), skipped when absent


@needs_shared_data
def test_shared_sst2():
    ld = load_data(DataConfig(dataset="sst2", path=str(shared_data_dir() / "sst2"), text_column="sentence"))
    assert [len(ld.splits[s]) for s in ("train", "validation", "test")] == [67_349, 872, 1_821]
    assert ld.label_names == ["negative", "positive"]
    assert not ld.test_labelled and not ld.validation_from_train
    assert_clean(ld)


@needs_shared_data
def test_shared_trec_through_textcnn_data_dir(monkeypatch, fake_hub):
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(shared_data_dir()))
    ld = load_data(load_config("trec").data, seed=0)
    assert fake_hub == []
    assert ld.label_names == ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    assert ld.validation_from_train and ld.test_labelled
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 5_452
    assert len(ld.splits["validation"]) == 545 and len(ld.splits["test"]) == 500


def test_importing_the_module_is_cheap():
    import subprocess
    import sys

    code = "import sys, textcnn.data.sources; textcnn.data.sources.list_presets(); assert 'datasets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_duplicate_and_conflict_counts_match_a_plain_count():
    from collections import Counter

    import numpy as np

    from textcnn.data.report import _duplicates

    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 7, 300):
        hashes = rng.integers(0, 6, n).astype(np.uint64) * np.uint64(2**61)  # few texts, hashes far apart
        labels = rng.integers(0, 3, n)
        pairs = Counter(zip(hashes.tolist(), labels.tolist(), strict=True))
        labels_per_text = Counter(h for h, _ in pairs)
        assert _duplicates(hashes, labels) == (n - len(pairs), sum(c > 1 for c in labels_per_text.values()))


def test_arrow_strips_exactly_the_characters_python_strips():
    import sys

    assert set(cleaning.WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


@pytest.mark.parametrize(
    "labels",
    [
        [1, 0, None, 1, 2, 0, 5, None],
        ["pos", " neg ", None, "", "pos", "neg", "other", "-1"],
        ["pos", "N/A", "neg", "null", " NaN ", "#N/A", "na", "none"],
        [1.0, 0.0, float("nan"), 1.0, None, 0.0, 2.5, 1.0],
        [True, False, None, True, False, True, True, False],
        ["POS", " Neg ", "pOs", "other", None, "", "neg", "pos"],
    ],
)
def test_cleaning_in_arrow_keeps_the_python_rules(labels):
    """Texts stripped as str.strip() strips them; each raw label decided as `_label_of` decides it."""
    import pyarrow as pa

    texts = ["  a film\u3000", None, "\x1c\t\n", "", "x\u00a0y ", "\u2028b\x85", "ok", " c "]
    numeric = not isinstance(labels[0], (str, bool))
    mapping = (
        {0: 0, 1: 1, "neg": 0, "pos": 1, "True": 1, "False": 0, NO_LABEL: 2}
        if numeric
        else {"neg": 0, "pos": 1, "True": 1, "False": 0}
    )
    folded = None if numeric else {"neg": 0, "pos": 1}  # spellings merged, as `plan_labels` merges them
    table = pa.table({"t": texts, "l": labels})
    got = cleaning._clean_table(
        table, text_column="t", label_column="l", mapping=mapping, numeric=numeric, folded=folded
    ).to_pydict()
    want_label = [cleaning._label_of(v, Labels([], mapping, numeric, folded=folded)) for v in labels]
    want_text = [t.strip() if t is not None else "" for t in texts]
    reasons = [
        "missing text" if t is None else "empty text" if not t.strip() else r
        for t, (_, r) in zip(texts, want_label, strict=True)
    ]
    assert got == {"text": want_text, "label": [i for i, _ in want_label], "_drop": reasons}


def test_mixed_json_labels_are_decided_from_their_json_values(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "1"}\n{"text": "c", "label": null}\n')
    ds = datasets.load_dataset("json", data_files=str(p), split="train")
    assert type(ds.features["label"]).__name__ == "Json"
    table = ds.with_format("arrow")[:]
    got = cleaning._clean_table(table, text_column="text", label_column="label", mapping={1: 0}, numeric=True)
    assert got.column("label").to_pylist() == [0, 0, -1] and got.column("_drop").to_pylist() == ["", "", "no label"]


def test_a_text_column_named_title_plus_body_joins_the_two(tmp_path):
    r = rows(30)
    records = [{"title": f"title {i}", "body": x["text"], "label": x["label"]} for i, x in enumerate(r)]
    records[3]["title"] = None  # a missing part leaves the other alone
    records[4]["body"] = "  "
    p = write_jsonl(tmp_path / "reviews.jsonl", records)
    ld = load_data(DataConfig(dataset=str(p), text_column="title+body"))
    texts = {row["text"] for split in ld.splits.values() for row in split}
    assert f"title 0 {r[0]['text']}" in texts and r[3]["text"] in texts and "title 4" in texts
    assert len(texts) == 30 and ld.text_column == "title+body"
    ds, names = load_split(DataConfig(dataset=str(p), text_column="title + body"), "train")  # evaluate's path
    assert names == ["neg", "pos"] and f"title 1 {r[1]['text']}" in ds["text"]
    with pytest.raises(DataError, match=r"text column 'title\+nope' is not in"):
        load_data(DataConfig(dataset=str(p), text_column="title+nope"))
    numbers = write_jsonl(tmp_path / "numbers.jsonl", [{"title": "t", "stars": i, "label": x["label"]}
                                                       for i, x in enumerate(r)])  # fmt: skip
    with pytest.raises(DataError, match=r"column 'stars' of the text column 'title\+stars' holds int64 values"):
        load_data(DataConfig(dataset=str(numbers), text_column="title+stars"))


def test_comment_lines_before_the_header_are_skipped_but_a_hashtag_row_is_data(tmp_path, caplog):
    r = rows(30)
    body = "".join(f"{x['text']},{x['label']}\n" for x in r)
    p = tmp_path / "export.csv"
    p.write_text("# exported by some tool v1\n#\n# 2026-12-01\n\ntext,label\n" + body, encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p)))
    assert ld.label_names == ["neg", "pos"] and sum(len(s) for s in ld.splits.values()) == 30
    assert "skipped 4 comment lines (starting with #) before its header" in caplog.text
    semi = tmp_path / "export-semicolons.csv"  # and before a header the separator is then found in
    semi.write_text("# exported by some tool v1\ntext;label\n" + body.replace(",", ";"), encoding="utf-8")
    assert sum(len(s) for s in load_data(DataConfig(dataset=str(semi))).splits.values()) == 30
    caplog.clear()
    tags = tmp_path / "tweets.csv"  # no header, and the first tweet opens with a hashtag
    tags.write_text("#blessed what a day,pos\n" + body, encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(tags)))
    texts = {row["text"] for split in ld.splits.values() for row in split}
    assert "#blessed what a day" in texts and len(texts) == 31 and "comment" not in caplog.text


def test_a_title_before_the_header_is_skipped_in_training_and_prediction(tmp_path, caplog):
    r = rows(30)
    body = "".join(f"{x['text']},{x['label']}\n" for x in r)
    for name, title in (
        ("report.csv", "Reviews exported 2026-12-01\n\n"),
        ("sheet.csv", "My reviews\nNotes: films of 2026\n"),
    ):
        p = tmp_path / name
        p.write_text(title + "text,label\n" + body, encoding="utf-8")
        caplog.clear()
        ld = load_data(DataConfig(dataset=str(p)))
        assert sorted(_all_rows(ld)) == sorted((x["text"], x["label"]) for x in r), name
        assert f"{name}: skipped {title.count(chr(10))} lines before its header (a title: " in caplog.text
        assert list(read_texts(p)) == [x["text"] for x in r]
    plain = write_csv(tmp_path / "plain.csv", ["text", "label"], [[x["text"], x["label"]] for x in r])
    caplog.clear()
    assert len(_all_rows(load_data(DataConfig(dataset=str(plain))))) == 30 and "title" not in caplog.text
    commas = write_csv(tmp_path / "commas.csv", ["text", "label"], [[x["text"] + ", really", x["label"]] for x in r])
    with pytest.raises(DataError, match="line 2 has 3 fields but the header has 2"):  # not a title line
        load_data(DataConfig(dataset=str(commas)))


def test_an_archive_is_read_as_what_it_holds_and_unpacked_once(tmp_path, monkeypatch):
    """A Kaggle-style zip (one folder of split files, macOS's resource copies beside them) and a tarball of
    class folders train as the folder would; a second load reads the unpacked copy."""
    import tarfile
    import zipfile

    from textcnn.data import archives

    table = "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows(40))
    z = tmp_path / "archive.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("reviews/train.csv", table)
        f.writestr("reviews/test.csv", "text,label\na fine film,pos\na dull film,neg\n")
        f.writestr("__MACOSX/reviews/._train.csv", b"\x00\x05\x16\x07 not a csv")  # read, it would break the split
        f.writestr("reviews/.DS_Store", b"\x00\x00\x00\x01Bud1")
    ld = load_data(DataConfig(dataset=str(z)))
    assert _all_rows(ld) == sorted((r["text"], r["label"]) for r in rows(40))
    assert sorted(ld.splits["test"]["text"]) == ["a dull film", "a fine film"]

    def unpack_again(*_):
        raise AssertionError("unpacked twice")

    monkeypatch.setattr(archives, "_unpack", unpack_again)
    assert _all_rows(load_data(DataConfig(dataset=str(z)))) == _all_rows(ld)
    monkeypatch.undo()

    for split, label, word in (("train", "pos", "wonderful"), ("train", "neg", "awful"), ("test", "pos", "great")):
        folder = tmp_path / "corpus" / split / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(6):
            (folder / f"{i}.txt").write_text(f"a {word} film {i}", encoding="utf-8")
    (tmp_path / "corpus" / "test" / "neg").mkdir()
    (tmp_path / "corpus" / "test" / "neg" / "0.txt").write_text("a dull film", encoding="utf-8")
    tgz = tmp_path / "corpus.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(tmp_path / "corpus", arcname="corpus")
    ld = load_data(DataConfig(dataset=str(tgz)))
    assert sorted(ld.label_names) == ["neg", "pos"] and len(ld.splits["test"]) == 7
    assert len(ld.splits["train"]) + len(ld.splits["validation"]) == 12

    # Pang & Lee's rt-polaritydata.tar.gz: the folder of one file per class, its README beside the folder
    polarity = tmp_path / "rt-polaritydata.tar.gz"
    with tarfile.open(polarity, "w:gz") as t:
        for name, label in (("rt-polaritydata/rt-polarity.pos", "pos"), ("rt-polaritydata/rt-polarity.neg", "neg"),
                            ("rt-polaritydata.README.1.0.txt", None)):  # fmt: skip
            data = "".join(f"{r['text']} \n" for r in rows(40) if r["label"] == label).encode() or b"v1.0\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert _all_rows(load_data(DataConfig(dataset=str(polarity)))) == sorted((r["text"], r["label"]) for r in rows(40))


def test_a_broken_or_unsafe_archive_is_one_line_and_leaves_nothing_behind(tmp_path):
    import io
    import tarfile

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + bytes(range(100)))
    with pytest.raises(DataError, match=r"could not unpack .*broken.zip: "):
        load_data(DataConfig(dataset=str(broken)))
    unsafe = tmp_path / "unsafe.tar"
    with tarfile.open(unsafe, "w") as t:
        data = b"text,label\na fine film,pos\n"
        info = tarfile.TarInfo("../escaped.csv")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(
        DataError, match=r"could not unpack \S*unsafe.tar: member '../escaped.csv' would be unpacked outside"
    ):
        load_data(DataConfig(dataset=str(unsafe)))
    unpacked = Path(datasets.config.HF_DATASETS_CACHE) / "textcnn-archives"
    assert not list(unpacked.glob("broken-*")) and not list(unpacked.glob("unsafe-*"))
    assert not (Path(datasets.config.HF_DATASETS_CACHE) / "escaped.csv").exists()


def test_label_and_text_columns_found_beyond_the_usual_names(tmp_path, caplog):
    """Kaggle-style tables: the label by a part of its name (the tweets' airline_sentiment beside its
    _confidence), else as the one column whose values repeat as classes do (the sarcasm headlines'
    is_sarcastic, the spam set's v1 / v2); the text as the one string column that is not numbers or links."""
    texts = [f"{['a fine', 'a dull'][i % 2]} film number {i}" for i in range(60)]
    labels = [["pos", "neg"][i % 2] for i in range(60)]
    confidence = [f"0.{(i * 7919) % 10_000:04d}" for i in range(60)]
    links = [f"https://example.com/news/{i}-a-long-article-slug" for i in range(60)]
    cases = [
        (["tweet_id", "airline_sentiment", "airline_sentiment_confidence", "text"],
         [range(60), labels, confidence, texts], "text", "airline_sentiment", "by its name"),
        (["id", "text_a", "label_id", "confidence"], [range(60), texts, labels, confidence], "text_a", "label_id",
         "not numbers"),
        (["article_link", "headline", "is_sarcastic"], [links, texts, [i % 2 for i in range(60)]], "headline",
         "is_sarcastic", "values repeat"),
        (["v1", "v2", "Unnamed: 2"], [labels, texts, [""] * 59 + ["x"]], "v2", "v1", "values repeat"),
    ]  # fmt: skip
    for i, (header, columns, text, label, why) in enumerate(cases):
        p = write_csv(tmp_path / f"{i}.csv", header, [list(r) for r in zip(*columns, strict=True)])
        caplog.clear()
        with caplog.at_level("WARNING"):
            ld = load_data(DataConfig(dataset=str(p)))
        assert (ld.text_column, ld.label_column) == (text, label), header
        assert why in caplog.text, header
    pairs = list(zip(texts, labels, strict=True))
    p = write_csv(tmp_path / "lang.csv", ["text", "lang", "mood"], [[t, "en", y] for t, y in pairs])
    assert load_data(DataConfig(dataset=str(p))).label_column == "mood"  # not the constant column
    p = write_csv(tmp_path / "two.csv", ["text", "lang", "mood"], [[t, "fr" if i % 3 else "en", y]
                                                                   for i, (t, y) in enumerate(pairs)])  # fmt: skip
    with pytest.raises(DataError, match=r"ambiguous label column .*: lang, mood .*--label-column"):
        load_data(DataConfig(dataset=str(p)))


def test_a_class_of_one_row_among_large_ones_is_noted(tmp_path):
    """A summary line under a table ("Total,300") becomes a class of its own; the report says so."""
    body = [[x["text"], x["label"]] for x in rows(200)] + [["Total", "300"]]
    ld = load_data(DataConfig(dataset=str(write_csv(tmp_path / "footer.csv", ["text", "label"], body))))
    assert any(
        n.startswith("class '300' has only 1 row (a typical class 100): a summary line") for n in ld.report.notes
    )
    ld = load_data(DataConfig(dataset=str(write_csv(tmp_path / "plain.csv", ["text", "label"], body[:-1]))))
    assert not any("has only" in n for n in ld.report.notes)


def test_a_headerless_file_like_sentiment140_finds_its_label_and_text(tmp_path):
    """Sentiment140's csv has no header: polarity, id, date, a constant "NO_QUERY", user, tweet. The
    constant column is no label, and the date (more characters than a short tweet) is no text."""
    r = rows(40)
    body = [[("0" if x["label"] == "neg" else "4"), str(1467810369 + i), f"Mon Apr 06 22:{i:02d}:49 PDT 2009", "NO_QUERY",
             f"user{i % 7}", x["text"][:18]] for i, x in enumerate(r)]  # fmt: skip
    p = tmp_path / "training.1600000.processed.noemoticon.csv"
    p.write_text("".join(",".join(f'"{c}"' for c in row) + "\n" for row in body), encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p)))
    assert (ld.text_column, ld.label_column, ld.label_names) == ("text", "label", ["0", "4"])
    assert sorted(_all_rows(ld)) == sorted((row[5].strip(), row[0]) for row in body)


def test_tab_separated_lines_in_a_txt_or_a_file_without_a_suffix_are_a_table(tmp_path, caplog):
    """The SMS Spam Collection ships as `SMSSpamCollection`: "ham<TAB>text" lines, no suffix, no header."""
    r = rows(30)
    body = "".join(f"{x['label']}\t{x['text']}\n" for x in r)
    for name in ("SMSSpamCollection", "spam.txt"):
        (tmp_path / name).write_text(body, encoding="utf-8")
        caplog.clear()
        ld = load_data(DataConfig(dataset=str(tmp_path / name)))
        assert _all_rows(ld) == sorted((x["text"], x["label"]) for x in r), name
        assert f"{name}: read as tab-separated columns (each of its first lines has 1 tab" in caplog.text
    ft = tmp_path / "ft.txt"  # fastText lines keep their reading, a tab in them or not
    ft.write_text("".join(f"__label__{x['label']}\t{x['text']}\n" for x in r), encoding="utf-8")
    assert _all_rows(load_data(DataConfig(dataset=str(ft)))) == sorted((x["text"], x["label"]) for x in r)
    (tmp_path / "notes").write_text("a note\nwith no tabs\n", encoding="utf-8")
    with pytest.raises(DataError, match="notes: unsupported file type"):
        load_data(DataConfig(dataset=str(tmp_path / "notes")))


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("@", "'@'"), ("|", "'|'")])
def test_a_txt_of_text_and_label_separated_otherwise_is_a_table(tmp_path, caplog, sep, name):
    """The emotion set's train.txt ("i feel low;sadness"), the Financial PhraseBank's "text@positive"."""
    r = rows(30)
    p = tmp_path / "train.txt"
    p.write_text("".join(f"{x['text']}{sep}{x['label']}\n" for x in r), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ld = load_data(DataConfig(dataset=str(p)))
    assert _all_rows(ld) == sorted((x["text"], x["label"]) for x in r)
    assert f"train.txt: read as {name}-separated columns (each of its first lines has 1 {name}" in caplog.text
    assert list(read_texts(p)) == [x["text"] for x in r]  # predict --file reads the same column
    prose = tmp_path / "prose.txt"  # one separator a line, but no column of labels: not a table
    prose.write_text("".join(f"part {i}{sep}and more {i}\n" for i in range(30)), encoding="utf-8")
    with pytest.raises(DataError, match="prose.txt: a .txt is read as fastText lines"):
        load_data(DataConfig(dataset=str(prose)))
    assert list(read_texts(prose))[:1] == [f"part 0{sep}and more 0"]


@pytest.mark.parametrize("bad_lines", ["error", "skip"])
def test_quote_marks_escaped_with_a_backslash_are_quote_marks(tmp_path, bad_lines):
    """Kaggle's labeledTrainData.tsv (IMDB): "id"<TAB>sentiment<TAB>"a \\"moving\\" film"."""
    r = rows(30)
    p = tmp_path / "labeledTrainData.tsv"
    body = "".join(f'"{i}_7"\t{x["label"]}\t"{x["text"]}, a \\"moving\\" one"\n' for i, x in enumerate(r))
    p.write_text("id\tsentiment\treview\n" + body, encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(p), bad_lines=bad_lines))
    want = sorted((f'{x["text"]}, a "moving" one', x["label"]) for x in r)
    assert (ld.text_column, _all_rows(ld)) == ("review", want)
    assert sorted(read_texts(p)) == sorted(t for t, _ in want)  # predict --file reads them alike
    plain = tmp_path / "paths.csv"  # a backslash before a closing quote mark is a character, as csv reads it
    plain.write_text("text,label\n" + "".join(f'"{x["text"]} in C:\\films\\",{x["label"]}\n' for x in r))
    assert sorted(read_texts(plain)) == sorted(f"{x['text']} in C:\\films\\" for x in r)
    assert [t for t, _ in _all_rows(load_data(DataConfig(dataset=str(plain))))] == sorted(read_texts(plain))


def test_a_folder_of_split_files_without_a_suffix_keeps_its_splits(tmp_path):
    """SentEval's SST/binary: sentiment-train, sentiment-dev, sentiment-test, "text<TAB>label" lines."""
    root = tmp_path / "binary"
    root.mkdir()
    parts = {"sentiment-train": rows(30), "sentiment-dev": rows(10)[::-1], "sentiment-test": rows(8)}
    for name, r in parts.items():
        (root / name).write_text("".join(f"{x['text']}\t{x['label']}\n" for x in r), encoding="utf-8")
    ld = load_data(DataConfig(dataset=str(root)))
    assert sorted(ld.splits) == ["test", "train", "validation"] and ld.test_labelled
    assert sorted(ld.splits["train"]["text"]) == sorted(x["text"] for x in rows(30))
    assert list(ld.splits["validation"]["text"]) == [x["text"] for x in rows(10)[::-1]]
    assert len(ld.splits["test"]) == 8


def test_predict_reads_a_tab_separated_txt_as_training_reads_it(tmp_path, caplog):
    """`predict --file` on the file a run trained on: the text cells, not whole lines with their labels."""
    r = rows(30)
    headerless = tmp_path / "SMSSpamCollection"
    headerless.write_text("".join(f"{x['label']}\t{x['text']}\n" for x in r), encoding="utf-8")
    named = tmp_path / "reviews.txt"
    named.write_bytes(("label\ttext\r\n" + "".join(f"{x['label']}\t{x['text']}\r\n" for x in r)).encode("utf-16"))
    for p in (headerless, named):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert list(read_texts(p)) == [x["text"] for x in r], p.name
        assert f"{p.name}: read as tab-separated columns" in caplog.text
    assert list(read_texts(named, text_column="LABEL")) == [x["label"] for x in r]
    ids = tmp_path / "ids.txt"  # unlabelled "id<TAB>text" lines: no text column named, so one text a line
    ids.write_text("".join(f"{i}\t{x['text']}\n" for i, x in enumerate(r)), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert list(read_texts(ids)) == [f"{i}\t{x['text']}" for i, x in enumerate(r)]
    assert "ids.txt: its first line names no text column (columns: 0, " in caplog.text
    with pytest.raises(PredictError, match="text column 'body' is not in"):
        list(read_texts(ids, text_column="body"))
    plain = tmp_path / "plain.txt"  # lines without tabs stay lines
    plain.write_text("a fine film\na dull one\n", encoding="utf-8")
    assert list(read_texts(plain)) == ["a fine film", "a dull one"]


def test_a_given_column_name_matches_in_any_case_in_training_and_prediction(tmp_path):
    r = rows(30)
    p = write_csv(tmp_path / "news.csv", ["Class Index", "Title", "Description"],
                  [[x["label"], f"t{i}", x["text"]] for i, x in enumerate(r)])  # fmt: skip
    ld = load_data(DataConfig(dataset=str(p), text_column="description", label_column="class index"))
    assert (ld.text_column, ld.label_column) == ("Description", "Class Index")
    ld = load_data(DataConfig(dataset=str(p), text_column="title+description", label_column="Class Index"))
    assert f"t0 {r[0]['text']}" in {x["text"] for s in ld.splits.values() for x in s}
    assert list(read_texts(p, text_column="DESCRIPTION"))[:2] == [r[0]["text"], r[1]["text"]]
    assert next(iter(read_texts(p, text_column="title + description"))) == f"t0 {r[0]['text']}"
    with pytest.raises(DataError, match=r"text column 'summary' is not in"):
        load_data(DataConfig(dataset=str(p), text_column="summary"))
