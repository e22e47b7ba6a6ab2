"""The benchmark's figures from run records gathered in several places, for a suite run spread over
sessions: the `bench_result.json` of every unit under `textcnn benchmark --out` folders (or
`run_units.py --out` folders), and records .jsonl files (one dict per line as in the benchmark's
records.jsonl: dataset, system, variant, fold, seed, accuracy; train_seconds, n_train, n_test and
source when known). A unit (dataset, system, variant, fold, seed) given twice must agree, else it stops.

It prints the cross-validation rows: each seed's figure is the mean over the folds that every seed
has finished, the row the median over seeds ± sd, as `textcnn benchmark` reports it. With --report
DIR it also writes the benchmark's own report there (benchmark.json, benchmark.md, benchmark.png,
records.jsonl) through the same `summarize` and `render_benchmark` the command uses, from those units
(--data-dir: where the datasets are, for each one's protocol and sizes). With --dump FILE it writes
the units found in folders and in none of the .jsonl files given as records, with --source saying
how they were run, so that a folder's new units can be kept in the repository.

    python docs/results/benchmark/cv_table.py docs/results/benchmark/units/*.jsonl
    python docs/results/benchmark/cv_table.py docs/results/benchmark/units/*.jsonl \
        --report docs/results/benchmark --data-dir ../shared/data
    python docs/results/benchmark/cv_table.py runs/benchmark docs/results/benchmark/units/*.jsonl \
        --dump new.jsonl --source "how they were run"
"""

import argparse
import json
import re
import shlex
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

UNIT = re.compile(r"(?:cv(\d+)-fold(\d+)-)?seed(\d+)$")


def from_out(out: Path):
    """(key, record) for every finished unit under a benchmark --out folder."""
    for path in sorted(out.glob("runs/*/*/*/bench_result.json")):
        m = UNIT.match(path.parent.name)
        if not m:
            continue
        dataset, system_dir = path.parts[-4], path.parts[-3]
        system, variant = system_dir.split("-", 1) if system_dir.startswith("fasttext-") else ("textcnn", system_dir)
        result = json.loads(path.read_text())["result"]
        fold = int(m[2]) if m[2] is not None else None
        yield (dataset, system, variant, fold, int(m[3])), {**result, "source": None}


def from_jsonl(path: Path):
    for line in path.read_text().splitlines():
        r = json.loads(line)
        yield (
            (r["dataset"], r["system"], r["variant"], r["fold"], r["seed"]),
            {**r, "source": r.get("source") or str(path)},
        )


def gather(args: list[str]) -> dict[tuple, dict]:
    """Every unit, once; a record file's entry wins over a folder's (source None: found only in a folder)."""
    units: dict[tuple, dict] = {}
    for arg in sorted(args, key=lambda a: Path(a).is_dir()):  # record files first
        p = Path(arg)
        for key, rec in from_out(p) if p.is_dir() else from_jsonl(p):
            if key in units and abs(units[key]["accuracy"] - rec["accuracy"]) > 1e-9:
                raise SystemExit(f"{key}: {units[key]['accuracy']} here, {rec['accuracy']} in {arg}")
            units.setdefault(key, rec)
    return units


def dump(units: dict[tuple, dict], path: Path, source: str) -> int:
    """Write the units found only in folders as records with `source`; how many."""
    fields = ("accuracy", "train_seconds", "n_train", "n_test")
    lines = [
        json.dumps(
            {
                "dataset": d,
                "system": s,
                "variant": v,
                "fold": f,
                "seed": seed,
                **{k: rec[k] for k in fields if k in rec},
                "source": source,
            }
        )  # fmt: skip
        for (d, s, v, f, seed), rec in sorted(
            units.items(), key=lambda kv: (kv[0][0], kv[0][3] or 0, kv[0][4], kv[0][1:3])
        )
        if rec["source"] is None
    ]
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def complete(units: dict[tuple, dict]) -> dict[tuple, dict]:
    """The units that count: for cross-validation, the folds every seed of that system has."""
    folds = defaultdict(lambda: defaultdict(set))  # (dataset, system, variant) -> seed -> folds
    for dataset, system, variant, fold, seed in units:
        folds[(dataset, system, variant)][seed].add(fold)
    common = {k: set.intersection(*seeds.values()) for k, seeds in folds.items()}
    return {key: rec for key, rec in units.items() if key[3] in common[key[:3]]}


def cv_rows(units: dict[tuple, dict]) -> str:
    rows = defaultdict(lambda: defaultdict(dict))  # (dataset, system, variant) -> seed -> fold -> accuracy
    for (dataset, system, variant, fold, seed), rec in units.items():
        if fold is not None:
            rows[(dataset, system, variant)][seed][fold] = rec["accuracy"]
    out = ["| set | system | folds (1-based; every seed has them) | per seed: mean over those folds | median ± sd |",
           "|---|---|---|---|---:|"]  # fmt: skip
    for (dataset, system, variant), seeds in sorted(rows.items()):
        common = sorted(set.intersection(*(set(f) for f in seeds.values())))
        means = {s: statistics.fmean(f[k] for k in common) for s, f in sorted(seeds.items())}
        sd = statistics.stdev(means.values()) if len(means) > 1 else 0.0
        out.append(f"| {dataset} | {system} {variant} | {common[0] + 1}–{common[-1] + 1} ({len(common)}) | "
                   f"{' / '.join(f'{100 * m:.1f}' for m in means.values())} | "
                   f"{100 * statistics.median(means.values()):.1f} ± {100 * sd:.1f} |")  # fmt: skip
    return "\n".join(out)


def write_report(
    units: dict[tuple, dict], out: Path, data_dir: str, command: str, extra: list[str] = (), kim_variant: str = "rand"
) -> None:
    from textcnn.measure.benchmark import (
        SUITE,
        BenchmarkResult,
        RunRecord,
        folds_note,
        plan_dataset,
        summarize,
        write_records,
    )
    from textcnn.measure.render_benchmark import render_benchmark
    from textcnn.measure.timing import machine_info

    names = [n for n in SUITE if any(k[0] == n for k in units)]
    names += sorted({k[0] for k in units} - set(names))
    plans = {name: plan_dataset(name, data_dir) for name in names}
    order = {
        (s, v): i
        for i, (s, v) in enumerate(
            [("textcnn", "cnn"), ("fasttext", "unigram"), ("fasttext", "bigram"), ("fasttext", "bigram-vectors")]
        )
    }
    records = [
        RunRecord(
            dataset=d,
            system=s,
            variant=v,
            fold=f,
            seed=seed,
            accuracy=r["accuracy"],
            train_seconds=r.get("train_seconds"),
            n_train=r.get("n_train"),
            n_test=r.get("n_test"),
            run_dir=r["source"] or "a benchmark --out folder",
            reused=True,
        )  # fmt: skip
        for (d, s, v, f, seed), r in sorted(
            units.items(), key=lambda kv: (names.index(kv[0][0]), order.get(kv[0][1:3], 9), kv[0][3] or 0, kv[0][4])
        )
    ]
    machine = machine_info("cpu", 1)
    machine.pop("load_average", None)  # of this machine now, not of the runs
    result = BenchmarkResult(machine=machine, plans=plans, records=records, settings={"gathered_by": command})
    sources = Counter(r.run_dir for r in records)
    notes = [note] if (note := folds_note(result)) else []
    notes.append(
        f"Gathered from {len(records)} runs by `docs/results/benchmark/cv_table.py` (each the run `textcnn benchmark` "
        "made for its unit, with the settings its command line gives; records.jsonl names each one's source): "
        + "; ".join(f"{n} from {src}" for src, n in sources.most_common())
        + ". Training times were taken two runs at a time on two cores; some records carry none."
    )
    notes += list(extra)
    render_benchmark(summarize(result), out, command=command, kim_variant=kim_variant, notes=notes)
    write_records(result, out / "records.jsonl")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", nargs="+", help="benchmark --out folders and records .jsonl files")
    ap.add_argument("--report", type=Path, help="also write the benchmark report into this folder")
    ap.add_argument("--data-dir", help="where the datasets are (with --report)")
    ap.add_argument("--dump", type=Path, help="write the units found only in folders here, as records")
    ap.add_argument("--source", help="with --dump: how those units were run")
    ap.add_argument("--note", action="append", default=[], help="with --report: a note for the report (repeatable)")
    ap.add_argument("--kim", default="rand", help="with --report: Kim's variant to compare with (rand, nonstatic, ...)")
    a = ap.parse_args()
    gathered = gather(a.records)
    if a.dump:
        if not a.source:
            raise SystemExit("--dump needs --source")
        print(f"{dump(gathered, a.dump, a.source)} units -> {a.dump}")
    units = complete(gathered)
    print(cv_rows(units))
    if a.report:
        if not a.data_dir:
            raise SystemExit("--report needs --data-dir")
        command = "python " + " ".join(shlex.quote(x) for x in sys.argv)
        write_report(units, a.report, a.data_dir, command, a.note, a.kim)
