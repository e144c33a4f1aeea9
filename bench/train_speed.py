"""How fast netspec's generated training loops run, against hand-written PyTorch and Keras.

For each model (the MLP of specs/mnist_mlp.net at batch 32, the CNN of specs/mnist_cnn.net
and the LSTM of specs/lstm_classifier.net at batch 64) it trains, on the same Fashion-MNIST
samples, for the same epochs and batch size:

  tutorial       hand-written PyTorch, DataLoader + loss.item() every step    (bench/baselines.py)
  careful        hand-written PyTorch, randperm + slicing, one sync per epoch (bench/baselines.py)
  netspec-torch  `netspec train SPEC --backend torch` (the Python API, the generated loop)
  keras          hand-written keras.Sequential, plain model.fit, steps_per_execution=1
  keras-spe32    the same with steps_per_execution=32
  netspec-keras  `netspec train SPEC --backend keras`

and prints seconds per epoch in the steady state (the best epoch after the first, which is
warm-up), the ratio careful / implementation (>= 1: as fast as the careful loop or faster),
and the final epoch's training accuracy and the test accuracy (10,000 test images).

Every implementation runs in a fresh subprocess of its own: thread settings
(torch.set_num_threads, TensorFlow's thread pools, which cannot change after TensorFlow
starts), imported frameworks (PyTorch and TensorFlow each bring an OpenMP/oneDNN runtime) and
allocator state would otherwise leak from one run into the next, and the order of the runs
would change their speed. The same goes for netspec's own overhead (parse, check, generate and
import the module), measured after the framework is imported, in a fresh process.

netspec's figures are the `epoch_seconds` its run folder's run.json records. As the code stands,
each epoch's time stops before the per-epoch checkpoint is written (torch: at `on_epoch_end`'s
start; Keras: in the callback, before `model.save`); the checkpoint, the data loading, code
generation and the test evaluation fall outside and show in the "outside epochs" column
(train() wall time minus the sum of the epochs).

Hygiene: the machine has 2 cores. The script prints the load average first, and for every run
the CPU that *other* processes used meanwhile ("others", in cores: /proc/stat busy time minus
the run's own CPU time, divided by its wall time). Before each run it waits (up to
--wait-quiet seconds) for other processes to use under --max-others cores, and a run during
which they used more is repeated (at most 2 x --repeat runs); the best run is kept. With all
cores in use, PyTorch's and TensorFlow's thread pools slow down badly (2-10x) when another
process takes a core, so disturbed figures are not merely a bit noisy.

Run:   .venv/bin/python bench/train_speed.py --model all                      (full: 60,000 samples)
       .venv/bin/python bench/train_speed.py --model mlp --samples 6000 --epochs 2   (quick)
       .venv/bin/python bench/train_speed.py --model all --experiments --no-table      (settings)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SPECS = {
    "mlp": ROOT / "specs" / "mnist_mlp.net",
    "cnn": ROOT / "specs" / "mnist_cnn.net",
    "lstm": ROOT / "specs" / "lstm_classifier.net",
}
BATCH_SIZE = {"mlp": 32, "cnn": 64, "lstm": 64}
IMPLEMENTATIONS = ("tutorial", "careful", "netspec-torch", "keras", "keras-spe32", "netspec-keras")


# --------------------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as stream:
        header = stream.read(4)
        dims = struct.unpack(f">{header[3]}I", stream.read(4 * header[3]))
        return np.frombuffer(stream.read(), dtype=np.uint8).reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def prepare_data(folder: Path, samples: int) -> None:
    """The first `samples` training images and all 10,000 test images, raw (0-255, uint8).

    Written twice, with the same content: data.npz for the baselines, and an IDX folder that
    netspec reads with `data = idx("…")` (so its own preprocessing, divide_by / reshape /
    one_hot, applies, and the test split stays Fashion-MNIST's own test set).
    """
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    arrays = {key: read_idx(FASHION_MNIST / f"{stem}.gz") for key, stem in names.items()}
    if samples > len(arrays["x_train"]):
        raise SystemExit(f"--samples {samples}: Fashion-MNIST has {len(arrays['x_train'])}")
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][:samples], arrays["y_train"][:samples]
    np.savez(folder / "data.npz", **arrays)
    (folder / "idx").mkdir()
    for key, stem in names.items():
        write_idx(folder / "idx" / stem, arrays[key])


# --------------------------------------------------------------------------- one run (worker)


def _configure_tensorflow(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _run_netspec(job: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    from netspec.train import TrainOptions, train

    backend = job["impl"].split("-", 1)[1]
    out = Path(tempfile.mkdtemp(prefix=f"{job['model']}-{backend}-", dir=data_dir)) / "run"
    overrides = {
        "epochs": str(job["epochs"]),
        "data": f'idx("{data_dir / "idx"}")',
        "seed": str(job.get("seed", 0)),
    }
    options = TrainOptions(backend=backend, log="quiet", threads=job["threads"], out=out)
    started = time.perf_counter()
    outcome = train(SPECS[job["model"]], overrides, options)
    wall = time.perf_counter() - started
    if outcome.status != 0:
        raise SystemExit(f"netspec train failed: {list(outcome.diagnostics)}")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    history = outcome.result["history"]
    return {
        "epoch_seconds": record["epoch_seconds"],
        "train_loss": history["loss"],
        "train_accuracy": history["accuracy"],
        "test_accuracy": outcome.result["test"]["accuracy"],
        "threads": record["threads"],
        "wall": wall,
    }


def worker(job: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(BENCH))
    import baselines

    with np.load(data_dir / "data.npz") as archive:
        data = {key: archive[key] for key in archive.files}
    impl, model, epochs, threads = job["impl"], job["model"], job["epochs"], job["threads"]
    if impl == "tutorial":
        import torch

        torch.set_num_threads(threads)  # the harness's setting; the tutorial code sets none
        return baselines.run_tutorial(model, data, epochs, seed=job.get("seed", 0))
    if impl == "careful":
        return baselines.run_careful(
            model,
            data,
            epochs,
            threads,
            adam=job.get("adam", "fused"),
            channels_last=job.get("channels_last"),
            metrics=job.get("metrics", True),
            seed=job.get("seed", 0),
        )
    if impl.startswith("keras"):
        _configure_tensorflow(threads)  # the harness's setting, as netspec's keras backend does
        return baselines.run_keras(
            model, data, epochs, steps_per_execution=job.get("spe", 1), seed=job.get("seed", 0)
        )
    if impl.startswith("netspec-"):
        return _run_netspec(job, data_dir)
    if impl.startswith("overhead-"):
        return overhead(job["impl"].split("-", 1)[1], data_dir)
    raise SystemExit(f"unknown implementation {impl}")


def overhead(backend: str, tmp: Path) -> dict[str, Any]:
    """netspec's own cost before the first step: import, parse+check, generate, import module.

    The framework is imported first and not counted. Each figure is taken cold (the first
    time in this process) and warm (the best of 5 more).
    """
    import importlib.util

    if backend == "torch":
        import torch  # noqa: F401
    else:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

    started = time.perf_counter()
    from netspec.codegen import generate
    from netspec.frontend import check_file

    result: dict[str, Any] = {"import_netspec": time.perf_counter() - started, "models": {}}
    for name, spec in SPECS.items():
        figures: dict[str, list[float]] = {"check": [], "generate": [], "import_module": []}
        for attempt in range(6):
            t0 = time.perf_counter()
            model, diagnostics, _ = check_file(spec)
            t1 = time.perf_counter()
            assert model is not None, list(diagnostics)
            code = generate(model, backend)
            t2 = time.perf_counter()
            path = tmp / f"overhead_{backend}_{name}_{attempt}.py"
            path.write_text(code, encoding="utf-8")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            t3 = time.perf_counter()
            figures["check"].append(t1 - t0)
            figures["generate"].append(t2 - t1)
            figures["import_module"].append(t3 - t2)
        result["models"][name] = {
            key: {"cold": values[0], "warm": min(values[1:])} for key, values in figures.items()
        }
    return result


# --------------------------------------------------------------------------- driver


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (steal included) since boot."""
    with open("/proc/stat", encoding="ascii") as stream:
        fields = [int(v) for v in stream.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def others_now(seconds: float = 2.0) -> float:
    """Cores busy over the next `seconds` while this script runs nothing (so: other processes)."""
    busy, started = _busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (_busy_seconds() - busy) / (time.perf_counter() - started)


def wait_quiet(limit: float, threshold: float) -> float:
    """Wait (up to `limit` seconds) until other processes use under `threshold` cores."""
    deadline = time.monotonic() + limit
    while True:
        busy = others_now()
        if busy < threshold or time.monotonic() > deadline:
            return busy
        time.sleep(5)


QUIET = {"limit": 0.0, "threshold": 0.1}  # set from --wait-quiet / --max-others


def launch(job: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its result, with the load it ran under."""
    before = wait_quiet(QUIET["limit"], QUIET["threshold"]) if QUIET["limit"] > 0 else None
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    command += ["--data-dir", str(data_dir)]
    load = os.getloadavg()[0]
    busy, children, started = _busy_seconds(), _children_cpu(), time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    own = _children_cpu() - children
    others = max((_busy_seconds() - busy - own) / wall, 0.0)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
        raise SystemExit(f"{job} failed with exit status {process.returncode}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result.update(load=load, others=others, others_before=before, process_wall=wall)
    return result


def steady(seconds: list[float]) -> float:
    """The steady-state epoch time: the best epoch after the first (warm-up) one."""
    return min(seconds[1:]) if len(seconds) > 1 else seconds[0]


def best_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs, the one with the fastest steady-state epoch."""
    return min(results, key=lambda r: steady(r["epoch_seconds"]))


def measure(job: dict[str, Any], data_dir: Path, repeat: int, label: str) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    clean = attempt = 0
    while clean < repeat and attempt < 2 * repeat:  # a run disturbed by others earns a retry
        attempt += 1
        result = launch(job, data_dir)
        clean += result["others"] <= QUIET["threshold"]
        print(
            f"  {label:<34} run {attempt}: epochs "
            + " ".join(f"{s:.2f}" for s in result["epoch_seconds"])
            + f" s   (load {result['load']:.2f}, others {result['others']:.2f} cores)",
            flush=True,
        )
        runs.append(result)
    best = best_of(runs)
    best["runs"] = [steady(r["epoch_seconds"]) for r in runs]
    return best


def _pct(value: float | None) -> str:
    return "    -" if value is None else f"{100 * value:5.1f}"


def print_table(rows: list[tuple[str, str, dict[str, Any]]], baseline: dict[str, float]) -> None:
    header = (
        f"{'model':<5} {'implementation':<14} {'thr':>3} {'s/epoch':>8} {'ratio':>6} "
        f"{'train%':>6} {'test%':>6} {'outside':>8} {'others':>6}  epochs (s)"
    )
    print(header)
    print("-" * len(header))
    for model, impl, r in rows:
        seconds = steady(r["epoch_seconds"])
        ratio = baseline[model] / seconds if model in baseline else float("nan")
        outside = r["wall"] - sum(r["epoch_seconds"]) if "wall" in r else None
        print(
            f"{model:<5} {impl:<14} {r.get('threads', '-')!s:>3} {seconds:8.3f} {ratio:6.2f} "
            f"{_pct(r['train_accuracy'][-1])}  {_pct(r['test_accuracy'])} "
            f"{'       -' if outside is None else f'{outside:7.1f}s'} {r['others']:6.2f}  "
            + " ".join(f"{s:.2f}" for s in r["epoch_seconds"])
        )


def run_table(args: argparse.Namespace, data_dir: Path) -> list[tuple[str, str, dict]]:
    rows = []
    baseline: dict[str, float] = {}
    for model in args.models:
        for impl in args.impls:
            job = {
                "impl": impl,
                "model": model,
                "epochs": args.epochs,
                "threads": args.threads,
                "seed": args.seed,
            }
            if impl == "keras-spe32":
                job.update(impl="keras", spe=32)
            result = measure(job, data_dir, args.repeat, f"{model} {impl}")
            if impl == "careful":
                baseline[model] = steady(result["epoch_seconds"])
            rows.append((model, impl, result))
    print()
    print(
        f"steady-state seconds per epoch (best of epochs 2..{args.epochs}), "
        f"{args.samples:,} samples, threads {args.threads}; ratio = careful / implementation; "
        "train% = last epoch's training accuracy, test% on 10,000 test images; "
        "outside = netspec's train() wall time not in any epoch (data, codegen, checkpoints, "
        "test); others = cores other processes used meanwhile"
    )
    print_table(rows, baseline)
    return rows


def run_overhead(data_dir: Path) -> dict[str, Any]:
    results = {}
    print("\nnetspec's own overhead (framework already imported; cold = first call, warm = best of 5)")
    for backend in ("torch", "keras"):
        job = {"impl": f"overhead-{backend}", "model": "-", "epochs": 0, "threads": 1}
        r = launch(job, data_dir)
        results[backend] = r
        print(f"  {backend}: import netspec.check + netspec.codegen {1000 * r['import_netspec']:.0f} ms")
        for name, figures in r["models"].items():
            parts = [
                f"{key} {1000 * f['cold']:.1f}/{1000 * f['warm']:.1f} ms"
                for key, f in figures.items()
            ]
            total = sum(f["cold"] for f in figures.values())
            print(f"    {name:<5} " + ", ".join(parts) + f"  (cold total {1000 * total:.0f} ms)")
    return results


def run_experiments(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """The settings the generator could emit, one change at a time."""
    base = {"epochs": args.epochs, "threads": args.threads}
    plans = [
        ("torch mlp b32: careful, 1 thread", {"impl": "careful", "model": "mlp", "threads": 1}),
        ("torch mlp b32: careful, 2 threads", {"impl": "careful", "model": "mlp", "threads": 2}),
        ("torch mlp b32: Adam(fused=True)", {"impl": "careful", "model": "mlp", "adam": "fused"}),
        ("torch mlp b32: Adam(foreach=True)", {"impl": "careful", "model": "mlp", "adam": "foreach"}),
        ("torch mlp b32: Adam() default", {"impl": "careful", "model": "mlp", "adam": "default"}),
        ("torch mlp b32: no on-device accuracy", {"impl": "careful", "model": "mlp", "metrics": False}),
        ("torch cnn b64: channels_last", {"impl": "careful", "model": "cnn", "channels_last": True}),
        ("torch cnn b64: contiguous NCHW", {"impl": "careful", "model": "cnn", "channels_last": False}),
        ("torch cnn b64: Adam() default", {"impl": "careful", "model": "cnn", "adam": "default"}),
        ("torch lstm b64: Adam(fused=True)", {"impl": "careful", "model": "lstm", "adam": "fused"}),
        ("torch lstm b64: Adam() default", {"impl": "careful", "model": "lstm", "adam": "default"}),
        ("torch lstm b64: careful, 1 thread", {"impl": "careful", "model": "lstm", "threads": 1}),
        ("keras mlp b32: steps_per_execution=1", {"impl": "keras", "model": "mlp", "spe": 1}),
        ("keras mlp b32: steps_per_execution=32", {"impl": "keras", "model": "mlp", "spe": 32}),
        ("keras mlp b32: steps_per_execution=128", {"impl": "keras", "model": "mlp", "spe": 128}),
    ]
    if args.experiment_filter:
        plans = [p for p in plans if any(f in p[0] for f in args.experiment_filter)]
    print(f"\nexperiments ({args.samples:,} samples, best of epochs 2..{args.epochs}):")
    results = {}
    for label, job in plans:
        results[label] = measure({**base, **job}, data_dir, args.repeat, label)
    print()
    for label, r in results.items():
        acc = r["train_accuracy"][-1]
        print(
            f"  {label:<40} {steady(r['epoch_seconds']):7.3f} s/epoch   "
            f"runs {' '.join(f'{s:.3f}' for s in r['runs'])}   train% {_pct(acc)}  "
            f"test% {_pct(r['test_accuracy'])}  others {r['others']:.2f}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["mlp", "cnn", "lstm", "all"], default="all")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--samples", type=int, default=60_000, help="training samples (<= 60,000)")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores (2 here)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every implementation's run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the best is kept")
    parser.add_argument("--impl", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--no-table", action="store_true", help="skip the main table")
    parser.add_argument("--no-overhead", action="store_true", help="skip netspec's overhead")
    parser.add_argument("--experiments", action="store_true", help="also run the settings experiments")
    parser.add_argument("--experiment-filter", nargs="*", help="only experiments whose label has one")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        help="before each run, wait up to this many seconds for other processes to go quiet",
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.1,
        help="cores other processes may use during a run before it is repeated (up to 2x --repeat)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker(json.loads(args.worker), args.data_dir)
        print("RESULT " + json.dumps(result))
        return

    QUIET.update(limit=args.wait_quiet, threshold=args.max_others)
    args.threads = args.threads or max(len(os.sched_getaffinity(0)), 1)
    args.models = ["mlp", "cnn", "lstm"] if args.model == "all" else [args.model]
    args.impls = args.impl
    load = os.getloadavg()
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
        f"{args.samples:,} samples, {args.epochs} epochs, threads {args.threads}, "
        f"repeat {args.repeat}"
    )
    if load[0] > 0.5:
        print("warning: the machine is busy (load > 0.5); the figures will be noisy")
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "load": load}
    with tempfile.TemporaryDirectory(prefix="netspec-train-speed-") as tmp:
        data_dir = Path(tmp)
        prepare_data(data_dir, args.samples)
        if not args.no_table:
            rows = run_table(args, data_dir)
            report["table"] = [{"model": m, "impl": i, **r} for m, i, r in rows]
        if not args.no_overhead:
            report["overhead"] = run_overhead(data_dir)
        if args.experiments:
            report["experiments"] = run_experiments(args, data_dir)
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
