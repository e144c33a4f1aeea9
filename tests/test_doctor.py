"""`netspec doctor`: what each framework sees, and why a GPU is missing, on a CPU-only install."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from netspec.cli import app
from netspec.train import doctor

torch = pytest.importorskip("torch")


def test_doctor_reports_both_frameworks_as_json() -> None:
    result = CliRunner().invoke(app, ["doctor", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cpu"]["cores"] >= 1 and report["cpu"]["threads"] >= 1
    info = report["torch"]
    assert info["installed"] and info["version"] == torch.__version__
    cpu = info["devices"][0]
    assert cpu["device"] == "cpu" and cpu["bf16"] in ("native", "emulated (slow)")
    tf = report["tensorflow"]
    assert tf["installed"] and tf["version"].startswith("2.") and tf["keras"].startswith("3.")
    if not torch.cuda.is_available():
        assert len(info["devices"]) == 1 + (info["devices"][-1]["device"] == "mps")
        assert info["why_no_gpu"]
    if torch.version.cuda is None:  # the CPU install: the reason names the build and the fix
        assert "CPU-only build" in info["why_no_gpu"] and ".[gpu]" in info["why_no_gpu"]
        assert info["cuda"] is None
    if not tf["built_with_cuda"]:
        assert "CPU-only build" in tf["why_no_gpu"]


def test_doctor_text_names_each_backend_and_device() -> None:
    result = CliRunner().invoke(app, ["doctor", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("netspec ") and "Python" in lines[0]
    assert lines[1].startswith("CPU: ") and "usable core" in lines[1]
    assert any(line.startswith(f"PyTorch {torch.__version__}") for line in lines)
    assert any(line.startswith("  cpu: ") and "bf16" in line for line in lines)
    assert not any(line.startswith("TensorFlow") for line in lines)  # --backend torch only


@pytest.mark.parametrize(
    ("cuda", "driver", "reason"),
    [
        (None, None, "no GPU found; PyTorch 9.9.9+cpu is a CPU-only build"),
        (None, "NVRM version: 580.65", "is a CPU-only build; on a machine with an NVIDIA GPU"),
        ("13.0", None, "no NVIDIA driver is loaded"),
    ],
    ids=["cpu-build-no-driver", "cpu-build-with-driver", "cuda-build-no-driver"],
)
def test_why_pytorch_sees_no_gpu(
    monkeypatch: pytest.MonkeyPatch, cuda: str | None, driver: str | None, reason: str
) -> None:
    monkeypatch.setattr(torch, "version", SimpleNamespace(cuda=cuda, hip=None))
    monkeypatch.setattr(torch, "__version__", "9.9.9+cpu")
    monkeypatch.setattr(doctor, "_nvidia_driver", lambda: driver)
    monkeypatch.setattr(doctor.Path, "exists", lambda self: False)
    assert reason in doctor.torch_missing_gpu(brief=True)
