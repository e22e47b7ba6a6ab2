"""One row per autotune run of a stage folder: trial 0 and the highest other complete trial (validation /
scored accuracy), the gain's z against the z needed, which was kept and what it scored; then the medians
over seeds beside fastText's, from each set's records.jsonl.

    python docs/results/autotune/vectors/stage_table.py docs/results/autotune/vectors/4-bonferroni

`--rejudge` also applies today's rule (`textcnn.training.autotune.needed_z` over the run's complete other
trials) to runs made under an older one, from the gain and standard error their autotune.json recorded."""

import json
import statistics
import sys
from pathlib import Path

from textcnn.training.autotune import needed_z

stage = Path(sys.argv[1])
rejudge = "--rejudge" in sys.argv
SETS = ("subj", "sst5", "mr", "trec", "sst2")
print("| set | run | trials (complete) | trial 0 | highest other trial | z vs needed | kept | scored |")
print("|---|---|---|---|---|---|---|---:|")
scored: dict[str, list[float]] = {}
for name in SETS:
    for f in sorted((stage / name).glob("autotune-*.json")):
        summary = json.loads(f.read_text())
        trials = [json.loads(line) for line in f.with_suffix(".jsonl").read_text().splitlines()]
        complete = [t for t in trials if t["state"] == "complete"]
        c = summary["choice"]
        zero = next(t for t in trials if t["trial"] == 0)
        top = next((t for t in complete if t["trial"] == c.get("highest_trial")), None)
        compared = sum(t["trial"] != 0 for t in complete)
        z = c["gain_val"] / c["standard_error"] if c.get("standard_error") else float("nan")
        need = needed_z(compared) if rejudge else c.get("z_needed", c["needed"] / c["standard_error"])
        kept = ("highest" if z > need else "defaults") if rejudge else c["kept"]
        got = (top if kept == "highest" else zero)["test_accuracy"]
        scored.setdefault(name, []).append(got)
        run = f.stem.removeprefix("autotune-").replace("cv10-fold00-", "fold 1, ")
        other = f"{top['trial']}: {100 * top['val_accuracy']:.1f} / {100 * top['test_accuracy']:.1f}" if top else "-"
        print(f"| {name} | {run} | {len(trials)} ({len(complete)}) | {100 * zero['val_accuracy']:.1f} / "
              f"{100 * zero['test_accuracy']:.1f} | {other} | {z:+.2f} vs {need:.2f} | "
              f"{'defaults' if kept == 'defaults' else 'trial ' + str(top['trial'])} | {100 * got:.1f} |")  # fmt: skip
print()
print(
    "| set (median of 3 seeds) | textcnn `--autotune 300` + GloVe 50d | fastText bigram | fastText bigram + GloVe 50d |"
)
print("|---|---:|---:|---:|")
for name, values in scored.items():
    records = [json.loads(line) for line in (stage / name / "records.jsonl").read_text().splitlines()]
    ft = {v: statistics.median(r["accuracy"] for r in records if r["system"] == "fasttext" and r["variant"] == v)
          for v in ("bigram", "bigram-vectors")}  # fmt: skip
    print(
        f"| {name} | {100 * statistics.median(values):.1f} | {100 * ft['bigram']:.1f} | {100 * ft['bigram-vectors']:.1f} |"
    )
