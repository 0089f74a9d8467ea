"""Log lines of the routing service and the MCP router, in the formats the runbooks parse.

ERROR lines:   `<iso>Z ERROR <Type>: <detail> operation=<op> request_id=<uuid>` (Type is the word after
               `ERROR `, one of ERROR_TYPES);
decisions:     one JSON object per message, {"type": "routing-decision", "operation", "route", "reason",
               "latencyMs"}.
Seeded events are dated relative to now (the last 15 minutes / the last hour) so a FilterLogEvents with
startTime = now - 15 min finds them.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import TYPE_CHECKING

from hybridops.sandbox.world import iso

if TYPE_CHECKING:
    from hybridops.sandbox.world import World

ROUTING_GROUP = "/aws/ecs/hybrid-routing"
MCP_GROUP = "/aws/ecs/mcp-router"
ERROR_TYPES = ("TimeoutError", "ThrottlingException", "ValidationException", "AuthenticationError")
OPERATIONS = ("text-generation", "summarization", "classification", "translation")

# ERROR lines in the last 15 minutes, per type (in ERROR_TYPES order). error-spike: timeouts clearly
# dominate (62 of 100); outage: many of every type; elsewhere a few, no type standing out.
RECENT_ERRORS: dict[str, tuple[int, int, int, int]] = {
    "healthy": (2, 2, 2, 2),
    "outage": (34, 31, 29, 26),
    "bedrock-down": (4, 4, 3, 3),
    "mcp-down": (3, 3, 3, 3),
    "error-spike": (62, 14, 13, 11),
    "efficiency-drop": (3, 2, 3, 2),
}
OLDER_ERRORS = (2, 2, 1, 1)  # 15-60 minutes ago, in every scenario

_DETAIL = {
    "TimeoutError": "bedrock invoke timed out after {timeout}ms",
    "ThrottlingException": "Rate exceeded for InvokeModel on anthropic.claude-3-sonnet-20240229-v1:0",
    "ValidationException": "max_tokens: must be less than or equal to 4096",
    "AuthenticationError": "MCP router rejected the service credentials (token expired)",
}

# (route, reason, weight) of routing decisions, per situation.
_DECISIONS: dict[str, list[tuple[str, str, int]]] = {
    "normal": [("direct-bedrock", "cost-optimal", 40), ("mcp-router", "latency-threshold", 30),
               ("direct-bedrock", "latency-threshold", 15), ("mcp-router", "capability-match", 12),
               ("mcp-router", "health-fallback", 3)],
    # thresholds drifted: the direct path is judged too slow and fallbacks fire on every blip
    "drifted": [("mcp-router", "health-fallback", 45), ("mcp-router", "latency-threshold", 25),
                ("direct-bedrock", "health-fallback", 10), ("direct-bedrock", "cost-optimal", 20)],
    "bedrock-down": [("mcp-router", "health-fallback", 80), ("mcp-router", "capability-match", 12),
                     ("direct-bedrock", "cost-optimal", 8)],
    "mcp-down": [("direct-bedrock", "health-fallback", 75), ("direct-bedrock", "cost-optimal", 25)],
    "forced": [("mcp-router", "forced-mcp", 100)],
    "outage": [("mcp-router", "health-fallback", 50), ("direct-bedrock", "health-fallback", 50)],
}


def error_line(ts: float, kind: str, rng: random.Random, timeout_ms: int) -> str:
    detail = _DETAIL[kind].format(timeout=timeout_ms)
    op = rng.choice(OPERATIONS)
    return f"{iso(ts)} ERROR {kind}: {detail} operation={op} request_id={_uuid(rng)}"


def info_line(ts: float, rng: random.Random, route: str | None = None) -> str:
    route = route or rng.choice(("direct-bedrock", "mcp-router"))
    latency = rng.randint(600, 2400) if route == "direct-bedrock" else rng.randint(1400, 3800)
    return (f"{iso(ts)} INFO request completed operation={rng.choice(OPERATIONS)} route={route} "
            f"latencyMs={latency} request_id={_uuid(rng)}")


def decision(rng: random.Random, situation: str) -> str:
    table = _DECISIONS[situation]
    route, reason, _ = rng.choices(table, weights=[w for _, _, w in table])[0]
    latency = rng.randint(700, 2600) if route == "direct-bedrock" else rng.randint(1500, 4200)
    if situation == "drifted":
        latency += 3000  # the suboptimal path costs time
    return json.dumps({"type": "routing-decision", "operation": rng.choice(OPERATIONS), "route": route,
                       "reason": reason, "latencyMs": latency})


def mcp_line(ts: float, rng: random.Random, broken: bool) -> str:
    if broken:
        kind, detail = rng.choice((
            ("TimeoutError", "tool call timed out after 30000ms; worker pool exhausted"),
            ("ConnectionError", "upstream MCP server closed the connection"),
        ))
        return f"{iso(ts)} ERROR {kind}: {detail} queue=mcp-router-queue request_id={_uuid(rng)}"
    return (f"{iso(ts)} INFO message processed queue=mcp-router-queue operation={rng.choice(OPERATIONS)} "
            f"latencyMs={rng.randint(900, 3200)} request_id={_uuid(rng)}")


def seed_events(scenario: str, now: float, rng: random.Random, timeout_ms: int) -> dict[str, list[tuple[float, str]]]:
    """Every event of both groups for the hour before `now` (wall seconds), sorted by time."""
    routing: list[tuple[float, str]] = []
    for kind, n in zip(ERROR_TYPES, RECENT_ERRORS[scenario], strict=True):
        routing += [(now - rng.uniform(5, 14 * 60), error_line(0, kind, rng, timeout_ms)) for _ in range(n)]
    for kind, n in zip(ERROR_TYPES, OLDER_ERRORS, strict=True):
        routing += [(now - rng.uniform(16 * 60, 58 * 60), error_line(0, kind, rng, timeout_ms)) for _ in range(n)]
    routing += [(now - rng.uniform(5, 59 * 60), info_line(0, rng)) for _ in range(60)]
    situation = _situation_at_start(scenario)
    routing += [(now - rng.uniform(5, 59 * 60), decision(rng, situation)) for _ in range(80)]
    broken = scenario == "mcp-down"
    mcp = [(now - rng.uniform(5, 59 * 60), mcp_line(0, rng, False)) for _ in range(40)]
    if broken:
        mcp += [(now - rng.uniform(5, 12 * 60), mcp_line(0, rng, True)) for _ in range(45)]
    return {ROUTING_GROUP: _dated(routing), MCP_GROUP: _dated(mcp)}


def minute_events(world: World, ts: float) -> dict[str, list[tuple[float, str]]]:
    """What one simulated minute adds to the logs in the world's current state (called under its lock)."""
    rng = world.rng
    routing: list[tuple[float, str]] = []
    if world.routing_broken or world.breakers == "open":
        errors = [rng.choice(ERROR_TYPES) for _ in range(8)]
    else:
        n_timeout = round(world.timeout_error_rate())
        errors = ["TimeoutError"] * n_timeout + [rng.choice(ERROR_TYPES[1:]) for _ in range(n_timeout // 3)]
        if not world.direct_ok and world.direct_share() > 0:
            errors += [rng.choice(ERROR_TYPES)]
        if rng.random() < 0.3:
            errors.append(rng.choice(ERROR_TYPES))
    routing += [(ts, error_line(0, kind, rng, world.timeout_ms)) for kind in errors]
    routing += [(ts, info_line(0, rng)) for _ in range(2)]
    routing += [(ts, decision(rng, _situation_now(world))) for _ in range(3)]
    mcp = [(ts, mcp_line(0, rng, world.mcp_down or world.routing_broken)) for _ in range(2)]
    return {ROUTING_GROUP: _dated(routing), MCP_GROUP: _dated(mcp)}


def _situation_at_start(scenario: str) -> str:
    return {"efficiency-drop": "drifted", "bedrock-down": "bedrock-down", "mcp-down": "mcp-down",
            "outage": "outage"}.get(scenario, "normal")


def _situation_now(world: World) -> str:
    if world.routing_broken:
        return "outage"
    if world.force_mcp_active:
        return "forced"
    if not world.direct_ok:
        return "bedrock-down"
    if world.mcp_down:
        return "mcp-down"
    return "drifted" if world.efficiency() < 85 else "normal"


def _dated(events: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Sorted by time, with each text line's leading timestamp set to the event's own time."""
    out = []
    for ts, msg in sorted(events, key=lambda e: e[0]):
        if not msg.startswith("{"):
            msg = iso(ts) + msg[msg.index(" "):]
        out.append((ts, msg))
    return out


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
