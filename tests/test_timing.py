"""timing.py: warm-up dropped, statistics right, sync before every clock read, strict records."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from textcnn.measure.timing import (
    RecordError,
    Timing,
    from_dict_strict,
    machine_info,
    machine_line,
    percentile,
    time_fn,
)


class FakeClock:
    """Each call to fn advances time by the next duration; reading the clock is logged."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.log: list[str] = []

    def clock(self) -> float:
        self.log.append("clock")
        return self.now

    def sync(self) -> None:
        self.log.append("sync")

    def fn(self) -> None:
        self.log.append("fn")
        self.now += self.durations.pop(0)


def test_warmup_calls_are_dropped_and_not_timed():
    fc = FakeClock([100.0, 100.0, 1.0, 2.0, 3.0])  # two slow warm-ups
    t = time_fn(fc.fn, repeats=3, warmup=2, clock=fc.clock)
    assert t.seconds == [1.0, 2.0, 3.0]
    assert t.warmup == 2
    assert fc.log[:2] == ["fn", "fn"]  # the clock is not read during warm-up
    assert fc.durations == []


def test_statistics_of_measured_calls():
    durations = [float(x) for x in range(1, 21)]  # 1..20 s
    fc = FakeClock([0.0, *durations])
    t = time_fn(fc.fn, repeats=20, warmup=1, clock=fc.clock)
    assert t.n == 20
    assert t.median == pytest.approx(10.5)
    assert t.p50 == pytest.approx(10.5)
    # numpy.percentile(range(1, 21), 95) == 19.05
    assert t.p95 == pytest.approx(19.05)
    assert (t.min, t.max) == (1.0, 20.0)
    assert t.mean == pytest.approx(10.5)
    assert t.sd == pytest.approx(5.9160797831)
    assert t.total == pytest.approx(210.0)


def test_sync_is_called_before_every_clock_read():
    fc = FakeClock([0.5, 0.5, 0.5])
    time_fn(fc.fn, repeats=2, warmup=1, sync=fc.sync, clock=fc.clock)
    assert fc.log == ["fn", "sync", "clock", "fn", "sync", "clock", "sync", "clock", "fn", "sync", "clock"]
    reads = [i for i, e in enumerate(fc.log) if e == "clock"]
    assert all(fc.log[i - 1] == "sync" for i in reads)


def test_min_seconds_adds_samples_and_max_seconds_caps_them():
    fc = FakeClock([1.0] * 10)
    t = time_fn(fc.fn, repeats=2, warmup=0, clock=fc.clock, min_seconds=5.0)
    assert t.n == 5
    fc = FakeClock([2.0] * 10)
    t = time_fn(fc.fn, repeats=10, warmup=0, clock=fc.clock, max_seconds=3.0)
    assert t.n == 2  # 2 s + 2 s >= 3 s budget
    fc = FakeClock([50.0])
    assert time_fn(fc.fn, repeats=10, warmup=0, clock=fc.clock, max_seconds=1.0).n == 1


def test_time_fn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats"):
        time_fn(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        time_fn(lambda: None, warmup=-1)


def test_real_clock_measures_something():
    t = time_fn(lambda: sum(range(1000)), repeats=3, warmup=1)
    assert t.n == 3 and all(s > 0 for s in t.seconds)


def test_percentile_matches_numpy_linear():
    xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    # numpy.percentile(xs, [0, 25, 50, 90, 100]) -> [1., 1.75, 3.5, 6.9, 9.]
    assert [percentile(xs, q) for q in (0, 25, 50, 90, 100)] == pytest.approx([1.0, 1.75, 3.5, 6.9, 9.0])
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_timing_round_trips_through_dict():
    t = Timing(seconds=[0.1, 0.2], warmup=1)
    assert Timing.from_dict(t.to_dict()) == t


def test_machine_info_header_has_no_hostname():
    import json
    import platform

    info = machine_info("cpu", threads=2)
    for key in ("cpu", "cores", "threads", "torch_threads", "torch", "cuda", "python", "device", "device_name"):
        assert key in info
    assert info["threads"] == 2 and info["device"] == "cpu"
    if len(platform.node()) > 3:
        assert platform.node() not in json.dumps(info)
    line = machine_line(info)
    assert "threads" in line and info["torch"] in line


def test_peak_rss_is_plausible():
    from textcnn.runtime import peak_rss_mb

    mb = peak_rss_mb()
    assert 10 < mb < 100_000


def test_peak_rss_starts_again_from_the_present_size_after_a_reset():
    import numpy as np

    from textcnn.runtime import peak_rss_mb, reset_peak_rss

    before = peak_rss_mb()
    block = np.ones(40_000_000)  # 305 MiB, every page touched
    held = peak_rss_mb()
    assert held > before + 250
    del block
    if not reset_peak_rss():
        pytest.skip("no /proc/self/clear_refs here: the peak cannot be reset")
    assert peak_rss_mb() < held - 250


@dataclass
class Inner:
    x: float
    tags: list[str] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    inner: Inner
    items: list[Inner]
    maybe: int | None = None


def test_from_dict_strict_builds_nested_records_and_names_bad_keys():
    d = {"name": "a", "inner": {"x": 1}, "items": [{"x": 2.5, "tags": ["t"]}], "maybe": None}
    o = from_dict_strict(Outer, d)
    assert o == Outer("a", Inner(1.0), [Inner(2.5, ["t"])], None)
    with pytest.raises(RecordError, match="unknown keys"):
        from_dict_strict(Outer, {**d, "extra": 1})
    with pytest.raises(RecordError, match="missing key 'inner'"):
        from_dict_strict(Outer, {"name": "a", "items": []})
    with pytest.raises(RecordError, match=r"Outer.items\[0\].x must be a number"):
        from_dict_strict(Outer, {**d, "items": [{"x": "fast"}]})
    with pytest.raises(RecordError, match="maybe must be an integer"):
        from_dict_strict(Outer, {**d, "maybe": 1.5})


def test_contention_warning_only_when_other_work_competed():
    from textcnn.measure.timing import contention_warning

    idle = {"cores": 2, "threads": 2, "load_average": 0.3, "load_average_end": 2.4}
    assert contention_warning(idle) is None  # the end load is our own threads
    busy = {**idle, "load_average": 4.3}
    assert "load average 4.3 at the start on 2 cores" in contention_warning(busy)
    assert "6.0 at the end" in contention_warning({**idle, "load_average_end": 6.0})
    assert contention_warning({"cores": 64, "threads": 8, "load_average": 3.0}) is None
    assert contention_warning({}) is None
