"""How layers are named: the one rule blocks expansion and the checker both follow.

A layer without a name is named after its kind as Keras would (`dense`, `dense_1`, …), never
with a name generated code needs for itself (`RESERVED_NAMES`). Expansion names the layers
of blocks and of the model; the checker names those of a spec it is given unexpanded.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from functools import cache

# Names a layer may not take: they would shadow what generated code needs.
RESERVED_NAMES = frozenset(
    {
        "self", "x", "input", "inputs", "outputs", "model", "torch", "nn", "keras", "layers", "np",
        "forward", "training", "parameters", "buffers", "children", "modules", "state_dict",
        "load_state_dict", "to", "cuda", "cpu", "train", "eval", "apply", "type", "float",
        "double", "half", "zero_grad", "reset_parameters", "register_buffer", "add_module",
        "named_parameters", "named_buffers", "named_children", "named_modules", "extra_repr",
        "requires_grad_", "share_memory", "dump_patches", "call_super_init", "get_submodule",
    }
)
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # what a layer or input name looks like


def usable_name(name: str) -> bool:
    """True when `name` may name a layer or an input: an identifier, not reserved."""
    return bool(NAME.match(name)) and not keyword.iskeyword(name) and name not in RESERVED_NAMES


@cache
def snake_case(kind: str) -> str:
    """Keras' way of naming a layer after its class (cached: a few kinds, many layers).

    >>> snake_case("MaxPooling2D"), snake_case("Conv2D"), snake_case("LSTM")
    ('max_pooling2d', 'conv2d', 'lstm')
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass
class Namer:
    """Fresh names numbered like Keras' (`dense`, `dense_1`, …), none of them in `taken`."""

    taken: set[str]
    counters: dict[str, int] = field(default_factory=dict)

    def fresh(self, base: str, first_plain: bool = True, reserved: frozenset[str] = frozenset()) -> str:
        """The next free `base`, `base_1`, …; a name in `reserved` is skipped (and counted)."""
        while True:
            n = self.counters.get(base, 0)
            self.counters[base] = n + 1
            candidate = base if n == 0 and first_plain else f"{base}_{n}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                if candidate not in reserved:
                    return candidate
