"""The load test of `textcnn serve`: `python -m textcnn.serve.load RUN [options]`.

It starts `textcnn serve RUN` as a subprocess on a free loopback port, opens `--clients` keep-alive
HTTP/1.1 connections from one asyncio client (raw sockets: an HTTP library would cost more CPU than
the server on a small machine), and has each send `POST /v1/predict` with `--texts` sentences per
request, one request at a time, until `--requests` requests are answered or `--seconds` pass. A
warm-up (`--warmup` requests) runs first and is not counted. It measures requests/s, sentences/s,
latency percentiles (client side: write to last byte read) and the server's resident memory
(VmRSS from /proc; with `--workers`, the supervisor's and its workers' together) after the warm-up
and at the end. Every response must be a 200 whose prediction count matches; anything else is
counted as an error.

Bounded on purpose: loopback only (127.0.0.1), at most 1,000 clients, 10 million requests and one
hour. The sentences are synthetic (a seeded mix of common English words, about 20 a sentence, like
SST-2's), so no dataset is needed. `measure()` returns a record; `render()` prints it.

Not here: the server (app.py); the speed of the model alone (textcnn.measure.bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"
MAX_CLIENTS, MAX_REQUESTS, MAX_SECONDS = 1000, 10_000_000, 3600.0
_WORDS = (
    "the a film movie story plot acting cast director script scene scenes character characters it this that "
    "is was are has have and but or not never very quite really too so more most less best worst good great "
    "bad fine dull boring funny moving gorgeous witty clumsy awful lovely brilliant tedious charming smart "
    "predictable original fresh tired long short slow fast beautiful ugly heart mind work performance "
    "performances ending end start with without of in on at by for to from as than like about into through "
    "one two first last every some many few all its his her their our you we they he she"
)
WORDS = _WORDS.split()


def sentences(n: int, seed: int = 0, words: int = 20) -> list[str]:
    """n synthetic sentences of about `words` words (between half and one and a half times it)."""
    rng = random.Random(seed)
    lo, hi = max(1, words // 2), max(1, words * 3 // 2)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and every process below it (Linux /proc): a server with --workers is a supervisor and its workers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def tree_total(pid: int, read: Any) -> float | None:
    """The sum of `read(p)` over pid and the processes below it (Linux /proc), skipping those that
    cannot be read (gone, not Linux); None when none could be."""
    values = []
    for p in process_tree(pid):
        try:
            values.append(read(p))
        except (OSError, IndexError, ValueError):
            continue
    return sum(values) if values else None


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"process {pid} has no resident memory (a zombie)")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and the processes below it, in MB (Linux /proc), or None where not available."""
    kb = tree_total(pid, rss_kb)
    return None if kb is None else kb / 1024


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process, its threads and the processes below it (Linux /proc), or None."""
    ticks = tree_total(pid, _cpu_ticks)
    return None if ticks is None else ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def percentiles(latencies_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max of latencies in seconds, as milliseconds."""
    a = np.asarray(latencies_s, dtype=np.float64) * 1000
    if not len(a):
        return {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(a.max())}


# ---------------------------------------------------------------------------------------------
# The client


def _request(port: int, body: bytes, api_key: str | None) -> bytes:
    key = f"X-API-Key: {api_key}\r\n" if api_key else ""
    return (
        f"POST /v1/predict HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n{key}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(port, requests, n_texts, api_key, budget, deadline, latencies, counts) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        i = 0
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            payload = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            writer.write(payload)
            status, body = await _read_response(reader)
            latencies.append(time.perf_counter() - t0)
            ok = status == 200 and body.count(b'"label"') == n_texts
            counts["ok" if ok else "errors"] += 1
    finally:
        writer.close()


async def _drive(port, clients, n_texts, total, seconds, api_key, seed) -> dict[str, Any]:
    texts = sentences(max(64, 8 * n_texts), seed=seed)
    rng = random.Random(seed + 1)
    requests = []
    for _ in range(64):  # a pool of distinct requests, built once
        body = json.dumps({"texts": rng.sample(texts, n_texts)}).encode()
        requests.append(_request(port, body, api_key))
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    budget = [total]
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            _client(port, requests[c:] + requests[:c], n_texts, api_key, budget, t0 + seconds, latencies, counts)
            for c in range(clients)
        )
    )
    elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "elapsed_s": elapsed, **counts}


# ---------------------------------------------------------------------------------------------
# The server


def start_server(run: str | list[str], port: int, *, max_batch: int = 256, max_wait_ms: float = 2.0,
                 threads: int | None = None, workers: int = 1, api_key: str | None = None,
                 log: Path | None = None, timeout: float = 180.0) -> subprocess.Popen:  # fmt: skip
    """`textcnn serve RUN [RUN ...]` on 127.0.0.1:port, returned once /healthz answers (RuntimeError if it never does)."""
    runs = [run] if isinstance(run, str) else list(run)
    cmd = [sys.executable, "-m", "textcnn", "serve", *runs, "--host", HOST, "--port", str(port),
           "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)]  # fmt: skip
    if threads:
        cmd += ["--threads", str(threads)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ)
    if api_key:
        env["TEXTCNN_API_KEY"] = api_key
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"textcnn serve exited with code {proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"textcnn serve did not answer /healthz within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM (uvicorn finishes in-flight requests), then SIGKILL if it does not stop in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# ---------------------------------------------------------------------------------------------
# Measure and render


def measure(
    run: str,
    *,
    clients: int = 16,
    texts: int = 1,
    requests: int = 20_000,
    seconds: float = 60.0,
    warmup: int = 2000,
    max_batch: int = 256,
    max_wait_ms: float = 2.0,
    threads: int | None = None,
    workers: int = 1,
    seed: int = 0,
    log: Path | None = None,
) -> dict[str, Any]:
    """Start a server on `run`, load it, stop it; a JSON-ready record of what was measured."""
    _check_load(clients, texts, requests, seconds)
    api_key = "load-test-" + os.urandom(8).hex()
    port = free_port()
    proc = start_server(
        run,
        port,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        threads=threads,
        workers=workers,
        api_key=api_key,
        log=log,
    )
    try:
        rss_start_up = rss_mb(proc.pid)
        if warmup:
            asyncio.run(_drive(port, clients, texts, warmup, seconds, api_key, seed + 7))
        rss_before, cpu_before, client_cpu = rss_mb(proc.pid), cpu_seconds(proc.pid), time.process_time()
        res = asyncio.run(_drive(port, clients, texts, requests, seconds, api_key, seed))
        rss_after, cpu_after, client_cpu = rss_mb(proc.pid), cpu_seconds(proc.pid), time.process_time() - client_cpu
    finally:
        code = stop_server(proc)
    done = res["ok"] + res["errors"]
    return {
        "run": str(run),
        "clients": clients,
        "texts_per_request": texts,
        "requests": done,
        "ok": res["ok"],
        "errors": res["errors"],
        "seconds": res["elapsed_s"],
        "requests_per_s": done / res["elapsed_s"],
        "sentences_per_s": res["ok"] * texts / res["elapsed_s"],
        **percentiles(res["latencies"]),
        # CPU time per request: what a request costs whatever else the machine is doing (a busy
        # machine stretches wall-clock figures, much less these).
        "server_cpu_ms_per_request": None if cpu_before is None else 1000 * (cpu_after - cpu_before) / max(done, 1),
        "client_cpu_ms_per_request": 1000 * client_cpu / max(done, 1),
        "rss_at_start_mb": rss_start_up,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "rss_growth_mb": None if rss_before is None or rss_after is None else rss_after - rss_before,
        "warmup_requests": warmup,
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
        "server_exit_code": code,
        "workers": workers,
        "machine": _machine(threads),
    }


def _check_load(clients: int, texts: int, requests: int, seconds: float) -> None:
    """The load's bounds (MAX_CLIENTS, MAX_REQUESTS, MAX_SECONDS), or ValueError."""
    if not 1 <= clients <= MAX_CLIENTS or not 1 <= requests <= MAX_REQUESTS or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(
            f"need 1 <= clients <= {MAX_CLIENTS}, 1 <= requests <= {MAX_REQUESTS}, 0 < seconds <= {MAX_SECONDS}"
        )
    if texts < 1:
        raise ValueError("texts must be >= 1")


def _machine(threads: int | None) -> dict[str, Any]:
    """The record's header: this machine and the versions (the server process runs the model)."""
    import torch  # for the header only

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": threads,
    }


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    rss = (
        "n/a"
        if r["rss_growth_mb"] is None
        else f"{r['rss_before_mb']:.0f} -> {r['rss_after_mb']:.0f} MB ({r['rss_growth_mb']:+.1f} MB)"
    )
    return "\n".join([
        f"textcnn serve load test: {r['run']}",
        f"  machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, torch {m['torch']}, server workers {r.get('workers', 1)} x threads {m['threads'] or 'default'}",
        f"  {r['clients']} clients x {r['texts_per_request']} texts/request, max_batch {r['max_batch']}, max_wait_ms {r['max_wait_ms']}, "
        f"{r['warmup_requests']} warm-up requests not counted",
        f"  {r['requests']:,} requests in {r['seconds']:.1f} s: {r['requests_per_s']:,.0f} requests/s, {r['sentences_per_s']:,.0f} sentences/s, "
        f"{r['errors']} errors",
        f"  latency: p50 {r['p50_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms",
        f"  CPU per request: server {_ms(r.get('server_cpu_ms_per_request'))}, load client {_ms(r.get('client_cpu_ms_per_request'))}",
        f"  server memory (RSS): {rss}",
    ])  # fmt: skip


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m textcnn.serve.load", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="Run folder, 'latest', dataset name or export folder to serve.")
    ap.add_argument("--clients", type=int, default=16, help="Concurrent keep-alive connections (default 16).")
    ap.add_argument("--texts", type=int, default=1, help="Sentences per request (default 1).")
    ap.add_argument("--requests", type=int, default=20_000, help="Requests to send after the warm-up (default 20000).")
    ap.add_argument(
        "--seconds", type=float, default=120.0, help="Stop after this long even if requests remain (default 120)."
    )
    ap.add_argument("--warmup", type=int, default=2000, help="Warm-up requests, not counted (default 2000).")
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--max-wait-ms", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=None, help="The server's CPU threads per worker (default: its own).")
    ap.add_argument("--workers", type=int, default=1, help="Server processes (textcnn serve --workers; default 1).")
    ap.add_argument("--json", type=Path, default=None, help="Also write the record here.")
    ap.add_argument("--log", type=Path, default=None, help="Write the server's output here.")
    a = ap.parse_args(argv)
    try:
        r = measure(a.run, clients=a.clients, texts=a.texts, requests=a.requests, seconds=a.seconds, warmup=a.warmup,
                    max_batch=a.max_batch, max_wait_ms=a.max_wait_ms, threads=a.threads, workers=a.workers, log=a.log)  # fmt: skip
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=2) + "\n")
    return 0 if r["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
