"""netspec: a declarative model-spec language compiled to Keras and PyTorch.

The stages, each a module: `parse` (text → syntax tree), `blocks` (→ expanded), `check`
(→ checked `ir.Model`), run one after another by `frontend`; `codegen.keras` and
`codegen.torch` (→ Python source). Nothing here imports a framework.

From Python (netspec/api.py): `netspec.check_file(path)`, `netspec.compile(spec, target=…)`
and `netspec.train(path, **settings)`, each imported when first used, so `import netspec`
stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name → the module that defines it; `train` is the netspec.train package itself, callable.
_LAZY = {
    "check_file": "netspec.frontend",
    "compile": "netspec.api",
    "SpecError": "netspec.api",
    "SettingError": "netspec.api",
    "TrainResult": "netspec.api",
}

__all__ = ["SettingError", "SpecError", "TrainResult", "__version__", "check_file", "compile", "train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        return importlib.import_module("netspec.train")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netspec' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
