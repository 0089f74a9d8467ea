"""`hybridops config show`: every effective setting and where it came from, secrets masked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

config_app = typer.Typer(
    name="config",
    help="Inspect the effective configuration (flags, environment, config-file profiles).",
    no_args_is_help=True,
)


@config_app.command("show")
def show(
    profile: Annotated[
        str | None, typer.Option("--profile", help="Profile of the config file to use.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (TOML or YAML) instead of the default.")
    ] = None,
    runbook: Annotated[
        str | None, typer.Option("--runbook", help="Also resolve this runbook's variables (an id or a path).")
    ] = None,
    aws_profile: Annotated[
        str | None, typer.Option("--aws-profile", help="The AWS CLI profile (as incident --aws-profile).")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not ask STS which AWS account the credentials belong to.")
    ] = False,
) -> None:
    """Print each effective setting, its value (secrets masked) and its source, and the AWS endpoint,
    credentials and account the runs would use."""
    from hybridops.config import resolve_settings
    from hybridops.engine.steps.aws import AwsRunner

    loaded = None
    if runbook is not None:
        from hybridops.runbook.catalog import find_runbook
        from hybridops.runbook.load import load_runbook

        loaded = load_runbook(find_runbook(runbook)).runbook
    settings = resolve_settings(config_path=config, profile=profile, runbook=loaded, flag_aws_profile=aws_profile)
    # short timeouts: a config check must not hang on an unreachable endpoint
    aws = AwsRunner(profile=settings.aws_profile.value, region=settings.aws_region.value, timeout=5.0)
    _render([*settings.rows(), *aws.target(identify=not offline)])


def _render(rows: list[tuple[str, str, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from hybridops.cli.console import out
    from hybridops.scrub import inert, redact_urls

    def safe(text: str) -> str:  # an endpoint URL may carry credentials; an STS error is a server's text
        return inert(redact_urls(text), single_line=True)

    rows = [(safe(name), safe(value), safe(source)) for name, value, source in rows]
    console = out()
    if console.is_terminal:
        table = Table("name", "value", "source", box=None, pad_edge=False)
        for name, value, source in rows:
            table.add_row(Text(name, style="bold"), Text(value), Text(source, style="dim"))
        console.print(table)
        return
    # Plain, one setting per line, for pipes and scripts.
    for name, value, source in rows:
        console.print(f"{name} = {value}  ({source})", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(config_app, name="config")
