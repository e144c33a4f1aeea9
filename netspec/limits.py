"""The front end's limits: every spec is refused or checked in bounded time and memory.

Each limit has its own diagnostic code (docs/diagnostics.md, "Limits"). They sit far above any
real model, so only a runaway spec (a typo in a repeat count, a block that doubles at each
level, a hostile file) reaches one; the point is that it is then a diagnostic, never a hang,
a MemoryError or a traceback.
"""

from __future__ import annotations

MAX_SOURCE_BYTES = 1 << 20
"""A spec file or a file it imports holds at most 1 MiB (E0186); read no further."""

MAX_NESTING = 64
"""Brackets, operators and `{ }` bodies nest at most this deep in one file's syntax tree
(E0181); deeper input would exhaust Python's stack in the stages after the parser."""

MAX_INTEGER = 2**63 - 1
"""An integer, written or computed, is at most this in magnitude (int64) (E0180)."""

MAX_LAYERS = 100_000
"""Blocks and repeats expand to at most this many layers (E0183), measured before expanding."""

MAX_EXPANSION_STEPS = 300_000
"""Statements visited while expanding (layers, block uses, ifs, repeats) (E0183): a repeat of
an `if` that chooses nothing makes no layer but still takes time."""

MAX_EXPANSION_DEPTH = 64
"""Block uses, ifs and repeats nest at most this deep once blocks are expanded, and `use`
imports chain at most this deep (E0184)."""

MAX_TENSOR_VALUES = 2**31 - 1
"""A tensor holds at most this many values per sample (E0230)."""

MAX_PARAMETERS = 10**12
"""A model has at most this many parameters (E0231)."""
