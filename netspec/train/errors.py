"""The errors a run stops with, below every other module of netspec.train so each can raise them."""

from __future__ import annotations


class TrainError(Exception):
    """A problem with how training was asked for (a device that is absent, a bad run folder)."""

    exit_status = 2  # netspec's status for a usage error

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Interrupted(TrainError):
    """Ctrl-C stopped the run: the shell's status for SIGINT (128 + 2), not a usage error's."""

    exit_status = 130


class Stopped(Exception):
    """A caller's reporter (TrainOptions.reporter) stopped the run after an epoch, e.g.
    `netspec tune` pruning a trial: run.json says "stopped" and why, and this is raised on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
