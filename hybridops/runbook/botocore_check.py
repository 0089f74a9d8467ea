"""Check AWS calls against botocore's own service models (the ones boto3 sends requests with).

A call names a service, an operation and params as botocore spells them; each is checked the way
botocore's client-side validation would, plus close-name hints. A templated value (`{{ ... }}`) is
skipped: it only has a type once rendered, and botocore checks it then.

botocore is imported inside functions: the `--help` path must not load it, and each service model
(ec2's costs ~70 ms) is loaded once per process, only when a runbook uses it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from hybridops.runbook.expr import is_template
from hybridops.runbook.load import dotted, show_value

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape

Loc = tuple[str | int, ...]
# report(loc, message, key): `key` places the problem at the mapping key rather than its value.
Report = Callable[[Loc, str, bool], None]


_NO_USER_CONFIG = {  # botocore session variables that would read the operator's AWS set-up
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
}


@cache
def _session() -> Any:
    """botocore for its models and endpoint data only: no profile or config file of the operator's
    (a broken AWS_PROFILE must not stop `validate`)."""
    import botocore.session

    return botocore.session.Session(session_vars=_NO_USER_CONFIG)


def data_loader() -> Any:
    """botocore's loader of service models, one per process: it keeps each model it decoded, so the
    validator and every run (a drill matrix runs several) decode a service's JSON once."""
    return _session().get_component("data_loader")


def isolated_botocore_session() -> Any:
    """A botocore session that reads none of the operator's AWS set-up, over the process's one loader."""
    import botocore.session

    core = botocore.session.Session(session_vars=_NO_USER_CONFIG)
    core.register_component("data_loader", data_loader())
    return core


def shared_boto3_session(profile: str | None = None, region: str | None = None,
                         isolated: tuple[str, str] | None = None) -> Any:
    """A boto3 Session over a botocore session that uses the process's one loader.

    `isolated`: these credentials (key id, secret) and no AWS config or credentials file at all, so that
    nothing of the operator's own AWS set-up reaches the session (a drill's sandbox)."""
    import boto3.session
    import botocore.session

    keys: dict[str, Any] = {}
    if isolated is None:
        core = botocore.session.get_session()
        core.register_component("data_loader", data_loader())
    else:  # no profile, config file or credentials file from the environment
        core = isolated_botocore_session()
        keys = {"aws_access_key_id": isolated[0], "aws_secret_access_key": isolated[1], "aws_session_token": None}
    loader = core.get_component("data_loader")
    session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region, **keys)
    # every boto3 Session appends its data path to the loader's list; once is enough
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session


@cache
def service_model(name: str) -> ServiceModel | None:
    """botocore's model of a service, or None when botocore has no such service."""
    from botocore.exceptions import DataNotFoundError, UnknownServiceError

    try:
        return _session().get_service_model(name)
    except (UnknownServiceError, DataNotFoundError):
        return None


@cache
def available_services() -> tuple[str, ...]:
    return tuple(_session().get_available_services())


def _closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice `word` was probably meant to be: case and separators ignored first, then spelling."""
    squash = {re.sub(r"[-_]", "", c).lower(): c for c in choices}
    same = squash.get(re.sub(r"[-_]", "", word).lower())
    if same is not None:
        return same
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = _closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if model is None or operation not in model.operation_names:
        return None
    return model.operation_model(operation)


def check_call(service: str, operation: str, params: dict[str, Any], loc: Loc, report: Report) -> None:
    """Check one call; `loc` is the call's mapping (with `service`, `operation`, `params` keys)."""
    templated = [k for k, v in (("service", service), ("operation", operation)) if is_template(v)]
    for key in templated:
        # sent as written, never rendered: and the gate must know the operation before the run
        report((*loc, key), f"the AWS {key} must be written out, not a template ({key} names are sent as "
               "written)", False)
    if templated:
        return
    model = service_model(service)
    if model is None:
        report((*loc, "service"), f"unknown AWS service {service!r}{_hint(service, available_services())}", False)
        return
    if operation not in model.operation_names:
        report(
            (*loc, "operation"),
            f"{service} has no operation {operation!r}{_hint(operation, model.operation_names)}",
            False,
        )
        return
    shape = model.operation_model(operation).input_shape
    where = f"{service} {operation}"
    if shape is None:
        if params:
            report((*loc, "params"), f"{where} takes no parameters", False)
        return
    check_value(params, shape, (*loc, "params"), where, report)


_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    # botocore takes a datetime, an ISO 8601 string or epoch seconds
    "timestamp": (str, int, float),
    "blob": (str, bytes),
}
_TYPE_WORD = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "true or false",
    "double": "a number",
    "float": "a number",
    "timestamp": "a timestamp (ISO 8601 string or epoch seconds)",
    "blob": "a string",
    "structure": "a mapping",
    "list": "a list",
    "map": "a mapping",
}


def _label(loc: Loc) -> str:
    """`params.services[0]`-style name of a location inside a call's params."""
    return dotted(loc, start_at="params")


def check_value(value: Any, shape: Shape, loc: Loc, where: str, report: Report) -> None:
    """Check `value` against `shape`, recursively, reporting each mismatch at its own location."""
    if is_template(value):
        return
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return  # free-form JSON
        if not isinstance(value, dict):
            report(loc, f"{where}: {_label(loc)} must be {_TYPE_WORD[kind]}, got {show_value(value)}", False)
            return
        members = shape.members
        if getattr(shape, "is_tagged_union", False) and len(value) != 1:
            # botocore's ParamValidator refuses a union with none or several of its keys set
            names = list(members)
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            report(loc, f"{where}: {_label(loc)} takes exactly one of {shown}, got "
                   f"{', '.join(map(str, value)) if value else 'none'}", False)
        meant: set[str] = set()  # params a misspelt key was probably meant to be
        for name, item in value.items():
            if name not in members:
                close = _closest(name, [m for m in members if m not in value])
                hint = f" (did you mean {close!r}?)" if close else ""
                if close:
                    meant.add(close)
                report((*loc, name), f"{where}: unknown parameter {name!r} in {_label(loc)}{hint}", True)
                continue
            check_value(item, members[name], (*loc, name), where, report)
        for name in shape.required_members:
            # A misspelt required param is one mistake: the unknown-parameter problem already names it.
            if name not in value and name not in meant:
                report(loc, f"{where}: missing required parameter {name!r} in {_label(loc)}", False)
        return
    if kind == "list":
        if not isinstance(value, list):
            report(loc, f"{where}: {_label(loc)} must be {_TYPE_WORD[kind]}, got {show_value(value)}", False)
            return
        minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
        if isinstance(minimum, int) and len(value) < minimum:
            report(loc, f"{where}: {_label(loc)} needs at least {minimum} item(s), got {len(value)}", False)
        elif isinstance(maximum, int) and len(value) > maximum:
            # botocore leaves the maximum to the service, which refuses the call when the step runs
            report(loc, f"{where}: {_label(loc)} takes at most {maximum} item(s), got {len(value)}", False)
        for i, item in enumerate(value):
            check_value(item, shape.member, (*loc, i), where, report)
        return
    if kind == "map":
        if not isinstance(value, dict):
            report(loc, f"{where}: {_label(loc)} must be {_TYPE_WORD[kind]}, got {show_value(value)}", False)
            return
        for name, item in value.items():
            check_value(name, shape.key, (*loc, name), where, report)
            check_value(item, shape.value, (*loc, name), where, report)
        return
    _check_scalar(value, shape, loc, where, report)


def _check_scalar(value: Any, shape: Shape, loc: Loc, where: str, report: Report) -> None:
    kind = shape.type_name
    allowed = _SCALARS.get(kind)
    if allowed is None:
        return  # a type botocore added after this code was written: leave it to botocore
    wrong = not isinstance(value, allowed) or (isinstance(value, bool) and kind != "boolean")
    if wrong:
        report(loc, f"{where}: {_label(loc)} must be {_TYPE_WORD[kind]}, got {show_value(value)}", False)
        return
    if kind == "timestamp" and not _is_timestamp(value):
        report(loc, f"{where}: {_label(loc)} is no timestamp botocore can read: {show_value(value)} "
               "(use ISO 8601 such as 2026-01-01T00:00:00Z, or epoch seconds)", False)
        return
    enum = getattr(shape, "enum", None) or []
    if kind == "string" and enum and value not in enum:
        hint = _hint(value, enum)
        shown = ", ".join(enum) if len(enum) <= 12 else ", ".join(enum[:12]) + ", ..."
        report(loc, f"{where}: {_label(loc)} is {value!r}, not one of {shown}{hint}", False)
        return
    minimum = shape.metadata.get("min")
    if isinstance(minimum, int | float):
        if kind == "string" and len(value) < minimum:
            report(loc, f"{where}: {_label(loc)} must be at least {minimum} character(s) long", False)
        elif kind in ("integer", "long", "double", "float") and value < minimum:
            report(loc, f"{where}: {_label(loc)} must be at least {minimum}, got {value}", False)
    # botocore leaves the maximum to the service, which refuses the call when the step runs
    maximum = shape.metadata.get("max")
    if isinstance(maximum, int | float):
        if kind == "string" and len(value) > maximum:
            report(loc, f"{where}: {_label(loc)} must be at most {maximum} character(s) long, got "
                   f"{len(value)}", False)
        elif kind in ("integer", "long", "double", "float") and value > maximum:
            report(loc, f"{where}: {_label(loc)} must be at most {maximum}, got {value}", False)


def _is_timestamp(value: Any) -> bool:
    """What botocore's serializer accepts for a timestamp (its own parser, as its ParamValidator uses)."""
    from botocore.utils import parse_to_aware_datetime

    try:
        parse_to_aware_datetime(value)
    except Exception:  # ValueError, and RuntimeError or OverflowError for epochs out of range
        return False
    return True


def check_log_group(name: str, loc: Loc, report: Report) -> None:
    """A log step's group, as logs FilterLogEvents takes it (a name, or an ARN as identifier)."""
    if is_template(name):
        return
    model = service_model("logs")
    if model is None:  # pragma: no cover - botocore always ships logs
        return
    members = model.operation_model("FilterLogEvents").input_shape.members
    param = "logGroupIdentifier" if name.startswith("arn:") else "logGroupName"
    shape = members[param]
    where = "logs FilterLogEvents"
    if not name:
        report(loc, f"{where}: the log group must not be empty", False)
        return
    pattern = shape.metadata.get("pattern")
    maximum = shape.metadata.get("max")
    if isinstance(maximum, int) and len(name) > maximum:
        report(loc, f"{where}: log group {name!r} is longer than {maximum} characters", False)
    elif pattern:
        try:
            ok = re.fullmatch(pattern, name) is not None
        except re.error:  # a pattern written for another regex engine: leave it to the service
            ok = True
        if not ok:
            report(loc, f"{where}: {name!r} is not a valid log group {param[8:].lower()} ({pattern})", False)


@cache
def _regions() -> tuple[str, ...]:
    """Every region botocore's endpoint data names, in all partitions."""
    data = _session().get_component("data_loader").load_data("endpoints")
    return tuple(name for partition in data.get("partitions", []) for name in partition.get("regions", {}))


def check_region(region: str, loc: Loc, report: Report) -> None:
    """A region botocore knows (a typo such as `eu-centrall-1` would otherwise surface only at run time)."""
    if is_template(region):
        return
    names = _regions()
    if region not in names:
        report(loc, f"unknown AWS region {region!r}{_hint(region, names)}", False)


def check_declared_read(service: str, operation: str, declared: bool | None, loc: Loc, report: Report) -> None:
    """`mutating: false` (at `loc`) on an operation that changes state by its name: refused, since
    --read-only and --dry-run would otherwise send it. The listed probes (InvokeModel...) may say so."""
    from hybridops.runbook.mutation import PROBE_OPERATIONS, aws_changes_state, operation_verb

    if declared is not False or operation_model(service, operation) is None:
        return  # an unknown service or operation is its own problem, reported by check_call
    if aws_changes_state(service, operation):
        verb = operation_verb(operation).capitalize()
        services = sorted({s for s, _ in PROBE_OPERATIONS})
        report(loc, f"`mutating: false` is not allowed: {service} {operation} changes state ({verb}); only a "
               f"probe hybridops lists (of {', '.join(services)}, such as bedrock-runtime InvokeModel) may be "
               "declared so", False)


def regions_of(service: str, region: str) -> tuple[str, ...] | None:
    """The regions of `region`'s partition that botocore's endpoint data offers `service` in; None when
    that data cannot tell (a service it says nothing about, or a global one). The sandbox answers by
    the same data, so `validate` and a drill agree."""
    partition = next((p for p, names in _partitions().items() if region in names), None)
    model = service_model(service)
    if partition is None or model is None:
        return None
    services = _partition_services(partition)
    entry = services.get(model.endpoint_prefix)
    if entry is None:
        return _by_host_name(model.endpoint_prefix, services)
    if entry.get("isRegionalized") is False or "partitionEndpoint" in entry:
        return None  # one endpoint for the partition (AWS Health, IAM): every region reaches it
    offered = tuple(_session().get_available_regions(service, partition_name=partition))
    return offered or None


def _by_host_name(endpoint_prefix: str, services: dict[str, Any]) -> tuple[str, ...] | None:
    """The regions of the host names `<endpoint prefix>.<region>.` declared under another service's
    entry: how the endpoint data lists bedrock-runtime (under bedrock, as bedrock-runtime-<region>)."""
    host = endpoint_prefix + "."
    regions = {str((endpoint.get("credentialScope") or {}).get("region"))
               for entry in services.values()
               for endpoint in (entry.get("endpoints") or {}).values()
               if str(endpoint.get("hostname", "")).startswith(host) and endpoint.get("credentialScope")}
    return tuple(sorted(regions)) or None


def check_service_region(service: str, region: str, loc: Loc, report: Report) -> None:
    """A service that botocore's endpoint data does not offer in the region: the call could only fail
    (no endpoint), so it is an error now rather than at the step."""
    if is_template(service) or is_template(region) or region not in _regions():
        return
    offered = regions_of(service, region)
    if offered is not None and region not in offered:
        shown = ", ".join(offered[:8]) + (", ..." if len(offered) > 8 else "")
        report(loc, f"AWS service {service!r} is not offered in {region} (botocore's endpoint data has it in "
               f"{shown})", False)


def _partition_services(partition: str) -> dict[str, Any]:
    data = _session().get_component("data_loader").load_data("endpoints")
    return next((p.get("services", {}) for p in data.get("partitions", []) if p["partition"] == partition), {})


@cache
def _partitions() -> dict[str, frozenset[str]]:
    data = _session().get_component("data_loader").load_data("endpoints")
    return {p["partition"]: frozenset(p.get("regions", {})) for p in data.get("partitions", [])}


def unoffered_services(runbook: Any, variables: dict[str, Any], default_region: str | None) -> list[str]:
    """Each AWS call of `runbook` (log queries included) to a service that botocore's endpoint data does
    not offer in the region the call will use: its literal region, one rendered from the run's variables,
    or the configured default. The preflight's check: `validate` can only check literal regions."""
    from hybridops.runbook.model import AwsCall, LogErrorsStep, LogJsonStep

    found: list[str] = []
    for _, step in runbook.steps():
        targets = [(call.service, call.region) for _, call in step.calls() if isinstance(call, AwsCall)]
        if isinstance(step, LogErrorsStep | LogJsonStep):
            targets.append(("logs", step.body.region))
        for service, region in targets:
            effective = _effective_region(region, variables, default_region)
            if effective is None or is_template(service) or effective not in _regions():
                continue  # an unknown region is botocore's own error at the call
            offered = regions_of(service, effective)
            if offered is not None and effective not in offered:
                line = (f"step {step.id}: AWS service {service!r} is not offered in {effective} (botocore's "
                        f"endpoint data has it in {', '.join(offered[:8])}{', ...' if len(offered) > 8 else ''})")
                if line not in found:
                    found.append(line)
    return found


def _effective_region(region: str | None, variables: dict[str, Any], default: str | None) -> str | None:
    """The region a call will use, when the variables alone decide it (a template over a capture: None)."""
    from hybridops.runbook.expr import ExpressionError, references, render

    if region is None:
        return default
    if not is_template(region):
        return region
    try:
        if not references(region) <= set(variables):
            return None
        rendered = render(region, dict(variables))
    except ExpressionError:
        return None
    return rendered if isinstance(rendered, str) else None
