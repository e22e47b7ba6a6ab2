"""Training a model into a run folder.

- `trainer.py`: `train(config) -> run folder`: data preparation, the loop, evaluation, early
  stopping, best weights, checkpoints and resume, data parallelism under torchrun.
- `optim.py`: the optimizers (a lazy sparse Adadelta that equals dense Adadelta) and max-norm.

Not here: model definitions (textcnn.models), the run folder format (textcnn.run), rendering
(textcnn.cli).
"""
