"""Keras optimizers with PyTorch's update rules: copied into generated Keras modules.

netspec's update rules are PyTorch's formulas (docs/semantics.md, "Optimizers"). Where Keras'
own optimizer computes something else (where epsilon goes, whether the lr sits inside a
momentum buffer), the Keras module defines one of these classes instead (the catalogue's
`OptimizerEntry.keras_class` names it). The spec's values reach them only as constructor
arguments. With `clip_norm`, the generator also copies `TorchClipping._clip_gradients` into
the class.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="netspec")
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
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@keras.saving.register_keras_serializable(package="netspec")
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
        }


@keras.saving.register_keras_serializable(package="netspec")
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
        }


@keras.saving.register_keras_serializable(package="netspec")
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
        }


class TorchClipping(keras.optimizers.Optimizer):
    """Gradient clipping as PyTorch does it: the generator copies its method into the class
    the Keras module defines, when the spec sets clip_norm (tests mix it in)."""

    def _clip_gradients(self, grads: list) -> list:
        """PyTorch's clip_grad_norm_: g·min(1, c/(‖g‖ + 1e-6)); Keras' own scales by c/‖g‖."""
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
        scale = ops.minimum(self.global_clipnorm / (norm + 1e-6), 1.0)
        return [g * scale for g in grads]
