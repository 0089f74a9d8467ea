"""`hybridops export ssm ID`: the runbook as an SSM Automation document.

Only typer is imported at the top: the exporter (and through it botocore's models) is imported inside
the command, so `hybridops --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

_HELP = """Export a runbook as an AWS Systems Manager Automation document (schemaVersion 0.3), to run on
AWS's own engine: on a schedule, from an Incident Manager response plan, across accounts, with AWS's
approvals and execution history.

aws steps become aws:executeAwsApi (captures as outputs with JSONPath selectors), polls over AWS calls
aws:waitForAwsResourceProperty where they fit, confirm and manual steps aws:approve (Approvers is a
document parameter), check, choice and `when` aws:branch, wait aws:sleep, http, notify, log steps and
other polls aws:executeScript (python3.11). The admin token, Slack webhook and PagerDuty key are read at
run time from SecureString parameters whose names are document parameters: no secret is ever in the
document. Budgets become timeoutSeconds, on_failure onFailure, retries maxAttempts, variables document
parameters.

What the document cannot express is listed on stderr, one line per item with its step (a document over
CreateDocument's 64 KB too); --strict exits 1 when there is any. The document goes to stdout, or to
-o FILE: `hybridops export ssm outage -o outage.yaml && aws ssm create-document --name outage
--document-type Automation --document-format YAML --content file://outage.yaml`.
"""


class DocumentFormat(StrEnum):
    yaml = "yaml"
    json = "json"


export_app = typer.Typer(name="export", help="Export a runbook for another engine (ssm: AWS Systems Manager "
                         "Automation).", no_args_is_help=True)


@export_app.command("ssm")
def export_ssm(
    runbook: str = typer.Argument(..., help="Runbook id (e.g. outage) or path to a runbook file.",
                                  show_default=False),
    format: DocumentFormat = typer.Option(DocumentFormat.yaml, "--format", help="yaml or json "  # noqa: A002
                                          "(CreateDocument's DocumentFormat)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the document to FILE instead of stdout.",
                                       dir_okay=False, show_default=False),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when anything of the runbook cannot be expressed "
                                "(the list is printed either way)."),
    runbooks: Path | None = typer.Option(None, "--runbooks", help="Runbook directory (default: "
                                         "$HYBRIDOPS_RUNBOOKS, then ./runbooks, then the shipped ones).",
                                         file_okay=False, show_default=False),
) -> None:
    from hybridops.config import DEFAULT_ADMIN_URL, DEFAULT_PAGERDUTY_URL
    from hybridops.errors import HybridOpsError
    from hybridops.export.ssm import dump, size_gap
    from hybridops.export.ssm import export_ssm as build
    from hybridops.runbook.catalog import find_runbook
    from hybridops.runbook.load import load_runbook
    from hybridops.runbook.validate import checked

    loaded = checked(load_runbook(find_runbook(runbook, runbooks)))
    # The defaults are the spec's and PagerDuty's public endpoints, never a profile's: a profile may hold a
    # URL with credentials in it, and the document is shared.
    result = build(loaded.runbook, admin_url=DEFAULT_ADMIN_URL, pagerduty_url=DEFAULT_PAGERDUTY_URL)
    text = dump(result.document, format.value)
    too_big = size_gap(text)
    gaps = [*result.gaps, *([too_big] if too_big else [])]
    for gap in gaps:
        typer.echo(f"{loaded.path}: not exported: {gap}", err=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise HybridOpsError(f"{output}: cannot write: {exc.strerror or exc}") from None
    if strict and gaps:
        typer.echo(f"{loaded.path}: --strict: {len(gaps)} thing(s) cannot be exported", err=True)
        raise typer.Exit(1)


export_ssm.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    """Add `export ssm` to `app`."""
    app.add_typer(export_app)
