"""Using a trained run: prediction, evaluation and explanation.

- `predictor.py`: `Predictor.from_run(RUN).predict(texts)`, the one prediction path every caller
  (CLI, Python API, compare, a server) uses; file streaming, readers and writers; `evaluate_run`.
- `numpy_cnn.py`: `cnn` prediction in numpy (no torch); `onnx_engine.py`: an export folder on ONNX
  Runtime; `export.py`: `textcnn export --format onnx` (every model kind, checked against torch).
- `explain.py`: exact n-gram contributions for max-pooling CNNs, occlusion otherwise; filter reports.
- `metrics.py`: accuracy, per-class precision / recall / F1, confusion matrix.

Not here: training (textcnn.training), timing and reports (textcnn.measure).
"""
