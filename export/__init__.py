"""Export: deploy graphs, ONNX/TFLite/CoreML artifacts, manifests, and the Android asset step."""
