"""`textcnn serve`: an HTTP API and a web page for trained runs.

- `schemas.py`: the request and response shapes and the limits every request is held to.
- `batcher.py`: the micro-batcher: one worker thread per model gathers concurrent requests into
  length-sorted batches (bounded by max_batch texts and max_wait_ms), so the event loop never runs
  the model and many small requests cost what one batch costs.
- `app.py`: the FastAPI app (`create_app`): /healthz, /v1/models, /v1/predict, /v1/explain, the
  page at /, the API key, the body-size guard and the error handlers that turn every bad input into
  a 4xx with a one-line JSON `{"error": ...}`; `serve()` runs it with uvicorn.
- `workers.py`: `serve --workers N`: N server processes on one port (SO_REUSEPORT), supervised
  (a crashed worker is replaced, SIGTERM drains each).
- `load.py`: the load test (`python -m textcnn.serve.load RUN`): a server subprocess, N concurrent
  keep-alive clients on loopback, throughput, latency percentiles and the server's memory.
- `static/`: the page (HTML, CSS, JavaScript), shipped in the package; nothing is fetched from the internet.

Not here: prediction or explanation themselves (textcnn.inference: `Predictor`, `explain`), the
command-line options (textcnn.cli.serve). fastapi and uvicorn are an optional extra
(`pip install 'textcnn[serve]'`); only this package imports them.
"""
