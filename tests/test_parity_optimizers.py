"""One spec, one training rule: every optimizer moves the weights alike on both targets.

netspec's update rules are PyTorch's formulas (docs/semantics.md, "Optimizers"). For each
case below, a small spec (input [5], Dense(4, activation=tanh), Dense(3), mean squared error)
is compiled to both targets and imported; the same random weights go into both models
(through `netspec.weights`: Keras kernel (in, out) = PyTorch weight.T), both take the same
batches, and after 1 step and after 10 steps every weight must agree to 1e-5 (max abs).

Each target trains as `netspec train` does: the Keras model from `compile_model()` takes
`train_on_batch` steps (its optimizer applies clipping and weight decay itself); the PyTorch
model steps through the generated `train_epoch()` (where the loop clips and, for optimizers
without decoupled decay, shrinks the weights). Schedule cases run 5 epochs of 2 steps: the
generated Keras callbacks see `on_epoch_begin` and PyTorch's scheduler `step()`s after each
epoch, as the two `fit()` functions do; one case also runs both `fit()`s end to end.

Epsilons are large in some cases so that where epsilon sits shows in the weights, and
`test_keras_own_optimizer_would_differ` checks that Keras' own optimizers fail these very
cases: the comparison is sharp enough to see the differences netspec removes.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from netspec import catalogue, ir, weights
from netspec.codegen import generate
from netspec.frontend import check_source

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

# Keras' TensorFlow backend converts tensors with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-5
BATCH = 8
STEPS = 10
FEATURES, OUTPUTS = 5, 3


@dataclass(frozen=True)
class Case:
    id: str
    optimizer: str
    train: tuple[str, ...] = ()  # extra `train { }` settings
    epochs: int = 1  # STEPS are spread over this many epochs (for lr schedules)

    def spec(self) -> str:
        settings = "\n".join(f"    {line}" for line in (f"batch_size = {BATCH}", *self.train))
        return (
            f"model opt_{self.id} {{\n  input [{FEATURES}]\n"
            f"  layers {{\n    Dense(4, activation=tanh)\n    Dense({OUTPUTS})\n  }}\n"
            f"  loss mean_squared_error\n  optimizer {self.optimizer}\n"
            f"  train {{\n{settings}\n  }}\n}}\n"
        )

    @property
    def kind(self) -> str:
        return self.optimizer.split("(")[0]


STEP_SCHEDULE = "lr_schedule = step(every=1, gamma=0.5)"

CASES = [
    Case("sgd", "SGD(lr=0.1)"),
    Case("sgd_wd", "SGD(lr=0.1, weight_decay=0.05)"),
    Case("sgd_momentum", "SGD(lr=0.1, momentum=0.9)"),
    Case("sgd_momentum_wd", "SGD(lr=0.1, momentum=0.9, weight_decay=0.05)"),
    Case("sgd_nesterov", "SGD(lr=0.1, momentum=0.9, nesterov=true)"),
    Case("sgd_clip", "SGD(lr=0.1)", ("clip_norm = 0.1",)),
    Case("sgd_momentum_clip", "SGD(lr=0.1, momentum=0.9)", ("clip_norm = 0.1",)),
    Case("sgd_momentum_schedule", "SGD(lr=0.1, momentum=0.9)", (STEP_SCHEDULE,), epochs=5),
    Case("sgd_nesterov_schedule", "SGD(lr=0.1, momentum=0.9, nesterov=true)", (STEP_SCHEDULE,), 5),
    Case("adam", "Adam(lr=0.01)"),
    Case("adam_eps", "Adam(lr=0.01, epsilon=0.1)"),
    Case("adam_wd", "Adam(lr=0.01, weight_decay=0.1)"),
    Case("adam_amsgrad", "Adam(lr=0.01, amsgrad=true, epsilon=0.01)"),
    Case("adam_clip", "Adam(lr=0.01, epsilon=0.01)", ("clip_norm = 0.1",)),
    Case("adam_schedule", "Adam(lr=0.01, epsilon=0.01)", (STEP_SCHEDULE,), epochs=5),
    Case("adamw", "AdamW(lr=0.01)"),
    Case("adamw_wd_amsgrad", "AdamW(lr=0.01, weight_decay=0.1, amsgrad=true, epsilon=0.01)"),
    Case("rmsprop", "RMSprop(lr=0.01)"),
    Case("rmsprop_eps", "RMSprop(lr=0.01, epsilon=0.01)"),
    Case("rmsprop_wd", "RMSprop(lr=0.01, weight_decay=0.1)"),
    Case("rmsprop_momentum", "RMSprop(lr=0.01, momentum=0.9, epsilon=0.01)"),
    Case("rmsprop_centered", "RMSprop(lr=0.01, centered=true, epsilon=0.01)"),
    Case("rmsprop_centered_momentum", "RMSprop(lr=0.01, rho=0.8, momentum=0.5, centered=true)"),
    Case("rmsprop_momentum_schedule", "RMSprop(lr=0.01, momentum=0.9)", (STEP_SCHEDULE,), 5),
    Case("adagrad", "Adagrad(lr=0.1)"),
    Case("adagrad_eps", "Adagrad(lr=0.1, epsilon=0.1, initial_accumulator_value=0.0)"),
    Case("adagrad_wd", "Adagrad(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)"),
]
BY_ID = {case.id: case for case in CASES}

# Cases where Keras' own optimizer computes another rule, and that optimizer.
KERAS_OWN: dict[str, Callable[[], Any]] = {
    "sgd_momentum_schedule": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    "sgd_nesterov_schedule": lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adam_eps": lambda: keras.optimizers.Adam(0.01, epsilon=0.1),
    "adam_amsgrad": lambda: keras.optimizers.Adam(0.01, epsilon=0.01, amsgrad=True),
    "rmsprop_eps": lambda: keras.optimizers.RMSprop(0.01, epsilon=0.01),
    "rmsprop_momentum": lambda: keras.optimizers.RMSprop(0.01, momentum=0.9, epsilon=0.01),
    "rmsprop_centered": lambda: keras.optimizers.RMSprop(0.01, centered=True, epsilon=0.01),
    "adagrad_eps": lambda: keras.optimizers.Adagrad(
        0.1, epsilon=0.1, initial_accumulator_value=0.0
    ),
}


# --------------------------------------------------------------------------- helpers


def check_spec(text: str, name: str) -> ir.Model:
    model, diagnostics = check_source(text, name)
    errors = [d.message for d in diagnostics if d.severity.name == "ERROR"]
    assert model is not None and not errors, errors
    return model


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], ModuleType]:
    """Imports a generated module from a temporary file."""
    folder = tmp_path_factory.mktemp("parity_optimizers")

    def load_module(source: str, stem: str, target: str) -> ModuleType:
        path = folder / f"{stem}_{target}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"parity_opt_{stem}_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def start_weights(model: ir.Model, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    result = {}
    for name, shape in weights.expected_shapes(model).items():
        scale = 1.0 / math.sqrt(shape[0]) if name.endswith("kernel") else 0.3
        result[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return result


def batches(seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((STEPS, BATCH, FEATURES)).astype(np.float32)
    y = rng.standard_normal((STEPS, BATCH, OUTPUTS)).astype(np.float32)
    return list(zip(x, y, strict=True))


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


@dataclass
class Trained:
    differences: dict[int, float]  # after step n: max |keras - torch| over all weights
    moved: float  # max |w - w0| on the PyTorch side after the last step


def train_both(case: Case, load, keras_optimizer: Callable[[], Any] | None = None) -> Trained:
    """Steps both targets through the case's batches; `keras_optimizer` replaces Keras' one."""
    model = check_spec(case.spec(), f"{case.id}.net")
    km = load(generate(model, "keras"), case.id, "keras")
    tm = load(generate(model, "torch"), case.id, "torch")

    keras_model = km.compile_model(km.build_model(), steps_per_execution=1)
    if keras_optimizer is not None:
        keras_model.compile(
            optimizer=keras_optimizer(),
            loss=km.build_loss(),
            steps_per_execution=1,
        )
    torch_model = tm.build_model()
    start = start_weights(model)
    weights.import_weights(model, keras_model, start)
    weights.import_weights(model, torch_model, start)

    optimizer = tm.build_optimizer(torch_model.parameters())
    scheduler = tm.build_scheduler(optimizer) if hasattr(tm, "build_scheduler") else None
    loss_fn = tm.build_loss()
    callbacks = km.build_callbacks()
    for callback in callbacks:
        callback.set_model(keras_model)

    data = batches()
    per_epoch = STEPS // case.epochs
    differences: dict[int, float] = {}
    step = 0
    rates = []  # each epoch's learning rate, (Keras, PyTorch)
    for epoch in range(case.epochs):
        for callback in callbacks:  # Keras' LearningRateScheduler sets the epoch's lr here
            callback.on_epoch_begin(epoch)
        for x, y in data[epoch * per_epoch : (epoch + 1) * per_epoch]:
            keras_model.train_on_batch(x, y)
            x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
            tm.train_epoch(torch_model, optimizer, loss_fn, [(x_t, y_t)])
            step += 1
            if step in (1, STEPS):
                differences[step] = max_difference(
                    weights.export_weights(model, keras_model),
                    weights.export_weights(model, torch_model),
                )
        keras_lr = float(np.asarray(keras_model.optimizer.learning_rate))
        rates.append((keras_lr, optimizer.param_groups[0]["lr"]))
        if scheduler is not None:
            scheduler.step()
    assert step == STEPS
    for keras_lr, torch_lr in rates:
        assert keras_lr == pytest.approx(torch_lr, rel=1e-6), rates
    if case.epochs > 1:
        assert rates[-1][1] < rates[0][1], "the schedule never changed the learning rate"
    moved = max_difference(weights.export_weights(model, torch_model), start)
    return Trained(differences, moved)


# --------------------------------------------------------------------------- tests


def test_every_optimizer_has_a_case() -> None:
    kinds = {entry.kind for entry in catalogue.entries("optimizer")}
    assert kinds == {case.kind for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_optimizer_parity(case: Case, load) -> None:
    trained = train_both(case, load)
    assert trained.moved > 1e-3, "the optimizer hardly moved the weights: a weak test"
    for step, difference in trained.differences.items():
        assert difference <= ATOL, f"after {step} steps the weights differ by {difference:.3g}"


@pytest.mark.parametrize("case_id", sorted(KERAS_OWN))
def test_keras_own_optimizer_would_differ(case_id: str, load) -> None:
    """The negative control: Keras' own class fails the case its netspec class passes."""
    trained = train_both(BY_ID[case_id], load, keras_optimizer=KERAS_OWN[case_id])
    assert trained.differences[STEPS] > 10 * ATOL


def test_keras_uses_its_own_class_only_where_it_matches() -> None:
    plain = check_spec(BY_ID["sgd"].spec(), "sgd.net")
    assert "return keras.optimizers.SGD(" in generate(plain, "keras")
    assert "class Netspec" not in generate(plain, "keras")
    for case in CASES:
        if case.id in ("sgd", "sgd_wd"):
            continue
        source = generate(check_spec(case.spec(), f"{case.id}.net"), "keras")
        assert "return Netspec" in source, case.id
        assert ("def _clip_gradients" in source) == any("clip_norm" in s for s in case.train)


def test_clipping_is_pytorchs(load) -> None:
    """Keras' global_clipnorm scales by clip/norm; netspec's by min(1, clip/(norm + 1e-6))."""
    case = BY_ID["adam_clip"]
    km = load(generate(check_spec(case.spec(), "clip.net"), "keras"), "clip", "keras")
    rng = np.random.default_rng(5)
    for clip, norm in ((1e-6, 3e-6), (0.1, 0.5), (0.1, 0.05), (0.3, 0.3)):
        arrays = [rng.standard_normal(shape).astype(np.float32) for shape in ((4, 3), (3,))]
        total = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in arrays))
        arrays = [a * np.float32(norm / total) for a in arrays]
        optimizer = km.NetspecAdam(global_clipnorm=clip)
        clipped = [
            np.asarray(g) for g in optimizer._clip_gradients([keras.ops.array(a) for a in arrays])
        ]
        grads = [torch.from_numpy(a.copy()) for a in arrays]
        parameters = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for parameter, grad in zip(parameters, grads, strict=True):
            parameter.grad = grad
        torch.nn.utils.clip_grad_norm_(parameters, max_norm=clip)
        for ours, theirs in zip(clipped, parameters, strict=True):
            np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-6, atol=0)
    # Keras' own rule is measurably another one for a small norm
    own = keras.optimizers.Adam(global_clipnorm=1e-6)
    g = keras.ops.array(np.full((4,), 1.5e-6, dtype=np.float32))  # norm 3e-6
    assert float(np.asarray(own._clip_gradients([g])[0])[0]) == pytest.approx(5e-7, rel=1e-4)
    ours = km.NetspecAdam(global_clipnorm=1e-6)
    assert float(np.asarray(ours._clip_gradients([g])[0])[0]) == pytest.approx(
        1.5e-6 * 1e-6 / 4e-6, rel=1e-4
    )
    # and Keras' training step goes through it
    model = km.compile_model(km.build_model(), steps_per_execution=1)
    calls = []
    clip_gradients = model.optimizer._clip_gradients
    model.optimizer._clip_gradients = lambda grads: (
        calls.append(len(grads)) or clip_gradients(grads)
    )
    x, y = batches()[0]
    model.train_on_batch(x, y)
    assert calls and set(calls) == {4}  # called while tracing, with the four gradients


def test_fit_functions_agree_under_a_schedule(load) -> None:
    """Both generated `fit()`s, unshuffled: the Keras callback and PyTorch's LambdaLR."""
    case = Case(
        "fit_schedule",
        "SGD(lr=0.1, momentum=0.9, nesterov=true, weight_decay=0.01)",
        (STEP_SCHEDULE, "clip_norm = 0.5", "shuffle = false", "epochs = 3"),
    )
    model = check_spec(case.spec(), "fit_schedule.net")
    km = load(generate(model, "keras"), case.id, "keras")
    tm = load(generate(model, "torch"), case.id, "torch")
    keras_model = km.compile_model(km.build_model())
    torch_model = tm.build_model()
    start = start_weights(model, seed=3)
    weights.import_weights(model, keras_model, start)
    weights.import_weights(model, torch_model, start)
    x = np.concatenate([x for x, _ in batches(seed=4)])[: 4 * BATCH]
    y = np.concatenate([y for _, y in batches(seed=4)])[: 4 * BATCH]
    keras_history = km.fit(keras_model, x, y)
    torch_history = tm.fit(torch_model, torch.from_numpy(x), torch.from_numpy(y))
    assert len(keras_history["loss"]) == len(torch_history["loss"]) == 3
    np.testing.assert_allclose(keras_history["loss"], torch_history["loss"], rtol=1e-5)
    difference = max_difference(
        weights.export_weights(model, keras_model), weights.export_weights(model, torch_model)
    )
    assert difference <= ATOL
    assert max_difference(weights.export_weights(model, torch_model), start) > 1e-3


def test_optimizer_config_round_trips(load) -> None:
    """The generated classes are registered Keras objects: saved models load them back."""
    for case_id in ("sgd_momentum_clip", "adam_amsgrad", "rmsprop_centered", "adagrad_wd"):
        case = BY_ID[case_id]
        km = load(generate(check_spec(case.spec(), f"{case_id}.net"), "keras"), case_id, "keras")
        optimizer = km.build_optimizer()
        config = keras.optimizers.serialize(optimizer)
        again = keras.optimizers.deserialize(config)
        assert type(again).__name__ == type(optimizer).__name__
        assert again.get_config() == optimizer.get_config()


def test_nesterov_without_momentum_is_refused() -> None:
    text = BY_ID["sgd"].spec().replace("SGD(lr=0.1)", "SGD(lr=0.1, nesterov=true)")
    model, diagnostics = check_source(text, "nesterov.net")
    assert model is None
    messages = [d.message for d in diagnostics]
    assert any("needs momentum > 0" in m for m in messages), messages


def test_generated_modules_pass_ruff(tmp_path) -> None:
    for case in CASES:
        model = check_spec(case.spec(), f"{case.id}.net")
        for target in ("keras", "torch"):
            (tmp_path / f"{case.id}_{target}.py").write_text(generate(model, target))
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def parity_table(load: Any) -> list[tuple[str, float, float]]:
    """(case, max |Δw| after 1 step, after 10 steps) for every case; for reports."""
    rows = []
    for case in CASES:
        trained = train_both(case, load)
        rows.append((case.id, trained.differences[1], trained.differences[STEPS]))
    return rows
