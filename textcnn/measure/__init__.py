"""Measuring models side by side, and rendering what was measured.

- `timing.py`: the clock, warm-up / repeat / median timing, machine facts, typed records from JSON.
- `compare.py`: train several models under identical conditions (`textcnn compare`); `records.py`:
  its records and the pure functions that summarise them (time to target, ratios, headlines).
- `bench.py`: forward / training-step timings across lengths and batch sizes (`textcnn bench`).
- `benchmark.py`: Kim's (2014) suite against fastText and Kim's Table 2 (`textcnn benchmark`).
- `render.py`, `render_benchmark.py`: markdown, JSON and plots from those records, and re-rendering
  (`textcnn report`).

Measuring code returns records; rendering is separate. Not here: the CLI's live display.
"""
