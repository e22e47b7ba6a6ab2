"""The cross-validation rows of the benchmark table from run records gathered in several places: the
`bench_result.json` of every unit under benchmark --out folders, and records .jsonl files (one
`RunRecord` dict per line, as benchmark's records.jsonl). Each seed's figure is the mean over the
folds that every seed has finished; the row is the median over seeds ± their sd, as `textcnn
benchmark` reports it. A
(dataset, system, fold, seed) given twice must agree, else it stops.

    python docs/results/benchmark/cv_table.py /tmp/bm10 docs/results/benchmark/cv10/folds1-3.jsonl
"""

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

UNIT = re.compile(r"cv(\d+)-fold(\d+)-seed(\d+)$")


def from_out(out: Path):
    for path in sorted(out.glob("runs/*/*/*/bench_result.json")):
        m = UNIT.match(path.parent.name)
        if not m:
            continue
        dataset, system_dir = path.parts[-4], path.parts[-3]
        system, variant = system_dir.split("-", 1) if system_dir.startswith("fasttext-") else ("textcnn", system_dir)
        acc = json.loads(path.read_text())["result"]["accuracy"]
        yield dataset, system, variant, int(m[2]), int(m[3]), acc


def from_jsonl(path: Path):
    for line in path.read_text().splitlines():
        r = json.loads(line)
        yield r["dataset"], r["system"], r["variant"], r["fold"], r["seed"], r["accuracy"]


units: dict[tuple, float] = {}
for arg in sys.argv[1:]:
    p = Path(arg)
    for *key, acc in from_out(p) if p.is_dir() else from_jsonl(p):
        key = tuple(key)
        if key in units and abs(units[key] - acc) > 1e-9:
            raise SystemExit(f"{key}: {units[key]} here, {acc} in {arg}")
        units[key] = acc

rows = defaultdict(lambda: defaultdict(dict))  # (dataset, system, variant) -> seed -> fold -> accuracy
for (dataset, system, variant, fold, seed), acc in units.items():
    rows[(dataset, system, variant)][seed][fold] = acc

print("| set | system | folds (1-based; every seed has them) | per seed: mean over those folds | median ± sd |")
print("|---|---|---|---|---:|")
for (dataset, system, variant), seeds in sorted(rows.items()):
    common = sorted(set.intersection(*(set(f) for f in seeds.values())))  # a fold counts once all seeds have it
    means = {s: statistics.fmean(f[k] for k in common) for s, f in sorted(seeds.items())}
    sd = statistics.stdev(means.values()) if len(means) > 1 else 0.0
    print(f"| {dataset} | {system} {variant} | {common[0] + 1}–{common[-1] + 1} ({len(common)}) | "
          f"{' / '.join(f'{100 * m:.1f}' for m in means.values())} | "
          f"{100 * statistics.median(means.values()):.1f} ± {100 * sd:.1f} |")  # fmt: skip
