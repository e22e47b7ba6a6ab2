"""The CLI end to end through typer's CliRunner: train → predict → evaluate → explain, and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import toy_rows
from typer.testing import CliRunner

from textcnn import __version__
from textcnn.cli import app

runner = CliRunner()
TINY = ["--set", "model.embedding_dim=16", "--set", "model.feature_maps=8", "--set", "train.optimizer=adam",
        "--set", "train.lr=0.01"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    csv = root / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(400)))
    out = root / "run"
    res = runner.invoke(app, ["train", str(csv), "--out", str(out), "--epochs", "6", "--seed", "1", *TINY])
    assert res.exit_code == 0, res.output
    return csv, out, res.output


def test_version_and_help():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    for cmd in ("train", "predict", "evaluate", "explain", "filters", "compare", "bench", "report", "tokenize"):
        res = runner.invoke(app, [cmd, "-h"])
        assert res.exit_code == 0, cmd
        assert "Examples" in res.output, cmd


def test_train_writes_the_run_and_a_summary(trained):
    _, out, output = trained
    assert "validation accuracy (last pass)" in output  # 400 rows: the small-set defaults keep the last pass
    assert "no test split" in output
    for f in ("config.toml", "tokenizer.json", "model.safetensors", "labels.json", "metrics.jsonl", "summary.json"):
        assert (out / f).is_file()
    assert json.loads((out / "summary.json").read_text())["seed"] == 1


def test_predict_arguments_and_formats(trained):
    _, out, _ = trained
    res = runner.invoke(
        app, ["predict", str(out), "a wonderful superb film", "an awful dull plot", "--format", "jsonl"]
    )
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in res.output.splitlines()]
    assert [r["label"] for r in recs] == ["positive", "negative"]
    for r in recs:
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-5
    res = runner.invoke(app, ["predict", str(out), "a wonderful superb film", "--top-k", "2"])
    assert res.exit_code == 0 and "positive" in res.output


def test_texts_that_look_like_markup_or_emoji_codes_are_printed_as_written(trained):
    """rich reads "[b]" as markup (and "[/]" alone as an error) and ":smile:" as an emoji: a user's text
    must come out as typed, in the predict table and in explain's sentence and n-grams."""
    _, out, _ = trained
    text = "a [b]wonderful[/b] superb [/] film :smile:"
    for cmd in ("predict", "explain"):
        res = runner.invoke(app, [cmd, str(out), text], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        assert text in res.output, cmd


def test_predict_file_keeps_input_order_and_reports_bad_lines(trained, tmp_path):
    _, out, _ = trained
    f = tmp_path / "in.txt"
    # UTF-8 (the é of line 2) with stray bytes: not read as Windows-1252
    f.write_bytes(b"superb lovely film\n\xff\xfe broken caf\xc3\xa9\nawful boring dull\n\n")
    res = runner.invoke(app, ["predict", str(out), "--file", str(f), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "skipped 1 line that could not be read: 2" in res.output
    rows = [x for x in res.stdout.splitlines() if x and not x.startswith("skipped")]
    assert rows[0].startswith("text,label")
    assert rows[1].startswith("superb lovely film,positive")
    assert rows[2].startswith("awful boring dull,negative")
    res = runner.invoke(app, ["predict", str(out), "--file", str(f), "--on-error", "stop"])
    assert res.exit_code == 2
    assert "line 2" in res.output


def test_predict_file_reads_a_tables_text_column(trained, tmp_path):
    _, out, _ = trained
    f = tmp_path / "test.csv"
    f.write_text('id,review,label\n1,"superb, lovely film",positive\n2,awful boring dull,negative\n', encoding="utf-8")
    res = runner.invoke(app, ["predict", str(out), "--file", str(f), "--text-column", "review"])
    assert res.exit_code == 0, res.output
    records = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [r["text"] for r in records] == ["superb, lovely film", "awful boring dull"]
    assert [r["label"] for r in records] == ["positive", "negative"]
    res = runner.invoke(app, ["predict", str(out), "some text", "--text-column", "review"])
    assert res.exit_code == 2 and "--text-column names the text column of a --file table" in res.output


def test_evaluate_json(trained):
    csv, out, _ = trained
    res = runner.invoke(app, ["evaluate", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert set(rep) >= {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n"}
    assert rep["accuracy"] == pytest.approx(json.loads((out / "summary.json").read_text())["best_val_accuracy"])
    assert 0 <= rep["macro_f1"] <= 1


def test_explain_shows_ngrams(trained):
    _, out, _ = trained
    res = runner.invoke(app, ["explain", str(out), "the film was superb and lovely"])
    assert res.exit_code == 0, res.output
    assert "positive" in res.output
    assert "superb" in res.output


def test_escape_sequences_in_a_text_never_reach_the_terminal(trained):
    _, out, _ = trained
    text = "the film was superb \x1b[2J\x1b]0;owned\x07 and lovely"
    for args in (["explain", str(out), text], ["predict", str(out), text]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "\x1b" not in res.output and "\x07" not in res.output
        assert "\ufffd[2J" in res.output  # shown, one replacement character for each control character


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["predict", "/nonexistent/run", "hi"], "does not exist"),
        (["train", "sst2", "--set", "model.bogus=1"], "unknown config key"),
        (["train", "sst2", "--set", "train.epochs=x"], "expects an integer"),
        (["train", "/nonexistent/file.csv"], ""),
        (["evaluate", "/nonexistent/run"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert fragment in res.output
    if "--set" not in args:  # a usage error (bad --set) is Click's, with its usage lines
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_corrupted_weights_are_a_clear_error(trained, tmp_path):
    import shutil

    _, out, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    res = runner.invoke(app, ["predict", str(bad), "hello"])
    assert res.exit_code == 2
    assert "model.safetensors" in res.output and "Traceback" not in res.output


def test_main_builds_only_the_command_it_runs(trained):
    """`main()` gives Typer only the command the arguments name: the same output and exit code as the
    whole app (which keeps every command)."""
    from textcnn.cli import COMMANDS, invoked

    assert invoked(["-v", "predict", "RUN", "--top-k", "2"]) == "predict"
    assert invoked(["--help"]) is None and invoked(["predikt", "x"]) is None and invoked([]) is None
    _, out, _ = trained
    for args in (["predict", str(out), "a wonderful film", "--format", "json"], ["predict", "-h"], ["predict"],
                 ["predikt", "x"]):  # fmt: skip
        got = subprocess.run([sys.executable, "-m", "textcnn", *args], capture_output=True, text=True)
        want = runner.invoke(app, args, prog_name="python -m textcnn")
        assert got.returncode == want.exit_code, args
        assert (got.stdout + got.stderr).split() == want.output.split(), args  # line wrapping follows the terminal
    assert len(app.registered_commands) == len(COMMANDS)


def test_help_does_not_import_torch():
    code = (
        "import sys; from textcnn.cli import app; assert 'torch' not in sys.modules and 'datasets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hub_unreachable_is_one_line(monkeypatch):
    res = runner.invoke(app, ["train", "someone/not-a-real-dataset"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "--data" in res.output or "TEXTCNN_DATA_DIR" in res.output


# ---------------------------------------------------------------------------------------------
# The first hour (issue 14): output, finding data, runs, evaluate / explain / filters


def _one_error_line(res) -> str:
    """A user error: exit 2, exactly one line on stderr, no traceback."""
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_a_piped_training_log_has_one_record_per_line(trained):
    _, _, output = trained
    records = [line for line in output.splitlines() if "train loss" in line]
    assert records, output
    for line in records:  # CliRunner's output is not a terminal: nothing may wrap
        assert "val loss" in line and line.rstrip().endswith(" s") and "ex/s" in line, line
    assert not any(line.strip().endswith("ex/s") for line in output.splitlines())


def test_help_wraps_instead_of_cutting_and_flags_have_no_type():
    res = runner.invoke(app, ["train", "--help"])
    assert res.exit_code == 0
    text = res.output
    assert "runs/<dataset>-<model>-<time>" in text and "…" not in text
    assert "<bool>" not in text and "--overwrite / --no-overwrite" in text
    res = runner.invoke(app, ["--help"])
    summaries = res.output.split("Commands:")[1].splitlines()
    for cmd in ("train", "datasets", "tokenize", "predict", "evaluate", "explain", "filters", "compare", "bench"):
        (line,) = [x for x in summaries if x.split()[:1] == [cmd]]
        assert not line.endswith("..."), line  # the summary is whole


def test_datasets_shows_whole_hub_ids_and_flags_missing_local_copies(tmp_path, monkeypatch):
    (tmp_path / "trec").mkdir()
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    res = runner.invoke(app, ["datasets"])
    assert res.exit_code == 0, res.output
    assert "cornell-movie-review-data/rotten_tomatoes" in res.output
    assert f"missing ({tmp_path / 'sst2'})" in res.output
    assert str(tmp_path / "trec") in res.output
    assert "also there, not presets" not in res.output
    (tmp_path / "subj").mkdir()
    (tmp_path / "mr").mkdir()
    res = runner.invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert "also there, not presets (`textcnn train mr` reads one; columns found by name): mr, subj" in res.output
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path / "nowhere"))
    res = runner.invoke(app, ["datasets"])
    assert f"TEXTCNN_DATA_DIR={tmp_path / 'nowhere'} does not exist" in res.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_fast_with_one_message(monkeypatch):
    """Not offline, hub unreachable (a closed loopback port: no real network): one line within seconds."""
    import time

    import datasets
    from huggingface_hub import constants

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    import textcnn.training.trainer  # noqa: F401 - import time (seconds on a busy machine) is not the lookup's

    t0 = time.perf_counter()
    res = runner.invoke(app, ["train", "trec"])
    assert time.perf_counter() - t0 < 10
    line = _one_error_line(res)
    assert f"the Hugging Face Hub {endpoint}: unreachable" in line
    for hint in (
        "$TEXTCNN_DATA_DIR: not set",
        "Hugging Face cache",
        "HF_HUB_OFFLINE=1",
        "TEXTCNN_DATA_DIR=DIR",
        "--data",
    ):
        assert hint in line, hint


def test_data_dir_without_the_dataset_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    line = _one_error_line(runner.invoke(app, ["train", "trec"]))
    assert f"no folder {tmp_path / 'trec'}" in line
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path / "deeper"))
    line = _one_error_line(runner.invoke(app, ["train", "trec"]))
    assert f"TEXTCNN_DATA_DIR={tmp_path / 'deeper'} does not exist" in line


def test_a_mistyped_preset_gets_a_suggestion():
    assert "did you mean trec?" in _one_error_line(runner.invoke(app, ["train", "trek"]))
    line = _one_error_line(runner.invoke(app, ["train", "sst2"]))  # a preset not found here: no other one offered
    assert line.startswith("error: cannot find dataset 'sst2'. Tried:") and "did you mean" not in line


def test_a_local_folder_named_as_a_preset_is_pointed_to(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emotion").mkdir()
    line = _one_error_line(runner.invoke(app, ["train", "emotion"]))
    assert "the local emotion: not read, 'emotion' being a preset (pass ./emotion to read it)" in line


def test_preset_names_are_case_insensitive(tmp_path, monkeypatch):
    (tmp_path / "sst2").mkdir()
    rows = toy_rows(60)
    (tmp_path / "sst2" / "train.csv").write_text("sentence,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    monkeypatch.setenv("TEXTCNN_DATA_DIR", str(tmp_path))
    res = runner.invoke(app, ["train", "SST2", "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    import os
    from pathlib import Path

    assert [p.name.split("-")[0] for p in Path(os.environ["TEXTCNN_RUNS_DIR"]).iterdir()] == ["sst2"]


@pytest.mark.parametrize(
    "name, content, fragment",
    [("reviews.csv", "", "is empty (0 bytes): expected a header line such as text,label"),
     ("reviews.jsonl", "", 'is empty (0 bytes): expected JSON records such as {"text"'),
     ("reviews.txt", "", "is empty (0 bytes): expected one line per example such as __label__positive"),
     ("reviews.csv", "text,label\n", "has a header line (text, label) but no data rows"),
     # read with the separator and skipped lines the file's layout says, not a comma
     ("reviews.csv", "text;label\n", "has a header line (text, label) but no data rows"),
     ("reviews.csv", "sep=;\ntext;label\n", "has a header line (text, label) but no data rows"),
     ("reviews.tsv", "text\tlabel\n", "has a header line (text, label) but no data rows"),
     ("reviews.csv", "\n\n", "holds no columns")],
)  # fmt: skip
def test_empty_and_header_only_files_are_named_in_words(tmp_path, name, content, fragment):
    f = tmp_path / name
    f.write_text(content)
    line = _one_error_line(runner.invoke(app, ["train", str(f)]))
    assert str(f) in line and fragment in line


def test_out_into_a_missing_folder_is_plain_words(trained, tmp_path):
    _, out, _ = trained
    target = tmp_path / "no" / "such" / "out.jsonl"
    line = _one_error_line(runner.invoke(app, ["predict", str(out), "superb", "--format", "jsonl", "-o", str(target)]))
    assert "Errno" not in line and f"its folder {target.parent} does not exist" in line


def test_runs_are_named_by_the_file_stem_and_data_points_to_its_runs(trained, monkeypatch):
    import os
    from pathlib import Path

    csv, _, _ = trained
    res = runner.invoke(app, ["train", str(csv), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    (run,) = Path(os.environ["TEXTCNN_RUNS_DIR"]).iterdir()
    assert run.name.startswith("toy-cnn-")
    line = _one_error_line(runner.invoke(app, ["predict", str(csv), "superb"]))
    assert f"{csv} is data, not a run folder; runs trained on it: {run}" in line
    res = runner.invoke(app, ["predict", "toy", "superb film"])
    assert res.exit_code == 0 and f"using {run} (the newest run trained on toy)" in res.stderr
    res = runner.invoke(app, ["predict", "latest", "superb film"])
    assert res.exit_code == 0 and f"using {run} (the newest run)" in res.stderr


def test_evaluate_says_which_split_and_source(trained, tmp_path):
    csv, out, _ = trained
    res = runner.invoke(app, ["evaluate", str(out), "--format", "json"])
    rep = json.loads(res.stdout)
    assert rep["split"] == "validation" and rep["source"] == str(csv)
    other = tmp_path / "other.csv"
    other.write_text("review,stars\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(40, seed=5)))
    res = runner.invoke(
        app, ["evaluate", str(out), "--data", str(other), "--text-column", "review", "--label-column", "stars"]
    )
    assert res.exit_code == 0, res.output
    assert f"split train of {other}" in res.stdout and "local copy" not in res.output
    res = runner.invoke(app, ["evaluate", str(out), str(other)])  # the dataset as an argument, as --data
    assert res.exit_code == 0, res.output
    assert f"split train of {other}" in res.stdout
    res = runner.invoke(app, ["evaluate", str(out), str(other), "--data", str(csv)])
    assert res.exit_code == 2 and "give the dataset once" in res.output
    res = runner.invoke(app, ["evaluate", str(out), "--format", "csv"])
    assert res.exit_code == 2 and "'csv' is not" in res.output  # only the formats that work are offered
    res = runner.invoke(app, ["explain", str(out), "superb", "--format", "csv"])
    assert res.exit_code == 2


def test_explain_empty_text_and_predict_empty_file(trained, tmp_path):
    _, out, _ = trained
    assert "nothing to explain" in _one_error_line(runner.invoke(app, ["explain", str(out), ""]))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    res = runner.invoke(app, ["predict", str(out), "--file", str(empty)])
    assert res.exit_code == 0 and f"note: {empty} holds no lines" in res.stderr
    header = tmp_path / "header.csv"
    header.write_text("text,label\n")
    res = runner.invoke(app, ["predict", str(out), "--file", str(header)])
    assert res.exit_code == 0 and f"note: {header} holds no rows" in res.stderr


def test_filters_through_the_cli(trained, tmp_path):
    _, out, _ = trained
    res = runner.invoke(app, ["filters", str(out), "--top", "3", "--per-filter", "2"])
    assert res.exit_code == 0, res.output
    assert "pushes towards" in res.stdout and "texts predicted" in res.stdout
    other = tmp_path / "other.csv"
    other.write_text("review,stars\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(40, seed=5)))
    res = runner.invoke(
        app, ["filters", str(out), "--data", str(other), "--split", "train", "--text-column", "review",
              "--label-column", "stars", "--top", "2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "top 2 filters on 40 texts" in res.stdout


def test_tokenize_writes_under_runs_and_says_where(trained, tmp_path, monkeypatch):
    import os
    from pathlib import Path

    csv, _, _ = trained
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["tokenize", str(csv)])
    assert res.exit_code == 0, res.output
    written = Path(os.environ["TEXTCNN_RUNS_DIR"]) / "toy-word-tokenizer.json"
    assert written.is_file() and str(written) in res.stdout
    assert not (tmp_path / "tokenizer.json").exists()
    long = tmp_path / "long.csv"  # a long document's example: its first 40 tokens and its count
    long.write_text("text,label\n" + "".join(f"{' '.join(['word'] * (60 + i))},{i % 2}\n" for i in range(40)))
    res = runner.invoke(app, ["tokenize", str(long), "--out", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    shown = [line for line in res.stdout.splitlines() if line.strip().startswith("→")]
    assert shown and all(line.split("→")[1].split(" …")[0].split() == ["word"] * 40 for line in shown)
    assert all(line.endswith(" tokens)") for line in shown)


def test_compare_bench_and_report_through_the_cli(trained, tmp_path):
    csv, _, _ = trained
    out = tmp_path / "cmp"
    res = runner.invoke(
        app, ["compare", str(csv), "--models", "cnn", "--seeds", "1", "--epochs", "1", "--no-isolate",
              "--out", str(out), "--threads", "1", *TINY],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    bench_out = tmp_path / "bench"
    res = runner.invoke(
        app, ["bench", "--models", "cnn", "--lengths", "8", "--batch-sizes", "2", "--repeats", "1",
              "--threads", "1", "--out", str(bench_out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (bench_out / "bench.md").is_file() and "fp32 matmul peak" in res.stdout
    before = (out / "report.md").read_text()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text() == before
    assert _one_error_line(runner.invoke(app, ["report", str(tmp_path / "nothing")]))


def test_the_live_bar_spans_every_epoch_so_time_remaining_holds():
    from textcnn import events as ev
    from textcnn.cli.display import TrainDisplay

    with TrainDisplay() as d:
        d.live = True  # as on a terminal
        d(ev.TrainingStarted(run_dir="r", epochs=3, steps_per_epoch=10, params=1, device="cpu", threads=1,
                             world_size=1, resumed_from_step=None))  # fmt: skip
        d(ev.StepDone(epoch=2, step=5, steps=10, loss=0.5, global_step=15))
        (task,) = d.progress.tasks
        assert (task.total, task.completed) == (30, 15)
        assert "epoch 2 step 5/10" in task.description
