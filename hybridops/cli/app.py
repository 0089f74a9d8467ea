"""The `hybridops` command: every command group is registered here, errors become exit codes here."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Literal

import typer

from hybridops.errors import ExitCode, HybridOpsError, exit_code_for


def _flags_without_a_type() -> None:
    """Help lists a boolean flag as `--yes`, not `--yes <bool>`: a flag takes no value."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)  # type: ignore[arg-type]

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_type()

EXIT_CODES_HELP = (
    "Exit codes: 0 completed (also: runbooks valid, drill recovered, log intact); 1 a step stopped the run, or "
    "invalid input, or a drill did not recover; 2 usage error; 3 completed with failed steps; 4 ended "
    "unresolved (the runbook took its roll-back or escalation path); 5 aborted by the operator; 130 "
    "interrupted (resume it)."
)


def _help_style() -> Literal["rich"] | None:
    """Rich help on a terminal; click's plain help otherwise (piped, CI, `| less`): the same text, and
    rich's help renderer (with markdown-it) is never imported, which halves the cost of `--help`."""
    return "rich" if sys.stdout.isatty() else None


app = typer.Typer(
    name="hybridops",
    rich_markup_mode=_help_style(),
    help="Incident runbooks as executable, validated, audited automation.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module defines `register(app)`; modules import only typer at the top so `--help` stays fast.
_COMMAND_MODULES = ("runbooks", "sandbox", "incident", "rehearse", "resume", "undo", "audit", "config", "preflight",
                    "lock", "export", "md_import", "md_render")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"hybridops.cli.{_name}").register(app)


def _version(value: bool) -> None:
    if value:
        from hybridops import __version__

        print(f"hybridops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an unexpected error."),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    if debug:
        os.environ["HYBRIDOPS_DEBUG"] = "1"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting (tests call this)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from hybridops.scrub import forget_process_secrets

    forget_process_secrets()  # a command knows the secrets its own settings name (tests run many in one process)
    try:
        result = app(args=args, prog_name="hybridops", standalone_mode=False)
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them: one line
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        # typer validates choices through pydantic, whose "Value error, " prefix says nothing to a user
        line = " ".join(str(message).split()).replace("Value error, ", "")
        _say(f"error: {line}")
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except HybridOpsError as exc:
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # the last line of defence: one line, never a traceback unless --debug
        if os.environ.get("HYBRIDOPS_DEBUG"):
            import traceback

            from hybridops.scrub import inert, process_scrubber

            # the traceback too, masked: its frames quote the values that failed
            print(inert(process_scrubber().text(traceback.format_exc())), file=sys.stderr, end="")
        _say(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
        return exit_code_for(exc)
    return int(result) if isinstance(result, int) else ExitCode.OK


def _print_error(exc: HybridOpsError) -> None:
    problems = getattr(exc, "problems", None)
    if problems:
        for p in problems:
            _say(str(p))
    else:
        _say(f"error: {exc}")


def _say(line: str) -> None:
    """Every error line goes out through here: the secrets this command knows masked (an error may
    quote a server's answer, a URL, a rendered template), and the text made inert and one line
    (a server's text must not move the cursor, clear the screen or turn text around)."""
    from hybridops.scrub import inert, process_scrubber, refresh

    refresh()
    print(inert(process_scrubber().text(line), single_line=True), file=sys.stderr)


def main() -> None:
    sys.exit(run())
