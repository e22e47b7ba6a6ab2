"""Render `textcnn benchmark`'s summary (the benchmark.json dict) as markdown and a plot.

A pure function of the dict: the same benchmark.json always gives the same benchmark.md. The
markdown puts textcnn, fastText and Kim (2014) side by side with the differences in points, so a
reader sees where textcnn wins and by how much, and how long one training run of each took.

Nothing here measures or trains; nothing here imports torch. Shares render.py's helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textcnn.measure.benchmark import VECTORS_VARIANT
from textcnn.measure.render import (
    PLOT_NOTE,
    Rendered,
    _matplotlib_figure,
    _save,
    fmt,
    machine_section,
    table,
    write_json,
)

BENCHMARK_JSON = "benchmark.json"
BENCHMARK_MD = "benchmark.md"
BENCHMARK_PLOT = "benchmark.png"
KIM_NAMES = {
    "rand": "CNN-rand",
    "static": "CNN-static",
    "nonstatic": "CNN-non-static",
    "multichannel": "CNN-multichannel",
}
PROTOCOLS = {
    "test": "train → test split",
    "validation": "train → validation split (the test labels are hidden)",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _diff(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    d = round(100 * (a - b), 1) + 0.0  # bold only where the printed difference is ahead (+0.0 is level); no -0.0
    return f"**{d:+.1f}**" if d > 0 else f"{d:+.1f}"


def _protocol(p: str) -> str:
    if p.startswith("cv"):
        return f"{p[2:]}-fold CV"
    return {"test": "test", "validation": "validation"}.get(p, p)


def _acc(s: dict[str, Any] | None) -> str:
    if not s:
        return "–"
    spread = f" ± {100 * s['sd']:.1f}" if len(s["accuracies"]) > 1 else ""
    return f"{_pct(s['median'])}{spread}"


def _secs(s: dict[str, Any] | None) -> str:
    return "–" if not s or s["train_seconds"] is None else f"{fmt(s['train_seconds'])} s"


def benchmark_markdown(rep: dict[str, Any], *, command: str | None = None, kim_variant: str = "rand",
                       plot: str | None = None, notes: Sequence[str] = ()) -> str:  # fmt: skip
    """The report: the side-by-side table, Kim's four variants, how each figure was measured."""
    datasets = rep["datasets"]
    seeds = max((len(s["accuracies"]) for d in datasets.values() for s in d.get("textcnn", {}).values()), default=0)
    lines = ["# textcnn benchmark: textcnn, fastText and Kim (2014) on the same splits", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += [_results_table(datasets, kim_variant), ""]
    lines += [
        f"Accuracy in % (median over {seeds} seed{'s' if seeds != 1 else ''} ± sd; with cross-validation each "
        "seed's figure is the mean over the folds). Differences are in points; **bold** where textcnn is ahead. "
        "s/run: median training time of one run (one fold of one seed), data loading excluded; fastText ran "
        "on one thread. Kim's figures are from his paper (Table 2), on his splits, not re-measured here.",
        "",
    ]
    lines += [*(f"> {n}" for n in notes), ""] if notes else []
    if plot:
        lines += [f"![accuracy per dataset]({plot})", ""]
    lines += ["## Kim (2014), Table 2", ""]
    kim_rows = [
        [name, *(_pct(d["kim2014"].get(v)) for v in KIM_NAMES)] for name, d in datasets.items() if d.get("kim2014")
    ]
    lines += [table(["dataset", *KIM_NAMES.values()], kim_rows), ""] if kim_rows else ["(none of these sets)", ""]
    lines += ["## Every seed", "", _seeds_table(datasets), ""]
    lines += [
        "## How it was measured",
        "",
        "- Protocol: the test split when it has labels; the validation split when only the test labels are "
        "hidden (SST-2, SST-5 sentence-level); otherwise stratified K-fold cross-validation with fixed folds "
        "(Kim's protocol for MR, Subj, CR, MPQA).",
        "- Model selection (early stopping, best checkpoint) only on a validation split held out of each run's "
        "training rows (stratified, seeded by the run's seed; 10% where a checkpoint is chosen on it, 2% where "
        "the last epoch is kept and it only watches: `config.holdout_fraction`); the scored rows are used once, "
        "at the end.",
        "- fastText trains on exactly the training rows textcnn trains on (the held-out validation rows "
        "excluded), fed the words textcnn's tokenizer produces (same normalisation, lowercasing and clitic "
        "splitting), and is scored on the same rows; unigram: 5 epochs, bigram: 10 epochs with wordNgrams=2, "
        "fastText's other defaults.",
        *(
            [
                f"- fastText {VECTORS_VARIANT}: the bigram settings, its word vectors started from the pretrained "
                "vectors textcnn's runs use (`pretrainedVectors`, `dim` their size), for the training words that have one."
            ]
            if _has_vectors_variant(datasets)
            else []
        ),
        "",
        machine_section(rep.get("machine", {})),
        "",
    ]
    return "\n".join(lines)


def _has_vectors_variant(datasets: dict[str, Any]) -> bool:
    return any(VECTORS_VARIANT in d.get("fasttext", {}) for d in datasets.values())


def _results_table(datasets: dict[str, Any], kim_variant: str) -> str:
    """The side-by-side table: one row per dataset (and textcnn model), textcnn vs fastText vs Kim, in points."""
    models = list(dict.fromkeys(m for d in datasets.values() for m in d.get("textcnn", {})))
    has_ft = any("fasttext" in d for d in datasets.values())
    has_vec = _has_vectors_variant(datasets)
    kim = KIM_NAMES.get(kim_variant, kim_variant)
    header = ["dataset", "protocol", "train / test", "textcnn"]
    if has_ft:
        header += ["fastText unigram", "fastText bigram", "textcnn − bigram"]
    if has_vec:
        header += ["fastText bigram + vectors", "textcnn − it"]
    header += [f"Kim {kim}", "textcnn − Kim", "textcnn s/run"]
    if has_ft:
        header += ["bigram s/run"]
    rows = []
    for name, d in datasets.items():
        for m in models or [None]:
            t = d.get("textcnn", {}).get(m) if m else None
            ft = d.get("fasttext", {})
            k = d.get("kim2014", {}).get(kim_variant)
            label = name if len(models) <= 1 else f"{name} · {m}"
            row = [label, _protocol(d["protocol"]), f"{d['n_train']:,} / {d['n_test']:,}", _acc(t)]
            if has_ft:
                bigram = ft.get("bigram")
                row += [_acc(ft.get("unigram")), _acc(bigram),
                        _diff(t and t["median"], bigram and bigram["median"])]  # fmt: skip
            if has_vec:
                vec = ft.get(VECTORS_VARIANT)
                row += [_acc(vec), _diff(t and t["median"], vec and vec["median"])]
            row += [_pct(k), _diff(t and t["median"], k), _secs(t)]
            if has_ft:
                row += [_secs(ft.get("bigram"))]
            rows.append(row)
    return table(header, rows)


def _seeds_table(datasets: dict[str, Any]) -> str:
    """Every seed's accuracy of every system, with the mean and the time per run."""
    seed_rows = []
    for name, d in datasets.items():
        for system in ("textcnn", "fasttext"):
            for v, s in d.get(system, {}).items():
                accs = ", ".join(_pct(a) for a in s["accuracies"])
                seed_rows.append([name, f"{system} {v}", accs, _pct(s["mean"]), _secs(s)])
    return table(["dataset", "system", "accuracy per seed", "mean", "s/run"], seed_rows)


def _plot(rep: dict[str, Any], path: Path, Figure, kim_variant: str) -> Path:
    datasets = list(rep["datasets"])
    series: dict[str, list[float | None]] = {}
    for name in datasets:
        d = rep["datasets"][name]
        for m, s in d.get("textcnn", {}).items():
            series.setdefault(f"textcnn {m}", [None] * len(datasets))[datasets.index(name)] = s["median"]
        for v, s in d.get("fasttext", {}).items():
            series.setdefault(f"fastText {v}", [None] * len(datasets))[datasets.index(name)] = s["median"]
    kim = [rep["datasets"][n].get("kim2014", {}).get(kim_variant) for n in datasets]
    if any(k is not None for k in kim):
        series[f"Kim 2014 {KIM_NAMES.get(kim_variant, kim_variant)}"] = kim
    fig = Figure(figsize=(max(7.5, 1.4 * len(datasets) + 3.5), 4.2))
    ax = fig.subplots()
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, v in enumerate(values) if v is not None]
        ys = [100 * v for v in values if v is not None]
        ax.bar(xs, ys, width, label=label)
    ax.set_xticks(range(len(datasets)), datasets)
    lows = [100 * v for values in series.values() for v in values if v is not None]
    if lows:
        ax.set_ylim(max(0.0, min(lows) - 8), min(100.0, max(lows) + 4))
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per dataset (median over seeds)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return path


def render_benchmark(rep: dict[str, Any], out_dir: str | Path, *, command: str | None = None,
                     kim_variant: str = "rand", notes: Sequence[str] = ()) -> Rendered:  # fmt: skip
    """Write benchmark.json, benchmark.md and (with matplotlib) benchmark.png into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = Rendered(files=[write_json(rep, out / BENCHMARK_JSON)])
    Figure = _matplotlib_figure()
    plot = None
    if Figure is None:
        rendered.note = PLOT_NOTE
    else:
        rendered.files.append(_plot(rep, out / BENCHMARK_PLOT, Figure, kim_variant))
        plot = BENCHMARK_PLOT
    md = out / BENCHMARK_MD
    md.write_text(
        benchmark_markdown(rep, command=command, kim_variant=kim_variant, plot=plot, notes=notes), encoding="utf-8"
    )
    rendered.files.append(md)
    return rendered
