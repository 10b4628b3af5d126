#!/bin/sh
# Rebuild the bundled models (models/) and the ONNX test fixtures
# (Tests/ONNXRuntimeTests/Fixtures/{ops,models},
#  Tests/InferenceServerTests/Fixtures/digits_holdout.json).
#
# Creates <repo>/.venv from tools/requirements.txt when it is missing (and
# reinstalls when requirements.txt changed), then runs tools/make_models.py and
# tools/make_fixtures.py.  PYTHON chooses the interpreter that creates the
# environment (default: python3).
#
#   tools/make_fixtures.sh
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
if ! cmp -s tools/requirements.txt .venv/requirements.installed; then
    .venv/bin/pip install --quiet -r tools/requirements.txt
    cp tools/requirements.txt .venv/requirements.installed
fi

.venv/bin/python tools/make_models.py
.venv/bin/python tools/make_fixtures.py
