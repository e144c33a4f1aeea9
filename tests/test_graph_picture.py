"""`netspec graph`: the picture of the checked layer graph, read back as XML (SVG) or text (DOT)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netspec import graph_picture
from netspec.catalogue.shapes import fmt
from netspec.cli import app
from netspec.frontend import check_file

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
SPECS = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "tests" / "graphs").glob("*.net"))


def _draw(spec: Path, expand_blocks: bool) -> tuple[ET.Element, graph_picture.Picture]:
    model, diagnostics, _ = check_file(spec)
    assert model is not None, diagnostics
    picture = graph_picture.build(model, expand_blocks=expand_blocks)
    return ET.fromstring(graph_picture.to_svg(picture)), picture


def _groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    """The `<g>` elements of one class (node, edge, cluster) by their `<title>`."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        if kind in group.get("class", "").split():
            title = group.find(f"{SVG}title")
            assert title is not None and title.text is not None
            found[title.text] = group
    return found


def _texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def _rect(group: ET.Element) -> tuple[float, float, float, float]:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    x, y = float(rect.get("x", "nan")), float(rect.get("y", "nan"))
    return x, y, x + float(rect.get("width", "nan")), y + float(rect.get("height", "nan"))


def test_two_tower_draws_every_layer_with_kind_and_shape_and_marks_inputs_outputs_merges() -> None:
    spec = ROOT / "specs" / "two_tower.net"
    model, _, _ = check_file(spec)
    assert model is not None
    svg, _ = _draw(spec, expand_blocks=False)
    nodes = _groups(svg, "node")
    assert set(nodes) == {i.name for i in model.inputs} | {layer.name for layer in model.layers}
    for layer in model.layers:
        assert _texts(nodes[layer.name]) == [layer.name, layer.kind, fmt(layer.output_shape)]
    for source in model.inputs:
        assert "input" in nodes[source.name].get("class", "").split()
        assert fmt(source.shape) in _texts(nodes[source.name])
    merges = {k for k, g in nodes.items() if "merge" in g.get("class", "").split()}
    assert merges == {layer.name for layer in model.layers if len(layer.inputs) > 1} == {"both"}
    outputs = {k for k, g in nodes.items() if "output" in g.get("class", "").split()}
    assert outputs == set(model.outputs) == {"plan", "spend"}
    edges = _groups(svg, "edge")
    assert set(edges) == {f"{t}->{layer.name}" for layer in model.layers for t in layer.inputs}


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_spec_draws_each_layer_once_and_edges_point_down(spec: Path) -> None:
    model, _, _ = check_file(spec)
    assert model is not None
    svg, _ = _draw(spec, expand_blocks=True)
    nodes = _groups(svg, "node")
    assert len(nodes) == len(model.inputs) + len(model.layers)
    tops = {name: _rect(group)[1] for name, group in nodes.items()}
    for layer in model.layers:
        for tensor in set(layer.inputs):
            assert tops[tensor] < tops[layer.name], f"{tensor} -> {layer.name} points up"


def test_blocks_collapse_to_one_node_per_use_by_default() -> None:
    spec = ROOT / "specs" / "resnet20.net"
    svg, _ = _draw(spec, expand_blocks=False)
    nodes = _groups(svg, "node")
    blocks = {k for k, g in nodes.items() if "block" in g.get("class", "").split()}
    # conv_bn once, then three stages of three residual blocks, as the spec says
    assert blocks == {"conv_bn", "residual", *(f"residual_{i}" for i in range(1, 9))}
    # the first block of stage 2: two conv_bn (2 layers each), an activation, a strided 1x1
    # Conv2D shortcut, the Add and an activation; its output is the halved map
    assert _texts(nodes["residual_3"])[1:] == ["residual (8 layers)", "[16, 16, 32]"]
    assert _texts(nodes["residual_4"])[1] == "residual (8 layers)"  # Identity shortcut
    assert not _groups(svg, "cluster")
    assert len(_groups(svg, "edge")) == len(nodes) - 1  # a chain of blocks


def test_expanded_blocks_are_labelled_boxes_around_their_layers() -> None:
    spec = ROOT / "specs" / "resnet20.net"
    svg, picture = _draw(spec, expand_blocks=True)
    clusters = _groups(svg, "cluster")
    assert "residual_1: residual" in _texts(clusters["residual_1"])
    assert "residual_1_conv_bn: conv_bn" in _texts(clusters["residual_1_conv_bn"])
    nodes = _groups(svg, "node")
    model, _, _ = check_file(spec)
    assert model is not None
    paths = graph_picture.block_paths(model)
    assert [(i.name, i.block) for i in paths["residual_1_conv_bn_conv2d"]] == [
        ("residual_1", "residual"),
        ("residual_1_conv_bn", "conv_bn"),
    ]
    for name, path in paths.items():
        x0, y0, x1, y1 = _rect(nodes[name])
        for instance in path:
            c0, d0, c1, d1 = _rect(clusters[instance.name])
            assert c0 < x0 and d0 < y0 and x1 < c1 and y1 < d1, f"{name} outside {instance.name}"
    assert len(clusters) == len(picture.clusters) == 1 + 9 * 3  # conv_bn; residual, 2 conv_bn


def test_frozen_layers_are_marked() -> None:
    spec = ROOT / "specs" / "vgg16_transfer.net"
    model, _, _ = check_file(spec)
    assert model is not None
    svg, _ = _draw(spec, expand_blocks=True)
    nodes = _groups(svg, "node")
    frozen = {k for k, g in nodes.items() if "frozen" in g.get("class", "").split()}
    assert frozen == {layer.name for layer in model.layers if not layer.trainable}
    assert frozen and len(frozen) < len(model.layers)
    assert all(any("(frozen)" in t for t in _texts(nodes[k])) for k in frozen)
    collapsed = _groups(_draw(spec, expand_blocks=False)[0], "node")
    assert "frozen" in collapsed["block1"].get("class", "").split()


def test_dot_has_the_same_nodes_edges_and_clusters() -> None:
    spec = ROOT / "specs" / "resnet20.net"
    _, picture = _draw(spec, expand_blocks=True)
    dot = graph_picture.to_dot(picture)
    assert dot.startswith('digraph "resnet20" {')
    assert dot.count(" -> ") == len(picture.edges)
    assert dot.count("subgraph ") == len(picture.clusters)
    assert dot.count("[label=") == len(picture.boxes)
    assert 'label="residual_1: residual"' in dot


def test_cli_writes_svg_and_dot(tmp_path: Path) -> None:
    runner = CliRunner()
    spec = str(ROOT / "tests" / "graphs" / "conv_branches.net")
    result = runner.invoke(app, ["graph", spec, "-o", str(tmp_path / "m.svg")])
    assert result.exit_code == 0, result.output
    svg = ET.parse(tmp_path / "m.svg").getroot()
    assert "image" in _groups(svg, "node")
    result = runner.invoke(app, ["graph", spec, "-o", str(tmp_path / "m.dot")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.dot").read_text().startswith('digraph "conv_branches"')
    result = runner.invoke(app, ["graph", spec, "-o", str(tmp_path / "m.jpg")])
    assert result.exit_code == 2
    assert "name the file .svg, .dot or .png" in result.output


def test_png_without_graphviz_writes_dot_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    spec = str(ROOT / "specs" / "two_tower.net")
    result = CliRunner().invoke(app, ["graph", spec, "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 1
    assert "needs Graphviz's `dot` program" in result.output
    assert (tmp_path / "m.dot").read_text().startswith('digraph "two_tower"')
    assert not (tmp_path / "m.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png_with_graphviz(tmp_path: Path) -> None:
    spec = str(ROOT / "specs" / "two_tower.net")
    result = CliRunner().invoke(app, ["graph", spec, "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_a_broken_spec_is_reported_not_drawn(tmp_path: Path) -> None:
    broken = tmp_path / "broken.net"
    broken.write_text("model m {\n  input [4]\n  layers { Dense(3)(nowhere) }\n}\n")
    result = CliRunner().invoke(app, ["graph", str(broken), "-o", str(tmp_path / "m.svg")])
    assert result.exit_code == 1
    assert "broken.net:3:" in result.output
    assert not (tmp_path / "m.svg").exists()


def test_skip_connections_run_beside_the_boxes_not_through_them() -> None:
    spec = ROOT / "specs" / "unet_small.net"
    svg, _ = _draw(spec, expand_blocks=True)
    right = max(_rect(group)[2] for group in _groups(svg, "node").values())
    right = max([right, *(_rect(group)[2] for group in _groups(svg, "cluster").values())])
    lanes = []
    for title, group in _groups(svg, "edge").items():
        path = group.find(f"{SVG}path")
        assert path is not None
        data = path.get("d", "").split()
        if "L" in data:  # a skip: down a lane, corners after each L
            lanes.append(title)
            corners = [float(data[i + 1]) for i, word in enumerate(data) if word == "L"][:2]
            assert all(x > right for x in corners), title
    # the encoder's two feature maps reach the decoder's Concatenates
    assert sorted(lanes) == ["skip1_conv2d_1->up_concatenate", "skip2_conv2d_1->up2_concatenate"]
    assert float(svg.get("width", "0")) > right


def test_graph_imports_no_framework(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from typer.testing import CliRunner
        from netspec.cli import app
        result = CliRunner().invoke(
            app, ["graph", "specs/resnet20.net", "-o", {str(tmp_path / "m.svg")!r}, "--expand-blocks"]
        )
        loaded = sorted(n for n in sys.modules if n.split(".")[0] in ("torch", "tensorflow", "keras"))
        print(json.dumps([result.exit_code, loaded]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []]


def test_run_folder_picture_comes_from_the_checked_model_alone() -> None:
    spec = ROOT / "specs" / "resnet20.net"
    model, _, _ = check_file(spec)
    assert model is not None
    svg = ET.fromstring(graph_picture.model_svg(model))
    nodes = _groups(svg, "node")
    assert "residual_8" in nodes and "residual_8_add" not in nodes  # blocks collapsed


def test_blocks_are_read_from_the_checked_model_not_from_the_spec(tmp_path: Path) -> None:
    """The picture reads each layer's `blocks`; the spec is not expanded again (its file is
    gone here), nor a diagnostic note's wording parsed."""
    spec = tmp_path / "gone.net"
    spec.write_text(
        "block pair(n) { Dense(n) Dense(n) }\n"
        "model gone {\n  input [4]\n  layers {\n    a = pair(3)\n    pair(2)\n  }\n"
        "  loss mse\n  optimizer SGD\n}\n"
    )
    model, diagnostics, _ = check_file(spec)
    assert model is not None, diagnostics
    spec.unlink()
    picture = graph_picture.build(model)
    blocks = {box.key: box.lines[1] for box in picture.boxes if box.role == "block"}
    assert blocks == {"a": "pair (2 layers)", "pair": "pair (2 layers)"}
    expanded = graph_picture.build(model, expand_blocks=True)
    assert [[(i.name, i.block) for i in path] for path in expanded.clusters] == [
        [("a", "pair")],
        [("pair", "pair")],
    ]


@pytest.mark.parametrize("name", ["small_resnet", "residual_graph"])
def test_boxes_of_different_block_uses_do_not_overlap(name: str) -> None:
    svg, picture = _draw(ROOT / "tests" / "blocks" / f"{name}.net", expand_blocks=True)
    clusters = _groups(svg, "cluster")
    by_name = {path[-1].name: path for path in picture.clusters}
    assert set(clusters) == set(by_name) and len(by_name) > 2
    for (a, pa), (b, pb) in itertools.combinations(by_name.items(), 2):
        if pa[: len(pb)] == pb or pb[: len(pa)] == pa:
            continue  # one inside the other
        a0, b0, a1, b1 = _rect(clusters[a])
        c0, d0, c1, d1 = _rect(clusters[b])
        assert a1 < c0 or c1 < a0 or b1 < d0 or d1 < b0, f"{a} and {b} overlap"
