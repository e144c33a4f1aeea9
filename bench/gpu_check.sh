#!/usr/bin/env bash
# One prepared GPU check: netspec's generated PyTorch loop against careful hand-written loops,
# fp32 and bf16, on the CNN and ResNet-20 specs (bench/gpu_bench.py prints what and how).
#
#   bash bench/gpu_check.sh                          on a machine with a CUDA build of PyTorch
#   bash bench/gpu_check.sh --device cpu --steps 5   a dry run anywhere: a few steps per run
#
# Any other arguments go to bench/gpu_bench.py (--epochs, --models, --batch, --workers,
# --budget). The whole check stays under 8 minutes: each run of gpu_bench.py is skipped once
# its budget (360 s) is spent and it stops at 380 s; then bench/distributed_speed.py --gpu
# (torchrun with 1 worker against plain training, and --devices N when there are several
# GPUs) gets 85 s.
#
# A machine whose Python lacks netspec and its own dependencies (lark, pydantic) and reaches
# no package registry installs them from bench/wheels/, which bench/make_wheels.sh fills here
# (about 12 MB, ignored by git), into a folder put on PYTHONPATH, beside the machine's own
# packages (its CUDA PyTorch, numpy, Pillow, safetensors, …): nothing is downloaded there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
case $PYTHON in  # an absolute path: the checks below run from another folder
    /*) ;;
    */*) PYTHON="$PWD/$PYTHON" ;;
    *) PYTHON=$(command -v "$PYTHON") ;;
esac
installed() {  # netspec with its grammar, and its dependencies, importable by $PYTHON
    (cd / && "$PYTHON" -c "import lark, pydantic, netspec.check; from importlib import resources; resources.files('netspec.grammars').joinpath('netspec.lark').read_text()") >/dev/null 2>&1
}
if ! installed; then
    if ! ls bench/wheels/netspec-*.whl >/dev/null 2>&1; then
        echo "gpu_check: netspec is not installed here and bench/wheels/ has no netspec wheel;" >&2
        echo "           run bench/make_wheels.sh on a machine with a package registry first" >&2
        exit 2
    fi
    # into a folder of its own, on PYTHONPATH: the machine's own packages (its CUDA PyTorch,
    # numpy, Pillow, safetensors, rich, typer) stay as they are
    TARGET=${GPU_CHECK_PACKAGES:-${TMPDIR:-/tmp}/netspec-gpu-check}
    "$PYTHON" -m pip install --quiet --upgrade --no-index --target "$TARGET" --no-deps bench/wheels/netspec-*.whl
    "$PYTHON" -m pip install --quiet --upgrade --no-index --target "$TARGET" --find-links bench/wheels \
        lark pydantic
    export PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}"
    installed || { echo "gpu_check: installing from bench/wheels/ did not work" >&2; exit 2; }
fi

"$PYTHON" - <<'PY'
import torch
cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
      + (f"{torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}" if cuda else "no GPU"))
PY
status=0
timeout --signal=INT 380 "$PYTHON" bench/gpu_bench.py --budget 360 "$@" || status=$?
# data-parallel: torchrun with 1 worker against plain training; --devices N on several GPUs
timeout --signal=INT 85 "$PYTHON" bench/distributed_speed.py --gpu --epochs 3 || status=$?
exit $status
