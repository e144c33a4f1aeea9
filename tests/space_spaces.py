"""Small random search spaces, and the brute-force verdict to hold `check_space` against.

The spaces are specs whose shapes interact (Conv2D/MaxPooling2D windows, strides, padding,
Reshape targets, Dense widths, merges, blocks with `if` and `repeat` on their parameters,
input shapes, losses against output widths, train settings), with a few of their values
written as `choice(…)`, `int_range(…)` or `range(…)`: some points are valid, some are not.

The brute force checks every point as a plain spec (`concrete_source`, then
`frontend.check_source`), the reading a user's `--set` gets. A `range` is a continuum: its
points are the values `samples_of` checks (ends, middle) and one more inside it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from netspec.diagnostics import Diagnostics, Severity
from netspec.frontend import check_source
from netspec.space import concrete_source, find_space
from netspec.space.checking import examine, samples_of
from netspec.space.model import Dimension, SearchSpace

FILE = "space.net"


@dataclass
class Holes:
    """Where the generator may write a search value: at most `dimensions` of them, and at
    most `points` points in all."""

    dimensions: int
    points: int
    used: int = 0
    size: int = 1

    def value(self, draw: st.DrawFn, safe: Sequence[str], risky: Sequence[str] = (),
              ranged: tuple[float, float] | None = None, eager: bool = False) -> str:
        """A value written as is (one of `safe`), or a search value over some of `safe` and
        `risky` (values that may break the spec, alone or with others), at least one safe;
        `eager`: a search value three times out of four (where it meets another)."""
        plain = draw(st.sampled_from(list(safe)))
        room = self.points // self.size
        if self.used >= self.dimensions or room < 2:
            return plain
        if draw(st.integers(0, 3)) < (1 if eager else 2):
            return plain
        if ranged is not None and draw(st.integers(0, 3)) == 0 and room >= 4:
            low, high = ranged
            self.used += 1
            self.size *= 4  # samples_of's three values and one more inside (`points_of`)
            return f"range({low}, {high})"
        options = [*safe, *risky]
        count = draw(st.integers(2, min(4, len(options), room)))
        others = draw(st.lists(st.sampled_from([o for o in options if o != plain]),
                               min_size=count - 1, max_size=count - 1, unique=True))
        picked = draw(st.permutations([plain, *others]))
        numbers = [int(p) for p in picked if re.fullmatch(r"-?\d+", p)]
        self.used += 1
        self.size *= count
        if len(numbers) == count and max(numbers) - min(numbers) + 1 == count and draw(
            st.booleans()
        ):
            return f"int_range({min(numbers)}, {max(numbers)})"
        return f"choice({', '.join(picked)})"


SIZES = (["8", "12"], ["3", "4", "5", "6"])
KERNELS = (["1", "2", "3"], ["5", "[3, 1]", "[1, 4]"])
STRIDES = (["1", "2"], ["3"])
PADDINGS = (["valid", "same"], [])
POOLS = (["1", "2"], ["3"])
UNITS = (["2", "4", "8"], ["0", "1"])
HIDDEN = (["relu", "tanh"], ["softmax", "linear"])
LOSSES = (
    ["sparse_categorical_crossentropy"],
    ["binary_crossentropy", "mse", "categorical_crossentropy",
     "sparse_categorical_crossentropy(from_logits=true)"],
)


def _train(draw: st.DrawFn, holes: Holes) -> list[str]:
    settings = ["data = digits"]
    if draw(st.booleans()):
        settings.append(f"batch_size = {holes.value(draw, ['16', '32'], ['0', '1'])}")
    if draw(st.booleans()):
        split = holes.value(draw, ["0.1", "0.5"], ["0.0"], (0.0, 0.5))
        settings.append(f"validation_split = {split}")
        if draw(st.booleans()):
            monitor = holes.value(draw, ["loss"], ["val_loss", "val_accuracy", "accuracy"])
            settings.append(f"monitor = {monitor}")
    if draw(st.integers(0, 3)) == 0:
        settings.append(f"epochs = {holes.value(draw, ['2', '3'], ['1'])}")
        settings.append(f"early_stopping = {holes.value(draw, ['1', '2'], ['0'])}")
    return settings


def _objectives(draw: st.DrawFn, holes: Holes) -> str:
    # a loss is a call, not a value: no search value stands for it (E0102 "unknown loss
    # 'choice'"), so it is drawn here, each point of the space with the same loss
    safe, risky = LOSSES
    text = f"  loss {draw(st.sampled_from(safe * len(risky) + risky))}\n"
    text += f"  optimizer Adam(lr={holes.value(draw, ['1e-3', '1e-2'], ['0'], (1e-4, 1e-2))})\n"
    if draw(st.booleans()):  # a metric is a name, not a value: no search value either
        text += f"  metrics [{draw(st.sampled_from(['accuracy', 'mean_absolute_error']))}]\n"
    return text + f"  train {{ {', '.join(_train(draw, holes))} }}\n"


def _window(draw: st.DrawFn, holes: Holes) -> list[str]:
    """A window layer's optional strides and padding (Conv2D, MaxPooling2D)."""
    args = []
    if draw(st.booleans()):
        args.append(f"strides={holes.value(draw, *STRIDES)}")
    if draw(st.booleans()):
        args.append(f"padding={holes.value(draw, *PADDINGS)}")
    return args


def _conv(draw: st.DrawFn, holes: Holes) -> str:
    args = [holes.value(draw, ["2", "4"], ["0"]), holes.value(draw, *KERNELS)]
    return f"Conv2D({', '.join(args + _window(draw, holes))}, activation=relu)"


def _pool(draw: st.DrawFn, holes: Holes) -> str:
    args = [holes.value(draw, *POOLS)]
    return f"MaxPooling2D({', '.join(args + _window(draw, holes))})"


def _dense(draw: st.DrawFn, holes: Holes) -> str:
    return f"Dense({holes.value(draw, *UNITS)}, activation={holes.value(draw, *HIDDEN)})"


def _dropout(draw: st.DrawFn, holes: Holes) -> str:
    return f"Dropout({holes.value(draw, ['0.1', '0.5'], ['1.0'], (0.1, 0.9))})"


def _head(draw: st.DrawFn, holes: Holes) -> list[str]:
    """From an image to a vector."""
    kind = draw(st.sampled_from(["flatten", "reshape", "reshape2", "global"]))
    if kind == "flatten":
        return ["Flatten"]
    if kind == "global":
        return ["GlobalAveragePooling2D"]
    if kind == "reshape":
        return [f"Reshape([{holes.value(draw, ['1'], ['2', '3', '4', '-1'])}, -1])", "Flatten"]
    return [f"Reshape([-1, {holes.value(draw, ['1'], ['2', '4', '8'])}])", "Flatten"]


def _output(draw: st.DrawFn, holes: Holes) -> str:
    width = holes.value(draw, ["10"], ["1", "2"])
    return f"Dense({width}, activation={holes.value(draw, ['softmax'], ['sigmoid', 'linear'])})"


def _model(inputs: str, layers: list[str], objectives: str, blocks: str = "") -> str:
    body = "".join(f"    {line}\n" for line in layers)
    return f"{blocks}model m {{\n  input {inputs}\n  layers {{\n{body}  }}\n{objectives}}}\n"


def _image(draw: st.DrawFn, holes: Holes) -> str:
    return f"[{holes.value(draw, *SIZES)}, {holes.value(draw, *SIZES)}, 1]"


@st.composite
def cnn_space(draw: st.DrawFn, holes: Holes) -> str:
    """Convolutions and pooling on a small image, a head to a vector, Dense layers."""
    inputs = _image(draw, holes)
    layers = [_conv(draw, holes)]
    for _ in range(draw(st.integers(0, 2))):
        layers.append(draw(st.sampled_from([_conv, _pool, _dropout]))(draw, holes))
    layers += _head(draw, holes)
    for _ in range(draw(st.integers(0, 2))):
        layers.append(draw(st.sampled_from([_dense, _dropout]))(draw, holes))
    layers.append(_output(draw, holes))
    return _model(inputs, layers, _objectives(draw, holes))


@st.composite
def block_space(draw: st.DrawFn, holes: Holes) -> str:
    """A block whose `if` and `repeat` depend on its parameters, used more than once; and
    perhaps one computing with two parameters (drawn first, for room to search both)."""
    heads = ""
    head = ""
    if draw(st.integers(0, 3)):  # 0 for one parameter hides the other
        expression = draw(st.sampled_from(["2 - u * m", "u + m + 1", "4 - u * m * 2", "u * m + 1"]))
        head = (f"block head(u = {holes.value(draw, ['0', '1'], ['2'], eager=True)}, "
                f"m = {holes.value(draw, ['0', '1'], ['3'], eager=True)}) {{\n"
                f"  Dense({expression}, activation=relu)\n}}\n")
        args = [f"{name}={holes.value(draw, ['0', '1'], ['2', '3'], eager=True)}"
                for name in ("u", "m") if draw(st.booleans())]
        heads = f"head({', '.join(args)})"
    defaults = [
        f"w = {holes.value(draw, ['2', '4'], ['0'])}",
        f"k = {holes.value(draw, ['1', '2', '3'], ['5'])}",
        f"deep = {holes.value(draw, ['false', 'true'])}",
        f"n = {holes.value(draw, ['0', '1'], ['2'])}",
    ]
    condition = draw(st.sampled_from(["deep", "deep and k > 2", "not deep or k == 1", "n > 1"]))
    body = [f"Conv2D(w, k, padding={holes.value(draw, ['same'], ['valid'])})"]
    body.append(f"if {condition} {{ Conv2D(w, k) }}" if draw(st.booleans()) else
                f"if {condition} {{ Conv2D(w, k) }} else {{ MaxPooling2D(2) }}")
    if draw(st.booleans()):
        body.append("if n > 0 { repeat n { MaxPooling2D(2, padding=same) } }")
    else:
        body.append("MaxPooling2D(k, strides=1)")
    block = head + "block unit(" + ", ".join(defaults) + ") {\n" + "".join(
        f"  {line}\n" for line in body) + "}\n"
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        args = []
        for name, safe, risky in [("w", ["1", "3"], []), ("k", ["1", "3"], ["4"]),
                                  ("deep", ["false", "true"], []), ("n", ["0", "1"], ["3"])]:
            if draw(st.integers(0, 2)) == 0:
                args.append(f"{name}={holes.value(draw, safe, risky)}")
        if draw(st.integers(0, 3)) == 0:
            args.append(f"repeat={holes.value(draw, ['1', '2'], ['0'])}")
        layers.append(f"unit({', '.join(args)})")
    if draw(st.booleans()):
        layers.append(f"if {holes.value(draw, ['false', 'true'])} {{ {_conv(draw, holes)} }}")
    layers += _head(draw, holes)
    if heads:
        layers.append(heads)
    layers.append(_output(draw, holes))
    return _model(_image(draw, holes), layers, _objectives(draw, holes), block)


@st.composite
def graph_space(draw: st.DrawFn, holes: Holes) -> str:
    """Two branches merged (Add, Concatenate, Multiply), a Reshape, perhaps an unused layer."""
    widths = (["4", "6"], ["2", "3", "12"])  # which divide which: Reshape targets interact
    width = holes.value(draw, *widths, eager=True)
    a = f"a = Dense({holes.value(draw, *widths, eager=True)})(input)"
    b = f"b = Dense({holes.value(draw, *widths)})(input)" if draw(st.booleans()) else (
        f"b = Dropout({holes.value(draw, ['0.1', '0.5'])})(input)")
    merge = draw(st.sampled_from(["Add", "Concatenate", "Multiply"]))
    layers = [a, b, f"h = {merge}()(a, b)"]
    if draw(st.integers(0, 3)):  # a layer nothing reads: checked, though not in the model
        target = holes.value(draw, ["1", "2"], ["3", "4"], eager=True)
        source = draw(st.sampled_from(["a", "input"]))
        layers += [f"u = Reshape([{target}, -1])({source})", "Identity()(h)"]
    if draw(st.booleans()):
        layers.append(f"Reshape([{holes.value(draw, ['1', '-1'], ['2', '3'])}, "
                      f"{holes.value(draw, ['1', '2'], ['-1', '3'])}])(h)")
        layers.append("Flatten")
    if draw(st.booleans()):
        layers.append(_dropout(draw, holes))
    layers.append(_output(draw, holes))
    return _model(f"[{width}]", layers, _objectives(draw, holes))


@st.composite
def big_space(draw: st.DrawFn, holes: Holes) -> str:
    """Branches near the parameter limit (10**12, E0231): a layer's count, and the total over
    branches whose widths are independent."""
    width = holes.value(draw, ["1000000"], ["2000000", "10"])
    count = draw(st.integers(2, 3))
    layers = []
    for i in range(count):
        units = holes.value(draw, ["1", "300000"], ["600000"])
        layers.append(f"b{i} = Dense({units})(input)")
        layers.append(f"p{i} = Dense(1)(b{i})")
    layers.append(f"Add()({', '.join(f'p{i}' for i in range(count))})")
    return _model(f"[{width}]", layers, "  loss mse\n  optimizer Adam\n")


def spaces(dimensions: int = 4, points: int = 48) -> st.SearchStrategy[str]:
    """A spec text holding a small search space of up to `dimensions` search values."""

    @st.composite
    def one(draw: st.DrawFn) -> str:
        holes = Holes(dimensions=dimensions, points=points)
        family = draw(st.sampled_from([cnn_space, block_space, graph_space, big_space]))
        return draw(family(holes))

    return one()


# -- the brute force, and the comparison


def points_of(dimension: Dimension) -> list[str]:
    """Every value a brute force checks: all of a choice or int_range; for a range the
    values `samples_of` checks and one more inside."""
    values = samples_of(dimension)
    if dimension.kind in ("range", "log_range"):
        assert dimension.low is not None and dimension.high is not None
        values.append(repr(dimension.low + (dimension.high - dimension.low) / 3))
    return values


@dataclass
class Point:
    values: dict[str, str]
    errors: set[tuple[str, int]]
    """(code, line) of each error at this point."""

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass
class Verdicts:
    space: SearchSpace
    points: list[Point] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(p.valid for p in self.points)


def brute_force(space: SearchSpace) -> Verdicts:
    verdicts = Verdicts(space)
    names = [d.name for d in space.dimensions]
    for values in itertools.product(*(points_of(d) for d in space.dimensions)):
        assignment = dict(zip(names, values, strict=True))
        model, diagnostics = check_source(concrete_source(space, assignment), FILE)
        errors = {(d.code, d.span.line) for d in diagnostics if d.severity is Severity.ERROR}
        assert (model is None) == bool(errors)
        verdicts.points.append(Point(assignment, errors))
    return verdicts


NOTE = re.compile(r"^(\S+) = (.*) here$")


def disagreement(source: str) -> str | None:
    """What check_space gets wrong about this space against the brute force; None if nothing."""
    diagnostics = Diagnostics()
    space = find_space(source, FILE, diagnostics)
    if space is None or not space.dimensions:
        return None
    result = examine(space, diagnostics)
    truth = brute_force(space)
    if result.ok != truth.valid:
        bad = next((p for p in truth.points if not p.valid), None)
        return (f"check_space says ok={result.ok}, brute force valid={truth.valid}"
                + (f"; e.g. {bad.values} fails with {sorted(bad.errors)}" if bad else "")
                + "".join(f"\n  {d.code} {d.message}" for d in diagnostics))
    first = truth.points[0]
    for d in diagnostics:
        if d.severity is not Severity.ERROR:
            continue
        named = {}
        for note in d.related:
            match = NOTE.match(note.message)
            if match and space.dimension(match.group(1)) is not None:
                named[match.group(1)] = match.group(2)
        matching = [p for p in truth.points
                    if all(p.values[k] == v for k, v in named.items())]
        if not any((d.code, d.span.line) in p.errors for p in matching):
            return f"reported {d.code} at line {d.span.line} with {named}: no such point fails: {d.message}"
        if first.valid:  # the reference is the first values: the others stay there
            at = next(p for p in matching if all(
                p.values[k] == first.values[k] for k in p.values if k not in named))
            if (d.code, d.span.line) not in at.errors:
                return (f"reported {d.code} at line {d.span.line} with {named}, the others at "
                        f"their first values, but {at.values} gives {sorted(at.errors)}: {d.message}")
    return None
