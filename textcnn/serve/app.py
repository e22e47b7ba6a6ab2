"""The HTTP API and the page: `create_app(predictors)` builds the FastAPI app; `serve()` runs it with uvicorn.

Routes: `GET /` (the page), `GET /static/{app.js,style.css}`, `GET /healthz` (no key needed, for load
balancers), `GET /v1/models`, `POST /v1/predict`, `POST /v1/explain`. JSON in and out.

Bad input never costs the server. Before a route runs, `Guard` checks the API key on /v1 (401
without it) and the body size (413 from Content-Length, and again while the body streams in, so a
chunked body cannot grow past the limit either). The routes decode the body strictly (invalid UTF-8
-> 400), parse it with the strict schemas (malformed JSON -> 400, a wrong type or unknown field ->
422) and check the limits (413). Every refusal, an unknown route (404) and a wrong method (405)
included, is `{"error": "<one line>"}`; an unexpected failure is a 500 with the same shape and its
traceback in the server log, never in the response. The model runs only on its batcher's worker
thread (batcher.py), so the event loop stays free.

Safe by default: `serve()` listens on 127.0.0.1 (`host_warning` says what another host means), no
CORS headers unless origins are given, and the page is served with a Content-Security-Policy that
allows nothing but this server (no inline scripts, no third-party fetches). The interactive docs
(/docs), which load scripts from a CDN, are off; the OpenAPI schema is at /v1/openapi.json.

Not here: the schemas and limits (schemas.py), batching (batcher.py), several worker processes
(workers.py), the command-line options (textcnn.cli.serve), prediction and explanation
(textcnn.inference).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from textcnn.errors import ServeError, TextcnnError
from textcnn.runtime import usable_cores
from textcnn.serve.batcher import MicroBatcher
from textcnn.serve.schemas import (
    BadRequest,
    ExplainRequest,
    Limits,
    PredictRequest,
    check_texts,
    parse,
    prediction_record,
)

log = logging.getLogger(__name__)

WORKER_SETTINGS = "TEXTCNN_SERVE_WORKER_SETTINGS"
"""Where `serve(workers=N)` hands its settings to uvicorn's worker processes (platforms without SO_REUSEPORT)."""

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def host_warning(host: str) -> str | None:
    """A one-line warning when `host` makes the server reachable from other machines."""
    if host in LOCAL_HOSTS or host.startswith("127."):
        return None
    return (
        f"listening on {host}: anyone who can reach this machine can use the API and the page"
        " (use --api-key, or keep the default 127.0.0.1 behind a proxy)"
    )


# ---------------------------------------------------------------------------------------------
# The models


@dataclass
class ServedModel:
    """One loaded run, its batcher and what /v1/models says about it."""

    name: str
    predictor: Any  # textcnn.inference.predictor.Predictor
    batcher: MicroBatcher
    info: dict[str, Any]


def load_predictors(runs: list[str], threads: int | None = None) -> list[Any]:
    """A Predictor for each RUN (run folder, 'latest', dataset name, or export folder); RunError if one is missing.

    `threads`: CPU threads each model scores with (None: its engine's default)."""
    from textcnn.inference.predictor import Predictor

    if not runs:
        raise ServeError("name at least one run to serve")
    return [Predictor.from_run(spec, threads=threads) for spec in runs]


def model_info(name: str, predictor: Any) -> dict[str, Any]:
    """Dataset, kind, labels, parameters, accuracies and training date of a loaded run."""
    config = predictor.files.config  # config and summary without loading a torch model
    summary = predictor.summary or {}
    path = Path(predictor.path)
    params = summary.get("params")
    if params is None:
        with contextlib.suppress(Exception):
            params = int(sum(p.numel() for p in predictor.model.parameters()))
    stamp = next((path / f for f in ("summary.json", "model.safetensors") if (path / f).is_file()), path)
    trained = datetime.fromtimestamp(stamp.stat().st_mtime, tz=timezone.utc).isoformat(timespec="seconds")
    from textcnn.inference.predictor import is_export_folder
    from textcnn.models.registry import explains_exactly

    exact = explains_exactly(config.model.name, config.model.pooling)
    explanation = None if is_export_folder(path) else ("exact" if exact else "occlusion")
    dataset = summary.get("dataset") or config.data.dataset or config.data.path
    return {
        "name": name,
        "dataset": Path(str(dataset)).name if "/" in str(dataset) else dataset,  # a file's name, not where it lives
        "kind": config.model.name,
        "labels": list(predictor.label_names),
        "parameters": params,
        "validation_accuracy": summary.get("best_val_accuracy"),
        "test_accuracy": summary.get("test_accuracy"),
        "trained": trained,
        "explanation": explanation,
    }


def _names(predictors: list[Any]) -> list[str]:
    names: list[str] = []
    for p in predictors:
        base = Path(p.path).name or "model"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# Responses and the guard


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # ensure_ascii: a lone surrogate in a text echoed back (explain) cannot break the UTF-8 encoding.
    body = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


async def _answer(handler, body: bytes, scope) -> Response:
    """handler(body), with the app's error rules: every refusal one line of JSON, a bug a logged 500."""
    try:
        return await handler(body)
    except BadRequest as e:
        return _error(e.status, e.message)
    except TextcnnError as e:
        lines = str(e).strip().splitlines()
        return _error(422, lines[0] if lines else type(e).__name__)
    except Exception as e:
        log.error("unexpected error on %s %s", scope["method"], scope["path"], exc_info=e)
        return _error(500, f"internal error ({type(e).__name__}); see the server log")


class Guard:
    """ASGI middleware: the API key on /v1 and the body-size limit, before any route reads anything.

    It also answers the POST endpoints in `fast` itself, once their body is read: FastAPI's routing and
    dependency solving cost more than the model does for a one-sentence request (measured: about a
    third of the server's CPU per request). The routes stay declared in the app, with the same
    handlers, for the OpenAPI schema."""

    def __init__(self, app, *, api_key: str | None, max_body_bytes: int, fast: dict | None = None) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max = max_body_bytes
        self.fast = fast if fast is not None else {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        needs_key = self.key is not None and scope["path"].startswith("/v1") and scope["method"] != "OPTIONS"
        if needs_key and not self._authorized(headers):
            response = _error(401, "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                              {"WWW-Authenticate": "Bearer"})  # fmt: skip
            return await response(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _error(400, "Content-Length is not a number")(scope, receive, send)
            if int(length) > self.max:
                return await self._too_large(int(length), scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max:
                return await self._too_large(size, scope, receive, send, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False
        handler = self.fast.get(scope["path"]) if scope["method"] == "POST" else None
        if handler is not None:
            return await (await _answer(handler, body, scope))(scope, receive, send)

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given, self.key)

    async def _too_large(self, size, scope, receive, send, at_least=False) -> None:
        more = "more than " if at_least else ""
        response = _error(413, f"the body has {more}{size} bytes; at most {self.max}", {"Connection": "close"})
        await response(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# The app


def create_app(
    predictors: list[Any],
    *,
    limits: Limits | None = None,
    api_key: str | None = None,
    cors: list[str] | tuple[str, ...] = (),
    max_batch: int = 256,
    max_wait_ms: float = 2.0,
) -> FastAPI:
    """The FastAPI app serving `predictors` (the first is the default model), each with its own batcher."""
    limits = limits or Limits()
    if not predictors:
        raise ServeError("no models to serve")
    models: dict[str, ServedModel] = {}
    for name, p in zip(_names(predictors), predictors, strict=True):
        batcher = MicroBatcher(p.predict, max_batch=max_batch, max_wait_ms=max_wait_ms, name=name)
        models[name] = ServedModel(name, p, batcher, model_info(name, p))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for m in models.values():  # uvicorn has drained the in-flight requests by now
            m.batcher.close()

    app = FastAPI(
        title="textcnn serve",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
        lifespan=lifespan,
    )
    app.state.models = models
    app.state.limits = limits
    # path -> handler(body): the guard answers these POSTs itself, the routes below share the handlers
    fast = {
        "/v1/predict": functools.partial(_predict_body, app.state),
        "/v1/explain": functools.partial(_explain_body, app.state),
    }
    app.add_middleware(Guard, api_key=api_key, max_body_bytes=limits.max_body_bytes, fast=fast)
    if cors:  # outside the guard, so a browser's preflight (OPTIONS, no key) gets its answer
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization", "X-API-Key"])  # fmt: skip
    _add_error_handlers(app)
    _add_page_routes(app)
    _add_api_routes(app)
    return app


def _pick(models: dict[str, ServedModel], name: str | None) -> ServedModel:
    """The model a request names: by its served name, or by kind when one model has it; none -> the default."""
    if name is None:
        return next(iter(models.values()))
    if name in models:
        return models[name]
    same_kind = [m for m in models.values() if m.info["kind"] == name]
    if len(same_kind) == 1:
        return same_kind[0]
    raise BadRequest(404, f"no model named {name[:100]!r}; GET /v1/models lists them")


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is {"error": "<one line>"}."""

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return _error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ())) or "request"
        return _error(422, f"{where}: {' '.join(str(first.get('msg', '')).split())}")

    @app.exception_handler(TextcnnError)
    async def _library(request: Request, exc: TextcnnError):
        lines = str(exc).strip().splitlines()
        return _error(422, lines[0] if lines else type(exc).__name__)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")


def _add_page_routes(app: FastAPI) -> None:
    """The page: index.html and its two static files, under PAGE_HEADERS (the Content-Security-Policy)."""
    page = resources.files("textcnn.serve").joinpath("static")

    @app.get("/", include_in_schema=False)
    async def index():
        return Response(page.joinpath("index.html").read_bytes(), media_type="text/html; charset=utf-8",
                        headers=PAGE_HEADERS)  # fmt: skip

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        if name not in STATIC:
            raise BadRequest(404, "no such file")
        return Response(page.joinpath(name).read_bytes(), media_type=STATIC[name], headers=PAGE_HEADERS)


async def _predict_body(state: Any, body: bytes) -> Response:
    """POST /v1/predict on the raw body (the guard's fast path and the route both call this)."""
    req = parse(body, PredictRequest)
    check_texts(req.texts, state.limits)
    m = _pick(state.models, req.model)
    predictions = await m.batcher.predict(req.texts, req.top_k)
    return _json({"model": m.name, "predictions": [prediction_record(p, req.top_k) for p in predictions]})


async def _explain_body(state: Any, body: bytes) -> Response:
    """POST /v1/explain on the raw body (the guard's fast path and the route both call this)."""
    req = parse(body, ExplainRequest)
    limits = state.limits
    check_texts([req.text], limits)
    if req.top > limits.max_top:
        raise BadRequest(422, f"top: {req.top} is more than {limits.max_top}")
    m = _pick(state.models, req.model)
    d = await m.batcher.call(_explain, m.predictor, req.text, req.top)
    d["model"] = m.name
    return _json(d)


def _add_api_routes(app: FastAPI) -> None:
    """/healthz, /v1/models, and the POST routes (which the guard usually answers before FastAPI routes them)."""
    state = app.state

    @app.get("/healthz")
    async def healthz():
        """Liveness for load balancers: 200 while the server and every model's worker are up."""
        alive = all(m.batcher._thread.is_alive() for m in state.models.values())
        return _json({"status": "ok" if alive else "degraded", "models": len(state.models)}, 200 if alive else 503)

    @app.get("/v1/models")
    async def list_models():
        """Each served run: dataset, model kind, labels, parameters, accuracies, training date; and the limits."""
        models = state.models
        return _json({"default": next(iter(models)), "models": [m.info for m in models.values()],
                      "limits": state.limits.to_dict()})  # fmt: skip

    @app.post("/v1/predict")
    async def predict(request: Request):
        """`{"texts": [...], "top_k": k, "model": name}` -> `{"model", "predictions": [...]}` in input order."""
        return await _predict_body(state, await request.body())

    @app.post("/v1/explain")
    async def explain(request: Request):
        """`{"text": ..., "top": n, "model": name}` -> the n-gram contributions, the bias and the logits."""
        return await _explain_body(state, await request.body())


def _explain(predictor: Any, text: str, top: int) -> dict[str, Any]:
    """explain() as the API returns it: the top n-grams, `distinct` (the top n-grams that do not repeat
    each other, with `shown`: the text with [pad] where a window covers padding, as `textcnn explain`
    lists them), and `spans` (text segments with their scores)."""
    from textcnn.inference.explain import distinct_ngrams, explain, highlight_spans

    e = explain(predictor, text)
    d = e.to_dict()
    d["kind"] = d.pop("model")
    d["n_ngrams"] = len(d["ngrams"])
    d["ngrams"] = d["ngrams"][:top]
    d["distinct"] = [{**asdict(g), "shown": g.shown()} for g in distinct_ngrams(e.ngrams, top)]
    d["spans"] = [[segment, score] for segment, score in highlight_spans(e)]
    return d


def serve(
    runs: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = 256,
    max_wait_ms: float = 2.0,
    api_key: str | None = None,
    cors: list[str] | tuple[str, ...] = (),
    limits: Limits | None = None,
    threads: int | None = None,
    workers: int = 1,
    access_log: bool = False,
    log_level: str = "info",
) -> int:
    """Load `runs` and serve them with uvicorn until SIGINT or SIGTERM (in-flight requests finish first).

    `workers` > 1: that many server processes share the port (workers.py), each with its own copy of
    the models and `threads` CPU threads (default: the usable cores divided among them); they are
    spawned, so a script of your own calls this under `if __name__ == "__main__":`. Returns the exit code."""
    import uvicorn

    if workers < 1:
        raise ServeError(f"workers must be at least 1, not {workers}")
    threads = threads or (None if workers == 1 else max(1, usable_cores() // workers))
    predictors = load_predictors(runs, threads=threads)
    settings = {
        "runs": [str(p.path) for p in predictors],  # resolved once: every worker serves the same folders
        "threads": threads,
        "limits": asdict(limits or Limits()),
        "api_key": api_key,
        "cors": list(cors),
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
    }
    options = {"host": host, "port": port, "access_log": access_log, "log_level": log_level,
               "timeout_graceful_shutdown": 30}  # fmt: skip
    if workers == 1:
        uvicorn.run(app_from_settings(settings, predictors), **options)
        return 0
    del predictors  # loaded to fail here, once, with the one-line error; each worker loads its own
    from textcnn.serve import workers as supervisor

    if supervisor.balanced():
        return supervisor.run(settings, workers, options)
    os.environ[WORKER_SETTINGS] = json.dumps(settings)  # uvicorn's supervisor: one shared socket
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    return 0


def worker_app() -> FastAPI:
    """uvicorn's factory in each of its worker processes (platforms without SO_REUSEPORT): settings from the environment."""
    return app_from_settings(json.loads(os.environ[WORKER_SETTINGS]))


def app_from_settings(settings: dict[str, Any], predictors: list[Any] | None = None) -> FastAPI:
    """The app `serve` builds from its settings (a worker process loads the runs itself)."""
    if predictors is None:
        predictors = load_predictors(settings["runs"], threads=settings["threads"])
    return create_app(predictors, limits=Limits(**settings["limits"]), api_key=settings["api_key"],
                      cors=tuple(settings["cors"]), max_batch=settings["max_batch"],
                      max_wait_ms=settings["max_wait_ms"])  # fmt: skip
