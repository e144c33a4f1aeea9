"""netspec's import graph: data flows one way, and no two modules need each other.

Every module under netspec/ is read with `ast` (nothing is imported), and every import in it
counts: at module level, inside a function, under `if TYPE_CHECKING`. Importing `a.b.c` from
outside package `a.b` also runs `a/b/__init__.py`, so that is an edge too.

The stages, lowest first; a module may import its own stage or a lower one, never a later one:

1. foundation: `diagnostics`, `ir`, `limits`, `naming` (the layer-naming rule both passes
   use), `pycode` (`Code`/`PyCall`, the Python the catalogue states and the writer writes),
   `internal_error`, and the package root (`netspec/__init__.py` imports its API lazily by
   name, so it holds no edge).
2. catalogue: `catalogue/` (read by expand, check, codegen, data and train; it states code as
   `pycode` values and never imports the writer), `reference` and `schema` (texts read from it).
3. parse: `parse`, its `parser_cache` and `syntax_hints`, `overrides` (`--set` keys), and
   `fmt` (the formatter: it reads parse trees, never a checked model).
4. expand: `expand/` (expressions, `use` imports, block definitions, the size measure and
   the expansion itself; its `__init__` is the pass).
5. check: `check/` (the check pass; within it `context` and `bind` ← `graph` ← `objectives`
   ← the package `__init__`, which runs them), and what reads a checked model without
   generating code: `memory`, `data`, `inputs`, `weights`.
6. pipeline: `frontend` (parse → expand → check), `space` (search spaces: found in the text,
   points written in and checked; `frontend` reads it to refuse or fix one), `check_command`,
   `fmt_command`, `templates`.
7. codegen: `codegen/`, and `graph_picture` (`netspec graph`: draws the checked IR, with
   block uses read from the expanded spec).
8. train: `train/`; within it `convert` sits above the backends it drives.
9. interface: `api`, `cli`, `entry`, `__main__`, and `lsp/` (the language server, which
   reads every stage up to the checked IR).

A new module must be given a stage here (the test fails until it is).
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netspec"

STAGES: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {"netspec", "diagnostics", "ir", "limits", "naming", "pycode", "internal_error"},
    ),
    ("catalogue", {"catalogue", "reference", "schema"}),
    ("parse", {"parse", "parser_cache", "syntax_hints", "overrides", "fmt"}),
    ("expand", {"expand"}),
    ("check", {"check", "memory", "data", "inputs", "weights"}),
    ("pipeline", {"frontend", "space", "check_command", "fmt_command", "templates"}),
    ("codegen", {"codegen", "graph_picture"}),
    ("train", {"train", "tune"}),
    ("interface", {"api", "cli", "entry", "__main__", "lsp"}),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["netspec", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    """The netspec module that `name` (a module, or a name inside one) loads."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _loads(importer: str, target: str) -> set[str]:
    """`target` and the package __init__s importing it runs that `importer` is not inside."""
    loaded = {target}
    package = target.rpartition(".")[0]
    while package:
        if not (importer == package or importer.startswith(package + ".")):
            loaded.add(package)
        package = package.rpartition(".")[0]
    return loaded


def _imports(module: str, path: Path) -> dict[str, int]:
    """The netspec modules `module` imports, each with the line of its first import."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from a.b import c`: the module a.b.c when there is one, else a name in a.b
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        for name in names:
            if name != "netspec" and not name.startswith("netspec."):
                continue
            target = _known(name)
            if target is None:
                continue
            for loaded in _loads(module, target):
                if loaded != module:
                    found.setdefault(loaded, node.lineno)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def stage_of(module: str) -> int:
    """The index of `module`'s stage in STAGES, by its first name below netspec."""
    top = module.split(".")[1] if "." in module else "netspec"
    for index, (_, members) in enumerate(STAGES):
        if top in members:
            return index
    raise KeyError(module)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, {}):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _path_within(graph: dict[str, dict[str, int]], members: list[str]) -> list[str]:
    """One circle through the component's first module, for the failure message."""
    inside = set(members)
    start = members[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for other in sorted(graph[node]):
            if other == start:
                return paths[node] + [start]
            if other in inside and other not in paths:
                paths[other] = paths[node] + [other]
                queue.append(other)
    return members


def _edge(graph: dict[str, dict[str, int]], source: str, target: str) -> str:
    return f"{MODULES[source].relative_to(PACKAGE.parent)}:{graph[source][target]} → {target}"


def test_every_module_has_a_stage() -> None:
    unplaced = []
    for module in MODULES:
        try:
            stage_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"give these modules a stage in STAGES: {unplaced}"


def test_no_module_imports_a_later_stage() -> None:
    backwards = [
        f"{_edge(GRAPH, module, target)} ({STAGES[stage_of(module)][0]} imports "
        f"{STAGES[stage_of(target)][0]})"
        for module, targets in GRAPH.items()
        for target in targets
        if stage_of(target) > stage_of(module)
    ]
    assert not backwards, "imports of a later stage:\n" + "\n".join(backwards)


def test_no_import_circles() -> None:
    circles = []
    for members in _cycles(GRAPH):
        path = _path_within(GRAPH, members)
        steps = [_edge(GRAPH, a, b) for a, b in itertools.pairwise(path)]
        circles.append(" ⟳ ".join(members) + "\n    " + "\n    ".join(steps))
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b": 1}, "b": {"a": 1}, "c": {"a": 1}}, [["a", "b"]]),
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {}}, []),
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}, [["a", "b", "c"]]),
    ],
)
def test_the_circle_finder_finds_circles(graph: dict[str, dict[str, int]], expected) -> None:
    assert _cycles(graph) == expected


def test_the_graph_sees_function_level_and_package_imports() -> None:
    # `check()` importing the expand pass inside a function was one half of a circle the review found;
    # train/torch_backend.py's imports of netspec.train.* run no package __init__ of its own.
    assert "netspec.train" in GRAPH["netspec.cli"]  # cli imports netspec.train.convert
    assert "netspec.train" not in GRAPH["netspec.train.atomic"]
    assert "netspec.catalogue" in GRAPH["netspec.codegen.common"]


def _top_level(module: str) -> dict[str, ast.AST]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            found.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return found


def test_the_naming_rule_is_stated_once() -> None:
    """Blocks expansion and the checker name layers by netspec/naming.py, not by copies."""
    for module in MODULES:
        if module != "netspec.naming":
            defined = _top_level(module).keys() & {"RESERVED_NAMES", "snake_case", "Namer"}
            assert not defined, f"{module} defines {defined}: import them from netspec.naming"


# The parts of the check pass, lowest first: each may import only those before it.
CHECK_PARTS = [
    "netspec.check.context",
    "netspec.check.bind",
    "netspec.check.graph",
    "netspec.check.objectives",
    "netspec.check",
]


def test_the_check_pass_parts_import_downwards() -> None:
    """bind knows nothing of the graph, the graph nothing of the objectives, and no part
    imports the pass that runs them (a new module in check/ must be placed in CHECK_PARTS)."""
    found = sorted(m for m in MODULES if m == "netspec.check" or m.startswith("netspec.check."))
    assert found == sorted(CHECK_PARTS), f"place these in CHECK_PARTS: {set(found) ^ set(CHECK_PARTS)}"
    upward = [
        _edge(GRAPH, module, later)
        for index, module in enumerate(CHECK_PARTS)
        for later in CHECK_PARTS[index + 1:]
        if later in GRAPH[module]
    ]
    assert not upward, "check/ parts importing a later part:\n" + "\n".join(upward)


@pytest.mark.parametrize("backend", ["netspec.train.torch_backend", "netspec.train.keras_backend"])
def test_each_backend_defines_the_backend_protocol(backend: str) -> None:
    protocol = _top_level("netspec.train.backend")["Backend"]
    assert isinstance(protocol, ast.ClassDef)
    functions = _top_level(backend)
    for method in protocol.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        function = functions.get(method.name)
        assert isinstance(function, ast.FunctionDef), f"{backend} lacks {method.name}()"
        wanted = len(method.args.args) - 1  # without self
        assert len(function.args.args) == wanted, f"{backend}.{method.name} takes {wanted}"


def test_the_writer_needs_nothing_of_the_catalogue() -> None:
    """The catalogue states code as netspec.pycode values; the writer writes them, so it sits
    below every generator without reading the catalogue (which once held Code and PyCall)."""
    catalogue = {m for m in GRAPH["netspec.codegen.writer"] if m.startswith("netspec.catalogue")}
    assert not catalogue, f"codegen/writer.py imports {sorted(catalogue)}"
