"""The Optuna side of `netspec tune`: a spec's search dimensions as Optuna distributions, the
seeded sampler, the pruner, and how trials are asked in rounds so the search is the same
whatever `--jobs` is.

Why rounds. TPE's next point depends on the trials finished before it is asked, and a pruner's
verdict on the trials finished before it is asked; with J trials at once, which ones have
finished depends on timing. So slots (the search's 0th, 1st, … trial) are grouped in rounds of
`batch` slots: a round's points are all asked when the round starts, after every earlier round
has finished, and a trial is pruned only against trials of earlier rounds. Each slot's point is
drawn by a sampler seeded with (seed, slot) alone. A slot's point and its pruning therefore
depend on the seed, the slot and the earlier rounds' results, never on --jobs (J ≤ batch trials
run at once) nor on which trial of a round ends first. The cost: a trial does not learn from
the others of its round, as with any parallel TPE; `batch` 1 is plain sequential TPE.

Optuna is imported by this module, and this module only inside `netspec tune`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from netspec.space import Dimension

SLOT = "slot"  # user attribute: the trial's place in the search (a re-run keeps its slot)
RERUN = "rerun"  # study user attribute: trials that never finished, number -> why
REASON = "reason"  # user attribute: why a trial failed or was pruned, in words
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
PRUNERS = ("median", "asha", "none")


def option_value(text: str) -> int | float | str:
    """A choice's option as Optuna stores it: a number when the spec text is one (so plots
    and the CSV read as numbers), else the spec text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def distribution(dimension: Dimension) -> BaseDistribution:
    if dimension.kind == "choice":
        assert dimension.choices is not None
        return CategoricalDistribution([option_value(text) for text in dimension.choices])
    if dimension.kind == "int_range":
        return IntDistribution(int(dimension.low), int(dimension.high))  # type: ignore[arg-type]
    log = dimension.kind == "log_range"
    low, high = float(dimension.low), float(dimension.high)  # type: ignore[arg-type]
    return FloatDistribution(low, high, log=log)


def distributions(dimensions: Sequence[Dimension]) -> dict[str, BaseDistribution]:
    return {dimension.name: distribution(dimension) for dimension in dimensions}


def assignment(dimensions: Sequence[Dimension], params: Mapping[str, Any]) -> dict[str, object]:
    """A trial's values as concrete_source takes them: a choice as its option's spec text."""
    values: dict[str, object] = {}
    for dimension in dimensions:
        value = params[dimension.name]
        if dimension.kind == "choice":
            assert dimension.choices is not None
            options = [option_value(text) for text in dimension.choices]
            value = dimension.choices[options.index(value)]
        values[dimension.name] = value
    return values


def slot_seed(seed: int, slot: int) -> int:
    """The sampler's seed for one slot: the search's seed and the slot, nothing else."""
    return (seed * 1_000_003 + slot * 7_919 + 12_345) % (2**32)


def sampler(seed: int, slot: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=slot_seed(seed, slot))


def base_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


class _EarlierRounds:
    """A study as a pruner sees it: only the trials of rounds before `start` (all finished
    when the round began), so a verdict never depends on a trial running beside it."""

    def __init__(self, study: optuna.Study, start: int) -> None:
        self._study = study
        self._start = start

    def get_trials(
        self, deepcopy: bool = True, states: Sequence[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.user_attrs.get(SLOT, math.inf) < self._start]

    def __getattr__(self, name: str) -> Any:  # direction, _storage (ASHA records its rungs)
        return getattr(self._study, name)


class RoundPruner(optuna.pruners.BasePruner):
    """Optuna's pruner, shown only the trials of earlier rounds."""

    def __init__(self, base: optuna.pruners.BasePruner, batch: int) -> None:
        self.base = base
        self.batch = batch

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        slot = int(trial.user_attrs[SLOT])
        view = _EarlierRounds(study, slot // self.batch * self.batch)
        return self.base.prune(view, trial)  # type: ignore[arg-type]


def reruns(study: optuna.Study) -> dict[int, str]:
    """The trials that never finished (Ctrl-C, a kill, --timeout), by number, with why: kept
    in the study's own user attributes, so that marking them needs only Optuna's public API
    (a finished trial's attributes can no longer be set)."""
    return {int(number): reason for number, reason in study.user_attrs.get(RERUN, {}).items()}


def finished_slots(study: optuna.Study) -> set[int]:
    """The slots that have ended for good: completed, pruned, or failed by their own error."""
    unfinished = reruns(study)
    return {
        int(t.user_attrs[SLOT])
        for t in study.get_trials(deepcopy=False, states=FINISHED)
        if SLOT in t.user_attrs and t.number not in unfinished
    }


def mark_unfinished(study: optuna.Study, reason: str) -> list[FrozenTrial]:
    """Trials left RUNNING (the search was killed, or a round was cut short): failed and
    recorded as reruns, so their slots run again with the same point; returns them. A point
    enqueued but never asked is asked and failed the same way (nothing ran; its slot's point
    is asked again), or the next ask would take it whatever its slot."""
    left = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    marked = reruns(study)
    for trial in left:
        number = trial.number
        if trial.state == TrialState.WAITING:
            study.sampler = optuna.samplers.RandomSampler(seed=0)  # samples nothing: no params asked
            number = study.ask().number
        study.tell(number, state=TrialState.FAIL)
        marked[number] = reason
    if left:
        study.set_user_attr(RERUN, {str(number): why for number, why in marked.items()})
    return left


def rerun_points(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """The points of slots that never finished, by slot (the latest attempt's)."""
    done, unfinished = finished_slots(study), reruns(study)
    points: dict[int, dict[str, Any]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        slot = trial.user_attrs.get(SLOT)
        if trial.params and trial.number in unfinished and slot is not None and slot not in done:
            points[int(slot)] = dict(trial.params)
    return points


def ask(
    study: optuna.Study,
    slot: int,
    seed: int,
    space: Mapping[str, BaseDistribution],
    point: Mapping[str, Any] | None = None,
) -> optuna.Trial:
    """The trial of `slot`: its point drawn by the slot's own sampler, or `point` again (a
    slot that never finished)."""
    study.sampler = sampler(seed, slot)
    if point is not None:
        study.enqueue_trial(dict(point), user_attrs={SLOT: slot}, skip_if_exists=False)
    trial = study.ask(dict(space))
    trial.set_user_attr(SLOT, slot)
    return trial
