"""The one error hierarchy of hybridops and the one place it becomes an exit code."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a step stopped the run; invalid runbook, settings or input; a drill did not recover
    USAGE = 2
    COMPLETED_WITH_FAILURES = 3  # the run went on past failed steps to its end
    UNRESOLVED = 4  # the runbook ended on its roll-back or escalation path
    ABORTED = 5  # the operator stopped the run
    INTERRUPTED = 130


RUN_EXIT_CODES = {  # a run's status -> its exit code (hybridops.events.RunStatus values)
    "completed": ExitCode.OK,
    "completed_with_failures": ExitCode.COMPLETED_WITH_FAILURES,
    "unresolved": ExitCode.UNRESOLVED,
    "failed": ExitCode.FAILED,
    "aborted": ExitCode.ABORTED,
    "interrupted": ExitCode.INTERRUPTED,
}


class HybridOpsError(Exception):
    """Root of every error hybridops reports to the user as one line, never a traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __str__(self) -> str:
        # Wherever the message goes (the CLI's error line, a run's record, a drill report), it masks
        # what the command knows to be secret: an error may quote a server's answer or a URL.
        from hybridops.scrub import process_scrubber

        return process_scrubber().text(super().__str__())


class UsageError(HybridOpsError):
    """The command line itself is wrong."""

    exit_code = ExitCode.USAGE


class RunbookNotFound(HybridOpsError):
    """No runbook with that id or path."""


class RunbookInvalid(HybridOpsError):
    """A runbook failed to load or validate; carries every problem found."""

    def __init__(self, problems: list) -> None:  # list[Problem]; typed loosely to avoid an import cycle
        self.problems = problems
        first = problems[0] if problems else "runbook is invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")


class ConfigError(HybridOpsError):
    """The configuration file, a profile or a --var is wrong."""


class PreflightFailed(HybridOpsError):
    """A check before the first step failed; nothing was sent. `problems`: one line each, when several."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        if problems:
            self.problems = problems


class RunStopped(HybridOpsError):
    """A run stopped before its end; `result` is its record so far (set by the engine)."""

    result: Any = None


class StepFailed(RunStopped):
    """A step failed and its on_failure said to stop the run."""


class OperatorAborted(RunStopped):
    """The operator chose to stop the run."""

    exit_code = ExitCode.ABORTED


class NeedsAnswer(RunStopped):
    """A prompt needs an answer and no terminal or --answer can give it."""


class AuditError(HybridOpsError):
    """The audit log cannot be written, read or verified."""


class ChainBroken(AuditError):
    """An audit log's hash chain does not verify."""


class ResumeRefused(HybridOpsError):
    """A run cannot be resumed as asked."""


class SandboxError(HybridOpsError):
    """The local sandbox could not start or answer."""


class Interrupted(HybridOpsError):
    """Ctrl-C or SIGTERM stopped the run."""

    exit_code = ExitCode.INTERRUPTED


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map any exception that reaches the CLI to the exit code the user sees."""
    if isinstance(exc, HybridOpsError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED
