"""The plain table of `textcnn predict RUN TEXT...`: drawn as rich draws its default table, without rich."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from textcnn.cli.table import cell_width, print_table, render

HEADERS = ["text", "label", "probability"]
ROWS = [
    ["a gorgeous, witty film", "positive", "0.995"],
    ["我喜欢这部电影 (wide characters)", "正面", "0.513"],
    ["cafe\u0301 cre\u0300me, a combining accent", "neg", "1.000"],
    ["", "x", "0.250"],
]


def _rich(headers, rows, right=(2,), width=10_000) -> str:
    table = Table(show_lines=False)
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if i in right else "left")
    for row in rows:
        table.add_row(*[Text(c) for c in row])
    console = Console(file=io.StringIO(), width=width, emoji=False, color_system=None)
    console.print(table)
    return console.file.getvalue()


def test_the_table_is_rich_s_default_table_cell_for_cell():
    assert render(HEADERS, ROWS, right=[2]) == _rich(HEADERS, ROWS)
    assert render(HEADERS[:2], [r[:2] for r in ROWS[:1]]) == _rich(HEADERS[:2], [r[:2] for r in ROWS[:1]], right=())


def test_control_characters_in_a_text_never_reach_the_terminal():
    out = render(HEADERS, [["red \x1b[31malert\x07 text", "pos", "0.9"]])
    assert "\x1b" not in out and "\x07" not in out
    assert "red \ufffd[31malert\ufffd text" in out


def test_on_a_narrow_terminal_the_widest_column_is_cut_to_fit():
    rows = [["x" * 70, "positive", "0.995"]]
    out = render(HEADERS, rows, width=60)
    assert {cell_width(line) for line in out.splitlines()} == {60}
    assert "x…" in out and "positive" in out
    narrow = render(HEADERS, rows, width=20)  # never below 10 columns for the cut one: wider than asked
    assert "xxxxxxxxx…" in narrow


def test_print_table_falls_back_to_ascii_where_the_encoding_lacks_box_characters(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    print_table(HEADERS, ROWS[:1], right=[2], out=out)
    out.seek(0)
    text = out.read()
    assert text.splitlines()[0].startswith("+-") and "| a gorgeous, witty film |" in text
    utf = io.StringIO()
    print_table(HEADERS, ROWS[:1], right=[2], out=utf)  # not a terminal: no bold, never cut
    assert utf.getvalue() == _rich(HEADERS, ROWS[:1])


@pytest.mark.parametrize("text, width", [("abc", 3), ("漢字", 4), ("e\u0301", 1), ("ｆｕｌｌ", 8)])
def test_cell_width_counts_terminal_columns(text, width):
    assert cell_width(text) == width
