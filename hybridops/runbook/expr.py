"""Safe expressions: Jinja2's sandbox with StrictUndefined, for `{{ ... }}` in strings and for conditions.

A runbook never runs arbitrary code: the sandbox refuses attribute tricks, and an unknown name is an
error instead of an empty string. Nor may it compute without bound: the tool runs while things are
already broken, so a template such as `'a' * 10**9`, `10 ** 10**9`, nested loops or a macro that calls
itself must fail at once rather than eat the machine. Every evaluation is metered (`_Meter`): each
operator, call, filter, attribute, loop turn and output chunk costs a unit of work and what it makes
counts against a size budget; the operations that allocate in one C call (repeating, powers,
padding, format widths, joins) are checked before they run, so no single step of the evaluation is
long and Ctrl-C / SIGTERM (raised by the run's signal handler between bytecodes) stop it at once.
What a template computes from constants alone is checked at validation (`check_bounded`).
"""

from __future__ import annotations

import inspect
import re
import threading
import types
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, update_wrapper
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer

from hybridops.errors import HybridOpsError

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)

# What one evaluation may compute. Generous for any runbook (its templates build ids, paths, small
# request bodies), small enough that the worst case is a fraction of a second and a few MB.
MAX_TEXT = 1_000_000  # characters (or bytes) of one value
MAX_ITEMS = 100_000  # elements of one list, tuple, dict or range
MAX_INT_BITS = 16_384  # bits of one integer (about 4,900 digits; Python prints at most 4,300)
MAX_OPS = 200_000  # units of work: operators, calls, filters, attributes, loop turns, output chunks
MAX_PRODUCED = 16_000_000  # characters / elements made over one evaluation (bounds quadratic growth)
MAX_DEPTH = 50  # nested calls (macros calling macros, recursive loops)


class ExpressionError(ValueError):
    """An expression does not parse or cannot be evaluated."""


class TooCostly(ExpressionError):
    """An evaluation would exceed one of the limits above."""


class _Meter:
    """The work and size one top-level evaluation has used so far."""

    __slots__ = ("depth", "ops", "produced")

    def __init__(self) -> None:
        self.ops = 0
        self.produced = 0
        self.depth = 0


_local = threading.local()


def _meter() -> _Meter | None:
    return getattr(_local, "meter", None)


@contextmanager
def _metered() -> Iterator[_Meter]:
    """One meter for an evaluation and whatever it evaluates inside (a dict's values share one)."""
    outer = _meter()
    if outer is not None:
        yield outer
        return
    _local.meter = m = _Meter()
    try:
        yield m
    finally:
        _local.meter = None


def _tick(units: int = 1) -> None:
    m = _meter()
    if m is not None:
        m.ops += units
        if m.ops > MAX_OPS:
            raise TooCostly(f"more than {MAX_OPS:,} operations (a loop or recursion too long for a runbook)")


def _size(value: Any) -> int:
    """What a value weighs against the limits: its length, or an integer's bits over 64."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return value.bit_length() // 64 + 1
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset | range):
        return len(value)
    return 1


def _scan(*values: Any) -> None:
    """Charge the work of reading `values` (a search, a comparison, a filter over a long text): a
    unit per 64 characters or items, so repeating such work over large values cannot run long."""
    units = sum(_size(v) for v in values if not isinstance(v, int)) // 64
    if units:
        _tick(units)


def _check_value(value: Any) -> Any:
    """Refuse a value beyond the size limits and count what it weighs; the value, unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TooCostly(f"an integer of {value.bit_length():,} bits (the limit is {MAX_INT_BITS:,})")
    elif isinstance(value, str | bytes | bytearray):
        _check_length(len(value), "characters")
    elif isinstance(value, list | tuple | dict | set | frozenset | range):
        _check_length(len(value), "items")
    m = _meter()
    if m is not None:
        m.produced += _size(value)
        if m.produced > MAX_PRODUCED:
            raise TooCostly(f"more than {MAX_PRODUCED:,} characters or items made in one evaluation")
    return value


def _check_length(n: int, what: str) -> None:
    limit = MAX_TEXT if what == "characters" else MAX_ITEMS
    if n > limit:
        raise TooCostly(f"a value of {n:,} {what} (the limit is {limit:,})")


def _int_arg(value: Any, what: str, limit: int = MAX_TEXT) -> None:
    """An integer argument that sizes what a call makes (a width, a count) must be under `limit`."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
        raise TooCostly(f"{what} {value:,} is too large (the limit is {limit:,})")


def _seq_len(value: Any) -> int | None:
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value)
    return None


def _before_binop(op: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would exceed the limits, before Python allocates it."""
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            length = _seq_len(seq)
            if length is not None and isinstance(n, int) and n > 0:
                _check_length(length * n, "characters" if isinstance(seq, str | bytes) else "items")
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > MAX_INT_BITS:
                raise TooCostly(f"an integer of about {bits:,} bits (the limit is {MAX_INT_BITS:,})")
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = (abs(left).bit_length() - 1) * right
            if bits > MAX_INT_BITS:
                raise TooCostly(f"{left} ** {right} has about {bits:,} bits (the limit is {MAX_INT_BITS:,})")
    elif op == "+":
        a, b = _seq_len(left), _seq_len(right)
        if a is not None and b is not None:
            _check_length(a + b, "characters" if isinstance(left, str | bytes) else "items")
    elif op == "%" and isinstance(left, str):
        _check_percent_format(left, right)


# printf-style: %[(key)][flags][width][.precision][length]type; `*` takes the width from the arguments
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)")
_DIGITS = re.compile(r"\d+")


def _check_percent_format(fmt: str, args: Any) -> None:
    total = 0
    star = False
    for m in _PERCENT.finditer(fmt):
        for part in (m.group(1), m.group(2)):
            if part == "*":
                star = True
            elif part:
                total += int(part) if len(part) < 10 else MAX_TEXT + 1
    if total > MAX_TEXT:
        raise TooCostly(f"format widths add up to {total:,} characters (the limit is {MAX_TEXT:,})")
    if star:
        for arg in args if isinstance(args, tuple | list) else (args,):
            _int_arg(arg, "a `*` format width")


def _check_format_spec(spec: str) -> None:
    """`{:>999999999}`: a width or precision in a str.format spec."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 9 or int(digits) > MAX_TEXT:
            raise TooCostly(f"format width {digits} is too large (the limit is {MAX_TEXT:,})")


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(format_spec)
        _tick()
        return _check_value(super().format_field(value, format_spec))


# str / bytes / int methods that allocate in proportion to an argument, checked before the call
def _before_method(name: str, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill"):
        for v in values[:1]:
            _int_arg(v, f"{name} width")
    elif name == "expandtabs" and isinstance(owner, str):
        size = values[0] if values else 8
        if isinstance(size, int):
            _check_length(len(owner) + owner.count("\t") * size, "characters")
    elif name == "to_bytes":
        for v in values[:1]:
            _int_arg(v, "to_bytes length")
    elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
            times = owner.count(old) if old else len(owner) + 1
            if isinstance(count, int) and count >= 0:
                times = min(times, count)
            _check_length(len(owner) + times * (len(new) - len(old)), "characters")
    elif name == "join" and isinstance(owner, str | bytes) and args and isinstance(args[0], list | tuple):
        items = args[0]
        _check_length(sum(_size(x) for x in items) + len(owner) * max(len(items) - 1, 0), "characters")


# --- filters: each one metered; those that allocate in proportion to an argument checked first -------


def _join_size(items: list[Any], sep: Any, attribute: Any, env: Any) -> int:
    if attribute is not None:
        from jinja2.filters import make_attrgetter

        get = make_attrgetter(env, attribute)
        items = [get(x) for x in items]
    return sum(len(x) if isinstance(x, str) else len(str(x)) for x in items) + len(str(sep)) * max(len(items) - 1, 0)


def _check_filter(name: str, bound: inspect.BoundArguments) -> None:
    a = bound.arguments
    if name == "center":
        _int_arg(a.get("width"), "center width")
    elif name == "indent":
        width, text = a.get("width", 4), str(a.get("s", ""))
        pad = width if isinstance(width, int) else len(str(width))
        _int_arg(pad, "indent width")
        _check_length(len(text) + (text.count("\n") + 1) * max(pad, 0), "characters")
    elif name == "format":
        fmt = a.get("value")
        if isinstance(fmt, str):
            _check_percent_format(fmt, a.get("args") or tuple((a.get("kwargs") or {}).values()))
    elif name == "replace":
        s, old, new, count = (a.get(k) for k in ("s", "old", "new", "count"))
        if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
            _before_method("replace", s, (old, new, -1 if count is None else count), {})
    elif name == "wordwrap":
        s, wrap = str(a.get("s", "")), a.get("wrapstring")
        if isinstance(wrap, str) and len(wrap) > 1:
            _check_length(len(s) * len(wrap), "characters")
    elif name == "batch":
        _int_arg(a.get("linecount"), "batch size", MAX_ITEMS)
    elif name == "slice":
        _int_arg(a.get("slices"), "number of slices", MAX_ITEMS)
    elif name == "round":
        _int_arg(a.get("precision"), "round precision", 1000)
    elif name == "tojson":
        _int_arg(a.get("indent"), "tojson indent", 100)
    elif name == "truncate":
        _int_arg(a.get("length"), "truncate length", MAX_TEXT)
    elif name == "sum":
        start = a.get("start", 0)
        if not isinstance(start, int | float):
            raise TooCostly("sum adds numbers; use join for strings and lists")
    elif name == "pct":
        _int_arg(a.get("digits"), "pct digits", 30)


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    sig = inspect.signature(fn)
    checked = name in _CHECKED_FILTERS
    joins = name == "join"
    # Jinja's async-ready filters take the context the marker asks for without naming it in their
    # (wrapped) signature: that argument is not bound.
    skip = 1 if (getattr(fn, "jinja_pass_arg", None) is not None
                 and next(iter(sig.parameters), "") not in ("eval_ctx", "environment", "env", "context")) else 0

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if len(args) > skip:
            _scan(args[skip])
        if joins:  # the separator and every item are known only once the items are
            env = args[0].environment
            bound = sig.bind(*args, **kwargs)
            items = list(bound.arguments.get("value", ()))
            _tick(len(items))
            _check_length(_join_size(items, bound.arguments.get("d", ""), bound.arguments.get("attribute"), env),
                          "characters")
            bound.arguments["value"] = items
            return _check_value(fn(*bound.args, **bound.kwargs))
        if checked:
            try:
                bound = sig.bind(*args[skip:], **kwargs)
            except TypeError:
                pass  # the filter itself says what is wrong with its arguments
            else:
                _check_filter(name, bound)
        return _check_value(fn(*args, **kwargs))

    return update_wrapper(bounded, fn)  # keeps jinja's pass_context / pass_environment marker


_CHECKED_FILTERS = frozenset({"center", "indent", "format", "replace", "wordwrap", "batch", "slice", "round",
                              "tojson", "truncate", "sum", "pct"})


def _pct(v: Any, digits: int = 1) -> str:
    return f"{float(v):.{digits}f}%"


def _bounded_range(*args: int) -> range:
    for a in args:
        _int_arg(a, "range bound", 1 << 62)
    r = range(*args)
    _check_length(len(r), "items")
    return r


def _counted(iterable: Any) -> Iterator[Any]:
    """What a `for` loop goes over, a turn at a time on the meter."""
    for item in iterable:
        _tick()
        yield item


class _Metering(NodeTransformer):
    """Routes what the sandbox does not intercept through the meter: each `for` turn, each output
    chunk (macros, `set` blocks and the template itself join theirs), and `~` concatenation."""

    @staticmethod
    def _through(name: str, arg: nodes.Expr) -> nodes.Call:
        return nodes.Call(nodes.EnvironmentAttribute(name, lineno=arg.lineno), [arg], [], None, None,
                          lineno=arg.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._through("metered_iter", node.iter)  # type: ignore[arg-type]
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [self._through("metered_output", child) for child in node.nodes]
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)  # `in` and `==` read their operands whole
        node.expr = self._through("metered_operand", node.expr)
        for operand in node.ops:
            operand.expr = self._through("metered_operand", operand.expr)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._through("metered_concat", nodes.List(node.nodes, lineno=node.lineno))


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, metered (see the module's docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.filters["pct"] = _pct
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}
        self.globals.pop("lipsum", None)  # lorem ipsum of any length: nothing a runbook needs
        self.globals["range"] = _bounded_range

    # the names _Metering's calls reach
    @staticmethod
    def metered_iter(iterable: Any) -> Iterator[Any]:
        return _counted(iterable)

    @staticmethod
    def metered_operand(value: Any) -> Any:
        _scan(value)
        return value

    @staticmethod
    def metered_output(value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        _tick()
        return _check_value(text)

    @staticmethod
    def metered_concat(values: list[Any]) -> str:
        parts = [v if isinstance(v, str) else str(v) for v in values]
        _check_length(sum(map(len, parts)), "characters")
        _tick()
        return _check_value("".join(parts))

    def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> Any:
        if isinstance(source, nodes.Template):
            _Metering().visit(source)
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _before_binop(operator, left, right)
        _tick()
        return _check_value(super().call_binop(context, operator, left, right))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _tick()
        return super().call_unop(context, operator, arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        owner: str = value.__self__
        formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs = args[0]
                args = ()
            return _check_value(str(formatter.vformat(owner, args, kwargs)))

        return update_wrapper(bounded, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        if isinstance(__obj, types.BuiltinMethodType | types.MethodWrapperType):
            owner = getattr(__obj, "__self__", None)
            if owner is not None and not isinstance(owner, types.ModuleType):
                _scan(owner, *args)
                if __obj.__name__ == "join" and args and not isinstance(args[0], list | tuple):
                    args = (list(_counted(args[0])), *args[1:])
                _before_method(__obj.__name__, owner, args, kwargs)
        elif isinstance(__obj, LoopContext) and args:  # a recursive loop's inner turns
            args = (_counted(args[0]), *args[1:])
        m = _meter()
        if m is not None:
            m.depth += 1
            if m.depth > MAX_DEPTH:
                m.depth -= 1
                raise TooCostly(f"calls nested deeper than {MAX_DEPTH} (a macro or loop that recurses without end)")
        try:
            return _check_value(super().call(__context, __obj, *args, **kwargs))
        finally:
            if m is not None:
                m.depth -= 1


@cache
def _env() -> _BoundedEnvironment:
    return _BoundedEnvironment()


def _shown(text: str) -> str:
    """A template as an error message quotes it: whole when short, its start otherwise."""
    text = text.strip()
    return repr(text) if len(text) <= 200 else repr(text[:200]) + f" (and {len(text) - 200:,} more characters)"


# Python's own limits, met by absurd templates before ours: nesting that exhausts the recursion limit
# in Jinja's parser, or "too many statically nested blocks" in the generated code.
_TOO_DEEP = (RecursionError, SyntaxError, MemoryError)


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
        with _metered():  # constant folding while compiling calls filters too
            return _env().compile_expression(source, undefined_to_none=False)
    except TemplateError as exc:
        raise ExpressionError(f"bad expression {_shown(source)}: {exc}") from None
    except _TOO_DEEP:
        raise ExpressionError(f"bad expression {_shown(source)}: nested too deeply") from None


@cache
def _compile_template(source: str) -> Any:
    try:
        with _metered():
            return _env().from_string(source)
    except TemplateError as exc:
        raise ExpressionError(f"bad template {_shown(source)}: {exc}") from None
    except _TOO_DEEP:
        raise ExpressionError(f"bad template {_shown(source)}: nested too deeply") from None


def evaluate(condition: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a condition such as `error_rate > 5` (braces optional)."""
    inner = _whole_expression(condition)
    fn = _compile_expression(inner if inner is not None else condition)
    try:
        with _metered():
            template = fn._template
            run = _new_context(template, context)
            for _ in template.root_render_func(run):
                pass
            value = run.vars["result"]
            if isinstance(value, Undefined):  # a bare unknown name is returned, not raised, by Jinja
                value._fail_with_undefined_error()
            return value
    except TooCostly as exc:
        raise TooCostly(f"cannot evaluate {_shown(condition)}: {exc}") from None
    except TemplateError as exc:
        raise ExpressionError(f"cannot evaluate {_shown(condition)}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot evaluate {_shown(condition)}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"cannot evaluate {_shown(condition)}: recursion too deep") from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template inside `value` (dicts and lists recursively).

    A string that is exactly one `{{ expr }}` keeps the expression's type, so `"{{ pct }}"` can be an
    integer in a request body; any other template renders to a string. All of `value` is one
    evaluation for the limits.
    """
    with _metered():
        return _render(value, context)


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context) for v in value]
    if not is_template(value):
        return value
    inner = _whole_expression(value)
    if inner is not None:
        return evaluate(inner, context)
    try:
        template = _compile_template(value)
        return _check_value("".join(template.root_render_func(_new_context(template, context))))
    except TooCostly as exc:
        raise TooCostly(f"cannot render {_shown(value)}: {exc}") from None
    except TemplateError as exc:
        raise ExpressionError(f"cannot render {_shown(value)}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot render {_shown(value)}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"cannot render {_shown(value)}: recursion too deep") from None


def _new_context(template: Any, context: Mapping[str, Any]) -> Any:
    """A render context that reads `context` in place: Jinja's own copies every name into a new dict
    for each evaluation, which made a run's cost grow with the square of its captures."""
    return template.new_context(ChainMap(context, template.globals), shared=True)  # type: ignore[arg-type]


def check_syntax(text: str, *, condition: bool = False) -> None:
    """Raise ExpressionError when `text` does not parse."""
    _parse(text, condition)


@cache
def references(text: str, *, condition: bool = False) -> frozenset[str]:
    """Names a template or condition reads (its free variables): kept, since finding them runs Jinja's
    code generator over the template, and validating a directory meets the same texts again."""
    try:
        return frozenset(meta.find_undeclared_variables(_parse(text, condition)))
    except _TOO_DEEP:
        raise ExpressionError(f"bad expression {_shown(text)}: nested too deeply") from None


def _source(text: str, condition: bool) -> str:
    if condition and _whole_expression(text) is None:
        return "{{ " + text + " }}"
    return text


@cache
def _parse(text: str, condition: bool) -> nodes.Template:
    try:
        return _env().parse(_source(text, condition))
    except TemplateError as exc:
        raise ExpressionError(f"bad expression {_shown(text)}: {exc}") from None
    except _TOO_DEEP:
        raise ExpressionError(f"bad expression {_shown(text)}: nested too deeply") from None


# Globals that read nothing from the run: a part of a template that names only these is a constant.
_PURE_GLOBALS = frozenset({"range", "dict", "namespace", "cycler", "joiner"})


# What validating one file may spend computing constants (each part is bounded by MAX_OPS anyway):
# a file of thousands of distinct constant loops is checked in seconds, the rest left to the run.
STATIC_BUDGET = 2_000_000
_BOUNDED: dict[tuple[str, bool], str | None] = {}


def check_bounded(text: str, *, condition: bool = False, budget: list[int] | None = None) -> None:
    """Raise ExpressionError when what `text` computes from constants alone already breaks a limit
    (`'a' * 10**9`, `range(10**9)`, nested loops over constant ranges, a macro that calls itself):
    the whole template when it reads no variable, else each largest part that reads none. Whatever
    reads variables or captures is bounded when it runs. `budget` ([units left]) is shared by the
    checks of one file; once it is spent, texts not checked before are left to the run."""
    key = (text, condition)
    if key not in _BOUNDED:
        if budget is not None and budget[0] <= 0:
            return
        message, spent = _bounded_problem(text, condition)
        if budget is not None:
            budget[0] -= spent
        _BOUNDED[key] = message
    message = _BOUNDED[key]
    if message is not None:
        raise ExpressionError(message)


def _bounded_problem(text: str, condition: bool) -> tuple[str | None, int]:
    """check_bounded's finding (None: none) and the units of work it took."""
    try:
        free = references(text, condition=condition)
        if free and next(_constant_parts(_parse(text, condition)), None) is None:
            return None, 0  # nothing to compute before the run (most templates: `{{ region }}`)
        tree = _env().parse(_source(text, condition))  # a fresh tree: compiling rewrites it
    except ExpressionError:
        return None, 0  # check_syntax reports it
    except _TOO_DEEP:
        return None, 0
    parts: list[nodes.Node] = [tree] if not free else list(_constant_parts(tree))
    spent = 0
    for part in parts:
        try:
            with _metered() as meter:
                try:
                    if isinstance(part, nodes.Template):
                        _env().from_string(part).render()
                    else:
                        body = [nodes.Assign(nodes.Name("result", "store"), part, lineno=1)]
                        template = _env().from_string(nodes.Template(body, lineno=1))
                        TemplateExpression(template, False)()
                finally:
                    spent += meter.ops + 1
        except TooCostly as exc:
            return f"{_shown(text)} computes too much: {exc}", spent
        except HybridOpsError:  # Interrupted: Ctrl-C or SIGTERM during the check
            raise
        except Exception:  # noqa: BLE001 - anything else is for the run to report, with its values
            continue
    return None, spent


def _constant_parts(node: nodes.Node) -> Iterator[nodes.Expr]:
    """The largest expressions under `node` that read no name but pure globals."""
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Expr) and not isinstance(child, nodes.Literal) and _is_constant(child):
            yield child
        else:
            yield from _constant_parts(child)


def _is_constant(node: nodes.Expr) -> bool:
    for sub in (node, *node.find_all(nodes.Node)):
        if isinstance(sub, nodes.Name) and sub.name not in _PURE_GLOBALS:
            return False
        if isinstance(sub, nodes.ContextReference | nodes.DerivedContextReference | nodes.InternalName):
            return False
    return True


def walk_strings(value: Any) -> Iterator[str]:
    """Every string inside `value`, recursively (the places a template may hide)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk_strings(k)
            yield from walk_strings(v)
    elif isinstance(value, list | tuple):
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
