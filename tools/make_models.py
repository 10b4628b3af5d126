#!/usr/bin/env python3
"""Build the bundled default models served from ``models/``.

What it makes (paths relative to the repository root)::

    models/digits/1/model.onnx   scikit-learn classifier for the 8x8 digits set
    models/digits/config.json
    models/mlp/1/model.onnx      784-512-256-10 perceptron, random weights
    models/mlp/config.json
    models/cnn/1/model.onnx      small Conv/MaxPool network on 1x28x28, random weights
    models/cnn/config.json
    Tests/InferenceServerTests/Fixtures/digits_holdout.json

Models
------
``digits``
    ``StandardScaler`` + ``LogisticRegression`` pipeline trained on
    ``sklearn.datasets.load_digits`` (75 % train / 25 % held out,
    ``random_state=0``), exported with skl2onnx (opsets ``'': 17``,
    ``ai.onnx.ml``: as low as the converter needs, at most 3) with
    ``zipmap=False``.  Input ``input``: FP32 ``[N, 64]``, raw pixel values
    0..16 (the scaler is part of the graph).  Outputs ``label``: INT64 ``[N]``
    and ``probabilities``: FP32 ``[N, 10]``.  The batch dimension is left
    unnamed, as skl2onnx writes it.  Operators: Scaler, LinearClassifier,
    Normalizer (all ``ai.onnx.ml``).

``mlp``
    Gemm(transB=1) / Relu / Gemm / Relu / Gemm / Softmax(axis=1), i.e. the
    graph ``torch.onnx.export`` writes for three ``nn.Linear`` layers (weights
    ``[out, in]`` as ``raw_data`` initializers, opset 17).  Input ``input``:
    FP32 ``[batch, 784]``; output ``output``: FP32 ``[batch, 10]``.  He-normal
    weights, seed 0.

``cnn``
    Conv(1->8, 3x3, pad 1) / Relu / MaxPool(2) / Conv(8->16, 3x3, pad 1) /
    Relu / MaxPool(2) / Flatten / Gemm(transB=1, 784->10) / Softmax, opset 17.
    Input ``input``: FP32 ``[batch, 1, 28, 28]``; output ``output``: FP32
    ``[batch, 10]``.  He-normal weights, seed 1.

config.json
-----------
A small JSON object next to the version folders::

    {
      "max_batch_size": 32,          # largest batch the dynamic batcher forms
      "description": "...",          # free text, shown in model metadata
      "labels": ["0", ..., "9"]      # optional: class names, index = class id
    }

Digits held-out set
-------------------
``digits_holdout.json`` holds the 25 % test split as
``{"inputs": [[64 floats], ...], "labels": [ints], "onnxruntime_accuracy": float}``,
the accuracy being that of the exported ONNX file run with onnxruntime.

Rerun
-----
``tools/make_fixtures.sh`` (creates ``.venv`` from ``tools/requirements.txt``
and runs this script, then ``tools/make_fixtures.py``), or directly::

    .venv/bin/python tools/make_models.py

Everything is seeded, so a rerun with the pinned packages rewrites identical
files.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SERVER_FIXTURES = ROOT / "Tests" / "InferenceServerTests" / "Fixtures"

IR_VERSION = 8  # what opset-17 exporters write; readable by every onnxruntime >= 1.14
PRODUCER = "pd-inference tools/make_models.py"


# ---------------------------------------------------------------- helpers ---

def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def bias_uniform(rng: np.random.Generator, n: int, fan_in: int) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=n).astype(np.float32)


def initializer(name: str, array: np.ndarray) -> TensorProto:
    # numpy_helper.from_array stores the values in raw_data (little-endian).
    return numpy_helper.from_array(np.array(array, order="C"), name=name)


def finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def write_model(name: str, model: onnx.ModelProto, config: dict) -> pathlib.Path:
    folder = MODELS / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    path = folder / "1" / "model.onnx"
    path.write_bytes(model.SerializeToString())
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return path


def linear(prefix: str, x: str, w: np.ndarray, b: np.ndarray, inits: list) -> tuple[onnx.NodeProto, str]:
    """nn.Linear as torch.onnx.export writes it for 2-D input: Gemm(transB=1)."""
    inits += [initializer(f"{prefix}.weight", w), initializer(f"{prefix}.bias", b)]
    out = f"/{prefix}/Gemm_output_0"
    node = helper.make_node(
        "Gemm", [x, f"{prefix}.weight", f"{prefix}.bias"], [out],
        name=f"/{prefix}/Gemm", alpha=1.0, beta=1.0, transB=1,
    )
    return node, out


# ------------------------------------------------------------------- mlp ---

def build_mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    sizes = [784, 512, 256, 10]
    nodes, inits = [], []
    x = "input"
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        node, x = linear(f"fc{i}", x, he_normal(rng, (fan_out, fan_in), fan_in), bias_uniform(rng, fan_out, fan_in), inits)
        nodes.append(node)
        if i < len(sizes) - 1:
            out = f"/relu{i}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [x], [out], name=f"/relu{i}/Relu"))
            x = out
    nodes.append(helper.make_node("Softmax", [x], ["output"], name="/softmax/Softmax", axis=1))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    return finish(graph)


# ------------------------------------------------------------------- cnn ---

def build_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    nodes, inits = [], []

    def conv(prefix: str, x: str, cin: int, cout: int) -> str:
        w = he_normal(rng, (cout, cin, 3, 3), cin * 9)
        b = bias_uniform(rng, cout, cin * 9)
        inits.extend([initializer(f"{prefix}.weight", w), initializer(f"{prefix}.bias", b)])
        out = f"/{prefix}/Conv_output_0"
        nodes.append(helper.make_node(
            "Conv", [x, f"{prefix}.weight", f"{prefix}.bias"], [out], name=f"/{prefix}/Conv",
            dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
        ))
        return out

    def relu_pool(i: int, x: str) -> str:
        r = f"/relu{i}/Relu_output_0"
        p = f"/pool{i}/MaxPool_output_0"
        nodes.append(helper.make_node("Relu", [x], [r], name=f"/relu{i}/Relu"))
        nodes.append(helper.make_node(
            "MaxPool", [r], [p], name=f"/pool{i}/MaxPool",
            ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2],
        ))
        return p

    x = relu_pool(1, conv("conv1", "input", 1, 8))        # [b, 8, 14, 14]
    x = relu_pool(2, conv("conv2", x, 8, 16))             # [b, 16, 7, 7]
    flat = "/flatten/Flatten_output_0"
    nodes.append(helper.make_node("Flatten", [x], [flat], name="/flatten/Flatten", axis=1))
    node, logits = linear("fc", flat, he_normal(rng, (10, 16 * 7 * 7), 16 * 7 * 7), bias_uniform(rng, 10, 16 * 7 * 7), inits)
    nodes.append(node)
    nodes.append(helper.make_node("Softmax", [logits], ["output"], name="/softmax/Softmax", axis=1))
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    return finish(graph)


# ---------------------------------------------------------------- digits ---

def digits_split():
    """The fixed train/held-out split used for the model and its test set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x.astype(np.float32), y.astype(np.int64), test_size=0.25, random_state=0)


def build_digits() -> tuple[onnx.ModelProto, np.ndarray, np.ndarray, float]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test, y_train, y_test = digits_split()
    clf = LogisticRegression(max_iter=5000)
    pipe = Pipeline([("scaler", StandardScaler()), ("classifier", clf)]).fit(x_train, y_train)
    sklearn_accuracy = float(pipe.score(x_test, y_test))

    model = convert_sklearn(
        pipe,
        name="digits",
        initial_types=[("input", FloatTensorType([None, 64]))],
        options={id(clf): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    # skl2onnx lists the default domain once per converter that used it; keep
    # one entry per domain (the highest version) so the file is tidy.
    versions: dict[str, int] = {}
    for opset in model.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(versions.items()))
    model.ir_version = IR_VERSION
    model.producer_name = PRODUCER
    model.producer_version = ""
    onnx.checker.check_model(model, full_check=True)

    names = [o.name for o in model.graph.output]
    if names != ["label", "probabilities"]:
        raise SystemExit(f"unexpected digits outputs {names}")
    return model, x_test, y_test, sklearn_accuracy


# ------------------------------------------------------------------ main ---

def main() -> int:
    mlp = build_mlp()
    write_model("mlp", mlp, {
        "max_batch_size": 32,
        "description": "784-512-256-10 perceptron (Gemm/Relu/Softmax), He-normal random weights, seed 0; "
                       "input: 784 floats per row, output: 10 class probabilities",
    })

    cnn = build_cnn()
    write_model("cnn", cnn, {
        "max_batch_size": 32,
        "description": "Conv(1->8)/Relu/MaxPool/Conv(8->16)/Relu/MaxPool/Flatten/Gemm(784->10)/Softmax on "
                       "[1, 28, 28] images, He-normal random weights, seed 1; output: 10 class probabilities",
    })

    digits, x_test, y_test, sklearn_accuracy = build_digits()
    digits_path = write_model("digits", digits, {
        "max_batch_size": 32,
        "description": "scikit-learn StandardScaler + LogisticRegression trained on the 8x8 digits set; "
                       "input: 64 raw pixel values in 0..16 per row; outputs: label and 10 class probabilities",
        "labels": [str(i) for i in range(10)],
    })

    session = ort.InferenceSession(str(digits_path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": x_test})
    if not np.array_equal(label, probabilities.argmax(axis=1)):
        raise SystemExit("digits: label and argmax(probabilities) disagree")
    accuracy = float(np.mean(label == y_test))
    if abs(accuracy - sklearn_accuracy) > 1e-9:
        print(f"warning: onnxruntime accuracy {accuracy} != scikit-learn accuracy {sklearn_accuracy}", file=sys.stderr)

    SERVER_FIXTURES.mkdir(parents=True, exist_ok=True)
    holdout = {
        "inputs": [[float(v) for v in row] for row in x_test],
        "labels": [int(v) for v in y_test],
        "onnxruntime_accuracy": accuracy,
    }
    (SERVER_FIXTURES / "digits_holdout.json").write_text(json.dumps(holdout, separators=(",", ":")) + "\n")

    for name in ("digits", "mlp", "cnn"):
        path = MODELS / name / "1" / "model.onnx"
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    print(f"digits: {len(y_test)} held-out rows, onnxruntime accuracy {accuracy:.4f} "
          f"(scikit-learn {sklearn_accuracy:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
