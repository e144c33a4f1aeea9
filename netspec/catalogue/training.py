"""Losses, optimizers and metrics.

A loss knows what targets it expects (`target`), checks the model's output against itself,
and lowers to a Keras loss object and to a PyTorch loss (a built-in module where PyTorch has
the same function, else a small function written into the generated module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall
from netspec.catalogue.shapes import flatten_hint, fmt

# Probabilities are clipped to [EPSILON, 1 - EPSILON] before a logarithm (Keras' epsilon).
EPSILON = 1e-7

Target = Literal["sparse", "one_hot", "binary", "regression"]

# The class of each sample in the batch, by the kind of targets (for class weights).
CLASS_INDEX: dict[str, str] = {
    "sparse": "y_true",
    "one_hot": "y_true.argmax(dim=-1)",
    "binary": "y_true.reshape(-1).long()",
}


@dataclass(frozen=True)
class Finding:
    """A problem a loss finds with the model's output; the checker places it on the loss."""

    code: str
    message: str
    hint: str | None = None
    warning: bool = False


@dataclass(frozen=True)
class TorchLoss:
    """`build` makes the loss; `helper` is the source of a function it needs, if any.

    Class weights need each sample's loss: a built-in loss gives it with reduction="none", a
    helper function with its own `reduction` argument.
    """

    build: PyCall | Code
    helper: str | None = None

    def per_sample(self) -> tuple[PyCall | None, str]:
        """(a module to build first, or None; the expression of per-sample losses)."""
        if isinstance(self.build, Code):
            return None, f'{self.build.text}(y_pred, y_true, reduction="none")'
        call = PyCall(self.build.func, self.build.args, {**self.build.kwargs, "reduction": "none"})
        return call, "per_sample(y_pred, y_true)"


class LossEntry(Entry):
    family = "loss"
    target: ClassVar[Target]
    formula: ClassVar[str]

    def check_output(self, p: Any, shape: ir.Shape, activation: str | None) -> list[Finding]:
        return []

    def keras(self, p: Any) -> PyCall:
        raise NotImplementedError

    def torch(self, p: Any) -> TorchLoss:
        raise NotImplementedError


class NoParams(ir.Params):
    pass


class MeanSquaredError(LossEntry):
    kind = "mean_squared_error"
    aliases = ("mse",)
    Params = NoParams
    target = "regression"
    formula = "mean((y_pred - y_true)²)"

    def keras(self, p: NoParams) -> PyCall:
        return PyCall("keras.losses.MeanSquaredError")

    def torch(self, p: NoParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.MSELoss"))


class MeanAbsoluteError(LossEntry):
    kind = "mean_absolute_error"
    aliases = ("mae",)
    Params = NoParams
    target = "regression"
    formula = "mean(|y_pred - y_true|)"

    def keras(self, p: NoParams) -> PyCall:
        return PyCall("keras.losses.MeanAbsoluteError")

    def torch(self, p: NoParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.L1Loss"))


class HuberParams(ir.Params):
    delta: float = Field(1.0, gt=0, description="where the loss turns from quadratic to linear")


class Huber(LossEntry):
    kind = "huber"
    Params = HuberParams
    target = "regression"
    formula = "mean(½e² if |e| ≤ δ else δ(|e| - ½δ)), e = y_pred - y_true"

    def keras(self, p: HuberParams) -> PyCall:
        return PyCall("keras.losses.Huber", (), {"delta": p.delta})

    def torch(self, p: HuberParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.HuberLoss", (), {"delta": p.delta}))


class LogitsParams(ir.Params):
    from_logits: bool = Field(
        False, description="true when the model outputs raw scores (no softmax/sigmoid)"
    )


def _logit_findings(p: LogitsParams, activation: str | None, squash: str) -> list[Finding]:
    if p.from_logits and activation in ("softmax", "sigmoid"):
        return [
            Finding(
                "W0302",
                f"the model ends in {activation}, but the loss takes logits (from_logits=true): "
                f"{activation} would be applied twice",
                hint=f"remove activation={activation} from the last layer, or set from_logits=false",
                warning=True,
            )
        ]
    if not p.from_logits and activation == "linear":
        return [
            Finding(
                "W0303",
                f"the last layer has no {squash}, so the model outputs logits, "
                "but the loss expects probabilities",
                hint=f"set from_logits=true, or end the model with activation={squash}",
                warning=True,
            )
        ]
    return []


_BINARY_HELPER = '''def binary_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy of probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    losses = -(y_true * torch.log(y_pred) + (1.0 - y_true) * torch.log(1.0 - y_pred))
    return losses.mean() if reduction == "mean" else losses'''


class BinaryCrossentropy(LossEntry):
    kind = "binary_crossentropy"
    aliases = ("bce",)
    Params = LogitsParams
    target = "binary"
    formula = "-mean(y log p + (1 - y) log(1 - p)), p = sigmoid(y_pred) with from_logits"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        multilabel = activation == "sigmoid" or (p.from_logits and activation == "linear")
        if shape[-1] != 1 and not multilabel:
            return [
                Finding(
                    "E0301",
                    f"binary_crossentropy needs one output unit per label, but the model "
                    f"outputs {shape[-1]} units ending in {activation or 'no activation'}",
                    hint="for one class out of many use categorical_crossentropy or "
                    "sparse_categorical_crossentropy; for yes/no end with Dense(1, activation=sigmoid)",
                )
            ]
        return _logit_findings(p, activation, "sigmoid")

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall("keras.losses.BinaryCrossentropy", (), {"from_logits": p.from_logits})

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:
            return TorchLoss(PyCall("nn.BCEWithLogitsLoss"))
        return TorchLoss(Code("binary_crossentropy"), _BINARY_HELPER)


def _categorical_findings(kind: str, p: LogitsParams, shape: ir.Shape, activation: str | None):
    # A class per sample (the targets hold one index or one one-hot vector per sample): the
    # output must be [classes]; [28, 10] is a forgotten Flatten, not per-step classes.
    if len(shape) != 1:
        return [
            Finding(
                "E0301",
                f"{kind} needs one score per class for each sample, an output [classes], "
                f"but the model outputs {fmt(shape)}",
                hint=flatten_hint(shape),
            )
        ]
    if shape[-1] < 2:
        return [
            Finding(
                "E0301",
                f"{kind} needs one output unit per class, but the model outputs {shape[-1]} unit",
                hint="for two classes with one output use binary_crossentropy and "
                "activation=sigmoid; else give the last Dense one unit per class",
            )
        ]
    return _logit_findings(p, activation, "softmax")


_CATEGORICAL_HELPER = '''def categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of one-hot targets and probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    losses = -(y_true * torch.log(y_pred)).sum(dim=-1)
    return losses.mean() if reduction == "mean" else losses'''

_SPARSE_HELPER = '''def sparse_categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of class indices and probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return nn.functional.nll_loss(torch.log(y_pred), y_true, reduction=reduction)'''


class CategoricalCrossentropy(LossEntry):
    kind = "categorical_crossentropy"
    Params = LogitsParams
    target = "one_hot"
    formula = "-mean(Σᵢ yᵢ log pᵢ), p = softmax(y_pred) with from_logits; y one-hot"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        return _categorical_findings(self.kind, p, shape, activation)

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall("keras.losses.CategoricalCrossentropy", (), {"from_logits": p.from_logits})

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:  # CrossEntropyLoss takes class probabilities as targets too
            return TorchLoss(PyCall("nn.CrossEntropyLoss"))
        return TorchLoss(Code("categorical_crossentropy"), _CATEGORICAL_HELPER)


class SparseCategoricalCrossentropy(LossEntry):
    kind = "sparse_categorical_crossentropy"
    Params = LogitsParams
    target = "sparse"
    formula = "-mean(log p_y), p = softmax(y_pred) with from_logits; y a class index"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        return _categorical_findings(self.kind, p, shape, activation)

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall(
            "keras.losses.SparseCategoricalCrossentropy", (), {"from_logits": p.from_logits}
        )

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:
            return TorchLoss(PyCall("nn.CrossEntropyLoss"))
        return TorchLoss(Code("sparse_categorical_crossentropy"), _SPARSE_HELPER)


# --------------------------------------------------------------------------- optimizers
#
# netspec's update rules are PyTorch's formulas (docs/semantics.md, "Optimizers"): the
# PyTorch module uses torch.optim as it is. Where Keras' own optimizer computes something
# else (where epsilon goes, whether the lr sits inside a momentum buffer), the Keras module
# defines a small `keras.optimizers.Optimizer` subclass with PyTorch's formula instead. Its
# source below is fixed text: the spec's values reach it only as constructor arguments.

_KERAS_SGD = '''@keras.saving.register_keras_serializable(package="netspec")
class NetspecSGD(keras.optimizers.Optimizer):
    """netspec's rule, PyTorch's SGD: Keras' keeps lr in the velocity, off once the lr changes."""

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "netspec_sgd",
        **kwargs,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentum_buffer = (
            [self.add_variable_from_reference(v, "momentum_buffer") for v in variables]
            if self.momentum > 0
            else []
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        """b ← μ·b + g; w ← w − lr·b (nesterov: w ← w − lr·(g + μ·b)); at μ = 0 w ← w − lr·g."""
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.momentum > 0:
            b = self.momentum_buffer[self._get_variable_index(variable)]
            self.assign(b, self.momentum * b + g)
            g = g + self.momentum * b if self.nesterov else b
        self.assign_sub(variable, lr * g)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}'''

_KERAS_ADAM = '''@keras.saving.register_keras_serializable(package="netspec")
class NetspecAdam(keras.optimizers.Optimizer):
    """netspec's rule, PyTorch's Adam: Keras' adds epsilon to sqrt(v) before bias correction."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-07,
        amsgrad: bool = False,
        name: str = "netspec_adam",
        **kwargs,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        self.exp_avg = [self.add_variable_from_reference(v, "exp_avg") for v in variables]
        self.exp_avg_sq = [self.add_variable_from_reference(v, "exp_avg_sq") for v in variables]
        self.max_exp_avg_sq = (
            [self.add_variable_from_reference(v, "max_exp_avg_sq") for v in variables]
            if self.amsgrad
            else []
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        """m ← β1·m + (1 − β1)·g and v ← β2·v + (1 − β2)·g², then

            w ← w − lr/(1 − β1ᵗ) · m/(sqrt(v)/sqrt(1 − β2ᵗ) + ε),

        computed as w ← w − α·m/(sqrt(v) + ε·sqrt(1 − β2ᵗ)), α = lr·sqrt(1 − β2ᵗ)/(1 − β1ᵗ):
        the same rule with as many operations per weight as Keras' Adam, which adds ε itself.
        """
        index = self._get_variable_index(variable)
        g = ops.cast(gradient, variable.dtype)
        m, v = self.exp_avg[index], self.exp_avg_sq[index]
        self.assign_add(m, (g - m) * (1.0 - self.beta_1))
        self.assign_add(v, (ops.square(g) - v) * (1.0 - self.beta_2))
        if self.amsgrad:  # the largest v so far stands in for v
            self.assign(self.max_exp_avg_sq[index], ops.maximum(self.max_exp_avg_sq[index], v))
            v = self.max_exp_avg_sq[index]
        # the step's scalars in double precision, as PyTorch computes them
        t = ops.cast(self.iterations + 1, "float64")
        root = ops.sqrt(1.0 - ops.power(self.beta_2, t))
        alpha = ops.cast(learning_rate, "float64") * root / (1.0 - ops.power(self.beta_1, t))
        alpha = ops.cast(alpha, variable.dtype)
        epsilon = ops.cast(self.epsilon * root, variable.dtype)
        self.assign_sub(variable, alpha * m / (ops.sqrt(v) + epsilon))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }'''

_KERAS_RMSPROP = '''@keras.saving.register_keras_serializable(package="netspec")
class NetspecRMSprop(keras.optimizers.Optimizer):
    """netspec's rule, PyTorch's RMSprop: Keras' puts epsilon in the root, lr in the momentum."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-07,
        centered: bool = False,
        name: str = "netspec_rmsprop",
        **kwargs,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        self.square_avg = [self.add_variable_from_reference(v, "square_avg") for v in variables]
        self.momentum_buffer = (
            [self.add_variable_from_reference(v, "momentum_buffer") for v in variables]
            if self.momentum > 0
            else []
        )
        self.grad_avg = (
            [self.add_variable_from_reference(v, "grad_avg") for v in variables]
            if self.centered
            else []
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        """s ← ρ·s + (1 − ρ)·g²; d = sqrt(s) + ε; w ← w − lr·g/d.

        Centered: a ← ρ·a + (1 − ρ)·g and d = sqrt(s − a²) + ε.
        With momentum: b ← μ·b + g/d; w ← w − lr·b.
        """
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        s = self.square_avg[index]
        self.assign(s, self.rho * s + (1.0 - self.rho) * ops.square(g))
        if self.centered:
            a = self.grad_avg[index]
            self.assign_add(a, (g - a) * (1.0 - self.rho))
            denominator = ops.sqrt(s - ops.square(a)) + self.epsilon
        else:
            denominator = ops.sqrt(s) + self.epsilon
        if self.momentum > 0:
            b = self.momentum_buffer[index]
            self.assign(b, self.momentum * b + g / denominator)
            self.assign_sub(variable, lr * b)
        else:
            self.assign_sub(variable, lr * (g / denominator))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }'''

_KERAS_ADAGRAD = '''@keras.saving.register_keras_serializable(package="netspec")
class NetspecAdagrad(keras.optimizers.Optimizer):
    """netspec's rule, PyTorch's Adagrad: Keras' adds epsilon inside the square root."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-07,
        name: str = "netspec_adagrad",
        **kwargs,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        initial = keras.initializers.Constant(self.initial_accumulator_value)
        self.sum = [self.add_variable_from_reference(v, "sum", initial) for v in variables]

    def update_step(self, gradient, variable, learning_rate) -> None:
        """s ← s + g²; w ← w − lr·g/(sqrt(s) + ε)."""
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        s = self.sum[self._get_variable_index(variable)]
        self.assign_add(s, ops.square(g))
        self.assign_sub(variable, lr * (g / (ops.sqrt(s) + self.epsilon)))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }'''

# With clip_norm, the class scales gradients as torch.nn.utils.clip_grad_norm_ does.
_KERAS_CLIP = '''

    def _clip_gradients(self, grads: list) -> list:
        """PyTorch's clip_grad_norm_: g·min(1, c/(‖g‖ + 1e-6)); Keras' own scales by c/‖g‖."""
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
        scale = ops.minimum(self.global_clipnorm / (norm + 1e-6), 1.0)
        return [g * scale for g in grads]'''


class OptimizerEntry(Entry):
    """An update rule: PyTorch's formula, on both targets.

    `weight_decay` is decoupled on every optimizer, as in Keras and AdamW: each step first
    shrinks every weight, w -= lr · weight_decay · w, then applies the update. Where PyTorch's
    optimizer has no decoupled decay, the generated loop applies it itself.

    The Keras module builds `keras_class`, a class it defines from `keras_source`, unless
    `keras_own_matches` says Keras' own `keras_own` computes the same rule.
    """

    family = "optimizer"
    arg_aliases: ClassVar[dict[str, str]] = {"learning_rate": "lr"}
    torch_decays_natively: ClassVar[bool] = False

    keras_class: ClassVar[str]
    keras_source: ClassVar[str]
    keras_own: ClassVar[str | None] = None
    torch_class: ClassVar[str]
    # torch.optim's fused kernel (one pass over all weights; on CPU, CUDA and MPS) computes
    # the same rule; bench/README.md measures it at 20% of an MLP epoch on 2 CPU cores.
    torch_fused: ClassVar[bool] = False

    def keras_args(self, p: Any) -> dict[str, Any]:
        raise NotImplementedError

    def torch_args(self, p: Any) -> dict[str, Any]:
        raise NotImplementedError

    def state_slots(self, p: Any) -> int:
        """Values the rule keeps per weight (momentum buffers, moment averages): what the
        memory estimate (netspec/memory.py) counts beside the weights and their gradients."""
        raise NotImplementedError

    def keras_own_matches(self, p: Any, clip_norm: float | None) -> bool:
        """Whether Keras' own class computes netspec's rule for these values."""
        return False

    def keras(self, p: Any, clip_norm: float | None = None) -> PyCall:
        """The call in `build_optimizer()`; Keras applies weight decay and clipping first."""
        kwargs = {"learning_rate": p.lr, **self.keras_args(p)}
        if p.weight_decay > 0:
            kwargs["weight_decay"] = p.weight_decay
        if clip_norm is not None:
            kwargs["global_clipnorm"] = clip_norm
        if self.keras_own is not None and self.keras_own_matches(p, clip_norm):
            return PyCall(self.keras_own, (), kwargs)
        return PyCall(self.keras_class, (), kwargs)

    def keras_helper(self, p: Any, clip_norm: float | None = None) -> str | None:
        """Source of the optimizer class the Keras module defines; None for Keras' own."""
        if self.keras_own is not None and self.keras_own_matches(p, clip_norm):
            return None
        return self.keras_source + (_KERAS_CLIP if clip_norm is not None else "")

    def torch(self, p: Any) -> PyCall:
        fused = {"fused": True} if self.torch_fused else {}
        return PyCall(
            self.torch_class, (PARAMETERS,), {"lr": p.lr, **self.torch_args(p), **fused}
        )

    def loop_weight_decay(self, p: Any) -> float:
        """Decay the generated PyTorch loop applies before each step (0 when none)."""
        return 0.0 if self.torch_decays_natively else p.weight_decay


PARAMETERS = Code("parameters")


def _weight_decay(default: float = 0.0) -> Any:
    return Field(default, ge=0, description="decoupled weight decay: w -= lr · weight_decay · w")


class SGDParams(ir.Params):
    lr: float = Field(0.01, gt=0, description="learning rate, a positive number")
    momentum: float = Field(0.0, ge=0, lt=1, description="weight of the previous step in the next")
    nesterov: bool = Field(False, description="Nesterov momentum; needs momentum > 0")
    weight_decay: float = _weight_decay()

    @field_validator("nesterov")
    @classmethod
    def _nesterov_needs_momentum(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("momentum", 1.0) == 0:
            raise ValueError("needs momentum > 0 (PyTorch refuses Nesterov without momentum)")
        return value


class SGD(OptimizerEntry):
    """b ← momentum · b + g, w -= lr · b (heavy-ball, lr outside the buffer); nesterov:
    w -= lr · (g + momentum · b); plain gradient descent at momentum 0."""

    kind = "SGD"
    summary = "stochastic gradient descent, with heavy-ball or Nesterov momentum"
    Params = SGDParams
    keras_class = "NetspecSGD"
    keras_source = _KERAS_SGD
    keras_own = "keras.optimizers.SGD"
    torch_class = "torch.optim.SGD"
    torch_fused = True

    def keras_own_matches(self, p: SGDParams, clip_norm: float | None) -> bool:
        # w -= lr · g is the same rule; with momentum Keras stores -lr · g in its velocity.
        return p.momentum == 0 and clip_norm is None

    def keras_args(self, p: SGDParams) -> dict[str, Any]:
        return {"momentum": p.momentum, "nesterov": p.nesterov}

    def torch_args(self, p: SGDParams) -> dict[str, Any]:
        return {"momentum": p.momentum, "nesterov": p.nesterov}

    def state_slots(self, p: SGDParams) -> int:
        return 1 if p.momentum > 0 else 0


class AdamParams(ir.Params):
    lr: float = Field(0.001, gt=0, description="learning rate, a positive number")
    beta_1: float = Field(0.9, ge=0, lt=1, description="decay of the first-moment average")
    beta_2: float = Field(0.999, ge=0, lt=1, description="decay of the second-moment average")
    epsilon: float = Field(
        1e-7, gt=0,
        description="small constant that keeps the update finite (Keras' value; PyTorch's own is 1e-8)",
    )
    amsgrad: bool = Field(False, description="use the AMSGrad variant")
    weight_decay: float = _weight_decay()


class Adam(OptimizerEntry):
    """Adam with bias correction, epsilon added to the bias-corrected sqrt(v̂) (PyTorch's);
    netspec's epsilon is 1e-7 on both targets."""

    kind = "Adam"
    summary = "Adam, with bias correction"
    Params = AdamParams
    keras_class = "NetspecAdam"
    keras_source = _KERAS_ADAM
    torch_class = "torch.optim.Adam"
    torch_fused = True
    torch_decays_natively = True

    def keras_args(self, p: AdamParams) -> dict[str, Any]:
        return {"beta_1": p.beta_1, "beta_2": p.beta_2, "epsilon": p.epsilon, "amsgrad": p.amsgrad}

    def torch_args(self, p: AdamParams) -> dict[str, Any]:
        args: dict[str, Any] = {
            "betas": (p.beta_1, p.beta_2),
            "eps": p.epsilon,
            "amsgrad": p.amsgrad,
        }
        if p.weight_decay > 0:
            args.update(weight_decay=p.weight_decay, decoupled_weight_decay=True)
        return args

    def state_slots(self, p: AdamParams) -> int:
        return 3 if p.amsgrad else 2


class AdamWParams(AdamParams):
    weight_decay: float = _weight_decay(0.01)


class AdamW(Adam):
    """Adam with decoupled weight decay (netspec's default 0.01, PyTorch's); Keras builds
    NetspecAdam with that weight decay."""

    kind = "AdamW"
    summary = "Adam with decoupled weight decay, 0.01 by default"
    Params = AdamWParams
    torch_class = "torch.optim.AdamW"

    def torch_args(self, p: AdamWParams) -> dict[str, Any]:
        return {
            "betas": (p.beta_1, p.beta_2),
            "eps": p.epsilon,
            "amsgrad": p.amsgrad,
            "weight_decay": p.weight_decay,
        }


class RMSpropParams(ir.Params):
    lr: float = Field(0.001, gt=0, description="learning rate, a positive number")
    rho: float = Field(0.9, ge=0, lt=1, description="decay of the moving average of g²")
    momentum: float = Field(0.0, ge=0, lt=1, description="weight of the previous step in the next")
    epsilon: float = Field(1e-7, gt=0, description="small constant that keeps the update finite")
    centered: bool = Field(
        False, description="normalise by the centred second moment (an estimate of the variance)"
    )
    weight_decay: float = _weight_decay()


class RMSprop(OptimizerEntry):
    """s ← rho · s + (1 - rho) · g², w -= lr · g / (sqrt(s) + epsilon) (PyTorch's: epsilon
    outside the root, lr outside the momentum buffer); rho is PyTorch's `alpha`."""

    kind = "RMSprop"
    summary = "divides each step by a moving root mean square of the gradients"
    Params = RMSpropParams
    keras_class = "NetspecRMSprop"
    keras_source = _KERAS_RMSPROP
    torch_class = "torch.optim.RMSprop"

    def keras_args(self, p: RMSpropParams) -> dict[str, Any]:
        return {"rho": p.rho, "momentum": p.momentum, "epsilon": p.epsilon, "centered": p.centered}

    def torch_args(self, p: RMSpropParams) -> dict[str, Any]:
        return {"alpha": p.rho, "momentum": p.momentum, "eps": p.epsilon, "centered": p.centered}

    def state_slots(self, p: RMSpropParams) -> int:
        return 1 + (p.momentum > 0) + p.centered


class AdagradParams(ir.Params):
    lr: float = Field(0.001, gt=0, description="learning rate, a positive number")
    initial_accumulator_value: float = Field(
        0.1, ge=0, description="starting value of the per-weight sum of squared gradients"
    )
    epsilon: float = Field(1e-7, gt=0, description="small constant that keeps the update finite")
    weight_decay: float = _weight_decay()


class Adagrad(OptimizerEntry):
    """s ← s + g², w -= lr · g / (sqrt(s) + epsilon), s starting at initial_accumulator_value
    (PyTorch's: epsilon outside the root)."""

    kind = "Adagrad"
    summary = "divides each step by the root of the summed squared gradients"
    Params = AdagradParams
    keras_class = "NetspecAdagrad"
    keras_source = _KERAS_ADAGRAD
    torch_class = "torch.optim.Adagrad"

    def keras_args(self, p: AdagradParams) -> dict[str, Any]:
        return {"initial_accumulator_value": p.initial_accumulator_value, "epsilon": p.epsilon}

    def torch_args(self, p: AdagradParams) -> dict[str, Any]:
        return {"initial_accumulator_value": p.initial_accumulator_value, "eps": p.epsilon}

    def state_slots(self, p: AdagradParams) -> int:
        return 1


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class TorchMetric:
    doc: str
    expr: str  # of `y_pred` and `y_true`, the batch mean


class MetricEntry(Entry):
    family = "metric"
    targets: ClassVar[tuple[Target, ...]]
    higher_is_better: ClassVar[bool] = False  # how early stopping and the best checkpoint read it

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        raise NotImplementedError

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        raise NotImplementedError


class Accuracy(MetricEntry):
    """The fraction of samples whose highest-scoring class is the true one; for binary
    targets, the fraction of outputs on the target's side of 0.5 (of 0 with from_logits=true)."""

    kind = "accuracy"
    summary = "fraction of samples classified right"
    aliases = ("acc",)
    targets = ("sparse", "one_hot", "binary")
    higher_is_better = True

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        if target == "sparse":
            return PyCall("keras.metrics.SparseCategoricalAccuracy", (), {"name": "accuracy"})
        if target == "one_hot":
            return PyCall("keras.metrics.CategoricalAccuracy", (), {"name": "accuracy"})
        threshold = 0.0 if from_logits else 0.5
        return PyCall("keras.metrics.BinaryAccuracy", (), {"name": "accuracy", "threshold": threshold})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        if target == "sparse":
            return TorchMetric(
                "Fraction of samples whose highest-scoring class is the true class index.",
                "(y_pred.argmax(dim=-1) == y_true).float().mean()",
            )
        if target == "one_hot":
            return TorchMetric(
                "Fraction of samples whose highest-scoring class is the one-hot target's class.",
                "(y_pred.argmax(dim=-1) == y_true.argmax(dim=-1)).float().mean()",
            )
        threshold = 0.0 if from_logits else 0.5
        return TorchMetric(
            f"Fraction of outputs on the target's side of {threshold}.",
            f"((y_pred > {threshold}).float() == (y_true > 0.5).float()).float().mean()",
        )


class MAEMetric(MetricEntry):
    """The mean of |y_pred - y_true|."""

    kind = "mean_absolute_error"
    summary = "mean absolute difference"
    aliases = ("mae",)
    targets = ("regression", "binary")

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        return PyCall("keras.metrics.MeanAbsoluteError", (), {"name": "mean_absolute_error"})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        return TorchMetric("Mean absolute difference.", "(y_pred - y_true).abs().mean()")


class MSEMetric(MetricEntry):
    """The mean of (y_pred - y_true)²."""

    kind = "mean_squared_error"
    summary = "mean squared difference"
    aliases = ("mse",)
    targets = ("regression", "binary")

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        return PyCall("keras.metrics.MeanSquaredError", (), {"name": "mean_squared_error"})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        return TorchMetric("Mean squared difference.", "((y_pred - y_true) ** 2).mean()")


# --------------------------------------------------------------------------- schedules


class ScheduleEntry(Entry):
    """A per-epoch learning rate: lr(epoch) = lr × factor(epoch), or a plateau rule.

    Both generators write the same `learning_rate_factor(epoch)` function, so PyTorch
    (`LambdaLR`) and Keras (`LearningRateScheduler`) follow exactly the same curve.
    """

    family = "schedule"
    formula: ClassVar[str]

    def factor(self, p: Any, epochs: int) -> str | None:
        """Python expression of `epoch` (and `math`); None for rules that watch a metric."""
        raise NotImplementedError


class StepParams(ir.Params):
    every: int = Field(10, gt=0, description="epochs between two decays")
    gamma: float = Field(0.1, gt=0, description="factor applied at each decay")


class StepSchedule(ScheduleEntry):
    kind = "step"
    Params = StepParams
    formula = "lr × gamma^floor(epoch / every)"

    def factor(self, p: StepParams, epochs: int) -> str:
        return f"{p.gamma!r} ** (epoch // {p.every})"


class ExponentialParams(ir.Params):
    gamma: float = Field(0.96, gt=0, description="factor applied every epoch")


class ExponentialSchedule(ScheduleEntry):
    kind = "exponential"
    Params = ExponentialParams
    formula = "lr × gamma^epoch"

    def factor(self, p: ExponentialParams, epochs: int) -> str:
        return f"{p.gamma!r} ** epoch"


class CosineParams(ir.Params):
    min_factor: float = Field(0.0, ge=0, le=1, description="final lr as a fraction of the first")


class CosineSchedule(ScheduleEntry):
    kind = "cosine"
    Params = CosineParams
    formula = "lr × (m + (1 - m)(1 + cos(π · epoch / epochs)) / 2), m = min_factor"

    def factor(self, p: CosineParams, epochs: int) -> str:
        m = p.min_factor
        return f"{m!r} + {1.0 - m!r} * (1.0 + math.cos(math.pi * epoch / {epochs})) / 2.0"


class PlateauParams(ir.Params):
    factor: float = Field(0.1, gt=0, lt=1, description="multiply the lr by this on a plateau")
    patience: int = Field(5, ge=0, description="epochs without improvement before reducing")
    min_delta: float = Field(1e-4, ge=0, description="smallest decrease that counts as improvement")
    min_lr: float = Field(0.0, ge=0, description="the lr never goes below this")


class ReduceOnPlateau(ScheduleEntry):
    kind = "reduce_on_plateau"
    Params = PlateauParams
    formula = (
        "lr × factor after `patience` epochs whose monitored figure improved by less than min_delta"
    )

    def factor(self, p: PlateauParams, epochs: int) -> None:
        return None

    def torch(self, p: PlateauParams, mode: str = "min") -> PyCall:
        return PyCall(
            "torch.optim.lr_scheduler.ReduceLROnPlateau",
            (Code("optimizer"),),
            {
                "mode": mode,
                "factor": p.factor,
                "patience": p.patience,
                "threshold": p.min_delta,
                "threshold_mode": "abs",
                "min_lr": p.min_lr,
            },
        )

    def keras(self, p: PlateauParams, monitor: str, mode: str = "min") -> PyCall:
        return PyCall(
            "keras.callbacks.ReduceLROnPlateau",
            (),
            {
                "monitor": monitor,
                "mode": mode,
                "factor": p.factor,
                "patience": p.patience,
                "min_delta": p.min_delta,
                "min_lr": p.min_lr,
            },
        )
