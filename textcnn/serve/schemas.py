"""What the API accepts and returns: request shapes (pydantic, strict), the limits, the response records.

Every request is held to `Limits` before it reaches a model: the body size (checked against
Content-Length and again while the body streams in), texts per request and characters per text. A
request that breaks a shape or a limit is a `BadRequest` (status + one line), which the app turns
into `{"error": "..."}`; nothing here runs a model.

Not here: the routes and error handlers (app.py), batching (batcher.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from textcnn.errors import ServeError


@dataclass(frozen=True)
class Limits:
    """What one request may ask for."""

    max_body_bytes: int = 2 * 2**20
    """Largest request body (413 above it)."""
    max_texts: int = 1000
    """Texts per /v1/predict request (413 above it)."""
    max_chars: int = 20_000
    """Characters per text (413 above it); the model reads the first tokenizer.max_length tokens anyway."""
    max_top: int = 1000
    """Largest `top` (n-grams) for /v1/explain."""

    def __post_init__(self) -> None:
        bad = [f"{k}={v}" for k, v in asdict(self).items() if not isinstance(v, int) or v < 1]
        if bad:
            raise ServeError(f"limits must be whole numbers >= 1: {', '.join(bad)}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class BadRequest(Exception):
    """A request the server refuses: an HTTP status and a one-line message for `{"error": ...}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class PredictRequest(BaseModel):
    """POST /v1/predict."""

    model_config = ConfigDict(strict=True, extra="forbid")
    texts: list[str]
    """The texts to classify; predictions come back in this order."""
    top_k: int | None = Field(default=None, ge=1)
    """Also return the k most probable labels of each text."""
    model: str | None = None
    """A served model's name (GET /v1/models) or its kind when only one has it; default: the first."""


class ExplainRequest(BaseModel):
    """POST /v1/explain."""

    model_config = ConfigDict(strict=True, extra="forbid")
    text: str
    """The one text to explain."""
    top: int = Field(default=10, ge=1)
    """How many n-grams to return, largest |score| first."""
    model: str | None = None


def parse(body: bytes, schema: type[BaseModel]) -> Any:
    """A request body -> the schema's object; invalid UTF-8, malformed JSON or a wrong shape -> BadRequest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"the body is not valid UTF-8 (byte {e.start})") from None
    if not text.strip():
        raise BadRequest(400, 'the body is empty; send JSON such as {"texts": ["a fine film"]}')
    try:
        return schema.model_validate_json(text)
    except ValidationError as e:
        first = e.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(400, f"malformed JSON: {_one_line(first['msg'])}") from None
        where = ".".join(str(x) for x in first["loc"]) or "body"
        more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise BadRequest(422, f"{where}: {_one_line(first['msg'])}{more}") from None


def check_texts(texts: list[str], limits: Limits) -> None:
    if len(texts) > limits.max_texts:
        raise BadRequest(413, f"{len(texts)} texts in one request; at most {limits.max_texts}")
    for i, t in enumerate(texts):
        if len(t) > limits.max_chars:
            raise BadRequest(413, f"text {i} has {len(t)} characters; at most {limits.max_chars}")


def _one_line(msg: str, width: int = 200) -> str:
    line = " ".join(str(msg).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def prediction_record(p, top_k: int | None) -> dict[str, Any]:
    """One `Prediction` as the API returns it (`top` only when top_k was asked for)."""
    out = {
        "label": p.label,
        "probability": p.probability,
        "probabilities": p.probabilities,
        "truncated": p.truncated,
        "empty": p.empty,
        "n_tokens": p.n_tokens,
    }
    if top_k is not None:
        out["top"] = [{"label": name, "probability": prob} for name, prob in p.top[:top_k]]
    return out
