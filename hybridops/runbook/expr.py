"""Safe expressions: Jinja2's sandbox with StrictUndefined, for `{{ ... }}` in strings and for conditions.

A runbook never runs arbitrary code: the sandbox refuses attribute tricks, and an unknown name is an
error instead of an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


class ExpressionError(ValueError):
    """An expression does not parse or cannot be evaluated."""


@cache
def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["pct"] = lambda v, digits=1: f"{float(v):.{digits}f}%"
    return env


def is_template(text: object) -> bool:
    return isinstance(text, str) and ("{{" in text or "{%" in text)


def _whole_expression(text: str) -> str | None:
    """The inner expression when `text` is exactly one `{{ expr }}` (its value keeps its type)."""
    m = _WHOLE.match(text)
    if m and "{{" not in m.group(1) and "}}" not in m.group(1):
        return m.group(1)
    return None


@cache
def _compile_expression(source: str) -> Any:
    try:
        return _env().compile_expression(source, undefined_to_none=False)
    except TemplateError as exc:
        raise ExpressionError(f"bad expression {source.strip()!r}: {exc}") from None


@cache
def _compile_template(source: str) -> Any:
    try:
        return _env().from_string(source)
    except TemplateError as exc:
        raise ExpressionError(f"bad template {source!r}: {exc}") from None


def evaluate(condition: str, context: dict[str, Any]) -> Any:
    """Evaluate a condition such as `error_rate > 5` (braces optional)."""
    inner = _whole_expression(condition)
    fn = _compile_expression(inner if inner is not None else condition)
    try:
        value = fn(**context)
        if isinstance(value, Undefined):  # a bare unknown name is returned, not raised, by Jinja
            value._fail_with_undefined_error()
        return value
    except TemplateError as exc:
        raise ExpressionError(f"cannot evaluate {condition.strip()!r}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot evaluate {condition.strip()!r}: {exc}") from None


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template inside `value` (dicts and lists recursively).

    A string that is exactly one `{{ expr }}` keeps the expression's type, so `"{{ pct }}"` can be an
    integer in a request body; any other template renders to a string.
    """
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if not is_template(value):
        return value
    inner = _whole_expression(value)
    if inner is not None:
        return evaluate(inner, context)
    try:
        return _compile_template(value).render(**context)
    except TemplateError as exc:
        raise ExpressionError(f"cannot render {value!r}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot render {value!r}: {exc}") from None


def check_syntax(text: str, *, condition: bool = False) -> None:
    """Raise ExpressionError when `text` does not parse."""
    _parse(text, condition)


@cache
def references(text: str, *, condition: bool = False) -> frozenset[str]:
    """Names a template or condition reads (its free variables): kept, since finding them runs Jinja's
    code generator over the template, and validating a directory meets the same texts again."""
    return frozenset(meta.find_undeclared_variables(_parse(text, condition)))


@cache
def _parse(text: str, condition: bool) -> nodes.Template:
    source = text
    if condition and _whole_expression(text) is None:
        source = "{{ " + text + " }}"
    try:
        return _env().parse(source)
    except TemplateError as exc:
        raise ExpressionError(f"bad expression {text.strip()!r}: {exc}") from None


def walk_strings(value: Any) -> Iterator[str]:
    """Every string inside `value`, recursively (the places a template may hide)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk_strings(k)
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)


# Names every template and condition can read besides variables and captures. `steps` maps a step id
# to {"status": "ok" | "failed" | "skipped" | ..., "error": str | None}, e.g.
# `steps['invoke-bedrock'].status == 'failed'`.
BUILTIN_NAMES = frozenset({"ago_ms", "ago_iso", "now_ms", "now_iso", "steps", "run_id", "incident"})


def builtins(now: float) -> dict[str, Any]:
    """Time helpers bound to the run's clock (`now` is epoch seconds), for templates like
    `{{ ago_ms('15m') }}` (FilterLogEvents startTime) or `{{ ago_iso('5m') }}` (metric StartTime)."""
    from datetime import UTC, datetime

    from hybridops.durations import parse_duration

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "now_ms": lambda: int(now * 1000),
        "now_iso": lambda: iso(now),
        "ago_ms": lambda d: int((now - parse_duration(d)) * 1000),
        "ago_iso": lambda d: iso(now - parse_duration(d)),
    }
