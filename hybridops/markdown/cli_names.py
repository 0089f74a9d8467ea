"""The AWS CLI's names for botocore's: service, command and `--option` names, from awscli's own model.

`render` writes `aws ecs update-service --force-new-deployment` for `ecs UpdateService
{forceNewDeployment: true}`; `import` reads the same table the other way. Both come from the AWS CLI's
command table (`awscli.clidriver`), never a hand-written map: a renamed service (`s3api` is botocore's
`s3`), a customised option or a `--no-` boolean is what the CLI says it is.

awscli is an optional extra: it is imported here, lazily, and only by `import` and `render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from hybridops.errors import HybridOpsError


class AwsCliMissing(HybridOpsError):
    """The AWS CLI's package is not installed (it is the `markdown` extra)."""


@dataclass(frozen=True)
class CliOption:
    """One `--option` of an AWS CLI command, for one botocore parameter."""

    name: str  # without the dashes: `force-new-deployment`
    param: str  # botocore's parameter name: `forceNewDeployment`
    type_name: str  # botocore's shape type: string, integer, boolean, list, structure, map, blob, timestamp
    shape: Any  # botocore's shape of the parameter
    negative: bool = False  # a boolean option that sends false (`--no-force-new-deployment`)
    positional: bool = False  # awscli's positional argument (the `outfile` of a streaming output)


@cache
def _driver() -> Any:
    try:
        from awscli.clidriver import create_clidriver  # type: ignore[import-untyped]
    except ImportError:
        raise AwsCliMissing("the AWS CLI package is not installed: pip install 'hybridops[markdown]'") from None
    return create_clidriver()


@cache
def _service_table() -> dict[str, tuple[str, Any]]:
    """botocore service name -> (CLI service name, the CLI's service command)."""
    found: dict[str, tuple[str, Any]] = {}
    for cli_name, command in _driver()._get_command_table().items():
        service = getattr(command, "_service_name", None)
        if isinstance(service, str):
            found.setdefault(service, (cli_name, command))
    return found


def cli_service(service: str) -> str:
    """The CLI's name of a botocore service (`s3` -> `s3api`)."""
    entry = _service_table().get(service)
    if entry is None:
        raise HybridOpsError(f"the AWS CLI has no command for the service {service!r}")
    return entry[0]


def botocore_service(cli_name: str) -> str | None:
    """`cli_service` read backwards (`s3api` -> `s3`), for `import`; None when the CLI has no such service."""
    return next((service for service, (name, _) in _service_table().items() if name == cli_name), None)


def operation_command(service: str, command: str) -> Any | None:
    """The CLI's own command object of `aws SERVICE COMMAND` (its argument table and parser), for
    `import`; None when the name is not one API operation (a customisation such as `logs tail`)."""
    found = _service_table()[service][1]._get_command_table().get(command)
    return found if hasattr(found, "_operation_model") else None


def cli_command(operation: str) -> str:
    """The CLI's command of an operation: `UpdateService` -> `update-service`."""
    from botocore import xform_name

    return str(xform_name(operation, "-"))


@cache
def cli_options(service: str, operation: str) -> dict[str, CliOption]:
    """Every option of the operation's CLI command, by option name (`force-new-deployment`)."""
    entry = _service_table().get(service)
    if entry is None:
        raise HybridOpsError(f"the AWS CLI has no command for the service {service!r}")
    command = entry[1]._get_command_table().get(cli_command(operation))
    if command is None:
        raise HybridOpsError(f"the AWS CLI has no command for {service} {operation}")
    options: dict[str, CliOption] = {}
    for name, arg in command.arg_table.items():
        param = getattr(arg, "_serialized_name", None)
        model = getattr(arg, "argument_model", None)
        if model is None and not getattr(arg, "positional_arg", False):
            continue  # --cli-input-json, --generate-cli-skeleton: no parameter of their own
        options[name] = CliOption(
            name=name, param=param or "", type_name=getattr(model, "type_name", "string"), shape=model,
            negative=getattr(arg, "_action", "") == "store_false",
            # a streamed response body goes to the command's positional `outfile`
            positional=bool(getattr(arg, "positional_arg", False)) or type(arg).__name__ == "StreamingOutputArgument")
    return options


def option_for(service: str, operation: str, param: str, value: Any = None) -> CliOption | None:
    """The option that sends `param` (for a boolean, the one that sends `value`); None when the CLI
    has none (a parameter its customisation replaced)."""
    wanted_negative = value is False
    for option in cli_options(service, operation).values():
        if option.param == param and not option.positional and (
                option.type_name != "boolean" or option.negative == wanted_negative):
            return option
    return None


def positional_options(service: str, operation: str) -> list[CliOption]:
    """The command's positional arguments (the `outfile` of an operation that streams its output)."""
    return [o for o in cli_options(service, operation).values() if o.positional]
