"""Durations are bounded wherever they come from: a runbook field (each kind with its own bounds),
a template's `ago_ms(...)` over a `--var`, or the run itself (a poll never calls faster than its floor).
The JSON Schema's duration patterns admit nothing the bounds refuse."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import runbook_text

from hybridops.durations import MAX_DURATION, duration_pattern, limit_text, parse_duration
from hybridops.engine.clock import FakeClock
from hybridops.engine.context import RunOptions
from hybridops.engine.incident import run_incident
from hybridops.engine.steps.notify import NotifyTargets
from hybridops.runbook import model as m
from hybridops.runbook.expr import ExpressionError, builtins, render
from hybridops.runbook.load import LoadedRunbook, parse_runbook

HOSTILE: list[Any] = [
    float("inf"), float("-inf"), float("nan"), -1, -0.5, 1.5, 10**20, 10**400, -(10**5000), 1e308, -1e308, True,
    "1e308s", "-5s", "inf", "nan", "NaN s", "", "   ", "9" * 10_000 + "s", "1s" * 5000, "0x10s", "1_000s",
    "0.0001s", "5", "s", "5 parsecs", "367d", "8785h",
]


def _id(value: Any) -> str:
    return f"int-{value.bit_length()}-bits" if isinstance(value, int) and abs(value) > 10**30 else repr(value)[:20]


@pytest.mark.parametrize("value", HOSTILE, ids=_id)
def test_a_hostile_duration_is_a_readable_error(value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    message = str(caught.value)
    assert len(message) < 120 and "Traceback" not in message


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("0.1s", 0.1), ("1.5h", 5400), (3600, 3600),
    (60.0, 60), ("366d", MAX_DURATION), (" 1m 30s ", 90),
])
def test_the_durations_runbooks_write_still_parse(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_each_kind_of_field_has_its_bounds() -> None:
    assert parse_duration("24h", maximum=m.MAX_STEP_TIME) == 86400
    for value, minimum, maximum, words in [("25h", 0, m.MAX_STEP_TIME, "too long: at most 24h"),
                                           ("0s", m.POLL_FLOOR, m.MAX_CALL_TIME, "too short: at least 1s"),
                                           ("999ms", m.POLL_FLOOR, m.MAX_CALL_TIME, "too short: at least 1s"),
                                           ("61m", 0, m.MAX_CALL_TIME, "too long: at most 1h"),
                                           ("31d", 0, m.MAX_LOOK_BACK, "too long: at most 30d")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            parse_duration(value, minimum=minimum, maximum=maximum)
    assert [limit_text(s) for s in (1, 0.5, 3600, 86400, 7 * 86400)] == ["1s", "500ms", "1h", "24h", "7d"]


# --- the schema's pattern and the parser agree -------------------------------------------------------

BOUNDS = [(0.0, m.MAX_STEP_TIME), (m.POLL_FLOOR, m.MAX_CALL_TIME), (0.0, m.MAX_CALL_TIME),
          (0.0, m.MAX_LOOK_BACK), (0.0, m.MAX_RESPONSE_TIME)]
UNITS = ("ms", "s", "m", "h", "d")
number = st.one_of(
    st.integers(0, 3000).map(str),
    st.integers(0, 10**9).map(str),
    st.tuples(st.integers(0, 200), st.text("0123456789", min_size=1, max_size=4)).map(lambda t: f"{t[0]}.{t[1]}"),
    st.integers(0, 99).map(lambda n: f"00{n}"),
)
part = st.tuples(number, st.sampled_from(UNITS)).map("".join)
durations = st.lists(part, min_size=1, max_size=4).map("".join)


def _within(text: str, minimum: float, maximum: float) -> bool:
    try:
        parse_duration(text, minimum=minimum, maximum=maximum)
    except ValueError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(text=durations, bounds=st.sampled_from(BOUNDS))
def test_the_schema_pattern_admits_nothing_out_of_bounds(text: str, bounds: tuple[float, float]) -> None:
    pattern = re.compile(duration_pattern(*bounds))
    if pattern.match(text):
        assert _within(text, *bounds), text


@settings(max_examples=200, deadline=None)
@given(text=part, bounds=st.sampled_from(BOUNDS))
def test_the_schema_pattern_admits_every_single_part_duration_in_bounds(text: str,
                                                                         bounds: tuple[float, float]) -> None:
    assert bool(re.match(duration_pattern(*bounds), text)) == _within(text, *bounds), text


@pytest.mark.parametrize("text", ["1h30m", "2m30s", "23h59m59s", "1m30s500ms", "15m", "24h", "1d"])
def test_the_schema_pattern_admits_the_usual_compound_durations(text: str) -> None:
    assert re.match(duration_pattern(0.0, m.MAX_STEP_TIME), text)


# --- durations at run time ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["9" * 10_000 + "s", "1" * 400 + "d", 10**400, 1e308, float("inf"), "-5m"], ids=_id)
@pytest.mark.parametrize("helper", ["ago_ms", "ago_iso"])
def test_a_templated_duration_from_a_var_is_bounded_too(helper: str, window: Any) -> None:
    # `{{ ago_ms(window) }}` with `--var window=...`: an error of the template, not an OverflowError
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        render(f"{{{{ {helper}(window) }}}}", {**builtins(1_764_000_000.0), "window": window})


class _Http:
    """Answers every check with a status that never satisfies the poll; notes when each was sent."""

    base_url = "http://127.0.0.1:1"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.at: list[float] = []

    def url(self, path: str) -> str:
        return self.base_url + path

    def admin(self, method: str, path: str, body: Any = None, *, timeout: Any = None) -> tuple[int, Any]:
        self.at.append(self.clock.monotonic())
        return 200, {"status": "critical"}

    @property
    def sent(self) -> int:
        return len(self.at)

    def shortest_gap(self) -> float:
        return min(b - a for a, b in zip(self.at, self.at[1:], strict=False))

    def close(self) -> None:
        pass


class _Log:
    run_id = "run-1"

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        return fields

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        return record


def _poll_every(every: float) -> LoadedRunbook:
    """A poll whose interval is `every`, past the model's own check (as a programmatic or future
    templated interval would be): the runtime floor has to hold on its own."""
    rb, source = parse_runbook(runbook_text("""
      - id: watch
        title: Watch
        budget: 10m
        on_failure: continue
        poll:
          http: {method: GET, path: /health, capture: {st: status}}
          every: 30s
          timeout: 10s
          until: st == 'healthy'
"""), "t.yaml")
    step = rb.phases[0].steps[0]
    assert isinstance(step, m.PollStep)
    step = step.model_copy(update={"poll": step.poll.model_copy(update={"every": every})})
    rb = rb.model_copy(update={"phases": [rb.phases[0].model_copy(update={"steps": [step]})]})
    return LoadedRunbook(rb, Path("t.yaml"), "0" * 64, source)


def _run(loaded: LoadedRunbook, clock: FakeClock | None = None, **options: Any) -> tuple[_Http, FakeClock]:
    clock = clock or FakeClock()
    http = _Http(clock)
    run_incident(loaded, options=RunOptions(**options), variables={}, secrets=set(), open_audit=_Log,
                 make_aws=lambda: None, make_http=lambda: http, notify_targets=NotifyTargets(None, None),
                 aws_region="eu-central-1", clock=clock)
    return http, clock


@pytest.mark.parametrize("every", [0.0, 0.001, 0.5])
def test_a_poll_never_calls_faster_than_its_floor(every: float) -> None:
    http, _ = _run(_poll_every(every))
    # 10 s of polling at the 1 s floor: about 11 calls (734 in 3 s was the failure), none closer than 1 s
    assert 2 <= http.sent <= 12
    assert http.shortest_gap() >= m.POLL_FLOOR - 1e-6


def test_the_poll_floor_is_in_world_time_so_a_scaled_drill_goes_below_it() -> None:
    http, _ = _run(_poll_every(0.0), time_scale=10)
    assert 2 <= http.sent <= 12
    assert http.shortest_gap() == pytest.approx(m.POLL_FLOOR / 10, abs=1e-6)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "structural"


@pytest.mark.parametrize("command", [["incident", "--yes"], ["incident", "--dry-run"], ["show"]])
def test_a_poll_every_0s_never_runs(cli, command: list[str]) -> None:
    """The failure this floor is for (734 requests in 3 s): the run refuses the runbook before anything
    is sent, with the line `validate` gives."""
    path = FIXTURES / "poll-every-zero.yaml"
    code, out, err = cli([command[0], path, *command[1:]])
    assert code == 1 and "Traceback" not in err
    assert f"{path}:18:18: phases[0].steps[0].poll.every: 0s is too short: at least 1s" in out + err


class _Impatient(FakeClock):
    """An operator who presses Enter at every sleep: each one ends at once, as the terminal's does."""

    def sleep(self, seconds: float) -> bool:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.advance(min(seconds, 0.01))
        return True


def test_waking_a_poll_early_never_brings_two_calls_within_the_floor() -> None:
    http, _ = _run(_poll_every(30.0), clock=_Impatient())
    # 10 s of polling, each sleep cut short: one call a second, not one every 10 ms
    assert 2 <= http.sent <= 12
    assert http.shortest_gap() >= m.POLL_FLOOR - 1e-6


@pytest.mark.parametrize("scale", ["inf", "nan", "1e308", "100001"])
@pytest.mark.parametrize("command", [["incident", "mcp-failure", "--dry-run"], ["sandbox"]])
def test_an_absurd_time_scale_is_a_usage_error(cli, command: list[str], scale: str) -> None:
    # --time-scale inf divided every duration down to 0 and ended in an unexpected OverflowError
    code, out, err = cli([*command, "--time-scale", scale])
    assert code == 2, (out, err)
    assert "--time-scale" in err and "unexpected" not in err and "Traceback" not in err
