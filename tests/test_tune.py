"""`netspec tune`: the space checked before any trial, trials as run folders, the study in
SQLite (a search continues), --jobs giving the same trials, pruning, the folder's files."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netspec.cli import app

HERE = Path(__file__).resolve().parent / "tune"
DIGITS = HERE / "digits_tune.net"
PRUNE_FAIL = HERE / "prune_fail.net"

optuna = pytest.importorskip("optuna")


def tune(arguments: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tune", *arguments])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "trials.csv").open(newline="") as table:
        return list(csv.DictReader(table))


def finished(folder: Path) -> list[dict[str, str]]:
    return [r for r in rows(folder) if r["state"] in ("complete", "pruned", "failed")]


def refused(spec: Path, folder: Path, *options: str) -> str:
    """What `tune` prints refusing a search before its first trial (exit 1, no study)."""
    status, output = tune([str(spec), "--trials", "2", *options, "-o", str(folder)])
    assert status == 1, output
    assert not (folder / "study.db").exists()
    return output


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """6 trials of the digits MLP in two runs of the same command (3, then 3 more)."""
    folder = tmp_path_factory.mktemp("tune") / "digits"
    common = [str(DIGITS), "-o", str(folder), "--metric", "val_accuracy"]
    status, output = tune([*common, "--trials", "3"])
    assert status == 0, output
    first = rows(folder)
    assert [r["state"] for r in first] == ["complete"] * 3
    status, output = tune([*common, "--trials", "6"])
    assert status == 0, output
    assert rows(folder)[:3] == first  # the first trials unchanged
    return folder, output


def test_a_search_continues_and_its_best_spec_trains_to_its_figure(
    searched: tuple[Path, str], tmp_path: Path
) -> None:
    """best.net retrains to the recorded figure with the same seed; each trial is a run
    folder `evaluate` reads."""
    folder, output = searched
    assert "continuing the search" in output and "3 of 6 trials done" in output
    table = rows(folder)
    assert len(table) == 6
    assert list(table[0]) == [
        "number",
        "slot",
        "state",
        "dense.units",
        "optimizer.lr",
        "val_accuracy",
        "seconds",
        "epochs",
        "run_dir",
        "reason",
    ]
    assert {r["dense.units"] for r in table} <= {"16", "32", "64"}
    assert all(1e-3 <= float(r["optimizer.lr"]) <= 3e-2 for r in table)
    lines = [line for line in output.splitlines() if line.startswith("trial ")]
    assert len(lines) == 3 and all("val_accuracy" in line for line in lines)
    best = max(table, key=lambda r: (float(r["val_accuracy"]), -int(r["number"])))
    assert f"best: trial {best['number']}" in output

    for name in ("objective.png", "params.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # curves.png only in the best trial's folder (and the first run's best, if another)
    assert (Path(best["run_dir"]) / "curves.png").read_bytes()[:4] == b"\x89PNG"
    drawn = [r["number"] for r in table if (Path(r["run_dir"]) / "curves.png").exists()]
    assert len(drawn) <= 2 and all((Path(r["run_dir"]) / "history.csv").exists() for r in table)
    best_net = (folder / "best.net").read_text()
    assert "choice(" not in best_net and "log_range(" not in best_net
    from netspec.train import TrainOptions, evaluate, train

    record = json.loads((Path(best["run_dir"]) / "run.json").read_text())
    again = train(
        folder / "best.net",
        {},
        TrainOptions(out=tmp_path / "again", log="quiet", threads=record["threads"]),
    )
    assert again.status == 0
    assert again.result["history"]["val_accuracy"][-1] == float(best["val_accuracy"])
    assert evaluate(Path(best["run_dir"]), {}, TrainOptions()).status == 0


def test_a_killed_search_runs_its_unfinished_trial_again(
    searched: tuple[Path, str], tmp_path: Path
) -> None:
    """A search killed mid-trial leaves it RUNNING in the study: the next run marks it
    unfinished and runs its slot again with the same point."""
    from netspec.diagnostics import Diagnostics
    from netspec.space import find_space
    from netspec.tune import search

    folder = tmp_path / "digits"
    shutil.copytree(searched[0], folder)
    study = optuna.load_study(study_name="netspec-tune", storage=f"sqlite:///{folder / 'study.db'}")
    space = find_space(DIGITS.read_text(), str(DIGITS), Diagnostics())
    assert space is not None
    left = search.ask(study, 6, 0, search.distributions(space.dimensions))  # then killed
    status, output = tune([str(DIGITS), "-o", str(folder), "--trials", "7"])
    assert status == 0, output
    assert f"trial {left.number} was left unfinished" in output
    table = rows(folder)
    assert [(r["number"], r["slot"], r["state"]) for r in table[6:]] == [
        ("6", "6", "rerun"),
        ("7", "6", "complete"),
    ]
    assert table[7]["dense.units"] == table[6]["dense.units"]
    assert table[7]["optimizer.lr"] == table[6]["optimizer.lr"]


def test_two_jobs_give_the_same_trials_as_one(searched: tuple[Path, str], tmp_path: Path) -> None:
    """The same points slot by slot with --jobs 2 (two worker processes) as the search
    above (--jobs 1, continued once)."""
    folder = tmp_path / "two"
    status, output = tune([str(DIGITS), "-o", str(folder), "--trials", "6", "--jobs", "2"])
    assert status == 0, output
    assert "2 at once (1 CPU thread each)" in output or "2 at once" in output
    assert by_slot(folder) == by_slot(searched[0])


def by_slot(folder: Path) -> dict[str, tuple[str, str]]:
    return {r["slot"]: (r["dense.units"], r["optimizer.lr"]) for r in finished(folder)}


@pytest.mark.slow
def test_two_jobs_give_the_same_trials_as_one_past_tpe_startup(tmp_path: Path) -> None:
    """16 trials: round 3 (slots 12-15) is TPE's own, drawn from the 12 trials before it
    (the first 10 are its random start-up), so the rounds are what keeps it the same."""
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, jobs in ((one, "1"), (two, "2")):
        status, output = tune([str(DIGITS), "-o", str(folder), "--trials", "16", "--jobs", jobs])
        assert status == 0, output
    assert len(finished(one)) == 16
    assert by_slot(one) == by_slot(two)


def test_pruned_and_failed_trials_are_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "tune"
    status, output = tune([str(PRUNE_FAIL), "-o", str(folder), "--trials", "10", "--batch", "1"])
    assert status == 0, output
    table = rows(folder)
    states = {r["state"] for r in table}
    assert states == {"complete", "pruned", "failed"}
    for row in table:
        if row["state"] == "failed":
            assert row["optimizer.lr"] == "1e+38" and "nan" in row["reason"]
        if row["state"] == "pruned":
            assert row["optimizer.lr"] == "1e-09" and int(row["epochs"]) < 3
            assert row["reason"].startswith("pruned at epoch")
            run = json.loads((Path(row["run_dir"]) / "run.json").read_text())
            assert run["status"] == "stopped"
    assert "pruned at epoch 1" in output and "failed: the loss is nan" in output


def test_a_space_with_an_invalid_point_is_refused_before_any_trial(tmp_path: Path) -> None:
    spec = tmp_path / "bad.net"
    spec.write_text(
        DIGITS.read_text().replace(
            "Dense(choice(16, 32, 64), activation=relu)",
            "Reshape([8, 8, 1])\n    Conv2D(4, kernel_size=choice(3, 9))\n    Flatten",
        )
    )
    output = refused(spec, tmp_path / "t")
    assert "kernel_size=choice(3, 9)=9" in output and "bad.net:7:27: error[E0202]" in output
    assert not (tmp_path / "t").exists()


def test_a_spec_without_search_values_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "plain.net"
    spec.write_text(
        DIGITS.read_text()
        .replace("choice(16, 32, 64)", "32")
        .replace("log_range(1e-3, 3e-2)", "1e-3")
    )
    output = refused(spec, tmp_path / "t")
    assert "holds no search dimension" in output and "choice(" in output
    assert not (tmp_path / "t").exists()


def test_a_figure_the_spec_does_not_report_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "no_validation.net"
    spec.write_text(DIGITS.read_text().replace("validation_split = 0.2", "validation_split = 0.0"))
    output = refused(spec, tmp_path / "t", "--metric", "val_accuracy")
    assert "does not report val_accuracy" in output and "validation" in output
    output = refused(DIGITS, tmp_path / "t", "--metric", "auc")
    assert "choose one of loss, accuracy, val_loss, val_accuracy" in output


def test_a_continued_search_keeps_its_settings(tmp_path: Path) -> None:
    folder = tmp_path / "tune"
    assert tune([str(DIGITS), "-o", str(folder), "--trials", "1", "--batch", "1"])[0] == 0
    status, output = tune([str(DIGITS), "-o", str(folder), "--trials", "2", "--pruner", "asha"])
    assert status == 1 and "pruner median, not asha" in output


def test_check_and_compile_do_not_import_optuna() -> None:
    script = (
        "import sys; from typer.testing import CliRunner; from netspec.cli import app; "
        f"r = CliRunner().invoke(app, ['check', {str(DIGITS)!r}]); "
        "r2 = CliRunner().invoke(app, ['--help']); "
        "print(r.exit_code, 'optuna' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[1:] == ["False", "False"]


def test_a_timeout_leaves_the_round_to_the_next_run(tmp_path: Path) -> None:
    """--timeout: the first trial always runs, no further one starts; the round's other
    points, asked already, run with the same values when the command is given again."""
    folder = tmp_path / "tune"
    common = [str(PRUNE_FAIL), "-o", str(folder)]
    status, output = tune([*common, "--trials", "3", "--timeout", "0.001"])
    assert status == 0, output
    assert "--timeout 0.001s passed: 1 of 3 trials finished" in output
    assert "continue with: netspec tune" in output
    cut = rows(folder)
    assert [r["state"] for r in cut] == ["complete", "rerun", "rerun"]
    assert all(r["reason"].startswith("not started") for r in cut[1:])
    status, output = tune([*common, "--trials", "3"])
    assert status == 0, output
    again = rows(folder)
    assert [r["slot"] for r in again[3:]] == ["1", "2"]
    assert all(r["state"] in ("complete", "failed", "pruned") for r in again[3:])
    assert [r["optimizer.lr"] for r in again[3:]] == [r["optimizer.lr"] for r in cut[1:]]


def test_a_tune_folder_that_cannot_be_made_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    status, output = tune([str(DIGITS), "--trials", "1", "-o", str(tmp_path / "file" / "t")])
    assert status == 1 and "cannot write" in output


def test_without_optuna_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    script = (
        "import sys, importlib.abc\n"
        "class Blocked(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'optuna': raise ImportError('No module named optuna')\n"
        "sys.meta_path.insert(0, Blocked())\n"
        "from typer.testing import CliRunner; from netspec.cli import app\n"
        f"arguments = ['tune', {str(DIGITS)!r}, '--trials', '1', '-o', {str(tmp_path / 't')!r}]\n"
        "r = CliRunner().invoke(app, arguments)\n"
        "print(r.exit_code); print(r.stdout + r.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    status, _, output = done.stdout.partition("\n")
    assert status == "2"
    assert "needs Optuna" in output and 'pip install -e ".[tune]"' in output


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_same_command_continues(tmp_path: Path) -> None:
    """SIGINT while a trial trains: exit 130 with the command that continues, no trial left
    RUNNING; that command then finishes the search."""
    import os
    import signal

    folder = tmp_path / "tune"
    command = [
        sys.executable,
        "-m",
        "netspec",
        "tune",
        str(DIGITS),
        "--trials",
        "40",
        "-o",
        str(folder),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("trial 1 "):
            break
    os.kill(process.pid, signal.SIGINT)
    _, error = process.communicate(timeout=120)
    assert process.returncode == 130, error
    assert "continue with: netspec tune" in error
    study = optuna.load_study(study_name="netspec-tune", storage=f"sqlite:///{folder / 'study.db'}")
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    done = len([r for r in rows(folder) if r["state"] != "rerun"])
    assert 2 <= done < 40
    status, output = tune([str(DIGITS), "--trials", str(done + 2), "-o", str(folder)])
    assert status == 0, output
    assert len(finished(folder)) == done + 2


def test_unfinished_trials_are_marked_for_a_rerun_with_their_points() -> None:
    """A trial left running and a point enqueued but never asked (a search killed between the
    two): both failed and recorded as reruns; the running one's point is its slot's again."""
    from optuna.distributions import IntDistribution
    from optuna.trial import TrialState

    from netspec.tune import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    space = {"units": IntDistribution(1, 9)}
    done = search.ask(study, 0, 7, space)
    study.tell(done, 1.0)
    running = search.ask(study, 1, 7, space)
    study.enqueue_trial({"units": 3}, user_attrs={search.SLOT: 2})
    left = search.mark_unfinished(study, "killed")
    assert [t.number for t in left] == [1, 2]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert search.reruns(study) == {1: "killed", 2: "killed"}
    assert search.finished_slots(study) == {0}
    assert search.rerun_points(study) == {1: running.params}
    assert search.mark_unfinished(study, "again") == []  # nothing left running
