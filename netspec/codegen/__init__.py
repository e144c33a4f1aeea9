"""Code generators: one per target framework, both reading the checked IR."""

from __future__ import annotations

from netspec import ir

TARGETS = ("keras", "torch")


def generate(model: ir.Model, target: str) -> str:
    """Python source of a standalone module for `target` ("keras" or "torch")."""
    if target == "keras":
        from netspec.codegen import keras

        return keras.generate(model)
    if target == "torch":
        from netspec.codegen import torch

        return torch.generate(model)
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
