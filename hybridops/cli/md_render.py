"""`hybridops render`: a runbook as a Markdown page, and `render --check` for CI.

Only typer is imported at the top: the renderer (and through it awscli and botocore) is imported
inside the command, so `hybridops --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

_HELP = """Render a runbook as a Markdown page: headings, severity, budgets, checklists, branches as
"go to" links, and the `aws` and `curl` commands an operator can paste by hand when hybridops is
unavailable (a setup block sets every variable; the token comes from $ADMIN_TOKEN, never the page).

`hybridops render outage -o docs/runbooks/outage.md` writes the page; `hybridops render --check
docs/runbooks/outage.md` (in CI) exits 1 when the page differs from what the runbook renders now,
naming the first differing line, and 0 when it is identical. The runbook id is read from the page's
first line unless given.
"""


class RenderFormat(StrEnum):
    md = "md"


def render(
    runbook: str | None = typer.Argument(None, help="Runbook id (e.g. outage) or path to a runbook file; with "
                                         "--check, optional: the page's first line names it.",
                                         show_default=False),
    format: RenderFormat = typer.Option(RenderFormat.md, "--format", help="md (Markdown)."),  # noqa: A002
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the page to FILE instead of stdout.",
                                       dir_okay=False, show_default=False),
    check: Path | None = typer.Option(None, "--check", help="Compare a committed page DOC.md with what the "
                                      "runbook renders now: exit 1 on the first difference, 0 when identical.",
                                      dir_okay=False, show_default=False),
    runbooks: Path | None = typer.Option(None, "--runbooks", help="Runbook directory (default: "
                                         "$HYBRIDOPS_RUNBOOKS, then ./runbooks, then the shipped ones).",
                                         file_okay=False, show_default=False),
) -> None:
    from hybridops.errors import HybridOpsError, UsageError
    from hybridops.markdown.render import first_difference, render_markdown, runbook_id_of
    from hybridops.runbook.catalog import find_runbook
    from hybridops.runbook.load import load_runbook

    del format  # one format so far; the option keeps scripts stable when another is added
    if check is not None:
        if output is not None:
            raise UsageError("--check compares a page; it writes nothing (drop -o)")
        try:
            page = check.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HybridOpsError(f"{check}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        ref = runbook or runbook_id_of(page)
        if ref is None:
            raise HybridOpsError(f"{check}:1:1: no runbook named: the first line is not "
                                 "`<!-- hybridops render: ID -->`; pass the runbook id")
        loaded = load_runbook(find_runbook(ref, runbooks))
        line = first_difference(render_markdown(loaded.runbook), page)
        if line is not None:
            typer.echo(f"{check}:{line}: differs from `hybridops render {loaded.runbook.id}` (first difference at "
                       f"line {line}); re-render it with `hybridops render {loaded.runbook.id} -o {check}`",
                       err=True)
            raise typer.Exit(1)
        typer.echo(f"{check}: up to date with {loaded.runbook.id}", err=True)
        return
    if runbook is None:
        raise UsageError("render needs a runbook id (or --check DOC.md)")
    loaded = load_runbook(find_runbook(runbook, runbooks))
    text = render_markdown(loaded.runbook)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HybridOpsError(f"{output}: cannot write: {exc.strerror or exc}") from None


render.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    """Add `render` to `app`."""
    app.command("render")(render)
