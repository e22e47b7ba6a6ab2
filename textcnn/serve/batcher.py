"""The micro-batcher: concurrent requests for one model become one length-sorted batch.

Each served model has one worker thread that owns it: the event loop only queues work and awaits a
future, so it never runs the model. The worker takes the first waiting request, then gathers more
for up to `max_wait_ms` (or until `max_batch` texts), runs them as one `Predictor.predict` call
(which sorts the texts by length into padded batches) and hands each request its own slice of the
results, in its own order. A request with more than `max_batch` texts runs alone; a request that
would push a batch over `max_batch` waits for the next one. When a gathered batch fails, each of its
requests runs again alone, so one request's failure is only its own. Other jobs (explanations) run on the
same thread between batches, so nothing else ever touches the model concurrently.

Not here: HTTP (app.py), limits (schemas.py), the model itself (textcnn.inference).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textcnn.errors import ServeError

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class _Request:
    texts: list[str]
    top_k: int | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


@dataclass
class BatchStats:
    """What the worker has done (for /healthz and the tests)."""

    requests: int = 0
    texts: int = 0
    batches: int = 0
    largest_batch: int = 0
    jobs: int = 0


def _hand_back(loop: asyncio.AbstractEventLoop, future: asyncio.Future, result: Any, error: BaseException | None):
    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting any more
        loop.call_soon_threadsafe(_resolve, future, result, error)


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class MicroBatcher:
    """Runs `predict(texts, top_k)` for many concurrent callers on one worker thread, in batches."""

    def __init__(
        self,
        predict: Callable[[list[str], int | None], list[Any]],
        *,
        max_batch: int = 256,
        max_wait_ms: float = 2.0,
        name: str = "model",
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ServeError(f"max_batch={max_batch} must be >= 1 and max_wait_ms={max_wait_ms} >= 0")
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._carry: _Request | None = None  # a request that did not fit the last batch
        self._thread = threading.Thread(target=self._work, name=f"textcnn-serve-{name}", daemon=True)
        self._thread.start()

    # -- the event loop's side ----------------------------------------------------------------

    async def predict(self, texts: list[str], top_k: int | None = None) -> list[Any]:
        """The predictions of `texts`, in order, computed in a batch with whatever else is waiting."""
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Request(texts, top_k, future, loop))
        return await future

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on the worker thread, between batches (for work that needs the model to itself)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(fn, args, future, loop))
        return await future

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the worker."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # -- the worker ---------------------------------------------------------------------------

    def _next(self, timeout: float | None):
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None:
            return self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait()
        return self._queue.get(timeout=timeout)

    def _work(self) -> None:
        while True:
            item = self._next(None)
            if item is _STOP:
                return
            if isinstance(item, _Job):
                self._run_job(item)
                continue
            batch, jobs, n, stop = [item], [], len(item.texts), False
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch:
                try:
                    more = self._next(deadline - time.monotonic())
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                if isinstance(more, _Job):
                    jobs.append(more)
                elif n + len(more.texts) > self.max_batch:
                    self._carry = more
                    break
                else:
                    batch.append(more)
                    n += len(more.texts)
            self._run_batch(batch, n)
            for job in jobs:
                self._run_job(job)
            if stop:
                if self._carry is not None:
                    self._run_batch([self._carry], len(self._carry.texts))
                    self._carry = None
                return

    def _run_batch(self, batch: list[_Request], n: int) -> None:
        texts = batch[0].texts if len(batch) == 1 else [t for r in batch for t in r.texts]
        ks = [r.top_k for r in batch if r.top_k is not None]
        try:
            results = self._predict(texts, max(ks) if ks else None)
            error = None
        except Exception as e:  # the worker lives on
            if len(batch) > 1:  # one request's texts must not fail the others: run each alone
                for r in batch:
                    self._run_batch([r], len(r.texts))
                return
            results, error = None, e
            if not isinstance(e, ValueError):
                log.exception("prediction failed for a batch of %d texts", n)
        s = self.stats
        s.requests, s.texts, s.batches = s.requests + len(batch), s.texts + n, s.batches + 1
        s.largest_batch = max(s.largest_batch, n)
        start = 0
        for r in batch:
            part = None if error else results[start : start + len(r.texts)]
            start += len(r.texts)
            _hand_back(r.loop, r.future, part, error)

    def _run_job(self, job: _Job) -> None:
        try:
            result, error = job.fn(*job.args), None
        except Exception as e:
            result, error = None, e
            if not isinstance(e, ValueError):
                log.exception("a job on the model's worker failed")
        self.stats.jobs += 1
        _hand_back(job.loop, job.future, result, error)
