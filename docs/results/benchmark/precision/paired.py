"""bf16 against fp32 training, paired by benchmark unit: the same dataset, fold, seed, initialisation,
held-out and scored rows and settings (today's defaults: 2% held out, input dropout 0.3); only the
precision `train.precision = "auto"` resolved to differs. The fp32 runs are those of
`../embedding_dropout/results.jsonl` and, for SST-2, the first benchmark's (`sst2-fp32.jsonl`; a CPU
without native bf16: AVX2), the bf16 runs the benchmark's records in `../units/` (a CPU with
AVX512-BF16). Prints one markdown row per unit
and the mean difference per set.

    python docs/results/benchmark/precision/paired.py
"""

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARK = HERE.parent

_spec = importlib.util.spec_from_file_location("holdout_paired", BENCHMARK / "holdout" / "paired.py")
holdout_paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(holdout_paired)  # its table of paired units


def main() -> None:
    runs = [json.loads(line) for line in (BENCHMARK / "embedding_dropout" / "results.jsonl").read_text().splitlines()]
    fp32 = {
        (r["dataset"], r["fold"], r["seed"]): r["accuracy"]
        for r in runs
        if r["embedding_dropout"] == 0.3 and r["dataset"] in ("mr", "subj", "sst5", "trec")
    }
    fp32.update(holdout_paired.textcnn_units([HERE / "sst2-fp32.jsonl"]))  # the first benchmark's SST-2 runs
    bf16 = holdout_paired.textcnn_units(
        [BENCHMARK / "units" / f for f in ("mr.jsonl", "subj.jsonl", "sst5-trec.jsonl")]
        + [BENCHMARK / "holdout" / "holdout10-sst2.jsonl"]  # SST-2's bf16 runs on the fp32 runs' rows (10% held out)
    )
    holdout_paired.print_paired(fp32, bf16, ("fp32 (AVX2 CPU)", "bf16 (AVX512-BF16 CPU)"))


if __name__ == "__main__":
    main()
