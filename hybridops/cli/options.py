"""Option types shared by several commands (imported at registration: keep this module light)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer


class Output(StrEnum):
    """How a run is shown: text (rich at a terminal, plain lines otherwise) or one JSON object per event."""

    text = "text"
    json = "json"


QUIET_HELP = "Show only each step's result and the verdict."
VERBOSE_HELP = "Show every request and response (a poll's too) with the response's content."

PROFILE_HELP = "The hybridops configuration profile: settings, not AWS credentials (see --aws-profile)."


# The options that the run commands (incident, rehearse, resume, undo) share: one definition each, so
# their names and help cannot drift apart.
def profile_option(help: str = PROFILE_HELP) -> Any:  # noqa: A002
    return typer.Option(None, "--profile", help=help)


def aws_profile_option() -> Any:
    return typer.Option(None, "--aws-profile", help="The AWS CLI profile for the AWS calls (default: "
                                                    "$AWS_PROFILE, then the hybridops profile's aws_profile).")


def config_option() -> Any:
    return typer.Option(None, "--config", help="Configuration file (TOML or YAML).")


def quiet_option() -> Any:
    return typer.Option(False, "--quiet", "-q", help=QUIET_HELP)


def verbose_option() -> Any:
    return typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP)


def insecure_option() -> Any:
    return typer.Option(False, "--insecure", help="Allow plain http:// to a non-loopback admin URL.")
