"""Code generators: one per target framework, both reading the checked IR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec import ir

if TYPE_CHECKING:
    from netspec.codegen.writer import GeneratedModule

TARGETS = ("keras", "torch")


def generate(model: ir.Model, target: str) -> GeneratedModule:
    """Python source of a standalone module for `target` ("keras" or "torch"); the text also
    says which spec line each of its lines comes from (`GeneratedModule.origin`)."""
    if target == "keras":
        from netspec.codegen import keras

        return keras.generate(model)
    if target == "torch":
        from netspec.codegen import torch

        return torch.generate(model)
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
