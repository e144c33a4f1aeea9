"""`netspec tune`: a hyper-parameter search over a spec's search space, built on Optuna.

The space is checked before any trial (every point valid, or an error naming the values
that break it); each trial is then an ordinary run folder trained by netspec's own `train`
from the point's concrete spec text. The study lives in a SQLite file in the tune folder, so
the same command again continues the search; trials.csv, best.net and the plots are written
as trials end. How trials are asked so that `--jobs` does not change the search:
netspec/tune/search.py; why trials run in worker processes: netspec/tune/worker.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec import ir
from netspec.diagnostics import Diagnostics
from netspec.space import SearchSpace, check_space, concrete_source, find_space
from netspec.train import atomic
from netspec.train.context import usable_cores
from netspec.train.errors import Interrupted, TrainError
from netspec.tune.files import TrialRow, write_csv, write_plots

DIRECTIONS = ("auto", "minimize", "maximize")
BATCH = 4  # slots asked together (search.py): --batch
STUDY = "netspec-tune"  # the study's name in study.db
SETTINGS = ("metric", "direction", "seed", "batch", "backend", "pruner")


class TuneError(TrainError):
    """A search that cannot start: no search dimension, a figure the spec does not report,
    a tune folder that is busy or holds another spec's search (exit 1)."""

    exit_status = 1


@dataclass
class TuneOptions:
    trials: int
    metric: str | None = None  # None: the spec's monitored figure (val_loss with validation)
    direction: str | None = None  # auto, minimize, maximize; None: auto
    timeout: float | None = None  # seconds after which no further trial starts
    jobs: int = 1
    batch: int | None = None  # slots asked together; None: BATCH
    backend: str | None = None  # None: torch
    device: str = "auto"
    seed: int | None = None  # the sampler's; None: the spec's train seed
    pruner: str | None = None  # median, asha, none; None: median
    out: Path | None = None  # the tune folder; None: tunes/<spec file's stem>


@dataclass
class TuneOutcome:
    status: int
    diagnostics: Diagnostics
    sources: dict[str, str]
    result: dict[str, Any] = field(default_factory=dict)


def tune(spec_path: Path, options: TuneOptions, say: Callable[[str], None] = print) -> TuneOutcome:
    """Check the space, then run (or continue) the search; never raises for a user's problem
    but a TrainError (TuneError, Interrupted, RunFolderError) with a message and a hint."""
    file = str(spec_path)
    try:
        source = spec_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        from netspec.catalogue.columns import unreadable

        raise TrainError(f"cannot read {spec_path}: {unreadable(error, '.net')}") from error
    diagnostics = Diagnostics()
    sources = {file: source}
    space = find_space(source, file, diagnostics)
    if space is None:
        return TuneOutcome(1, diagnostics, sources)
    if not space.dimensions:
        raise TuneError(
            f"{file} holds no search dimension: there is nothing to tune",
            hint="write a search value where a value stands, e.g. Dense(choice(32, 64, 128)), "
            "Dropout(range(0.1, 0.5)), Adam(lr=log_range(1e-4, 1e-2)), repeat int_range(1, 4)",
        )
    if not check_space(space, diagnostics) or diagnostics.has_errors:
        return TuneOutcome(1, diagnostics, sources)
    model = _first_point(space, sources)
    if model is None:  # check_space said every point is valid: a disagreement is a bug
        raise AssertionError("the space checked, yet its first point does not")
    if options.trials < 1:
        raise TuneError("--trials must be at least 1")
    if options.metric is not None:  # said before the tune folder is made
        _check_metric(model, options.metric)
    optuna = _import_optuna()
    folder = options.out or Path("tunes") / spec_path.stem
    lock = _open_folder(folder)
    try:
        search = _Search(space, model, source, file, folder, options, say, optuna)
        result = search.run()
    finally:
        lock.release()
    return TuneOutcome(0, diagnostics, sources, result)


def _first_point(space: SearchSpace, sources: dict[str, str]) -> ir.Model | None:
    """A point of the space, checked: what the metric's name and direction are read from."""
    from netspec.frontend import check_source

    point: dict[str, object] = {}
    for dimension in space.dimensions:
        if dimension.kind == "choice":
            assert dimension.choices is not None
            point[dimension.name] = dimension.choices[0]
        else:
            point[dimension.name] = dimension.low
    text = concrete_source(space, point)
    model, _ = check_source(text, space.file, None, {})
    return model


def _figures(model: ir.Model) -> list[str]:
    names = list(model.figures)
    if model.train.has_validation:
        names += [f"val_{name}" for name in model.figures]
    return [*names, "lr"]


def _default_metric(model: ir.Model) -> str:
    if model.train.monitor:
        return model.train.monitor
    return "val_loss" if model.train.has_validation else "loss"


def _direction(model: ir.Model, metric: str, asked: str) -> str:
    if asked != "auto":
        return asked
    from netspec.codegen.training import higher_is_better

    return "maximize" if higher_is_better(model, metric) else "minimize"


def _check_metric(model: ir.Model, metric: str) -> None:
    """The figure to optimize must be one this spec's runs report, said before any trial."""
    figures = _figures(model)
    if metric in figures:
        return
    base = metric.removeprefix("val_")
    why = ""
    if metric.startswith("val_") and not model.train.has_validation:
        why = (
            "; val_ figures need validation data (validation_split = 0.1 in train, or a "
            "source's own validation set)"
        )
    elif base not in model.figures and _is_metric(base):
        why = f"; add {base} to the spec's metrics"
    raise TuneError(
        f"--metric {metric}: model {model.name} does not report {metric}{why}",
        hint=f"choose one of {', '.join(figures)}",
    )


def _is_metric(kind: str) -> bool:
    from netspec import catalogue

    try:
        catalogue.metric(kind)
    except Exception:  # not in the catalogue
        return False
    return True


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise TrainError(
            f"netspec tune needs Optuna, which cannot be imported: {error}",
            hint='pip install -e ".[tune]" (or pip install "netspec[tune]")',
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _open_folder(folder: Path) -> Any:
    """The tune folder, made and locked: one search writes it at a time."""
    from netspec.train.lock import FolderBusy, RunLock

    if folder.exists() and not folder.is_dir():
        raise TuneError(f"-o {folder} is a file, not a folder", hint="choose a folder")
    try:
        (folder / "trials").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise atomic.write_failure(folder, error) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise atomic.write_failure(folder, PermissionError(13, "permission denied"))
    try:
        return RunLock(folder).acquire()
    except FolderBusy as busy:
        holder = busy.message.partition("(process ")[2].partition(")")[0]
        raise TuneError(
            f"{folder} is being searched by another `netspec tune`"
            + (f" (process {holder})" if holder else "")
            + " right now",
            hint="wait until it ends (the same command then continues it), or choose another -o",
        ) from None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _Search:
    """One `netspec tune` in its locked folder: the study, its workers and its files."""

    def __init__(
        self,
        space: SearchSpace,
        model: ir.Model,
        source: str,
        file: str,
        folder: Path,
        options: TuneOptions,
        say: Callable[[str], None],
        optuna: Any,
    ) -> None:
        from netspec.tune import search

        self.search = search
        self.optuna = optuna
        self.space, self.model, self.source, self.file = space, model, source, file
        self.folder, self.options, self.say = folder, options, say
        self.dimensions = space.dimensions
        self.distributions = search.distributions(space.dimensions)
        storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / 'study.db').resolve()}")
        try:
            study = optuna.load_study(study_name=STUDY, storage=storage)
        except KeyError:  # a new search
            study = None
        self.settings = self._settings(study)
        if study is None:
            study = optuna.create_study(
                study_name=STUDY, storage=storage, direction=self.settings["direction"]
            )
            study.set_user_attr("netspec", self.settings)
        self.study = study
        self.metric = self.settings["metric"]
        self.maximize = self.settings["direction"] == "maximize"
        self.study.pruner = search.RoundPruner(
            search.base_pruner(self.settings["pruner"]), self.settings["batch"]
        )
        self.jobs = max(min(options.jobs, self.settings["batch"]), 1)
        self.threads = max(usable_cores() // self.jobs, 1)
        self.best: tuple[int, float] | None = None
        self.workers: list[Any] = []
        self.trained = 0  # trials this command has started

    # ------------------------------------------------------------------ settings, resume

    def _settings(self, study: Any) -> dict[str, Any]:
        """The search's settings: a new study's from the options; a continued one's as it
        was started, an option given now having to agree with it."""
        options, model = self.options, self.model
        stored = None
        if study is not None:
            stored = study.user_attrs.get("netspec")
            if stored is None:
                raise TuneError(f"{self.folder / 'study.db'} holds a study netspec did not start")
        given = {
            "metric": options.metric,
            "direction": options.direction,
            "seed": options.seed,
            "batch": options.batch,
            "backend": options.backend,
            "pruner": options.pruner,
        }
        if stored is not None:
            if stored["spec"] != self.source:
                raise TuneError(
                    f"{self.folder} holds a search of another spec text (started from "
                    f"{stored['file']}); a search continues only with the spec it began with",
                    hint="choose another -o for this spec, or delete that folder",
                )
            for key, value in given.items():
                same = (
                    (stored["asked_direction"], stored[key])
                    if key == "direction"
                    else (stored[key],)
                )
                if value is not None and value not in same:
                    raise TuneError(
                        f"{self.folder} holds a search with {key} {stored[key]}, not {value}",
                        hint=f"leave --{key} out to continue it, or choose another -o",
                    )
            return stored
        metric = options.metric or _default_metric(model)
        _check_metric(model, metric)
        asked = options.direction or "auto"
        if asked not in DIRECTIONS:
            raise TuneError(f"--direction {asked}: choose auto, minimize or maximize")
        pruner = options.pruner or "median"
        if pruner not in self.search.PRUNERS:
            raise TuneError(f"--pruner {pruner}: choose median, asha or none")
        batch = options.batch or BATCH
        if batch < 1:
            raise TuneError("--batch must be at least 1")
        settings = {
            "spec": self.source,
            "file": self.file,
            "metric": metric,
            "asked_direction": asked,
            "direction": _direction(model, metric, asked),
            "seed": options.seed if options.seed is not None else model.train.seed,
            "batch": batch,
            "backend": options.backend or "torch",
            "pruner": pruner,
        }
        return settings

    # ------------------------------------------------------------------ the search

    def run(self) -> dict[str, Any]:
        search, study, options = self.search, self.study, self.options
        left = search.mark_unfinished(
            study, "the search stopped while it ran; its point runs again"
        )
        for trial in left:
            self.say(
                f"trial {trial.number} was left unfinished by a search that stopped: "
                "its point runs again"
            )
        done = search.finished_slots(study)
        reruns = search.rerun_points(study)
        asked = [
            int(t.user_attrs[search.SLOT]) for t in study.trials if search.SLOT in t.user_attrs
        ]
        wanted = max(options.trials - len(done), 0)
        slots = sorted(s for s in reruns if s not in done)[:wanted]
        next_slot = max(asked, default=-1) + 1
        while len(slots) < wanted:
            slots.append(next_slot)
            next_slot += 1
        self._note_best()
        if done:
            self.say(
                f"continuing the search in {self.folder}: {len(done)} of {options.trials} trials "
                "done" + (f", {len(slots)} to run" if slots else "; nothing left to run")
            )
        else:
            self.say(
                f"searching {_count(len(self.dimensions), 'dimension')} "
                f"({', '.join(d.name for d in self.dimensions)}) for the "
                f"{'highest' if self.maximize else 'lowest'} {self.metric}: "
                f"{options.trials} trials, {self.jobs} at once "
                f"({_count(self.threads, 'CPU thread')} each), "
                f"in {self.folder}"
            )
        if options.jobs > self.jobs:
            self.say(
                f"note: --jobs {options.jobs} runs {self.jobs} at once: a round holds "
                f"--batch {self.settings['batch']} trials"
            )
        import time

        started = time.monotonic()
        try:
            batch = self.settings["batch"]
            rounds = sorted({slot // batch for slot in slots})
            for number in rounds:
                if self._timed_out(started):
                    break
                members = [s for s in slots if s // batch == number]
                trials = [
                    search.ask(
                        study, slot, self.settings["seed"], self.distributions, reruns.get(slot)
                    )
                    for slot in members
                ]
                self._run_round(trials, started)
            unstarted = search.mark_unfinished(
                study, "not started: the search's --timeout had passed"
            )
        except KeyboardInterrupt:
            self._stop_workers(at_once=True)
            search.mark_unfinished(study, "interrupted (Ctrl-C) while it ran; its point runs again")
            self._write_files(plots=True)
            finished = len(search.finished_slots(study))
            raise Interrupted(
                f"interrupted; {finished} of {options.trials} trials finished, the study is "
                f"in {self.folder / 'study.db'}",
                hint=f"continue with: {self._command()}",
            ) from None
        finally:
            self._stop_workers()
        result = self._finish(time.monotonic() - started)
        finished = len(search.finished_slots(study))
        if finished < options.trials and options.timeout is not None:
            self.say(
                f"--timeout {options.timeout:g}s passed: {finished} of {options.trials} trials "
                f"finished ({len(unstarted)} of this round's not started); "
                f"continue with: {self._command()}"
            )
        return result

    def _command(self) -> str:
        import shlex

        return shlex.join(
            [
                "netspec",
                "tune",
                self.file,
                "--trials",
                str(self.options.trials),
                "-o",
                str(self.folder),
            ]
        )

    def _run_round(self, trials: list[Any], started: float) -> None:
        """The round's trials on the workers, at most `jobs` at once."""
        from multiprocessing.connection import wait

        if self.jobs == 1:  # in this process, one after the other (worker.py)
            from netspec.tune.worker import run_trial

            for trial in trials:
                if self._timed_out(started):
                    return  # the rest of the round is marked not started
                self.trained += 1
                job = self._job(trial)
                self._told(trial, run_trial(job, lambda e, f, t=trial: self._verdict(t, e, f)))
            return
        queue = list(trials)
        running: dict[Any, tuple[Any, Any]] = {}  # connection -> (worker, trial)
        while queue or running:
            timed_out = self._timed_out(started)
            while queue and len(running) < self.jobs and not timed_out:
                worker = self._idle_worker(running)
                trial = queue.pop(0)
                worker.send({**self._job(trial), "log": True})
                running[worker.connection] = (worker, trial)
                self.trained += 1
            if not running:
                break  # --timeout: the rest of the round is marked not started
            for connection in wait(list(running)):
                worker, trial = running[connection]
                try:
                    message = worker.receive()
                except (EOFError, OSError):
                    code = worker.process.wait()
                    self._told(
                        trial,
                        {
                            "state": "failed",
                            "reason": f"its worker process ended (exit code {code})",
                        },
                    )
                    self.workers.remove(worker)
                    del running[connection]
                    continue
                if message[0] == "epoch":
                    worker.send(self._verdict(trial, message[1], message[2]))
                else:
                    del running[connection]
                    self._told(trial, message[1])

    def _timed_out(self, started: float) -> bool:
        """--timeout has passed: no further trial starts (but the first one always does)."""
        import time

        limit = self.options.timeout
        return limit is not None and self.trained > 0 and time.monotonic() - started > limit

    def _idle_worker(self, running: dict[Any, Any]) -> Any:
        busy = {id(w) for w, _ in running.values()}
        for worker in self.workers:
            if id(worker) not in busy and worker.alive:
                return worker
        worker = _Worker(self.folder / "workers.log")
        self.workers.append(worker)
        return worker

    def _job(self, trial: Any) -> dict[str, Any]:
        values = self.search.assignment(self.dimensions, trial.params)
        run_dir = self.folder / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        return {
            "number": trial.number,
            "source": concrete_source(self.space, values),
            "file": self.file,
            "run_dir": str(run_dir),
            "backend": self.settings["backend"],
            "device": self.options.device,
            "threads": self.threads,
            "metric": self.metric,
        }

    def _verdict(self, trial: Any, epoch: int, figures: dict[str, float]) -> str | None:
        """After an epoch: None to go on, or why the pruner stops the trial."""
        value = figures.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        trial.report(value, epoch)
        if not trial.should_prune():
            return None
        pruner = self.settings["pruner"]
        rule = (
            "worse than the median of earlier rounds' trials at that epoch"
            if pruner == "median"
            else "not among the best of its rung (successive halving)"
        )
        return f"pruned at epoch {epoch}: {self.metric} {value:.4g} is {rule}"

    def _told(self, trial: Any, result: dict[str, Any]) -> None:
        """A trial ended: into the study, the table, and one line."""
        state = self.optuna.trial.TrialState
        for key in ("seconds", "epochs"):
            if result.get(key) is not None:
                trial.set_user_attr(key, result[key])
        if result.get("reason"):
            trial.set_user_attr(self.search.REASON, result["reason"])
        if result["state"] == "complete":
            self.study.tell(trial, result["value"])
        elif result["state"] == "pruned":
            self.study.tell(trial, state=state.PRUNED)
        else:
            self.study.tell(trial, state=state.FAIL)
        best = self._note_best(trial.number if result["state"] == "complete" else None)
        done = len(self.search.finished_slots(self.study))
        values = "  ".join(f"{d.name}={_shown(trial.params[d.name])}" for d in self.dimensions)
        seconds = f"{result.get('seconds', 0):.1f}s"
        if result["state"] == "complete":
            tail = f"{self.metric} {result['value']:.4f}  {seconds}" + (
                "  best so far" if best else ""
            )
        elif result["state"] == "pruned":
            tail = f"{result['reason']}  {seconds}"
        else:
            tail = f"failed: {result['reason']}  {seconds}"
        self.say(f"trial {trial.number} ({done}/{self.options.trials})  {values}  {tail}")
        self._write_files(plots=False)

    def _note_best(self, number: int | None = None) -> bool:
        """Keep the best completed trial (best.net with it); whether `number` is the new one."""
        trials = self.study.get_trials(
            deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,)
        )
        if not trials:
            return False
        sign = -1.0 if self.maximize else 1.0  # the best value, then the earliest trial
        best = min(trials, key=lambda t: (sign * t.value, t.number))
        changed = self.best is None or self.best[0] != best.number
        if changed:
            values = self.search.assignment(self.dimensions, best.params)
            atomic.write_text(self.folder / "best.net", concrete_source(self.space, values))
            self.best = (best.number, best.value)
        return changed and best.number == number

    def _rows(self) -> list[TrialRow]:
        search, state = self.search, self.optuna.trial.TrialState
        rows, unfinished = [], search.reruns(self.study)
        for trial in self.study.get_trials(deepcopy=False):
            attrs = trial.user_attrs
            name = {state.COMPLETE: "complete", state.PRUNED: "pruned", state.FAIL: "failed"}.get(
                trial.state, trial.state.name.lower()
            )
            if trial.number in unfinished:
                name = "rerun"
            rows.append(
                TrialRow(
                    number=trial.number,
                    slot=attrs.get(search.SLOT),
                    state=name,
                    params=dict(trial.params),
                    value=trial.value if trial.state in (state.COMPLETE, state.PRUNED) else None,
                    seconds=attrs.get("seconds"),
                    epochs=attrs.get("epochs"),
                    run_dir=attrs.get("run_dir", ""),
                    reason=unfinished.get(trial.number, attrs.get(search.REASON, "")),
                )
            )
        return rows

    def _write_files(self, plots: bool) -> list[Path]:
        """trials.csv; with `plots`, the search's plots and the best trial's curves.png (the
        trials train without theirs: drawing one costs about 0.4 s, a small trial's half)."""
        rows = self._rows()
        write_csv(self.folder / "trials.csv", rows, self.dimensions, self.metric)
        if plots and any(r.state == "complete" for r in rows):
            self._best_curves()
            return write_plots(self.folder, rows, self.dimensions, self.metric, self.maximize)
        return []

    def _best_curves(self) -> None:
        from netspec.train import draw_curves

        if self.best is None:
            return
        run_dir = self.study.trials[self.best[0]].user_attrs.get("run_dir")
        if run_dir and not (Path(run_dir) / "curves.png").exists():
            draw_curves(Path(run_dir))

    def _finish(self, seconds: float) -> dict[str, Any]:
        plots = self._write_files(plots=True)
        rows = self._rows()
        finished = [r for r in rows if r.state in ("complete", "pruned", "failed")]
        counts = {s: sum(r.state == s for r in finished) for s in ("complete", "pruned", "failed")}
        self.say(
            f"{len(finished)} trials in {seconds:.1f}s: {counts['complete']} completed, "
            f"{counts['pruned']} pruned, {counts['failed']} failed"
        )
        result: dict[str, Any] = {
            "folder": str(self.folder),
            "metric": self.metric,
            "direction": self.settings["direction"],
            "trials": [r.__dict__ for r in rows],
            "best": None,
        }
        if self.best is not None:
            best = self.study.trials[self.best[0]]
            values = "  ".join(f"{d.name}={_shown(best.params[d.name])}" for d in self.dimensions)
            self.say(f"best: trial {best.number}  {values}  {self.metric} {best.value:.4f}")
            self.say(
                f"  best.net: {self.folder / 'best.net'}  its run: {best.user_attrs.get('run_dir')}"
            )
            result["best"] = {
                "number": best.number,
                "params": dict(best.params),
                "value": best.value,
                "run_dir": best.user_attrs.get("run_dir"),
            }
        else:
            self.say("no trial completed: no best.net")
        self.say(
            f"  trials.csv: {self.folder / 'trials.csv'}"
            + "".join(f"  {p.name}: {p}" for p in plots)
        )
        return result

    def _stop_workers(self, at_once: bool = False) -> None:
        for worker in self.workers:
            worker.stop(at_once)
        self.workers = []


class _Worker:
    """A worker process (netspec/tune/worker.py) and the parent's end of its socket."""

    def __init__(self, log: Path) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        import netspec

        ours, theirs = socket.socketpair()
        root = str(Path(netspec.__file__).resolve().parent.parent)  # this netspec, also uninstalled
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "netspec.tune.worker", str(theirs.fileno()), str(log)],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.connection = Connection(ours.detach())

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: Any) -> None:
        from netspec.tune.worker import send

        send(self.connection, message)

    def receive(self) -> Any:
        from netspec.tune.worker import receive

        return receive(self.connection)

    def stop(self, at_once: bool) -> None:
        import subprocess

        try:
            if at_once:
                self.process.terminate()
            else:
                self.send(None)
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()
