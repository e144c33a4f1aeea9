"""Will the model fit? An estimate, from the checked IR alone, of the memory training takes.

A spec may be legal on paper and far too large to train (Dense(100000000) after a wide
input is billions of weights): the framework would then fail deep inside its allocator,
after minutes of loading. So `netspec check` and `summary` warn (W0232), and `netspec train`
refuses before it imports a framework, when one of two figures exceeds this machine's memory:

- the training state: every weight, its gradient, and the optimizer's values per weight (the
  catalogue's `state_slots`: Adam keeps two), 4 bytes each (mixed precision keeps its weights
  in fp32 too);
- one activation: the largest tensor a layer outputs, for a whole batch (2 bytes a value in
  bf16 and fp16, else 4). Training keeps every layer's for the backward pass, so this is the
  least a step needs, not the most.

The machine's memory is the host's, read from /proc/meminfo (MemTotal, MemAvailable) or
os.sysconf; a GPU's is not known before a framework is imported, so a GPU run can still be
too large for its device. No framework is imported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from netspec import ir
from netspec.diagnostics import Diagnostics, Span

WEIGHT_BYTES = 4
"""Bytes of a weight, a gradient and an optimizer value (fp32, also under mixed precision)."""


@dataclass(frozen=True)
class Memory:
    """The host's memory: all of it, and what it can give now without swapping."""

    total: int
    available: int | None
    source: str  # where the figures come from, for the message


@dataclass(frozen=True)
class Need:
    """One figure of the estimate that exceeds the machine's memory."""

    message: str
    span: Span
    bytes: int
    hint: str


def host_memory() -> Memory | None:
    """MemTotal and MemAvailable of /proc/meminfo (Linux), else os.sysconf's page counts;
    None where neither tells."""
    figures: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                name, _, rest = line.partition(":")
                if name in ("MemTotal", "MemAvailable"):
                    figures[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if "MemTotal" in figures:
        return Memory(figures["MemTotal"], figures.get("MemAvailable"), "MemTotal in /proc/meminfo")
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page
    except (OSError, ValueError, AttributeError):
        return None
    try:
        available: int | None = os.sysconf("SC_AVPHYS_PAGES") * page
    except (OSError, ValueError):
        available = None
    return Memory(total, available, "os.sysconf's SC_PHYS_PAGES") if total > 0 else None


def state_bytes(model: ir.Model) -> tuple[int, int]:
    """Bytes of the training state, and the optimizer's values per weight."""
    from netspec import catalogue

    slots = catalogue.optimizer(model.optimizer.kind).state_slots(model.optimizer.params)
    weights = model.trainable_params + model.non_trainable_params
    return (weights + model.trainable_params * (1 + slots)) * WEIGHT_BYTES, slots


def largest_activation(model: ir.Model) -> tuple[ir.Layer, int] | None:
    """The layer whose output, for one batch, takes the most bytes, and how many."""
    value = 2 if model.train.precision in ("bf16", "fp16") else 4
    best: tuple[ir.Layer, int] | None = None
    for layer in model.layers:
        values = 1
        for size in layer.output_shape:
            values *= size
        taken = values * model.train.batch_size * value
        if best is None or taken > best[1]:
            best = (layer, taken)
    return best


def needs(model: ir.Model, limit: int) -> list[Need]:
    """The figures of the estimate over `limit` bytes."""
    found = []
    state, slots = state_bytes(model)
    if state > limit:
        weights = model.trainable_params + model.non_trainable_params
        heaviest = max(
            model.layers,
            key=lambda layer: layer.trainable_params + layer.non_trainable_params,
            default=None,
        )
        kept = f"{model.optimizer.kind}'s {slots} value{'s' if slots != 1 else ''} per weight"
        found.append(
            Need(
                f"training takes about {size(state)} for the model's {weights:,} parameters "
                f"(weights, gradients and {kept}, {WEIGHT_BYTES} bytes each)",
                heaviest.span if heaviest is not None else model.span,
                state,
                "use fewer or smaller layers (SGD without momentum keeps no values per weight)",
            )
        )
    largest = largest_activation(model)
    if largest is not None and largest[1] > limit:
        from netspec.catalogue.shapes import fmt

        layer, taken = largest
        found.append(
            Need(
                f"{layer.name}'s output {fmt(layer.output_shape)} takes about {size(taken)} "
                f"for a batch of {model.train.batch_size}",
                layer.span,
                taken,
                "use a smaller batch_size (--set batch_size=...) or smaller layers",
            )
        )
    return found


def machine_words(memory: Memory) -> str:
    """`the 25.3 GB of memory this machine has (MemTotal in /proc/meminfo; 23.3 GB free)`"""
    free = f"; {size(memory.available)} available now" if memory.available is not None else ""
    return f"the {size(memory.total)} of memory this machine has ({memory.source}{free})"


def warn(model: ir.Model, diagnostics: Diagnostics, memory: Memory | None = None) -> None:
    """W0232 for each figure over the host's memory (`netspec check`, `summary`)."""
    memory = memory or host_memory()
    if memory is None:
        return
    for need in needs(model, memory.total):
        diagnostics.warning(
            "W0232",
            f"{need.message}, more than {machine_words(memory)}",
            need.span,
            hint=f"{need.hint}; `netspec train` refuses it (a GPU's memory is not known "
            "before training)",
        )


def refusal(
    model: ir.Model, gpu_free: int | None = None, gpu: str = ""
) -> tuple[str, str] | None:
    """The message and hint with which `netspec train` refuses a model larger than this
    machine's memory, before a framework is imported (or, given `gpu_free`, than the free
    memory of the GPU a framework reported); None when it fits or nothing tells."""
    if gpu_free is not None:
        found, words = needs(model, gpu_free), f"the {size(gpu_free)} free on {gpu}"
        also = "; the CPU (--device cpu) may hold it"
    else:
        memory = host_memory()
        if memory is None:
            return None
        found, words = needs(model, memory.total), machine_words(memory)
        also = "; `netspec check` warns of it too (W0232)"
    if not found:
        return None
    need = max(found, key=lambda n: n.bytes)
    return f"model {model.name} does not fit: {need.message}, more than {words}", need.hint + also


def size(n: float) -> str:
    """Bytes in words, decimal units as the plan line writes them (12.8 GB)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
