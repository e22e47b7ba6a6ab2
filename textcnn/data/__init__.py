"""From a dataset name to padded batches of token ids.

- `sources.py`: where data comes from (presets, hub ids, local files and folders), column and label
  discovery, the messy-data policy and its report, the validation hold-out.
- `tokenizer.py`: Hugging Face `tokenizers` (word-level with Kim's normalisation, BPE, WordPiece,
  Unigram), training, cached encoding.
- `batching.py`: the one padding routine, length-bucketed training batches, sorted evaluation batches.
- `vectors.py`: pretrained word vectors (word2vec, GloVe, fastText) aligned to a vocabulary.

Not here: models, training, prediction. Importing this package imports neither torch nor datasets.
"""
