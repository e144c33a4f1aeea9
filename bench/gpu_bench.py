"""netspec's generated PyTorch loop on a GPU: fp32 and bf16 against careful hand-written loops.

For the CNN of specs/mnist_cnn.net and ResNet-20 of specs/resnet20.net, on synthetic data of
their input shape (uint8 images, `divide_by = 255`, random labels: speed does not depend on
what the pixels show), it times, each in a fresh process:

  netspec-memory    `netspec train` with pipeline = memory (the set as tensors on the GPU)
  netspec-stream    `netspec train` with pipeline = stream (DataLoader, pinned, non_blocking)
  hand-memory       a careful loop over the same data on the GPU: randperm + index slicing
  hand-stream       a careful loop a user writes: DataLoader(pin_memory=True, workers),
                    `.to(device, non_blocking=True)`
  netspec-compiled  netspec-memory with `compile = true` (torch.compile) — bf16 only

All loops use the same model (the generated module's build_model(), so the comparison is of
the loops, not of two hand-written networks), channels-last memory for convolutions, the
spec's Adam, `torch.autocast(dtype=bfloat16)` for bf16, and on-device loss sums. Printed:
seconds of the first (warm-up) epoch, steady-state seconds per epoch (the best epoch after the
first), images/s, the ratio hand-written / netspec (>= 0.95 is the target) and bf16 / fp32
speed-up per implementation (>= 1.5 on ResNet-20 is the target).

Run through bench/gpu_check.sh (which installs netspec from wheels on a machine without it):
  bash bench/gpu_check.sh                             on the GPU machine
  bash bench/gpu_check.sh --device cpu --steps 5      a dry run anywhere (a few steps each)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"cnn": ROOT / "specs" / "mnist_cnn.net", "resnet20": ROOT / "specs" / "resnet20.net"}
SAMPLES = {"cnn": 60_000, "resnet20": 25_000}


def synthetic(model: Any, samples: int, folder: Path) -> Path:
    """uint8 images of the model's input shape and random class labels, as an .npz."""
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape)
    classes = model.output_shape[-1]
    x = rng.integers(0, 256, size=(samples, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, size=samples)
    path = folder / f"{model.name}-{samples}.npz"
    np.savez(path, x=x, y=y)
    return path


# --------------------------------------------------------------------------- one run


def run_netspec(job: dict[str, Any]) -> dict[str, Any]:
    from netspec.train import TrainOptions, train

    out = Path(job["out"])
    overrides = {
        "data": f'npz("{job["data"]}")',
        "epochs": str(job["epochs"]),
        "precision": job["precision"],
        "pipeline": job["pipeline"],
        "batch_size": str(job["batch"]),
        "validation_split": "0.0",  # every sample trains, and no validation pass in the epoch
        "test_split": "0.0",
    }
    if job.get("compile"):
        overrides["compile"] = "true"
    if job["pipeline"] == "stream":
        overrides["workers"] = str(job["workers"])
    options = TrainOptions(
        backend="torch", device=job["device"], log="quiet", out=out, threads=job["threads"]
    )
    outcome = train(Path(job["spec"]), overrides, options)
    if outcome.status != 0:
        raise SystemExit(f"netspec train failed: {[d.message for d in outcome.diagnostics]}")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {"epoch_seconds": record["epoch_seconds"], "device": record.get("device_name")}


def run_handwritten(job: dict[str, Any]) -> dict[str, Any]:
    """The careful loop: the generated module's network, a loop written by hand."""
    import importlib.util

    import torch

    from netspec.codegen import generate
    from netspec.frontend import check_file

    model_ir, diagnostics, _ = check_file(Path(job["spec"]))
    assert model_ir is not None, list(diagnostics)
    path = Path(job["out"]).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(model_ir, "torch"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("hand_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    device = torch.device(job["device"])
    torch.set_num_threads(job["threads"])  # as netspec is given them
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cudnn.benchmark = True
    net = module.build_model().to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    with np.load(job["data"]) as archive:
        x_all, y_all = archive["x"], archive["y"].astype(np.int64)
    batch, steps = job["batch"], job.get("steps")
    if steps:
        x_all, y_all = x_all[: steps * batch], y_all[: steps * batch]
    dtype = torch.bfloat16 if job["precision"] == "bf16" else None
    if job["pipeline"] == "memory":
        x_device = torch.from_numpy(x_all).to(device)
        y_device = torch.from_numpy(y_all).to(device)

        def batches(epoch: int):
            order = torch.randperm(len(x_device), generator=torch.Generator().manual_seed(epoch))
            order = order.to(device)
            for start in range(0, len(order), batch):
                index = order[start : start + batch]
                yield x_device[index], y_device[index]
    else:
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_all), torch.from_numpy(y_all))
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            num_workers=job["workers"],
            pin_memory=device.type == "cuda",
            persistent_workers=job["workers"] > 0,
        )

        def batches(epoch: int):
            for xb, yb in loader:
                yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)

    seconds = []
    for epoch in range(job["epochs"]):
        started = time.perf_counter()
        net.train()
        sums = torch.zeros(2, device=device)
        for xb, yb in batches(epoch):
            xb = xb.float().div_(255)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = net(xb)
            loss = loss_fn(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                hits = (logits.argmax(dim=-1) == yb).float().sum()
                sums += torch.stack([loss.detach() * len(yb), hits])
        sums.tolist()  # the one wait for the device per epoch
        seconds.append(time.perf_counter() - started)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"epoch_seconds": seconds, "device": name}


def worker(job: dict[str, Any]) -> dict[str, Any]:
    if job["impl"].startswith("hand"):
        return run_handwritten(job)
    return run_netspec(job)


# --------------------------------------------------------------------------- driver


def launch(job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    env = dict(os.environ)  # netspec as installed (an editable install, or gpu_check.sh's)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    try:
        process = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        print(f"  {job['label']}: timed out after {timeout:.0f} s", flush=True)
        return None
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        print(f"  {job['label']}: failed (exit {process.returncode})", flush=True)
        sys.stdout.write((process.stdout[-1500:] + process.stderr[-1500:]).replace("\n", "\n    "))
        print()
        return None
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (a dry run); default: the whole set")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--models", nargs="+", choices=sorted(SPECS), default=["cnn", "resnet20"])
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: each spec's)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the streamed runs")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check")
    parser.add_argument(
        "--threads", type=int, default=max(len(os.sched_getaffinity(0)), 1),
        help="CPU threads of every run (default: the usable cores)",
    )  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return

    from netspec.frontend import check_file

    started = time.monotonic()
    print(f"gpu_bench: device {args.device}, {args.epochs} epochs per run, steps {args.steps or 'all'}")
    rows: list[tuple[str, str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="netspec-gpu-") as tmp:
        folder = Path(tmp)
        setups = {}
        for name in args.models:
            model, diagnostics, _ = check_file(SPECS[name])
            assert model is not None, list(diagnostics)
            batch = args.batch or model.train.batch_size
            samples = args.steps * batch if args.steps else SAMPLES[name]
            setups[name] = (batch, samples, synthetic(model, samples, folder))
            shape = list(model.inputs[0].shape)
            print(f"{name}: {samples:,} synthetic {shape} images, batch {batch}", flush=True)
        # the most telling comparisons first: what the budget leaves out comes last
        plans = [
            (name, impl, precision)
            for impls in (("netspec-memory", "hand-memory"), ("netspec-stream", "hand-stream"))
            for name in args.models
            for precision in ("fp32", "bf16")
            for impl in impls
        ]
        plans += [(name, "netspec-compiled", "bf16") for name in args.models]
        for name, impl, precision in plans:
            batch, samples, data = setups[name]
            left = args.budget - (time.monotonic() - started)
            if left < 20:
                print(f"  {name} {impl} {precision}: skipped, the time budget is spent", flush=True)
                continue
            job = {
                "impl": impl, "label": f"{name} {impl} {precision}", "spec": str(SPECS[name]),
                "data": str(data), "epochs": args.epochs, "precision": precision,
                "pipeline": "stream" if impl.endswith("stream") else "memory",
                "batch": batch, "device": args.device, "workers": args.workers, "threads": args.threads,
                "steps": args.steps, "compile": impl == "netspec-compiled",
                "out": str(folder / f"{name}-{impl}-{precision}"),
            }  # fmt: skip
            result = launch(job, timeout=left - 10)
            if result is None:
                continue
            seconds = result["epoch_seconds"]
            steady = min(seconds[1:]) if len(seconds) > 1 else seconds[0]
            result.update(steady=steady, first=seconds[0], rate=samples / steady)
            rows.append((name, impl, precision, result))
            print(
                f"  {name:<9} {impl:<16} {precision}: first epoch {seconds[0]:7.2f} s, steady "
                f"{steady:7.3f} s/epoch, {samples / steady:10,.0f} images/s   ({result['device']})",
                flush=True,
            )
    summarize(rows)
    print(f"\ngpu_bench: {time.monotonic() - started:.0f} s in all")


def summarize(rows: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    found = {(name, impl, precision): r for name, impl, precision, r in rows}
    print("\nratios (steady state): hand-written / netspec for the same pipeline (>= 0.95 wanted);")
    print("bf16 speed-up = fp32 s/epoch / bf16 s/epoch (>= 1.5 wanted on resnet20)")
    for name in dict.fromkeys(n for n, _, _, _ in rows):
        for precision in ("fp32", "bf16"):
            for pipeline in ("memory", "stream"):
                ours = found.get((name, f"netspec-{pipeline}", precision))
                theirs = found.get((name, f"hand-{pipeline}", precision))
                if ours and theirs:
                    print(
                        f"  {name:<9} {precision} {pipeline:<6}: netspec {ours['steady']:.3f} s, "
                        f"hand-written {theirs['steady']:.3f} s, ratio {theirs['steady'] / ours['steady']:.2f}"
                    )
        for impl in ("netspec-memory", "netspec-stream", "hand-memory", "hand-stream"):
            fp32, bf16 = found.get((name, impl, "fp32")), found.get((name, impl, "bf16"))
            if fp32 and bf16:
                print(f"  {name:<9} {impl:<15} bf16 speed-up {fp32['steady'] / bf16['steady']:.2f}")
        plain, compiled = found.get((name, "netspec-memory", "bf16")), found.get((name, "netspec-compiled", "bf16"))
        if plain and compiled:
            print(
                f"  {name:<9} torch.compile (bf16, memory): {plain['steady'] / compiled['steady']:.2f}x "
                f"steady, first epoch {compiled['first']:.1f} s against {plain['first']:.1f} s"
            )


if __name__ == "__main__":
    main()
