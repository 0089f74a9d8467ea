"""Semantic checks of a loaded runbook, each problem positioned at the node that causes it.

The loader already checked YAML and the schema (keys, types, durations). Here: AWS calls against
botocore's service models, admin API requests against the OpenAPI spec, every name a template or
condition reads, every go-to target, unique ids and names, and the file name.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridops.errors import RunbookInvalid
from hybridops.runbook.expr import (
    BUILTIN_NAMES,
    STATIC_BUDGET,
    ExpressionError,
    check_bounded,
    is_template,
    references,
)
from hybridops.runbook.load import LoadedRunbook, PathKey, Problem, load_runbook, read_runbook_file
from hybridops.runbook.model import END, AnyStep, AwsCall, HttpCall, LogErrorsStep, LogJsonStep

# Keys whose strings are never templates: JMESPath, names, ids, go-to targets, regexes.
_NOT_TEMPLATES = frozenset(
    {"capture", "capture_status", "id", "next", "goto", "if_yes", "if_no", "if_true", "if_false", "type_pattern"}
)
# Keys whose strings are conditions (a bare expression, braces optional).
_CONDITIONS = {("when",), ("poll", "until"), ("poll", "while"), ("check", "condition")}
# Places that run after the step's own call answered, so they can read its captures.
_SEES_OWN = {("poll", "until"), ("poll", "while"), ("poll", "show")}
_STEP_REF = re.compile(r"""\bsteps\s*\[\s*(['"])(.*?)\1\s*\]""")


@dataclass(frozen=True)
class FileReport:
    """The problems found in one runbook file (none: it is valid)."""

    path: Path
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


# Each hint compares the word with every choice (some milliseconds among thousands of step ids): a
# file with thousands of mistakes gets hints on the first ones only, so it is still checked in seconds.
_HINTS_PER_FILE = 100


def _hint(word: str, choices: Iterable[str], left: list[int] | None = None) -> str:
    if left is not None:
        if left[0] <= 0:
            return ""
        left[0] -= 1
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def captures(step: AnyStep) -> dict[str, PathKey]:
    """Names a step captures, each with its location relative to the step (undo's are not kept)."""
    return step.captures()


def _strings(value: Any, sub: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Every string in a step's dump with its location, skipping keys that never hold templates."""
    if isinstance(value, str):
        yield sub, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_TEMPLATES:
                yield from _strings(item, (*sub, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*sub, i))


class _Validator:
    def __init__(self, loaded: LoadedRunbook) -> None:
        self.loaded = loaded
        self.runbook = loaded.runbook
        self.shown = str(loaded.path)
        self.problems: list[Problem] = []
        self.step_ids = set(self.runbook.step_ids())
        self.hints_left = [_HINTS_PER_FILE]
        self.static_budget = [STATIC_BUDGET]  # what computing constant templates may cost this file
        # capture name -> (step id, line) of the first step that captures it, for "captured later" hints
        self.later: dict[str, tuple[str, int]] = {}
        for pi, si, step in self.steps():
            for name, sub in captures(step).items():
                self.later.setdefault(name, (step.id, self.line(("phases", pi, "steps", si, *sub))))

    def add(self, loc: PathKey, message: str, *, key: bool = False) -> None:
        line, col = self.loaded.source.locate(loc, key=key)
        self.problems.append(Problem(self.shown, line, col, message))

    def line(self, loc: PathKey) -> int:
        return self.loaded.source.locate(loc)[0]

    def run(self) -> list[Problem]:
        self.check_file_name()
        self.check_unique()
        self.check_variables()
        self.check_gotos()
        self.check_references()
        self.check_calls()
        return sorted(set(self.problems))

    # --- identity -----------------------------------------------------------------------------------

    def check_file_name(self) -> None:
        stem = self.loaded.path.stem
        if stem != self.runbook.id:
            self.add(("id",), f"runbook id {self.runbook.id!r} does not match the file name "
                     f"{self.loaded.path.name!r}: rename the file to {self.runbook.id}.yaml or change the id")

    def check_unique(self) -> None:
        phases: dict[str, PathKey] = {}
        steps: dict[str, PathKey] = {}
        for pi, phase in enumerate(self.runbook.phases):
            loc: PathKey = ("phases", pi, "id")
            if phase.id in phases:
                self.add(loc, f"duplicate phase id {phase.id!r} (first at line {self.line(phases[phase.id])})")
            phases.setdefault(phase.id, loc)
            for si, step in enumerate(phase.steps):
                loc = ("phases", pi, "steps", si, "id")
                if step.id == END:
                    self.add(loc, f"step id {END!r} is reserved: a go-to `{END}` finishes the run")
                elif step.id in steps:
                    self.add(loc, f"duplicate step id {step.id!r} (first at line {self.line(steps[step.id])})")
                steps.setdefault(step.id, loc)

    def check_variables(self) -> None:
        seen: dict[str, PathKey] = {}
        names = {v.name for v in self.runbook.variables} | BUILTIN_NAMES
        for i, var in enumerate(self.runbook.variables):
            loc: PathKey = ("variables", i, "name")
            if var.name in seen:
                self.add(loc, f"duplicate variable {var.name!r} (first at line {self.line(seen[var.name])})")
            elif var.name in BUILTIN_NAMES:
                self.add(loc, f"variable {var.name!r} has the name of a builtin; choose another")
            seen.setdefault(var.name, loc)
            if isinstance(var.default, str):
                self.check_text(var.default, ("variables", i, "default"), names - {var.name},
                                f"variable {var.name}", condition=False)

    # --- go-to targets ------------------------------------------------------------------------------

    def check_gotos(self) -> None:
        ids = self.step_ids
        for pi, si, step in self.steps():
            base: PathKey = ("phases", pi, "steps", si)
            for sub, target in _targets(step):
                if target != END and target not in ids:
                    self.add((*base, *sub), f"step {step.id}: {'.'.join(map(str, sub))}: no step {target!r} to "
                             f"go to{_hint(target, ids | {END}, self.hints_left)}")

    # --- references ---------------------------------------------------------------------------------

    def steps(self) -> Iterator[tuple[int, int, AnyStep]]:
        for pi, phase in enumerate(self.runbook.phases):
            for si, step in enumerate(phase.steps):
                yield pi, si, step

    def check_references(self) -> None:
        known = {v.name for v in self.runbook.variables} | BUILTIN_NAMES
        for pi, si, step in self.steps():
            base: PathKey = ("phases", pi, "steps", si)
            own = captures(step)
            for name, sub in own.items():
                if name in BUILTIN_NAMES:
                    self.add((*base, *sub), f"step {step.id}: capture {name!r} has the name of a builtin; "
                             "choose another", key=sub[-2] == "capture")
            dump = step.model_dump(by_alias=True, exclude_unset=True, mode="json")
            for sub, text in _strings(dump):
                sees_own = sub[:2] in _SEES_OWN or sub[:1] == ("undo",)
                condition = sub[:2] in _CONDITIONS or sub[:1] in _CONDITIONS
                self.check_text(text, (*base, *sub), known, f"step {step.id}", condition=condition, step_id=step.id,
                                also=own.keys() if sees_own else ())
            known.update(own)  # in place: a copy per step made 10,000-step runbooks quadratic

    def check_text(
        self, text: str, loc: PathKey, known: set[str], who: str, *, condition: bool, step_id: str | None = None,
        also: Collection[str] = (),
    ) -> None:
        if not condition and not is_template(text):
            return
        try:
            names = references(text, condition=condition)
            check_bounded(text, condition=condition, budget=self.static_budget)
        except ExpressionError as exc:
            self.add(loc, f"{who}: {exc}")
            return
        for name in sorted(names - known):
            if name in also:
                continue
            if name in self.later and self.later[name][0] == step_id:
                self.add(loc, f"{who}: {name!r} is captured by this same step, so it is not set yet here; "
                         "read it in a later step")
            elif name in self.later:
                by, line = self.later[name]
                self.add(loc, f"{who}: {name!r} is captured later, by step {by!r} (line {line}); "
                         "only variables and earlier captures can be read here")
            else:
                self.add(loc, f"{who}: unknown name {name!r}{_hint(name, known, self.hints_left)}; declare it under "
                         "`variables` or capture it in an earlier step")
        if "steps" in names:
            for match in _STEP_REF.finditer(text):
                ref = match.group(2)
                if ref not in self.step_ids:
                    self.add(loc, f"{who}: steps[{ref!r}]: no such step{_hint(ref, self.step_ids, self.hints_left)}")

    # --- calls --------------------------------------------------------------------------------------

    def check_calls(self) -> None:
        from hybridops.runbook import botocore_check, capture_check, openapi_check

        for pi, si, step in self.steps():
            base: PathKey = ("phases", pi, "steps", si)
            for sub, call in _calls(step):
                who = f"step {step.id}" + (" undo" if sub[:1] == ("undo",) else "")

                def report(loc: PathKey, message: str, key: bool, who: str = who) -> None:
                    self.add(loc, f"{who}: {message}", key=key)

                loc = (*base, *sub)
                declared = step.mutating if sub[:1] != ("undo",) else None  # an undo is always a mutation
                if isinstance(call, AwsCall):
                    botocore_check.check_declared_read(call.service, call.operation, declared, (*base, "mutating"),
                                                       report)
                    botocore_check.check_call(call.service, call.operation, call.params, loc, report)
                    if call.region is not None:
                        botocore_check.check_region(call.region, (*loc, "region"), report)
                        botocore_check.check_service_region(call.service, call.region, (*loc, "region"), report)
                    answer = capture_check.aws_output(call.service, call.operation)
                else:
                    openapi_check.check_declared_read(call.method, call.path, declared, (*base, "mutating"), report)
                    openapi_check.check_request(call.method, call.path, call.body, loc, report)
                    answer = capture_check.http_response(call.method, call.path, call.expect)
                if answer is not None:
                    self.check_captures(call.capture, answer, loc, who)
            if isinstance(step, LogErrorsStep | LogJsonStep):
                kind, body = step.KIND, step.body

                def report_log(loc: PathKey, message: str, key: bool, who: str = f"step {step.id}") -> None:
                    self.add(loc, f"{who}: {message}", key=key)

                botocore_check.check_log_group(body.log_group, (*base, kind, "log_group"), report_log)
                if body.region is not None:
                    botocore_check.check_region(body.region, (*base, kind, "region"), report_log)
                    botocore_check.check_service_region("logs", body.region, (*base, kind, "region"), report_log)


    def check_captures(self, capture: dict[str, str], answer: Any, loc: PathKey, who: str) -> None:
        """Each capture's JMESPath names only fields the call's answer can have."""
        from hybridops.runbook.capture_check import check_query

        for name, query in capture.items():
            at = (*loc, "capture", name)

            def report(message: str, at: PathKey = at, name: str = name) -> None:
                self.add(at, f"{who}: capture {name}: {message}")

            check_query(query, answer, report)


def _targets(step: AnyStep) -> Iterator[tuple[PathKey, str]]:
    return step.targets()


def _calls(step: AnyStep) -> Iterator[tuple[PathKey, AwsCall | HttpCall]]:
    return step.calls()


def validate_runbook(loaded: LoadedRunbook) -> list[Problem]:
    """Every semantic problem of a runbook that loaded (structure already checked), sorted; a runbook
    this set-up found valid before, byte for byte, is not checked again (`hybridops.runbook.cache`)."""
    from hybridops.runbook.cache import known_valid, remember_valid

    if known_valid(loaded.path.name, loaded.sha256):
        return []
    problems = _Validator(loaded).run()
    if not problems:
        remember_valid(loaded.path.name, loaded.sha256)
    return problems


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Files to validate (a directory gives its runbook files) and problems with the paths themselves."""
    from hybridops.runbook.catalog import runbook_files

    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = runbook_files(path)
            if not found:
                problems.append(Problem(str(path), 1, 1, "no runbook files (*.yaml) in this directory"))
            files.extend(found)
        else:
            files.append(path)
    return files, problems


def checked(loaded: LoadedRunbook) -> LoadedRunbook:
    """`loaded`, once validation finds no problem; RunbookInvalid with every problem otherwise."""
    problems = validate_runbook(loaded)
    if problems:
        raise RunbookInvalid(problems)
    return loaded


def validate_file(path: Path) -> FileReport:
    """Load and validate one file; a file that does not load reports its load problems. A file found
    valid before (the same bytes, under the same set-up) is not even parsed again."""
    from hybridops.runbook.cache import known_valid

    try:
        data = read_runbook_file(path)
        if known_valid(path.name, hashlib.sha256(data).hexdigest()):
            return FileReport(path, ())
        loaded = load_runbook(path, data)
    except RunbookInvalid as exc:
        return FileReport(path, tuple(exc.problems))
    return FileReport(path, tuple(validate_runbook(loaded)))


def validate_files(paths: Iterable[Path]) -> tuple[list[FileReport], list[Problem]]:
    """One report per runbook file under `paths`, plus problems with paths that hold no runbook."""
    files, problems = expand_paths(paths)
    return [validate_file(f) for f in files], problems


def validate_paths(paths: Iterable[Path]) -> list[Problem]:
    """Every problem of every runbook under `paths` (directories expand to their *.yaml)."""
    reports, problems = validate_files(paths)
    return [*problems, *(p for r in reports for p in r.problems)]
