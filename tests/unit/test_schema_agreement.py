"""The shipped JSON Schema and `hybridops validate` agree: each structurally bad runbook under
tests/fixtures/structural is rejected by both (an editor or `check-jsonschema` sees what `validate`
sees), the shipped runbooks pass both, and what would only fail at run time (tests/fixtures/late) is
caught by `validate`, one line at the problem's file:line:col.

Each fixture's first line says what is wrong with it; `# <- the problem` marks the line `validate`
must name.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import hybridops

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STRUCTURAL = sorted((FIXTURES / "structural").glob("*.yaml"))
LATE = sorted((FIXTURES / "late").glob("*.yaml"))
SHIPPED = sorted((Path(hybridops.__file__).parent / "runbooks").glob("*.yaml"))
SCHEMA_FILE = Path(hybridops.__file__).parent / "specs" / "runbook.schema.json"


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [f"{list(e.absolute_path)}: {e.message[:120]}" for e in _validator().iter_errors(data)]


def marked_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    marked = [i + 1 for i, line in enumerate(lines) if line.endswith("# <- the problem")]
    assert len(marked) == 1, f"{path.name}: mark the one problem line"
    return marked[0]


def one_problem(cli, path: Path) -> str:
    """`validate PATH` fails with exactly one problem line, at the marked line; the line, returned."""
    code, out, err = cli("validate", path)
    assert code == 1, (path.name, out, err)
    assert "Traceback" not in err and "unexpected" not in err
    lines = [line for line in (out + err).splitlines() if line.startswith(f"{path}:")]
    assert len(lines) == 1, (path.name, err)
    match = re.match(rf"{re.escape(str(path))}:(\d+):(\d+): \S", lines[0])
    assert match, lines[0]
    assert int(match.group(1)) == marked_line(path), (path.name, lines[0])
    return lines[0]


def test_there_are_fixtures_of_each_kind() -> None:
    assert len(STRUCTURAL) >= 30 and len(LATE) >= 6
    for path in STRUCTURAL + LATE:
        assert path.read_text().startswith("# "), f"{path.name}: say on the first line what is wrong"


@pytest.mark.parametrize("path", STRUCTURAL, ids=[p.stem for p in STRUCTURAL])
def test_validate_and_the_schema_both_reject_a_structural_mistake(cli, path: Path) -> None:
    one_problem(cli, path)
    assert schema_errors(path), f"the JSON Schema accepts {path.name}, which validate rejects"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_validate_and_the_schema_both_accept_a_shipped_runbook(cli, path: Path) -> None:
    assert cli("validate", path) == (0, "", "1 runbook valid\n")
    assert schema_errors(path) == []


@pytest.mark.parametrize("path", LATE, ids=[p.stem for p in LATE])
def test_validate_rejects_what_would_only_fail_when_the_step_runs(cli, path: Path) -> None:
    # The structure is fine (the schema cannot know botocore's parsers or endpoint data)...
    assert schema_errors(path) == []
    # ...but the call could only fail: validate says so, at the value
    one_problem(cli, path)


def test_the_schema_holds_what_the_models_validators_hold() -> None:
    """Spot checks of the rules that are no field type: one call, one condition, closed capture maps,
    duration bounds as patterns."""
    from hybridops.runbook.model import json_schema

    schema = json_schema()
    defs = schema["$defs"]
    assert [o["required"] for o in defs["Call"]["oneOf"]] == [["aws"], ["http"]]
    assert [[o["required"] for o in part["oneOf"]] for part in defs["Poll"]["allOf"]] == [
        [["aws"], ["http"]], [["until"], ["while"]]]
    assert defs["AwsCall"]["properties"]["capture"]["additionalProperties"] is False
    every = defs["Poll"]["properties"]["every"]["anyOf"]
    pattern = re.compile(every[0]["pattern"])
    assert pattern.match("30s") and pattern.match("1h") and pattern.match("1m30s")
    assert not pattern.match("0s") and not pattern.match("500ms") and not pattern.match("1h1s")
    assert every[1] == {"type": "integer", "minimum": 1.0, "maximum": 3600.0}


KENDRA = """id: kendra-probe
title: Probe
severity: P2
response_time: 15m
impact: none
owner: test
version: "1"
variables:
  - name: where
    default: eu-west-1
phases:
  - id: p
    title: P
    steps:
      - id: list
        title: List
        budget: 1m
        aws: {service: kendra, operation: ListIndices}
      - id: list-there
        title: List there
        budget: 1m
        aws: {service: kendra, operation: ListIndices, region: "{{ where }}"}
"""


def test_the_preflight_checks_the_region_a_call_takes_from_the_configuration(cli, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`validate` cannot know the configured region or a `--var`: the incident's preflight checks the
    region each call will use, before anything is sent."""
    path = tmp_path / "kendra-probe.yaml"
    path.write_text(KENDRA)
    assert cli("validate", path)[0] == 0
    monkeypatch.setenv("AWS_REGION", "af-south-1")
    code, out, err = cli("incident", path, "--yes", "--var", "where=ap-east-1")
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: preflight:")]
    assert [line.split(" (botocore")[0] for line in lines] == [
        "error: preflight: step list: AWS service 'kendra' is not offered in af-south-1",
        "error: preflight: step list-there: AWS service 'kendra' is not offered in ap-east-1"]
    assert all(line.endswith("(nothing was sent)") for line in lines)
    # where the service is offered, the preflight has nothing to say (a dry run shows what it would stop on)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    code, out, err = cli("incident", path, "--dry-run")
    assert code == 0 and "preflight:" not in err, err


# --- validate and botocore's own client-side validation agree ----------------------------------------

def _botocore_refuses(service: str, operation: str, params: dict[str, Any]) -> bool:
    from botocore.validate import ParamValidator

    from hybridops.runbook.botocore_check import operation_model

    model = operation_model(service, operation)
    assert model is not None
    try:
        return ParamValidator().validate(params, model.input_shape).has_errors()
    except Exception:  # e.g. RuntimeError for an epoch timestamp beyond any date: refused all the same
        return True


PARAM_FIXTURES = [p for p in LATE if p.stem.startswith(("param-", "timestamp-", "tagged-union-"))]


@pytest.mark.parametrize("path", PARAM_FIXTURES, ids=[p.stem for p in PARAM_FIXTURES])
def test_what_validate_refuses_in_params_botocore_refuses_too(path: Path) -> None:
    aws = yaml.safe_load(path.read_text())["phases"][0]["steps"][0]["aws"]
    assert _botocore_refuses(aws["service"], aws["operation"], aws["params"])


_OPS = [("ecs", "UpdateService"), ("cloudwatch", "GetMetricStatistics"), ("cloudwatch", "PutMetricAlarm"),
        ("bedrock-runtime", "Converse"), ("logs", "FilterLogEvents"), ("elbv2", "ModifyListener")]
_ODD = [0, -1, 1.5, "x", "", [], {}, ["a"], {"a": 1}, True, 10**30, "2026-01-01T00:00:00Z", "yesterday", None,
        10**20, -(10**20)]


def _params(shape: Any, rng: Any, depth: int = 0) -> Any:
    """Mostly well-formed params for `shape`, with an odd value here and there."""
    kind = shape.type_name
    if rng.random() < 0.12 or depth > 4:
        return rng.choice(_ODD)
    if kind == "structure":
        return {n: _params(s, rng, depth + 1) for n, s in shape.members.items()
                if n in shape.required_members or rng.random() < 0.25}
    if kind == "list":
        return [_params(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 2))]
    if kind == "map":
        return {"k": _params(shape.value, rng, depth + 1)}
    enum = getattr(shape, "enum", None)
    return {"string": rng.choice(enum) if enum else "abc", "integer": 5, "long": 5, "double": 1.5,
            "float": 1.5, "boolean": True, "timestamp": "2026-01-01T00:00:00Z", "blob": "data"}.get(kind, "x")


def test_whatever_botocore_refuses_validate_refuses() -> None:
    """Random params for a few operations: each set botocore's ParamValidator refuses, `validate`'s
    check refuses too (validate may be stricter: enums, booleans for integers)."""
    import random

    from hybridops.runbook import botocore_check

    rng = random.Random(12)
    missed = []
    for _ in range(600):
        service, operation = rng.choice(_OPS)
        model = botocore_check.operation_model(service, operation)
        assert model is not None
        params = _params(model.input_shape, rng)
        if not isinstance(params, dict):
            continue
        found: list[str] = []
        botocore_check.check_call(service, operation, params, ("aws",),
                                  lambda loc, msg, key, found=found: found.append(msg))
        if not found and _botocore_refuses(service, operation, params):
            missed.append((service, operation, params))
    assert missed == []


@pytest.mark.parametrize("start", [10**20, "100000000000000000000", "yesterday"])
def test_a_rendered_timestamp_botocore_cannot_read_fails_the_step_before_sending(start: Any) -> None:
    """What `validate` checks in a literal, a templated value meets at run time: botocore refuses it
    before anything is sent, and the step fails with one line (not an unexpected RuntimeError)."""
    from hybridops.engine.retry import CallFailure
    from hybridops.engine.steps.aws import AwsRunner

    # a closed port: a request that did leave would fail differently (cannot reach the endpoint)
    runner = AwsRunner(profile=None, region="eu-west-1", endpoint_url="http://127.0.0.1:9", credentials=("x", "y"))
    with pytest.raises(CallFailure, match="invalid parameters") as caught:
        runner.call("cloudwatch", "GetMetricStatistics", {
            "Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "StartTime": start,
            "EndTime": "2026-01-01T00:00:00Z", "Period": 60, "Statistics": ["Average"]})
    assert "cannot reach" not in str(caught.value)


# --- whatever the model refuses, the schema refuses: mutations of the shipped runbooks ---------------

# What no JSON Schema can say: the syntax of JMESPath, conditions and regexes, a choice's default among
# its options and unique option values (no schema refers to other data), and NaN (no comparison holds).
BEYOND_A_SCHEMA = ("bad JMESPath", "bad expression", "bad regular expression", "is not one of the options",
                   "option values must be unique", "not nan")
_MUTANTS = [None, 0, -1, 1.5, "x", "", "  ", [], {}, ["a"], {"a": 1}, True, float("inf"), "0s", "2m", "25h",
            "bad-name", "{{ x }}", 10**9, "500ms", "1e308s", {"service": "ecs", "operation": "ListClusters"}]
_KEYS = ["aws", "http", "manual", "wait", "until", "while", "every", "capture", "undo", "mutating", "region",
         "retries", "timeout", "x"]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Any:
    yield path, value
    if isinstance(value, dict):
        for k, item in value.items():
            yield from _nodes(item, (*path, k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))


def _mutate(doc: Any, rng: Any) -> None:
    import copy

    for _ in range(rng.randint(1, 2)):
        path, node = rng.choice(list(_nodes(doc))[1:])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        roll = rng.random()
        if roll < 0.5:
            parent[path[-1]] = copy.deepcopy(rng.choice(_MUTANTS))
        elif roll < 0.7 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(node, dict):
            node[rng.choice(_KEYS)] = copy.deepcopy(rng.choice(_MUTANTS))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(node))


def test_whatever_the_model_refuses_the_schema_refuses() -> None:
    import copy
    import random

    from pydantic import ValidationError

    from hybridops.runbook.model import Runbook

    shipped = [yaml.safe_load(p.read_text()) for p in SHIPPED]
    rng = random.Random(7)
    missed = []
    for _ in range(500):
        doc = copy.deepcopy(rng.choice(shipped))
        _mutate(doc, rng)
        try:
            Runbook.model_validate(doc)
            continue
        except ValidationError as exc:
            messages = [e["msg"] for e in exc.errors()]
        if any(m in msg for msg in messages for m in BEYOND_A_SCHEMA):
            continue
        if not any(True for _ in _validator().iter_errors(doc)):
            missed.append(messages[0])
    assert missed == []
