"""The `netspec` entry point: plain `check` command lines run without typer and print and
exit exactly as the typer command does; everything else goes to typer, whose help and error
panels look the same with the rich modules it never uses left unimported."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from netspec import check_command, entry
from netspec.cli import app

ERRORS = ROOT / "tests" / "errors"


def _fast(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `netspec ARGV` through the entry point."""
    monkeypatch.setattr(sys, "argv", ["netspec", *argv])
    with pytest.raises(SystemExit) as caught:
        entry.main()
    out = capsys.readouterr()
    return int(caught.value.code or 0), out.out, out.err


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "specs/mnist_cnn.net"],
        ["check", "specs/mnist_cnn.net", "specs/two_tower.net"],
        ["check", f"{ERRORS}/unknown_layer.net", "specs/mnist_mlp.net"],
        ["check", "--format", "json", f"{ERRORS}/multi_names_and_values.net"],
        ["check", "-f", "json", "specs/mnist_cnn.net"],
        ["check", "specs/mnist_cnn.net", "--format=text"],
        ["check", "--emit-ir", "specs/mnist_cnn.net"],
        ["check", "--emit-ir", "-f", "json", f"{ERRORS}/unknown_layer.net"],
        ["check", f"{ERRORS}/loss_softmax_from_logits.net"],  # warnings only: exit 0
        ["check", "no/such/spec.net"],  # exit 2
        ["check", "./specs//mnist_cnn.net"],  # the path as pathlib writes it
    ],
)
def test_a_plain_check_prints_and_exits_as_the_typer_command(
    argv: list[str], capsys, monkeypatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert entry.check_request(argv) is not None  # this one skips typer
    status, out, err = _fast(argv, capsys, monkeypatch)
    result = CliRunner().invoke(app, argv)
    assert (status, out, err) == (result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["summary", "specs/mnist_cnn.net"],
        ["check"],
        ["check", "--help"],
        ["check", "-fjson", "a.net"],
        ["check", "--format", "xml", "a.net"],
        ["check", "--format"],
        ["check", "-f", "json", "--format", "text", "a.net"],
        ["check", "--emit-ir", "--emit-ir", "a.net"],
        ["check", "--", "a.net"],
        ["check", "-", "a.net"],
        ["check", ""],
        ["check", "--set", "epochs=1", "a.net"],
    ],
)
def test_other_command_lines_are_left_to_typer(argv: list[str]) -> None:
    assert entry.check_request(argv) is None


def test_a_check_request_reads_files_and_options() -> None:
    request = entry.check_request(["check", "a.net", "--format=json", "b/c.net", "--emit-ir"])
    assert request == entry.CheckRequest([Path("a.net"), Path("b/c.net")], "json", True)
    assert entry.check_request(["check", "-f", "text", "a.net"]) == entry.CheckRequest(
        [Path("a.net")], "text", False
    )


def test_completion_requests_go_to_typer(monkeypatch) -> None:
    monkeypatch.setenv("_NETSPEC_COMPLETE", "bash_complete")
    assert entry.check_request(["check", "a.net"]) is None


def test_ctrl_c_and_a_closed_pipe_exit_as_with_typer(monkeypatch) -> None:
    """typer exits 130 on Ctrl-C and 1 when stdout is a closed pipe."""
    monkeypatch.setattr(sys, "argv", ["netspec", "check", "a.net"])

    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    def closed_pipe(*args: object) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(check_command, "run", interrupted)
    with pytest.raises(SystemExit) as caught:
        entry.main()
    assert caught.value.code == 130
    monkeypatch.setattr(check_command, "run", closed_pipe)
    stdout, stderr = sys.stdout, sys.stderr
    try:
        with pytest.raises(SystemExit) as caught:
            entry.main()
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    assert caught.value.code == 1


def _python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **env},
    )


def test_a_plain_check_imports_neither_typer_nor_rich_nor_a_framework() -> None:
    result = _python(
        """
        import json, sys
        sys.argv = ["netspec", "check", "specs/mnist_cnn.net", f"tests/errors/unknown_layer.net"]
        from netspec.entry import main
        try:
            main()
        except SystemExit as exit:
            status = exit.code
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {
            "typer", "click", "rich", "torch", "tensorflow", "keras"})
        print(json.dumps({"status": status, "loaded": loaded}))
        """
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": 1, "loaded": []}, result.stderr
    assert "ok, model mnist_cnn" in result.stdout and "error[E0101]" in result.stderr


_RUN_CLI = """
import json, sys
if sys.argv[1] == "real":  # the modules typer's panels import, loaded for real first
    import rich.markdown, rich.traceback
sys.argv = ["netspec", *sys.argv[2:]]
from netspec.entry import main
try:
    main()
except SystemExit as exit:
    status = exit.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"markdown_it", "pygments"})
print(json.dumps({"status": status, "loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["check", "--help"], ["train", "--help"], ["check"], ["nosuch"]]
)
@pytest.mark.parametrize("colour", ["", "1"], ids=["plain", "colour"])
def test_help_and_usage_errors_look_the_same_without_the_unused_rich_modules(
    argv: list[str], colour: str
) -> None:
    env = {"COLUMNS": "96", "FORCE_COLOR": colour} if colour else {"COLUMNS": "96"}
    deferred = _python(_RUN_CLI, "deferred", *argv, **env)
    real = _python(_RUN_CLI, "real", *argv, **env)
    *deferred_err, deferred_report = deferred.stderr.rstrip("\n").split("\n")
    *real_err, real_report = real.stderr.rstrip("\n").split("\n")
    assert deferred.stdout == real.stdout and deferred_err == real_err
    assert json.loads(deferred_report)["status"] == json.loads(real_report)["status"]
    assert json.loads(deferred_report)["loaded"] == []  # markdown-it, pygments: not imported
    assert (deferred.stdout + "".join(deferred_err)).strip()


def test_the_stand_ins_become_the_real_rich_classes_when_used() -> None:
    result = _python(
        """
        import io, sys
        from netspec.entry import defer_unused_rich_modules
        defer_unused_rich_modules()
        from rich.markdown import Markdown
        from rich.traceback import Traceback
        from rich.console import Console
        assert "markdown_it" not in sys.modules
        console = Console(file=io.StringIO(), width=40)
        console.print(Markdown("# Title\\n\\nsome *text*"))
        assert "Title" in console.file.getvalue()
        import rich.markdown
        assert type(rich.markdown).__name__ == "module" and hasattr(rich.markdown, "Heading")
        assert isinstance(Markdown("x"), rich.markdown.Markdown)
        try:
            1 / 0
        except ZeroDivisionError:
            console.print(Traceback())
        assert "ZeroDivisionError" in console.file.getvalue()
        print("fine")
        """
    )
    assert result.stdout.strip() == "fine", result.stderr


# --------------------------------------------------------------------------- internal errors


@pytest.fixture
def broken_check(monkeypatch, tmp_path: Path) -> Path:
    """`check_file` raising as a bug would; tracebacks written under tmp_path."""
    import tempfile

    import netspec.frontend
    from netspec import internal_error

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom :x:\nsecond line")

    monkeypatch.setattr(netspec.frontend, "check_file", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(internal_error, "_run_folder", None)
    return tmp_path


@pytest.mark.parametrize("command", ["check", "summary"])  # without typer, and through it
def test_an_internal_error_says_so_in_a_line_and_exits_3(
    command: str, broken_check: Path, capsys, monkeypatch
) -> None:
    status, out, err = _fast([command, "specs/mnist_mlp.net"], capsys, monkeypatch)
    (written,) = broken_check.glob("netspec-internal-error-*.txt")
    assert status == 3 and out == ""
    assert err.splitlines() == [
        "internal error in netspec, please report: RuntimeError: boom :x:",
        f"  the traceback is in {written} (`netspec --debug …` prints it)",
    ]
    text = written.read_text(encoding="utf-8")
    assert f"command: netspec {command} specs/mnist_mlp.net" in text
    assert "Traceback (most recent call last)" in text and "in fail" in text


def test_debug_prints_the_traceback(broken_check: Path, capsys, monkeypatch) -> None:
    status, _, err = _fast(["--debug", "check", "specs/mnist_mlp.net"], capsys, monkeypatch)
    assert status == 3 and err.startswith("Traceback (most recent call last)")
    assert "RuntimeError: boom :x:\nsecond line\n" in err
    assert err.splitlines()[-2] == "internal error in netspec, please report: RuntimeError: boom :x:"


def test_ctrl_c_is_no_internal_error(broken_check: Path, capsys, monkeypatch) -> None:
    import netspec.frontend

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(netspec.frontend, "check_file", interrupted)
    status, _, err = _fast(["check", "specs/mnist_mlp.net"], capsys, monkeypatch)
    assert status == 130 and "internal error" not in err
    assert not list(broken_check.glob("netspec-internal-error-*"))


def test_a_run_folder_keeps_the_traceback_of_its_run(tmp_path: Path, capsys, monkeypatch) -> None:
    from netspec import internal_error
    from netspec.train.rundir import RunDir

    monkeypatch.setattr(internal_error, "_run_folder", None)
    run = RunDir(tmp_path).locked()  # as train does with its run folder
    run.unlock()
    try:
        raise ValueError("inside a run")
    except ValueError as error:
        assert internal_error.report(error, ["train", "a.net"]) == 3
    assert "ValueError: inside a run" in (tmp_path / "internal-error.txt").read_text()
    assert f"the traceback is in {tmp_path / 'internal-error.txt'}" in capsys.readouterr().err
