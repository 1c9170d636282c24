"""Built-in models: ONNX runners, the model catalog, preprocessing."""
