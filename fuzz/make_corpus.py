#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere; stdlib only).

Seeds are small, real inputs: requests as clients send them (curl, tritonclient, probes),
tritonclient-style v2 bodies in JSON and binary form, traceparent/tracestate values, and small
ONNX files from models/ and the ONNX runtime's test fixtures. Rerunning rewrites the files.
"""
import json
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def infer_body(name, shape, datatype, data, **extra):
    body = {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}
    body.update(extra)
    return json.dumps(body)


DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
         0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]


def http_parser():
    digits = infer_body("input", [1, 64], "FP32", DIGIT)
    requests = {
        "get-healthz": "GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: kube-probe/1.30\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        "curl-infer": f"POST /v2/models/digits/infer HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(digits)}\r\n\r\n{digits}",
        "tritonclient-infer": f"POST /v2/models/digits/versions/1/infer HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests\r\n"
                              f"Accept-Encoding: gzip, deflate\r\nContent-Length: {len(digits)}\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n{digits}",
        "binary-infer": "POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: 20\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: 24\r\n\r\n{\"inputs\":[],\"id\":\"\"}abcd",
        "chunked": "POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"inp\r\n3\r\nuts\r\n0\r\nTrailer: v\r\n\r\n",
        "pipelined": "GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
        "expect-continue": "POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
        "http10-keepalive": "GET /v2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /v2/models/mlp HTTP/1.0\r\n\r\n",
        "absolute-form": "GET http://localhost:8080/v2/models/mlp/ready?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "bare-lf": "GET /v2/health/live HTTP/1.1\nHost: x\n\n",
        "conflicting-framing": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "duplicate-length": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
        "huge-length": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "huge-chunk": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
        "garbage": "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
        "http2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    }
    for name, text in requests.items():
        # Byte 0: piece size - 1; byte 1: even selects the small limits.
        write("http-parser", name, bytes([255, 1]) + text.encode("latin-1"))
        write("http-parser", name + "-bytewise-small", bytes([0, 0]) + text.encode("latin-1"))


def traceparent():
    values = [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\0rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-future-part\0a@b=c, ,x=y",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t\0" + ",".join(f"k{i}=v{i}" for i in range(33)),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01\0key=value=with=equals",
    ]
    for i, value in enumerate(values):
        write("traceparent", f"seed-{i}", value)


def v2_bodies():
    mlp = [round((i % 17) / 16, 4) for i in range(784)]
    return {
        "digits": infer_body("input", [1, 64], "FP32", DIGIT),
        "digits-nested-outputs": json.dumps({
            "id": "req-1", "parameters": {"timeout": 100000},
            "inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": [DIGIT, DIGIT]}],
            "outputs": [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": False}}]}),
        "tritonclient-json": json.dumps({
            "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": DIGIT}],
            "outputs": [{"name": "label", "parameters": {"binary_data": False}}],
            "parameters": {"binary_data_output": False}}),
        "mlp": infer_body("input", [1, 784], "FP32", mlp),
        "int-types": json.dumps({"inputs": [
            {"name": "a", "shape": [3], "datatype": "INT64", "data": [-9223372036854775808, 0, 9223372036854775807]},
            {"name": "b", "shape": [2], "datatype": "INT32", "data": [-2147483648, 3e0]},
            {"name": "c", "shape": [2], "datatype": "INT8", "data": [-128, 127]},
            {"name": "d", "shape": [2], "datatype": "UINT8", "data": [0, 255]},
            {"name": "e", "shape": [2], "datatype": "BOOL", "data": [True, False]},
            {"name": "f", "shape": [1, 1], "datatype": "FP64", "data": [[1.7976931348623157e308]]}]}),
        "fixed-int64": infer_body("x", [2, 3], "INT64", [[1, 2, 3], [4, 5, 6]]),
        "empty-and-scalar": json.dumps({"inputs": [
            {"name": "z", "shape": [0, 4], "datatype": "FP32", "data": []},
            {"name": "s", "shape": [], "datatype": "FP32", "data": [-0.0]}]}),
        "bad-datatype": infer_body("input", [1, 2], "BYTES", ["a", "b"]),
        "bad-shape": infer_body("input", [-1, 64], "FP32", DIGIT),
        "bad-count": infer_body("input", [1, 65], "FP32", DIGIT),
        "overflow-shape": infer_body("input", [9223372036854775807, 9223372036854775807], "FP32", [1]),
        "escapes": '{"id":"\\ud83d\\ude00\\n\\u0000","inputs":[{"name":"in\\"put","shape":[1],"datatype":"FP32","data":[1e-45]}]}',
        "data-first": '{"inputs":[{"data":[1,2],"datatype":"FP32","shape":[2],"name":"x","parameters":{"k":[null,{}]}}]}',
        "nan": '{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[NaN]}]}',
        "deep": '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":' + "[" * 70 + "1" + "]" * 70 + "}]}",
    }


def v2_json():
    for name, body in v2_bodies().items():
        write("v2-json", name, body)


def v2_binary():
    def binary(header, payload):
        encoded = json.dumps(header).encode()
        return struct.pack("<H", len(encoded)) + encoded + payload

    pixels = struct.pack("<64f", *DIGIT)
    write("v2-binary", "tritonclient-binary", binary({
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 256}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}, pixels))
    write("v2-binary", "two-inputs", binary({
        "inputs": [{"name": "a", "shape": [2, 2], "datatype": "INT64", "parameters": {"binary_data_size": 32}},
                   {"name": "b", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}},
                   {"name": "c", "shape": [1], "datatype": "FP32", "data": [2.5]}],
        "parameters": {"binary_data_output": True}}, struct.pack("<4q", 1, -2, 3, -4) + bytes([1, 0, 1])))
    write("v2-binary", "non-finite", binary({
        "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]},
        struct.pack("<3f", float("nan"), float("inf"), float("-inf"))))
    write("v2-binary", "header-too-long", b"\xff\x00" + json.dumps({"inputs": []}).encode())
    write("v2-binary", "size-mismatch", binary({
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 255}}]}, pixels))
    for name, body in list(v2_bodies().items())[:4]:
        write("v2-binary", "json-" + name, b"\xff\xff" + body.encode())


def onnx_loader():
    fixtures = ROOT / "Tests" / "ONNXRuntimeTests" / "Fixtures"
    chosen = ["ops/abs_2d", "ops/add_broadcast_row", "ops/argmax_axis1_keepdims", "ops/averagepool_ceil_mode",
              "ops/batchnormalization_4d", "ops/cast_float_to_int64", "ops/clip_min_max", "ops/concat_axis_1",
              "ops/constant_value_floats", "ops/constantofshape_int64", "ops/conv_1x1",
              "handmade/split_sizes_input_opset13", "handmade/tile_2d", "handmade/reducel2_axes_attr",
              "handmade/conv_depthwise_same_upper_stride2", "handmade/size_and_shape_slice_opset15",
              "handmade/pattern_attention_block", "handmade/external_data_weights"]
    for more in ["gemm", "matmul", "reshape", "softmax", "gather", "transpose", "unsqueeze", "where", "linearclassifier",
                 "zipmap", "normalizer", "maxpool", "relu", "slice", "expand", "layernormalization"]:
        matches = sorted(p.parent for p in (fixtures / "ops").glob(f"{more}*/model.onnx"))
        if matches:
            chosen.append(str(matches[0].relative_to(fixtures)))
    for name in chosen:
        model = fixtures / name / "model.onnx"
        if model.exists() and model.stat().st_size <= 64 * 1024:
            write("onnx-loader", name.replace("/", "-") + ".onnx", model.read_bytes())
    for name in ["digits", "cnn"]:
        model = ROOT / "models" / name / "1" / "model.onnx"
        if model.stat().st_size <= 64 * 1024:
            write("onnx-loader", f"model-{name}.onnx", model.read_bytes())


def main():
    for target in ["http-parser", "traceparent", "v2-json", "v2-binary", "onnx-loader"]:
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    http_parser()
    traceparent()
    v2_json()
    v2_binary()
    onnx_loader()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
