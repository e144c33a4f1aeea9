"""One epoch of specs' generated PyTorch modules, alone or under torchrun (tests/test_distributed.py).

Usage: torch_steps.py OUT JOBS_JSON, where JOBS_JSON lists [spec path, overrides] pairs.
For each job rank 0 writes OUT/<model>.json (the first 20 steps' mean losses over the global
batch) and OUT/<model>.safetensors (the weights after the epoch).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from netspec.codegen import generate
from netspec.data import prepare
from netspec.frontend import check_source
from netspec.train.context import load_module


def run(spec: Path, overrides: dict[str, str], out: Path) -> None:
    model_ir, _ = check_source(spec.read_text(encoding="utf-8"), str(spec), overrides)
    assert model_ir is not None, f"{spec} does not check"
    config = model_ir.train
    prepared = prepare(model_ir, config)
    path = out / f"{model_ir.name}_rank{os.environ.get('RANK', '0')}.py"
    path.write_text(generate(model_ir, "torch"), encoding="utf-8")
    module = load_module(path, model_ir.name)
    rank, _ = module.setup_distributed(torch.device("cpu"))
    torch.manual_seed(config.seed)
    model = module.prepare(module.build_model(), "cpu")
    x, y = prepared.train.arrays()
    x, y = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    running: list[float] = []  # this worker's loss sums over its samples so far, step by step
    module.fit(
        model, x, y, epochs=1, batch_size=config.batch_size, seed=config.seed,
        on_step=lambda step, sums: running.append(float(sums[0])),
    )
    totals = module.all_reduced(torch.tensor(running, dtype=torch.float64)).tolist()
    samples, batch = len(x), config.batch_size
    counts = [min(batch, samples - step * batch) for step in range(len(totals))]
    losses = [(now - before) / n for now, before, n in zip(totals, [0.0, *totals], counts, strict=False)]
    if rank == 0:
        (out / f"{model_ir.name}.json").write_text(json.dumps({"losses": losses}))
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(out / f"{model_ir.name}.safetensors"))


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for spec, overrides in json.loads(sys.argv[2]):
        run(Path(spec), overrides, out)


if __name__ == "__main__":
    main()
