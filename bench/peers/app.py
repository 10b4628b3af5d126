"""Open Inference Protocol v2 REST service on FastAPI + uvicorn + onnxruntime.

The peer in bench/e2e.sh: a plain Python service for the same ONNX models. Every
worker process loads each `<MODEL_REPOSITORY>/<name>/<version>/model.onnx` once into an onnxruntime
InferenceSession at import time; requests are parsed with orjson into numpy arrays, run, and answered with
the v2 response shape (outputs with name, datatype, shape and flat data).

    MODEL_REPOSITORY=models uvicorn app:app --app-dir bench/peers --host 127.0.0.1 --port 8000 \
        --workers 2 --no-access-log

Settings (environment):
    MODEL_REPOSITORY      folder of <name>/<version>/model.onnx (default ./models)
    ORT_INTRA_OP_THREADS  onnxruntime threads inside one run (default 1)
    PEER_OFFLOAD          "inline": run the model on the event loop (default, best on a worker per CPU);
                          "threadpool": run it in Starlette's thread pool so the loop keeps accepting
"""
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

V2_TO_NUMPY = {
    "BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}
ORT_TO_V2 = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(int8)": "INT8", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
}
NUMPY_TO_V2 = {np.dtype(t): name for name, t in V2_TO_NUMPY.items()}


class InferError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Model:
    def __init__(self, name: str, version: str, path: Path, intra_op_threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.name, self.version = name, version
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def metadata(self) -> dict:
        def tensor(t):
            shape = [d if isinstance(d, int) else -1 for d in t.shape]
            return {"name": t.name, "datatype": ORT_TO_V2.get(t.type, t.type), "shape": shape}
        return {"name": self.name, "versions": [self.version], "platform": "onnxruntime_onnx",
                "inputs": [tensor(t) for t in self.session.get_inputs()],
                "outputs": [tensor(t) for t in self.session.get_outputs()]}

    def feeds(self, body: dict) -> dict:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise InferError(400, "inputs must be a non-empty array")
        feeds = {}
        for k, item in enumerate(inputs):
            if not isinstance(item, dict):
                raise InferError(400, f"inputs[{k}] must be an object")
            name, shape, datatype, data = item.get("name"), item.get("shape"), item.get("datatype"), item.get("data")
            spec = self.inputs.get(name)
            if spec is None:
                raise InferError(422, f"inputs[{k}].name {name!r} is not an input of {self.name}")
            expected_type = ORT_TO_V2.get(spec.type)
            if datatype != expected_type:
                raise InferError(422, f"inputs[{k}] ({name}) datatype is {datatype!r}, expected {expected_type}")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise InferError(400, f"inputs[{k}].shape must be an array of non-negative integers")
            if len(shape) != len(spec.shape) or any(
                    isinstance(want, int) and want != got for want, got in zip(spec.shape, shape)):
                raise InferError(422, f"inputs[{k}] ({name}) shape {shape} does not match {spec.shape}")
            try:
                array = np.asarray(data, dtype=V2_TO_NUMPY[datatype])
            except (TypeError, ValueError) as error:
                raise InferError(400, f"inputs[{k}].data: {error}") from None
            if array.size != int(np.prod(shape)):
                raise InferError(422, f"inputs[{k}] ({name}) has {array.size} elements, shape {shape} needs {int(np.prod(shape))}")
            feeds[name] = array.reshape(shape)
        missing = self.inputs.keys() - feeds.keys()
        if missing:
            raise InferError(422, f"missing inputs: {sorted(missing)}")
        return feeds

    def run(self, feeds: dict, output_names: list) -> list:
        return self.session.run(output_names, feeds)


def load_models(repository: Path, intra_op_threads: int) -> dict:
    models = {}
    for model_dir in sorted(p for p in repository.iterdir() if p.is_dir()):
        versions = sorted((p for p in model_dir.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()),
                          key=lambda p: int(p.name))
        for version_dir in versions:  # newest version last, so it becomes the default
            model = Model(model_dir.name, version_dir.name, version_dir / "model.onnx", intra_op_threads)
            models[(model_dir.name, version_dir.name)] = model
            models[(model_dir.name, None)] = model
    return models


MODELS = load_models(Path(os.environ.get("MODEL_REPOSITORY", "models")),
                     int(os.environ.get("ORT_INTRA_OP_THREADS", "1")))
OFFLOAD = os.environ.get("PEER_OFFLOAD", "inline")
if OFFLOAD not in ("inline", "threadpool"):
    raise SystemExit(f"PEER_OFFLOAD must be inline or threadpool, not {OFFLOAD!r}")

app = FastAPI(title="v2 inference peer (FastAPI + onnxruntime)", docs_url=None, redoc_url=None, openapi_url=None)


def json_response(content, status: int = 200) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


@app.get("/v2/health/live")
async def live():
    return Response(status_code=200)


@app.get("/v2/health/ready")
async def ready():
    return Response(status_code=200 if MODELS else 503)


@app.get("/v2/models/{model_name}")
async def metadata(model_name: str):
    model = MODELS.get((model_name, None))
    return json_response(model.metadata()) if model else error(404, f"unknown model {model_name!r}")


async def infer(model_name: str, version: str | None, request: Request) -> Response:
    model = MODELS.get((model_name, version))
    if model is None:
        return error(404, f"unknown model {model_name!r}" + (f" version {version!r}" if version else ""))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as e:
        return error(400, f"malformed JSON: {e}")
    if not isinstance(body, dict):
        return error(400, "the request body must be a JSON object")
    try:
        feeds = model.feeds(body)
        requested = body.get("outputs")
        names = model.output_names
        if requested:
            names = [o.get("name") for o in requested if isinstance(o, dict)]
            unknown = [n for n in names if n not in model.output_names]
            if unknown:
                raise InferError(422, f"unknown outputs {unknown}")
    except InferError as e:
        return error(e.status, e.message)
    if OFFLOAD == "threadpool":
        results = await run_in_threadpool(model.run, feeds, names)
    else:
        results = model.run(feeds, names)
    outputs = [{"name": n, "datatype": NUMPY_TO_V2[r.dtype], "shape": list(r.shape), "data": r.ravel()}
               for n, r in zip(names, results)]
    response = {"model_name": model.name, "model_version": model.version, "outputs": outputs}
    if "id" in body:
        response["id"] = body["id"]
    return json_response(response)


@app.post("/v2/models/{model_name}/infer")
async def infer_latest(model_name: str, request: Request):
    return await infer(model_name, None, request)


@app.post("/v2/models/{model_name}/versions/{version}/infer")
async def infer_version(model_name: str, version: str, request: Request):
    return await infer(model_name, version, request)
