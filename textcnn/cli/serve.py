"""`textcnn serve`: the HTTP API and the page for one or more trained runs (textcnn.serve)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from textcnn.cli.common import err, user_errors


def serve(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN...",
            help="Run folders, 'latest', dataset names (their newest run) or export folders; the first is the default model.",
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback prints a warning.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Most texts one model batch gathers from concurrent requests.")
    ] = 256,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="Longest a request waits for others to join its batch (milliseconds).")
    ] = 2.0,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TEXTCNN_API_KEY",
            show_default=False,
            help="Require this key on /v1 (header 'Authorization: Bearer KEY' or 'X-API-Key: KEY'); 401 without it.",
        ),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option(
            "--cors",
            show_default=False,
            help="Allow browser pages from this origin to call the API (repeatable). Default: no CORS.",
        ),
    ] = None,
    max_texts: Annotated[int, typer.Option(min=1, help="Most texts per /v1/predict request.")] = 1000,
    max_chars: Annotated[int, typer.Option(min=1, help="Most characters per text.")] = 20_000,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body, in MiB.")] = 2.0,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port, each with its own copy of the models (2 uses both cores of a 2-core machine).",
        ),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads per worker (default: the usable cores divided among the workers; 1 on a busy machine).",
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs time under load).")] = False,
) -> None:
    """Serve trained runs over HTTP: a JSON API (/v1/predict, /v1/explain, /v1/models, /healthz) and a page at /.

    Concurrent requests are micro-batched per model. Stop with Ctrl-C or SIGTERM: requests in flight finish first.

    Examples:

      textcnn serve latest

      textcnn serve runs/sst2-cnn-20261125-101500 runs/sst2-lstm-20261125-120000 --port 8080

      TEXTCNN_API_KEY=s3cret textcnn serve latest --host 0.0.0.0 --workers 2
    """
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        err.print(
            f"error: textcnn serve needs {' and '.join(missing)}: pip install 'textcnn[serve]'",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    with user_errors():
        from textcnn.serve.app import host_warning
        from textcnn.serve.app import serve as run_server
        from textcnn.serve.schemas import Limits

        warning = host_warning(host)
        if warning:
            err.print(f"warning: {warning}", markup=False, highlight=False)
        limits = Limits(max_body_bytes=int(max_body_mb * 2**20), max_texts=max_texts, max_chars=max_chars)
        code = run_server(list(runs), host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms,
                   api_key=api_key or None, cors=cors or (), limits=limits, threads=threads, workers=workers,
                   access_log=access_log)  # fmt: skip
    if code:
        raise typer.Exit(code)
