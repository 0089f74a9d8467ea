"""Property-based tests (issue 12 §2): whatever a runbook file holds, the loader, the validator, `show`
and `incident --dry-run` raise nothing but the tool's own errors, and anything `validate` accepts,
`show` and `--dry-run` run without an unexpected error.

The shipped runbooks are mutated (keys dropped, duplicated, renamed, retyped; values swapped for
hostile ones and for random text) and YAML is generated from nothing. The default run tries a few
examples of each (seconds); `pytest -m fuzz tests/unit/test_fuzz.py` tries thousands.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridops.errors import HybridOpsError, RunbookInvalid
from hybridops.runbook.load import load_runbook, parse_yaml
from hybridops.runbook.validate import validate_runbook

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "runbooks").glob("*.yaml"))
ORIGINALS = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in SHIPPED}

FEW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 2**63, 10**30, -(10**30), 1e308, float("inf"), float("-inf"), float("nan"), 0.5, "",
    " ", "x" * 5000, "0s", "-1s", "999999999h", "1e9d", "end", "abort", "continue", [], {}, [None], {"": None},
    "{{ 'a' * 10**9 }}", "{{ 10 ** (10 ** 9) }}", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ '%999999999d' | format(1) }}", "{{ 'x' | center(10**9) }}", "{{", "}}", "{% if %}", "{{ nope }}",
    "{{ steps['nope'].status }}", "{{ now_ms() * 10**4000 }}", "{{ ago_ms('1e99d') }}", "/../../etc/passwd",
    "/{{ region }}", "services[0].", "[?", "`", "&foo", "*a", "!!python/name:os.system", "a\u202eb", "é" * 100,
    "\U0001f600", "line\nbreak", "tab\there", "%", "{}", "[]", "null", "~", "yes", "no", "0x10", "1_000", ".inf",
]

text_values = st.one_of(st.sampled_from(HOSTILE_VALUES), st.text(max_size=40),
                        st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True))


def locations(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a nested value (the value itself included)."""
    found = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            found += locations(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += locations(v, (*here, i))
    return found


def get(value: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        value = value[part]
    return value


def mutate(data: Any, draw: Callable[[Any], Any]) -> Any:
    """One random change at one random place."""
    loc = draw(st.sampled_from(locations(data)))
    if not loc:
        return draw(text_values) if draw(st.booleans()) and draw(st.booleans()) else data
    parent, key = get(data, loc[:-1]), loc[-1]
    op = draw(st.sampled_from(["drop", "duplicate", "retype", "rename", "swap", "wrap", "empty"]))
    if op == "drop":
        del parent[key]
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["id", "next", "goto", "when", "capture", "http", "aws", "poll", "check",
                                     "retries", "budget", "timeout", "mutating", "x-extra", str(key) + "s"]))] = (
            parent.pop(key))
    elif op == "swap":
        other = draw(st.sampled_from(locations(data)))
        if other and other[: len(loc)] != loc and loc[: len(other)] != other:
            parent[key] = copy.deepcopy(get(data, other))
    elif op == "wrap":
        parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
    elif op == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], dict | list | str) else None
    else:
        parent[key] = draw(text_values)
    return data


@st.composite
def mutated_runbooks(draw: Callable[[Any], Any]) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(ORIGINALS)))
    data = copy.deepcopy(ORIGINALS[name])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        data = mutate(data, draw)
    return name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


KEYS = st.sampled_from(["id", "title", "phases", "steps", "variables", "http", "aws", "check", "poll", "name",
                         "budget", "severity"]) | st.text(max_size=8)
yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
              st.sampled_from(HOSTILE_VALUES)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=25,
)


def load_and_validate(text: str, name: str) -> list[Any] | None:
    """The problems `validate` finds, or None when the file does not load; only our errors escape."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            loaded = load_runbook(path)
        except RunbookInvalid as exc:
            assert exc.problems and all(str(p).startswith(f"{path}:") for p in exc.problems)
            return None
        return validate_runbook(loaded)


def check_accepted_runs(cli: Any, text: str, name: str) -> None:
    """A runbook that `validate` accepts: `show` (text and JSON) and `incident --dry-run` end without an
    unexpected error."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8")
        for args in (["show", path], ["show", path, "--format", "json"], ["incident", path, "--dry-run"]):
            code, out, err = cli(args)
            assert "unexpected" not in err and "Traceback" not in err, (args, err)
            assert code in (0, 1, 3, 4), (args, code, err)


def _mutated(cli: Any, case: tuple[str, str]) -> None:
    name, text = case
    problems = load_and_validate(text, name)
    if problems == []:
        check_accepted_runs(cli, text, name)


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No cache of valid runbooks: each example is checked in full."""
    monkeypatch.setenv("HYBRIDOPS_CACHE_DIR", "off")


@FEW
@given(case=mutated_runbooks())
def test_mutated_shipped_runbooks_raise_only_our_errors(cli, quiet, case: tuple[str, str]) -> None:
    _mutated(cli, case)


@pytest.mark.fuzz
@MANY
@given(case=mutated_runbooks())
def test_mutated_shipped_runbooks_raise_only_our_errors_many(cli, quiet, case: tuple[str, str]) -> None:
    _mutated(cli, case)


def _generated(value: Any) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    load_and_validate(text, "generated.yaml")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(value=yaml_values)
def test_generated_yaml_raises_only_our_errors(quiet, value: Any) -> None:
    _generated(value)


@pytest.mark.fuzz
@MANY
@given(value=yaml_values)
def test_generated_yaml_raises_only_our_errors_many(quiet, value: Any) -> None:
    _generated(value)


def _raw(data: bytes) -> None:
    try:
        parse_yaml(data, "raw.yaml")
    except RunbookInvalid as exc:
        assert exc.problems
    except HybridOpsError as exc:  # pragma: no cover - shown if it happens
        pytest.fail(f"not a RunbookInvalid: {exc!r}")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_raise_only_our_errors(data: bytes) -> None:
    _raw(data)


@pytest.mark.fuzz
@MANY
@given(data=st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_raise_only_our_errors_many(data: bytes) -> None:
    _raw(data)


def test_every_shipped_runbook_survives_one_mutation_of_each_kind(cli, quiet) -> None:
    """Not random: the hostile values, each in place of every shipped runbook's first step's fields."""
    for name, original in ORIGINALS.items():
        step = original["phases"][0]["steps"][0]
        for key in list(step):
            for value in HOSTILE_VALUES[::5]:
                data = copy.deepcopy(original)
                data["phases"][0]["steps"][0][key] = value
                load_and_validate(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), name)
