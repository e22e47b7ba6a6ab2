"""Write an MPQA-sized stand-in of short opinion phrases: 10,606 distinct SST-2 training phrases of 1-8
words (4.1 on average; MPQA's are about 3), drawn with a fixed seed. MPQA itself is not among the shared
sets; this only asks how the defaults behave on texts that short.

    python docs/results/tried/short_texts/make_proxy.py ../shared/data/sst2 /tmp/mpqa/train.parquet
"""

import sys
from pathlib import Path

import pandas as pd

source, out = Path(sys.argv[1]), Path(sys.argv[2])
df = pd.read_parquet(next((source / "data").glob("train-*.parquet")))
words = df.sentence.str.split().str.len()
short = df[(words >= 1) & (words <= 8)].drop_duplicates("sentence")
sample = short.sample(10_606, random_state=0).rename(columns={"sentence": "text"})[["text", "label"]]
out.parent.mkdir(parents=True, exist_ok=True)
sample.reset_index(drop=True).to_parquet(out)
print(f"{len(sample):,} phrases, {sample.text.str.split().str.len().mean():.2f} words on average, "
      f"{sample.label.mean():.1%} positive -> {out}")
