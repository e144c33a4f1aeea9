"""Optimizers: netspec's update rules, PyTorch's formulas on both targets.

netspec's update rules are PyTorch's formulas (docs/semantics.md, "Optimizers"): the
PyTorch module uses torch.optim as it is. Where Keras' own optimizer computes something
else (where epsilon goes, whether the lr sits inside a momentum buffer), the Keras module
defines a small `keras.optimizers.Optimizer` subclass with PyTorch's formula instead: the
class `keras_class` names, real Python in codegen/snippets/keras_optimizers.py that the
generator copies. The spec's values reach it only as constructor arguments.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall


class OptimizerEntry(Entry):
    """An update rule: PyTorch's formula, on both targets.

    `weight_decay` is decoupled on every optimizer, as in Keras and AdamW: each step first
    shrinks every weight, w -= lr · weight_decay · w, then applies the update. Where PyTorch's
    optimizer has no decoupled decay, the generated loop applies it itself.

    The Keras module builds `keras_class`, a class it defines (its source is the class of that
    name in codegen/snippets/keras_optimizers.py), unless `keras_own_matches` says Keras' own
    `keras_own` computes the same rule.
    """

    family = "optimizer"
    arg_aliases: ClassVar[dict[str, str]] = {"learning_rate": "lr"}
    torch_decays_natively: ClassVar[bool] = False

    keras_class: ClassVar[str]
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

    def keras_defines(self, p: Any, clip_norm: float | None = None) -> str | None:
        """The optimizer class the Keras module defines (snippets/keras_optimizers.py), with
        PyTorch's clipping when clip_norm is set; None where it builds Keras' own."""
        if self.keras_own is not None and self.keras_own_matches(p, clip_norm):
            return None
        return self.keras_class

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
    torch_class = "torch.optim.Adagrad"

    def keras_args(self, p: AdagradParams) -> dict[str, Any]:
        return {"initial_accumulator_value": p.initial_accumulator_value, "epsilon": p.epsilon}

    def torch_args(self, p: AdagradParams) -> dict[str, Any]:
        return {"initial_accumulator_value": p.initial_accumulator_value, "eps": p.epsilon}

    def state_slots(self, p: AdagradParams) -> int:
        return 1
