"""The simulated routing system: its state, its clock, how it answers actions, and whether it recovered.

Pure Python (no moto, no HTTP): the admin server and the AWS wrapper both read and change one `World`.
Time is lazy: nothing runs in the background; every call first `advance()`s the simulation to now,
applying the timed events (a deployment finishing, Bedrock coming back, a force-MCP period ending, an
injected outage ending) in order, so the answer is the same whether a drill polls every 10 ms or once a
minute. The clock is either the wall clock times `time_scale` (`hybridops sandbox`, for a person to
watch) or a drill's simulated clock (`time_scale` 1, shared with the engine).

Injected faults (`component_down`) are kept apart from the scenario's own fault: the operator earns
the credit for a recovery by what their actions do to the scenario, and a fault that a drill injects
on top of it neither earns nor takes that credit; the final health still has to be healthy.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hybridops.sandbox.scenarios import (
    BEDROCK_OUTAGE_S,
    DRIFTED_THRESHOLDS,
    OPTIMAL_THRESHOLDS,
    QUEUE_BASELINE,
    QUEUE_CAP,
    QUEUE_DRAIN_PER_MIN,
    QUEUE_GROWTH_PER_MIN,
    QUEUE_MCP_DOWN_START,
    TASK_START_S,
    check_scenario,
)

ROUTING_SERVICE = "hybrid-routing-service"
MCP_SERVICE = "mcp-router-service"
COMPONENTS = ("direct-bedrock", "mcp-router")

HEALTHY, DEGRADED, CRITICAL = "healthy", "degraded", "critical"
BASE_ERROR_RATE = 0.8  # percent: what a healthy system fails anyway
DEGRADED_ERROR_RATE = 1.5  # percent at or above which the system reports degraded
CRITICAL_ERROR_RATE = 25.0
HEALTHY_EFFICIENCY = 85.0  # percent below which the system reports degraded


@dataclass
class Deployment:
    """One ECS deployment of a service, as the simulation tracks it."""

    id: str
    started: float  # simulated seconds since scenario start
    done_at: float
    done: bool = False
    created_wall: float = field(default_factory=time.time)
    by: str | None = None  # who asked for it (a drill's step), for the record of what mitigated what


def iso(ts: float) -> str:
    """Wall-clock seconds as the ISO 8601 UTC string the spec's date-time fields use."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class World:
    """One simulated routing system; every public method is thread-safe (one lock)."""

    def __init__(
        self,
        scenario: str = "healthy",
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.lock = threading.RLock()
        self.time_scale = float(time_scale)
        self._clock = clock
        self._wall = wall
        self.seed = seed
        # Who is acting right now (a drill sets it to the engine's current step), for the fault log.
        self.observer: Callable[[], str | None] = lambda: None
        self.generation = 0  # bumped by every reset; the AWS side re-seeds when it changes
        self.reset(scenario)

    # ---- scenario set-up -------------------------------------------------------------------
    def reset(self, scenario: str) -> None:
        """Put the world at the start of `scenario` (t = 0, no operator action yet)."""
        with self.lock:
            self.scenario = check_scenario(scenario)
            self._t0 = self._clock()
            self.wall0 = self._wall()
            self.rng = random.Random(f"hybridops-sandbox/{scenario}" + ("" if self.seed is None
                                                                        else f"/{self.seed}"))
            self._now = 0.0  # simulated seconds processed so far
            s = scenario
            self.bedrock_down = s == "bedrock-down"
            self.bedrock_back_at: float | None = BEDROCK_OUTAGE_S if s == "bedrock-down" else None
            self.bedrock_forced_down = False  # a component-down fault, lifted only by component-up
            self.mcp_forced_down = False  # a component-down fault; component-up or a redeploy lifts it
            self.injected_until: dict[str, float] = {}  # component -> when its injected outage ends
            self.outages_pending: list[tuple[float, str, str, float | None]] = []  # (at, kind, component, for_s)
            self.fault_log: list[dict[str, Any]] = []  # every injected fault as it took effect
            self.bedrock_back_wall: float | None = None  # when bedrock-down's outage ended
            self.mcp_broken = s == "mcp-down"
            self.routing_broken = s == "outage"
            self.breakers = "open" if s == "outage" else "closed"
            # error-spike's config push also disarmed the breakers ("enable circuit breaker" in the runbook)
            self.breakers_armed = s != "error-spike"
            self.bedrock_percentage = 80
            self.force_mcp_until: float | None = None
            self.force_mcp_reason: str | None = None
            self.timeout_ms = 10000 if s == "error-spike" else 30000
            self.thresholds: dict[str, float] = dict(
                DRIFTED_THRESHOLDS if s == "efficiency-drop" else OPTIMAL_THRESHOLDS
            )
            self.deployments: dict[str, list[Deployment]] = {ROUTING_SERVICE: [], MCP_SERVICE: []}
            self.queue_depth = float(QUEUE_MCP_DOWN_START if s == "mcp-down" else QUEUE_BASELINE)
            self.mitigated_at: float | None = None
            self._log_minute = 0  # simulated minutes whose log events were handed out
            self.history: list[dict[str, Any]] = []
            self._status = self._overall()
            self._fault_free_status = self._status
            self.generation += 1

    # ---- clock -----------------------------------------------------------------------------
    def sim_now(self) -> float:
        """Simulated seconds since the scenario started."""
        return (self._clock() - self._t0) * self.time_scale

    def real_elapsed(self, sim: float) -> float:
        return sim / self.time_scale

    def wall_now(self) -> float:
        """The world's wall-clock time: real time, or the drill's simulated time of day."""
        return self._wall()

    def wall_at(self, sim: float) -> float:
        """The wall-clock time at which simulated second `sim` happens (or happened)."""
        return self.wall0 + sim / self.time_scale

    def advance(self) -> float:
        """Apply every timed event up to now, in order; returns the simulated now."""
        with self.lock:
            now = self.sim_now()
            while True:
                event = self._next_event(now)
                if event is None:
                    break
                at, kind, arg = event
                self._integrate(at)
                self._apply_timed(kind, arg, at)
            self._integrate(now)
            return now

    def _next_event(self, now: float) -> tuple[float, str, Any] | None:
        events: list[tuple[float, str, Any]] = []
        for service, deps in self.deployments.items():
            for d in deps:
                if not d.done and d.done_at <= now:
                    events.append((d.done_at, "deployment-done", (service, d)))
        if self.bedrock_back_at is not None and self.bedrock_back_at <= now:
            events.append((self.bedrock_back_at, "bedrock-back", None))
        if self.force_mcp_until is not None and self.force_mcp_until <= now:
            events.append((self.force_mcp_until, "force-mcp-expired", None))
        for component, until in self.injected_until.items():
            if until <= now:
                events.append((until, "component-back", component))
        for outage in self.outages_pending:
            if outage[0] <= now:
                events.append((outage[0], "injected", outage))
        return min(events, key=lambda e: e[0]) if events else None

    def _apply_timed(self, kind: str, arg: Any, at: float) -> None:
        if kind == "deployment-done":
            service, dep = arg
            dep.done = True
            if service == MCP_SERVICE:
                self.mcp_broken = self.mcp_forced_down = False
            elif service == ROUTING_SERVICE:
                self.routing_broken = False
                if self.breakers == "half-open":  # a reset while broken: the trial requests now succeed
                    self.breakers = "closed"
            # the operator asked for this deployment, so what it fixes is theirs
            self._settle("action", at, f"deployment {dep.id} of {service} completed", by=dep.by)
        elif kind == "bedrock-back":
            self.bedrock_back_at = None
            self.bedrock_down = False
            self.bedrock_back_wall = self.wall_at(at)
            self._settle("self", at, "Bedrock answers again")
        elif kind == "force-mcp-expired":
            self.force_mcp_until = None
            self.force_mcp_reason = None
            self._settle("expiry", at, "force-MCP period ended")
        elif kind == "component-back":
            self._lift(arg, at)
            self._settle("fault", at, f"{arg} back up (injected outage ended)")
        elif kind == "injected":
            self.outages_pending.remove(arg)
            _, fault_kind, component, for_s = arg
            what = self._inject(fault_kind, component, for_s, at)
            self.note_fault(fault_kind, what, None, at=at)
            self._settle("fault", at, what)

    def _integrate(self, until: float) -> None:
        """Queue depth between the last processed moment and `until`, under the current state."""
        dt_min = max(0.0, until - self._now) / 60.0
        if dt_min:
            if self.mcp_down:
                self.queue_depth = min(QUEUE_CAP, self.queue_depth + QUEUE_GROWTH_PER_MIN * dt_min)
            elif self.queue_depth > QUEUE_BASELINE:
                self.queue_depth = max(QUEUE_BASELINE, self.queue_depth - QUEUE_DRAIN_PER_MIN * dt_min)
        self._now = max(self._now, until)

    def _settle(self, cause: str, at: float, what: str, *, by: str | None = None) -> None:
        """Re-evaluate the overall status after a change; track the operator's mitigation.

        The credit follows the status the system would have without injected faults: an injected
        outage does not take away a mitigation that holds, and its end is no one's mitigation.
        """
        new = self._overall()
        fault_free = self._without_injected(self._overall)
        if fault_free != HEALTHY:
            # a wrong action (or the scenario coming back) undoes the credit: it must be earned again
            self.mitigated_at = None
        elif self._fault_free_status != HEALTHY and cause == "action" and self._fault_still_active(at):
            self.mitigated_at = self.real_elapsed(at)
        self.history.append({"t": round(self.real_elapsed(at), 3), "cause": cause, "what": what,
                             "status": new, "by": by if by is not None or cause != "action" else self.observer(),
                             "mitigated": self.mitigated_at is not None})
        self._status = new
        self._fault_free_status = fault_free

    def _without_injected(self, read: Callable[[], Any]) -> Any:
        """What `read()` gives with every injected outage lifted (the state is put back after)."""
        saved = self.bedrock_forced_down, self.mcp_forced_down
        self.bedrock_forced_down = self.mcp_forced_down = False
        try:
            return read()
        finally:
            self.bedrock_forced_down, self.mcp_forced_down = saved

    def _fault_still_active(self, at: float) -> bool:
        """False once the scenario's fault has gone by itself (only Bedrock's outage ends alone)."""
        return not (self.scenario == "bedrock-down" and at >= BEDROCK_OUTAGE_S)

    # ---- derived state ---------------------------------------------------------------------
    @property
    def direct_ok(self) -> bool:
        return not self.bedrock_down and not self.bedrock_forced_down

    @property
    def mcp_down(self) -> bool:
        """The MCP router fails: the scenario's fault or an injected one."""
        return self.mcp_broken or self.mcp_forced_down

    @property
    def force_mcp_active(self) -> bool:
        return self.force_mcp_until is not None

    def direct_share(self) -> int:
        """Percent of eligible traffic sent directly to Bedrock right now."""
        return 0 if self.force_mcp_active else self.bedrock_percentage

    def timeout_error_rate(self) -> float:
        """Percent of operations failing with TimeoutError under the configured timeout.

        In error-spike Bedrock answers slowly (the slowest calls take just under 15 s), so any timeout
        below 15000 ms cuts some of them off; elsewhere calls finish within 5 s.
        """
        tail = 15000 if self.scenario == "error-spike" else 5000
        if self.timeout_ms >= tail:
            return 0.0
        return min(60.0, max(0.9, 6.5 * (tail - self.timeout_ms) / 5000))

    def efficiency(self) -> float:
        """Percent of operations routed on their optimal path, from the routing thresholds.

        Each threshold's relative distance from the optimum counts up to 1 once it is 50 % off; the
        mean of the three takes up to 35 points off the best case of 93 %.
        """
        off = []
        for key, best in OPTIMAL_THRESHOLDS.items():
            off.append(min(1.0, abs(self.thresholds[key] - best) / best / 0.5))
        return round(93.0 - 35.0 * sum(off) / len(off), 1)

    def error_rate(self) -> float:
        if self.routing_broken or self.breakers == "open":
            return 97.0
        share = self.direct_share() / 100
        rate = BASE_ERROR_RATE + self.timeout_error_rate()
        if not self.direct_ok:
            # pinned at 100 % the service stops falling back; otherwise only the first tries fail
            rate += 45.0 if share >= 1 else 3.0 * share
        if self.mcp_down:
            rate += 60.0 if self.force_mcp_active else 4.0
        return round(min(rate, 100.0), 2)

    def fallback_rate(self) -> float:
        share = self.direct_share() / 100
        rate = 3.0 + 30.0 * (93.0 - self.efficiency()) / 35.0
        if not self.direct_ok and share < 1:
            rate += 95.0 * share
        if self.mcp_down and not self.force_mcp_active:
            rate += 90.0 * (1 - share)
        return round(min(rate, 100.0), 1)

    def _overall(self) -> str:
        if self.routing_broken or self.breakers == "open":
            return CRITICAL
        share = self.direct_share()
        if not self.direct_ok and (self.mcp_down or share >= 100):
            return CRITICAL
        if self.mcp_down and self.force_mcp_active:
            return CRITICAL
        err = self.error_rate()
        if err >= CRITICAL_ERROR_RATE:
            return CRITICAL
        if (not self.direct_ok and share > 0) or self.mcp_down:
            return DEGRADED
        if err >= DEGRADED_ERROR_RATE or self.efficiency() < HEALTHY_EFFICIENCY:
            return DEGRADED
        return HEALTHY

    def component(self, name: str) -> dict[str, Any]:
        """The spec's ComponentHealth of `name` (one of COMPONENTS)."""
        checked = iso(self._wall())
        if name == "direct-bedrock":
            if self.routing_broken or not self.direct_ok:
                return {"component": name, "status": CRITICAL, "latencyMs": float(self.timeout_ms),
                        "errorRate": 100.0, "checkedAt": checked}
            slow = self.timeout_error_rate() > 0
            return {"component": name, "status": DEGRADED if slow else HEALTHY,
                    "latencyMs": 8600.0 if self.scenario == "error-spike" else 1180.0,
                    "errorRate": round(BASE_ERROR_RATE + self.timeout_error_rate(), 2), "checkedAt": checked}
        if name == "mcp-router":
            if self.routing_broken or self.mcp_down:
                return {"component": name, "status": CRITICAL, "latencyMs": 30000.0, "errorRate": 100.0,
                        "checkedAt": checked}
            return {"component": name, "status": HEALTHY, "latencyMs": 2350.0,
                    "errorRate": BASE_ERROR_RATE, "checkedAt": checked}
        raise KeyError(name)

    # ---- what the admin API serves -----------------------------------------------------------
    def health(self) -> dict[str, Any]:
        with self.lock:
            self.advance()
            return {"status": self._overall(), "components": {c: self.component(c) for c in COMPONENTS}}

    def component_health(self, name: str) -> dict[str, Any]:
        with self.lock:
            self.advance()
            return self.component(name)

    def metrics(self) -> dict[str, Any]:
        with self.lock:
            self.advance()
            return self._metrics()

    def _metrics(self) -> dict[str, Any]:
        until = None
        if self.force_mcp_until is not None:
            until = iso(self._wall() + (self.force_mcp_until - self._now) / self.time_scale)
        return {
            "routingEfficiency": self.efficiency(),
            "errorRate": self.error_rate(),
            "fallbackRate": self.fallback_rate(),
            "bedrockPercentage": self.direct_share(),
            "forceMcpUntil": until,
            "circuitBreaker": self.breakers,
        }

    def status(self) -> dict[str, Any]:
        """What drills judge a runbook by (see Sandbox.status)."""
        with self.lock:
            now = self.advance()
            overall = self._overall()
            healthy = overall == HEALTHY
            recovered = healthy if self.scenario == "healthy" else healthy and self.mitigated_at is not None
            return {
                "scenario": self.scenario,
                "health": {"status": overall, "components": {c: self.component(c) for c in COMPONENTS}},
                "healthy": healthy,
                "recovered": recovered,
                "mitigated_at": None if self.mitigated_at is None else round(self.mitigated_at, 3),
                "metrics": self._metrics(),
                "simulated_seconds": round(now, 1),
                "time_scale": self.time_scale,
                "queue_depth": int(self.queue_depth),
                "history": list(self.history),
                "faults": list(self.fault_log),
                "injected": {c: (None if c not in self.injected_until else round(self.injected_until[c], 3))
                             for c in COMPONENTS if (c == "mcp-router" and self.mcp_forced_down)
                             or (c == "direct-bedrock" and self.bedrock_forced_down)},
            }

    # ---- operator actions (admin API and ECS) -------------------------------------------------
    def _act(self, what: str, change: Callable[[float], None]) -> None:
        with self.lock:
            now = self.advance()
            change(now)
            self._settle("action", now, what)

    def circuit_breaker_reset(self) -> None:
        def change(now: float) -> None:
            # while the service itself still fails, the breakers only get as far as trying again
            self.breakers = "half-open" if self.routing_broken else "closed"

        self._act("circuit breakers reset", change)

    def circuit_breaker_enable(self) -> None:
        self._act("circuit breakers armed", lambda now: setattr(self, "breakers_armed", True))

    def force_mcp(self, reason: str, duration_s: int) -> None:
        def change(now: float) -> None:
            self.force_mcp_until = now + duration_s
            self.force_mcp_reason = reason

        self._act(f"force-MCP for {duration_s}s", change)

    def set_bedrock_percentage(self, percentage: int) -> None:
        def change(now: float) -> None:
            self.bedrock_percentage = percentage
            self.force_mcp_until = None  # the spec: this ends a force-MCP period
            self.force_mcp_reason = None

        self._act(f"bedrock percentage {percentage}", change)

    def update_config(self, timeout_ms: int) -> None:
        self._act(f"timeout {timeout_ms}ms", lambda now: setattr(self, "timeout_ms", timeout_ms))

    def update_routing(self, thresholds: dict[str, float]) -> None:
        self._act(f"routing thresholds {thresholds}", lambda now: self.thresholds.update(thresholds))

    def bedrock_test(self) -> tuple[bool, float, str | None]:
        """The service's own small test call: (ok, latency ms, error)."""
        with self.lock:
            self.advance()
            if self.direct_ok:
                return True, 640.0 if self.scenario != "error-spike" else 8200.0, None
            return False, float(min(self.timeout_ms, 10000)), (
                "ServiceUnavailableException: Bedrock is unable to process your request"
            )

    def bedrock_available(self) -> bool:
        with self.lock:
            self.advance()
            return self.direct_ok

    def force_new_deployment(self, service: str) -> Deployment:
        """ECS UpdateService --force-new-deployment: new tasks run TASK_START_S simulated seconds later."""
        with self.lock:
            now = self.advance()
            dep = Deployment(id=f"ecs-svc/{self.rng.randrange(10**18, 10**19)}", started=now,
                             done_at=now + TASK_START_S, created_wall=self._wall(), by=self.observer())
            self.deployments.setdefault(service, []).append(dep)
            self._settle("action", now, f"forced new deployment {dep.id} of {service}")
            return dep

    # ---- faults (the /_sandbox/fault control path) ---------------------------------------------
    def component_down(self, component: str, for_s: float | None = None) -> None:
        """An injected outage of `component`, for `for_s` simulated seconds (None: until component_up)."""
        self._fault(component, lambda now: self._inject("component-down", component, for_s, now))

    def component_up(self, component: str) -> None:
        """The end of an injected outage; for direct-bedrock also the end of bedrock-down's own outage
        (a person at the sandbox saying "Bedrock is back")."""
        self._fault(component, lambda now: self._inject("component-up", component, None, now))

    def schedule_component(self, kind: str, component: str, at: float, for_s: float | None = None) -> None:
        """`component_down` / `component_up` at simulated second `at` (a drill's planned fault)."""
        if component not in COMPONENTS:
            raise KeyError(component)
        with self.lock:
            self.outages_pending.append((at, kind, component, for_s))

    def _inject(self, kind: str, component: str, for_s: float | None, now: float) -> str:
        """Apply a component fault at `now`; what happened, in words."""
        if kind == "component-up":
            self._lift(component, now)
            if component == "mcp-router":
                self.mcp_broken = False
            elif self.bedrock_down:
                self.bedrock_down = False
                self.bedrock_back_at = None
                self.bedrock_back_wall = self.wall_at(now)
            return f"{component} up"
        if component == "mcp-router":
            self.mcp_forced_down = True
        else:
            self.bedrock_forced_down = True
        if for_s is None:
            self.injected_until.pop(component, None)
        else:
            self.injected_until[component] = now + for_s
        return f"{component} down" + ("" if for_s is None else f" for {for_s:g}s")

    def note_fault(self, kind: str, what: str, hit: str | None, *, at: float | None = None) -> None:
        """Log a fault as it takes effect: when, what, the request it hit and who was acting."""
        with self.lock:
            t = self.sim_now() if at is None else at
            self.fault_log.append({"t": round(self.real_elapsed(t), 3), "kind": kind, "what": what,
                                   "hit": hit, "step": self.observer()})

    def _lift(self, component: str, at: float) -> None:
        self.injected_until.pop(component, None)
        if component == "mcp-router":
            self.mcp_forced_down = False
        else:
            self.bedrock_forced_down = False

    def _fault(self, component: str, change: Callable[[float], str]) -> None:
        if component not in COMPONENTS:
            raise KeyError(component)
        with self.lock:
            now = self.advance()
            self._settle("fault", now, change(now))

    # ---- what the AWS side shows ---------------------------------------------------------------
    def take_log_minutes(self, limit: int = 5) -> list[int]:
        """Simulated minutes that passed since the last call (at most `limit`, the latest ones)."""
        with self.lock:
            now_min = int(self.advance() // 60)
            minutes = list(range(self._log_minute + 1, now_min + 1))
            self._log_minute = max(self._log_minute, now_min)
            return minutes[-limit:]

    def system_health_value(self) -> float:
        """The CloudWatch HybridRouting/Health SystemHealth datapoint: percent of the system working."""
        with self.lock:
            status = self._overall()
            if status == CRITICAL:
                return 0.0 if self.routing_broken else 20.0
            if status == DEGRADED:
                return round(max(40.0, 95.0 - self.error_rate() * 3 - (93.0 - self.efficiency())), 1)
            return 99.0

    def overall(self) -> str:
        with self.lock:
            self.advance()
            return self._overall()
