"""The page of `textcnn serve` in a real Chromium (Playwright driving Debian's `chromium` package).

`textcnn serve` runs as a subprocess on a free loopback port with two small runs trained here on
data/sample_sentiment.csv (a cnn and an lstm). The tests type a sentence and see the label, a bar
per class and shaded tokens; check that a sentence holding `<script>` shows as text and runs
nothing; compare both models side by side; run batch mode from pasted lines and from a file and
download the CSV; and use the page on a phone-sized window with the keyboard alone. Marked
`browser` (`pytest -m browser` runs exactly these); skipped where Playwright or Chromium is missing.

The screenshot of the page goes to the test's temporary folder, and to docs/serve.png (the README's
picture) when that file is missing or TEXTCNN_UPDATE_SCREENSHOT=1, so an ordinary run leaves the
working tree clean.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[browser]')"
)
pytest.importorskip("fastapi", reason="fastapi is not installed (pip install -e '.[serve]')")
CHROMIUM = os.environ.get("TEXTCNN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium (apt-get install -y chromium)", allow_module_level=True)

from textcnn.serve import load  # noqa: E402

expect = sync_api.expect

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SETS = ["model.embedding_dim=32", "model.feature_maps=16", "train.optimizer=adam", "train.lr=0.01",
        "train.checkpoint_every_minutes=0", "model.hidden_size=16", "tokenizer.max_length=64"]  # fmt: skip
SCRIPT = '<script>window.pwned = 1</script><b>bold</b> and <img src=x onerror="window.pwned=2"> a great film'
TIMEOUT = 30_000  # ms: generous, for a busy CI machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`textcnn serve CNN LSTM` on a free loopback port; its base URL."""
    from textcnn.config import load_config
    from textcnn.training.trainer import train

    root = tmp_path_factory.mktemp("browser")
    data = str(REPO / "data" / "sample_sentiment.csv")
    cnn = train(load_config(data, sets=[*SETS, "train.epochs=5", "train.seed=1"]), root / "sample-cnn")
    lstm = train(load_config(data, model="lstm", sets=[*SETS, "train.epochs=1"]), root / "sample-lstm")
    port = load.free_port()
    proc = load.start_server([str(cnn), str(lstm)], port, log=root / "serve.log")
    yield f"http://127.0.0.1:{port}"
    # SIGTERM: uvicorn finishes the requests in flight, shuts the app down, then re-raises the signal.
    assert load.stop_server(proc) in (0, -15)
    assert "Application shutdown complete" in (root / "serve.log").read_text()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    dialogs, errors, outside = [], [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else outside.append(r.url))
    page.goto(server + "/")
    expect(page.locator("#model option")).to_have_count(3)
    yield page
    context.close()
    assert dialogs == [] and errors == [] and outside == []  # no alert ran, no script error, nothing fetched elsewhere


def classify(page, text: str, model: str | None = None, n_cards: int = 1):
    if model is not None:
        page.select_option("#model", label=model)
    page.fill("#text", text)
    page.press("#text", "Enter")
    cards = page.locator("#results .card")
    expect(cards).to_have_count(n_cards)
    for i in range(n_cards):  # the new answers, not the last text's
        expect(cards.nth(i).locator(".sentence")).to_have_text(" ".join(text.split()))
    return cards


def test_a_sentence_shows_label_probabilities_and_shaded_tokens(page):
    cards = classify(page, "a gripping, delightful film with a wonderful cast", model="sample-cnn (cnn)")
    card = cards.first
    assert card.locator("h3").inner_text() == "sample-cnn"
    assert card.locator(".label").inner_text() in ("positive", "negative")
    assert card.locator(".bar-row").count() == 2
    values = [float(v.rstrip("%")) for v in card.locator(".bar-value").all_inner_texts()]
    assert sum(values) == pytest.approx(100, abs=0.2)
    width = card.locator(".bar-fill").first.evaluate("e => e.style.width")
    assert width.endswith("%")
    tokens = card.locator(".sentence .tok")
    assert tokens.count() >= 5
    assert tokens.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert card.locator(".ngrams li").count() >= 1
    assert "Exact contributions" in card.inner_text()


def test_a_script_sentence_is_shown_as_text_and_runs_nothing(page):
    card = classify(page, SCRIPT, model="sample-cnn (cnn)").first
    sentence = card.locator(".sentence")
    assert sentence.text_content() == SCRIPT
    assert sentence.locator("script, b, img").count() == 0
    assert page.evaluate("window.pwned") is None
    page.locator("#examples button", has_text="<script>").click()  # the example sentence, too
    expect(page.locator("#results .sentence")).to_have_text(re.compile(r"^<script>alert"))
    assert page.evaluate("window.pwned") is None


def test_several_models_side_by_side_with_latency_and_screenshot(page, tmp_path):
    cards = classify(
        page, "The story is painful, but the cast is genuinely delightful.", model="All models, side by side", n_cards=2
    )
    assert [c.locator("h3").inner_text() for c in cards.all()] == ["sample-cnn", "sample-lstm"]
    for c in cards.all():
        assert "ms round trip" in c.inner_text()
    assert "Occlusion estimates" in cards.nth(1).inner_text()
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    target = REPO / "docs" / "serve.png"
    if not target.exists() or os.environ.get("TEXTCNN_UPDATE_SCREENSHOT") == "1":
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, target)


def test_batch_mode_pasted_lines_a_file_and_the_csv(page, tmp_path):
    page.select_option("#model", label="sample-cnn (cnn)")
    lines = ["a wonderful, gripping film", "", "=1+1 dull and boring", SCRIPT]
    page.fill("#batch-text", "\n".join(lines))
    extra = tmp_path / "more.txt"
    extra.write_text("a painful mess\nthe cast is delightful\n", encoding="utf-8")
    page.set_input_files("#batch-file", str(extra))
    page.click("#batch-run")
    rows = page.locator("#batch-table tbody tr")
    expect(rows).to_have_count(5)
    assert rows.nth(2).locator("td.text").text_content() == SCRIPT
    assert page.locator("#batch-table tbody b, #batch-table tbody img").count() == 0
    assert rows.nth(4).locator("td.text").text_content() == "the cast is delightful"
    with page.expect_download() as info:
        page.click("#batch-csv")
    path = info.value.path()
    records = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert records[0] == ["text", "label", "probability", "p(negative)", "p(positive)"]
    assert [r[0] for r in records[1:]] == ["a wonderful, gripping film", "'=1+1 dull and boring", SCRIPT,
                                           "a painful mess", "the cast is delightful"]  # fmt: skip
    for r in records[1:]:
        assert r[1] in ("positive", "negative")
        assert float(r[3]) + float(r[4]) == pytest.approx(1, abs=1e-6)
    assert page.evaluate("window.pwned") is None


def test_phone_sized_window_and_keyboard_only(browser, server):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server + "/")
    expect(page.locator("#model option")).to_have_count(3)
    for label in ("Model", "Text", "Texts, one per line (blank lines are skipped)"):
        assert page.get_by_label(label, exact=True).count() == 1
    page.keyboard.press("Tab")  # the model selector comes first
    assert page.evaluate("document.activeElement.id") == "model"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.type("a wonderful film")
    page.keyboard.press("Enter")
    expect(page.locator("#results .card")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scrolling
    box = page.locator("#results .card").first.bounding_box()
    assert box["width"] <= 375
    context.close()
