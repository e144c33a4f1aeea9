"""netspec: a declarative model-spec language compiled to Keras and PyTorch.

The stages, each a module: `parse` (text → syntax tree), `check` (→ checked `ir.Model`),
`codegen.keras` and `codegen.torch` (→ Python source). Nothing here imports a framework.
"""

__version__ = "0.1.0"
