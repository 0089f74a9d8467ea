"""Hostile runbooks and inputs are bounded (issue 12 §2): templates that compute huge values or loop,
control characters and lone surrogates, non-regular files, 10,000-step runbooks. Each is one line at
file:line:col (or naming the input) and exit 1, never "unexpected ..." and never a traceback; memory
is measured (tracemalloc), not time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from testsupport import wait_for

from hybridops.runbook import expr
from hybridops.runbook.expr import ExpressionError, TooCostly, check_bounded, evaluate, render

HEADER = """\
id: {id}
title: Hostile
severity: P1
response_time: 15m
impact: none
owner: tests
version: "1"
variables:
  - name: n
    default: 3
  - name: s
    default: "x"
phases:
  - id: p
    title: P
    steps:
"""


def write_runbook(directory: Path, steps: str, name: str = "hostile") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(HEADER.format(id=name) + textwrap.indent(textwrap.dedent(steps), " " * 6), encoding="utf-8")
    return path


def check_step(condition: str = "n > 0", message: str | None = None) -> str:
    lines = ["- id: c", "  title: C", "  budget: 1m", "  check:", f"    condition: {json.dumps(condition)}"]
    if message is not None:
        lines.append(f"    message: {json.dumps(message)}")
    lines.append("    if_true: end")
    return "\n".join(lines) + "\n"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "unexpected" not in err, err
    return lines[0]


STEP = textwrap.indent(check_step(), " " * 6)


# --- templates --------------------------------------------------------------------------------------

# Each computes something huge or endless from constants alone: refused by `validate`, and by the
# evaluator itself should one reach a run.
CONSTANT_BOMBS = [
    "{{ 'a' * 10**9 }}",
    "{{ 10 ** (10 ** 9) }}",
    "{{ 2 ** 100000 }}",
    "{{ (10 ** 4000) * (10 ** 4000) }}",
    "{{ range(10**9) | list }}",
    "{{ [0] * 10**9 }}",
    "{{ ('ab' | list) * 10**8 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% macro f(k) %}{% if k %}{{ f(k - 1) }}{{ f(k - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for x in range(3) recursive %}{{ loop(range(3)) }}{% endfor %}",
    "{{ '%999999999d' | format(1) }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:.999999999f}'.format(1.5) }}",
    "{{ '{0:{1}}'.format(1, 999999999) }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ ('\\t' * 1000).expandtabs(10**6) }}",
    "{{ (1).to_bytes(10**9, 'big') }}",
    "{{ 'a\\nb' | indent(10**9) }}",
    "{{ 'a\\nb' | indent('x' * 900000) }}",
    "{{ ('a' * 900000) | wordwrap(1, wrapstring='xxxxxxxx') }}",
    "{{ (['x' * 900000] * 1000) | join(',') }}",
    "{{ ','.join(['x' * 900000] * 1000) }}",
    "{{ ('x' * 900000).replace('x', 'yy') }}",
    "{{ 'aaaa' | replace('', 'b' * 900000) }}",
    "{{ [1] | batch(10**9, 0) | list }}",
    "{{ [1] | slice(10**9) | list }}",
    "{{ 5 | round(-10**9) }}",
    "{{ {'a': 1} | tojson(indent=10**9) }}",
    "{{ 1.5 | pct(10**9) }}",
    "{{ [[0]] * 100000 | sum(start=[]) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s=[0]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "{% set big = 'x' * 999999 %}{% for i in range(100000) %}{{ big.count('y') }}{% endfor %}",
    "{% set big = 'x' * 999999 %}{% for i in range(100000) %}{% if 'xy' in big %}{% endif %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'x' * 999999 }}{% endfor %}",
]


def is_loop(template: str) -> bool:
    return "for " in template or "macro" in template


@pytest.mark.parametrize("template", [t for t in CONSTANT_BOMBS if is_loop(t)])
def test_a_loop_or_recursion_bomb_is_refused(template: str) -> None:
    with pytest.raises(TooCostly):
        render(template, {})
    with pytest.raises(ExpressionError, match="computes too much"):
        check_bounded(template)


@pytest.mark.parametrize("template", [t for t in CONSTANT_BOMBS if not is_loop(t)])
def test_a_size_bomb_is_refused_in_bounded_memory(template: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TooCostly):
            render(template, {})
        with pytest.raises(ExpressionError, match="computes too much"):
            check_bounded(template)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("condition", ["'a' * 10**9 == 'b'", "10 ** (10 ** 9) > 1", "range(10**9) | length > 0"])
def test_a_condition_bomb_is_refused(condition: str) -> None:
    with pytest.raises(TooCostly):
        evaluate(condition, {})
    with pytest.raises(ExpressionError, match="computes too much"):
        check_bounded(condition, condition=True)


# Fed by a variable (a huge --var number, a long capture): nothing to see before the run, bounded in it.
VARIABLE_BOMBS = [
    "{{ 'a' * n }}",
    "{{ 10 ** n }}",
    "{{ range(n) | list }}",
    "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}",
    "{{ s | center(n) }}",
    "{{ '%*d' % (n, 1) }}",
    "{{ [s] * n }}",
]


@pytest.mark.parametrize("template", VARIABLE_BOMBS)
def test_a_template_fed_a_huge_number_is_refused_when_it_runs(template: str) -> None:
    check_bounded(template)  # reads a variable: not knowable before the run
    render(template, {"n": 2, "s": "x"})  # a small value renders
    with pytest.raises(TooCostly):
        render(template, {"n": 10**9, "s": "x"})


def test_ordinary_templates_still_render() -> None:
    ctx = {"n": 3, "s": "ab", "steps": {"a": {"status": "ok"}}, "items": [{"v": 1}, {"v": 2}]}
    assert render("{{ n * 2 }}", ctx) == 6
    assert render("{{ 2 ** 10 }}", ctx) == 1024
    assert render("{{ s ~ '-' ~ n }}", ctx) == "ab-3"
    assert render("{% for i in range(n) %}{{ i }}{% endfor %}", ctx) == "012"
    assert render("{{ items | map(attribute='v') | join(',') }}", ctx) == "1,2"
    assert render("{{ '%5.1f' | format(2.25) }}|{{ '{:>4}'.format(s) }}", ctx) == "  2.2|  ab"
    assert render("{{ s | center(6) }}", ctx) == "  ab  "
    assert render("{{ 12.345 | pct }}", ctx) == "12.3%"
    assert render("{{ [1, 2] | sum }}", ctx) == 3
    assert render({"a": ["{{ steps['a'].status }}", "{{ s | upper }}"]}, ctx) == {"a": ["ok", "AB"]}
    assert evaluate("steps['a'].status == 'ok' and n in [1, 2, 3]", ctx) is True
    assert render("{% macro f(k) %}{% if k %}{{ k }}{{ f(k - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", ctx) == "54321"


def test_absurd_nesting_is_an_expression_error() -> None:
    for template in ("{{" + "(" * 500 + "1" + ")" * 500 + "}}", "{{ " + "-" * 3000 + "1 }}",
                     "".join(f"{{% for i{k} in range(2) %}}" for k in range(30)) + "x" + "{% endfor %}" * 30):
        with pytest.raises(ExpressionError):
            render(template, {})
        if "for" not in template:  # Jinja parses 30 nested loops; Python refuses to compile them
            with pytest.raises(ExpressionError):
                expr.references(template)


def test_lipsum_is_not_offered() -> None:
    with pytest.raises(ExpressionError, match="lipsum"):
        render("{{ lipsum(10**9) }}", {})


@pytest.mark.parametrize("template", ["{{ 'a' * 10**9 }}", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                                      "{{ '{:>999999999}'.format(1) }}"])
def test_validate_refuses_a_template_bomb_at_its_place(cli, tmp_path: Path, template: str) -> None:
    path = write_runbook(tmp_path, check_step(message=template))
    code, out, err = cli("validate", path)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith(f"{path}:22:20: step c: ") and "computes too much" in line, line
    assert len(out.splitlines()) == 1


def test_validate_refuses_a_condition_bomb(cli, tmp_path: Path) -> None:
    path = write_runbook(tmp_path, check_step(condition="'a' * 10**9 == s"))
    code, out, _ = cli("validate", path)
    assert code == 1
    assert out.startswith(f"{path}:21:22: step c: ") and "computes too much" in out


def test_a_run_fed_a_huge_var_stops_on_the_step_with_one_line(cli, tmp_path: Path) -> None:
    path = write_runbook(tmp_path, check_step(message="{{ 'a' * n }}"))
    assert cli("validate", path)[0] == 0
    code, out, err = cli("incident", path, "--yes", "--var", "n=1000000000")
    assert code == 1
    line = one_error_line(err)
    assert "step c failed" in line and "1,000,000,000 characters" in line, line


# --- interrupting a long evaluation --------------------------------------------------------------

SPIN = "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}"
# The limits raised so far that this render would take hours: only the signal can stop it.
UNLIMITED = ("import sys; import hybridops.runbook.expr as e; e.MAX_OPS = e.MAX_PRODUCED = 10**18; "
             "from hybridops.cli.app import run; sys.exit(run(sys.argv[1:]))")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_long_render_with_the_audit_log_intact(tmp_path: Path, signum: int) -> None:
    path = write_runbook(tmp_path, check_step(message=SPIN))
    audit = tmp_path / "audit"
    env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(audit), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-c", UNLIMITED, "incident", str(path), "--yes", "--var", "n=100000"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def rendering() -> bool:  # the step has started: its render is under way
            logs = list(audit.glob("*.jsonl"))
            return bool(logs) and '"event":"step_started"' in logs[0].read_text(encoding="utf-8")

        wait_for(rendering, timeout=60, what="the step to start")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    log = next(audit.glob("*.jsonl"))
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    finished = [r for r in records if r["event"] == "run_finished"]
    assert finished and finished[-1]["status"] == "interrupted"
    verify = subprocess.run([sys.executable, "-m", "hybridops", "audit", "verify", str(log)], env=env,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# --- control characters and lone surrogates ---------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    ('"a\\ud800b"', "a lone surrogate (U+D800)"),
    ('"a\\udfffb"', "a lone surrogate (U+DFFF)"),
    ('"a\\e[2Jb"', "a control character (U+001B)"),
    ('"a\\x07b"', "a control character (U+0007)"),
    ('"a\\x9bb"', "a control character (U+009B)"),
    ('"a\\rb"', "a control character (U+000D)"),
    ('"a\\u202eb"', "a bidirectional-override character (U+202E)"),
])
def test_an_escaped_bad_character_is_refused_at_its_string(cli, tmp_path: Path, raw: str, shown: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEADER.format(id="t").replace("title: Hostile", f"title: {raw}") + STEP, encoding="utf-8")
    code, out, _ = cli("validate", path)
    assert code == 1
    assert one_error_line(out) == f"{path}:2:8: the string holds {shown}" + (
        ", which is not text" if "surrogate" in shown else "")
    code, _, err = cli("show", path)
    assert code == 1 and one_error_line(err).startswith(f"{path}:2:8: the string holds")


def test_a_bad_character_in_a_key_is_refused(cli, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEADER.format(id="t").replace("owner: tests", 'owner: tests\n"x\\ud800": 1') + STEP,
                    encoding="utf-8")
    code, out, _ = cli("validate", path)
    assert code == 1 and "the string holds a lone surrogate" in one_error_line(out)


@pytest.mark.parametrize(("char", "shown"), [("\x07", "U+0007"), ("\x1b", "U+001B"), ("\x7f", "U+007F"),
                                             ("\x85", "U+0085"), ("\u202e", "U+202E"), ("\ufffe", "U+FFFE")])
def test_a_raw_bad_character_is_refused_at_its_line_and_column(cli, tmp_path: Path, char: str, shown: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEADER.format(id="t").replace("impact: none", f"impact: no{char}ne") + STEP,
                    encoding="utf-8")
    code, out, _ = cli("validate", path)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith(f"{path}:5:11: the file holds") and shown in line, line


@pytest.mark.parametrize("value", ["a\udcffb", "a\x1b[2Jb", "\x07", "a\ud800"])
def test_a_var_with_a_bad_character_is_one_line(cli, tmp_path: Path, value: str) -> None:
    path = write_runbook(tmp_path, check_step("s != ''"))
    code, _, err = cli("incident", path, "--dry-run", "--var", f"s={value}")
    assert code == 1
    assert one_error_line(err).startswith("error: s from --var: the value holds ")


def test_a_bad_character_from_the_environment_is_one_line(cli, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_runbook(tmp_path, check_step("s != ''"))
    monkeypatch.setenv("HYBRIDOPS_VAR_S", "x\x1by")
    code, _, err = cli("incident", path, "--dry-run")
    assert code == 1
    assert one_error_line(err).startswith("error: s from env HYBRIDOPS_VAR_S: the value holds a control character")


def test_undecodable_argv_bytes_are_refused_in_a_real_process(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, check_step("s != ''"))
    env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(tmp_path / "audit"), "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable.encode(), b"-m", b"hybridops", b"incident", str(path).encode(),
                           b"--dry-run", b"--var", b"s=a\xffb"], env=env, capture_output=True)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert one_error_line(err) == "error: s from --var: the value holds a lone surrogate (U+DCFF), which is not " \
                                  "text at character 2"
    assert not (tmp_path / "audit").exists() or not list((tmp_path / "audit").glob("*.jsonl"))


@pytest.mark.parametrize(("suffix", "text", "where"), [
    (".toml", 'admin_url = "http://a\\u001b"\n', ":1:1: admin_url: the text holds a control character (U+001B)"),
    (".yaml", 'admin_url: "http://a\\ud800"\n', ":1:1: admin_url: the text holds a lone surrogate (U+D800)"),
])
def test_a_config_value_with_a_bad_character_is_one_line(cli, tmp_path: Path, suffix: str, text: str,
                                                         where: str) -> None:
    config = tmp_path / f"c{suffix}"
    config.write_text(text, encoding="utf-8")
    code, _, err = cli("config", "show", "--config", config)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {config}{where}")


# --- paths that are not regular files ---------------------------------------------------------------


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    yield {"/dev/zero": Path("/dev/zero"), "/dev/null": Path("/dev/null"), "fifo": fifo, "socket": sock_path,
           "directory": directory}
    sock.close()


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/null", "fifo", "socket"])
def test_validate_refuses_a_path_that_is_not_a_regular_file(cli, odd_files: dict[str, Path], kind: str) -> None:
    path = odd_files[kind]
    code, out, _ = cli("validate", path)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith(f"{path}:1:1: is not a regular file") and len(out.splitlines()) == 1, line


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "socket", "directory"])
def test_a_config_path_that_is_not_a_regular_file_is_one_line(cli, tmp_path: Path, odd_files: dict[str, Path],
                                                               kind: str) -> None:
    runbook = write_runbook(tmp_path, check_step())
    path = odd_files[kind]
    for args in (["config", "show", "--config", path], ["incident", runbook, "--dry-run", "--config", path]):
        code, _, err = cli(args)
        assert code == 1
        assert one_error_line(err).startswith(f"error: {path}: is "), err


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
def test_incident_and_show_refuse_a_runbook_that_is_not_a_regular_file(cli, odd_files: dict[str, Path],
                                                                        kind: str) -> None:
    path = odd_files[kind]
    for args in (["incident", path, "--dry-run"], ["show", path]):
        code, _, err = cli(args)
        assert code == 1
        one_error_line(err)


def test_the_read_is_capped_even_when_the_file_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridops.runbook import load

    path = tmp_path / "grows.yaml"
    path.write_bytes(b"a" * 100)
    real_stat = os.stat

    def stat_before_growth(p, *a, **kw):  # the file is small when looked at, large when read
        result = real_stat(p, *a, **kw)
        if Path(p) == path:
            path.write_bytes(b"a" * (load.MAX_BYTES + 10))
        return result

    monkeypatch.setattr(load.os, "stat", stat_before_growth)
    with pytest.raises(load.FileRefused, match="larger than"):
        load.read_regular_file(path, load.MAX_BYTES)


# --- 10,000 steps ---------------------------------------------------------------------------------------


def big_runbook(directory: Path, steps: int, *, broken: bool = False) -> Path:
    """Steps that capture, check (with go-tos across the file), call AWS and notify: every check that
    looks across steps meets thousands of ids and captures."""
    body = []
    for i in range(steps):
        k = i % 4
        if k == 0:
            body.append(f"- id: s{i}\n  title: S{i}\n  budget: 1m\n  http:\n    path: /health\n"
                        f"    capture:\n      h{i}: status\n")
        elif k == 1:
            target = f"zz{i}" if broken else f"s{(i * 7919) % steps}"
            body.append(f"- id: s{i}\n  title: S{i}\n  budget: 1m\n  check:\n    condition: \"h{i - 1} == 'ok'\"\n"
                        f"    if_false: {target}\n")
        elif k == 2:
            body.append(f"- id: s{i}\n  title: S{i}\n  budget: 1m\n  aws:\n    service: ecs\n"
                        f"    operation: DescribeServices\n    region: eu-central-1\n    params:\n"
                        f"      cluster: c\n      services: [\"{{{{ h{i - 2} }}}}\"]\n"
                        f"    capture:\n      r{i}: services[0].runningCount\n")
        else:
            ref = f"q{i - 1}" if broken else f"r{i - 1}"
            body.append(f"- id: s{i}\n  title: S{i}\n  budget: 1m\n  notify:\n    via: slack\n"
                        f"    text: \"{{{{ steps['s{i - 1}'].status }}}} {{{{ {ref} }}}}\"\n")
    return write_runbook(directory, "".join(body), name="big-broken" if broken else "big")


# The default run checks the reports at a few thousand steps; `-m fuzz` at the 10,000 of the issue
# (seconds each, most of it reading the YAML and parsing the templates: nothing grows with the square).
SIZES = [2_000, pytest.param(10_000, marks=pytest.mark.fuzz)]


@pytest.mark.parametrize("steps", SIZES)
def test_a_long_runbook_validates_and_shows(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
    monkeypatch.setenv("HYBRIDOPS_CACHE_DIR", "off")
    path = big_runbook(tmp_path, steps)
    assert cli("validate", path) == (0, "", "1 runbook valid\n")
    code, out, _ = cli("show", path)
    assert code == 0 and f"s{steps - 1}" in out


@pytest.mark.parametrize("steps", SIZES)
def test_a_long_runbook_full_of_mistakes_reports_each(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      steps: int) -> None:
    monkeypatch.setenv("HYBRIDOPS_CACHE_DIR", "off")
    path = big_runbook(tmp_path, steps, broken=True)
    code, out, err = cli("validate", path)
    assert code == 1
    assert err == f"{steps // 2} problems in 1 of 1 runbook\n"
    lines = out.splitlines()
    assert sum("no step 'zz" in line for line in lines) == steps // 4
    assert sum("unknown name 'q" in line for line in lines) == steps // 4
    assert sum("(did you mean" in line for line in lines) <= 100  # hints for the first ones only


@pytest.mark.parametrize("steps", [300, pytest.param(10_000, marks=pytest.mark.fuzz)])
def test_a_long_runbook_runs_dry(cli, tmp_path: Path, steps: int) -> None:
    path = big_runbook(tmp_path, steps)
    code, out, err = cli("incident", path, "--dry-run")
    assert code == 0, err


def test_a_runbook_path_with_undecodable_bytes_is_one_escaped_line(tmp_path: Path) -> None:
    source = write_runbook(tmp_path, check_step())
    odd = os.fsencode(tmp_path) + b"/t\xff.yaml"
    with open(odd, "wb") as f:
        f.write(source.read_bytes())
    env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(tmp_path / "audit"), "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    for args in ([b"validate", odd], [b"incident", odd, b"--dry-run"]):
        proc = subprocess.run([sys.executable.encode(), b"-m", b"hybridops", *args], env=env, capture_output=True)
        text = (proc.stdout + proc.stderr).decode("utf-8")  # strict: what is printed is text
        assert proc.returncode == 1, text
        assert one_error_line(text) == f"{tmp_path}/t\\xff.yaml:1:1: the path holds a lone surrogate (U+DCFF), " \
                                       "which is not text; rename the file"


def test_many_distinct_constant_loops_share_one_budget_per_file(cli, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each loop alone is within the limits; 300 of them would cost 300 evaluations' worth: past the
    file's budget the rest are left to the run, so validating stays bounded."""
    monkeypatch.setenv("HYBRIDOPS_CACHE_DIR", "off")
    spent: list[int] = []
    real = expr._bounded_problem

    def counting(text: str, condition: bool) -> tuple[str | None, int]:
        message, cost = real(text, condition)
        spent.append(cost)
        return message, cost

    monkeypatch.setattr(expr, "_bounded_problem", counting)
    loop = "{{% for i in range(60000) %}}{{% for j in range({k}) %}}{{% endfor %}}{{% endfor %}}"
    steps = "".join(check_step(message=loop.format(k=k + 2)).replace("id: c", f"id: c{k}").replace(
        "if_true: end", "if_true: end") for k in range(300))
    path = write_runbook(tmp_path, steps)
    code, out, _ = cli("validate", path)
    assert code == 1 and "computes too much" in out  # the first ones are still found
    assert sum(spent) <= expr.STATIC_BUDGET + expr.MAX_OPS + 1000
    assert len(spent) < 300
