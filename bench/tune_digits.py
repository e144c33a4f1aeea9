"""`netspec tune` against the same search written by hand with Optuna, on the digits MLP.

    .venv/bin/python bench/tune_digits.py                 # 30 trials each
    .venv/bin/python bench/tune_digits.py --trials 10 --epochs 5

The space: the hidden layer's width (choice of 32, 64, 128), its dropout (range 0-0.5) and
Adam's learning rate (log_range 1e-4 to 1e-2); 10 epochs on scikit-learn's 8x8 digits
(validation split 0.1, standardized), objective val_accuracy (the last epoch's).

1. netspec: `tune(spec, trials, --batch 1, --pruner none)`, i.e. plain sequential TPE
   without pruning, each trial a full run folder (checked spec, generated module, a
   checkpoint per epoch, history, curves.png, run.json); then the default (--batch 4,
   median pruning) for reference.
2. By hand: `optuna.create_study(sampler=TPESampler(seed))` and `study.optimize`, each
   trial writing the concrete spec, generating its PyTorch module with netspec's codegen
   and calling the module's own `build_model` / `fit` on the same prepared data in memory:
   the same model, data, seed and epochs, with nothing written to disk.

Both run in this one process, after an untimed one-trial warm-up of each, so no import is
timed (torch, Optuna, scikit-learn, matplotlib).
It prints each one's best val_accuracy, wall and CPU seconds, and the ratios to by hand (the
CPU time moves less than the wall time when other work shares the machine).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

SPEC = """model digits_search {{
  input [64]

  layers {{
    Dense(choice(32, 64, 128), activation=relu)
    Dropout(range(0.0, 0.5))
    Dense(10, activation=softmax)
  }}

  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=log_range(1e-4, 1e-2))
  metrics   [accuracy]

  train {{
    data             = digits
    epochs           = {epochs}
    batch_size       = 32
    standardize      = true
    validation_split = 0.1
    seed             = 0
  }}
}}
"""


def by_netspec(
    spec: Path, folder: Path, trials: int, batch: int, pruner: str
) -> tuple[float, float, float]:
    from netspec.tune import TuneOptions, tune

    started, cpu = time.perf_counter(), time.process_time()
    outcome = tune(
        spec,
        TuneOptions(
            trials=trials, metric="val_accuracy", batch=batch, pruner=pruner, out=folder, seed=0
        ),
        say=lambda line: None,
    )
    seconds = time.perf_counter() - started
    assert outcome.status == 0 and outcome.result["best"] is not None
    return outcome.result["best"]["value"], seconds, time.process_time() - cpu


def by_hand(spec: Path, trials: int, threads: int) -> tuple[float, float, float]:
    import optuna
    import torch

    from netspec import data
    from netspec.codegen import generate
    from netspec.diagnostics import Diagnostics
    from netspec.frontend import check_source
    from netspec.space import concrete_source, find_space
    from netspec.train.context import load_module

    source = spec.read_text()
    space = find_space(source, str(spec), Diagnostics())
    assert space is not None
    units, dropout, lr = space.dimensions
    scratch = Path(tempfile.mkdtemp(prefix="tune-by-hand-"))

    def objective(trial: optuna.Trial) -> float:
        point = {
            units.name: str(trial.suggest_categorical(units.name, [32, 64, 128])),
            dropout.name: trial.suggest_float(dropout.name, 0.0, 0.5),
            lr.name: trial.suggest_float(lr.name, 1e-4, 1e-2, log=True),
        }
        model, _ = check_source(concrete_source(space, point), str(spec))
        assert model is not None
        prepared = data.prepare(model, model.train)
        path = scratch / f"trial{trial.number}.py"
        text = generate(model, "torch")
        path.write_text(text)
        module = load_module(path, model.name, text)
        torch.set_num_threads(threads)
        torch.manual_seed(model.train.seed)
        net = module.prepare(module.build_model(), torch.device("cpu"))
        x, y = prepared.train.arrays()
        x_val, y_val = prepared.validation.arrays()
        history = module.fit(
            net,
            torch.as_tensor(x),
            torch.as_tensor(y),
            epochs=model.train.epochs,
            batch_size=model.train.batch_size,
            validation_data=(torch.as_tensor(x_val), torch.as_tensor(y_val)),
            seed=model.train.seed,
        )
        return float(history["val_accuracy"][-1])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started, cpu = time.perf_counter(), time.process_time()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return study.best_value, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    arguments = parser.parse_args()
    import torch  # imported once, before any timing

    from netspec.train.context import usable_cores

    threads = usable_cores()
    root = Path(tempfile.mkdtemp(prefix="tune-bench-"))
    spec = root / "digits_search.net"
    spec.write_text(SPEC.format(epochs=arguments.epochs))
    print(
        f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores), "
        f"torch {torch.__version__}"
    )
    by_hand(spec, 1, threads)  # warm-up, untimed: Optuna, scikit-learn, matplotlib imported
    by_netspec(spec, root / "warm-up", 1, 1, "none")
    hand = by_hand(spec, arguments.trials, threads)
    plain = by_netspec(spec, root / "plain", arguments.trials, 1, "none")
    default = by_netspec(spec, root / "default", arguments.trials, 4, "median")
    print(
        f"{arguments.trials} trials, {arguments.epochs} epochs each, {threads} threads: "
        "best val_accuracy, wall seconds, CPU seconds (this process)"
    )
    for name, (best, wall, cpu) in (
        ("by hand (Optuna + the generated module)", hand),
        ("netspec tune --batch 1 --pruner none   ", plain),
        ("netspec tune (--batch 4, median pruner)", default),
    ):
        print(
            f"  {name} {best:.4f}  {wall:7.1f}s  {cpu:7.1f}s  "
            f"({wall / hand[1]:.2f}x wall, {cpu / hand[2]:.2f}x CPU of by hand)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}; folders in {root}")


if __name__ == "__main__":
    main()
