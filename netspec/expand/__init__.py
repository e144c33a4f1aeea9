"""Blocks, imports, `repeat` and arithmetic: syntax tree → plain layer statements.

This pass runs between parsing and checking. It loads the files named by `use` (each parsed
once, relative to the file that imports it), collects the block definitions each file can see,
instantiates every block use with its arguments bound, unrolls `repeat`, and folds arithmetic
(`filters * 2`) into numbers. What comes out is a `SpecFile` of plain `LayerStmt`s that the
checker already understands; each statement made from a block keeps its `origin` (the use
sites that made it), so a diagnostic on it names the instance as well as the block's text,
and its `blocks` (the same instances as `ir.BlockUse` data, outermost first), which the
checker carries into each layer for the picture and the language server.

Names inside an instance are prefixed with the instance's name, which is the use site's name
(`h = conv_bn(16)` → `h_conv2d`) or the block's name numbered like a layer's
(`residual`, `residual_1`, …): `residual_1_conv2d`, `residual_1_s`.

The pass is `expand` below; its parts are modules of their own: `expr` (folding values),
`imports` (`use`), `definitions` (block-definition checks), `expander` (instantiation) and
`measure` (the size limits, checked before expanding). The module is `expander`, not
`expand`, so that `netspec.expand.expand` names one thing: this function.
"""

from __future__ import annotations

from netspec import ir
from netspec.diagnostics import Diagnostics
from netspec.expand.definitions import check_definition
from netspec.expand.expander import Expander, Frame, collect_names
from netspec.expand.expr import evaluate, fold
from netspec.expand.imports import Loader
from netspec.expand.measure import within_limits

__all__ = ["evaluate", "expand"]


def expand(
    spec: ir.SpecFile, diagnostics: Diagnostics, sources: dict[str, str] | None = None
) -> tuple[ir.SpecFile, bool]:
    """The spec with blocks instantiated, repeats unrolled and arithmetic folded.

    The flag is False when a statement could not be expanded (a bad import, a block used
    wrongly): the checker then validates each layer but infers no shapes, since a chain
    with a statement missing would report mistakes that are not there.
    """
    loader = Loader(diagnostics, sources)
    main = loader.load(spec.span.file, spec.uses, spec.blocks)
    ok = loader.ok
    scopes: dict[str, dict[str, ir.BlockDef]] = {spec.span.file: main.scope}
    definitions: list[ir.BlockDef] = list(spec.blocks)
    for loaded in loader._done.values():
        if loaded is not None:
            scopes[loaded.display] = loaded.scope
            definitions += loaded.own
    invalid = {id(b) for b in definitions if not check_definition(b, diagnostics)}
    rest = fold(spec.model_copy(update={"layers": None, "uses": [], "blocks": []}), diagnostics)
    if spec.layers is None:
        return rest, ok
    expander = Expander(diagnostics, set(collect_names(spec.layers)))
    first = (spec.inputs or [None])[0]
    expander.first_input = first.name if first is not None and first.name else "input"
    expander.scopes = scopes
    expander.invalid = invalid
    if not within_limits(spec.layers, expander, main.scope, diagnostics):
        return rest.model_copy(update={"layers": []}), False
    frame = Frame(prefix=None, env={}, scope=main.scope, origin=[], stack=())
    expander.body(spec.layers, frame)
    layers: list[ir.Statement] = list(expander.out)
    return rest.model_copy(update={"layers": layers}), ok and expander.ok
