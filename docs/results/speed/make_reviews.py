"""The issue 12 s.4 memory test set: N synthetic reviews, each six SST-2 train sentences of >= 10 words
(~107 tokens, ~300 MB for 500,000 rows); label = majority of the six (a 3-3 tie takes the first's).

    TEXTCNN_DATA_DIR=../shared/data python docs/results/speed/make_reviews.py /tmp/reviews500k.csv [N]

Never commit the csv."""

import csv
import glob
import os
import sys

import numpy as np
import pyarrow.parquet as pq

data = os.environ.get("TEXTCNN_DATA_DIR", "../shared/data")
rows = pq.read_table(glob.glob(f"{data}/sst2/data/train-*.parquet")[0]).to_pydict()
sents = [(s.strip(), lab) for s, lab in zip(rows["sentence"], rows["label"], strict=True) if len(s.split()) >= 10]
rng = np.random.default_rng(0)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
pick = rng.integers(0, len(sents), size=(n, 6))
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    for r in pick:
        labs = [sents[i][1] for i in r]
        positive = sum(labs) * 2 > 6 or (sum(labs) * 2 == 6 and labs[0] == 1)
        w.writerow([" ".join(sents[i][0] for i in r), int(positive)])
