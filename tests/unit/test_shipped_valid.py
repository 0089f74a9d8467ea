"""Every shipped runbook validates, and a typo in one is reported at its line."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import hybridops
from hybridops.runbook.load import LoadedRunbook, PathKey, load_runbook
from hybridops.runbook.model import AwsCall, HttpCall, Runbook
from hybridops.runbook.validate import validate_file

SHIPPED_DIR = Path(hybridops.__file__).parent / "runbooks"
SHIPPED = sorted(SHIPPED_DIR.glob("*.yaml"))
IDS = ["outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency"]
SCHEMA_LINE = "# yaml-language-server: $schema=../specs/runbook.schema.json"


def test_the_five_incidents_are_shipped() -> None:
    assert sorted(p.stem for p in SHIPPED) == sorted(IDS)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_runbook_is_valid(path: Path) -> None:
    assert [str(p) for p in validate_file(path).problems] == []
    assert path.read_text().splitlines()[0] == SCHEMA_LINE
    assert (path.parent / "../specs/runbook.schema.json").resolve().is_file()


def test_validate_command_passes_on_the_shipped_runbooks(cli) -> None:
    # The autouse fixture runs each test in tmp_path, so the default is the copies inside the package.
    assert cli("validate") == (0, "", f"{len(SHIPPED)} runbooks valid\n")


def calls(runbook: Runbook) -> Iterator[tuple[PathKey, AwsCall | HttpCall]]:
    """Every call with its location: steps, polls and undos."""
    for pi, phase in enumerate(runbook.phases):
        for si, step in enumerate(phase.steps):
            base: PathKey = ("phases", pi, "steps", si)
            if step.kind in ("aws", "http"):
                yield (*base, step.kind), step.body
            for name, holder in (("poll", getattr(step, "poll", None)), ("undo", step.undo)):
                if holder is not None:
                    yield (*base, name, "aws" if holder.aws else "http"), holder.call


KINDS = ("operation", "param", "admin path", "body field")


@cache
def loaded(path: Path) -> LoadedRunbook:
    return load_runbook(path)


def typo_sites(path: Path) -> list[tuple[str, PathKey, bool, str]]:
    """Every place a typo can go: (kind, location, the location is a key, the text to misspell)."""
    sites: list[tuple[str, PathKey, bool, str]] = []
    for loc, call in calls(loaded(path).runbook):
        if isinstance(call, AwsCall):
            sites.append(("operation", (*loc, "operation"), False, call.operation))
            sites.extend(("param", (*loc, "params", key), True, key) for key in call.params)
        else:
            if "{{" not in call.path:
                sites.append(("admin path", (*loc, "path"), False, call.path))
            if isinstance(call.body, dict):
                sites.extend(("body field", (*loc, "body", key), True, key) for key in call.body)
    return sites


def misspell(path: Path, tmp_path: Path, kind: str, loc: PathKey, key: bool, text: str) -> tuple[Path, int, str]:
    """A copy of `path` with `text` misspelt at `loc`: (the copy, the line, the misspelt text)."""
    line, col = loaded(path).source.locate(loc, key=key)
    lines = path.read_text().splitlines(keepends=True)
    at = lines[line - 1].index(text, col - 1)
    typo = text + "Zz"
    if kind == "admin path":  # misspell the first segment, not a path parameter's value
        head, sep, tail = text[1:].partition("/")
        typo = f"/{head}Zz{sep}{tail}"
    lines[line - 1] = lines[line - 1][:at] + typo + lines[line - 1][at + len(text) :]
    copy = tmp_path / path.name
    copy.write_text("".join(lines))
    return copy, line, typo


def test_every_kind_of_typo_has_somewhere_to_go() -> None:
    assert {site[0] for path in SHIPPED for site in typo_sites(path)} == set(KINDS)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_typo_in_a_shipped_runbook_is_reported_at_its_line(tmp_path: Path, path: Path) -> None:
    """Misspell operations, params, admin paths and body fields in turn: one problem, at that line.

    The first and the last site of each kind (each copy costs a YAML load, ~40 ms; all 136 sites take 7 s).
    """
    chosen = []
    for kind in KINDS:
        of_kind = [s for s in typo_sites(path) if s[0] == kind]
        chosen += of_kind[:1] + of_kind[1:][-1:]
    for kind, loc, key, text in chosen:
        copy, line, typo = misspell(path, tmp_path, kind, loc, key, text)
        problems = validate_file(copy).problems
        assert [(p.line, typo in p.message) for p in problems] == [(line, True)], (kind, [str(p) for p in problems])


def test_the_shipped_schema_accepts_the_shipped_runbooks() -> None:
    """What editors see through the `$schema` line agrees with the loader."""
    import json

    import yaml
    from jsonschema import Draft202012Validator

    schema = json.loads((SHIPPED_DIR.parent / "specs" / "runbook.schema.json").read_text())
    validator = Draft202012Validator(schema)
    for path in SHIPPED:
        data = yaml.safe_load(path.read_text())
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], path.name
