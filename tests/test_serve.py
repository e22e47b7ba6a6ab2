"""`textcnn serve` through FastAPI's test client: every endpoint, every error path, the API key, CORS,
the micro-batcher, a fuzz test of bad requests, the page's safety rules, the CLI and the load tool."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest
from conftest import toy_rows

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from textcnn.serve import load  # noqa: E402
from textcnn.serve.app import create_app, host_warning  # noqa: E402
from textcnn.serve.batcher import MicroBatcher  # noqa: E402
from textcnn.serve.schemas import Limits  # noqa: E402

MAX_LENGTH = 24
LIMITS = Limits(max_body_bytes=20_000, max_texts=50, max_chars=2000, max_top=100)
TINY = ["model.embedding_dim=16", "model.feature_maps=8", f"tokenizer.max_length={MAX_LENGTH}", "train.optimizer=adam",
        "train.lr=0.01", "train.checkpoint_every_minutes=0", "model.hidden_size=8"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny trained cnn and lstm (the lstm barely trained: it only has to answer)."""
    from textcnn.config import load_config
    from textcnn.training.trainer import train

    root = tmp_path_factory.mktemp("serve")
    csv = root / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(300)), encoding="utf-8")
    cnn = train(load_config(str(csv), sets=[*TINY, "train.epochs=6"]), root / "toy-cnn")
    lstm = train(load_config(str(csv), model="lstm", sets=[*TINY, "train.epochs=1"]), root / "toy-lstm")
    return cnn, lstm


@pytest.fixture(scope="module")
def predictors(runs):
    from textcnn.inference.predictor import Predictor

    return [Predictor.from_run(r) for r in runs]


@pytest.fixture(scope="module")
def client(predictors):
    with TestClient(create_app(predictors, limits=LIMITS)) as c:
        yield c


def one_line_error(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert body["error"] and "\n" not in body["error"]
    return body["error"]


# ---------------------------------------------------------------------------------------------
# Endpoints


def test_healthz_and_models(client, runs):
    assert client.get("/healthz").json() == {"status": "ok", "models": 2}
    data = client.get("/v1/models").json()
    assert data["default"] == runs[0].name
    assert data["limits"] == LIMITS.to_dict()
    cnn, lstm = data["models"]
    assert (cnn["name"], cnn["kind"], cnn["explanation"]) == ("toy-cnn", "cnn", "exact")
    assert (lstm["kind"], lstm["explanation"]) == ("lstm", "occlusion")
    assert cnn["labels"] == ["negative", "positive"]
    assert cnn["parameters"] > 0 and 0 <= cnn["validation_accuracy"] <= 1
    assert "test_accuracy" in cnn and cnn["trained"].endswith("+00:00")
    assert cnn["dataset"]


def test_predict_matches_the_predictor_in_input_order(client, predictors):
    texts = ["a wonderful superb film", "an awful dull plot", "", "   ", " ".join(["great"] * 40), "zzkq 😀"]
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "toy-cnn"
    expected = predictors[0].predict(texts)
    assert len(body["predictions"]) == len(texts)
    for got, want in zip(body["predictions"], expected, strict=True):
        assert set(got) == {"label", "probability", "probabilities", "truncated", "empty", "n_tokens"}
        assert got["label"] == want.label
        assert got["probability"] == pytest.approx(want.probability, abs=1e-6)
        assert sum(got["probabilities"].values()) == pytest.approx(1, abs=1e-6)
    assert [p["empty"] for p in body["predictions"]] == [False, False, True, True, False, False]
    assert [p["truncated"] for p in body["predictions"]] == [False, False, False, False, True, False]
    assert body["predictions"][0]["label"] == "positive" and body["predictions"][1]["label"] == "negative"
    assert client.post("/v1/predict", json={"texts": []}).json() == {"model": "toy-cnn", "predictions": []}


def test_predict_top_k_and_model_choice(client):
    r = client.post("/v1/predict", json={"texts": ["lovely"], "top_k": 5, "model": "lstm"}).json()
    assert r["model"] == "toy-lstm"
    top = r["predictions"][0]["top"]
    assert len(top) == 2 and top[0]["probability"] >= top[1]["probability"]
    assert client.post("/v1/predict", json={"texts": ["x"], "model": "toy-cnn"}).json()["model"] == "toy-cnn"
    assert "no model named" in one_line_error(client.post("/v1/predict", json={"texts": ["x"], "model": "gpt"}), 404)


def test_explain_exact_contributions_add_up(client):
    text = "the acting was great <b>and</b> the plot was dull"
    r = client.post("/v1/explain", json={"text": text, "top": 100})
    assert r.status_code == 200
    e = r.json()
    assert (e["model"], e["kind"], e["method"]) == ("toy-cnn", "cnn", "exact")
    assert len(e["ngrams"]) == e["n_ngrams"]
    for label, logit in e["logits"].items():
        total = e["bias"][label] + sum(g["contributions"][label] for g in e["ngrams"])
        assert total == pytest.approx(logit, abs=1e-4)
    assert "".join(segment for segment, _ in e["spans"]) == text
    scores = [g["score"] for g in e["ngrams"]]
    assert scores == sorted(scores, key=lambda s: -abs(s))
    short = client.post("/v1/explain", json={"text": text, "top": 2}).json()
    assert len(short["ngrams"]) == 2 and short["n_ngrams"] == e["n_ngrams"]
    # `distinct`: what `textcnn explain` lists, no two overlapping n-grams pushing the same way
    distinct = e["distinct"]
    assert distinct and all(g["text"] in g["shown"] and g["tokens"] for g in distinct)
    for i, g in enumerate(distinct):
        for k in distinct[:i]:
            a, b = max(g["start"], 0), max(k["start"], 0)
            overlap = a < b + len(k["tokens"]) and b < a + len(g["tokens"])
            assert not (overlap and (g["score"] > 0) == (k["score"] > 0))
    assert len(distinct) < len(e["ngrams"])  # the same words in windows of several widths, once


def test_explain_other_models_say_occlusion(client):
    e = client.post("/v1/explain", json={"text": "a lovely film", "model": "toy-lstm"}).json()
    assert e["method"] == "occlusion" and e["bias"] == {} and e["kind"] == "lstm"
    assert len(e["token_scores"]) == 3
    empty = client.post("/v1/explain", json={"text": ""}).json()
    assert empty["tokens"] == [] and empty["spans"] == []


def test_page_is_self_contained_and_never_renders_user_text_as_html(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = r.text
    assert 'src="/static/app.js"' in html and 'href="/static/style.css"' in html
    js = client.get("/static/app.js")
    css = client.get("/static/style.css")
    assert js.headers["content-type"].startswith("text/javascript") and css.status_code == 200
    for source in (html, js.text, css.text):
        assert "http://" not in source and "https://" not in source and "//cdn" not in source
    assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)|document\.write|eval\(", js.text)
    for control in ("text", "model", "batch-text", "batch-file", "api-key"):  # every input has a label
        assert f'<label for="{control}"' in html
    assert 'name="viewport"' in html
    one_line_error(client.get("/static/../app.py"), 404)
    one_line_error(client.get("/static/secret.txt"), 404)


def test_no_interactive_docs_from_a_cdn(client):
    one_line_error(client.get("/docs"), 404)
    assert client.get("/v1/openapi.json").json()["info"]["title"] == "textcnn serve"


# ---------------------------------------------------------------------------------------------
# Every bad input: a 4xx with one line of JSON


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/predict", b'{"texts": ["a"', 400, "malformed JSON"),
        ("/v1/predict", b"\xff\xfe{}", 400, "not valid UTF-8"),
        ("/v1/predict", '{"texts": ["caf\xe9"]}'.encode("latin-1"), 400, "not valid UTF-8"),
        ("/v1/predict", b"", 400, "empty"),
        ("/v1/predict", b"[1, 2]", 422, "object"),
        ("/v1/predict", b'"texts"', 422, "object"),
        ("/v1/predict", b"{}", 422, "texts"),
        ("/v1/predict", b'{"texts": "one string"}', 422, "texts"),
        ("/v1/predict", b'{"texts": [1, 2]}', 422, "texts.0"),
        ("/v1/predict", b'{"texts": [null]}', 422, "texts.0"),
        ("/v1/predict", b'{"texts": ["a"], "top_k": 0}', 422, "top_k"),
        ("/v1/predict", b'{"texts": ["a"], "top_k": "2"}', 422, "top_k"),
        ("/v1/predict", b'{"texts": ["a"], "top_k": 1.5}', 422, "top_k"),
        ("/v1/predict", b'{"texts": ["a"], "colour": "red"}', 422, "colour"),
        ("/v1/predict", b'{"texts": ["a"], "model": 3}', 422, "model"),
        ("/v1/predict", json.dumps({"texts": ["a"] * 51}).encode(), 413, "at most 50"),
        ("/v1/predict", json.dumps({"texts": ["a" * 2001]}).encode(), 413, "at most 2000"),
        ("/v1/predict", json.dumps({"texts": ["a" * 30_000]}).encode(), 413, "bytes"),
        ("/v1/predict", b'{"texts": ["\\ud800"]}', 400, "malformed JSON"),
        ("/v1/explain", b'{"texts": ["a"]}', 422, "text"),
        ("/v1/explain", b'{"text": ["a"]}', 422, "text"),
        ("/v1/explain", b'{"text": "a", "top": 0}', 422, "top"),
        ("/v1/explain", b'{"text": "a", "top": 101}', 422, "top"),
        ("/v1/explain", json.dumps({"text": "a" * 2001}).encode(), 413, "at most 2000"),
        ("/v1/explain", b'{"text": "a", "model": "nope"}', 404, "no model"),
    ],
)
def test_bad_requests_are_one_line_4xx(client, path, body, status, fragment):
    assert fragment in one_line_error(client.post(path, content=body), status)


def test_routes_methods_and_headers(client):
    assert "Not Found" in one_line_error(client.get("/nope"), 404)
    assert "Method Not Allowed" in one_line_error(client.get("/v1/predict"), 405)
    one_line_error(client.put("/v1/models", content=b"{}"), 405)
    r = client.post("/v1/predict", content=b'{"texts": []}', headers={"Content-Length": "abc"})
    assert r.status_code in (400, 413) or r.status_code < 500  # the test client may fix the header itself


def test_body_size_is_checked_before_and_while_reading(client):
    assert "at most 20000" in one_line_error(client.post("/v1/predict", content=b"x" * 20_001), 413)

    def chunks():  # no Content-Length: chunked transfer (the test client gathers it into one message)
        for _ in range(100):
            yield b"x" * 1000

    assert "more than" in one_line_error(client.post("/v1/predict", content=chunks()), 413)
    assert client.post("/v1/predict", json={"texts": ["fine"]}).status_code == 200


def test_api_key(predictors):
    app = create_app(predictors[:1], api_key="s3cret")
    with TestClient(app) as c:
        for path in ("/v1/models", "/v1/openapi.json"):
            r = c.get(path)
            assert "API key" in one_line_error(r, 401) and r.headers["www-authenticate"] == "Bearer"
        one_line_error(c.post("/v1/predict", json={"texts": ["a"]}), 401)
        one_line_error(c.post("/v1/explain", json={"text": "a"}, headers={"X-API-Key": "wrong"}), 401)
        one_line_error(c.get("/v1/models", headers={"Authorization": "Bearer s3cre"}), 401)
        one_line_error(c.post("/v1/predict", content=b"x" * 10**7, headers={"X-API-Key": "no"}), 401)  # before the body
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/predict", json={"texts": ["a"]}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200  # open: no secrets there


def test_cors_only_when_asked(client, predictors):
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client.get("/v1/models", headers=origin).headers
    with TestClient(create_app(predictors[:1], cors=["https://example.org"], api_key="k")) as c:
        r = c.get("/v1/models", headers={**origin, "X-API-Key": "k"})
        assert r.headers["access-control-allow-origin"] == "https://example.org"
        pre = c.options("/v1/predict", headers={**origin, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "x-api-key"})  # fmt: skip
        assert pre.status_code == 200
        other = c.get("/v1/models", headers={"Origin": "https://evil.example", "X-API-Key": "k"})
        assert "access-control-allow-origin" not in other.headers


def test_host_warning():
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None and host_warning("::1") is None
    assert "anyone who can reach" in host_warning("0.0.0.0")


# ---------------------------------------------------------------------------------------------
# Fuzz: thousands of bad requests, then a good one


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["texts", "text", "top_k", "top", "model", "x"]), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


class Direct:
    """Calls the ASGI app in this process, on one event loop: ~20x cheaper per request than TestClient,
    so the fuzz tests can send thousands of requests in a few seconds."""

    def __init__(self, app):
        self.app = app
        self.loop = asyncio.new_event_loop()

    def post(self, path: str, body: bytes, chunk: int | None = None) -> tuple[int, dict]:
        return self.loop.run_until_complete(self._call(path, body, chunk))

    async def _call(self, path, body, chunk):
        parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk and body else [body]
        headers = [(b"content-type", b"application/json")]
        if chunk is None:
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
        sent, out = [], {"consumed": 0}

        async def receive():
            if out["consumed"] < len(parts):
                out["consumed"] += 1
                return {"type": "http.request", "body": parts[out["consumed"] - 1],
                        "more_body": out["consumed"] < len(parts)}  # fmt: skip
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, {"json": json.loads(data), "consumed": out["consumed"]}

    def close(self):
        self.loop.close()


@pytest.fixture(scope="module")
def direct(predictors):
    d = Direct(create_app(predictors[:1], limits=LIMITS))
    yield d
    d.close()


def test_a_streamed_body_is_cut_off_at_the_limit(direct):
    status, r = direct.post("/v1/predict", b"x" * 200_000, chunk=1000)  # no Content-Length: chunked
    assert status == 413 and "at most 20000" in r["json"]["error"]
    assert r["consumed"] <= 21  # it stopped reading at the limit, not at the end
    status, r = direct.post("/v1/predict", json.dumps({"texts": ["a fine film"] * 40}).encode(), chunk=7)
    assert status == 200 and len(r["json"]["predictions"]) == 40


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=st.one_of(st.binary(max_size=300), JSONISH.map(lambda v: json.dumps(v).encode())),
       path=st.sampled_from(["/v1/predict", "/v1/explain"]))  # fmt: skip
def test_fuzz_never_500(direct, body, path):
    status, r = direct.post(path, body)
    assert status < 500, (body, r)
    if status != 200:
        assert set(r["json"]) == {"error"} and "\n" not in r["json"]["error"]


def test_after_the_fuzz_a_good_request_is_answered(direct, predictors):
    import random

    rng = random.Random(0)
    valid = b'{"texts": ["a lovely film", "an awful plot"], "top_k": 2}'
    for _ in range(2500):  # byte-level damage to a valid request: dropped, flipped, inserted bytes
        b = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            op = rng.random()
            if op < 0.4:
                del b[i]
            elif op < 0.8:
                b[i] = rng.randrange(256)
            else:
                b.insert(i, rng.randrange(256))
        status, r = direct.post(rng.choice(["/v1/predict", "/v1/explain"]), bytes(b), chunk=rng.choice([None, 5]))
        assert status < 500, (bytes(b), r)
    texts = ["a wonderful superb film", "an awful dull plot"]
    status, r = direct.post("/v1/predict", json.dumps({"texts": texts}).encode())
    assert status == 200
    want = [p.label for p in predictors[0].predict(texts)]
    assert [p["label"] for p in r["json"]["predictions"]] == want == ["positive", "negative"]
    assert all(m.batcher._thread.is_alive() for m in direct.app.state.models.values())


# ---------------------------------------------------------------------------------------------
# The micro-batcher


def test_batcher_gathers_concurrent_requests_and_keeps_order():
    calls = []

    def fake_predict(texts, top_k):
        calls.append(len(texts))
        time.sleep(0.01)
        return [f"{t}:{top_k}" for t in texts]

    batcher = MicroBatcher(fake_predict, max_batch=8, max_wait_ms=20)

    async def go():
        return await asyncio.gather(*(batcher.predict([f"r{i}a", f"r{i}b"], None) for i in range(20)))

    results = asyncio.run(go())
    assert results == [[f"r{i}a:None", f"r{i}b:None"] for i in range(20)]
    assert sum(calls) == 40 and max(calls) <= 8 and len(calls) < 20  # batched, never over max_batch
    assert batcher.stats.requests == 20 and batcher.stats.texts == 40 and batcher.stats.largest_batch <= 8

    async def big():  # a request larger than max_batch runs alone, whole
        return await batcher.predict([str(i) for i in range(20)], 3)

    assert asyncio.run(big()) == [f"{i}:3" for i in range(20)] and calls[-1] == 20
    batcher.close()


def test_batcher_survives_errors_and_runs_jobs_on_its_thread():
    calls = []

    def flaky(texts, top_k):
        calls.append(list(texts))
        if "boom" in texts:
            raise ValueError("boom")
        return [t.upper() for t in texts]

    batcher = MicroBatcher(flaky, max_batch=4, max_wait_ms=0)

    async def go():
        with pytest.raises(ValueError, match="boom"):
            await batcher.predict(["boom"])
        thread = await batcher.call(lambda: threading.current_thread().name)
        return await batcher.predict(["ok"]), thread

    assert asyncio.run(go()) == (["OK"], batcher._thread.name)
    assert batcher.stats.jobs == 1

    async def together():  # a failing request gathered with good ones fails alone
        return await asyncio.gather(
            batcher.predict(["a"]), batcher.predict(["boom"]), batcher.predict(["b", "c"]), return_exceptions=True
        )

    slow = MicroBatcher(flaky, max_batch=8, max_wait_ms=50)
    batcher.close()
    batcher = slow
    calls.clear()
    good1, bad, good2 = asyncio.run(together())
    assert good1 == ["A"] and isinstance(bad, ValueError) and good2 == ["B", "C"]
    assert calls == [["a", "boom", "b", "c"], ["a"], ["boom"], ["b", "c"]]  # batched, failed, then one by one
    batcher.close()
    assert not batcher._thread.is_alive()


# ---------------------------------------------------------------------------------------------
# The CLI and the load tool


def test_cli_serve_help_and_errors(monkeypatch):
    import importlib.util

    from typer.testing import CliRunner

    from textcnn.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["serve", "-h"])
    assert res.exit_code == 0 and "--max-wait-ms" in res.output and "TEXTCNN_API_KEY" in res.output
    res = runner.invoke(app, ["serve", "/no/such/run"])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    res = runner.invoke(app, ["serve", "latest"])
    assert res.exit_code == 2 and "pip install 'textcnn[serve]'" in res.output


def test_load_helpers():
    assert load.sentences(5, seed=1) == load.sentences(5, seed=1)
    assert all(5 <= len(s.split()) <= 15 for s in load.sentences(100, words=10))
    p = load.percentiles([0.001 * i for i in range(1, 101)])
    assert p["p50_ms"] == pytest.approx(50.5) and p["max_ms"] == pytest.approx(100)
    assert p["p99_ms"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        load.measure("latest", clients=0)


@pytest.mark.slow
def test_load_tool_end_to_end_and_sigterm(runs):
    r = load.measure(str(runs[0]), clients=4, texts=3, requests=300, seconds=60, warmup=50)
    assert r["errors"] == 0 and r["ok"] == 300 and r["server_exit_code"] in (0, -15)
    assert r["requests_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"]
    assert "requests/s" in load.render(r)


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight(runs, tmp_path):
    import signal
    import socket

    port = load.free_port()
    proc = load.start_server(str(runs[0]), port, max_wait_ms=1000, log=tmp_path / "serve.log")
    try:
        body = json.dumps({"texts": ["a wonderful superb film"]}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(load._request(port, body, None))
            time.sleep(0.3)  # the request now waits in the batcher (max_wait_ms=1000)
            proc.send_signal(signal.SIGTERM)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
                if b'"predictions"' in reply and reply.endswith(b"}"):
                    break
        assert reply.startswith(b"HTTP/1.1 200") and b'"label":"positive"' in reply
    finally:
        assert load.stop_server(proc) in (0, -15)
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()


def _workers(pid: int) -> list[int]:
    """The worker processes below a `serve --workers` supervisor (not multiprocessing's resource tracker)."""
    from pathlib import Path

    found = []
    for p in load.process_tree(pid)[1:]:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd:
            found.append(p)
    return sorted(found)


@pytest.mark.slow
def test_workers_share_the_port_replace_a_dead_one_and_stop_on_sigterm(runs, tmp_path):
    import os
    import signal

    from textcnn.serve.workers import balanced

    if not balanced():
        pytest.skip("--workers spreads connections with SO_REUSEPORT (Linux)")
    port, log_path = load.free_port(), tmp_path / "serve.log"
    proc = load.start_server(str(runs[0]), port, workers=2, log=log_path)
    try:
        deadline = time.monotonic() + 60
        while len(workers := _workers(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2
        before = {w: load.cpu_seconds(w) for w in workers}
        res = asyncio.run(load._drive(port, 16, 20, 2000, 120, None, 0))
        assert res["ok"] == 2000 and res["errors"] == 0
        # 16 keep-alive connections spread over both workers' sockets: each one served some
        assert all(load.cpu_seconds(w) > before[w] + 0.05 for w in workers), (before, workers)

        os.kill(workers[0], signal.SIGKILL)  # a crash after start: the supervisor starts another
        deadline = time.monotonic() + 60
        while log_path.read_text().count("Application startup complete") < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        now = _workers(proc.pid)
        assert len(now) == 2 and workers[0] not in now and workers[1] in now
        res = asyncio.run(load._drive(port, 4, 3, 200, 120, None, 1))
        assert res["ok"] == 200 and res["errors"] == 0
    finally:
        assert load.stop_server(proc) == 0
    text = log_path.read_text()
    assert "starting another" in text and text.count("Application shutdown complete") == 2, text


def test_workers_refuse_a_port_in_use(runs):
    import socket

    from typer.testing import CliRunner

    from textcnn.cli import app
    from textcnn.serve.workers import balanced

    if not balanced():
        pytest.skip("--workers spreads connections with SO_REUSEPORT (Linux)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = CliRunner().invoke(app, ["serve", str(runs[0]), "--workers", "2", "--port", str(port)])
    assert res.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in res.output and "Traceback" not in res.output


def test_worker_sockets_bind_as_uvicorn_does():
    from textcnn.errors import ServeError
    from textcnn.serve.workers import balanced, listen

    if not balanced():
        pytest.skip("--workers spreads connections with SO_REUSEPORT (Linux)")
    with listen("localhost", 0, reuse_port=True) as s:
        assert s.getsockname()[0] == "127.0.0.1"  # uvicorn's reading of "localhost", not ::1
        with listen("127.0.0.1", s.getsockname()[1], reuse_port=True):  # the workers share the port
            pass
        with pytest.raises(ServeError, match="cannot listen on"):
            listen("127.0.0.1", s.getsockname()[1], reuse_port=False)  # the supervisor's check
    with pytest.raises(ServeError, match="cannot listen on no.such.host.invalid"):
        listen("no.such.host.invalid", 8000, reuse_port=True)
