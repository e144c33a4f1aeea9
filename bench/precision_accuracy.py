"""Mixed precision against fp32: test accuracy of the MLP and CNN specs after 2 epochs.

For specs/mnist_mlp.net and specs/mnist_cnn.net on Fashion-MNIST (60,000 training images,
the 10,000 test images), each backend, each seed: `netspec train --epochs 2` in fp32 and in
bf16 (and, with --fp16, fp16), each in a fresh process; prints each run's test accuracy and
epoch seconds, and the difference bf16 − fp32 per seed and on average (the target: within 0.5
points). bf16 runs on this CPU in both frameworks (natively where the CPU has AVX512-BF16).

Run:   .venv/bin/python bench/precision_accuracy.py                      (seeds 0 and 1)
       .venv/bin/python bench/precision_accuracy.py --models mlp --seeds 0 1 2 --fp16
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

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"mlp": ROOT / "specs" / "mnist_mlp.net", "cnn": ROOT / "specs" / "mnist_cnn.net"}


def worker(job: dict[str, Any]) -> dict[str, Any]:
    from netspec.train import TrainOptions, train

    out = Path(job["out"])
    overrides = {"epochs": str(job["epochs"]), "seed": str(job["seed"]), "precision": job["precision"]}
    options = TrainOptions(backend=job["backend"], device="cpu", log="quiet", out=out)
    outcome = train(SPECS[job["model"]], overrides, options)
    if outcome.status != 0:
        raise SystemExit(f"netspec train failed: {[d.message for d in outcome.diagnostics]}")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {"test_accuracy": outcome.result["test"]["accuracy"], "epoch_seconds": record["epoch_seconds"]}


def launch(job: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
        raise SystemExit(f"{job} failed with exit status {process.returncode}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=sorted(SPECS), default=["mlp", "cnn"])
    parser.add_argument("--backends", nargs="+", default=["torch", "keras"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fp16", action="store_true", help="also run fp16")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return
    precisions = ["fp32", "bf16", *(["fp16"] if args.fp16 else [])]
    started = time.monotonic()
    print(f"{args.epochs} epochs, seeds {args.seeds}; test accuracy on Fashion-MNIST's 10,000 test images")
    print(f"{'model':<5} {'backend':<7} {'seed':>4} " + " ".join(f"{p + ' %':>8}" for p in precisions)
          + "   " + " ".join(f"{p + '−fp32':>10}" for p in precisions[1:]) + "   s/epoch (last)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="netspec-precision-") as tmp:
        for model in args.models:
            for backend in args.backends:
                deltas: dict[str, list[float]] = {p: [] for p in precisions[1:]}
                for seed in args.seeds:
                    results = {}
                    for precision in precisions:
                        job = {"model": model, "backend": backend, "seed": seed, "epochs": args.epochs,
                               "precision": precision, "out": f"{tmp}/{model}-{backend}-{seed}-{precision}"}  # fmt: skip
                        results[precision] = launch(job)
                    accuracy = {p: 100 * r["test_accuracy"] for p, r in results.items()}
                    for p in precisions[1:]:
                        deltas[p].append(accuracy[p] - accuracy["fp32"])
                    print(
                        f"{model:<5} {backend:<7} {seed:>4} "
                        + " ".join(f"{accuracy[p]:8.2f}" for p in precisions)
                        + "   " + " ".join(f"{accuracy[p] - accuracy['fp32']:+10.2f}" for p in precisions[1:])
                        + "   " + " ".join(f"{results[p]['epoch_seconds'][-1]:.1f}" for p in precisions),
                        flush=True,
                    )  # fmt: skip
                means = "  ".join(f"{p} {sum(v) / len(v):+.2f}" for p, v in deltas.items())
                print(f"{model:<5} {backend:<7} mean difference from fp32: {means} points")
    print(f"\n{time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
