"""`hybridops validate | list | show | schema`: reading and checking runbooks.

Only typer is imported at the top so `hybridops --help` stays fast; the loader, the validator (and
through it botocore) and rich are imported inside each command.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from hybridops.runbook.describe import RunbookRow
    from hybridops.runbook.load import LoadedRunbook, Problem
    from hybridops.runbook.model import Runbook


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


_RUNBOOKS_HELP = "Runbook directory (default: $HYBRIDOPS_RUNBOOKS, then ./runbooks, then the shipped ones)."


def _runbooks_option() -> Any:
    return typer.Option(None, "--runbooks", help=_RUNBOOKS_HELP, show_default=False, file_okay=False)


def _print(text: str, *, err: bool = False) -> None:
    from hybridops.cli.console import err as err_console
    from hybridops.cli.console import out

    # markup off: runbook text such as "[ ]" or "[bold]" must print as written
    (err_console() if err else out()).print(text, markup=False, highlight=False, soft_wrap=True)


def _print_json(data: Any) -> None:
    _print(json.dumps(data, indent=2, ensure_ascii=False))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- validate ---------------------------------------------------------------------------------------


def _github_escape(text: str, *, prop: bool = False) -> str:
    # GitHub workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github(p: Problem) -> str:
    return (f"::error file={_github_escape(p.path, prop=True)},line={p.line},col={p.col}::"
            f"{_github_escape(p.message)}")


def validate(
    paths: list[Path] | None = typer.Argument(  # noqa: B008
        None, help="Runbook files or directories (default: every runbook in the runbook directory).",
        show_default=False,
    ),
    format: ValidateFormat = typer.Option(ValidateFormat.text, "--format", help="text, json or github."),  # noqa: A002
    runbooks: Path | None = _runbooks_option(),
) -> None:
    """Check runbooks: YAML, schema, AWS calls (botocore models), admin API requests, references.

    Exit 0 when every runbook is valid, 1 when anything is not, 2 on a usage error.
    """
    from hybridops.runbook.catalog import runbooks_dir
    from hybridops.runbook.validate import validate_files

    reports, path_problems = validate_files(paths or [runbooks_dir(runbooks)])
    problems = [*path_problems, *(p for r in reports for p in r.problems)]
    if format is ValidateFormat.json:
        _print_json([{"path": p.path, "line": p.line, "col": p.col, "message": p.message} for p in problems])
    else:
        for p in problems:
            _print(_github(p) if format is ValidateFormat.github else str(p))
        bad = sum(1 for r in reports if not r.ok)
        if not problems:
            summary = f"{_plural(len(reports), 'runbook')} valid"
        else:
            summary = f"{_plural(len(problems), 'problem')} in {bad} of {_plural(len(reports), 'runbook')}"
        _print(summary, err=True)
    if problems:
        raise typer.Exit(1)


# --- list -------------------------------------------------------------------------------------------


def _load_dir(directory: Path) -> tuple[list[LoadedRunbook], list[Problem]]:
    from hybridops.errors import RunbookInvalid, RunbookNotFound
    from hybridops.runbook.catalog import runbook_files
    from hybridops.runbook.load import load_runbook

    if not directory.is_dir():
        raise RunbookNotFound(f"no runbook directory {directory}")
    loaded: list[LoadedRunbook] = []
    problems: list[Problem] = []
    for path in runbook_files(directory):
        try:
            loaded.append(load_runbook(path))
        except RunbookInvalid as exc:
            problems.extend(exc.problems[:1])
    return loaded, problems


def list_runbooks(
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text or json."),  # noqa: A002
    runbooks: Path | None = _runbooks_option(),
) -> None:
    """List runbooks: id, title, severity, response time, number of steps."""
    from hybridops.runbook.catalog import runbooks_dir
    from hybridops.runbook.describe import RunbookRow

    directory = runbooks_dir(runbooks)
    loaded, problems = _load_dir(directory)
    rows = [RunbookRow.of(lr.runbook) for lr in loaded]
    if format is OutputFormat.json:
        _print_json([r.as_dict() for r in rows])
    elif not rows:
        _print(f"no runbooks in {directory}", err=True)
    else:
        _render_rows(rows)
    for p in problems:
        _print(f"skipped (invalid; run `hybridops validate`): {p}", err=True)
    if problems:
        raise typer.Exit(1)


def _render_rows(rows: list[RunbookRow]) -> None:
    from hybridops.cli.console import out

    console = out()
    if console.is_terminal:
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for name, justify in (("ID", "left"), ("SEVERITY", "left"), ("RESPONSE", "left"), ("STEPS", "right"),
                              ("TITLE", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(r.id, r.severity, r.response_time, str(r.steps), r.title)
        console.print(table)
        return
    width = max(len(r.id) for r in rows)
    resp = max(len("RESPONSE"), *(len(r.response_time) for r in rows))
    _print(f"{'ID':<{width}}  SEVERITY  {'RESPONSE':<{resp}}  STEPS  TITLE")
    for r in rows:
        _print(f"{r.id:<{width}}  {r.severity:<8}  {r.response_time:<{resp}}  {r.steps:>5}  {r.title}")


# --- show -------------------------------------------------------------------------------------------


def show(
    runbook: str = typer.Argument(..., help="Runbook id (e.g. bedrock-failure) or path to a runbook file."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text or json."),  # noqa: A002
    runbooks: Path | None = _runbooks_option(),
) -> None:
    """Show a runbook as a checklist: phases, steps, budgets, what each calls, mutating steps marked."""
    from hybridops.runbook.catalog import find_runbook
    from hybridops.runbook.describe import runbook_json
    from hybridops.runbook.load import load_runbook

    loaded = load_runbook(find_runbook(runbook, runbooks))
    if format is OutputFormat.json:
        _print_json(runbook_json(loaded.runbook))
        return
    _render_show(loaded.runbook)


def _render_show(rb: Runbook) -> None:
    from rich.text import Text

    from hybridops.cli.console import out
    from hybridops.runbook.describe import SECRET_MASK, short_duration, step_details

    console = out()

    def line(*parts: str | tuple[str, str]) -> None:
        console.print(Text.assemble(*parts), soft_wrap=True, highlight=False)

    line((f"{rb.id}: {rb.title}", "bold"))
    line(f"severity {rb.severity} · response {rb.response_time} · owner {rb.owner} · version {rb.version}")
    line(f"impact: {rb.impact}")
    if rb.symptoms:
        line("symptoms:")
        for symptom in rb.symptoms:
            line(f"  - {symptom}")
    if rb.variables:
        line("variables:")
        for var in rb.variables:
            shown = SECRET_MASK if var.secret else (var.default if var.default != "" else "''")
            value = " (required)" if var.default is None else f" = {shown}"
            flags = " [secret]" if var.secret else ""
            about = f"  {var.description}" if var.description else ""
            line(f"  {var.name}{value}{flags}{about}")
    for pi, phase in enumerate(rb.phases, 1):
        total = sum(s.budget for s in phase.steps)
        line("")
        line((f"{pi}. {phase.title}", "bold"), f"  ({phase.id}, {short_duration(total)})")
        for si, step in enumerate(phase.steps, 1):
            mark = ("  [MUTATING]", "bold red") if step.is_mutating else ""
            line(f"  {pi}.{si} ", (step.title, "bold"), f"  [{short_duration(step.budget)}]  {step.id}", mark)
            for detail in step_details(step):
                line(f"      {detail}")


# --- schema -----------------------------------------------------------------------------------------


def schema(
    events: bool = typer.Option(False, "--events", help="The schema of the audit records and --output json "
                                                         "lines instead (the run's event catalogue)."),
) -> None:
    """Print the JSON Schema of the runbook format (editors use it to complete and check runbooks)."""
    if events:
        from hybridops.events import json_schema as events_schema

        _print_json(events_schema())
        return
    from hybridops.runbook.model import json_schema

    _print_json(json_schema())


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("validate")(validate)
    app.command("list")(list_runbooks)
    app.command("show")(show)
    app.command("schema")(schema)
