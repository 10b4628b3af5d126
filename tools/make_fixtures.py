#!/usr/bin/env python3
"""Write the ONNX conformance fixtures used by ``Tests/ONNXRuntimeTests``.

What it makes (paths relative to the repository root)
-----------------------------------------------------
``Tests/ONNXRuntimeTests/Fixtures/ops/<case>/``
    One small single-purpose model per case, in the layout of the ONNX backend
    tests::

        model.onnx
        test_data_set_0/input_0.pb, input_1.pb, ..., output_0.pb, ...
        test_data_set_1/...      (cases with a dynamic batch: other batch sizes)

    Every ``.pb`` file is a serialized ``TensorProto`` (``onnx.numpy_helper
    .from_array``, values in ``raw_data``) whose ``name`` is the graph input or
    output it belongs to; ``input_<i>`` follows the order of ``graph.input``
    and ``output_<i>`` the order of ``graph.output``.  Optional inputs left out
    of a node are written as ``""`` in the node, never as a graph input.
    Expected outputs are what onnxruntime (CPU provider, default session
    options) returns.  Case names start with the operator they test in
    lower-case (``gemm_...``, ``reducemean_...``, ``ml_linearclassifier_...``
    for ``ai.onnx.ml`` operators, ``pattern_...`` for multi-operator
    subgraphs as exporters write them).  Files use opset 17 (IR version 8)
    unless the case name ends in ``_opset<N>``.

``Tests/ONNXRuntimeTests/Fixtures/models/<name>/``
    Reference outputs for the bundled models in ``models/``, without copying
    them::

        model_path.txt           e.g. "models/mlp/1/model.onnx" (relative to the
                                 repository root, no trailing newline)
        test_data_set_0/         batch 1
        test_data_set_1/         batch 3
        test_data_set_2/         batch 8

    The digits inputs are the first rows of the held-out set in
    ``Tests/InferenceServerTests/Fixtures/digits_holdout.json``; the mlp and
    cnn inputs are uniform in [0, 1).

Checks
------
Every model passes ``onnx.checker.check_model(full_check=True)``; every data
set is run with onnxruntime and, as a second opinion, with
``onnx.reference.ReferenceEvaluator``.  Disagreements between the two are
printed (they are not errors: onnxruntime's answer is what is stored); the
ones already understood are listed, with the reason, in
``KNOWN_DISAGREEMENTS``.
Finally the written tree is read back from disk and run again.

Rerun
-----
``tools/make_fixtures.sh`` (which also rebuilds ``models/`` first), or::

    .venv/bin/python tools/make_models.py      # fixtures for models/ need them
    .venv/bin/python tools/make_fixtures.py

The ``ops`` and ``models`` folders are deleted and rewritten on every run;
``Fixtures/handmade`` is never touched.  Random data comes from generators
seeded with the case name, so adding a case does not change the others.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "ONNXRuntimeTests" / "Fixtures"
OPS_DIR = FIXTURES / "ops"
MODELS_DIR = FIXTURES / "models"
DIGITS_HOLDOUT = ROOT / "Tests" / "InferenceServerTests" / "Fixtures" / "digits_holdout.json"


def ir_version(opset: int) -> int:
    """The IR version released with the default-domain opset (8 up to opset 18, 9 for 19-20)."""
    return 8 if opset <= 18 else 9


PRODUCER = "pd-inference tools/make_fixtures.py"
ML = "ai.onnx.ml"
MAX_ELEMENTS = 10_000

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


# ------------------------------------------------------------ data specs ---

@dataclass
class Rand:
    """A tensor drawn from the case's seeded generator when the case is built."""
    shape: tuple[int, ...]
    dtype: Any = np.float32
    lo: float = -1.0
    hi: float = 1.0
    nonzero: bool = False  # keep |x| >= 0.25 (divisors, ...)

    def make(self, rng: np.random.Generator) -> np.ndarray:
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            a = rng.integers(int(self.lo), int(self.hi) + 1, size=self.shape)
            if self.nonzero:
                a[a == 0] = 1
            return a.astype(self.dtype)
        if np.dtype(self.dtype) == np.bool_:
            return rng.random(self.shape) < 0.5
        a = rng.uniform(self.lo, self.hi, size=self.shape)
        if self.nonzero:
            a = np.where(np.abs(a) < 0.25, np.copysign(0.25, a) + a, a)
        return a.astype(self.dtype)


def f32(*shape: int, lo: float = -1.0, hi: float = 1.0, nonzero: bool = False) -> Rand:
    return Rand(tuple(shape), np.float32, lo, hi, nonzero)


def i64(*shape: int, lo: int = -5, hi: int = 5, nonzero: bool = False) -> Rand:
    return Rand(tuple(shape), np.int64, lo, hi, nonzero)


def i32(*shape: int, lo: int = -5, hi: int = 5) -> Rand:
    return Rand(tuple(shape), np.int32, lo, hi)


def boolean(*shape: int) -> Rand:
    return Rand(tuple(shape), np.bool_)


def arr(values, dtype=np.float32) -> np.ndarray:
    return np.array(values, dtype=dtype)


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def scalar(value, dtype=np.float32) -> np.ndarray:
    return np.array(value, dtype=dtype)


def materialize(spec, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, Rand):
        return spec.make(rng)
    return np.asarray(spec)


# ----------------------------------------------------------------- cases ---

@dataclass
class Case:
    name: str
    op: str                                   # operator this case is about, or "pattern" (for the summary)
    nodes: list
    feeds: list[dict[str, Any]]               # one dict per data set: graph input -> spec
    outputs: list[str]
    inits: dict[str, Any] = field(default_factory=dict)
    opset: int = 17
    ml_opset: int | None = None
    dims: dict[str, list] = field(default_factory=dict)   # declared input shapes (str = symbolic)


CASES: list[Case] = []


def add(name: str, op: str, nodes, feeds, outputs=("y",), *, inits=None, opset=17, ml_opset=None, dims=None,
        more_feeds=()) -> None:
    """Register a case. ``feeds`` is data set 0; ``more_feeds`` adds data sets 1, 2, ..."""
    if not isinstance(nodes, list):
        nodes = [nodes]
    if any(c.name == name for c in CASES):
        raise SystemExit(f"duplicate case {name}")
    CASES.append(Case(name, op, nodes, [dict(feeds), *map(dict, more_feeds)], list(outputs),
                      dict(inits or {}), opset, ml_opset, dict(dims or {})))


def node(op: str, inputs, outputs=("y",), domain: str = "", **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), list(outputs), domain=domain or None, **attrs)


def const_node(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)))


# ---------------------------------------------------------- linear algebra --

def gemm_cases() -> None:
    add("gemm_default", "Gemm", node("Gemm", ["a", "b"]), {"a": f32(3, 4), "b": f32(4, 5)})
    add("gemm_bias_vector", "Gemm", node("Gemm", ["a", "b", "c"]),
        {"a": f32(3, 4), "b": f32(4, 5), "c": f32(5)})
    add("gemm_bias_matrix", "Gemm", node("Gemm", ["a", "b", "c"]),
        {"a": f32(3, 4), "b": f32(4, 5), "c": f32(3, 5)})
    add("gemm_bias_column", "Gemm", node("Gemm", ["a", "b", "c"]),
        {"a": f32(3, 4), "b": f32(4, 5), "c": f32(3, 1)})
    add("gemm_bias_scalar", "Gemm", node("Gemm", ["a", "b", "c"]),
        {"a": f32(3, 4), "b": f32(4, 5), "c": scalar(0.75)})
    add("gemm_bias_one", "Gemm", node("Gemm", ["a", "b", "c"]),
        {"a": f32(2, 3), "b": f32(3, 4), "c": f32(1)})
    add("gemm_transA", "Gemm", node("Gemm", ["a", "b", "c"], transA=1),
        {"a": f32(4, 3), "b": f32(4, 5), "c": f32(5)})
    add("gemm_transB", "Gemm", node("Gemm", ["a", "b", "c"], transB=1),
        {"a": f32(3, 6), "b": f32(5, 6), "c": f32(1, 5)})
    add("gemm_transA_transB", "Gemm", node("Gemm", ["a", "b", "c"], transA=1, transB=1),
        {"a": f32(6, 3), "b": f32(4, 6), "c": f32(3, 4)})
    add("gemm_alpha_beta", "Gemm", node("Gemm", ["a", "b", "c"], alpha=0.5, beta=2.0),
        {"a": f32(3, 4), "b": f32(4, 5), "c": f32(5)})
    add("gemm_alpha_beta_transposed", "Gemm", node("Gemm", ["a", "b", "c"], alpha=-1.5, beta=0.25, transA=1, transB=1),
        {"a": f32(5, 2), "b": f32(3, 5), "c": f32(2, 1)})
    add("gemm_alpha_no_bias", "Gemm", node("Gemm", ["a", "b"], alpha=3.0),
        {"a": f32(2, 7), "b": f32(7, 3)})
    add("gemm_beta_zero", "Gemm", node("Gemm", ["a", "b", "c"], beta=0.0),
        {"a": f32(2, 3), "b": f32(3, 4), "c": f32(2, 4)})
    # Sizes that are not multiples of any SIMD width, to exercise kernel tails.
    add("gemm_odd_sizes", "Gemm", node("Gemm", ["a", "b", "c"], transB=1),
        {"a": f32(7, 67), "b": f32(19, 67), "c": f32(19)})
    add("gemm_larger", "Gemm", node("Gemm", ["a", "b", "c"], transB=1),
        {"a": f32(16, 96), "b": f32(80, 96), "c": f32(80)})
    # nn.Linear as torch exports it: weights are initializers, batch is dynamic.
    add("gemm_linear_dynamic_batch", "Gemm",
        node("Gemm", ["input", "fc.weight", "fc.bias"], alpha=1.0, beta=1.0, transB=1),
        {"input": f32(1, 12)}, inits={"fc.weight": f32(6, 12), "fc.bias": f32(6)},
        dims={"input": ["batch", 12]}, more_feeds=[{"input": f32(4, 12)}, {"input": f32(9, 12)}])


def matmul_cases() -> None:
    mm = node("MatMul", ["a", "b"])
    add("matmul_2d", "MatMul", mm, {"a": f32(3, 4), "b": f32(4, 5)})
    add("matmul_1d_2d", "MatMul", mm, {"a": f32(4), "b": f32(4, 5)})
    add("matmul_2d_1d", "MatMul", mm, {"a": f32(3, 4), "b": f32(4)})
    add("matmul_1d_1d", "MatMul", mm, {"a": f32(6), "b": f32(6)})
    add("matmul_1d_3d", "MatMul", mm, {"a": f32(4), "b": f32(2, 4, 5)})
    add("matmul_3d_1d", "MatMul", mm, {"a": f32(2, 3, 4), "b": f32(4)})
    add("matmul_3d", "MatMul", mm, {"a": f32(2, 3, 4), "b": f32(2, 4, 5)})
    add("matmul_3d_2d", "MatMul", mm, {"a": f32(2, 3, 4), "b": f32(4, 5)})
    add("matmul_2d_3d", "MatMul", mm, {"a": f32(3, 4), "b": f32(2, 4, 5)})
    add("matmul_3d_broadcast_batch", "MatMul", mm, {"a": f32(1, 3, 4), "b": f32(3, 4, 2)})
    add("matmul_4d", "MatMul", mm, {"a": f32(2, 3, 4, 5), "b": f32(2, 3, 5, 4)})
    add("matmul_4d_broadcast", "MatMul", mm, {"a": f32(2, 1, 3, 4), "b": f32(1, 3, 4, 5)})
    add("matmul_4d_3d", "MatMul", mm, {"a": f32(2, 2, 3, 4), "b": f32(2, 4, 3)})
    add("matmul_odd_sizes", "MatMul", mm, {"a": f32(5, 17, 33), "b": f32(33, 9)})
    add("matmul_int64", "MatMul", mm, {"a": i64(3, 4), "b": i64(4, 2)})
    # Attention-style: [b, heads, seq, d] x [b, heads, d, seq].
    add("matmul_attention_scores", "MatMul", mm, {"a": f32(2, 4, 6, 8), "b": f32(2, 4, 8, 6)})
    # torch Linear on 3-D input: MatMul with a [in, out] initializer, then Add.
    add("matmul_linear_3d_dynamic", "MatMul",
        [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "bias"])],
        {"x": f32(1, 5, 8)}, inits={"w": f32(8, 6), "bias": f32(6)},
        dims={"x": ["batch", "seq", 8]}, more_feeds=[{"x": f32(3, 2, 8)}])


# -------------------------------------------------------------- elementwise --

def binary_cases() -> None:
    for op in ("Add", "Sub", "Mul", "Div"):
        lo = op.lower()
        div = op == "Div"
        n = node(op, ["a", "b"])
        add(f"{lo}_same_shape", op, n, {"a": f32(3, 4), "b": f32(3, 4, nonzero=div)})
        add(f"{lo}_broadcast_row", op, n, {"a": f32(3, 4), "b": f32(4, nonzero=div)})
        add(f"{lo}_broadcast_column", op, n, {"a": f32(3, 4), "b": f32(3, 1, nonzero=div)})
        add(f"{lo}_broadcast_both", op, n, {"a": f32(3, 1), "b": f32(1, 4, nonzero=div)})
        add(f"{lo}_scalar", op, n, {"a": f32(2, 3), "b": scalar(1.5)})
        add(f"{lo}_scalar_first", op, n, {"a": scalar(2.5), "b": f32(2, 3, nonzero=div)})
        add(f"{lo}_rank_mismatch", op, n, {"a": f32(2, 3, 4), "b": f32(3, 1, nonzero=div)})
        add(f"{lo}_4d_channel", op, n, {"a": f32(2, 3, 4, 5), "b": f32(1, 3, 1, 1, nonzero=div)})
        add(f"{lo}_odd_length", op, n, {"a": f32(37), "b": f32(37, nonzero=div)})
        add(f"{lo}_int64", op, n, {"a": i64(3, 4, lo=-20, hi=20), "b": i64(3, 4, nonzero=div)})
        add(f"{lo}_int64_broadcast", op, n, {"a": i64(2, 3, 4, lo=-20, hi=20), "b": i64(4, lo=1, hi=6)})
        add(f"{lo}_int32", op, n, {"a": i32(2, 5, lo=-9, hi=9), "b": Rand((5,), np.int32, 1, 4)})
        add(f"{lo}_dynamic_batch", op, n, {"a": f32(1, 4)}, inits={"b": f32(4, nonzero=div)},
            dims={"a": ["batch", 4]}, more_feeds=[{"a": f32(5, 4)}])
    add("div_int64_negative", "Div", node("Div", ["a", "b"]),
        {"a": ints(7, -7, 7, -7, 0, 9, -9, 1), "b": ints(2, 2, -2, -2, 3, 4, 4, -3)})


def unary_cases() -> None:
    for op in ("Relu", "Sigmoid", "Tanh", "Erf", "Sqrt"):
        lo = op.lower()
        n = node(op, ["x"])
        lo_v, hi_v = (0.0, 9.0) if op == "Sqrt" else (-4.0, 4.0)
        add(f"{lo}_2d", op, n, {"x": f32(3, 4, lo=lo_v, hi=hi_v)})
        add(f"{lo}_4d_odd", op, n, {"x": f32(2, 3, 5, 7, lo=lo_v, hi=hi_v)})
        add(f"{lo}_1d_long", op, n, {"x": f32(1001, lo=lo_v, hi=hi_v)})
        add(f"{lo}_scalar", op, n, {"x": scalar(0.7)})
    add("sigmoid_extreme", "Sigmoid", node("Sigmoid", ["x"]),
        {"x": arr([-1000, -100, -88.7, -20, -1e-3, 0, 1e-3, 20, 88.7, 100, 1000])})
    add("tanh_extreme", "Tanh", node("Tanh", ["x"]),
        {"x": arr([-1000, -20, -9.1, -1e-4, 0, 1e-4, 0.5, 9.1, 20, 1000])})
    add("erf_extreme", "Erf", node("Erf", ["x"]),
        {"x": arr([-10, -3.9, -2, -0.5, -1e-5, 0, 1e-5, 0.5, 2, 3.9, 10])})
    add("sqrt_special", "Sqrt", node("Sqrt", ["x"]),
        {"x": arr([0, 1e-30, 1e-6, 0.25, 1, 2, 1e6, 3e38])})

    add("leakyrelu_default", "LeakyRelu", node("LeakyRelu", ["x"]), {"x": f32(3, 4, lo=-3, hi=3)})
    add("leakyrelu_alpha", "LeakyRelu", node("LeakyRelu", ["x"], alpha=0.2), {"x": f32(2, 3, 5, lo=-3, hi=3)})
    add("leakyrelu_alpha_large", "LeakyRelu", node("LeakyRelu", ["x"], alpha=1.5), {"x": f32(41, lo=-3, hi=3)})


def pow_cases() -> None:
    n = node("Pow", ["x", "e"])
    add("pow_scalar_exponent", "Pow", n, {"x": f32(3, 4, lo=-3, hi=3), "e": scalar(2.0)})
    add("pow_half", "Pow", n, {"x": f32(3, 4, lo=0, hi=5), "e": scalar(0.5)})
    add("pow_broadcast_exponent", "Pow", n, {"x": f32(2, 3, 4, lo=0.1, hi=3), "e": arr([0, 1, 2.5, -1])})
    add("pow_same_shape", "Pow", n, {"x": f32(3, 5, lo=0.1, hi=3), "e": f32(3, 5, lo=-2, hi=3)})
    add("pow_negative_base_integer_exponent", "Pow", n,
        {"x": arr([-2, -1.5, -0.5, 0, 0.5, 3]), "e": arr([3, 2, -1, 2, 2, 3])})
    add("pow_int64_exponent", "Pow", n, {"x": f32(2, 3, lo=-2, hi=2), "e": ints(0, 2, 3)})
    add("pow_scalar_base", "Pow", n, {"x": scalar(2.0), "e": f32(2, 4, lo=-3, hi=3)})
    add("pow_int64", "Pow", n, {"x": i64(2, 3, lo=-4, hi=4), "e": ints(0, 1, 3)})


def clip_cases() -> None:
    add("clip_min_max", "Clip", node("Clip", ["x", "min", "max"]),
        {"x": f32(3, 4, lo=-3, hi=3), "min": scalar(-1.0), "max": scalar(1.5)})
    add("clip_min_only", "Clip", node("Clip", ["x", "min"]), {"x": f32(3, 4, lo=-3, hi=3), "min": scalar(0.0)})
    add("clip_max_only", "Clip", node("Clip", ["x", "", "max"]), {"x": f32(3, 4, lo=-3, hi=3), "max": scalar(6.0 / 4)})
    add("clip_none", "Clip", node("Clip", ["x"]), {"x": f32(2, 5, lo=-3, hi=3)})
    add("clip_relu6_initializers", "Clip", node("Clip", ["x", "lo", "hi"]), {"x": f32(2, 3, 5, lo=-8, hi=8)},
        inits={"lo": scalar(0.0), "hi": scalar(6.0)})
    add("clip_min_greater_than_max", "Clip", node("Clip", ["x", "min", "max"]),
        {"x": f32(7, lo=-3, hi=3), "min": scalar(1.0), "max": scalar(-1.0)})
    add("clip_int64", "Clip", node("Clip", ["x", "min", "max"]),
        {"x": i64(3, 4, lo=-10, hi=10), "min": scalar(-3, np.int64), "max": scalar(4, np.int64)})


def more_elementwise_cases() -> None:
    """Further element-wise operators that exported models commonly contain."""
    for op, lo_v, hi_v in (("Abs", -3, 3), ("Neg", -3, 3), ("Exp", -5, 5), ("Log", 0.01, 10), ("Reciprocal", 0.25, 4),
                           ("Floor", -3, 3), ("Ceil", -3, 3), ("Sign", -3, 3), ("Softplus", -5, 5)):
        n = node(op, ["x"])
        add(f"{op.lower()}_2d", op, n, {"x": f32(3, 4, lo=lo_v, hi=hi_v)})
        add(f"{op.lower()}_odd_length", op, n, {"x": f32(2, 3, 7, lo=lo_v, hi=hi_v)})
    add("abs_int64", "Abs", node("Abs", ["x"]), {"x": i64(2, 5)})
    add("neg_int64", "Neg", node("Neg", ["x"]), {"x": i64(2, 5)})
    add("sign_zero", "Sign", node("Sign", ["x"]), {"x": arr([-2.0, -0.0, 0.0, 1e-30, 3.0])})
    # Round: halves go to the even neighbour.
    add("round_halves", "Round", node("Round", ["x"]), {"x": arr([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4999, 2.6, -2.6])})
    add("exp_large", "Exp", node("Exp", ["x"]), {"x": arr([-100.0, -20.0, 0.0, 20.0, 88.0, 89.0])})
    add("log_special", "Log", node("Log", ["x"]), {"x": arr([0.0, 1e-30, 1.0, 2.718281828, 1e30])})

    add("elu_default", "Elu", node("Elu", ["x"]), {"x": f32(3, 4, lo=-3, hi=3)})
    add("elu_alpha", "Elu", node("Elu", ["x"], alpha=0.5), {"x": f32(2, 7, lo=-3, hi=3)})
    add("hardsigmoid_default", "HardSigmoid", node("HardSigmoid", ["x"]), {"x": f32(3, 5, lo=-5, hi=5)})
    add("hardsigmoid_alpha_beta", "HardSigmoid", node("HardSigmoid", ["x"], alpha=0.25, beta=0.4),
        {"x": f32(2, 7, lo=-5, hi=5)})
    add("gelu_none_opset20", "Gelu", node("Gelu", ["x"]), {"x": f32(3, 7, lo=-4, hi=4)}, opset=20)
    add("gelu_tanh_opset20", "Gelu", node("Gelu", ["x"], approximate="tanh"), {"x": f32(3, 7, lo=-4, hi=4)}, opset=20)

    for op in ("Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
        n = node(op, ["a", "b"])
        add(f"{op.lower()}_float_broadcast", op, n, {"a": f32(3, 4, lo=-2, hi=2), "b": arr([-1.0, 0.0, 0.5, 1.0])})
        add(f"{op.lower()}_int64", op, n, {"a": i64(2, 5, lo=0, hi=3), "b": i64(2, 5, lo=0, hi=3)})
    for op in ("And", "Or", "Xor"):
        add(f"{op.lower()}_broadcast", op, node(op, ["a", "b"]), {"a": boolean(3, 4), "b": boolean(4)})
    add("not_2d", "Not", node("Not", ["x"]), {"x": boolean(3, 4)})

    for op in ("Min", "Max", "Sum"):
        add(f"{op.lower()}_two_inputs", op, node(op, ["a", "b"]), {"a": f32(3, 4), "b": f32(3, 4)})
        add(f"{op.lower()}_three_inputs_broadcast", op, node(op, ["a", "b", "c"]),
            {"a": f32(2, 3, 4), "b": f32(4), "c": f32(3, 1)})
        add(f"{op.lower()}_single_input", op, node(op, ["a"]), {"a": f32(5)})
    add("max_int64", "Max", node("Max", ["a", "b"]), {"a": i64(2, 4), "b": i64(4)})
    add("min_int64", "Min", node("Min", ["a", "b"]), {"a": i64(2, 4), "b": i64(4)})

    add("mod_int64", "Mod", node("Mod", ["a", "b"]), {"a": ints(7, -7, 7, -7, 0, 9), "b": ints(3, 3, -3, -3, 2, 4)})
    add("mod_int64_fmod", "Mod", node("Mod", ["a", "b"], fmod=1),
        {"a": ints(7, -7, 7, -7, 0, 9), "b": ints(3, 3, -3, -3, 2, 4)})
    add("mod_float_fmod", "Mod", node("Mod", ["a", "b"], fmod=1),
        {"a": arr([5.5, -5.5, 5.5, -5.5, 0.25]), "b": arr([2.0, 2.0, -2.0, -2.0, 0.5])})

    add("castlike_float_to_int64", "CastLike", node("CastLike", ["x", "like"]),
        {"x": arr([-2.5, -0.5, 0.0, 1.9, 3.0])}, inits={"like": np.zeros((0,), np.int64)})
    add("castlike_int64_to_float", "CastLike", node("CastLike", ["x", "like"]), {"x": ints(-3, 0, 5)},
        inits={"like": np.zeros((1,), np.float32)})


# ------------------------------------------------------------- activations --

def softmax_cases() -> None:
    for op in ("Softmax", "LogSoftmax"):
        lo = op.lower()
        add(f"{lo}_axis_last", op, node(op, ["x"], axis=-1), {"x": f32(3, 5, lo=-4, hi=4)})
        add(f"{lo}_default_axis", op, node(op, ["x"]), {"x": f32(2, 3, 4, lo=-4, hi=4)})
        add(f"{lo}_axis_0", op, node(op, ["x"], axis=0), {"x": f32(3, 4, lo=-4, hi=4)})
        add(f"{lo}_axis_1_3d", op, node(op, ["x"], axis=1), {"x": f32(2, 3, 4, lo=-4, hi=4)})
        add(f"{lo}_axis_neg2_4d", op, node(op, ["x"], axis=-2), {"x": f32(2, 2, 5, 3, lo=-4, hi=4)})
        add(f"{lo}_large_values", op, node(op, ["x"], axis=-1),
            {"x": arr([[1000, 1001, 1002, 999], [-1000, -1001, -1000, -999], [0, 0, 0, 0]])})
        add(f"{lo}_long_row", op, node(op, ["x"], axis=-1), {"x": f32(2, 131, lo=-6, hi=6)})
        add(f"{lo}_1d", op, node(op, ["x"], axis=0), {"x": f32(9, lo=-4, hi=4)})
        # Before opset 13 the input is coerced to 2-D at `axis`: axis=1 on 3-D
        # normalizes over the last two dimensions together.
        add(f"{lo}_axis_1_3d_opset11", op, node(op, ["x"], axis=1), {"x": f32(2, 3, 4, lo=-4, hi=4)}, opset=11)


def argmax_cases() -> None:
    add("argmax_default", "ArgMax", node("ArgMax", ["x"]), {"x": f32(3, 4)})
    add("argmax_axis1_keepdims", "ArgMax", node("ArgMax", ["x"], axis=1, keepdims=1), {"x": f32(3, 5)})
    add("argmax_axis1_no_keepdims", "ArgMax", node("ArgMax", ["x"], axis=1, keepdims=0), {"x": f32(3, 5)})
    add("argmax_negative_axis", "ArgMax", node("ArgMax", ["x"], axis=-1, keepdims=0), {"x": f32(2, 3, 4)})
    add("argmax_negative_axis_keepdims", "ArgMax", node("ArgMax", ["x"], axis=-2, keepdims=1), {"x": f32(2, 3, 4)})
    add("argmax_middle_axis", "ArgMax", node("ArgMax", ["x"], axis=1, keepdims=0), {"x": f32(2, 5, 3)})
    ties = arr([[1, 3, 3, 0], [2, 2, 2, 2], [0, 5, 1, 5]])
    add("argmax_ties_first", "ArgMax", node("ArgMax", ["x"], axis=1, keepdims=0), {"x": ties})
    add("argmax_ties_select_last_index", "ArgMax", node("ArgMax", ["x"], axis=1, keepdims=0, select_last_index=1),
        {"x": ties})
    add("argmax_select_last_index_keepdims", "ArgMax", node("ArgMax", ["x"], axis=0, keepdims=1, select_last_index=1),
        {"x": ties})
    add("argmax_int64", "ArgMax", node("ArgMax", ["x"], axis=-1, keepdims=0), {"x": i64(4, 6, lo=-9, hi=9)})
    add("argmax_1d", "ArgMax", node("ArgMax", ["x"], axis=0, keepdims=0), {"x": f32(11)})


# ------------------------------------------------------------------- cast ---

CAST_TYPES = {
    "float": (TensorProto.FLOAT, np.float32),
    "double": (TensorProto.DOUBLE, np.float64),
    "int64": (TensorProto.INT64, np.int64),
    "int32": (TensorProto.INT32, np.int32),
    "int8": (TensorProto.INT8, np.int8),
    "uint8": (TensorProto.UINT8, np.uint8),
    "bool": (TensorProto.BOOL, np.bool_),
}


def cast_cases() -> None:
    # Values every target type can hold (no NaN, no out-of-range conversions).
    floats = [-100.0, -2.75, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5, 3.99, 127.0]
    small_unsigned = [0.0, 0.5, 1.0, 2.9, 17.0, 100.0, 200.0, 255.0]
    sources = {
        "float": arr(floats).reshape(2, 5),
        "double": arr(floats, np.float64).reshape(2, 5),
        "int64": ints(-100, -3, -1, 0, 1, 2, 7, 127).reshape(2, 4),
        "int32": arr([-100, -3, -1, 0, 1, 2, 7, 127], np.int32).reshape(2, 4),
        "int8": arr([-128, -3, -1, 0, 1, 2, 7, 127], np.int8).reshape(2, 4),
        "uint8": arr([0, 1, 2, 3, 100, 127, 200, 255], np.uint8).reshape(2, 4),
        "bool": arr([True, False, True, True, False, False], np.bool_).reshape(2, 3),
    }
    pairs = [
        ("float", "int64"), ("float", "int32"), ("float", "bool"), ("float", "int8"), ("float", "uint8"),
        ("float", "double"), ("float", "float"),
        ("int64", "float"), ("int64", "int32"), ("int64", "bool"), ("int64", "double"), ("int64", "int8"),
        ("int32", "int64"), ("int32", "float"),
        ("bool", "float"), ("bool", "int64"), ("bool", "int32"), ("bool", "uint8"),
        ("uint8", "float"), ("uint8", "int64"),
        ("int8", "float"), ("int8", "int64"),
        ("double", "float"), ("double", "int64"),
    ]
    for src, dst in pairs:
        x = sources[src]
        if (src, dst) == ("float", "uint8"):
            x = arr(small_unsigned).reshape(2, 4)
        if src in ("int64", "int32") and dst == "int8":
            x = x.clip(-128, 127)
        add(f"cast_{src}_to_{dst}", "Cast", node("Cast", ["x"], to=CAST_TYPES[dst][0]), {"x": x})
    add("cast_float_to_int64_dynamic", "Cast", node("Cast", ["x"], to=TensorProto.INT64),
        {"x": f32(1, 3, lo=-50, hi=50)}, dims={"x": ["batch", 3]}, more_feeds=[{"x": f32(4, 3, lo=-50, hi=50)}])


# ----------------------------------------------------------------- shapes ---

def reshape_cases() -> None:
    add("reshape_plain", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 3, 4)}, inits={"shape": ints(4, 6)})
    add("reshape_minus_one", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 3, 4)}, inits={"shape": ints(-1, 4)})
    add("reshape_zero", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 3, 4)}, inits={"shape": ints(0, 12)})
    add("reshape_zero_and_minus_one", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 3, 4)},
        inits={"shape": ints(0, -1, 2)})
    add("reshape_add_dims", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 6)}, inits={"shape": ints(2, 1, 3, 1, 2)})
    add("reshape_to_1d", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(2, 3, 4)}, inits={"shape": ints(-1)})
    add("reshape_scalar_to_1d", "Reshape", node("Reshape", ["x", "shape"]), {"x": scalar(3.0)}, inits={"shape": ints(1)})
    add("reshape_1d_to_scalar", "Reshape", node("Reshape", ["x", "shape"]), {"x": arr([3.0])},
        inits={"shape": np.zeros((0,), np.int64)})
    add("reshape_shape_input", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(4, 6), "shape": ints(3, -1, 2)})
    add("reshape_int64", "Reshape", node("Reshape", ["x", "shape"]), {"x": i64(6)}, inits={"shape": ints(3, 2)})
    add("reshape_heads_dynamic", "Reshape", node("Reshape", ["x", "shape"]), {"x": f32(1, 5, 8)},
        inits={"shape": ints(0, 0, 2, 4)}, dims={"x": ["batch", "seq", 8]}, more_feeds=[{"x": f32(2, 3, 8)}])
    add("reshape_constant_node", "Reshape",
        [const_node("shape", ints(-1, 6)), node("Reshape", ["x", "shape"])], {"x": f32(3, 4)})


def flatten_cases() -> None:
    for axis in (0, 1, 2, 3, 4, -1, -3):
        add(f"flatten_axis_{axis}".replace("-", "neg"), "Flatten", node("Flatten", ["x"], axis=axis),
            {"x": f32(2, 3, 4, 5)})
    add("flatten_default", "Flatten", node("Flatten", ["x"]), {"x": f32(2, 3, 2, 2)})
    add("flatten_2d", "Flatten", node("Flatten", ["x"], axis=1), {"x": f32(3, 4)})
    add("flatten_int64", "Flatten", node("Flatten", ["x"], axis=1), {"x": i64(2, 2, 3)})


def identity_cases() -> None:
    add("identity_float", "Identity", node("Identity", ["x"]), {"x": f32(2, 3)})
    add("identity_int64", "Identity", node("Identity", ["x"]), {"x": i64(4)})
    add("identity_bool", "Identity", node("Identity", ["x"]), {"x": boolean(2, 2)})
    add("identity_scalar", "Identity", node("Identity", ["x"]), {"x": scalar(5.0)})
    add("identity_initializer", "Identity", [node("Identity", ["w"], ["y"])], {}, inits={"w": f32(3, 2)})


def transpose_cases() -> None:
    add("transpose_2d_default", "Transpose", node("Transpose", ["x"]), {"x": f32(3, 4)})
    add("transpose_3d_default", "Transpose", node("Transpose", ["x"]), {"x": f32(2, 3, 4)})
    add("transpose_3d_perm_021", "Transpose", node("Transpose", ["x"], perm=[0, 2, 1]), {"x": f32(2, 3, 4)})
    add("transpose_3d_perm_102", "Transpose", node("Transpose", ["x"], perm=[1, 0, 2]), {"x": f32(2, 3, 4)})
    add("transpose_4d_perm_0213", "Transpose", node("Transpose", ["x"], perm=[0, 2, 1, 3]), {"x": f32(2, 3, 4, 5)})
    add("transpose_4d_perm_0231", "Transpose", node("Transpose", ["x"], perm=[0, 2, 3, 1]), {"x": f32(2, 3, 4, 5)})
    add("transpose_4d_perm_0132", "Transpose", node("Transpose", ["x"], perm=[0, 1, 3, 2]), {"x": f32(2, 3, 4, 5)})
    add("transpose_4d_default", "Transpose", node("Transpose", ["x"]), {"x": f32(2, 3, 4, 5)})
    add("transpose_identity_perm", "Transpose", node("Transpose", ["x"], perm=[0, 1]), {"x": f32(3, 4)})
    add("transpose_int64", "Transpose", node("Transpose", ["x"], perm=[1, 0]), {"x": i64(2, 5)})
    add("transpose_1d", "Transpose", node("Transpose", ["x"]), {"x": f32(5)})


def concat_cases() -> None:
    add("concat_axis_0", "Concat", node("Concat", ["a", "b"], axis=0), {"a": f32(2, 3), "b": f32(4, 3)})
    add("concat_axis_1", "Concat", node("Concat", ["a", "b"], axis=1), {"a": f32(2, 3), "b": f32(2, 1)})
    add("concat_axis_neg1_three", "Concat", node("Concat", ["a", "b", "c"], axis=-1),
        {"a": f32(2, 2, 3), "b": f32(2, 2, 1), "c": f32(2, 2, 4)})
    add("concat_axis_neg2", "Concat", node("Concat", ["a", "b"], axis=-2), {"a": f32(2, 3, 4), "b": f32(2, 1, 4)})
    add("concat_axis_1_4d", "Concat", node("Concat", ["a", "b"], axis=1), {"a": f32(1, 2, 3, 3), "b": f32(1, 3, 3, 3)})
    add("concat_1d_int64", "Concat", node("Concat", ["a", "b", "c"], axis=0),
        {"a": ints(2), "b": ints(-1, 4), "c": ints(0)})
    add("concat_single_input", "Concat", node("Concat", ["a"], axis=0), {"a": f32(3, 2)})
    add("concat_empty_input", "Concat", node("Concat", ["a", "b"], axis=0), {"a": f32(0, 3), "b": f32(2, 3)})
    add("concat_dynamic_batch", "Concat", node("Concat", ["a", "b"], axis=1), {"a": f32(1, 2), "b": f32(1, 3)},
        dims={"a": ["batch", 2], "b": ["batch", 3]}, more_feeds=[{"a": f32(3, 2), "b": f32(3, 3)}])


def squeeze_cases() -> None:
    add("squeeze_axes", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": f32(2, 1, 3, 1)}, inits={"axes": ints(1)})
    add("squeeze_negative_axis", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": f32(2, 1, 3, 1)},
        inits={"axes": ints(-1)})
    add("squeeze_two_axes", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": f32(1, 3, 1, 2)},
        inits={"axes": ints(0, -2)})
    add("squeeze_all", "Squeeze", node("Squeeze", ["x"]), {"x": f32(1, 3, 1, 2, 1)})
    add("squeeze_to_scalar", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": arr([4.0])}, inits={"axes": ints(0)})
    add("squeeze_axes_input", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": f32(3, 1, 2), "axes": ints(1)})
    add("squeeze_int64", "Squeeze", node("Squeeze", ["x", "axes"]), {"x": i64(1, 4)}, inits={"axes": ints(0)})

    add("unsqueeze_axis_0", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(3, 4)}, inits={"axes": ints(0)})
    add("unsqueeze_negative_axis", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(3, 4)},
        inits={"axes": ints(-1)})
    add("unsqueeze_middle", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(3, 4)}, inits={"axes": ints(1)})
    add("unsqueeze_two_axes", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(3, 4)},
        inits={"axes": ints(1, 3)})
    add("unsqueeze_two_axes_unsorted_negative", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(3, 4)},
        inits={"axes": ints(-1, 0)})
    add("unsqueeze_scalar", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": scalar(7, np.int64)},
        inits={"axes": ints(0)})
    add("unsqueeze_attention_mask", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": i64(2, 5, lo=0, hi=1)},
        inits={"axes": ints(1, 2)})
    add("unsqueeze_axes_input", "Unsqueeze", node("Unsqueeze", ["x", "axes"]), {"x": f32(2, 3), "axes": ints(2)})


def gather_cases() -> None:
    add("gather_axis_0", "Gather", node("Gather", ["x", "i"], axis=0), {"x": f32(5, 3), "i": ints(0, 4, 2)})
    add("gather_axis_1", "Gather", node("Gather", ["x", "i"], axis=1), {"x": f32(3, 5), "i": ints(1, 1, 4)})
    add("gather_axis_neg1", "Gather", node("Gather", ["x", "i"], axis=-1), {"x": f32(2, 3, 4), "i": ints(3, 0)})
    add("gather_negative_indices", "Gather", node("Gather", ["x", "i"], axis=0), {"x": f32(5, 2), "i": ints(-1, -5, 0)})
    add("gather_2d_indices", "Gather", node("Gather", ["x", "i"], axis=0),
        {"x": f32(6, 3), "i": ints(0, 1, 5, -2).reshape(2, 2)})
    add("gather_2d_indices_axis_1", "Gather", node("Gather", ["x", "i"], axis=1),
        {"x": f32(2, 5, 3), "i": ints(4, 0, -1, 2, 2, 1).reshape(3, 2)})
    add("gather_scalar_index", "Gather", node("Gather", ["x", "i"], axis=0), {"x": f32(4, 3), "i": scalar(2, np.int64)})
    add("gather_scalar_index_axis_1", "Gather", node("Gather", ["x", "i"], axis=1),
        {"x": f32(2, 4, 3), "i": scalar(-1, np.int64)})
    add("gather_int64_data", "Gather", node("Gather", ["x", "i"], axis=0), {"x": ints(7, 3, 5), "i": scalar(1, np.int64)})
    add("gather_int32_indices", "Gather", node("Gather", ["x", "i"], axis=0),
        {"x": f32(4, 2), "i": arr([3, 0, -1], np.int32)})
    # Embedding lookup: table as initializer, token ids as input.
    add("gather_embedding", "Gather", node("Gather", ["table", "ids"], axis=0),
        {"ids": arr([[1, 5, 2, 0], [3, 3, 9, 7]], np.int64)}, inits={"table": f32(10, 8)},
        dims={"ids": ["batch", "seq"]}, more_feeds=[{"ids": arr([[4, 8]], np.int64)}])

    add("gathernd_basic", "GatherND", node("GatherND", ["x", "i"]), {"x": f32(2, 2), "i": ints(0, 0, 1, 1).reshape(2, 2)})
    add("gathernd_slices", "GatherND", node("GatherND", ["x", "i"]), {"x": f32(2, 2, 3), "i": ints(1, 0).reshape(2, 1)})
    add("gathernd_batch_dims_1", "GatherND", node("GatherND", ["x", "i"], batch_dims=1),
        {"x": f32(2, 3, 4), "i": ints(1, 2, 0, 3).reshape(2, 1, 2)})
    add("gathernd_negative", "GatherND", node("GatherND", ["x", "i"]),
        {"x": i64(3, 4), "i": ints(-1, 0, 2, -1, 0, -4).reshape(3, 2)})


def slice_cases() -> None:
    s = node("Slice", ["x", "starts", "ends", "axes", "steps"])
    add("slice_basic", "Slice", s, {"x": f32(4, 5)},
        inits={"starts": ints(1, 0), "ends": ints(3, 4), "axes": ints(0, 1), "steps": ints(1, 1)})
    add("slice_default_axes_steps", "Slice", node("Slice", ["x", "starts", "ends"]), {"x": f32(4, 5)},
        inits={"starts": ints(1, 2), "ends": ints(3, 5)})
    add("slice_one_axis", "Slice", node("Slice", ["x", "starts", "ends", "axes"]), {"x": f32(3, 6)},
        inits={"starts": ints(2), "ends": ints(5), "axes": ints(1)})
    add("slice_negative_axis", "Slice", node("Slice", ["x", "starts", "ends", "axes"]), {"x": f32(2, 3, 6)},
        inits={"starts": ints(1), "ends": ints(-1), "axes": ints(-1)})
    add("slice_negative_starts_ends", "Slice", s, {"x": f32(5, 6)},
        inits={"starts": ints(-4, -3), "ends": ints(-1, 100), "axes": ints(0, 1), "steps": ints(1, 1)})
    add("slice_steps", "Slice", s, {"x": f32(6, 7)},
        inits={"starts": ints(0, 1), "ends": ints(6, 7), "axes": ints(0, 1), "steps": ints(2, 3)})
    add("slice_negative_step", "Slice", s, {"x": f32(4, 5)},
        inits={"starts": ints(-1), "ends": ints(INT64_MIN), "axes": ints(1), "steps": ints(-1)})
    add("slice_negative_step_2", "Slice", s, {"x": f32(7, 3)},
        inits={"starts": ints(5), "ends": ints(0), "axes": ints(0), "steps": ints(-2)})
    add("slice_end_int64_max", "Slice", node("Slice", ["x", "starts", "ends", "axes"]), {"x": f32(3, 4)},
        inits={"starts": ints(1), "ends": ints(INT64_MAX), "axes": ints(0)})
    add("slice_clamped_out_of_range", "Slice", s, {"x": f32(3, 4)},
        inits={"starts": ints(-100, 2), "ends": ints(100, 1000), "axes": ints(0, 1), "steps": ints(1, 1)})
    add("slice_empty_result", "Slice", node("Slice", ["x", "starts", "ends", "axes"]), {"x": f32(3, 4)},
        inits={"starts": ints(2), "ends": ints(1), "axes": ints(1)})
    add("slice_axes_unordered", "Slice", s, {"x": f32(3, 4, 5)},
        inits={"starts": ints(1, 0), "ends": ints(5, 2), "axes": ints(2, 0), "steps": ints(2, 1)})
    add("slice_inputs_not_initializers", "Slice", s,
        {"x": f32(4, 6), "starts": ints(1), "ends": ints(-1), "axes": ints(1), "steps": ints(2)})
    add("slice_int64_shape_vector", "Slice", node("Slice", ["x", "starts", "ends", "axes"]), {"x": ints(2, 7, 64)},
        inits={"starts": ints(0), "ends": ints(2), "axes": ints(0)})
    add("slice_4d", "Slice", s, {"x": f32(2, 3, 4, 5)},
        inits={"starts": ints(0, 1, 1), "ends": ints(1, 4, 5), "axes": ints(0, 2, 3), "steps": ints(1, 2, 2)})


def shape_cases() -> None:
    add("shape_default", "Shape", node("Shape", ["x"]), {"x": f32(2, 3, 4)})
    add("shape_start_1", "Shape", node("Shape", ["x"], start=1), {"x": f32(2, 3, 4)})
    add("shape_end_neg1", "Shape", node("Shape", ["x"], end=-1), {"x": f32(2, 3, 4)})
    add("shape_start_neg2", "Shape", node("Shape", ["x"], start=-2), {"x": f32(2, 3, 4, 5)})
    add("shape_start_end", "Shape", node("Shape", ["x"], start=1, end=3), {"x": f32(2, 3, 4, 5)})
    add("shape_clamped", "Shape", node("Shape", ["x"], start=-10, end=10), {"x": f32(2, 3)})
    add("shape_scalar", "Shape", node("Shape", ["x"]), {"x": scalar(1.0)})
    add("shape_int64_input", "Shape", node("Shape", ["x"]), {"x": i64(5, 1)})
    add("shape_dynamic_batch", "Shape", node("Shape", ["x"]), {"x": f32(1, 3)}, dims={"x": ["batch", 3]},
        more_feeds=[{"x": f32(6, 3)}])


# ------------------------------------------------------------- reductions ---

def reduce_cases() -> None:
    # ReduceSum: axes is an input since opset 13.
    add("reducesum_axis_1_keepdims", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=1), {"x": f32(3, 4)},
        inits={"axes": ints(1)})
    add("reducesum_axis_neg1_no_keepdims", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=0),
        {"x": f32(2, 3, 4)}, inits={"axes": ints(-1)})
    add("reducesum_two_axes", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=0), {"x": f32(2, 3, 4)},
        inits={"axes": ints(0, 2)})
    add("reducesum_two_axes_keepdims", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=1), {"x": f32(2, 3, 4)},
        inits={"axes": ints(-1, 1)})
    add("reducesum_all_keepdims", "ReduceSum", node("ReduceSum", ["x"], keepdims=1), {"x": f32(2, 3, 4)})
    add("reducesum_all_no_keepdims", "ReduceSum", node("ReduceSum", ["x"], keepdims=0), {"x": f32(3, 4)})
    add("reducesum_noop_with_empty_axes", "ReduceSum", node("ReduceSum", ["x"], keepdims=1, noop_with_empty_axes=1),
        {"x": f32(3, 4)})
    add("reducesum_empty_axes_input", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=0), {"x": f32(3, 4)},
        inits={"axes": np.zeros((0,), np.int64)})
    add("reducesum_axes_graph_input", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=1),
        {"x": f32(2, 3, 4), "axes": ints(1)})
    add("reducesum_int64", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=0), {"x": i64(3, 5)},
        inits={"axes": ints(1)})
    add("reducesum_long_axis", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=0), {"x": f32(3, 515)},
        inits={"axes": ints(-1)})
    add("reducesum_axis_0_opset13", "ReduceSum", node("ReduceSum", ["x", "axes"], keepdims=1), {"x": f32(4, 3)},
        inits={"axes": ints(0)}, opset=13)

    # ReduceMean: axes is an attribute up to opset 17, an input from opset 18.
    add("reducemean_axis_neg1_keepdims", "ReduceMean", node("ReduceMean", ["x"], axes=[-1], keepdims=1),
        {"x": f32(2, 3, 8)})
    add("reducemean_axis_1_no_keepdims", "ReduceMean", node("ReduceMean", ["x"], axes=[1], keepdims=0),
        {"x": f32(2, 3, 4)})
    add("reducemean_two_axes", "ReduceMean", node("ReduceMean", ["x"], axes=[2, 3], keepdims=1),
        {"x": f32(2, 3, 4, 5)})
    add("reducemean_all", "ReduceMean", node("ReduceMean", ["x"], keepdims=0), {"x": f32(3, 4)})
    add("reducemean_all_keepdims", "ReduceMean", node("ReduceMean", ["x"]), {"x": f32(2, 3, 4)})
    add("reducemean_axis_0", "ReduceMean", node("ReduceMean", ["x"], axes=[0], keepdims=0), {"x": f32(5, 3)})
    add("reducemean_long_axis", "ReduceMean", node("ReduceMean", ["x"], axes=[-1], keepdims=1), {"x": f32(2, 771)})
    add("reducemean_axis_neg1_opset18", "ReduceMean", node("ReduceMean", ["x", "axes"], keepdims=1),
        {"x": f32(2, 3, 8)}, inits={"axes": ints(-1)}, opset=18)
    add("reducemean_two_axes_no_keepdims_opset18", "ReduceMean", node("ReduceMean", ["x", "axes"], keepdims=0),
        {"x": f32(2, 3, 4)}, inits={"axes": ints(0, -1)}, opset=18)
    add("reducemean_all_opset18", "ReduceMean", node("ReduceMean", ["x"], keepdims=0), {"x": f32(3, 4)}, opset=18)
    add("reducemean_noop_with_empty_axes_opset18", "ReduceMean",
        node("ReduceMean", ["x"], keepdims=1, noop_with_empty_axes=1), {"x": f32(3, 4)}, opset=18)
    add("reducemean_axes_graph_input_opset18", "ReduceMean", node("ReduceMean", ["x", "axes"], keepdims=0),
        {"x": f32(2, 3, 4), "axes": ints(1)}, opset=18)


# ---------------------------------------------------------- normalization ---

def norm_cases() -> None:
    ln = "LayerNormalization"
    add("layernormalization_axis_neg1", ln, node(ln, ["x", "scale", "bias"], axis=-1, epsilon=1e-5),
        {"x": f32(2, 3, 8, lo=-3, hi=3)}, inits={"scale": f32(8, lo=0.5, hi=1.5), "bias": f32(8)})
    add("layernormalization_no_bias", ln, node(ln, ["x", "scale"], axis=-1), {"x": f32(4, 6, lo=-3, hi=3)},
        inits={"scale": f32(6, lo=0.5, hi=1.5)})
    add("layernormalization_default_axis", ln, node(ln, ["x", "scale", "bias"]), {"x": f32(3, 5)},
        inits={"scale": f32(5), "bias": f32(5)})
    add("layernormalization_axis_1_3d", ln, node(ln, ["x", "scale", "bias"], axis=1, epsilon=1e-3),
        {"x": f32(2, 3, 4, lo=-2, hi=5)}, inits={"scale": f32(3, 4), "bias": f32(3, 4)})
    add("layernormalization_axis_neg2_scale_broadcast", ln, node(ln, ["x", "scale", "bias"], axis=-2),
        {"x": f32(2, 3, 4)}, inits={"scale": f32(1, 4), "bias": f32(4)})
    add("layernormalization_constant_row", ln, node(ln, ["x", "scale", "bias"], axis=-1, epsilon=1e-12),
        {"x": arr([[2, 2, 2, 2], [1, 2, 3, 4], [1e3, -1e3, 1e3, -1e3]])},
        inits={"scale": arr([1, 1, 1, 1]), "bias": arr([0, 0.5, 0, -0.5])})
    add("layernormalization_long_row", ln, node(ln, ["x", "scale", "bias"], axis=-1, epsilon=1e-12),
        {"x": f32(3, 384, lo=-4, hi=4)}, inits={"scale": f32(384), "bias": f32(384)})
    add("layernormalization_dynamic", ln, node(ln, ["x", "scale", "bias"], axis=-1, epsilon=1e-12),
        {"x": f32(1, 4, 16)}, inits={"scale": f32(16), "bias": f32(16)}, dims={"x": ["batch", "seq", 16]},
        more_feeds=[{"x": f32(2, 7, 16)}])

    bn = "BatchNormalization"

    def bn_inits(c: int):
        return {"scale": f32(c, lo=0.5, hi=1.5), "b": f32(c), "mean": f32(c), "var": f32(c, lo=0.1, hi=2.0)}

    add("batchnormalization_4d", bn, node(bn, ["x", "scale", "b", "mean", "var"]), {"x": f32(2, 3, 4, 4)},
        inits=bn_inits(3))
    add("batchnormalization_epsilon", bn, node(bn, ["x", "scale", "b", "mean", "var"], epsilon=1e-2, momentum=0.7),
        {"x": f32(1, 4, 3, 5)}, inits=bn_inits(4))
    add("batchnormalization_2d", bn, node(bn, ["x", "scale", "b", "mean", "var"]), {"x": f32(5, 6)}, inits=bn_inits(6))
    add("batchnormalization_3d", bn, node(bn, ["x", "scale", "b", "mean", "var"]), {"x": f32(2, 3, 7)},
        inits=bn_inits(3))
    add("batchnormalization_inputs", bn, node(bn, ["x", "scale", "b", "mean", "var"]),
        {"x": f32(2, 2, 3, 3), **{k: v for k, v in bn_inits(2).items()}})
    add("batchnormalization_opset14", bn, node(bn, ["x", "scale", "b", "mean", "var"], training_mode=0),
        {"x": f32(1, 2, 3, 3)}, inits=bn_inits(2), opset=14)

    for norm in ("MAX", "L1", "L2"):
        add(f"ml_normalizer_{norm.lower()}", "Normalizer", node("Normalizer", ["x"], domain=ML, norm=norm),
            {"x": f32(4, 5, lo=-3, hi=3)}, ml_opset=3)
    add("ml_normalizer_max_positive", "Normalizer", node("Normalizer", ["x"], domain=ML, norm="MAX"),
        {"x": f32(3, 4, lo=0.1, hi=5)}, ml_opset=1)
    add("ml_normalizer_l2_zero_row", "Normalizer", node("Normalizer", ["x"], domain=ML, norm="L2"),
        {"x": arr([[0, 0, 0], [3, 4, 0]])}, ml_opset=3)
    add("ml_normalizer_l1_probabilities", "Normalizer", node("Normalizer", ["x"], domain=ML, norm="L1"),
        {"x": f32(3, 10, lo=0, hi=1)}, ml_opset=1)


# ------------------------------------------------------------ convolution ---

def conv_cases() -> None:
    add("conv_basic", "Conv", node("Conv", ["x", "w"]), {"x": f32(1, 1, 5, 5)}, inits={"w": f32(2, 1, 3, 3)})
    add("conv_bias_pads", "Conv", node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        {"x": f32(2, 3, 6, 6)}, inits={"w": f32(4, 3, 3, 3), "b": f32(4)})
    add("conv_strides", "Conv", node("Conv", ["x", "w", "b"], strides=[2, 2]), {"x": f32(1, 2, 7, 7)},
        inits={"w": f32(3, 2, 3, 3), "b": f32(3)})
    add("conv_strides_pads", "Conv", node("Conv", ["x", "w", "b"], strides=[2, 2], pads=[1, 1, 1, 1]),
        {"x": f32(1, 2, 8, 8)}, inits={"w": f32(3, 2, 3, 3), "b": f32(3)})
    add("conv_dilations", "Conv", node("Conv", ["x", "w"], dilations=[2, 2]), {"x": f32(1, 2, 7, 7)},
        inits={"w": f32(2, 2, 3, 3)})
    add("conv_dilations_pads_strides", "Conv", node("Conv", ["x", "w", "b"], dilations=[2, 1], pads=[2, 1, 2, 1],
                                                    strides=[1, 2]),
        {"x": f32(1, 2, 6, 7)}, inits={"w": f32(3, 2, 3, 3), "b": f32(3)})
    add("conv_groups_2", "Conv", node("Conv", ["x", "w", "b"], group=2, pads=[1, 1, 1, 1]), {"x": f32(1, 4, 5, 5)},
        inits={"w": f32(6, 2, 3, 3), "b": f32(6)})
    add("conv_depthwise", "Conv", node("Conv", ["x", "w", "b"], group=3, pads=[1, 1, 1, 1]), {"x": f32(2, 3, 5, 5)},
        inits={"w": f32(3, 1, 3, 3), "b": f32(3)})
    add("conv_depthwise_multiplier", "Conv", node("Conv", ["x", "w"], group=2, strides=[2, 2]), {"x": f32(1, 2, 6, 6)},
        inits={"w": f32(4, 1, 3, 3)})
    add("conv_auto_pad_same_upper", "Conv", node("Conv", ["x", "w", "b"], auto_pad="SAME_UPPER", strides=[2, 2]),
        {"x": f32(1, 2, 6, 6)}, inits={"w": f32(3, 2, 3, 3), "b": f32(3)})
    add("conv_auto_pad_same_upper_stride1", "Conv", node("Conv", ["x", "w"], auto_pad="SAME_UPPER", kernel_shape=[4, 4]),
        {"x": f32(1, 1, 5, 5)}, inits={"w": f32(2, 1, 4, 4)})
    add("conv_auto_pad_same_lower", "Conv", node("Conv", ["x", "w"], auto_pad="SAME_LOWER", strides=[2, 2]),
        {"x": f32(1, 2, 6, 6)}, inits={"w": f32(2, 2, 3, 3)})
    add("conv_auto_pad_valid", "Conv", node("Conv", ["x", "w"], auto_pad="VALID"), {"x": f32(1, 1, 5, 6)},
        inits={"w": f32(2, 1, 3, 2)})
    add("conv_no_bias_rect_kernel_asym_pads", "Conv", node("Conv", ["x", "w"], pads=[0, 1, 1, 2]),
        {"x": f32(1, 3, 5, 6)}, inits={"w": f32(2, 3, 2, 3)})
    add("conv_1x1", "Conv", node("Conv", ["x", "w", "b"]), {"x": f32(2, 8, 4, 4)}, inits={"w": f32(5, 8, 1, 1), "b": f32(5)})
    add("conv_weights_as_input", "Conv", node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1]),
        {"x": f32(1, 2, 4, 4), "w": f32(2, 2, 3, 3), "b": f32(2)})
    add("conv_larger", "Conv", node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1]), {"x": f32(1, 8, 14, 14)},
        inits={"w": f32(16, 8, 3, 3), "b": f32(16)})
    add("conv_dynamic_batch", "Conv", node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1]), {"x": f32(1, 1, 6, 6)},
        inits={"w": f32(2, 1, 3, 3), "b": f32(2)}, dims={"x": ["batch", 1, 6, 6]}, more_feeds=[{"x": f32(3, 1, 6, 6)}])


def pool_cases() -> None:
    mp = "MaxPool"
    add("maxpool_2x2_stride2", mp, node(mp, ["x"], kernel_shape=[2, 2], strides=[2, 2]), {"x": f32(1, 2, 6, 6)})
    add("maxpool_3x3_stride1_pads", mp, node(mp, ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), {"x": f32(1, 2, 5, 5)})
    add("maxpool_default_strides", mp, node(mp, ["x"], kernel_shape=[2, 2]), {"x": f32(1, 1, 4, 5)})
    add("maxpool_ceil_mode", mp, node(mp, ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        {"x": f32(1, 2, 5, 5)})
    add("maxpool_ceil_mode_pads", mp, node(mp, ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                          ceil_mode=1), {"x": f32(1, 1, 6, 6)})
    add("maxpool_floor_odd", mp, node(mp, ["x"], kernel_shape=[2, 2], strides=[2, 2]), {"x": f32(2, 3, 5, 7)})
    add("maxpool_rect_strides", mp, node(mp, ["x"], kernel_shape=[3, 2], strides=[1, 2], pads=[1, 0, 1, 0]),
        {"x": f32(1, 2, 5, 6)})
    add("maxpool_negative_values_pads", mp, node(mp, ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
        {"x": f32(1, 1, 4, 4, lo=-5, hi=-1)})
    add("maxpool_auto_pad_same_upper", mp, node(mp, ["x"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        {"x": f32(1, 1, 6, 6)})
    add("maxpool_dynamic_batch", mp, node(mp, ["x"], kernel_shape=[2, 2], strides=[2, 2]), {"x": f32(1, 3, 4, 4)},
        dims={"x": ["batch", 3, 4, 4]}, more_feeds=[{"x": f32(4, 3, 4, 4)}])

    ap = "AveragePool"
    add("averagepool_2x2_stride2", ap, node(ap, ["x"], kernel_shape=[2, 2], strides=[2, 2]), {"x": f32(1, 2, 6, 6)})
    add("averagepool_pads_count_include_pad_0", ap,
        node(ap, ["x"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
        {"x": f32(1, 2, 5, 5)})
    add("averagepool_pads_count_include_pad_1", ap,
        node(ap, ["x"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
        {"x": f32(1, 2, 5, 5)})
    add("averagepool_strides_pads_count_include_pad_0", ap,
        node(ap, ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
        {"x": f32(2, 1, 6, 6)})
    add("averagepool_strides_pads_count_include_pad_1", ap,
        node(ap, ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        {"x": f32(2, 1, 6, 6)})
    add("averagepool_asym_pads_count_include_pad_1", ap,
        node(ap, ["x"], kernel_shape=[2, 3], pads=[0, 1, 1, 2], count_include_pad=1), {"x": f32(1, 1, 4, 5)})
    add("averagepool_ceil_mode", ap, node(ap, ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        {"x": f32(1, 1, 5, 5)})
    add("averagepool_auto_pad_same_upper", ap,
        node(ap, ["x"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), {"x": f32(1, 2, 5, 5)})

    gap = "GlobalAveragePool"
    add("globalaveragepool_basic", gap, node(gap, ["x"]), {"x": f32(2, 3, 4, 5)})
    add("globalaveragepool_1x1", gap, node(gap, ["x"]), {"x": f32(1, 4, 1, 1)})
    add("globalaveragepool_larger", gap, node(gap, ["x"]), {"x": f32(1, 8, 7, 7)})
    add("globalaveragepool_3d_input", gap, node(gap, ["x"]), {"x": f32(2, 3, 10)})


# -------------------------------------------------------------------- misc ---

def misc_cases() -> None:
    add("dropout_inference", "Dropout", node("Dropout", ["x"]), {"x": f32(3, 4)})
    add("dropout_ratio_initializer", "Dropout", node("Dropout", ["x", "ratio"]), {"x": f32(2, 3, 4)},
        inits={"ratio": scalar(0.1)})
    add("dropout_with_mask", "Dropout", node("Dropout", ["x", "ratio"], ["y", "mask"]), {"x": f32(2, 5)},
        ["y", "mask"], inits={"ratio": scalar(0.5)})
    add("dropout_training_mode_false", "Dropout", node("Dropout", ["x", "ratio", "training"], seed=0),
        {"x": f32(3, 3)}, inits={"ratio": scalar(0.5), "training": scalar(False, np.bool_)})
    add("dropout_ratio_omitted_training_false", "Dropout", node("Dropout", ["x", "", "training"]),
        {"x": f32(4)}, inits={"training": scalar(False, np.bool_)})

    add("constant_tensor", "Constant", [const_node("c", arr([[1, 2, 3], [4, 5, 6]])), node("Add", ["x", "c"])],
        {"x": f32(2, 3)})
    add("constant_value_float", "Constant",
        [helper.make_node("Constant", [], ["c"], value_float=2.5), node("Mul", ["x", "c"])], {"x": f32(3)})
    add("constant_value_floats", "Constant",
        [helper.make_node("Constant", [], ["c"], value_floats=[1.0, -2.0, 0.5]), node("Mul", ["x", "c"])],
        {"x": f32(2, 3)})
    add("constant_value_int", "Constant", [helper.make_node("Constant", [], ["y"], value_int=-7)], {})
    add("constant_value_ints", "Constant", [helper.make_node("Constant", [], ["y"], value_ints=[0, -1, 64])], {})
    add("constant_int64_tensor", "Constant", [const_node("y", ints(3, -1, 5).reshape(3, 1))], {})
    add("constant_scalar_tensor", "Constant", [const_node("c", scalar(0.125)), node("Mul", ["x", "c"])],
        {"x": f32(2, 2)})

    add("where_same_shape", "Where", node("Where", ["c", "a", "b"]), {"c": boolean(3, 4), "a": f32(3, 4), "b": f32(3, 4)})
    add("where_broadcast", "Where", node("Where", ["c", "a", "b"]),
        {"c": boolean(1, 4), "a": f32(3, 1), "b": scalar(-1e4)})
    add("where_attention_mask", "Where", node("Where", ["c", "a", "b"]),
        {"c": boolean(2, 1, 1, 5), "a": f32(2, 2, 5, 5), "b": scalar(np.finfo(np.float32).min)})
    add("where_int64", "Where", node("Where", ["c", "a", "b"]), {"c": boolean(2, 3), "a": i64(2, 3), "b": i64(3)})

    add("equal_int64", "Equal", node("Equal", ["a", "b"]), {"a": i64(3, 4, lo=0, hi=2), "b": i64(3, 4, lo=0, hi=2)})
    add("equal_int64_broadcast", "Equal", node("Equal", ["a", "b"]), {"a": i64(2, 5, lo=0, hi=3), "b": scalar(1, np.int64)})
    add("equal_float", "Equal", node("Equal", ["a", "b"]),
        {"a": arr([0.0, -0.0, 1.5, 2.0, 3.0]), "b": arr([-0.0, 0.0, 1.5, 2.5, 3.0])})
    add("equal_bool", "Equal", node("Equal", ["a", "b"]), {"a": boolean(2, 3), "b": boolean(3)})
    add("equal_int32_broadcast", "Equal", node("Equal", ["a", "b"]), {"a": i32(3, 1, lo=0, hi=2), "b": i32(4, lo=0, hi=2)})

    add("expand_basic", "Expand", node("Expand", ["x", "shape"]), {"x": f32(3, 1)}, inits={"shape": ints(2, 3, 4)})
    add("expand_smaller_shape", "Expand", node("Expand", ["x", "shape"]), {"x": f32(2, 1, 4)}, inits={"shape": ints(3, 1)})
    add("expand_ones", "Expand", node("Expand", ["x", "shape"]), {"x": f32(2, 3)}, inits={"shape": ints(1, 1)})
    add("expand_scalar", "Expand", node("Expand", ["x", "shape"]), {"x": scalar(4, np.int64)}, inits={"shape": ints(2, 3)})
    add("expand_shape_input", "Expand", node("Expand", ["x", "shape"]), {"x": i64(1, 5), "shape": ints(3, 1)})

    add("range_float", "Range", node("Range", ["start", "limit", "delta"]),
        {"start": scalar(1.0), "limit": scalar(5.0), "delta": scalar(0.5)})
    add("range_int64", "Range", node("Range", ["start", "limit", "delta"]),
        {"start": scalar(0, np.int64), "limit": scalar(7, np.int64), "delta": scalar(1, np.int64)})
    add("range_negative_delta", "Range", node("Range", ["start", "limit", "delta"]),
        {"start": scalar(10, np.int64), "limit": scalar(-3, np.int64), "delta": scalar(-4, np.int64)})
    add("range_empty", "Range", node("Range", ["start", "limit", "delta"]),
        {"start": scalar(5.0), "limit": scalar(1.0), "delta": scalar(2.0)})

    add("constantofshape_default", "ConstantOfShape", node("ConstantOfShape", ["shape"]), {"shape": ints(2, 3)})
    add("constantofshape_float", "ConstantOfShape",
        node("ConstantOfShape", ["shape"], value=numpy_helper.from_array(arr([1.5]))), {"shape": ints(3, 1, 2)})
    add("constantofshape_int64", "ConstantOfShape",
        node("ConstantOfShape", ["shape"], value=numpy_helper.from_array(ints(1))), {"shape": ints(4)})
    add("constantofshape_empty_shape_is_scalar", "ConstantOfShape",
        node("ConstantOfShape", ["shape"], value=numpy_helper.from_array(ints(-3))), {"shape": np.zeros((0,), np.int64)})
    add("constantofshape_zero_dim", "ConstantOfShape", node("ConstantOfShape", ["shape"]), {"shape": ints(2, 0)})


# ------------------------------------------------------------ ai.onnx.ml ---

def ml_cases() -> None:
    lc = "LinearClassifier"

    def classifier(name, classes, features, post, *, labels=None, multi_class=0, ml_opset=1, batch=4):
        labels = list(range(classes)) if labels is None else labels
        rows = classes if classes > 2 or multi_class else 1
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        coef = rng.uniform(-1, 1, size=rows * features).astype(np.float32)
        icpt = rng.uniform(-0.5, 0.5, size=rows).astype(np.float32)
        n = helper.make_node(lc, ["x"], ["label", "scores"], domain=ML, classlabels_ints=labels,
                             coefficients=coef.tolist(), intercepts=icpt.tolist(), multi_class=multi_class,
                             post_transform=post)
        add(name, lc, n, {"x": f32(batch, features, lo=-2, hi=2)}, ["label", "scores"], ml_opset=ml_opset,
            dims={"x": ["N", features]}, more_feeds=[{"x": f32(1, features, lo=-2, hi=2)}])

    classifier("ml_linearclassifier_multiclass_none", 3, 4, "NONE")
    classifier("ml_linearclassifier_multiclass_softmax", 4, 5, "SOFTMAX")
    classifier("ml_linearclassifier_multiclass_logistic", 3, 4, "LOGISTIC")
    classifier("ml_linearclassifier_multiclass_softmax_multi_class_1", 3, 4, "SOFTMAX", multi_class=1)
    classifier("ml_linearclassifier_labels_not_from_zero", 3, 2, "SOFTMAX", labels=[3, 7, 11])
    classifier("ml_linearclassifier_binary_none", 2, 3, "NONE")
    classifier("ml_linearclassifier_binary_logistic", 2, 3, "LOGISTIC")
    classifier("ml_linearclassifier_binary_two_rows_softmax", 2, 3, "SOFTMAX", multi_class=1)
    classifier("ml_linearclassifier_ten_classes_opset3", 10, 64, "SOFTMAX", multi_class=1, ml_opset=3, batch=8)

    lr = "LinearRegressor"
    add("ml_linearregressor_single_target", lr,
        node("LinearRegressor", ["x"], domain=ML, coefficients=[0.5, -1.0, 2.0], intercepts=[0.25], targets=1),
        {"x": f32(4, 3)}, ml_opset=1)
    add("ml_linearregressor_two_targets", lr,
        node("LinearRegressor", ["x"], domain=ML, coefficients=[0.5, -1.0, 2.0, 1.0, 0.0, -0.75],
             intercepts=[0.25, -1.0], targets=2), {"x": f32(5, 3)}, ml_opset=1)
    add("ml_linearregressor_no_intercepts", lr,
        node("LinearRegressor", ["x"], domain=ML, coefficients=[1.0, 2.0, 3.0, 4.0], targets=1),
        {"x": f32(3, 4)}, ml_opset=1)
    add("ml_linearregressor_dynamic_batch", lr,
        node("LinearRegressor", ["x"], domain=ML, coefficients=[0.1, 0.2, -0.3, 0.4, 0.5, -0.6],
             intercepts=[1.0, 2.0, 3.0], targets=3), {"x": f32(1, 2)}, ml_opset=3,
        dims={"x": ["N", 2]}, more_feeds=[{"x": f32(6, 2)}])

    afe = "ArrayFeatureExtractor"
    add("ml_arrayfeatureextractor_two_columns", afe, node(afe, ["x", "i"], domain=ML), {"x": f32(3, 5), "i": ints(0, 3)},
        ml_opset=1)
    add("ml_arrayfeatureextractor_one_column", afe, node(afe, ["x", "i"], domain=ML), {"x": f32(4, 6)},
        inits={"i": ints(5)}, ml_opset=1)
    add("ml_arrayfeatureextractor_int64", afe, node(afe, ["x", "i"], domain=ML), {"x": i64(2, 4), "i": ints(3, 1, 3)},
        ml_opset=1)
    add("ml_arrayfeatureextractor_3d", afe, node(afe, ["x", "i"], domain=ML), {"x": f32(2, 3, 4), "i": ints(2, 0)},
        ml_opset=1)

    sc = "Scaler"
    add("ml_scaler_per_feature", sc, node(sc, ["x"], domain=ML, offset=[0.5, -1.0, 2.0], scale=[2.0, 0.5, -1.0]),
        {"x": f32(4, 3, lo=-3, hi=3)}, ml_opset=1)
    add("ml_scaler_single_value", sc, node(sc, ["x"], domain=ML, offset=[1.5], scale=[0.25]), {"x": f32(3, 5)},
        ml_opset=1)
    add("ml_scaler_int64_input", sc, node(sc, ["x"], domain=ML, offset=[1.0, 2.0], scale=[0.5, 3.0]),
        {"x": i64(3, 2)}, ml_opset=1)
    add("ml_scaler_zero_scale", sc, node(sc, ["x"], domain=ML, offset=[0.0, 3.0, 0.0], scale=[1.0, 0.0, 1.0]),
        {"x": f32(2, 3)}, ml_opset=1)


# --------------------------------------------------------------- patterns ---

def pattern_cases() -> None:
    # x.view(x.size(0), -1) as torch.onnx.export writes it.
    nodes = [
        helper.make_node("Shape", ["input"], ["/Shape_output_0"], name="/Shape"),
        helper.make_node("Constant", [], ["/Constant_output_0"], name="/Constant",
                         value=numpy_helper.from_array(scalar(0, np.int64))),
        helper.make_node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"], name="/Gather", axis=0),
        helper.make_node("Constant", [], ["/Constant_1_output_0"], name="/Constant_1",
                         value=numpy_helper.from_array(ints(0))),
        helper.make_node("Unsqueeze", ["/Gather_output_0", "/Constant_1_output_0"], ["/Unsqueeze_output_0"],
                         name="/Unsqueeze"),
        helper.make_node("Constant", [], ["/Constant_2_output_0"], name="/Constant_2",
                         value=numpy_helper.from_array(ints(-1))),
        helper.make_node("Concat", ["/Unsqueeze_output_0", "/Constant_2_output_0"], ["/Concat_output_0"],
                         name="/Concat", axis=0),
        helper.make_node("Reshape", ["input", "/Concat_output_0"], ["output"], name="/Reshape"),
    ]
    add("pattern_shape_gather_unsqueeze_concat_reshape", "pattern", nodes, {"input": f32(1, 3, 4)}, ["output"],
        dims={"input": ["batch", 3, 4]}, more_feeds=[{"input": f32(2, 3, 4)}, {"input": f32(5, 3, 4)}])

    # Split heads: [b, s, h*d] -> [b, s, h, d] -> [b, h, s, d], with b and s read from the input.
    nodes = [
        node("Shape", ["x"], ["shape"]),
        node("Gather", ["shape", "zero"], ["b"], axis=0),
        node("Gather", ["shape", "one"], ["s"], axis=0),
        node("Unsqueeze", ["b", "axes0"], ["b1"]),
        node("Unsqueeze", ["s", "axes0"], ["s1"]),
        node("Concat", ["b1", "s1", "heads"], ["new_shape"], axis=0),
        node("Reshape", ["x", "new_shape"], ["r"]),
        node("Transpose", ["r"], ["y"], perm=[0, 2, 1, 3]),
    ]
    add("pattern_split_heads", "pattern", nodes, {"x": f32(1, 3, 8)},
        inits={"zero": scalar(0, np.int64), "one": scalar(1, np.int64), "axes0": ints(0), "heads": ints(2, 4)},
        dims={"x": ["batch", "seq", 8]}, more_feeds=[{"x": f32(2, 5, 8)}])

    # Extended attention mask: (1 - mask[:, None, None, :].float()) * min_float.
    nodes = [
        node("Unsqueeze", ["mask", "axes"], ["m4"]),
        node("Cast", ["m4"], ["mf"], to=TensorProto.FLOAT),
        node("Sub", ["one", "mf"], ["inv"]),
        node("Mul", ["inv", "neg"], ["y"]),
    ]
    add("pattern_attention_mask", "pattern", nodes, {"mask": arr([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int64)},
        inits={"axes": ints(1, 2), "one": scalar(1.0), "neg": scalar(np.finfo(np.float32).min)},
        dims={"mask": ["batch", "seq"]}, more_feeds=[{"mask": arr([[1, 0, 0]], np.int64)}])

    # GELU as exported from nn.GELU(): x * 0.5 * (1 + erf(x / sqrt(2))).
    nodes = [
        node("Div", ["x", "sqrt2"], ["d"]),
        node("Erf", ["d"], ["e"]),
        node("Add", ["e", "one"], ["a"]),
        node("Mul", ["x", "a"], ["m"]),
        node("Mul", ["m", "half"], ["y"]),
    ]
    add("pattern_gelu_erf", "pattern", nodes, {"x": f32(2, 3, 16, lo=-4, hi=4)},
        inits={"sqrt2": scalar(np.sqrt(2.0)), "one": scalar(1.0), "half": scalar(0.5)})

    # LayerNorm decomposed into primitives (older exporters).
    nodes = [
        node("ReduceMean", ["x"], ["mean"], axes=[-1]),
        node("Sub", ["x", "mean"], ["c"]),
        node("Pow", ["c", "two"], ["sq"]),
        node("ReduceMean", ["sq"], ["var"], axes=[-1]),
        node("Add", ["var", "eps"], ["ve"]),
        node("Sqrt", ["ve"], ["std"]),
        node("Div", ["c", "std"], ["n"]),
        node("Mul", ["n", "gamma"], ["s"]),
        node("Add", ["s", "beta"], ["y"]),
    ]
    add("pattern_layernorm_decomposed", "pattern", nodes, {"x": f32(2, 4, 12, lo=-3, hi=3)},
        inits={"two": scalar(2.0), "eps": scalar(1e-12), "gamma": f32(12), "beta": f32(12)})

    # Position ids: Range(0, seq) from the input's shape, then Expand to the batch.
    nodes = [
        node("Shape", ["ids"], ["shape"]),
        node("Gather", ["shape", "one"], ["seq"], axis=0),
        node("Range", ["zero", "seq", "step"], ["pos"]),
        node("Unsqueeze", ["pos", "axes0"], ["pos2"]),
        node("Expand", ["pos2", "shape"], ["y"]),
    ]
    add("pattern_position_ids", "pattern", nodes, {"ids": i64(2, 6, lo=0, hi=100)},
        inits={"one": scalar(1, np.int64), "zero": scalar(0, np.int64), "step": scalar(1, np.int64), "axes0": ints(0)},
        dims={"ids": ["batch", "seq"]}, more_feeds=[{"ids": i64(1, 3, lo=0, hi=100)}])

    # Classifier head: Gemm -> Softmax -> ArgMax, with a dynamic batch.
    nodes = [
        node("Gemm", ["x", "w", "b"], ["logits"], transB=1),
        node("Softmax", ["logits"], ["probabilities"], axis=-1),
        node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    add("pattern_classifier_head", "pattern", nodes, {"x": f32(1, 16)}, ["probabilities", "label"],
        inits={"w": f32(5, 16), "b": f32(5)}, dims={"x": ["batch", 16]},
        more_feeds=[{"x": f32(3, 16)}, {"x": f32(8, 16)}])

    # A node whose output is consumed twice and is also a graph output.
    nodes = [
        node("Relu", ["x"], ["r"]),
        node("Mul", ["r", "r"], ["sq"]),
        node("Add", ["sq", "r"], ["y"]),
    ]
    add("pattern_shared_intermediate_output", "pattern", nodes, {"x": f32(3, 4)}, ["y", "r"])


FAMILIES: list[Callable[[], None]] = [
    gemm_cases, matmul_cases, binary_cases, unary_cases, more_elementwise_cases, pow_cases, clip_cases, softmax_cases, argmax_cases,
    cast_cases, reshape_cases, flatten_cases, identity_cases, transpose_cases, concat_cases, squeeze_cases,
    gather_cases, slice_cases, shape_cases, reduce_cases, norm_cases, conv_cases, pool_cases, misc_cases,
    ml_cases, pattern_cases,
]


# --------------------------------------------------------------- building ---

def tensor_type(array: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(array.dtype)


# Outputs where onnx.reference is known to differ from onnxruntime.  The stored
# values are onnxruntime's, which is the behaviour the Swift runtime matches.
KNOWN_DISAGREEMENTS = {
    # The reference evaluator applies opset-13 single-axis semantics at opset 11;
    # onnxruntime coerces the input to 2-D at `axis` as opset 11 specifies.
    "softmax_axis_1_3d_opset11": "reference ignores the opset-11 2-D coercion",
    "logsoftmax_axis_1_3d_opset11": "reference ignores the opset-11 2-D coercion",
    # onnxruntime divides each row by its largest value (signed); the reference
    # divides by the largest absolute value.  Rows with a positive maximum and a
    # larger negative entry therefore differ.
    "ml_normalizer_max": "onnxruntime divides by the signed row maximum",
    # Binary classifier with one coefficient row and post_transform NONE:
    # onnxruntime returns scores [1 - s, s], the reference [-s, s].
    "ml_linearclassifier_binary_none": "onnxruntime writes 1 - s as the first score",
    # Without `intercepts` the reference evaluator produces NaN.
    "ml_linearregressor_no_intercepts": "reference fails without intercepts",
    # Scaler always outputs float; the reference keeps the int64 input type.
    "ml_scaler_int64_input": "reference keeps the input type",
}


def build_model(case: Case, datasets: list[dict[str, np.ndarray]], inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    first = datasets[0]
    inputs = []
    for name, value in first.items():
        dims = case.dims.get(name, list(value.shape))
        inputs.append(helper.make_tensor_value_info(name, tensor_type(value), dims))
    outputs = [helper.make_empty_tensor_value_info(name) for name in case.outputs]
    graph = helper.make_graph(
        case.nodes, case.name, inputs, outputs,
        initializer=[numpy_helper.from_array(v, name=k) for k, v in inits.items()],
    )
    opsets = [helper.make_opsetid("", case.opset)]
    if case.ml_opset is not None:
        opsets.append(helper.make_opsetid(ML, case.ml_opset))
    model = helper.make_model(graph, opset_imports=opsets, ir_version=ir_version(case.opset), producer_name=PRODUCER)

    # Declare the output types and shapes that ONNX shape inference derives.
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {v.name: v for v in list(inferred.graph.output) + list(inferred.graph.value_info)}
    del model.graph.output[:]
    for name in case.outputs:
        vi = known.get(name)
        if vi is None or vi.type.tensor_type.elem_type == TensorProto.UNDEFINED:
            vi = helper.make_empty_tensor_value_info(name)  # op without type inference: ask onnxruntime below
        out = onnx.ValueInfoProto()
        out.CopyFrom(vi)
        # Inferred symbolic names such as "unk__0" carry no meaning: drop them.
        for d in out.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param.startswith("unk__"):
                d.ClearField("dim_param")
        model.graph.output.append(out)
    unshaped = [o for o in model.graph.output if not o.type.tensor_type.HasField("shape")]
    if unshaped:
        # Inference could not tell the type or rank (ai.onnx.ml ops without
        # inference, data-dependent shapes): declare what onnxruntime produces,
        # with every dimension unknown.
        results = dict(zip(case.outputs, run_ort(model.SerializeToString(), first)))
        for o in unshaped:
            if o.type.tensor_type.elem_type == TensorProto.UNDEFINED:
                o.type.tensor_type.elem_type = tensor_type(results[o.name])
            for _ in range(results[o.name].ndim):
                o.type.tensor_type.shape.dim.add()
            if results[o.name].ndim == 0:
                o.type.tensor_type.shape.SetInParent()
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise SystemExit(f"{case.name}: check_model failed: {e}") from e
    return model


def run_ort(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list:
    from onnx.reference import ReferenceEvaluator
    try:
        with np.errstate(all="ignore"):
            return ReferenceEvaluator(model).run(None, feeds)
    except Exception as e:  # noqa: BLE001 - the reference is only a second opinion
        return [f"reference evaluator failed: {type(e).__name__}: {e}".splitlines()[0]]


def compare(expected: np.ndarray, got) -> str | None:
    if isinstance(got, str):
        return got
    got = np.asarray(got)
    if got.shape != expected.shape:
        return f"shape {got.shape} != {expected.shape}"
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype} != {expected.dtype}"
    if np.issubdtype(expected.dtype, np.floating):
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5, equal_nan=True):
            return f"max abs diff {np.max(np.abs(got.astype(np.float64) - expected)):.3g}"
    elif not np.array_equal(got, expected):
        return f"values differ ({int(np.sum(got != expected))} of {expected.size})"
    return None


def write_pb(path: pathlib.Path, array: np.ndarray, name: str) -> None:
    path.write_bytes(numpy_helper.from_array(np.array(array, order="C"), name=name).SerializeToString())


def write_dataset(folder: pathlib.Path, inputs: list[tuple[str, np.ndarray]], outputs: list[tuple[str, np.ndarray]]):
    folder.mkdir(parents=True)
    for i, (name, value) in enumerate(inputs):
        write_pb(folder / f"input_{i}.pb", value, name)
    for i, (name, value) in enumerate(outputs):
        write_pb(folder / f"output_{i}.pb", value, name)


def generate_ops(disagreements: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for family in FAMILIES:
        family()
    for case in CASES:
        rng = np.random.default_rng(zlib.crc32(case.name.encode()))
        inits = {k: materialize(v, rng) for k, v in case.inits.items()}
        datasets = [{k: materialize(v, rng) for k, v in feeds.items()} for feeds in case.feeds]
        for ds in datasets:
            for k, v in list(ds.items()) + list(inits.items()):
                if v.size > MAX_ELEMENTS:
                    raise SystemExit(f"{case.name}: {k} has {v.size} elements")
        model = build_model(case, datasets, inits)
        data = model.SerializeToString()
        folder = OPS_DIR / case.name
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(data)
        for k, feeds in enumerate(datasets):
            try:
                results = run_ort(data, feeds)
            except Exception as e:  # noqa: BLE001
                raise SystemExit(f"{case.name}: onnxruntime failed: {e}") from e
            for name, value in zip(case.outputs, results):
                if value.size > MAX_ELEMENTS:
                    raise SystemExit(f"{case.name}: output {name} has {value.size} elements")
            reference = run_reference(model, feeds)
            for i, expected in enumerate(results):
                got = reference[0] if isinstance(reference[0], str) else reference[i]
                problem = compare(expected, got)
                if problem and case.name not in KNOWN_DISAGREEMENTS:
                    disagreements.append(f"{case.name}/test_data_set_{k} {case.outputs[i]}: {problem}")
            write_dataset(folder / f"test_data_set_{k}", list(feeds.items()), list(zip(case.outputs, results)))
        counts[case.op] = counts.get(case.op, 0) + 1
    return counts


def generate_models() -> list[str]:
    written = []
    holdout = json.loads(DIGITS_HOLDOUT.read_text())
    digits_rows = np.array(holdout["inputs"], dtype=np.float32)
    specs = {
        "digits": lambda rng, n: digits_rows[:n],
        "mlp": lambda rng, n: rng.random((n, 784), dtype=np.float32),
        "cnn": lambda rng, n: rng.random((n, 1, 28, 28), dtype=np.float32),
    }
    for name, make_input in specs.items():
        model_rel = f"models/{name}/1/model.onnx"
        model_path = ROOT / model_rel
        onnx.checker.check_model(str(model_path), full_check=True)
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        output_names = [o.name for o in session.get_outputs()]
        folder = MODELS_DIR / name
        folder.mkdir(parents=True)
        (folder / "model_path.txt").write_text(model_rel)
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        for k, batch in enumerate((1, 3, 8)):
            x = make_input(rng, batch)
            results = session.run(None, {input_name: x})
            write_dataset(folder / f"test_data_set_{k}", [(input_name, x)], list(zip(output_names, results)))
        written.append(name)
    return written


def read_pb(path: pathlib.Path) -> tuple[str, np.ndarray]:
    t = TensorProto()
    t.ParseFromString(path.read_bytes())
    return t.name, numpy_helper.to_array(t)


def verify_tree() -> int:
    """Read every case back from disk, check it and rerun it; return the number of data sets run."""
    runs = 0
    for folder in sorted(OPS_DIR.iterdir()) + sorted(MODELS_DIR.iterdir()):
        model_file = folder / "model.onnx"
        if not model_file.exists():
            model_file = ROOT / (folder / "model_path.txt").read_text()
        model = onnx.load(str(model_file))
        onnx.checker.check_model(model, full_check=True)
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        input_names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        output_names = [o.name for o in model.graph.output]
        for ds in sorted(folder.glob("test_data_set_*")):
            ins = [read_pb(p) for p in sorted(ds.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))]
            outs = [read_pb(p) for p in sorted(ds.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))]
            if [n for n, _ in ins] != input_names or [n for n, _ in outs] != output_names:
                raise SystemExit(f"{ds}: tensor names do not match the graph")
            results = session.run(None, dict(ins))
            for (name, expected), got in zip(outs, results):
                problem = compare(expected, got)
                if problem:
                    raise SystemExit(f"{ds} {name}: rerun differs: {problem}")
            runs += 1
    return runs


def tree_size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    if not DIGITS_HOLDOUT.exists() or not (ROOT / "models" / "mlp" / "1" / "model.onnx").exists():
        print("run tools/make_models.py first", file=sys.stderr)
        return 1
    for folder in (OPS_DIR, MODELS_DIR):
        if folder.exists():
            shutil.rmtree(folder)
    disagreements: list[str] = []
    counts = generate_ops(disagreements)
    models = generate_models()
    runs = verify_tree()

    width = max(map(len, counts))
    for op in sorted(counts, key=str.lower):
        print(f"{op:<{width}}  {counts[op]}")
    print(f"{sum(counts.values())} cases in ops/, models: {', '.join(models)}; "
          f"{runs} data sets checked; Fixtures tree {tree_size(FIXTURES) / 1e6:.2f} MB")
    print(f"{len(KNOWN_DISAGREEMENTS)} cases where onnx.reference is known to differ from onnxruntime: "
          f"{', '.join(sorted(KNOWN_DISAGREEMENTS))}")
    if disagreements:
        print(f"\nonnxruntime and onnx.reference disagree on {len(disagreements)} more outputs "
              f"(onnxruntime's values are stored):")
        for line in disagreements:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
