print("onnx-bench")
