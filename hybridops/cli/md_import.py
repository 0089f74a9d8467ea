"""`hybridops import`: a Markdown runbook page as runbook YAML files.

Only typer is imported at the top: the importer (and through it markdown-it, awscli and botocore) is
imported inside the command, so `hybridops --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

_HELP = """Import a Markdown runbook page: one runbook YAML per incident, written to DIR.

Incidents are the headings with a `**Severity**:` line; their Symptoms, phases (each other heading)
and numbered actions with budgets ("(2 minutes)", "(ongoing)") become the runbook's structure. Each
`aws` line becomes an aws step through the AWS CLI's own parser (shorthand, JSON, --no- booleans,
file://, --region, --query as a capture, $(date -u -d '5 minutes ago' ...) as a templated time); each
`curl` an http step (the host becomes the configured admin URL, an Authorization header the configured
token); `watch -n N '...'` a poll; `aws logs filter-log-events ... | jq | sort | uniq -c` a log_errors
or log_json step; `<placeholders>` and `$VARS` variables; bullets manual checklists. A page written by
`hybridops render` reads back with its ids, kinds and branches.

Whatever does not translate becomes a manual step quoting it, and is reported on stderr as
FILE:LINE:COL. Every file written is checked with the validator (`hybridops validate`).
"""

_SCHEMA_LINE = "# yaml-language-server: $schema=../specs/runbook.schema.json\n"


def import_page(
    page: Path = typer.Argument(..., help="The Markdown runbook page.", metavar="RUNBOOK.md", dir_okay=False,
                                show_default=False),
    output: Path = typer.Option(Path("runbooks"), "-o", "--output", help="Directory for the runbook files.",
                                file_okay=False),
    force: bool = typer.Option(False, "--force", help="Overwrite runbook files that exist."),
) -> None:
    import yaml

    from hybridops.errors import HybridOpsError
    from hybridops.markdown.importer import import_markdown
    from hybridops.runbook.validate import validate_file

    try:
        text = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HybridOpsError(f"{page}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    result = import_markdown(text, str(page), base=page.parent)
    lines = text.splitlines()
    for issue in result.issues:
        source = lines[issue.line - 1] if 0 < issue.line <= len(lines) else ""
        first = issue.original.strip().splitlines()[0][:30] if issue.original.strip() else ""
        col = source.find(first) + 1 if first and first in source else issue.col
        typer.echo(f"{page}:{issue.line}:{col}: {issue.message}", err=True)
    if not result.runbooks or not any(rb["phases"] for rb in result.runbooks):
        raise HybridOpsError(f"{page}:1:1: no incident found (a heading with actions or commands under it)")
    targets = [output / f"{rb['id']}.yaml" for rb in result.runbooks]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise HybridOpsError(f"{existing[0]}: exists; pass --force to overwrite")
    try:
        output.mkdir(parents=True, exist_ok=True)
        for rb, target in zip(result.runbooks, targets, strict=True):
            target.write_text(_SCHEMA_LINE + yaml.safe_dump(rb, sort_keys=False, allow_unicode=True, width=110),
                              encoding="utf-8")
    except OSError as exc:
        raise HybridOpsError(f"{output}: cannot write: {exc.strerror or exc}") from None
    bad = 0
    for target in targets:
        problems = validate_file(target).problems
        for problem in problems:
            typer.echo(str(problem), err=True)
        bad += bool(problems)
    for target in targets:
        typer.echo(str(target))
    typer.echo(f"{len(targets)} runbook(s) written, {len(result.issues)} part(s) kept as manual steps"
               + (f", {bad} invalid" if bad else ""), err=True)
    if bad:
        raise typer.Exit(1)


import_page.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    """Add `import` to `app`."""
    app.command("import")(import_page)
