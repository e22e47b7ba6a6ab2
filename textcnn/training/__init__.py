"""Training a model into a run folder.

- `trainer.py`: `train(config) -> run folder`; a `Trainer` (setup / fit / finish), `train_one_epoch`,
  `evaluate`, the loop's `Progress` and `RunningSums`, resume with options that may change.
- `prepare.py`: the data, tokenized once (`prepare`), pretrained vectors, `tokenize_report`.
- `checkpoint.py`: one safetensors file with weights, optimizer state, RNG streams and the loop's parts.
- `early_stopping.py`: `EarlyStopping` with its own `state_dict()`, and the best weights.
- `distributed.py`: torchrun setup and the few collectives the loop needs.
- `optim.py`: the optimizers (a lazy sparse Adadelta that equals dense Adadelta) and max-norm.
- `autotune.py`: a time-boxed search of the settings on the validation split.

Not here: model definitions (textcnn.models), the run folder format and its lock (textcnn.run),
rendering (textcnn.cli).
"""
