"""The `hybridops` command: every command group is registered here, errors become exit codes here."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from hybridops.errors import ExitCode, HybridOpsError, exit_code_for

app = typer.Typer(
    name="hybridops",
    help="Incident runbooks as executable, validated, audited automation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines `register(app)`; modules import only typer at the top so `--help` stays fast.
_COMMAND_MODULES = ("runbooks", "sandbox", "incident", "rehearse", "resume", "audit", "config")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"hybridops.cli.{_name}").register(app)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an unexpected error."),
) -> None:
    if debug:
        os.environ["HYBRIDOPS_DEBUG"] = "1"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting (tests call this)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="hybridops", standalone_mode=False)
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        show = getattr(exc, "show", None)
        if show:
            show(file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except HybridOpsError as exc:
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # the last line of defence: one line, never a traceback unless --debug
        if os.environ.get("HYBRIDOPS_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return exit_code_for(exc)
    return int(result) if isinstance(result, int) else ExitCode.OK


def _print_error(exc: HybridOpsError) -> None:
    problems = getattr(exc, "problems", None)
    if problems:
        for p in problems:
            print(str(p), file=sys.stderr)
    else:
        print(f"error: {exc}", file=sys.stderr)


def main() -> None:
    sys.exit(run())
