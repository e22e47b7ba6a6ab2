"""Prediction: the Predictor API, streaming in input order, readers and writers, bad inputs and bad run
folders (one clear error each), the folded CNN's parity with the model, and evaluate_run."""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import random
import shutil
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import FILL, NEG, POS, needs_shared_data, shared_data_dir, toy_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textcnn import run as runlib
from textcnn.config import load_config
from textcnn.errors import ConfigError
from textcnn.inference import io as io_mod
from textcnn.inference.evaluate import evaluate_run
from textcnn.inference.io import (
    BOM,
    predict_file,
    predict_stream,
    read_lines,
    write_csv,
    write_json,
    write_jsonl,
    write_predictions,
)
from textcnn.inference.predictor import PredictError, Prediction, Predictor, Scores
from textcnn.run import RunError

MAX_LENGTH = 24
TINY = [
    "model.embedding_dim=16",
    "model.feature_maps=8",
    f"tokenizer.max_length={MAX_LENGTH}",
    "train.log_every=50",
    "train.checkpoint_every_minutes=0",
]


def write_csv_rows(path, rows):
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    return write_csv_rows(tmp_path_factory.mktemp("toy") / "toy.csv", toy_rows(300))


@pytest.fixture(scope="module")
def run_dir(toy_csv, tmp_path_factory):
    from textcnn.training.trainer import train

    cfg = load_config(str(toy_csv), sets=[*TINY, "train.epochs=6", "train.optimizer=adam", "train.lr=0.01"])
    return train(cfg, tmp_path_factory.mktemp("runs") / "cnn")


@pytest.fixture(scope="module")
def predictor(run_dir):
    return Predictor.from_run(run_dir)


def copy_run(run_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst)
    return dst


# ---------------------------------------------------------------------------------------------
# API


def test_predict_returns_one_prediction_per_text_in_order_with_every_class(predictor):
    texts = ["a great and wonderful film", "a dull and boring story", "superb", "the plot was awful and clumsy"]
    preds = predictor.predict(texts)
    assert [p.text for p in preds] == texts
    assert [p.label for p in preds] == ["positive", "negative", "positive", "negative"]
    for p in preds:
        assert isinstance(p, Prediction)
        assert list(p.probabilities) == ["negative", "positive"]
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        assert p.probability == max(p.probabilities.values()) == p.probabilities[p.label]
        assert p.top == [(p.label, p.probability)]
        assert not p.truncated and not p.empty and p.n_unknown == 0
    assert [p.n_tokens for p in preds] == [5, 5, 1, 6]


def test_load_run_public_api_and_specs(run_dir, monkeypatch):
    import textcnn

    preds = textcnn.load_run(run_dir).predict(["a lovely story"])
    assert preds[0].label == "positive"
    # 'latest' and a dataset name resolve under TEXTCNN_RUNS_DIR
    monkeypatch.setenv("TEXTCNN_RUNS_DIR", str(run_dir.parent))
    named = run_dir.parent / "toy-cnn-20990101-000000"
    shutil.copytree(run_dir, named)
    assert Predictor.from_run("latest").path == named
    assert Predictor.from_run("toy").path == named


def test_top_k_lists_labels_by_probability(predictor):
    (p,) = predictor.predict(["a dull film"], top_k=5)
    assert [name for name, _ in p.top] == ["negative", "positive"]  # clipped to the 2 classes
    assert p.top[0][1] >= p.top[1][1]
    assert p.to_dict(top=True)["top"][0] == {"label": "negative", "probability": p.top[0][1]}
    for bad in (0, -1, 1.5, True):
        with pytest.raises(PredictError, match="top_k"):
            predictor.predict(["x"], top_k=bad)


def test_predictions_do_not_depend_on_batching_or_batch_mates(predictor, run_dir):
    texts = [t for t, _ in toy_rows(60, seed=3)] + ["", "great"]
    alone = np.array([[q.probabilities["positive"] for q in predictor.predict([t])] for t in texts]).ravel()
    small = Predictor.from_run(run_dir, batch_size=3)
    together = np.array([q.probabilities["positive"] for q in small.predict(texts)])
    np.testing.assert_allclose(together, alone, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Bad inputs: a correct answer, flagged, or one clear error


def test_empty_and_whitespace_texts_are_predicted_from_padding_and_flagged(predictor):
    preds = predictor.predict(["", "   ", "\t\n ", "great"])
    for p in preds[:3]:
        assert p.empty and p.n_tokens == 0 and p.n_unknown == 0
        assert "padding" in p.note
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
        assert p.probabilities == preds[0].probabilities  # the same all-pad input
    assert not preds[3].empty
    assert preds[0].to_dict()["empty"] is True


def test_unknown_words_emoji_and_any_unicode_get_an_answer(predictor):
    texts = ["zzkq blorf", "😀🎬 great 🍿", "très bien, ça marche", "日本語のテキスト", "a\x00b", "bad \ud800 film"]
    preds = predictor.predict(texts)
    assert [p.text for p in preds] == texts
    for p in preds:
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
        assert np.isfinite(list(p.probabilities.values())).all()
    assert preds[0].n_unknown == preds[0].n_tokens == 2
    assert "unknown" in preds[0].note
    assert preds[1].label == "positive" and 0 < preds[1].n_unknown < preds[1].n_tokens


def test_long_text_is_truncated_and_says_so(predictor):
    words = ["great"] * MAX_LENGTH + ["awful"] * 200
    (p,) = predictor.predict([" ".join(words)])
    assert p.truncated and p.n_tokens == len(words)
    assert "truncated" in p.note
    (q,) = predictor.predict([" ".join(words[:MAX_LENGTH])])
    assert not q.truncated
    assert p.probabilities == pytest.approx(q.probabilities)  # the model read exactly the first max_length
    assert p.label == "positive"


def test_wrong_input_types_are_one_clear_error(predictor):
    with pytest.raises(PredictError, match="list of texts"):
        predictor.predict("a single string")
    with pytest.raises(PredictError, match="text 1 is int"):
        predictor.predict(["ok", 3])
    assert predictor.predict([]) == []


TABLE_TEXTS = ["great film, truly", "awful\nand dull", "", "a moving story"]


def _table(tmp_path, kind):
    """TABLE_TEXTS as a table of `kind` with an id and a label column around the text column ("review")."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": i, "review": t, "stars": 5 - i} for i, t in enumerate(TABLE_TEXTS)]
    p = tmp_path / ("table.json" if kind.startswith("json ") else f"table.{kind}")
    if kind in ("csv", "csv.gz", "tsv"):
        sep = "\t" if kind == "tsv" else ","
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
        writer.writerow(["id", "review", "stars"])
        writer.writerows([[r["id"], r["review"], r["stars"]] for r in rows])
        data = b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")  # a BOM and CRLF, as spreadsheets write
        p.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    elif kind == "jsonl":
        rows[2].pop("review")  # a record without the text: an empty text
        p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        p.write_text(json.dumps({k: [r[k] for r in rows] for k in rows[0]}), encoding="utf-8")  # columns
    elif kind == "json pandas":
        import pandas as pd

        pd.DataFrame(rows).to_json(p)  # pandas' default: {"review": {"0": ..., ...}, ...}
    elif kind == "json lines":
        p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind in ("feather", "arrow"):  # the Arrow IPC file format (Feather v2), the stream format
        table = pa.Table.from_pylist(rows)
        with (
            pa.OSFile(str(p), "wb") as sink,
            (pa.ipc.new_file if kind == "feather" else pa.ipc.new_stream)(sink, table.schema) as w,
        ):
            w.write_table(table, max_chunksize=2)  # several record batches
    else:
        pq.write_table(pa.Table.from_pylist(rows), p)
    return p


@pytest.mark.parametrize(
    "kind", ["csv", "csv.gz", "tsv", "jsonl", "json", "json pandas", "json lines", "parquet", "feather", "arrow"]
)
def test_a_table_file_is_predicted_from_its_text_column(predictor, tmp_path, kind):
    p = _table(tmp_path, kind)
    out = io.StringIO()
    summary = predict_file(predictor, p, out, fmt="jsonl")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["text"] for r in records] == TABLE_TEXTS  # one record per row, in order; not one per line
    assert summary.written == 4 and summary.empty == 1 and records[2]["empty"]
    expected = predictor.predict(TABLE_TEXTS)
    assert [r["label"] for r in records] == [e.label for e in expected]


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet"])
def test_a_text_inside_nested_objects_is_found_as_training_names_it(predictor, tmp_path, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"review": {"text": t, "stars": i}, "meta": {"label": "pos"}} for i, t in enumerate(TABLE_TEXTS)]
    p = tmp_path / f"nested.{kind}"
    if kind == "jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        p.write_text(json.dumps(rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), p)
    for column in (None, "review.text"):  # found by name (review_text), or the run's / the user's column
        out = io.StringIO()
        predict_file(predictor, p, out, text_column=column)
        assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == TABLE_TEXTS
    with pytest.raises(PredictError, match="row 1: the text column holds int values, not text"):
        predict_file(predictor, p, io.StringIO(), text_column="review.stars")
    with pytest.raises(
        PredictError, match=r"'review.nope' is not in .*\(columns: review.text, review.stars, meta.label\)"
    ):
        predict_file(predictor, p, io.StringIO(), text_column="review.nope")


def test_a_quote_mark_that_is_part_of_a_text_keeps_one_record_per_row(predictor, tmp_path, caplog):
    texts = [f"text number {i}" for i in range(12)]
    texts[2], texts[8] = '"a lone quote', 'a 12" screen'  # csv quoting would run from one to the other
    p = tmp_path / "tweets.tsv"
    p.write_text("id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(texts)), encoding="utf-8")
    out = io.StringIO()
    summary = predict_file(predictor, p, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == texts and summary.written == 12
    assert "read as one row per line from row 3 on" in caplog.text
    real = tmp_path / "real.csv"  # quoted cells over two lines: one record each, read with quoting
    real.write_text('text,label\n"first\nsecond",pos\n"a, b",neg\n"third\nfourth",pos\nplain,pos\n', encoding="utf-8")
    out = io.StringIO()
    from textcnn.data import sources

    with mock.patch.object(sources, "quotes_are_text", wraps=sources.quotes_are_text) as looked:
        predict_file(predictor, real, out)
    texts = [json.loads(line)["text"] for line in out.getvalue().splitlines()]
    assert texts == ["first\nsecond", "a, b", "third\nfourth", "plain"]
    assert looked.call_count == 1  # the whole file is looked at once, not once per multi-line cell


def test_header_lines_repeated_inside_a_csv_are_not_predicted(predictor, tmp_path, caplog):
    texts = [f"text number {i}" for i in range(12)]
    quoted = texts[:6] + ['"a lone quote'] + texts[7:]  # the reading switches to one row per line there
    for name, sep, rows, at, said in [
        ("joined.csv", ",", texts, [4], "skipped 1 repeated header line (data rows 5:"),
        ("joined.tsv", "\t", quoted, [3, 10], "skipped 2 repeated header lines (data rows 4, 11:"),
    ]:
        caplog.clear()
        lines = [f"{i}{sep}{t}\n" for i, t in enumerate(rows)]
        for i in at:  # files joined with `cat`, each with its header, as training drops them
            lines.insert(i, f"id{sep}text\n")
        p = tmp_path / name
        p.write_text(f"id{sep}text\n" + "".join(lines), encoding="utf-8")
        out = io.StringIO()
        assert predict_file(predictor, p, out).written == 12
        assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == rows
        assert said in caplog.text


def test_a_csv_row_with_extra_fields_is_skipped_with_a_warning_or_stops_the_reading(tmp_path, caplog):
    from textcnn.inference import io as io_mod

    texts = [f"text number {i}" for i in range(30)]
    for at in (0, 25):  # in the first rows (the layout check) and past them (the reading)
        rows = [f'"{t}",pos' for t in texts]
        rows[at] = "a dull, boring film,neg"  # the separator unquoted: 3 fields
        p = tmp_path / f"extra{at}.csv"
        p.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
        caplog.clear()
        skipped: list[int] = []
        with caplog.at_level("WARNING"):
            assert list(io_mod.read_texts(p, skipped=skipped)) == texts[:at] + texts[at + 1 :]
        assert skipped == [at + 2] and f"line {at + 2}: 3 fields but the header has 2" in caplog.text
        with pytest.raises(PredictError, match=rf"line {at + 2}.* 3 fields but the header has 2.*use --on-error skip$"):
            list(io_mod.read_texts(p, on_error="stop"))


def test_the_text_column_of_a_table_is_chosen_or_named(predictor, tmp_path):
    p = _table(tmp_path, "csv")
    out = io.StringIO()
    predict_file(predictor, p, out, text_column="stars")
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["5", "4", "3", "2"]
    with pytest.raises(PredictError, match=r"text column 'nope' is not in .*table.csv \(columns: id, review, stars\)"):
        predict_file(predictor, p, io.StringIO(), text_column="nope")
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"a": "x", "b": "y"}\n', encoding="utf-8")
    with pytest.raises(PredictError, match="no text column found in .*odd.jsonl .*choose one with --text-column"):
        predict_file(predictor, odd, io.StringIO())
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"text": 3}\n', encoding="utf-8")
    with pytest.raises(PredictError, match="row 1: the text column holds int values, not text"):
        predict_file(predictor, numbers, io.StringIO())
    bare = tmp_path / "bare.csv"  # no header line: its columns are named text and label
    bare.write_text(
        "".join(f"{t},{'pos' if i % 2 else 'neg'}\n" for i, t in enumerate(["good", "bad", "fine", "dull"] * 2))
    )
    out = io.StringIO()
    predict_file(predictor, bare, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["good", "bad", "fine", "dull"] * 2
    western = tmp_path / "western.csv"  # Windows-1252, as spreadsheets on Windows write it
    western.write_bytes("text,label\ngreat caf\u00e9,pos\n".encode("cp1252"))
    out = io.StringIO()
    predict_file(predictor, western, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["great caf\u00e9"]
    lines = tmp_path / "lines.txt"
    lines.write_text("text,label\ngood,pos\n", encoding="utf-8")  # not a table: every line is a text
    out = io.StringIO()
    predict_file(predictor, lines, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["text,label", "good,pos"]
    with pytest.raises(PredictError, match="--text-column is for tables"):
        predict_file(predictor, lines, io.StringIO(), text_column="text")


# ---------------------------------------------------------------------------------------------
# Bad run folders


def test_missing_run_folder(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        Predictor.from_run(tmp_path / "nope")
    with pytest.raises(RunError, match="no trained runs"):
        Predictor.from_run("latest")


def test_missing_weights(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path)
    (d / "model.safetensors").unlink()
    with pytest.raises(RunError, match="missing model.safetensors"):
        Predictor.from_run(d)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_weights(run_dir, tmp_path, damage):
    d = copy_run(run_dir, tmp_path)
    f = d / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(
        {"garbage": b"\x00\x01not safetensors" * 50, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    with pytest.raises(RunError, match="corrupt") as e:
        Predictor.from_run(d)
    assert "\n" not in str(e.value)


def test_the_numpy_engine_maps_the_weights_read_only_as_safetensors_reads_them(run_dir):
    from safetensors.numpy import load_file

    mapped, read = runlib.map_arrays(run_dir / "model.safetensors"), load_file(run_dir / "model.safetensors")
    assert sorted(mapped) == sorted(read)
    for name, a in mapped.items():
        assert a.dtype == read[name].dtype and np.array_equal(a, read[name]) and not a.flags.writeable


def test_weights_numpy_cannot_map_are_refused_by_name(tmp_path):
    from textcnn.storage import save_tensors

    f = tmp_path / "model.safetensors"
    save_tensors(f, {"w": torch.ones(2, 3, dtype=torch.bfloat16)})
    with pytest.raises(RunError, match="w is BF16, which numpy has no type for"):
        runlib.map_arrays(f)
    save_tensors(f, {"w": torch.ones(2, 3)})
    data = f.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + n].replace(b"[2,3]", b"[3,3]")  # a shape the data cannot hold; the sha256 covers data only
    f.write_bytes(data[:8] + header + data[8 + n :])
    with pytest.raises(RunError, match=r"corrupt: w's extent does not match its shape \[3, 3\]"):
        runlib.map_arrays(f)


def test_weights_of_another_shape(run_dir, tmp_path):
    from textcnn.models import build_model

    d = copy_run(run_dir, tmp_path)
    loaded = runlib.load_run(d)
    cfg = loaded.config
    other = load_config(sets=["model.embedding_dim=16", "model.feature_maps=5"]).model
    runlib.save_weights(d, build_model(other, loaded.tokenizer.get_vocab_size(), 2))
    with pytest.raises(RunError, match="shape mismatch") as e:
        Predictor.from_run(d)
    assert "conv" in str(e.value) and cfg.model.feature_maps == 8


def test_labels_that_do_not_match_the_weights(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path)
    (d / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    (d / "checksums.json").unlink(missing_ok=True)  # accept the edit (else: "damaged or was edited")
    with pytest.raises(RunError, match="fc"):
        Predictor.from_run(d)


@pytest.mark.parametrize("name", ["config.toml", "tokenizer.json", "labels.json"])
def test_corrupted_run_files(run_dir, tmp_path, name):
    d = copy_run(run_dir, tmp_path)
    (d / name).write_text("{{ not [ valid", encoding="utf-8")
    with pytest.raises(RunError, match=name.split(".")[0]) as e:
        Predictor.from_run(d)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("where, value", [("fc.bias", "nan"), ("embedding.weight", "inf"), ("conv_weight", "-inf")])
def test_non_finite_weights_are_refused(run_dir, tmp_path, where, value):
    d = copy_run(run_dir, tmp_path)
    tensors = runlib.load_tensors(d / "model.safetensors")
    tensors[where].view(-1)[-1] = float(value)
    runlib.save_tensors(d / "model.safetensors", tensors)
    for engine in ("numpy", "torch"):
        with pytest.raises(RunError, match="NaN or infinite"):
            Predictor.from_run(d, engine=engine)


def test_finite_weights_whose_sum_overflows_are_not_refused(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path)
    tensors = runlib.load_tensors(d / "model.safetensors")
    tensors["embedding.weight"][1:3] = 3e38  # every value finite, their float32 sum is not
    runlib.save_tensors(d / "model.safetensors", tensors)
    assert Predictor.from_run(d, engine="numpy").engine.name == "numpy"


def test_unavailable_device_is_a_clear_error(run_dir):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match="no CUDA"):
        Predictor.from_run(run_dir, device="cuda")
    with pytest.raises(ConfigError, match="not a torch device"):
        Predictor.from_run(run_dir, device="gpu0")


# ---------------------------------------------------------------------------------------------
# Streams, readers, writers


def test_stream_yields_input_order_across_windows_with_shuffled_lengths(predictor):
    rng = random.Random(1)
    texts = [" ".join(rng.choice(POS + NEG + FILL) for _ in range(rng.randint(0, 40))) for _ in range(103)]
    expected = predictor.predict(texts)
    got = list(predict_stream(predictor, iter(texts), batch_size=4, window=10))
    assert [p.text for p in got] == texts
    np.testing.assert_allclose(
        [p.probabilities["positive"] for p in got], [p.probabilities["positive"] for p in expected], atol=1e-6
    )


def test_a_bad_text_in_a_later_window_fails_after_the_windows_before_it(predictor):
    stream = predict_stream(predictor, iter(["great film"] * 15 + [None]), window=10)
    assert [p.text for p in itertools.islice(stream, 10)] == ["great film"] * 10  # window 1, while 2 was encoded
    with pytest.raises(PredictError, match="text 5 is NoneType"):
        next(stream)


def test_stream_is_lazy_and_bounded(predictor):
    pulled = []

    def lines():
        for i in range(10_000):
            pulled.append(i)
            yield f"great film {i}"

    stream = predict_stream(predictor, lines(), window=50)
    first = next(stream)
    assert first.text == "great film 0"
    assert len(pulled) == 100  # the first window and the next (tokenized while the first is scored), no more


def test_read_lines_handles_bom_crlf_and_reports_invalid_utf8_with_its_line(tmp_path, caplog):
    f = tmp_path / "in.txt"
    f.write_bytes(b"\xef\xbb\xbfgreat film\r\nsecond line\n\xff\xfe bad bytes\n\nlast without newline, caf\xc3\xa9")
    skipped: list[int] = []
    with caplog.at_level(logging.WARNING, logger="textcnn.inference.predictor"):
        lines = list(read_lines(f, skipped=skipped))
    assert lines == ["great film", "second line", "", "last without newline, caf\u00e9"]
    assert skipped == [3]
    assert "line 3 is not valid UTF-8" in caplog.text
    with pytest.raises(PredictError, match=r"line 3 is not valid UTF-8 \(byte 0xff at column 1\)"):
        list(read_lines(f, on_error="stop"))


def test_read_lines_reads_a_windows_1252_file_in_it_as_training_reads_a_csv(tmp_path, caplog):
    f = tmp_path / "excel.txt"
    texts = ["caf\u00e9 cr\u00e8me", "\u201cna\u00efve\u201d film", "plain"]
    f.write_bytes("\r\n".join(texts).encode("cp1252"))
    with caplog.at_level(logging.WARNING):
        assert list(read_lines(f)) == texts  # not three skipped lines
    assert "excel.txt is not UTF-8: read as Windows-1252" in caplog.text
    r, w = os.pipe()  # a pipe cannot be read twice: UTF-8, as stdin, its bad lines skipped
    os.write(w, "\n".join(texts).encode("cp1252"))
    os.close(w)
    skipped: list[int] = []
    assert list(read_lines(f"/dev/fd/{r}", skipped=skipped)) == ["plain"] and skipped == [1, 2]
    os.close(r)


def test_read_lines_reads_a_windows_1252_file_whose_only_accent_is_its_last_byte(tmp_path, caplog):
    f = tmp_path / "excel.txt"
    f.write_bytes("plain\r\na fine caf\u00e9".encode("cp1252"))  # the whole file: 0xE9 is not a cut character
    with caplog.at_level(logging.WARNING):
        assert list(read_lines(f)) == ["plain", "a fine caf\u00e9"]
    assert "excel.txt is not UTF-8: read as Windows-1252" in caplog.text


def test_a_file_windows_1252_at_first_and_utf8_further_on_is_read_as_utf8_with_bad_lines(tmp_path, caplog):
    """Its first 64 KiB alone say Windows-1252: read so, the UTF-8 lines further on would come out as
    mojibake; as training reads it, the lines that are not UTF-8 are the bad ones (a csv row too)."""
    texts = [f"caf\u00e9 cr\u00e8me {i}" for i in range(6000)]
    f = tmp_path / "joined.txt"
    f.write_bytes(b"".join((t + "\n").encode("cp1252" if i < 3000 else "utf-8") for i, t in enumerate(texts)))
    skipped: list[int] = []
    with caplog.at_level(logging.WARNING):
        assert list(read_lines(f, skipped=skipped)) == texts[3000:]
    assert skipped == list(range(1, 3001)) and "read as Windows-1252" not in caplog.text
    table = tmp_path / "pasted.csv"
    table.write_bytes(b"text,id\n" + "caf\u00e9,1\n".encode() + "na\u00efve,2\n".encode("cp1252") + b"plain,3\n")
    skipped = []
    assert list(io_mod.read_texts(table, on_error="skip", skipped=skipped)) == ["caf\u00e9", "plain"]
    assert skipped == [3]
    with pytest.raises(PredictError, match=r"pasted.csv line 3 is not valid UTF-8; fix the file or use --on-error"):
        list(io_mod.read_texts(table, on_error="stop"))


def test_read_texts_reads_utf16_lines_and_tables_after_their_byte_order_mark(tmp_path, caplog):
    texts = ["caf\u00e9 cr\u00e8me", "", "\u6f22\u5b57 film", "plain, with a comma"]
    lines = tmp_path / "unicode.txt"
    lines.write_bytes("\r\n".join(texts).encode("utf-16"))  # BOM, little-endian, CRLF
    with caplog.at_level(logging.WARNING):
        assert list(read_lines(lines)) == texts
    assert "unicode.txt is UTF-16" in caplog.text
    table = tmp_path / "unicode.csv"
    table.write_bytes(("text,id\n" + "".join(f'"{t}",{i}\n' for i, t in enumerate(texts))).encode("utf-16"))
    assert list(io_mod.read_texts(table)) == texts


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from([b"a", b"b c", b"\r", b"\n", b"\r\n", b"\xff", b"\xc3\xa9", BOM, b"\x00", b"\x0b"]),
                      max_size=40), block=st.integers(1, 12))  # fmt: skip
def test_read_lines_by_blocks_reads_what_line_by_line_reads(tmp_path, monkeypatch, parts, block):
    f = tmp_path / "in.txt"
    f.write_bytes(b"".join(parts))
    monkeypatch.setattr(io_mod, "READ_BLOCK", block)  # many blocks, some with a bad line
    encoding = io_mod.encoding_of(f.read_bytes()[: io_mod.HEAD_BYTES], "f")  # Windows-1252 without a UTF-8 é
    data = f.read_bytes()
    lines = [line + b"\n" for line in data.split(b"\n")]  # line by line, each with its end
    if b"\r" in data[: io_mod.HEAD_BYTES] and b"\n" not in data[: io_mod.HEAD_BYTES]:  # lone "\r": Mac OS 9
        lines = [line + b"\r" for line in data.split(b"\r")]
    lines[-1] = lines[-1][:-1]  # the last line has no end of its own
    want_skipped: list[int] = []
    want = list(io_mod._decode_each([x for x in lines if x], 0, "f", "skip", want_skipped, encoding))
    skipped: list[int] = []
    assert list(read_lines(f, skipped=skipped)) == want
    assert skipped == want_skipped


def test_jsonl_from_scores_is_byte_for_byte_the_jsonl_of_the_predictions(predictor):
    texts = ["", 'a "quoted" \\ text', "émoji 😀", "word " * 40, "great film", "awful"]
    names = ["{neg}", 'p"o}s{', "{}"]  # label names that a format template must escape
    probs = np.array([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.8, 0.1], [0.6, 0.4, 0.0],
                      [0.25, 0.25, 0.5]])  # fmt: skip
    s = Scores(probs, probs.astype(np.float32), [0, 4, 3, 40, 2, 1], [False, False, False, True, False, False],
               [0, 1, 0, 0, 2, 1])  # fmt: skip
    fake = SimpleNamespace(label_names=names)
    for top_k in (None, 1, 2, 3):
        k = 1 if top_k is None else top_k
        preds = Predictor.predictions(fake, texts, s, k)
        want = io.StringIO()
        write_jsonl(preds, want, top=top_k is not None)
        assert want.getvalue().splitlines() == [
            json.dumps(p.to_dict(top_k is not None), ensure_ascii=False) for p in preds
        ]
        got = io.StringIO()
        assert io_mod.write_jsonl_scores(texts, s, names, got, top_k) == len(texts)
        assert got.getvalue() == want.getvalue()


def test_read_lines_errors(tmp_path):
    with pytest.raises(PredictError, match="does not exist"):
        list(read_lines(tmp_path / "missing.txt"))
    with pytest.raises(PredictError, match="folder"):
        list(read_lines(tmp_path))
    with pytest.raises(PredictError, match="on_error"):
        list(read_lines(tmp_path / "x", on_error="ignore"))


def test_read_lines_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"one\r\ntwo\n")))
    assert list(read_lines("-")) == ["one", "two"]


def test_writers_round_trip_every_class_probability_in_order(predictor):
    texts = ["great", 'say "hi", then, a comma', "dull\tfilm", ""]
    preds = predictor.predict(texts, top_k=2)

    buf = io.StringIO()
    assert write_jsonl(preds, buf, top=True) == 4
    records = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["text"] for r in records] == texts
    assert records[0]["probabilities"] == preds[0].probabilities
    assert len(records[0]["top"]) == 2 and records[3]["empty"] is True

    buf = io.StringIO()
    assert write_json(iter(preds), buf) == 4
    assert [r["label"] for r in json.loads(buf.getvalue())] == [p.label for p in preds]
    buf = io.StringIO()
    write_json([], buf)
    assert json.loads(buf.getvalue()) == []

    buf = io.StringIO()
    assert write_csv(preds, buf, predictor.label_names) == 4
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["text"] for r in rows] == texts
    assert float(rows[0]["p_positive"]) == pytest.approx(preds[0].probabilities["positive"])
    assert set(rows[0]) >= {"label", "probability", "p_negative", "p_positive", "truncated", "n_tokens", "empty"}

    with pytest.raises(PredictError, match="format"):
        write_predictions(preds, io.StringIO(), "xml")


def test_jsonl_lines_are_exactly_json_dumps_of_the_records(predictor):
    texts = ["", 'a "quoted" \\ text', "tab\there", "émoji 😀", "\x00\x1f control", "word " * 40]
    for top_k in (None, 2):
        preds = predictor.predict(texts, top_k=top_k)
        buf = io.StringIO()
        write_jsonl(preds, buf, top=top_k is not None)
        want = [json.dumps(p.to_dict(top_k is not None), ensure_ascii=False) for p in preds]
        assert buf.getvalue().splitlines() == want


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_json_lines_that_are_not_records_are_skipped_by_number_or_stop(predictor, tmp_path, suffix):
    lines = [json.dumps({"text": t}).encode() for t in ("great film", "awful", "fine", "dull")]
    lines[1:1] = [b'{"text": "broken, }', b"[1, 2]", b'{"text": "bad \xff byte"}', b""]  # lines 2-5
    f = tmp_path / f"in{suffix}"
    f.write_bytes(b"\n".join(lines) + b"\n")
    out = io.StringIO()
    summary = predict_file(predictor, f, out, fmt="jsonl")
    assert [json.loads(x)["text"] for x in out.getvalue().splitlines()] == ["great film", "awful", "fine", "dull"]
    assert summary.skipped_lines == [2, 3, 4]  # the blank line 5 is no record, not an error
    with pytest.raises(PredictError, match=r"line 2 is not a JSON object \(.*\); fix the file or use --on-error skip"):
        predict_file(predictor, f, io.StringIO(), on_error="stop")


def test_predict_file_end_to_end(predictor, tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes(b"great film\n\xff\nawful\n\n\xc3\xa9")  # UTF-8 (the last line's é) with a stray byte
    out = io.StringIO()
    summary = predict_file(predictor, f, out, fmt="jsonl")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["text"] for r in records] == ["great film", "awful", "", "\u00e9"]
    assert [r["label"] for r in records[:2]] == ["positive", "negative"]
    assert summary.written == 4 and summary.skipped_lines == [2] and summary.empty == 1
    with pytest.raises(PredictError, match="line 2"):
        predict_file(predictor, f, io.StringIO(), on_error="stop")
    with pytest.raises(PredictError, match="format"):
        predict_file(predictor, f, io.StringIO(), fmt="xml")


def test_lines_that_end_in_a_lone_carriage_return_are_lines(tmp_path, monkeypatch):
    # classic Mac OS line ends (Excel for Mac's "CSV (Macintosh)"): before, the whole file was one text
    texts = [f"line {i} caf\u00e9" for i in range(50)]
    f = tmp_path / "mac.txt"
    f.write_bytes("\r".join(texts).encode() + b"\r")
    assert list(read_lines(f)) == texts
    monkeypatch.setattr(io_mod, "READ_BLOCK", 7)  # lines cut by the reads' blocks come out whole
    assert list(read_lines(f)) == texts
    f.write_bytes(b"caf\xc3\xa9\rbad \xff\rfine")  # UTF-8 with a bad line: named by its number, as with "\n"
    skipped: list[int] = []
    assert list(read_lines(f, skipped=skipped)) == ["caf\u00e9", "fine"] and skipped == [2]


def test_compressed_text_files_are_read_as_their_text_and_tool_formats_are_refused_in_words(tmp_path):
    import bz2
    import gzip
    import lzma

    data = "great film\nawful\n\u00e9t\u00e9\n".encode()
    for name, packed in [("in.txt.gz", gzip.compress(data)), ("gz_by_its_bytes.txt", gzip.compress(data)),
                         ("in.txt.bz2", bz2.compress(data)), ("in.xz", lzma.compress(data))]:  # fmt: skip
        (tmp_path / name).write_bytes(packed)
        assert list(read_lines(tmp_path / name)) == ["great film", "awful", "\u00e9t\u00e9"], name
    (tmp_path / "bzh.txt").write_bytes(b"BZh is a word here\nfine\n")  # bz2's first bytes, but a text
    assert list(read_lines(tmp_path / "bzh.txt")) == ["BZh is a word here", "fine"]
    (tmp_path / "in.txt.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20))
    with pytest.raises(PredictError, match=r"in.txt.zst is compressed with zstd, .*: zstd -dc .* \| textcnn predict"):
        list(read_lines(tmp_path / "in.txt.zst"))
    (tmp_path / "in.zip").write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(PredictError, match=r"in.zip is a zip archive: end its name in .zip, or unpack it"):
        list(read_lines(tmp_path / "in.zip"))
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + bytes(20))  # an Excel workbook is a zip too
    with pytest.raises(PredictError, match=r"book.xlsx is a spreadsheet or document, not text: save it as CSV UTF-8"):
        list(read_lines(tmp_path / "book.xlsx"))
    table = tmp_path / "reviews.csv"  # a table: its name says csv, its bytes say gzip
    table.write_bytes(gzip.compress(b"text,label\n" + b"a fine film,pos\n" * 2000))
    with pytest.raises(PredictError, match=r"reviews.csv: gzip-compressed data, not text: end the file's name in \.gz"):
        list(io_mod.read_texts(table))
    broken = bytearray(gzip.compress(data * 50))
    (tmp_path / "cut.gz").write_bytes(broken[: len(broken) // 2])
    with pytest.raises(PredictError, match=r"cannot read .*cut.gz as gzip data: Compressed file ended"):
        list(read_lines(tmp_path / "cut.gz"))
    broken[15] ^= 0xFF
    (tmp_path / "bad.gz").write_bytes(broken)
    with pytest.raises(PredictError, match=r"cannot read .*bad.gz as gzip data: "):
        list(read_lines(tmp_path / "bad.gz"))


def test_a_folder_of_text_files_is_predicted_one_record_a_file_named_by_its_path(predictor, tmp_path, caplog):
    # aclImdb's test/{neg,pos}/*.txt: every text file below the folder, sorted by path, one text a file
    root = tmp_path / "test"
    (root / "pos").mkdir(parents=True)
    (root / "neg" / ".cache").mkdir(parents=True)
    (root / "pos" / "0_9.txt").write_text("  a great film\n", encoding="utf-8")
    (root / "pos" / "1_8").write_bytes("caf\u00e9, great".encode("cp1252"))  # no suffix, not UTF-8
    (root / "neg" / "0_2.txt").write_text("awful\n\ndull", encoding="utf-8")
    (root / "neg" / "notes.csv").write_text("text\nnot a text of this folder\n", encoding="utf-8")
    (root / "neg" / ".cache" / "x.txt").write_text("hidden", encoding="utf-8")
    want = [("neg/0_2.txt", "awful\n\ndull"), ("pos/0_9.txt", "a great film"), ("pos/1_8", "caf\u00e9, great")]
    mine = predictor.predict([t for _, t in want])
    for fmt in ("jsonl", "json", "csv"):
        out = io.StringIO()
        with caplog.at_level("WARNING"):
            summary = predict_file(predictor, root, out, fmt=fmt)
        if fmt == "csv":
            records = list(csv.DictReader(io.StringIO(out.getvalue())))
        else:
            records = (
                json.loads(out.getvalue()) if fmt == "json" else [json.loads(x) for x in out.getvalue().splitlines()]
            )
        assert [(r["file"], r["text"]) for r in records] == want and summary.written == 3
        assert list(records[0])[:2] == ["file", "text"]
        assert [r["label"] for r in records] == [p.label for p in mine]
        assert [float(r["probability"]) for r in records] == [p.probability for p in mine]
    assert "1 files are not UTF-8: read as Windows-1252" in caplog.text
    with pytest.raises(PredictError, match="--text-column is for tables; .* is a folder of text files"):
        predict_file(predictor, root, io.StringIO(), text_column="text")
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    (tmp_path / "empty" / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    with pytest.raises(PredictError, match="empty is a folder without text files"):
        predict_file(predictor, tmp_path / "empty", io.StringIO())


# ---------------------------------------------------------------------------------------------
# The folded CNN computes what the model computes


def tiny_run(model, tokenizer, cfg, tmp_path) -> runlib.Run:
    model.eval()
    return runlib.Run(tmp_path, cfg, tokenizer, ["negative", "positive"], model, torch.device("cpu"), 0)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"pooling": "avg"},
        {"pooling": "kmax", "k": 3},
        {"activation": "gelu"},
        {"activation": "tanh", "widths": (1, 2, 7)},
        {"embedding_mode": "multichannel"},
    ],
)
def test_folded_cnn_matches_the_model(predictor, tmp_path, options):
    from textcnn.models import KimCNN

    torch.manual_seed(0)
    V = predictor.tokenizer.get_vocab_size()
    vectors = torch.randn(V, 12) if options.get("embedding_mode") else None
    model = KimCNN(vocab_size=V, num_classes=2, embedding_dim=12, feature_maps=6, vectors=vectors, **options)
    run = tiny_run(model, predictor.tokenizer, predictor.run.config, tmp_path)
    rng = random.Random(2)
    texts = ["", "great", "a b"] + [
        " ".join(rng.choice(POS + FILL) for _ in range(rng.randint(0, 30))) for _ in range(40)
    ]
    plain_scores = Predictor(run, fold=False, batch_size=7).score(texts)
    plain = plain_scores.logits
    folded_predictor = Predictor(run, fold=True, batch_size=7)
    threads = torch.get_num_threads()
    folded = folded_predictor.score(texts).logits
    assert folded_predictor.engine._folded is not None
    assert torch.get_num_threads() == threads  # the folded path's single thread is restored
    np.testing.assert_allclose(folded, plain, atol=1e-5, rtol=1e-5)
    # the numpy engine (no torch): the same logits and probabilities, one-text jobs and large jobs alike
    engine = numpy_engine(model, options, V)
    if engine is None:
        return
    files = runlib.RunFiles(tmp_path, run.config, predictor.tokenizer, ["negative", "positive"], 0, tmp_path)
    by_numpy = Predictor(files, engine=engine, batch_size=7)
    for job in (texts[:3], texts, texts * 30):  # the last one folds the whole vocabulary
        scores = by_numpy.score(job)
        np.testing.assert_allclose(scores.logits[: len(texts)], plain[: len(job)], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(scores.probs[: len(texts)], plain_scores.probs[: len(job)], atol=1e-5)
    assert engine._full is not None


def numpy_engine(model, options, vocab_size):
    """The numpy engine for a KimCNN built in a test (None for settings it does not cover)."""
    from types import SimpleNamespace

    from textcnn.inference.numpy_cnn import NumpyKimCNN, unsupported

    cfg = SimpleNamespace(
        name="cnn", widths=model.widths, feature_maps=model.feature_maps, activation=model.activation,
        pooling=model.pooling, k=model.k, embedding_dim=model.embedding.embedding_dim,
        embedding_mode="multichannel" if model.embedding_static is not None else "rand",
    )  # fmt: skip
    if unsupported(cfg):
        assert options.get("activation") == "gelu"
        return None
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return NumpyKimCNN(arrays, cfg, 0, vocab_size=vocab_size)


def test_fold_is_automatic_only_for_large_jobs(run_dir):
    p = Predictor.from_run(run_dir, engine="torch")
    p.predict(["great"])
    assert p.engine._folded is None
    vocab = p.tokenizer.get_vocab_size()
    p.predict(["great film"] * vocab)
    assert p.engine._folded is not None


# ---------------------------------------------------------------------------------------------
# Engines: numpy for cnn runs (torch never imported), torch otherwise


def test_cnn_runs_predict_in_numpy_with_the_torch_probabilities(run_dir, caplog):
    texts = ["", "   ", "great", "a b", "the film was a really wonderful story", "zzz qqq", "x " * 100]
    with caplog.at_level(logging.INFO, logger="textcnn.inference.predictor"):
        by_numpy = Predictor.from_run(run_dir)
    assert by_numpy.engine.name == "numpy"
    assert "prediction engine: numpy" in caplog.text
    by_torch = Predictor.from_run(run_dir, engine="torch", fold=False)
    assert by_torch.engine.name == "torch"
    assert by_torch.model.edge == max(by_torch.model.widths) - 1  # small data: Kim's edge padding, both engines
    for batch_size in (1, 3, 512):
        a, b = by_numpy.score(texts, batch_size=batch_size), by_torch.score(texts, batch_size=batch_size)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5, rtol=0)
        np.testing.assert_allclose(a.logits, b.logits, atol=1e-5, rtol=1e-5)
        assert (a.n_tokens, a.truncated, a.n_unknown) == (b.n_tokens, b.truncated, b.n_unknown)
    # explanations still get the torch model, loaded on first use
    assert by_numpy.model.fc.out_features == 2


def test_the_numpy_engine_scores_batches_on_threads_with_the_same_numbers(run_dir):
    rng = random.Random(3)
    texts = [" ".join(rng.choice(POS + NEG + FILL) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    one = Predictor.from_run(run_dir, threads=1)
    three = Predictor.from_run(run_dir, threads=3)
    assert (one.engine.workers, three.engine.workers) == (1, 3)
    a, b = one.score(texts, batch_size=16), three.score(texts, batch_size=16)  # 19 batches over 3 threads
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.probs, b.probs)
    assert (a.n_tokens, a.truncated, a.n_unknown) == (b.n_tokens, b.truncated, b.n_unknown)


def test_engine_choice_is_checked(run_dir):
    with pytest.raises(PredictError, match="engine='jax' is not one of"):
        Predictor.from_run(run_dir, engine="jax")
    with pytest.raises(PredictError, match="export it first"):
        Predictor.from_run(run_dir, engine="onnx")


def test_cli_predict_of_a_cnn_run_never_imports_torch(run_dir, tmp_path):
    """`textcnn predict RUN` in a fresh interpreter: the numpy engine, and torch is not in sys.modules; nor
    are the modules that made the cold start slow without being needed (pydantic through typer >= 0.29,
    numpy.ma through np.unique, the training events)."""
    import subprocess
    import sys

    (tmp_path / "in.txt").write_text("a great film\n\nawful and dull\n", encoding="utf-8")
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from textcnn.cli import app\n"
        f"r = CliRunner().invoke(app, ['-v', 'predict', {str(run_dir)!r}, 'a gorgeous, witty film', '--format', 'jsonl'])\n"
        f"f = CliRunner().invoke(app, ['predict', {str(run_dir)!r}, '--file', {str(tmp_path / 'in.txt')!r}])\n"
        "slow = [m for m in ('torch', 'pydantic', 'numpy.ma', 'textcnn.events') if m in sys.modules]\n"
        "print(json.dumps([r.exit_code, f.exit_code, slow, r.output, f.output]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    code_r, code_f, slow, text_out, file_out = json.loads(out.stdout.strip().splitlines()[-1])
    assert (code_r, code_f, slow) == (0, 0, [])
    assert json.loads(text_out.strip().splitlines()[-1])["text"] == "a gorgeous, witty film"
    records = [json.loads(line) for line in file_out.strip().splitlines() if line.startswith("{")]
    assert [r["text"] for r in records] == ["a great film", "", "awful and dull"]
    assert records[1]["empty"] is True
    expected = Predictor.from_run(run_dir, engine="torch").predict(["a great film", "", "awful and dull"])
    for rec, p in zip(records, expected, strict=True):
        assert rec["label"] == p.label
        assert abs(rec["probability"] - p.probability) < 1e-5


def test_cli_predict_of_texts_prints_its_table_without_importing_rich(run_dir):
    """The one-sentence path of a cold start: the table is drawn by cli/table.py; rich is imported by
    the commands that need it (and by a note on stderr), not by this one."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import textcnn.cli\n"
        f"sys.argv = ['textcnn', 'predict', {str(run_dir)!r}, 'a gorgeous, witty film']\n"
        "try:\n    textcnn.cli.main()\nexcept SystemExit:\n    pass\n"
        "print('rich' in sys.modules, 'rich' in ' '.join(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False False"
    assert lines[0].startswith("┏━") and lines[1].split() == ["┃", "text", "┃", "label", "┃", "probability", "┃"]
    row = lines[3].split("│")
    assert row[1].strip() == "a gorgeous, witty film" and 0.5 <= float(row[3]) <= 1.0
    expected = Predictor.from_run(run_dir, engine="torch").predict(["a gorgeous, witty film"])[0]
    assert row[2].strip() == expected.label and abs(float(row[3]) - expected.probability) < 1e-3


def test_cli_starts_numpy_with_one_blas_thread_and_datasets_without_progress_bars_unless_told(run_dir):
    """The env var is read when numpy is first imported: importing the CLI must not import numpy."""
    import os
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "import textcnn.cli\n"
        "before = 'numpy' in sys.modules\n"
        f"sys.argv = ['textcnn', 'predict', {str(run_dir)!r}, 'a fine film']\n"
        "try:\n    textcnn.cli.main()\nexcept SystemExit:\n    pass\n"
        "print(before, os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('HF_DATASETS_DISABLE_PROGRESS_BARS'))\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "HF_DATASETS_DISABLE_PROGRESS_BARS")
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False 1 1"  # and no progress bars from datasets
    env["OPENBLAS_NUM_THREADS"] = "2"
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "0"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False 2 0"


# ---------------------------------------------------------------------------------------------
# evaluate_run


def test_evaluate_run_on_its_own_validation_split_matches_training(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    report = evaluate_run(run_dir)
    assert report.labels == ["negative", "positive"]
    assert report.accuracy == pytest.approx(summary["best_val_accuracy"], abs=1e-9)
    assert report.n == sum(sum(row) for row in report.confusion_matrix) == 30
    d = report.to_dict()
    assert set(d) == {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n", "split", "source"}


def test_evaluate_run_on_another_file_with_the_same_labels(run_dir, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("review,sentiment\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(40, seed=9)), encoding="utf-8")
    report = evaluate_run(run_dir, data_path=other)
    assert report.n == 40 and report.accuracy >= 0.8
    report = evaluate_run(run_dir, data_path=other, split="train")
    assert report.n == 40


def test_evaluate_run_on_other_data_skips_its_broken_lines_as_predict_does(run_dir, tmp_path, caplog):
    other = tmp_path / "other.csv"  # a text holding the separator unquoted: 3 fields
    body = [f"{t},{y}\n" for t, y in toy_rows(40, seed=9)]
    other.write_text("review,sentiment\n" + "".join(body[:20]) + "a dull, boring film,negative\n" + "".join(body[20:]))
    with caplog.at_level(logging.WARNING):
        report = evaluate_run(run_dir, data_path=other)
    assert report.n == 40 and "other.csv: skipped 1 line (more fields than the header's 2" in caplog.text


def test_evaluate_run_reads_other_data_once(run_dir, tmp_path, caplog):
    other = tmp_path / "other.csv"  # ';'-separated: its layout is said in a warning each time it is read
    other.write_text("review;sentiment\n" + "".join(f"{t};{y}\n" for t, y in toy_rows(40, seed=9)), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        report = evaluate_run(run_dir, data_path=other)  # tries test, validation, then train: one read
    assert report.n == 40 and report.split == "train"
    assert caplog.text.count("reading it as ';'-separated") == 1


def test_evaluate_run_refuses_unlabelled_and_unknown_data(run_dir, tmp_path):
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("text,label\ngreat film,\nawful film,\n", encoding="utf-8")
    with pytest.raises(PredictError, match="no labels"):
        evaluate_run(run_dir, data_path=unlabelled, split="train")
    other_labels = tmp_path / "other_labels.csv"
    other_labels.write_text("text,label\ngreat film,good\nawful film,bad\n", encoding="utf-8")
    with pytest.raises(PredictError, match="not among"):
        evaluate_run(run_dir, data_path=other_labels, split="train")
    with pytest.raises(PredictError, match="not found"):
        evaluate_run(run_dir, data_path=other_labels, split="nope")


@needs_shared_data
def test_evaluate_run_on_the_unlabelled_sst2_test_split_says_why(run_dir):
    data = shared_data_dir()
    with pytest.raises(PredictError, match="every label is missing or -1"):
        evaluate_run(run_dir, data_path=data / "sst2", split="test")
    report = evaluate_run(run_dir, data_path=data / "sst2", split="validation")
    assert report.n == 872


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json", "json records", "parquet"])
def test_a_text_column_named_title_plus_body_joins_the_two_as_training_does(predictor, tmp_path, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"title": f"title {i}", "body": t, "label": "pos"} for i, t in enumerate(["good fun", "dull", "fine"])]
    rows[1]["title"] = None  # a missing part: the other alone
    p = tmp_path / f"reviews.{kind.split()[0]}"
    if kind == "csv":
        p.write_text("title,body,label\n" + "".join(f"{r['title'] or ''},{r['body']},pos\n" for r in rows))
    elif kind == "jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "json":
        p.write_text(json.dumps({k: [r[k] for r in rows] for k in rows[0]}))  # columns
    elif kind == "json records":
        p.write_text(json.dumps(rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), p)
    expected = ["title 0 good fun", "dull", "title 2 fine"]
    out = io.StringIO()
    predict_file(predictor, p, out, text_column="title+body")
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == expected
    out = io.StringIO()  # a run trained on title+body reads it so by itself
    with mock.patch.object(predictor.config.data, "text_column", "title+body"):
        predict_file(predictor, p, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == expected


def test_comment_lines_before_a_csv_header_are_not_predicted(predictor, tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("# exported by some tool v1\n# 2026-12-01\nid,text\n1,good fun\n2,dull\n", encoding="utf-8")
    out = io.StringIO()
    predict_file(predictor, p, out)
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()] == ["good fun", "dull"]


def test_many_unreadable_lines_are_logged_five_then_counted(tmp_path, caplog):
    f = tmp_path / "in.txt"
    f.write_bytes(b"".join(b"bad \xff line\n" if i % 2 else b"good caf\xc3\xa9\n" for i in range(24)))  # UTF-8
    skipped: list[int] = []
    with caplog.at_level(logging.WARNING):
        assert list(read_lines(f, skipped=skipped)) == ["good caf\u00e9"] * 12
    assert skipped == list(range(2, 25, 2))
    assert caplog.text.count("is not valid UTF-8") == io_mod.LOGGED_LINES
    assert caplog.text.count("skipped without a warning each") == 1


def test_predict_file_reads_an_archive_as_what_it_holds(predictor, tmp_path):
    """As training reads a dataset archive: a zip of one table is that table, a tarball of text files a
    folder of them (each record names its file); a zip of several tables says what it holds."""
    import tarfile
    import zipfile

    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as z:
        z.writestr("reviews/test.csv", "text,label\ngreat film,pos\nawful,neg\n")
        z.writestr("__MACOSX/reviews/._test.csv", b"\x00\x05\x16\x07")
    out = io.StringIO()
    assert predict_file(predictor, one, out).written == 2
    assert [json.loads(x)["text"] for x in out.getvalue().splitlines()] == ["great film", "awful"]
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("great film", encoding="utf-8")
    (texts / "b.txt").write_text("awful", encoding="utf-8")
    tgz = tmp_path / "texts.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(texts, arcname="texts")
    out = io.StringIO()
    predict_file(predictor, tgz, out)  # a tarball is gzip data: it was read as lines of tar bytes
    assert [(r["file"], r["text"]) for r in map(json.loads, out.getvalue().splitlines())] == [
        ("a.txt", "great film"),
        ("b.txt", "awful"),
    ]
    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as z:
        z.writestr("train.csv", "text,label\na,pos\n")
        z.writestr("test.csv", "text,label\nb,neg\n")
    with pytest.raises(PredictError, match=r"several.zip holds no text files but test.csv, train.csv: give one"):
        predict_file(predictor, several, io.StringIO())


def test_a_json_list_holding_bytes_that_are_not_utf8_is_refused_as_training_refuses_it(tmp_path):
    f = tmp_path / "list.json"
    f.write_bytes(b'[{"text": "great caf\xe9"}, {"text": "awful"}]')  # one Windows-1252 byte
    with pytest.raises(PredictError, match=r"list.json is not valid JSON \('utf-8' codec can't decode byte 0xe9"):
        list(io_mod.read_texts(f))


def test_a_csv_with_a_cell_over_two_lines_and_a_line_not_utf8_skips_that_line(tmp_path):
    """The multi-line cell makes the reader check the file's quoting (`quotes_are_text`), which read it
    strictly and stopped at the Windows-1252 byte even with on_error='skip'."""
    f = tmp_path / "mixed.csv"
    f.write_bytes(b'text,label\n"a fine\nfilm",pos\n"bad caf\xe9 film",neg\n"good caf\xc3\xa9",pos\n')
    skipped: list[int] = []
    assert list(io_mod.read_texts(f, on_error="skip", skipped=skipped)) == ["a fine\nfilm", "good caf\u00e9"]
    assert skipped == [4]
