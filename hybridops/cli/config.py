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
) -> None:
    """Print each effective setting, its value (secrets masked) and its source."""
    from hybridops.config import resolve_settings

    loaded = None
    if runbook is not None:
        from hybridops.runbook.catalog import find_runbook
        from hybridops.runbook.load import load_runbook

        loaded = load_runbook(find_runbook(runbook)).runbook
    settings = resolve_settings(config_path=config, profile=profile, runbook=loaded)
    _render(settings.rows())


def _render(rows: list[tuple[str, str, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from hybridops.cli.console import out

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
