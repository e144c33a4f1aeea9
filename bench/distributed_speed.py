"""Data-parallel training's cost: seconds per epoch, N workers against one process.

    python bench/distributed_speed.py            CPU: 2 workers x 1 thread against 1 process
                                                 x 2 threads (MLP, CNN), and gloo's cost per step
    python bench/distributed_speed.py --gpu      GPU: torchrun with 1 worker against plain
                                                 training; with several GPUs, --devices N too

Every figure is the median epoch time of `netspec train` runs (run.json's epoch_seconds, the
first epoch left out as warm-up) on the same spec, seed and global batch. On a 2-core machine
the CPU figures measure overhead, not speed-up: two workers share the cores one process uses.
The communication cost per step is (epoch time of 2 workers / steps) minus (epoch time of one
process with 1 thread at half the batch / steps): what a step costs beyond its half of the work.
Data: scikit-learn's digits and Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist/);
nothing is downloaded.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_subset(folder: Path, samples: int) -> Path:
    """The first `samples` Fashion-MNIST training images as an npz (the CNN's epochs stay short)."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    path = folder / f"fashion_{samples}.npz"
    np.savez(path, x=images[:samples], y=labels[:samples].astype(np.int64))
    return path


def epoch_seconds(arguments: list[str], out: Path, launcher: list[str] | None = None) -> float:
    """The median epoch time of one `netspec train` run, its first epoch left out."""
    command = [*(launcher or [sys.executable, "-m", "netspec"]), "train", *arguments, "-o", str(out), "--log", "quiet"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    if result.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    seconds = json.loads((out / "run.json").read_text())["epoch_seconds"]
    return statistics.median(seconds[1:] or seconds)


def cpu(folder: Path, epochs: int) -> None:
    cnn_data = f'npz("{fashion_subset(folder, 6000)}")'
    jobs = {  # name: (arguments, global batch, training samples)
        "mnist_mlp (60,000 samples, batch 32)": (["specs/mnist_mlp.net"], 32, 60000),
        "mnist_cnn (4,800 samples, batch 64)": (["specs/mnist_cnn.net", "--data", cnn_data], 64, 4800),
    }
    print(f"{'spec':38} {'1 x 2 threads':>14} {'2 x 1 thread':>13} {'ratio':>6} {'1 x 1, half batch':>18} {'comm/step':>10}")
    for index, (name, (job, batch, samples)) in enumerate(jobs.items()):
        common = [*job, "--epochs", str(epochs), "--backend", "torch", "--device", "cpu"]
        steps = -(-samples // batch)
        one = epoch_seconds([*common, "--batch-size", str(batch), "--threads", "2"], folder / f"one{index}")
        two = epoch_seconds([*common, "--batch-size", str(batch), "--devices", "2"], folder / f"two{index}")
        half = [*common, "--batch-size", str(batch // 2), "--threads", "1"]
        half_step = epoch_seconds(half, folder / f"half{index}") / (2 * steps)  # twice the steps
        communication = two / steps - half_step
        print(
            f"{name:38} {one:13.2f}s {two:12.2f}s {two / one:6.2f} {half_step * 1e3:16.2f}ms "
            f"{communication * 1e3:8.2f}ms"
        )


def gpu(folder: Path, epochs: int) -> None:
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        raise SystemExit("no GPU here (torch.cuda.device_count() is 0)")
    job = ["specs/mnist_cnn.net", "--epochs", str(epochs), "--device", "cuda"]
    plain = epoch_seconds(job, folder / "plain")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "netspec", "--"]
    one_worker = epoch_seconds(job, folder / "torchrun1", launcher=torchrun)
    print(f"mnist_cnn on {torch.cuda.get_device_name(0)}: plain {plain:.2f}s/epoch, torchrun 1 worker "
          f"{one_worker:.2f}s/epoch, overhead {100 * (one_worker / plain - 1):+.1f}%")
    if count > 1:
        many = epoch_seconds([*job, "--devices", str(count)], folder / f"ddp{count}")
        print(f"--devices {count} (DDP, NCCL): {many:.2f}s/epoch, speed-up {plain / many:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="the GPU figures instead of the CPU ones")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (gpu if arguments.gpu else cpu)(Path(folder), arguments.epochs)


if __name__ == "__main__":
    main()
