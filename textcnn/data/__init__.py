"""From a dataset name to padded batches of token ids.

- `sources.py`: where data comes from (presets, hub ids, local files and folders), which splits, and
  `load_data` / `load_split`, which wire the modules below.
- `columns.py`: which columns hold the text and the label.
- `labels.py`: label discovery and mapping (raw values -> names and ids 0..C-1).
- `cleaning.py`: the messy-data policy (one cached `Dataset.map` per split) and the validation hold-out.
- `report.py`: the data report (per-split counts, duplicates, notes).
- `tokenizer.py`: Hugging Face `tokenizers` (word-level with Kim's normalisation, BPE, WordPiece,
  Unigram), training, cached encoding.
- `ragged.py`: token ids end to end with offsets, and the one padding routine (numpy, torch-free).
- `batching.py`: that padding as tensors, length-bucketed training batches, sorted evaluation batches.
- `vectors.py`: pretrained word vectors (word2vec, GloVe, fastText) aligned to a vocabulary.

Not here: models, training, prediction. Importing this package imports neither torch nor datasets.
"""
