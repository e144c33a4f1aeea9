"""Checking a whole search space without checking each of its points.

A point is checked as a plain spec: its values are written into the parsed tree
(`Substituter`) and the ordinary pipeline runs (expand, check), so every diagnostic is the
ordinary one, its code, span and hint kept; it is reported once, prefixed with the values that
break it (`with conv2d.kernel_size=choice(3, 5, 7)=7 and conv2d_1.kernel_size=…=7: …`), with a
note at each of those dimensions.

How few points suffice
----------------------
1. A **reference point**: each dimension at its first value (if that point fails, the first
   point found valid by changing one dimension; if none is, the failures are reported and the
   search stops there). A dimension's values are all of a choice's options, all integers of an
   int_range of up to 16 values (else its ends, middle and quartiles), and a range's two ends
   and middle (a log_range's geometric middle): every bound netspec puts on a number is an
   interval, so a range's ends decide whether it fits.
2. **One dimension at a time**: each dimension over its values, the others at the
   reference. For each such point that checks, its *footprint* is what differs from the
   reference: the *sites* whose layers differ (kind, arguments, input shapes, output shape,
   frozen or not, how many), a site being one written layer statement in one block instance
   (its span and the use sites that made it), and the *global* site: the outputs' shapes and
   activations, losses, optimizer, metrics and train settings. Every layer checked counts,
   also one that no output reads (it is no part of the model, but its check can fail).
3. **Interaction**: two dimensions interact when one's footprint meets the other's footprint
   or its *reach* (the sites its value is written into: the statement, the instance, the
   block, the body of the `repeat` or `if` it counts or decides; the global site for the
   optimizer, loss, train and input sections). Dimensions in one `repeat` count or `if`
   condition interact, and so do all dimensions whose values flow into a block whose body has
   a `repeat` or `if` that depends on its parameters (together they may decide it where
   neither alone changes it), or an expression of two of its parameters or more (`a * b`
   hides `b` while `a` is 0: changed one at a time neither may change a layer). Interacting
   dimensions form groups (connected components); the product of each group's values is
   checked point by point (capped at `CAP` points: W0195 then names the group and what was
   left out). A group's footprint is then the union over
   its points, and groups whose footprints meet are merged and enumerated again.
4. **Sums**: the model's parameter count (E0231) and whether any is trainable (W0304) add up
   over sites; with disjoint footprints each group's change adds, so the largest and smallest
   totals are the reference's plus each group's largest (smallest) change, and the one point
   that combines them is checked when a limit may be crossed. The memory warning (W0232) is
   given at every point checked, and two combined points are checked for it: the largest
   total's (when its training state may exceed the host's memory) and the one joining each
   group's largest layer output for a batch (the group of batch_size and precision gives the
   batch's bytes): the two estimates of netspec/memory.py are a sum over sites and a largest
   output times the batch's bytes per value.

Why that is sound: the checker's verdict on a layer depends only on its own arguments and its
input shapes, and the global checks depend only on the global site (plus the sums of 4).
Take a point that changes several groups, with disjoint footprints. By induction over the
layers in order, each site behaves exactly as at the point where only the group whose
footprint holds it changes (or as at the reference, when none does): a site's arguments come
from dimensions that reach it, and a group that does not reach it (or changed it) leaves them
as at the reference; its inputs come from earlier sites, and an earlier site changed by
another group would put this site in that group's footprint too. A dimension hidden at the
reference (written in an `if` branch not taken, or in a repeat run zero… one time) is covered
by reach: the dimension that uncovers it changes a site its reach holds. So every check at the
combined point is one already made at a point that was checked. When a dimension's value fails
on its own, that point is reported and its footprint (unknown) is left out: the space is then
reported invalid anyway, though problems that only other combinations with it show may be
reported only once that one is fixed.

Cost: the number of points checked is 1 + Σ(values − 1) + Σ over groups (product of their
values), never the product over all dimensions: six independent choices of ten values each
(10⁶ points) check 55 points.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from netspec import catalogue, ir, memory
from netspec.check import check
from netspec.check.graph import GraphChecker
from netspec.diagnostics import Diagnostic, Diagnostics, Severity, Span
from netspec.expand import expand
from netspec.limits import MAX_PARAMETERS
from netspec.parse import paused_gc
from netspec.space.concrete import Substituter, resolve
from netspec.space.find import search_calls
from netspec.space.model import Dimension, SearchSpace

__all__ = ["CAP", "Group", "SpaceCheck", "check_space", "examine", "samples_of"]

CAP = 10_000
"""The most points of one group of interacting dimensions that are checked."""

ALL_INTEGERS = 16
"""An int_range of up to this many values is checked at each of them."""

INPUTS = ("inputs",)
OPTIMIZER = ("optimizer",)
OUTPUTS = ("outputs",)
"""The global sites: the checks that read the model's outputs (losses, metrics, class
weights, the monitored figure), the optimizer's arguments, the inputs, and each train setting
(`("train", name)`), each checked on its own."""
TRAIN_AND_OUTPUTS = frozenset({"class_weight", "monitor", "validation_split", "data"})
"""Train settings that the outputs' checks read too."""

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Sample:
    """One value a dimension is checked at: its text and the node written in for it."""

    text: str
    node: ir.Value


@dataclass
class Group:
    """Interacting dimensions, checked together over the product of their values."""

    dimensions: tuple[str, ...]
    size: int
    checked: int


@dataclass
class SpaceCheck:
    """What `examine` did: whether every point is valid, and how many points it checked."""

    ok: bool
    points: int
    groups: list[Group] = field(default_factory=list)
    samples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reference: ir.Model | None = None
    """The model at the reference point (each dimension at its first value, or the valid
    neighbour checked instead): what an editor shows a layer's shape from."""


@dataclass
class _Outcome:
    index: tuple[int, ...]
    diagnostics: list[Diagnostic]
    sites: dict[Key, list[tuple[Any, ...]]] | None
    """Each site's layers, and the global site; None when the point failed."""
    totals: tuple[int, int] | None = None
    """All parameters and the trainable ones."""
    activation: tuple[int, int] = (0, 0)
    """The largest layer output's values, and a batch's bytes per value (memory.py's
    estimate of one activation is their product)."""

    @property
    def valid(self) -> bool:
        return self.sites is not None


def check_space(
    space: SearchSpace, diagnostics: Diagnostics, sources: dict[str, str] | None = None
) -> bool:
    """Whether every point of the space is a valid spec; what breaks one is reported."""
    return examine(space, diagnostics, sources).ok


def samples_of(dimension: Dimension) -> list[str]:
    """The values (as spec text) a dimension is checked at (see the module docstring)."""
    if dimension.kind == "choice":
        return list(dimension.choices or ())
    low, high = dimension.low, dimension.high
    assert low is not None and high is not None
    if dimension.kind == "int_range":
        low, high = int(low), int(high)
        if high - low + 1 <= ALL_INTEGERS:
            values = list(range(low, high + 1))
        else:
            values = sorted({low, high, *(low + (high - low) * k // 4 for k in (1, 2, 3))})
        return [str(v) for v in values]
    middle = math.sqrt(low * high) if dimension.kind == "log_range" else (low + high) / 2
    return [resolve(dimension, v)[0] for v in (low, middle, high)]


def examine(
    space: SearchSpace,
    diagnostics: Diagnostics,
    sources: dict[str, str] | None = None,
    cap: int = CAP,
) -> SpaceCheck:
    """Check the space as the module docstring says; report into `diagnostics`."""
    return _Examiner(space, diagnostics, sources, cap).run()


class _Examiner:
    def __init__(
        self, space: SearchSpace, diagnostics: Diagnostics, sources: dict[str, str] | None,
        cap: int,
    ) -> None:
        self.space = space
        self.dimensions = space.dimensions
        self.diagnostics = diagnostics
        self.sources = sources
        self.cap = cap
        self.substituter = Substituter(space)
        self.samples: list[list[Sample]] = []
        for i, dimension in enumerate(self.dimensions):
            texts = samples_of(dimension)
            self.samples.append(
                [Sample(t, self.substituter.node(i, resolve(dimension, t))) for t in texts]
            )
        self.outcomes: dict[tuple[int, ...], _Outcome] = {}
        self.order: list[_Outcome] = []
        self.groups: list[Group] = []
        self.members: list[list[int]] = []
        """The final groups of interacting dimensions (each dimension in one)."""
        self.memory = memory.host_memory()
        """The host's memory, for W0232 at each point (None where nothing tells)."""
        self.candidates: dict[tuple[int, ...], ir.Model] | None = {}
        """The checked models of the points that may become the reference, kept until it is
        chosen (SpaceCheck.reference); None after, so no other point's model is kept."""

    # -- checking one point
    def point(self, index: tuple[int, ...]) -> _Outcome:
        known = self.outcomes.get(index)
        if known is not None:
            return known
        spec = self.substituter.apply(
            {i: self.samples[i][j].node for i, j in enumerate(index)}
        )
        found = Diagnostics()
        with paused_gc():
            expanded, ok = expand(spec, found, self.sources)
            model = check(expanded, found, expanded=ok)
        if model is not None and self.candidates is not None:
            self.candidates[index] = model
        if model is not None:
            memory.warn(model, found, self.memory)  # W0232, as `netspec check` warns
        outcome = _Outcome(index=index, diagnostics=list(found), sites=None)
        if model is not None:
            outcome.sites = _sites(model, expanded, _unread(model, expanded))
            outcome.totals = (
                model.trainable_params + model.non_trainable_params, model.trainable_params
            )
            outcome.activation = _activation_figures(model)
        self.outcomes[index] = outcome
        self.order.append(outcome)
        return outcome

    def run(self) -> SpaceCheck:
        n = len(self.dimensions)
        first = tuple(0 for _ in range(n))
        reference = self.point(first)
        if not reference.valid:
            reference = self._valid_neighbour(first) or reference
        chosen = (self.candidates or {}).get(reference.index)
        self.candidates = None
        ok = reference.valid
        if ok:
            footprints = self._one_at_a_time(reference)
            groups = self._groups(reference, footprints)
            self._sums(reference, groups)
        else:
            for i in range(n):  # attribution: which dimensions the failures depend on
                self._vary(reference.index, i)
            self.diagnostics.warning(
                "W0195",
                "no valid point found by changing one dimension at a time from the first "
                "values: the rest of the space was not checked",
                self.dimensions[0].span,
                hint="fix the errors below, then check again",
            )
        ok = self._report(reference) and ok
        return SpaceCheck(
            ok=ok,
            points=len(self.outcomes),
            groups=self.groups,
            samples={d.name: tuple(s.text for s in self.samples[i])
                     for i, d in enumerate(self.dimensions)},
            reference=chosen,
        )

    def _vary(self, base: tuple[int, ...], i: int) -> list[_Outcome]:
        outcomes = []
        for j in range(len(self.samples[i])):
            if j != base[i]:
                outcomes.append(self.point((*base[:i], j, *base[i + 1:])))
        return outcomes

    def _valid_neighbour(self, first: tuple[int, ...]) -> _Outcome | None:
        for i in range(len(self.dimensions)):
            for outcome in self._vary(first, i):
                if outcome.valid:
                    return outcome
        return None

    # -- footprints and groups
    def _one_at_a_time(self, reference: _Outcome) -> list[set[Key]]:
        footprints = []
        for i in range(len(self.dimensions)):
            footprint: set[Key] = set()
            for outcome in self._vary(reference.index, i):
                footprint |= _changed(reference, outcome)
            footprints.append(footprint)
        return footprints

    def _groups(self, reference: _Outcome, footprints: list[set[Key]]) -> list[list[int]]:
        n = len(self.dimensions)
        reach = _reaches(self.space)
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(i: int, k: int) -> None:
            parent[find(i)] = find(k)

        for together in _decided_together(self.space):
            for i in together[1:]:
                union(together[0], i)
        for i in range(n):
            for k in range(i + 1, n):
                if _interact(footprints[i], reach[i], footprints[k], reach[k]):
                    union(i, k)
        while True:
            members: dict[int, list[int]] = {}
            for i in range(n):
                members.setdefault(find(i), []).append(i)
            groups = list(members.values())
            prints = {}
            for group in groups:
                prints[find(group[0])] = self._enumerate(reference, group, footprints)
            merged = False
            roots = list(prints)
            for a, b in itertools.combinations(roots, 2):
                reach_a = _union_reach(reach, members[a])
                reach_b = _union_reach(reach, members[b])
                if find(a) != find(b) and _interact(prints[a], reach_a, prints[b], reach_b):
                    union(a, b)
                    merged = True
            if not merged:
                break
        final = {tuple(self.dimensions[i].name for i in group) for group in groups}
        self.groups = [g for g in self.groups if g.dimensions in final]
        self.members = groups
        for group in groups:
            self._partly(group)
        return groups

    def _partly(self, group: list[int]) -> None:
        """W0195 for a final group whose product was checked in part."""
        names = tuple(self.dimensions[i].name for i in group)
        record = next((g for g in self.groups if g.dimensions == names), None)
        if record is None or record.checked == record.size:
            return
        done, size = record.checked, record.size
        self.diagnostics.warning(
            "W0195",
            f"dimensions {', '.join(names)} interact: {done:,} of their {size:,} "
            "combinations were checked",
            self.dimensions[group[0]].span,
            hint=f"the product of interacting dimensions is checked up to {self.cap:,} "
            "points; fewer values, or fewer dimensions that feed one layer, check in full",
            related=[(self.dimensions[i].span, f"{self.dimensions[i].name} is in the group")
                     for i in group[1:]],
        )

    def _enumerate(
        self, reference: _Outcome, group: list[int], footprints: list[set[Key]]
    ) -> set[Key]:
        """Check the product of the group's values; the group's footprint."""
        footprint: set[Key] = set().union(*(footprints[i] for i in group))
        if len(group) < 2:
            return footprint
        sizes = [len(self.samples[i]) for i in group]
        size = math.prod(sizes)
        new = done = 0
        for values in itertools.product(*(range(s) for s in sizes)):
            index = _with(reference.index, group, values)
            if index not in self.outcomes:
                if new >= self.cap:
                    break
                new += 1
            done += 1
            footprint |= _changed(reference, self.point(index))
        names = tuple(self.dimensions[i].name for i in group)
        self.groups = [g for g in self.groups if g.dimensions != names]
        self.groups.append(Group(dimensions=names, size=size, checked=done))
        return footprint

    def _sums(self, reference: _Outcome, groups: list[list[int]]) -> None:
        """E0231 and W0304 over combinations: the extreme totals, from each group's extreme."""
        assert reference.totals is not None
        most = list(reference.index)
        least = list(reference.index)
        high, low = reference.totals[0], reference.totals[1]
        for group in groups:
            outcomes = [
                o for o in self.outcomes.values()
                if o.totals is not None and _only(o.index, reference.index, group)
            ]
            if not outcomes:
                continue
            top = max(outcomes, key=lambda o: o.totals[0])  # type: ignore[index]
            bottom = min(outcomes, key=lambda o: o.totals[1])  # type: ignore[index]
            assert top.totals is not None and bottom.totals is not None
            high += top.totals[0] - reference.totals[0]
            low += bottom.totals[1] - reference.totals[1]
            for i in group:
                most[i] = top.index[i]
                least[i] = bottom.index[i]
        if high > MAX_PARAMETERS or self._may_not_fit(high):
            self.point(tuple(most))
        if low == 0:
            self.point(tuple(least))
        self._largest_activation(reference, groups)

    def _may_not_fit(self, parameters: int) -> bool:
        """Whether the largest parameter total's training state may exceed the host's memory
        (W0232): the bound counts every optimizer's most values per weight."""
        if self.memory is None:
            return False
        most_slots = 3  # Adam with amsgrad keeps three values per weight (catalogue)
        return parameters * (2 + most_slots) * memory.WEIGHT_BYTES > self.memory.total

    def _largest_activation(self, reference: _Outcome, groups: list[list[int]]) -> None:
        """W0232 for one layer's output over combinations: the largest output comes from the
        group that makes it, the batch's bytes from the group that sets batch_size and
        precision, so the point with each group's largest product is checked when their
        combination may exceed the host's memory."""
        if self.memory is None:
            return
        values, per_value = reference.activation
        point = list(reference.index)
        for group in groups:
            outcomes = [o for o in self.outcomes.values()
                        if o.valid and _only(o.index, reference.index, group)]
            if not outcomes:
                continue
            top = max(outcomes, key=lambda o: o.activation[0] * o.activation[1])
            values = max(values, top.activation[0])
            per_value = max(per_value, top.activation[1])
            for i in group:
                point[i] = top.index[i]
        if values * per_value > self.memory.total:
            self.point(tuple(point))

    # -- reporting
    def _report(self, reference: _Outcome) -> bool:
        ok = True
        plain = {(d.code, d.span, d.message) for d in reference.diagnostics}
        reported: set[tuple[str, Span]] = set()
        for outcome in self.order:
            for d in outcome.diagnostics:
                key = (d.code, d.span)
                if key in reported:
                    continue
                if outcome is not reference and (d.code, d.span, d.message) in plain:
                    continue
                reported.add(key)
                if d.severity is Severity.ERROR:
                    ok = False
                if outcome is reference:
                    blamed = self._blamed(reference, d)
                else:
                    blamed = [i for i, j in enumerate(outcome.index) if j != reference.index[i]]
                    blamed = self._accomplices(outcome, d, blamed)
                self._emit(d, outcome.index, blamed)
        return ok

    def _accomplices(self, outcome: _Outcome, d: Diagnostic, blamed: list[int]) -> list[int]:
        """`blamed` and the dimensions at their reference value that break the point with
        them: those of their groups whose change (from this point) makes `d` go away. Only
        a group's own dimensions can matter; the others are independent of it."""
        group = {i for members in self.members if set(members) & set(blamed) for i in members}
        found = set(blamed)
        for k in sorted(group - found):
            for j in range(len(self.samples[k])):
                if j == outcome.index[k]:
                    continue
                other = self.point((*outcome.index[:k], j, *outcome.index[k + 1:]))
                if not any((e.code, e.span) == (d.code, d.span) for e in other.diagnostics):
                    found.add(k)
                    break
        return sorted(found)

    def _blamed(self, reference: _Outcome, d: Diagnostic) -> list[int]:
        """The dimensions whose change makes a diagnostic of the reference point go away."""
        blamed = []
        for i in range(len(self.dimensions)):
            for j in range(len(self.samples[i])):
                index = (*reference.index[:i], j, *reference.index[i + 1:])
                other = self.outcomes.get(index)
                if other is not None and j != reference.index[i] and not any(
                    (e.code, e.span) == (d.code, d.span) for e in other.diagnostics
                ):
                    blamed.append(i)
                    break
        return blamed

    def _emit(self, d: Diagnostic, index: tuple[int, ...], blamed: Sequence[int]) -> None:
        notes = [(r.span, r.message) for r in d.related]
        message = d.message
        if blamed:
            values = [
                f"{self.dimensions[i].name}={self.dimensions[i].describe()}="
                f"{self.samples[i][index[i]].text}"
                for i in blamed
            ]
            message = f"with {_and(values)}: {message}"
            notes += [
                (self.dimensions[i].span,
                 f"{self.dimensions[i].name} = {self.samples[i][index[i]].text} here")
                for i in blamed
            ]
        if d.severity is Severity.ERROR:
            self.diagnostics.error(d.code, message, d.span, d.hint, notes)
        else:
            self.diagnostics.warning(d.code, message, d.span, d.hint, notes)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _with(base: tuple[int, ...], group: list[int], values: tuple[int, ...]) -> tuple[int, ...]:
    index = list(base)
    for i, j in zip(group, values, strict=True):
        index[i] = j
    return tuple(index)


def _only(index: tuple[int, ...], base: tuple[int, ...], group: list[int]) -> bool:
    """Whether `index` differs from `base` in the group's dimensions only."""
    members = set(group)
    return all(j == base[i] or i in members for i, j in enumerate(index))


# -- footprints


def _activation_figures(model: ir.Model) -> tuple[int, int]:
    """The largest layer output's values and a batch's bytes per value (memory.py)."""
    largest = memory.largest_activation(model)
    if largest is None:
        return 0, 0
    layer, taken = largest
    values = math.prod(layer.output_shape)
    return values, taken // max(values, 1)


def _unread(model: ir.Model, expanded: ir.SpecFile) -> list[ir.Layer]:
    """The layers that checked but are no part of the model: nothing that reaches an output
    reads them (W0140). They are checked all the same, so their sites count: the graph is
    checked again to see them, only when there are some."""
    if len(model.layers) == len(expanded.layers or []):
        return []
    checker = GraphChecker(expanded, Diagnostics())
    graph = checker.graph(checker.inputs())
    assert graph is not None, "it checked as part of the model"
    kept = {layer.name for layer in model.layers}
    return [layer for layer in graph.built.values() if layer.name not in kept]


def _sites(
    model: ir.Model, expanded: ir.SpecFile, unread: Sequence[ir.Layer] = ()
) -> dict[Key, list[tuple[Any, ...]]]:
    """Each site's layers (what a layer's check reads and makes), and the global site."""
    origins: dict[str, Key] = {}
    for statement in expanded.layers or []:
        if isinstance(statement, ir.LayerStmt) and statement.name is not None:
            origins[statement.name] = (
                statement.span, tuple(note.span for note in statement.origin)
            )
    sites: dict[Key, list[tuple[Any, ...]]] = {}
    for layer in [*model.layers, *unread]:
        key = origins.get(layer.name, (layer.span, ()))
        sites.setdefault(key, []).append(
            (layer.kind, layer.params, tuple(layer.input_shapes), layer.output_shape,
             layer.trainable)
        )
    by_name = {layer.name: layer for layer in model.layers}
    train = model.train
    sites[INPUTS] = [tuple(model.inputs)]
    sites[OPTIMIZER] = [(model.optimizer,)]
    # by position, never by name: a name numbered after a repeat is no change to check
    position = {o: i for i, o in enumerate(model.outputs)}
    sites[OUTPUTS] = [(
        tuple((model.shape_of(o), _activation(o, by_name)) for o in model.outputs),
        tuple((loss.kind, loss.params, loss.weight) for loss in model.losses),
        tuple((metric.kind, position.get(metric.output)) for metric in model.metrics),
        train.class_weight,
        train.monitor,
        train.has_validation,
    )]
    for name in type(train).model_fields:
        if name not in ("span", "class_weight", "monitor"):
            sites[("train", name)] = [(getattr(train, name),)]
    return sites


def _activation(tensor: str, layers: dict[str, ir.Layer]) -> str | None:
    """The activation a tensor ends with, through layers that pass values on (as the loss
    check reads it)."""
    while tensor in layers:
        layer = layers[tensor]
        entry = catalogue.layer(layer.kind)
        if not entry.transparent:
            return entry.activation(layer.params)
        tensor = layer.inputs[0]
    return "linear"


def _changed(reference: _Outcome, outcome: _Outcome) -> set[Key]:
    if outcome.sites is None or reference.sites is None:
        return set()
    keys = reference.sites.keys() | outcome.sites.keys()
    return {k for k in keys if reference.sites.get(k) != outcome.sites.get(k)}


@dataclass(frozen=True)
class _Reach:
    """The sites a dimension's value is written into: those made by statements (or
    instances used) inside `region`, and the global sites `keys`."""

    region: Span | None = None
    keys: frozenset[Key] = frozenset()
    everything: bool = False
    """For a value found where no rule above places it: it may reach any site."""

    def covers(self, key: Key) -> bool:
        if self.everything or key in self.keys:
            return True
        if self.region is None or len(key) != 2 or not isinstance(key[0], Span):
            return False
        span, origins = key
        return _inside(span, self.region) or any(_inside(o, self.region) for o in origins)


def _inside(span: Span, region: Span) -> bool:
    return (
        span.file == region.file
        and (span.line, span.column) >= (region.line, region.column)
        and (span.end_line, span.end_column) <= (region.end_line, region.end_column)
    )


def _interact(
    print_a: set[Key], reach_a: Sequence[_Reach], print_b: set[Key], reach_b: Sequence[_Reach]
) -> bool:
    if print_a & print_b:
        return True
    return any(r.covers(k) for k in print_a for r in reach_b) or any(
        r.covers(k) for k in print_b for r in reach_a
    )


def _union_reach(reach: list[list[_Reach]], members: list[int]) -> list[_Reach]:
    return [r for i in members for r in reach[i]]


def _reaches(space: SearchSpace) -> list[list[_Reach]]:
    """Each dimension's reach, from where it is written (see `_Reach`)."""
    assert space.tree is not None
    places: dict[int, _Reach] = {}
    tree = space.tree
    for statement in tree.inputs or []:
        for call in search_calls(statement):
            places[id(call)] = _Reach(keys=frozenset({INPUTS}))
    sections = [tree.loss, tree.losses, tree.loss_weights]
    for call in search_calls(sections):
        places[id(call)] = _Reach(keys=frozenset({OUTPUTS}))
    for call in search_calls(tree.optimizer):
        places[id(call)] = _Reach(keys=frozenset({OPTIMIZER}))
    for setting in tree.train or []:
        keys = {("train", setting.key)}
        if setting.key in TRAIN_AND_OUTPUTS:
            keys.add(OUTPUTS)
        for call in search_calls(setting):
            places[id(call)] = _Reach(keys=frozenset(keys))
    for block in tree.blocks:
        for call in search_calls(block):
            places[id(call)] = _Reach(block.span)
        _statements(block.body, places)
    _statements(tree.layers or [], places)
    return [[places.get(id(d.call), _Reach(everything=True))] for d in space.dimensions]


def _statements(statements: list[ir.Statement], places: dict[int, _Reach]) -> None:
    """Record the reach of each search value in these statements (innermost wins)."""
    for statement in statements:
        for call in search_calls(statement):
            places[id(call)] = _Reach(statement.span)
        if isinstance(statement, ir.RepeatStmt):
            _statements(statement.body, places)
        elif isinstance(statement, ir.IfStmt):
            _statements(statement.then, places)
            _statements(statement.otherwise, places)


def _decided_together(space: SearchSpace) -> Iterator[list[int]]:
    """Dimensions that may decide a `repeat` or `if` together: those in one count or
    condition, and all whose values flow into a block whose body decides on its parameters
    or computes with two of them."""
    assert space.tree is not None
    tree = space.tree
    index = {id(d.call): i for i, d in enumerate(space.dimensions)}
    blocks = {b.name: b for b in tree.blocks}
    for expression in _decisions(tree):
        together = [index[id(c)] for c in search_calls(expression) if id(c) in index]
        if len(together) > 1:
            yield together
    deciding = {name for name, b in blocks.items() if any(
        search_calls(e) or _mentions_names(e) for e in _decisions_in(b.body)
    ) or _combines_parameters(b)}
    uses = {name: _used_blocks(b.body, blocks) for name, b in blocks.items()}
    changed = True
    while changed:  # a block that uses a deciding block decides too
        changed = False
        for name in blocks:
            if name not in deciding and uses[name] & deciding:
                deciding.add(name)
                changed = True
    for name in sorted(deciding):
        block = blocks[name]
        flowing = [index[id(c)] for c in search_calls(block) if id(c) in index]
        for statement in _all_statements(tree.layers or []) + [
            s for b in tree.blocks for s in _all_statements(b.body)
        ]:
            if isinstance(statement, ir.LayerStmt) and statement.call.name in (
                {name} | {u for u, used in uses.items() if name in used}
            ):
                flowing += [index[id(c)] for c in search_calls(statement.call) if id(c) in index]
        for other in uses[name]:
            flowing += [index[id(c)] for c in search_calls(blocks[other]) if id(c) in index]
        if len(set(flowing)) > 1:
            yield sorted(set(flowing))


def _decisions(tree: ir.SpecFile) -> Iterator[ir.Value]:
    yield from _decisions_in(tree.layers or [])
    for block in tree.blocks:
        yield from _decisions_in(block.body)


def _decisions_in(statements: list[ir.Statement]) -> Iterator[ir.Value]:
    """The repeat counts, `repeat=` arguments and if conditions in these statements."""
    for statement in _all_statements(statements):
        if isinstance(statement, ir.RepeatStmt):
            yield statement.count
        elif isinstance(statement, ir.IfStmt):
            yield statement.condition
        else:
            for arg in statement.call.args:
                if arg.keyword == "repeat":
                    yield arg.value


def _all_statements(statements: list[ir.Statement]) -> list[ir.Statement]:
    out: list[ir.Statement] = []
    for statement in statements:
        out.append(statement)
        if isinstance(statement, ir.RepeatStmt):
            out += _all_statements(statement.body)
        elif isinstance(statement, ir.IfStmt):
            out += _all_statements(statement.then) + _all_statements(statement.otherwise)
    return out


def _combines_parameters(block: ir.BlockDef) -> bool:
    """Whether an expression in the block (its body or a parameter's default) reads two of
    its parameters or more: `a * b` hides `b` while `a` is 0, so that changing either alone
    may change no layer where changing both does."""
    parameters = {p.name for p in block.params}
    return any(
        len(_names_in(expression) & parameters) > 1
        for expression in _expressions([block.params, block.body])
    )


def _expressions(node: object) -> Iterator[ir.BinaryOp | ir.UnaryOp]:
    """The outermost operations in a syntax tree (or part of one)."""
    if isinstance(node, ir.BinaryOp | ir.UnaryOp):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)
    elif isinstance(node, ir.Node):
        for name in type(node).model_fields:
            yield from _expressions(getattr(node, name))


def _names_in(value: object) -> set[str]:
    """The names an expression reads."""
    if isinstance(value, ir.Symbol):
        return {value.name}
    if isinstance(value, ir.BinaryOp):
        return _names_in(value.left) | _names_in(value.right)
    if isinstance(value, ir.UnaryOp):
        return _names_in(value.operand)
    if isinstance(value, ir.ListValue):
        return set().union(*(_names_in(v) for v in value.items))
    if isinstance(value, ir.Call):
        return set().union(*(_names_in(a.value) for a in value.args))
    return set()


def _mentions_names(value: object) -> bool:
    """Whether an expression reads a name (a block parameter)."""
    if isinstance(value, ir.Symbol):
        return True
    if isinstance(value, ir.BinaryOp):
        return _mentions_names(value.left) or _mentions_names(value.right)
    if isinstance(value, ir.UnaryOp):
        return _mentions_names(value.operand)
    if isinstance(value, ir.ListValue):
        return any(_mentions_names(v) for v in value.items)
    if isinstance(value, ir.Call):
        return any(_mentions_names(a.value) for a in value.args)
    return False


def _used_blocks(statements: list[ir.Statement], blocks: dict[str, ir.BlockDef]) -> set[str]:
    """The blocks these statements use, directly or through other blocks."""
    found: set[str] = set()
    todo = [s for s in _all_statements(statements) if isinstance(s, ir.LayerStmt)]
    while todo:
        statement = todo.pop()
        name = statement.call.name
        if name in blocks and name not in found:
            found.add(name)
            todo += [s for s in _all_statements(blocks[name].body) if isinstance(s, ir.LayerStmt)]
    return found
