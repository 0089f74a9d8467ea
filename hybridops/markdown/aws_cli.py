"""An `aws SERVICE COMMAND --options` line as botocore's service, operation and params, read by the AWS
CLI's own parser: the command's argparse table, its shorthand parser (`Name=x,Values=a,b`), JSON values,
`--no-` booleans and `file://` / `fileb://` parameter files are what the CLI itself would send.

awscli is an optional extra: imported lazily (through `cli_names`), only by `import` and `render`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridops.markdown.commands import Untranslatable

# Global options the CLI accepts before or after the command: (takes a value)
_GLOBALS = {"--region": True, "--output": True, "--query": True, "--profile": True, "--endpoint-url": True,
            "--color": True, "--cli-read-timeout": True, "--cli-connect-timeout": True, "--ca-bundle": True,
            "--debug": False, "--no-paginate": False, "--no-verify-ssl": False, "--no-sign-request": False,
            "--no-cli-pager": False, "--cli-auto-prompt": False, "--no-cli-auto-prompt": False}


@dataclass
class AwsLine:
    service: str
    operation: str
    params: dict[str, Any]
    region: str | None = None
    query: str | None = None
    output: str | None = None
    positional: list[str] = field(default_factory=list)
    sensitive: list[tuple[str | int, ...]] = field(default_factory=list)  # params botocore marks sensitive


def parse_aws(words: list[str], *, base: Path | None = None) -> AwsLine:
    """`words` after `aws`; raises Untranslatable with the reason when the CLI would not send one call."""
    from hybridops.markdown.cli_names import botocore_service, operation_command

    rest: list[str] = []
    glob: dict[str, str | None] = {}
    i = 0
    while i < len(words):
        w = words[i]
        name, eq, inline = w.partition("=")
        if name in _GLOBALS:
            if _GLOBALS[name]:
                if eq:
                    glob[name] = inline
                elif i + 1 < len(words):
                    glob[name] = words[i + 1]
                    i += 1
                else:
                    raise Untranslatable(f"{name} needs a value")
            else:
                glob[name] = None
            i += 1
            continue
        rest.append(w)
        i += 1
    if len(rest) < 2:
        raise Untranslatable("an aws command needs a service and a command")
    service = botocore_service(rest[0])
    if service is None:
        raise Untranslatable(f"`aws {rest[0]}` is no API service of the AWS CLI (a customisation such as "
                             "`aws s3`, or unknown)")
    cli_cmd = operation_command(service, rest[1])
    if cli_cmd is None:
        raise Untranslatable(f"`aws {rest[0]} {rest[1]}` is not one API operation (a CLI customisation)")
    operation = str(cli_cmd._operation_model.name)
    args = [_local_file(a, base) for a in rest[2:]]
    input_json: dict[str, Any] = {}
    if "--generate-cli-skeleton" in args:
        raise Untranslatable("--generate-cli-skeleton prints a template; it calls nothing")
    if "--cli-input-json" in args:  # the CLI's own merge: the options given beside it win
        at = args.index("--cli-input-json")
        if at + 1 >= len(args):
            raise Untranslatable("--cli-input-json needs a value")
        try:
            loaded = json.loads(args[at + 1])
        except ValueError:
            raise Untranslatable("--cli-input-json is not JSON") from None
        if not isinstance(loaded, dict):
            raise Untranslatable("--cli-input-json is not a JSON object")
        input_json = loaded
        del args[at:at + 2]
    parser = _parser(cli_cmd, set(input_json))
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse prints its usage; the reason is ours
            parsed, unknown = parser.parse_known_args(args)
    except SystemExit:
        raise Untranslatable(f"the AWS CLI does not accept these options of {rest[0]} {rest[1]}") from None
    if unknown:
        raise Untranslatable(f"unknown option(s) of aws {rest[0]} {rest[1]}: {' '.join(unknown)}")
    globals_ns = argparse.Namespace(region=glob.get("--region"), output=glob.get("--output"),
                                    query=glob.get("--query"), endpoint_url=None, verify_ssl=True, paginate=True)
    try:
        params = cli_cmd._build_call_parameters(parsed, cli_cmd.arg_table, globals_ns)
    except Exception as exc:  # noqa: BLE001 - awscli's parameter errors have no common base
        raise Untranslatable(f"aws {rest[0]} {rest[1]}: {str(exc).strip().splitlines()[0]}") from None
    positional = [str(getattr(parsed, a.py_name)) for a in cli_cmd.arg_table.values()
                  if getattr(a, "positional_arg", False) and getattr(parsed, a.py_name, None) is not None]
    params = {k: _plain(v) for k, v in {**input_json, **params}.items()}
    sensitive = list(_sensitive(cli_cmd._operation_model.input_shape, params, ()))
    return AwsLine(service, operation, params, glob.get("--region"), glob.get("--query"), glob.get("--output"),
                   positional, sensitive)


def _sensitive(shape: Any, value: Any, path: tuple[str | int, ...]) -> Any:
    """The paths of literal values botocore's model marks sensitive (a secret string, a password)."""
    if shape is None:
        return
    # strings only: a sensitive blob is a payload (a model prompt), a sensitive string a credential
    if shape.metadata.get("sensitive") and shape.type_name == "string" and isinstance(value, str) \
            and "@@T" not in value:
        yield path
    elif shape.type_name == "structure" and isinstance(value, dict):
        for key, v in value.items():
            if key in shape.members:
                yield from _sensitive(shape.members[key], v, (*path, key))
    elif shape.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            yield from _sensitive(shape.member, v, (*path, i))


def _parser(cli_cmd: Any, given: set[str]) -> Any:
    """The command's argparse parser; an option --cli-input-json supplies is not required (as the CLI
    itself relaxes it)."""
    relaxed = [a for a in cli_cmd.arg_table.values()
               if getattr(a, "_serialized_name", None) in given and getattr(a, "required", False)]
    for arg in relaxed:
        arg.required = False
    try:
        return cli_cmd._create_operation_parser(cli_cmd.arg_table)
    finally:
        for arg in relaxed:
            arg.required = True


def _local_file(arg: str, base: Path | None) -> str:
    """A `file://` or `fileb://` value read relative to the page (the CLI would read it from the cwd);
    a binary body has no YAML form."""
    for scheme in ("file://", "fileb://"):
        if arg.startswith(scheme):
            path = Path(arg[len(scheme):]).expanduser()
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                raise Untranslatable(f"{arg}: the file is not next to the page, so its content is unknown")
            # the content in place of the word, as the CLI's paramfile handler does (for list members too)
            try:
                return path.read_text(encoding="utf-8").rstrip("\n") if scheme == "file://" else \
                    path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise Untranslatable(f"{arg}: cannot read it as text ({exc})") from None
    return arg


def _plain(value: Any) -> Any:
    """YAML-safe values: bytes of a `fileb://` body as text, tuples as lists."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise Untranslatable("a binary fileb:// body has no YAML form") from None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
