"""Runbook templates and conditions (Jinja2) in SSM Automation's terms.

- `ssm_text`: a string with `{{ name }}` becomes SSM's `{{ Param }}` or `{{ Step.Output }}`; `run_id` is the
  execution id (`{{ automation:EXECUTION_ID }}`); `int`, `float`, `string` and `trim` filters are dropped
  (SSM types the value itself), and so is `default(...)` over a document parameter (it always has a
  value). Anything else (a function such as `ago_iso('5m')`, an `if` expression, `steps[...]`, a filter
  with no SSM meaning) is NotExpressible.
- `branch_choices`: a condition as `aws:branch` choices: comparisons of one value with a literal
  (`StringEquals`, `NumericGreater`, `BooleanEquals`...), `not`, `and` (`And`), `or` and `in [...]` (one
  choice each), a bare name (truthy).
- `python_condition`: a condition as a Python expression over `v[name]`, for the steps that evaluate it
  in an `aws:executeScript` (polls).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hybridops.export.selector import NotExpressible

RUN_ID = "automation:EXECUTION_ID"
DROPPED_FILTERS = frozenset({"int", "float", "string", "trim"})


@dataclass(frozen=True)
class Ref:
    """What a runbook name is in the document: `{{ ref }}` and its SSM type."""

    ref: str
    type: str = "String"
    parameter: bool = False  # a document parameter (always has a value), not a step's output


Scope = Mapping[str, Ref]


@cache
def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment()


def _expression(source: str) -> nodes.Expr:
    template = _env().parse("{{ " + source + " }}")
    out = template.body[0]
    assert isinstance(out, nodes.Output) and len(out.nodes) == 1
    expr = out.nodes[0]
    assert isinstance(expr, nodes.Expr)
    return expr


def _shown(node: nodes.Node, source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= 80 else text[:77] + "..."


def _reference(node: nodes.Expr, scope: Scope, source: str, incident: str) -> str:
    """The SSM text of one `{{ expr }}`."""
    filters: list[nodes.Filter] = []
    while isinstance(node, nodes.Filter) and node.node is not None:
        filters.append(node)
        node = node.node
    if not isinstance(node, nodes.Name):
        raise NotExpressible(f"{{{{ {_shown(node, source)} }}}} has no SSM form")
    if node.name == "run_id" and node.name not in scope:
        return "{{ " + RUN_ID + " }}"
    if node.name == "incident" and node.name not in scope and not filters:
        return incident
    ref = scope.get(node.name)
    if ref is None:
        raise NotExpressible(f"{{{{ {_shown(node, source)} }}}}: no document parameter or step output holds "
                             f"{node.name!r}")
    for f in filters:
        if f.name in DROPPED_FILTERS or (f.name in ("default", "d") and ref.parameter):
            continue
        raise NotExpressible(f"{{{{ {_shown(node, source)} }}}}: the filter {f.name!r} has no SSM form")
    return "{{ " + ref.ref + " }}"


def ssm_text(text: str, scope: Scope, *, incident: str = "",
             on_problem: Callable[[str], str] | None = None) -> str:
    """`text` with its templates in SSM's form. An expression with none raises NotExpressible, or, with
    `on_problem`, is replaced by what `on_problem(message)` returns (a message can still be read)."""
    if "{{" not in text and "{%" not in text and "{#" not in text:
        return text
    try:
        template = _env().parse(text)
    except Exception as exc:  # noqa: BLE001 (the runbook validated: this is a template Jinja itself refuses)
        raise NotExpressible(f"bad template: {exc}") from None
    parts: list[str] = []
    for node in template.body:
        if not isinstance(node, nodes.Output):
            problem = "a Jinja statement ({% ... %}) has no SSM form"
            if on_problem is None:
                raise NotExpressible(problem)
            parts.append(on_problem(problem))
            continue
        for item in node.nodes:
            if isinstance(item, nodes.TemplateData):
                parts.append(item.data)
                continue
            try:
                parts.append(_reference(item, scope, _source_of(text, item), incident))
            except NotExpressible as exc:
                if on_problem is None:
                    raise
                parts.append(on_problem(str(exc)))
    return "".join(parts)


def _source_of(text: str, node: nodes.Node) -> str:
    """The source of the `{{ }}` a node came from (by its line: good enough to name it in a message)."""
    lines = text.splitlines() or [text]
    line = lines[min(max(node.lineno - 1, 0), len(lines) - 1)]
    start = line.find("{{")
    end = line.find("}}", start)
    return line[start + 2:end].strip() if start >= 0 and end > start else line.strip()


def ssm_value(value: Any, scope: Scope, *, incident: str = "") -> Any:
    """A parameter value (strings, lists, mappings) with every template in SSM's form."""
    if isinstance(value, str):
        return ssm_text(value, scope, incident=incident)
    if isinstance(value, list):
        return [ssm_value(v, scope, incident=incident) for v in value]
    if isinstance(value, dict):
        return {k: ssm_value(v, scope, incident=incident) for k, v in value.items()}
    return value


# --- aws:branch ------------------------------------------------------------------------------------

_NUMERIC = {"gt": "NumericGreater", "lt": "NumericLesser", "gteq": "NumericGreaterOrEquals",
            "lteq": "NumericLesserOrEquals"}
_FLIP = {"gt": "lt", "lt": "gt", "gteq": "lteq", "lteq": "gteq", "eq": "eq", "ne": "ne"}


def branch_choices(condition: str, scope: Scope) -> list[dict[str, Any]]:
    """The choices (without NextStep) of which any one holding means the condition holds."""
    expr = _expression(condition)
    return [_conjunction(d, scope, condition) for d in _disjuncts(expr, scope, condition)]


def _disjuncts(expr: nodes.Expr, scope: Scope, source: str) -> list[nodes.Expr]:
    if isinstance(expr, nodes.Or):
        return [*_disjuncts(expr.left, scope, source), *_disjuncts(expr.right, scope, source)]
    if isinstance(expr, nodes.Compare) and len(expr.ops) == 1 and expr.ops[0].op == "in" \
            and isinstance(expr.ops[0].expr, nodes.List | nodes.Tuple):
        return [nodes.Compare(expr.expr, [nodes.Operand("eq", item)]) for item in expr.ops[0].expr.items]
    return [expr]


def _conjunction(expr: nodes.Expr, scope: Scope, source: str) -> dict[str, Any]:
    items: list[nodes.Expr] = []

    def flatten(e: nodes.Expr) -> None:
        if isinstance(e, nodes.And):
            flatten(e.left)
            flatten(e.right)
        else:
            items.append(e)

    flatten(expr)
    simple = [_simple(e, scope, source) for e in items]
    return simple[0] if len(simple) == 1 else {"And": simple}


def _simple(expr: nodes.Expr, scope: Scope, source: str, negate: bool = False) -> dict[str, Any]:
    if isinstance(expr, nodes.Not):
        return _simple(expr.node, scope, source, not negate)
    if isinstance(expr, nodes.Compare) and len(expr.ops) == 1:
        op, right = expr.ops[0].op, expr.ops[0].expr
        left = expr.expr
        if isinstance(left, nodes.Const) and not isinstance(right, nodes.Const):
            left, right, op = right, left, _FLIP.get(op, op)
        if isinstance(right, nodes.Const) and op in (*_NUMERIC, "eq", "ne"):
            ref = _branch_ref(left, scope, source)
            value = right.value
            if op == "ne":
                op, negate = "eq", not negate
            if op in _NUMERIC:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise NotExpressible(f"{_shown(expr, source)!r}: compares with a non-number")
                cond: dict[str, Any] = {"Variable": "{{ " + ref.ref + " }}", _NUMERIC[op]: value}
            else:
                cond = {"Variable": "{{ " + ref.ref + " }}", **_equals(value, expr, source)}
            return {"Not": cond} if negate else cond
    if isinstance(expr, nodes.Name | nodes.Filter):
        ref = _branch_ref(expr, scope, source)
        if ref.type == "Boolean":
            return {"Variable": "{{ " + ref.ref + " }}", "BooleanEquals": not negate}
        if ref.type == "Integer":
            cond = {"Variable": "{{ " + ref.ref + " }}", "NumericEquals": 0}
        elif ref.type == "String":
            cond = {"Variable": "{{ " + ref.ref + " }}", "StringEquals": ""}
        else:
            raise NotExpressible(f"{_shown(expr, source)!r}: the truth of a {ref.type} has no SSM test")
        return cond if negate else {"Not": cond}
    raise NotExpressible(f"{_shown(expr, source)!r} has no aws:branch form (comparisons of one value with a "
                         "literal, not, and, or, in [...])")


def _equals(value: Any, expr: nodes.Node, source: str) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BooleanEquals": value}
    if isinstance(value, int | float):
        return {"NumericEquals": value}
    if isinstance(value, str):
        return {"StringEquals": value}
    raise NotExpressible(f"{_shown(expr, source)!r}: compares with {value!r}")


def _branch_ref(expr: nodes.Expr, scope: Scope, source: str) -> Ref:
    while isinstance(expr, nodes.Filter) and expr.node is not None and expr.name in DROPPED_FILTERS:
        expr = expr.node
    if not isinstance(expr, nodes.Name):
        raise NotExpressible(f"{source.strip()!r}: {type(expr).__name__.lower()} has no aws:branch form "
                             "(its Variable is one parameter or step output)")
    ref = scope.get(expr.name)
    if ref is None:
        raise NotExpressible(f"{source.strip()!r}: no document parameter or step output holds {expr.name!r}")
    return ref


# --- Python (executeScript) -----------------------------------------------------------------------

_PY_OPS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}
_PY_FILTERS = {"int": "_int({})", "float": "_float({})", "string": "str({})", "lower": "str({}).lower()",
               "upper": "str({}).upper()", "length": "len({})", "trim": "str({}).strip()"}
PY_HELPERS = '''
def _int(x):
    try:
        return int(float(x))
    except (TypeError, ValueError):
        return 0


def _float(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0
'''


def python_condition(condition: str) -> tuple[str, set[str]]:
    """(a Python expression over the dict `v`, the names it reads), as Jinja would evaluate it for the
    forms used in conditions: comparisons, and/or/not, `in`, literals, lists, `.attr`, and the filters
    int, float, string, lower, upper, length, trim, default."""
    names: set[str] = set()
    return _py(_expression(condition), names, condition), names


def _py(e: nodes.Node, names: set[str], source: str) -> str:
    if isinstance(e, nodes.Name):
        names.add(e.name)
        return f"v.get({e.name!r})"
    if isinstance(e, nodes.Const):
        return repr(e.value)
    if isinstance(e, nodes.List | nodes.Tuple):
        return "[" + ", ".join(_py(i, names, source) for i in e.items) + "]"
    if isinstance(e, nodes.Not):
        return f"(not {_py(e.node, names, source)})"
    if isinstance(e, nodes.And):
        return f"({_py(e.left, names, source)} and {_py(e.right, names, source)})"
    if isinstance(e, nodes.Or):
        return f"({_py(e.left, names, source)} or {_py(e.right, names, source)})"
    if isinstance(e, nodes.Compare):
        out = _py(e.expr, names, source)
        for operand in e.ops:
            out += f" {_PY_OPS[operand.op]} {_py(operand.expr, names, source)}"
        return f"({out})"
    if isinstance(e, nodes.Getattr) and not e.attr.startswith("_"):
        return f"(({_py(e.node, names, source)}) or {{}}).get({e.attr!r})"
    if isinstance(e, nodes.Filter) and e.node is not None:
        inner = _py(e.node, names, source)
        if e.name in _PY_FILTERS and not e.args:
            return _PY_FILTERS[e.name].format(inner)
        if e.name in ("default", "d") and len(e.args) == 1:
            return f"(lambda x: {_py(e.args[0], names, source)} if x is None else x)({inner})"
    raise NotExpressible(f"{' '.join(source.split())!r}: {type(e).__name__.lower()} has no form the exported "
                         "script evaluates")
