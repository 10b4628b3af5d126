"""Calls a running pd-inference with the real tritonclient HTTP client.

Checks is_server_live, is_server_ready, get_server_metadata, get_model_metadata and infer with
JSON and binary tensors on the bundled `mlp` and `digits` models, comparing outputs with onnxruntime.
Usage: .venv/bin/python tools/checks/tritonclient_check.py --url 127.0.0.1:8080
"""
import argparse
import sys

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(url=args.url)

    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    meta = client.get_server_metadata()
    check(meta["name"] == "pd-inference" and "binary_tensor_data" in meta["extensions"], f"server metadata {meta}")

    model_meta = client.get_model_metadata("mlp")
    check(model_meta["inputs"][0]["name"] == "input" and model_meta["inputs"][0]["shape"] == [-1, 784],
          f"mlp metadata inputs {model_meta['inputs']}")
    check(client.is_model_ready("mlp"), "is_model_ready(mlp)")

    session = ort.InferenceSession("models/mlp/1/model.onnx", providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 784)).astype(np.float32)
    expected = session.run(None, {"input": x})[0]
    for binary in (False, True):
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput("output", binary_data=binary)
        result = client.infer("mlp", [inp], outputs=[out])
        got = result.as_numpy("output")
        check(got.shape == expected.shape and np.allclose(got, expected, rtol=1e-4, atol=1e-6),
              f"mlp infer ({'binary' if binary else 'JSON'}) matches onnxruntime, max diff {np.abs(got - expected).max():.2e}")

    digits = ort.InferenceSession("models/digits/1/model.onnx", providers=["CPUExecutionProvider"])
    d = rng.integers(0, 17, size=(5, 64)).astype(np.float32)
    want_labels, want_probs = digits.run(["label", "probabilities"], {"input": d})
    inp = httpclient.InferInput("input", list(d.shape), "FP32")
    inp.set_data_from_numpy(d, binary_data=True)
    result = client.infer("digits", [inp])
    check(np.array_equal(result.as_numpy("label"), want_labels), "digits labels match onnxruntime")
    check(np.allclose(result.as_numpy("probabilities"), want_probs, rtol=1e-4, atol=1e-6), "digits probabilities match")

    try:
        client.get_model_metadata("no-such-model")
        check(False, "unknown model raises")
    except InferenceServerException as e:
        check("unknown model" in str(e), f"unknown model raises: {e}")
    print("tritonclient check passed")


if __name__ == "__main__":
    main()
