"""Drills: an incident's runbook against a sandbox on one simulated clock, and what the drill showed.

`rehearse` (cli/rehearse.py) wires a drill together; this module holds what does not depend on a
terminal: the seeded fault plan, the observer that follows the run as the sandbox sees it, the
report (JSON-ready and Markdown) and the Mermaid chart of steps against budgets.

All times in a drill are simulated seconds: waits and polls jump, and what really takes time (the
tool's processing, the requests, a person at a prompt) counts once, unscaled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hybridops.durations import format_duration
from hybridops.events import Event, Request, Response, RunStarted, RunStatus, StepFinished, StepStarted, ran_to_end
from hybridops.gantt import GanttStep, gantt

E = TypeVar("E", bound=Event)
REPORT_FORMAT = 2  # 1 had scaled and "real-world" figures side by side
COMPONENTS = ("direct-bedrock", "mcp-router")


# --- faults ------------------------------------------------------------------------------------------------


def plan_faults(seed: int, incident: str) -> list[dict[str, Any]]:
    """The faults a `--faults` drill injects, drawn from `seed` (and the incident, so that one seed
    gives each runbook of `--all` its own plan). Each is a `/_sandbox/fault` body: request faults
    hit the n-th request to their API, a component outage starts at a simulated second."""
    rng = random.Random(f"hybridops-faults/{incident}/{seed}")
    kinds = ["http-503", "slow", "aws-throttle", "component-down"]
    chosen = [k for k in kinds if rng.random() < 0.7] or [rng.choice(kinds)]
    plan: list[dict[str, Any]] = []
    for kind in chosen:
        if kind == "http-503":
            plan.append({"kind": kind, "count": rng.randint(1, 3), "on_request": rng.randint(1, 6)})
        elif kind == "slow":
            # some within the default 30 s call timeout, some past it (an answer that never comes in time)
            plan.append({"kind": kind, "seconds": rng.choice((4, 12, 25, 45)), "count": 1,
                         "on_request": rng.randint(1, 8)})
        elif kind == "aws-throttle":
            # from the 2nd AWS call: the 1st is the preflight identity check
            plan.append({"kind": kind, "count": rng.randint(1, 2), "on_request": rng.randint(2, 8)})
        else:
            plan.append({"kind": kind, "component": rng.choice(COMPONENTS), "at_s": float(rng.randint(30, 600)),
                         "for_s": float(rng.randint(30, 180))})
    return plan


# --- following the run ------------------------------------------------------------------------------------


@dataclass
class DrillObserver:
    """A sink of the run's events that also tells the sandbox which step is acting (for its fault log
    and its record of what mitigated what), and when the run started on the world's clock."""

    sim_now: Any = None  # () -> simulated seconds since the scenario started
    wall_now: Any = None  # () -> the simulated time of day
    current: str | None = None
    started_at: float | None = None  # world seconds at run_started
    started_wall: float | None = None
    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event, run_id: str) -> None:
        self.events.append(event)
        if isinstance(event, RunStarted):
            self.started_at = self.sim_now() if self.sim_now is not None else None
            self.started_wall = self.wall_now() if self.wall_now is not None else None
        elif isinstance(event, StepStarted):
            self.current = event.step_id
        elif isinstance(event, StepFinished):
            self.current = None

    def step(self) -> str | None:
        return self.current

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]


# --- the report -------------------------------------------------------------------------------------------


def drill_report(result: Any, *, incident: str, scenario: str, seed: int, faults: bool,
                 sandbox_status: Mapping[str, Any], observer: DrillObserver) -> dict[str, Any]:
    """A JSON-ready report from the RunResult, the sandbox's final status and the run's events."""
    offset = observer.started_at or 0.0
    started = {e.step_id: e for e in observer.of(StepStarted)}
    requests = observer.of(Request)
    responses = observer.of(Response)
    steps = []
    for s in result.steps:
        begun = started.get(s.step_id)
        steps.append({
            "id": s.step_id,
            "phase": s.phase,
            "title": s.title,
            "kind": begun.kind if begun else None,
            "status": str(s.status),
            "started_s": begun.at_s if begun and begun.at_s is not None else 0.0,
            "duration_s": round(s.duration_s, 3),
            "budget_s": round(s.budget_s, 3),
            "over_budget": s.over_budget,
            "mutating": s.mutating,
            "requests": len([r for r in requests if r.step_id == s.step_id and not r.dry_run]),
            "failed_requests": len([r for r in responses if r.step_id == s.step_id and not r.ok]),
            **({"error": s.error} if s.error else {}),
        })
    mitigated = sandbox_status.get("mitigated_at")
    ttm = None if mitigated is None else round(max(0.0, mitigated - offset), 3)
    health = [{**h, "t": round(h["t"] - offset, 3)} for h in sandbox_status.get("history") or []]
    system_recovered = bool(sandbox_status.get("recovered"))
    recovered = system_recovered and RunStatus(result.status).ran_to_end
    injected = [_fault_outcome({**f, "t": round(f["t"] - offset, 3)}, steps, health)
                for f in sandbox_status.get("faults") or []]
    report = {
        "format": REPORT_FORMAT,
        "incident": incident,
        "scenario": scenario,
        "seed": seed,
        "faults_enabled": faults,
        "clock": "simulated",
        "run_id": result.run_id,
        "run_status": str(result.status),
        "recovered": recovered,
        "system_recovered": system_recovered,
        "final_health": (sandbox_status.get("health") or {}).get("status"),
        "mitigation": _mitigation(health, ttm),
        "time_to_mitigation_s": ttm,
        "first_mitigation_step_s": None if result.time_to_mitigation_s is None
        else round(result.time_to_mitigation_s, 3),
        "duration_s": round(result.duration_s, 3),
        "started_wall": observer.started_wall,
        "steps": steps,
        "skipped": [s["id"] for s in steps if s["status"] in ("skipped", "declined")],
        "failed": [s["id"] for s in steps if s["status"] == "failed"],
        "over_budget": [s["id"] for s in steps if s["over_budget"]],
        "health": health,
        "faults": injected,
        "error": result.error,
    }
    report["why"] = _why(report, sandbox_status)
    from hybridops.scrub import process_scrubber

    # The run's errors come from its exceptions, not its (masked) events: a report, like every output,
    # masks what the command knows to be secret.
    return process_scrubber().value(report)


def _mitigation(health: list[dict[str, Any]], ttm: float | None) -> dict[str, Any] | None:
    """The operator action that made the system healthy and kept the credit: the last change to
    healthy by an action, at the time the world credits."""
    if ttm is None:
        return None
    for h in reversed(health):
        if h["cause"] == "action" and h["status"] == "healthy" and abs(h["t"] - ttm) < 0.01:
            return {"step": h.get("by"), "what": h["what"], "at_s": h["t"]}
    return {"step": None, "what": None, "at_s": ttm}


def _why(report: dict[str, Any], status: Mapping[str, Any]) -> str:
    """Recovered or not, and why, in one sentence."""
    m = report["mitigation"]
    if report["recovered"] and report["time_to_mitigation_s"] is None:
        # a scenario that was never broken (`--scenario healthy`): nothing to credit, nothing to time
        return "recovered: the system was healthy throughout; no action was needed"
    if report["recovered"]:
        by = f"step {m['step']}" if m and m.get("step") else "the runbook's actions"
        return (f"recovered: {by} ({m['what'] if m else 'an operator action'}) brought health to healthy "
                f"{format_duration(report['time_to_mitigation_s'])} into the run")
    if not ran_to_end(report["run_status"]):
        return f"not recovered: the run {report['run_status']}: {report['error']}"
    final = report["final_health"]
    if final != "healthy":
        parts = [f"{c} {v.get('status')}" for c, v in ((status.get("health") or {}).get("components") or {}).items()
                 if v.get("status") != "healthy"]
        breakers = (status.get("metrics") or {}).get("circuitBreaker")
        if breakers and breakers != "closed":
            parts.append(f"circuit breakers {breakers}")
        parts += [f"{c} down by an injected fault" for c in (status.get("injected") or {})]
        return f"not recovered: final health {final}" + (f" ({', '.join(parts)})" if parts else "")
    healed = next((h for h in reversed(report["health"]) if h["cause"] == "self"), None)
    if healed is not None:
        return (f"not recovered by the runbook: {healed['what'].lower()} by itself "
                f"{format_duration(max(0.0, healed['t']))} into the run; no operator action mitigated it first")
    return "not recovered: healthy at the end, but no operator action of the runbook mitigated the fault"


def _fault_outcome(fault: dict[str, Any], steps: list[dict[str, Any]],
                   health: list[dict[str, Any]]) -> dict[str, Any]:
    """A fault from the sandbox's log with what the runbook did about it."""
    step = next((s for s in steps if s["id"] == fault.get("step")), None)
    if fault["kind"] in ("component-down", "component-up"):
        end = fault["t"] + _for_s(fault["what"])
        during = [s for s in steps if s["started_s"] + s["duration_s"] >= fault["t"] and s["started_s"] <= end]
        changes = [h for h in health if h["cause"] == "fault" and fault["t"] - 0.01 <= h["t"] <= end + 0.01]
        seen = ", ".join(f"{h['status']} at {format_duration(max(0.0, h['t']))}" for h in changes)
        ran = ", ".join(f"{s['id']} {s['status']}" for s in during) or "no step ran"
        response = f"health {seen}; meanwhile: {ran}" if seen else f"meanwhile: {ran}"
    elif step is None:
        response = "outside any step (preflight or notification)" if fault.get("step") is None \
            else f"step {fault['step']}"
    else:
        failed = step["failed_requests"]
        if step.get("kind") == "poll":  # a poll asks again by design: say how its checks went
            response = f"{step['id']} {step['status']} after {step['requests']} checks ({failed} failed)"
        elif step["status"] == "ok":
            response = (f"{step['id']} retried and ok after {step['requests']} attempts" if failed
                        else f"{step['id']} ok")
        else:
            response = f"{step['id']} {step['status']}"
        if step["status"] != "ok" and step.get("error"):
            response += f": {step['error']}"
    return {**fault, "response": response}


def _for_s(what: str) -> float:
    """The length of an injected outage from its description ("mcp-router down for 90s")."""
    if " for " in what and what.endswith("s"):
        try:
            return float(what.rsplit(" for ", 1)[1][:-1])
        except ValueError:
            return 0.0
    return 0.0


# --- Markdown -------------------------------------------------------------------------------------------


def report_markdown(report: Mapping[str, Any]) -> str:
    fd = format_duration
    ttm = report["time_to_mitigation_s"]
    lines = [
        f"# Drill report: {report['incident']} (scenario {report['scenario']})",
        "",
        f"- **Recovered:** {'yes' if report['recovered'] else 'NO'} (final health: {report['final_health']})",
        f"- **Why:** {report['why']}",
        f"- **Run:** `{report['run_id']}`, {report['run_status']}",
        f"- **Seed:** {report['seed']}" + (" (with injected faults)" if report["faults_enabled"] else ""),
        "- **Time to mitigation:** " + ("n/a" if ttm is None else fd(ttm)) + " (simulated, from the run's start)",
        f"- **Duration:** {fd(report['duration_s'])} (simulated)",
    ]
    for label, key in (("Over budget", "over_budget"), ("Failed", "failed"), ("Skipped", "skipped")):
        if report[key]:
            lines.append(f"- **{label}:** " + ", ".join(f"`{s}`" for s in report[key]))
    lines += ["", "## Steps against budget", "", "| step | status | started | duration | budget | |",
              "|---|---|---|---|---|---|"]
    for s in report["steps"]:
        flag = "**OVER BUDGET**" if s["over_budget"] else ""
        lines.append(f"| {s['id']} | {s['status']} | {fd(s['started_s'])} | {fd(s['duration_s'])} | "
                     f"{fd(s['budget_s'])} | {flag} |")
    bars = [GanttStep(s["id"], s["phase"], s["status"], s["started_s"], s["duration_s"], s["budget_s"],
                      s["over_budget"]) for s in report["steps"]]
    lines += ["", "```mermaid", *gantt(bars, title=f"{report['incident']} drill (simulated time)",
                                       start_wall=report.get("started_wall")), "```"]
    lines += ["", "## Health over time", "", "| at | status | cause | what | step |", "|---|---|---|---|---|"]
    for h in report["health"]:
        lines.append(f"| {_at(h['t'])} | {h['status']} | {h['cause']} | {_cell(h['what'])} | {h.get('by') or ''} |")
    if not report["health"]:
        lines.append("| | | | no change | |")
    if report["faults_enabled"] or report["faults"]:
        lines += ["", "## Injected faults", "", "| at | fault | hit | during | what the runbook did |",
                  "|---|---|---|---|---|"]
        for f in report["faults"]:
            lines.append(f"| {_at(f['t'])} | {f['kind']}: {_cell(f['what'])} | {_cell(f.get('hit') or '')} | "
                         f"{f.get('step') or ''} | {_cell(f['response'])} |")
        if not report["faults"]:
            lines.append("| | | | | none took effect before the run ended |")
    return "\n".join(lines) + "\n"


def _at(t: float) -> str:
    return f"-{format_duration(-t)}" if t < 0 else format_duration(t)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# --- several drills -------------------------------------------------------------------------------------


def summary_row(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "incident": report["incident"],
        "scenario": report["scenario"],
        "recovered": report["recovered"],
        "time_to_mitigation_s": report["time_to_mitigation_s"],
        "over_budget": list(report["over_budget"]),
        "failed": list(report["failed"]),
        "faults": len(report["faults"]),
        "run_id": report["run_id"],
        "why": report["why"],
    }


def summary_markdown(rows: list[Mapping[str, Any]], *, seed: int, faults: bool) -> str:
    lines = [f"# Drill matrix (seed {seed}{', with injected faults' if faults else ''})", "",
             "| incident | scenario | recovered | time to mitigation | over budget | failed | faults | why |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ttm = r["time_to_mitigation_s"]
        lines.append(f"| {r['incident']} | {r['scenario']} | {'yes' if r['recovered'] else '**NO**'} | "
                     f"{'n/a' if ttm is None else format_duration(ttm)} | {', '.join(r['over_budget']) or '-'} | "
                     f"{', '.join(r['failed']) or '-'} | {r['faults']} | {_cell(r['why'])} |")
    return "\n".join(lines) + "\n"
