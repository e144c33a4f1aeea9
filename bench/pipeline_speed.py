"""How netspec's data pipelines perform: streaming against in memory, memory, image folders.

Parts (each in fresh subprocesses, as in train_speed.py, so that thread pools and allocator
state do not leak between runs):

  speed    The MLP of specs/mnist_mlp.net on Fashion-MNIST (60,000 training images), read
           from a folder of .npy files (`npy_dir`) in memory (pipeline = memory) and
           streamed (pipeline = stream, workers 0 and 1): steady-state seconds per epoch and
           the ratio in-memory / streamed (>= 0.9 is the target). PyTorch and Keras.
  rss      Peak resident memory of `netspec train` on a 2 GB .npy array (streamed, and in
           memory for comparison): the process's own VmHWM plus its DataLoader workers'.
  images   Fashion-MNIST training images written as PNG files into one folder per class:
           images/s of one pass of netspec's streamed pipeline (the generated make_loader over
           netspec's image_folder split) against a hand-written Dataset + DataLoader with the
           same workers and the same decoding (Pillow, greyscale, to float32 / 255).
  compile  torch.compile (`compile = true`) against eager PyTorch for the MLP on the CPU.

Run:   .venv/bin/python bench/pipeline_speed.py                          (all parts)
       .venv/bin/python bench/pipeline_speed.py --part images --images 20000
       .venv/bin/python bench/pipeline_speed.py --part rss --rss-gb 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from train_speed import FASHION_MNIST, read_idx, steady, wait_quiet  # noqa: E402

MLP = ROOT / "specs" / "mnist_mlp.net"
CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"
)  # fmt: skip


# --------------------------------------------------------------------------- data


def fashion_mnist() -> dict[str, np.ndarray]:
    names = {
        "x": "train-images-idx3-ubyte",
        "y": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    return {key: read_idx(FASHION_MNIST / f"{stem}.gz") for key, stem in names.items()}


def write_npy_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in fashion_mnist().items():
        np.save(folder / f"{key}.npy", array.astype(np.int64) if key.startswith("y") else array)
    return folder


def write_big_npy(folder: Path, gigabytes: float) -> Path:
    """x.npy of float32 rows of 784 values (about `gigabytes` GB), y.npy of labels 0-9,
    written a block at a time so that writing it needs little memory."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = int(gigabytes * 1e9 / (784 * 4))
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(rows, 784))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 50_000):
        stop = min(start + 50_000, rows)
        x[start:stop] = rng.random((stop - start, 784), dtype=np.float32)
    x.flush()
    del x
    np.save(folder / "y.npy", rng.integers(0, 10, size=rows))
    return folder


def write_png_folder(folder: Path, count: int) -> Path:
    """The first `count` Fashion-MNIST training images as PNG files, a folder per class."""
    from PIL import Image

    arrays = fashion_mnist()
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for k in range(count):
        Image.fromarray(arrays["x"][k]).save(folder / CLASSES[arrays["y"][k]] / f"{k:05d}.png")
    return folder


# --------------------------------------------------------------------------- workers


def spec_on(data: str, tmp: Path, extra: str = "") -> Path:
    """specs/mnist_mlp.net with its data replaced (and settings added)."""
    text = MLP.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.strip().startswith("data")]
    text = "\n".join(lines).replace("train {", f"train {{\n    data = {data}\n{extra}", 1)
    path = tmp / f"mlp_{abs(hash((data, extra)))}.net"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def run_train(job: dict[str, Any]) -> dict[str, Any]:
    from netspec.train import TrainOptions, train

    out = Path(job["out"])
    options = TrainOptions(
        backend=job["backend"], device="cpu", log="quiet", threads=job["threads"], out=out
    )
    started = time.perf_counter()
    outcome = train(Path(job["spec"]), job["overrides"], options)
    if outcome.status != 0:
        raise SystemExit(f"netspec train failed: {[d.message for d in outcome.diagnostics]}")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {
        "epoch_seconds": record["epoch_seconds"],
        "test_accuracy": (outcome.result or {}).get("test", {}).get("accuracy"),
        "pipeline": record["pipeline"],
        "wall": time.perf_counter() - started,
    }


def run_loader(job: dict[str, Any]) -> dict[str, Any]:
    """Images/s of one pass over an image folder: netspec's pipeline or a hand-written one."""
    import torch

    torch.set_num_threads(job["threads"])
    folder, workers, batch = Path(job["folder"]), job["workers"], job["batch"]
    if job["kind"] == "netspec":
        import importlib.util

        from netspec import data
        from netspec.codegen import generate
        from netspec.frontend import check_file

        spec = Path(job["spec"])
        model, diagnostics, _ = check_file(spec)
        assert model is not None, list(diagnostics)
        prepared = data.prepare(model, model.train)
        path = Path(job["tmp"]) / "loader_module.py"
        path.write_text(generate(model, "torch"), encoding="utf-8")
        module_spec = importlib.util.spec_from_file_location("loader_module", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        loader = module.make_loader(
            prepared.train, batch_size=batch, seed=0, shuffle=True, workers=workers
        )
    else:
        loader = _handwritten_loader(folder, batch, workers)
    passes = []
    for _ in range(job["passes"]):
        started, images = time.perf_counter(), 0
        for x, _y in loader:
            images += len(x)
        passes.append(images / (time.perf_counter() - started))
    return {"images_per_second": passes, "images": images}


def _handwritten_loader(folder: Path, batch: int, workers: int) -> Any:
    """What a careful user writes: one file per __getitem__, Pillow, default collation."""
    import torch
    from PIL import Image

    class Folder(torch.utils.data.Dataset):
        def __init__(self, root: Path) -> None:
            classes = sorted(p.name for p in root.iterdir() if p.is_dir())
            self.items = [
                (str(f), label)
                for label, name in enumerate(classes)
                for f in sorted((root / name).iterdir())
            ]

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
            path, label = self.items[index]
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.uint8)
            x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255)).reshape(28, 28, 1)
            return x, label

    return torch.utils.data.DataLoader(
        Folder(folder),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )


def worker(job: dict[str, Any]) -> dict[str, Any]:
    return run_loader(job) if job["part"] == "images" else run_train(job)


# --------------------------------------------------------------------------- driver


def launch(job: dict[str, Any], watch_memory: bool = False) -> dict[str, Any]:
    """One job in a fresh interpreter; with `watch_memory`, the peak resident memory of it
    and its children (sampled every 0.1 s, and the process's own VmHWM)."""
    wait_quiet(60.0, 0.15)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peaks = {"total": 0, "own_hwm": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            own = _status(process.pid)
            if own:
                peaks["own_hwm"] = max(peaks["own_hwm"], own.get("VmHWM", 0))
                total = own.get("VmRSS", 0) + sum(
                    _status(child).get("VmRSS", 0) for child in _children(process.pid)
                )
                peaks["total"] = max(peaks["total"], total)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    if watch_memory:
        watcher.start()
    stdout, stderr = process.communicate()
    done.set()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        sys.stderr.write(stdout[-3000:] + stderr[-3000:])
        raise SystemExit(f"{job} failed with exit status {process.returncode}")
    result = json.loads(lines[-1][len("RESULT ") :])
    if watch_memory:
        result["peak_rss_mb"] = peaks["total"] / 1024
        result["own_hwm_mb"] = peaks["own_hwm"] / 1024
    return result


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a process, from /proc; {} once it has gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(p) for p in text.split()]


def part_speed(tmp: Path, args: argparse.Namespace) -> None:
    folder = write_npy_dir(tmp / "npy")
    spec = spec_on(f'npy_dir("{folder}")', tmp)
    print(
        f"\nspeed: the MLP (batch 32) on 60,000 Fashion-MNIST images from npy_dir, "
        f"{args.epochs} epochs, {args.threads} threads; steady state = best epoch after the first"
    )
    print(f"{'backend':<7} {'pipeline':<8} {'workers':>7} {'s/epoch':>8} {'ratio':>6} {'test%':>6}  epochs (s)")
    configs = [(b, pipeline, workers) for b in args.backends for pipeline, workers in
               (("memory", 0), ("stream", 0), ("stream", 1))]  # fmt: skip
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(args.repeat):  # rounds of every configuration: the machine's drift hits all
        for backend, pipeline, workers in configs:
            job = {
                "part": "speed", "backend": backend, "spec": str(spec), "threads": args.threads,
                "out": str(tmp / f"run-{backend}-{pipeline}-{workers}-{len(results[backend, pipeline, workers])}"),
                "overrides": {"epochs": str(args.epochs), "pipeline": pipeline, "workers": str(workers)},
            }  # fmt: skip
            results[backend, pipeline, workers].append(launch(job))
    for backend, pipeline, workers in configs:
        runs = results[backend, pipeline, workers]
        best = min(runs, key=lambda r: steady(r["epoch_seconds"]))
        seconds = steady(best["epoch_seconds"])
        memory = min(steady(r["epoch_seconds"]) for r in results[backend, "memory", 0])
        print(
            f"{backend:<7} {pipeline:<8} {workers:>7} {seconds:8.3f} {memory / seconds:6.2f} "
            f"{100 * best['test_accuracy']:6.1f}  "
            + " ".join(f"{s:.2f}" for s in best["epoch_seconds"])
            + "   (runs: " + " ".join(f"{steady(r['epoch_seconds']):.2f}" for r in runs) + ")",
            flush=True,
        )


def part_rss(tmp: Path, args: argparse.Namespace) -> None:
    folder = write_big_npy(tmp / "big", args.rss_gb)
    size = (folder / "x.npy").stat().st_size / 1e9
    spec = spec_on(f'npy_dir("{folder}")', tmp, "    test_split = 0.05\n")
    print(
        f"\nrss: `netspec train` (torch, the MLP, batch 256, 1 epoch) on a {size:.2f} GB x.npy "
        f"({size * 1e9 / 3136:,.0f} rows of 784 float32)"
    )
    for pipeline, workers in args.rss_runs:
        job = {
            "part": "rss", "backend": "torch", "spec": str(spec), "threads": args.threads,
            "out": str(tmp / f"rss-{pipeline}-{workers}"),
            "overrides": {"epochs": "1", "batch_size": "256", "pipeline": pipeline, "workers": str(workers)},
        }  # fmt: skip
        result = launch(job, watch_memory=True)
        print(
            f"  pipeline {pipeline:<6} workers {workers}: peak RSS {result['peak_rss_mb']:,.0f} MB "
            f"(training process alone: VmHWM {result['own_hwm_mb']:,.0f} MB), epoch "
            f"{result['epoch_seconds'][0]:.1f} s, wall {result['wall']:.1f} s",
            flush=True,
        )


def part_images(tmp: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    folder = write_png_folder(tmp / "png", args.images)
    written = time.perf_counter() - started
    spec = spec_on(f'image_folder("{folder}")', tmp, "    test_split = 0.0\n")
    print(
        f"\nimages: {args.images:,} Fashion-MNIST PNGs (written in {written:.1f} s), batch 64, "
        f"one pass each, best of {args.passes} passes (the first warms the page cache)"
    )
    print(f"{'workers':>7} {'hand-written img/s':>19} {'netspec img/s':>14} {'ratio':>6}")
    for workers in args.image_workers:
        figures = {}
        for kind in ("handwritten", "netspec"):
            job = {
                "part": "images", "kind": kind, "folder": str(folder), "spec": str(spec),
                "workers": workers, "batch": 64, "passes": args.passes, "threads": 1,
                "tmp": str(tmp),
            }  # fmt: skip
            figures[kind] = max(launch(job)["images_per_second"])
        ratio = figures["netspec"] / figures["handwritten"]
        print(
            f"{workers:>7} {figures['handwritten']:19,.0f} {figures['netspec']:14,.0f} {ratio:6.2f}",
            flush=True,
        )


def part_compile(tmp: Path, args: argparse.Namespace) -> None:
    folder = tmp / "npy" if (tmp / "npy").is_dir() else write_npy_dir(tmp / "npy")
    print(f"\ncompile: the MLP on 60,000 images, torch, {args.epochs} epochs, {args.threads} threads")
    for flag in ("false", "true"):
        spec = spec_on(f'npy_dir("{folder}")', tmp, f"    compile = {flag}\n")
        job = {
            "part": "compile", "backend": "torch", "spec": str(spec), "threads": args.threads,
            "out": str(tmp / f"compile-{flag}"), "overrides": {"epochs": str(args.epochs)},
        }  # fmt: skip
        result = launch(job)
        print(
            f"  compile = {flag:<5}: {steady(result['epoch_seconds']):.3f} s/epoch steady, first "
            f"epoch {result['epoch_seconds'][0]:.2f} s, test {100 * result['test_accuracy']:.1f} %",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", nargs="+", choices=["speed", "rss", "images", "compile"],
                        default=["speed", "rss", "images", "compile"])  # fmt: skip
    parser.add_argument("--backends", nargs="+", default=["torch", "keras"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the best is kept")
    parser.add_argument("--threads", type=int, default=max(len(os.sched_getaffinity(0)), 1))
    parser.add_argument("--rss-gb", type=float, default=2.0)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--image-workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return
    args.rss_runs = [("stream", 0), ("stream", 2), ("memory", 0)]
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="netspec-pipeline-", dir=os.environ.get("BENCH_TMP")) as tmp:
        for part in args.part:
            globals()[f"part_{part}"](Path(tmp), args)


if __name__ == "__main__":
    main()
