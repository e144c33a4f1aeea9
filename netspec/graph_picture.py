"""A picture of the checked layer graph: SVG drawn here, or Graphviz DOT text.

`netspec graph` reads the checked IR: each layer's kind, name, inputs, output shape, whether
it is frozen, and the block instances it came from (`Layer.blocks`, recorded by expansion).
The SVG needs no program and no new dependency: a deterministic layered layout (a layer's
row is its longest path from an input; within a row, layers sit in the order of the mean
position of what they read). DOT is the same graph for Graphviz; PNG is Graphviz's
`dot -Tpng` of it, so it needs the `dot` program.

Blocks: by default each outermost block instance is one node (`residual_1: residual`);
with `expand_blocks` every layer is drawn, inside a labelled box per block instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from netspec import ir
from netspec.catalogue.shapes import fmt

__all__ = ["Picture", "block_paths", "build", "model_svg", "to_dot", "to_svg"]

def block_paths(model: ir.Model) -> dict[str, ir.BlockPath]:
    """Each layer's block instances, outermost first; layers written in the model are left out."""
    return {layer.name: layer.blocks for layer in model.layers if layer.blocks}


def model_svg(model: ir.Model) -> str:
    """The run folder's model.svg: `model` with its blocks collapsed."""
    return to_svg(build(model))


@dataclass
class Box:
    """One node of the picture: a model input, a layer, or a collapsed block instance."""

    key: str
    lines: list[str]
    role: str  # "input", "layer", "merge" or "block"
    frozen: bool = False
    output: bool = False
    clusters: ir.BlockPath = ()
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0


@dataclass
class Picture:
    """The graph to draw: boxes in topological order and edges between their keys."""

    name: str
    boxes: list[Box]
    edges: list[tuple[str, str]]
    clusters: list[ir.BlockPath] = field(default_factory=list)
    """Every block-instance path drawn as a box around its layers (expanded blocks only)."""


def build(
    model: ir.Model,
    blocks: dict[str, ir.BlockPath] | None = None,
    expand_blocks: bool = False,
) -> Picture:
    """The boxes and edges of `model`; block instances collapsed unless `expand_blocks`.

    `blocks` maps layer names to their block instances; by default each layer's own.
    """
    if blocks is None:
        blocks = block_paths(model)
    outputs = set(model.outputs)
    boxes: list[Box] = [
        Box(
            key=i.name,
            lines=[i.name, "Input", fmt(i.shape)],
            role="input",
            output=i.name in outputs,
        )
        for i in model.inputs
    ]
    unit: dict[str, str] = {i.name: i.name for i in model.inputs}  # tensor → its box's key
    collapsed: dict[str, Box] = {}
    members: dict[str, list[ir.Layer]] = {}
    for layer in model.layers:
        path = blocks.get(layer.name, ())
        if path and not expand_blocks:
            top = path[0]
            unit[layer.name] = top.name
            members.setdefault(top.name, []).append(layer)
            if top.name not in collapsed:
                collapsed[top.name] = Box(key=top.name, lines=[], role="block")
                boxes.append(collapsed[top.name])
            continue
        unit[layer.name] = layer.name
        kind = layer.kind + ("  (frozen)" if not layer.trainable else "")
        boxes.append(
            Box(
                key=layer.name,
                lines=[layer.name, kind, fmt(layer.output_shape)],
                role="merge" if len(layer.inputs) > 1 else "layer",
                frozen=not layer.trainable,
                output=layer.name in outputs,
                clusters=path,
            )
        )
    edges: dict[tuple[str, str], None] = {}  # a dict: in order, each once
    for layer in model.layers:
        for tensor in layer.inputs:
            if unit[tensor] != unit[layer.name]:
                edges[unit[tensor], unit[layer.name]] = None
    read_outside = {
        tensor
        for reader in model.layers
        for tensor in reader.inputs
        if unit[tensor] != unit[reader.name]
    }
    for key, box in collapsed.items():
        layers = members[key]
        block = blocks[layers[0].name][0].block
        results = [m for m in layers if m.name in read_outside or m.name in outputs] or layers[-1:]
        frozen = all(not m.trainable for m in layers)
        box.lines = [
            key,
            f"{block} ({len(layers)} layers)" + ("  (frozen)" if frozen else ""),
            ", ".join(fmt(m.output_shape) for m in results),
        ]
        box.frozen = frozen
        box.output = any(m.name in outputs for m in layers)
    clusters: dict[ir.BlockPath, None] = {}
    if expand_blocks:
        for box in boxes:
            for depth in range(1, len(box.clusters) + 1):
                clusters[box.clusters[:depth]] = None
    return Picture(name=model.name, boxes=boxes, edges=list(edges), clusters=list(clusters))


# --------------------------------------------------------------------------- layout

CHAR_WIDTH = 7.0  # px per character of 12 px monospace text, near enough
LINE_HEIGHT = 15.0
BOX_HEIGHT = 3 * LINE_HEIGHT + 10
H_GAP = 36.0  # between boxes of a row, plus room for the block boxes between them
V_GAP = 40.0  # between rows, likewise
MARGIN = 30.0
CLUSTER_PAD = 8.0
CLUSTER_LABEL = 14.0
LANE_GAP = 14.0  # between the lanes of edges that skip rows


@dataclass
class Layout:
    """Where things went: the drawing's size, and each edge as SVG path data."""

    width: float
    height: float
    routes: dict[tuple[str, str], str]


def _layout(picture: Picture) -> Layout:
    """Place every box (its centre x, top y) and route every edge.

    A box's row is its longest path from an input, then as late as its readers allow (inputs
    stay on top); an edge to the next row is a curve, a longer one runs down a lane right of
    everything, so it crosses no box.
    """
    index = {box.key: i for i, box in enumerate(picture.boxes)}
    reads: dict[str, list[str]] = {box.key: [] for box in picture.boxes}
    readers: dict[str, list[str]] = {box.key: [] for box in picture.boxes}
    for source, target in picture.edges:
        reads[target].append(source)
        readers[source].append(target)
    order = _topological(picture, reads)
    rank: dict[str, int] = {}
    for key in order:
        rank[key] = max((rank[s] + 1 for s in reads[key]), default=0)
    by_key = {box.key: box for box in picture.boxes}
    for key in reversed(order):
        if readers[key] and by_key[key].role != "input":
            rank[key] = min(rank[r] for r in readers[key]) - 1
    depth = max((len(path) for path in picture.clusters), default=0)
    h_gap = H_GAP + depth * 2 * CLUSTER_PAD  # a box of each nesting level on either side
    v_gap = V_GAP + depth * (2 * CLUSTER_PAD + CLUSTER_LABEL)
    top = MARGIN + depth * (CLUSTER_PAD + CLUSTER_LABEL)
    rows: dict[int, list[Box]] = {}
    for box in picture.boxes:
        box.width = max(len(line) for line in box.lines) * CHAR_WIDTH + 20
        rows.setdefault(rank[box.key], []).append(box)
    widths = []
    for r in sorted(rows):

        def place(box: Box) -> tuple[float, int]:
            sources = [by_key[s].x for s in reads[box.key]]
            return (sum(sources) / len(sources) if sources else 0.0, index[box.key])

        rows[r].sort(key=place)
        x = 0.0
        for box in rows[r]:
            box.x = x + box.width / 2
            box.y = top + r * (BOX_HEIGHT + v_gap)
            x += box.width + h_gap
        widths.append(x - h_gap)
        shift = -widths[-1] / 2  # rows centred on x = 0 while placing, so means compare
        for box in rows[r]:
            box.x += shift
    widest = max(widths)
    for box in picture.boxes:
        box.x += MARGIN + widest / 2
    lane_x0 = MARGIN + widest + depth * (CLUSTER_PAD + 2) + LANE_GAP
    lanes: list[int] = []  # the last row each lane is busy to
    routes: dict[tuple[str, str], str] = {}
    for source, target in picture.edges:
        a, b = by_key[source], by_key[target]
        x_a, y_a, x_b, y_b = a.x, a.y + BOX_HEIGHT, b.x, b.y
        if rank[target] - rank[source] == 1:
            middle = (y_a + y_b) / 2
            routes[source, target] = (
                f"M {x_a:.1f} {y_a:.1f} C {x_a:.1f} {middle:.1f} {x_b:.1f} {middle:.1f} "
                f"{x_b:.1f} {y_b:.1f}"
            )
            continue
        lane = next((i for i, busy in enumerate(lanes) if busy < rank[source]), len(lanes))
        if lane == len(lanes):
            lanes.append(0)
        lanes[lane] = rank[target]
        x = lane_x0 + lane * LANE_GAP
        leave, arrive = y_a + v_gap / 3, y_b - v_gap / 3
        routes[source, target] = (
            f"M {x_a:.1f} {y_a:.1f} L {x:.1f} {leave:.1f} L {x:.1f} {arrive:.1f} "
            f"L {x_b:.1f} {y_b:.1f}"
        )
    width = max(MARGIN + widest + MARGIN, lane_x0 + len(lanes) * LANE_GAP + MARGIN / 2)
    height = top + len(rows) * (BOX_HEIGHT + v_gap) - v_gap + top
    return Layout(width, height, routes)


def _topological(picture: Picture, reads: dict[str, list[str]]) -> list[str]:
    """The boxes' keys, each after every box it reads (collapsing blocks keeps the graph acyclic
    but may put a block's node before a layer its later members read)."""
    waiting = {key: len(set(sources)) for key, sources in reads.items()}
    readers: dict[str, list[str]] = {key: [] for key in reads}
    for target, sources in reads.items():
        for source in set(sources):
            readers[source].append(target)
    order = [box.key for box in picture.boxes if waiting[box.key] == 0]
    for key in order:  # grows while it is walked
        for target in readers[key]:
            waiting[target] -= 1
            if waiting[target] == 0:
                order.append(target)
    return order


def _cluster_boxes(
    picture: Picture,
) -> list[tuple[ir.BlockPath, float, float, float, float]]:
    """Each cluster's rectangle (x0, y0, x1, y1): around its layers and nested clusters."""
    Rect = tuple[float, float, float, float]
    bounds: dict[ir.BlockPath, Rect] = {}

    def widen(path: ir.BlockPath, x0: float, y0: float, x1: float, y1: float) -> None:
        a0, b0, a1, b1 = bounds.get(path, (x0, y0, x1, y1))
        bounds[path] = (min(a0, x0), min(b0, y0), max(a1, x1), max(b1, y1))

    for box in picture.boxes:
        if box.clusters:
            left, right = box.x - box.width / 2, box.x + box.width / 2
            widen(box.clusters, left, box.y, right, box.y + BOX_HEIGHT)
    rects: dict[ir.BlockPath, Rect] = {}
    for path in sorted(picture.clusters, key=len, reverse=True):  # innermost first
        x0, y0, x1, y1 = bounds[path]  # its own layers' and its nested clusters' boxes
        rects[path] = (
            x0 - CLUSTER_PAD,
            y0 - CLUSTER_PAD - CLUSTER_LABEL,
            x1 + CLUSTER_PAD,
            y1 + CLUSTER_PAD,
        )
        if len(path) > 1:
            widen(path[:-1], *rects[path])
    return [(path, *rects[path]) for path in picture.clusters]


# --------------------------------------------------------------------------- SVG

_STYLE = """
text { font-family: monospace; font-size: 12px; fill: #1b1b1b; }
.node rect { fill: #eef3fb; stroke: #4a6fa5; stroke-width: 1.2; }
.node.input rect { fill: #e7f5e9; stroke: #3d8b4f; }
.node.merge rect { fill: #fdf1dc; stroke: #b7791f; }
.node.block rect { fill: #f1ecfa; stroke: #6b4fa5; }
.node.frozen rect { fill: #ececec; stroke: #777; stroke-dasharray: 5 3; }
.node.output rect { stroke-width: 3; }
.node .name { font-weight: bold; }
.cluster rect { fill: none; stroke: #9a8cc2; stroke-dasharray: 2 2; }
.cluster text { fill: #5a4a8a; font-size: 11px; }
.edge path { fill: none; stroke: #555; stroke-width: 1.2; marker-end: url(#arrow); }
"""


def to_svg(picture: Picture) -> str:
    """The picture as a standalone SVG document: one `<g class="node …">` per box (its
    `<title>` the layer's name), one `<g class="edge">` per connection."""
    layout = _layout(picture)
    width, height = layout.width, layout.height
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<title>model {escape(picture.name)}</title>",
        f"<style>{_STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for path, x0, y0, x1, y1 in _cluster_boxes(picture):
        label = f"{path[-1].name}: {path[-1].block}"
        out.append(
            f'<g class="cluster"><title>{escape(path[-1].name)}</title>'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="6"/>'
            f'<text x="{x0 + 6:.1f}" y="{y0 + 11:.1f}">{escape(label)}</text></g>'
        )
    for source, target in picture.edges:
        out.append(
            f'<g class="edge"><title>{escape(source)}-&gt;{escape(target)}</title>'
            f'<path d="{layout.routes[source, target]}"/></g>'
        )
    for box in picture.boxes:
        classes = (
            ["node", box.role]
            + (["frozen"] if box.frozen else [])
            + (["output"] if box.output else [])
        )
        left = box.x - box.width / 2
        out.append(f"<g class={quoteattr(' '.join(classes))}><title>{escape(box.key)}</title>")
        out.append(
            f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{BOX_HEIGHT:.1f}" rx="4"/>'
        )
        for i, line in enumerate(box.lines):
            kind = ("name", "kind", "shape")[i]
            y = box.y + 5 + LINE_HEIGHT * (i + 0.8)
            out.append(
                f'<text class="{kind}" x="{box.x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(line)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- DOT


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(picture: Picture) -> str:
    """The picture as Graphviz DOT: the same boxes, edges and block clusters."""
    fills = {"input": "#e7f5e9", "layer": "#eef3fb", "merge": "#fdf1dc", "block": "#f1ecfa"}
    lines = [
        f"digraph {_quote(picture.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=11];',
    ]

    def node(box: Box, indent: str) -> str:
        style = "rounded,filled" + (",dashed" if box.frozen else "")
        fill = "#ececec" if box.frozen else fills[box.role]
        width = ", penwidth=3" if box.output else ""
        label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in box.lines)
        return f'{indent}{_quote(box.key)} [label="{label}", style="{style}", fillcolor="{fill}"{width}];'

    placed: set[str] = set()

    def cluster(path: ir.BlockPath, indent: str) -> None:
        lines.append(f"{indent}subgraph {_quote('cluster_' + '.'.join(i.name for i in path))} {{")
        lines.append(
            f"{indent}  label={_quote(f'{path[-1].name}: {path[-1].block}')}; style=dashed;"
        )
        for child in picture.clusters:
            if len(child) == len(path) + 1 and child[: len(path)] == path:
                cluster(child, indent + "  ")
        for box in picture.boxes:
            if box.clusters == path:
                lines.append(node(box, indent + "  "))
                placed.add(box.key)
        lines.append(f"{indent}}}")

    for path in picture.clusters:
        if len(path) == 1:
            cluster(path, "  ")
    for box in picture.boxes:
        if box.key not in placed:
            lines.append(node(box, "  "))
    for source, target in picture.edges:
        lines.append(f"  {_quote(source)} -> {_quote(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- files

FORMATS = ("svg", "dot", "png")


class NoGraphviz(Exception):
    """PNG was asked for and Graphviz's `dot` is not installed; `dot_file` was written instead."""

    def __init__(self, dot_file: Path) -> None:
        super().__init__(str(dot_file))
        self.dot_file = dot_file


def format_of(path: Path) -> str | None:
    """The picture format a file name asks for by its suffix, or None for an unknown one."""
    suffix = path.suffix.lower().lstrip(".")
    return {"gv": "dot"}.get(suffix, suffix) if suffix in (*FORMATS, "gv") else None


def write(picture: Picture, path: Path, format: str) -> None:
    """Write the picture as `format` (svg, dot or png); PNG runs Graphviz's `dot -Tpng`.

    Raises NoGraphviz (after writing the .dot next to `path`) when `dot` is not installed,
    and OSError when a file cannot be written.
    """
    import shutil
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "svg":
        path.write_text(to_svg(picture), encoding="utf-8")
        return
    dot = to_dot(picture)
    if format == "dot":
        path.write_text(dot, encoding="utf-8")
        return
    program = shutil.which("dot")
    if program is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(dot, encoding="utf-8")
        raise NoGraphviz(fallback)
    done = subprocess.run(  # a fixed program, the DOT text on stdin: nothing from the spec runs
        [program, "-Tpng", "-o", str(path)],
        input=dot.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise OSError(f"dot -Tpng failed: {done.stderr.decode(errors='replace').strip()}")
