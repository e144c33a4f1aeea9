"""`netspec doctor`: what each framework sees on this machine, and why a GPU is missing.

Each backend is asked in its own function, which imports the framework and never raises:
a framework that is not installed, or whose GPU support cannot start, is reported as such
with what to do about it.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from netspec import __version__
from netspec.train.context import default_threads, usable_cores

GPU_INSTALL = 'pip install -c constraints-gpu.txt -e ".[gpu]"'


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_device() -> dict[str, Any]:
    """The CPU as a device: bf16 is native with AVX512-BF16 or AMX, else emulated (slow)."""
    native = cpu_flags() & {"avx512_bf16", "amx_bf16"}
    return {
        "device": "cpu",
        "name": cpu_name(),
        "cores": usable_cores(),
        "bf16": "native" if native else "emulated (slow)",
    }


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version line, when one is loaded (Linux)."""
    try:
        return Path("/proc/driver/nvidia/version").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None


def torch_missing_gpu(brief: bool = False) -> str:
    """Why PyTorch sees no CUDA device here, in words a user can act on; `brief` for the
    line a run starts with (the install hint only where a GPU driver is loaded)."""
    import torch

    if torch.version.cuda is None and torch.version.hip is None:
        if brief and _nvidia_driver() is None:
            return f"no GPU found; PyTorch {torch.__version__} is a CPU-only build"
        return (
            f"this PyTorch ({torch.__version__}) is a CPU-only build; on a machine with an "
            f"NVIDIA GPU install the GPU extra: {GPU_INSTALL}"
        )
    if _nvidia_driver() is None and not Path("/dev/nvidiactl").exists():
        return "PyTorch is built with CUDA, but no NVIDIA driver is loaded (no GPU, or no driver)"
    try:
        torch.cuda.init()
    except Exception as error:  # the driver's own reason
        return f"CUDA could not start: {error}"
    return "PyTorch is built with CUDA, but it sees no CUDA device (CUDA_VISIBLE_DEVICES?)"


def torch_report() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"installed": False, "why": 'not installed: pip install -e ".[torch]"'}
    except Exception as error:
        return {"installed": False, "why": f"cannot be imported: {error}"}
    report: dict[str, Any] = {
        "installed": True,
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "threads": torch.get_num_threads(),
        "devices": [],
    }
    devices: list[dict[str, Any]] = report["devices"]
    devices.append(_cpu_device())
    count = 0
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        count = 0
    for index in range(count):
        properties = torch.cuda.get_device_properties(index)
        capability = (properties.major, properties.minor)
        devices.append(
            {
                "device": f"cuda:{index}",
                "name": properties.name,
                "memory_bytes": properties.total_memory,
                "capability": f"{properties.major}.{properties.minor}",
                "bf16": capability >= (8, 0),
                "tf32": capability >= (8, 0),
            }
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"device": "mps", "name": "Apple GPU", "bf16": False, "tf32": False})
    if count == 0:
        report["why_no_gpu"] = torch_missing_gpu()
    return report


def tensorflow_report(brief: bool = False) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        return {"installed": False, "why": 'not installed: pip install -e ".[keras]"'}
    except Exception as error:
        return {"installed": False, "why": f"cannot be imported: {error}"}
    build = dict(tf.sysconfig.get_build_info())
    report: dict[str, Any] = {
        "installed": True,
        "version": tf.__version__,
        "keras": _keras_version(),
        "built_with_cuda": bool(build.get("is_cuda_build", tf.test.is_built_with_cuda())),
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "all cores",
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "all cores",
        },
        "devices": [_cpu_device()],
    }
    gpus = tf.config.list_physical_devices("GPU")
    for index, gpu in enumerate(gpus):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        report["devices"].append(
            {
                "device": f"cuda:{index}",
                "name": details.get("device_name", gpu.name),
                "capability": ".".join(str(c) for c in capability) if capability else None,
                "bf16": bool(capability and tuple(capability) >= (8, 0)),
                "tf32": bool(capability and tuple(capability) >= (8, 0)),
            }
        )
    if not gpus:
        if not report["built_with_cuda"] and brief and _nvidia_driver() is None:
            report["why_no_gpu"] = f"no GPU found; TensorFlow {tf.__version__} is a CPU-only build"
        elif not report["built_with_cuda"]:
            report["why_no_gpu"] = (
                f"this TensorFlow ({tf.__version__}) is a CPU-only build (tensorflow-cpu); on a "
                f"machine with an NVIDIA GPU install the GPU extra: {GPU_INSTALL}"
            )
        elif _nvidia_driver() is None:
            report["why_no_gpu"] = "TensorFlow is built with CUDA, but no NVIDIA driver is loaded"
        else:
            report["why_no_gpu"] = (
                "TensorFlow is built with CUDA but found no usable GPU (its CUDA libraries, "
                "from tensorflow[and-cuda], may be missing)"
            )
    return report


# The distributions that install each framework's import package, in the order tried.
_DISTRIBUTIONS = {
    "torch": ("torch",),
    "keras": ("keras",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tf-nightly"),
}


def installed_versions() -> dict[str, str | None]:
    """netspec's, Python's and both frameworks' versions (None: not installed), read from the
    installed packages' metadata, so a run records the other framework's without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"netspec": __version__, "python": platform.python_version()}
    for package, distributions in _DISTRIBUTIONS.items():
        found[package] = None
        for distribution in distributions:
            try:
                found[package] = version(distribution)
                break
            except PackageNotFoundError:
                continue
    return found


def _keras_version() -> str | None:
    try:
        import keras

        return str(keras.__version__)
    except Exception:
        return None


def report(backends: tuple[str, ...] = ("torch", "keras")) -> dict[str, Any]:
    """Everything `netspec doctor` prints, as data (`--format json`)."""
    result: dict[str, Any] = {
        "netspec": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": {"name": cpu_name(), "cores": usable_cores(), "threads": default_threads()},
        "nvidia_driver": _nvidia_driver(),
    }
    if "torch" in backends:
        result["torch"] = torch_report()
    if "keras" in backends:
        result["tensorflow"] = tensorflow_report()
    return result


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def lines(result: dict[str, Any]) -> list[str]:
    """The report as text, a line each."""
    cpu = result["cpu"]
    out = [
        f"netspec {result['netspec']}, Python {result['python']}, {result['platform']}",
        f"CPU: {cpu['name']}, {cpu['cores']} usable core{'s' if cpu['cores'] != 1 else ''}; "
        f"netspec trains with {cpu['threads']} thread{'s' if cpu['threads'] != 1 else ''} "
        "by default (--threads N)",
        f"NVIDIA driver: {result['nvidia_driver'] or 'none loaded'}",
    ]
    for key, title in (("torch", "PyTorch"), ("tensorflow", "TensorFlow")):
        if key not in result:
            continue
        info = result[key]
        if not info["installed"]:
            out.append(f"{title}: {info['why']}")
            continue
        if key == "torch":
            build = f"CUDA {info['cuda']}, cuDNN {info['cudnn']}" if info["cuda"] else "CPU-only build"
            out.append(f"{title} {info['version']} ({build}), {info['threads']} threads")
        else:
            build = (
                f"CUDA {info['cuda']}, cuDNN {info['cudnn']}"
                if info["built_with_cuda"]
                else "CPU-only build"
            )
            keras = f", Keras {info['keras']}" if info.get("keras") else ""
            out.append(f"{title} {info['version']}{keras} ({build})")
        for device in info["devices"]:
            parts = [device["name"]]
            if "cores" in device:
                parts.append(f"{device['cores']} cores")
            if device.get("memory_bytes"):
                parts.append(_gib(device["memory_bytes"]))
            if device.get("capability"):
                parts.append(f"compute {device['capability']}")
            bf16 = device.get("bf16")
            parts.append(f"bf16 {bf16 if isinstance(bf16, str) else ('yes' if bf16 else 'no')}")
            if "tf32" in device:
                parts.append(f"TF32 {'yes' if device['tf32'] else 'no'}")
            out.append(f"  {device['device']}: " + ", ".join(parts))
        if "why_no_gpu" in info:
            out.append(f"  no GPU: {info['why_no_gpu']}")
    return out
