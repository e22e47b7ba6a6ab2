"""5 stratification-free folds of the shared MR train set (seeded permutation), one folder per fold with
train.parquet and test.parquet, for the bf16-vs-fp32 comparison of issue 12.

    TEXTCNN_DATA_DIR=../shared/data python docs/results/speed/mr_folds.py /tmp/mr_folds"""

import os
import sys

import numpy as np
import pyarrow.parquet as pq

data = os.environ.get("TEXTCNN_DATA_DIR", "../shared/data")
t = pq.read_table(f"{data}/mr/data/train-00000-of-00001.parquet")
perm = np.random.default_rng(0).permutation(t.num_rows)
for k, fold in enumerate(np.array_split(perm, 5)):
    d = f"{sys.argv[1]}/fold{k}"
    os.makedirs(d, exist_ok=True)
    pq.write_table(t.take(np.sort(np.setdiff1d(perm, fold))), f"{d}/train.parquet")
    pq.write_table(t.take(np.sort(fold)), f"{d}/test.parquet")
