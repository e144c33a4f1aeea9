"""Block definitions: the problems a block has whether or not it is used."""

from __future__ import annotations

from collections.abc import Iterator

from netspec import catalogue, ir
from netspec.diagnostics import PYTHON_CONSTANTS, Diagnostics, did_you_mean

# Arguments a use site may give any block, on top of its own parameters.
USE_SITE_ARGS = ("repeat", "trainable")


def check_definition(block: ir.BlockDef, diagnostics: Diagnostics) -> bool:
    """Problems a block has whether or not it is used."""
    ok = True
    if catalogue.lookup("layer", block.name) is not None:
        diagnostics.error(
            "E0163",
            f"block '{block.name}' has the name of a layer",
            block.name_span,
            hint="choose another name; a block cannot replace a layer",
        )
        ok = False
    seen: set[str] = set()
    defaulted = False
    for param in block.params:
        problem = None
        if param.name in seen:
            problem = f"block '{block.name}' has two parameters named '{param.name}'"
            hint = "rename one of them"
        elif param.name in USE_SITE_ARGS:
            problem = f"'{param.name}' cannot name a block parameter"
            hint = f"'{param.name}=' is an argument every block use takes; choose another name"
        elif param.default is None and defaulted:
            problem = f"parameter '{param.name}' has no default but comes after one that has"
            hint = "put the parameters without defaults first"
        if problem:
            diagnostics.error("E0171", problem, param.span, hint=hint)
            ok = False
        seen.add(param.name)
        defaulted |= param.default is not None
    names = [s.name for s in block.inputs or []]
    for i, symbol in enumerate(block.inputs or []):
        if symbol.name in names[:i] or symbol.name in seen:
            diagnostics.error(
                "E0171",
                f"block '{block.name}' uses the name '{symbol.name}' twice",
                symbol.span,
                hint="give each parameter and input its own name",
            )
            ok = False
    if block.inputs is not None and not block.inputs:
        diagnostics.error(
            "E0171",
            f"block '{block.name}' takes no input",
            block.name_span,
            hint="name its inputs, e.g. block name(params)(x), or leave out the '()'",
        )
        ok = False
    for symbol in _condition_names(block.body):
        if symbol.name not in seen:
            suggestion = did_you_mean(symbol.name, seen)
            diagnostics.error(
                "E0169",
                f"'{symbol.name}' is not a parameter of block '{block.name}'",
                symbol.span,
                hint=PYTHON_CONSTANTS[symbol.name] if symbol.name in PYTHON_CONSTANTS
                else f"did you mean '{suggestion}'?" if suggestion
                else "a condition reads the block's parameters: "
                + (", ".join(p.name for p in block.params) or "none")
                + '; write a string in quotes to compare with a name ("relu")',
            )
            ok = False
    if not block.body:
        diagnostics.error(
            "E0171",
            f"block '{block.name}' has no statements",
            block.name_span,
            hint="a block holds at least one layer; its last statement is its output",
        )
        ok = False
    return ok


def _condition_names(statements: list[ir.Statement]) -> Iterator[ir.Symbol]:
    """The bare names the `if` conditions among statements read (each must be bound)."""
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            yield from _condition_names(statement.body)
        elif isinstance(statement, ir.IfStmt):
            yield from _expression_names(statement.condition)
            yield from _condition_names(statement.then)
            yield from _condition_names(statement.otherwise)


def _expression_names(value: ir.Value) -> Iterator[ir.Symbol]:
    if isinstance(value, ir.Symbol):
        yield value
    elif isinstance(value, ir.BinaryOp):
        yield from _expression_names(value.left)
        yield from _expression_names(value.right)
    elif isinstance(value, ir.UnaryOp):
        yield from _expression_names(value.operand)
