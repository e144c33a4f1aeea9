#!/usr/bin/env bash
# Fill bench/wheels/ (ignored by git) with what bench/gpu_check.sh installs on a GPU machine
# that reaches no package registry: a wheel of netspec, and netspec's pure-Python
# dependencies with pydantic-core's binary wheels for the Pythons a GPU image may have.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
rm -rf bench/wheels && mkdir -p bench/wheels
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir bench/wheels .
for version in 3.10 3.11 3.12 3.13; do
    "$PYTHON" -m pip download --quiet --only-binary=:all: --dest bench/wheels \
        --python-version "$version" --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        lark pydantic typer rich
done
du -sh bench/wheels
