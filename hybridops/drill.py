"""The drill report: did the simulated system recover, how fast, and each step against its budget."""

from __future__ import annotations

from typing import Any


def drill_report(result: Any, *, incident: str, scenario: str, sandbox_status: dict[str, Any],
                 run_offset_s: float = 0.0) -> dict[str, Any]:
    """A JSON-ready report from a RunResult and the sandbox's final status.

    The sandbox times mitigation from the scenario's start; the response clock starts with the run,
    `run_offset_s` later (tool start-up, preflight), so that offset is taken off. Durations are given
    as measured (scaled) and as the real-world time they stand for.
    """
    scale = result.time_scale
    mitigated = sandbox_status.get("mitigated_at")
    if mitigated is not None:
        mitigated = max(0.0, mitigated - run_offset_s)
    steps = [
        {
            "id": s.step_id,
            "phase": s.phase,
            "title": s.title,
            "status": s.status,
            "duration_s": round(s.duration_s, 3),
            "budget_s": round(s.budget_s, 3),
            "world_duration_s": round(s.duration_s * scale, 1),
            "world_budget_s": round(s.budget_s * scale, 1),
            "over_budget": s.over_budget,
            "mutating": s.mutating,
            **({"error": s.error} if s.error else {}),
        }
        for s in result.steps
    ]
    return {
        "incident": incident,
        "scenario": scenario,
        "run_id": result.run_id,
        "run_status": result.status,
        "recovered": bool(sandbox_status.get("recovered")) and result.status == "completed",
        "system_recovered": bool(sandbox_status.get("recovered")),
        "final_health": (sandbox_status.get("health") or {}).get("status"),
        "time_scale": scale,
        "time_to_mitigation_s": None if mitigated is None else round(mitigated, 3),
        "time_to_mitigation_world_s": None if mitigated is None else round(mitigated * scale, 1),
        "first_mitigation_step_s": None if result.time_to_mitigation_s is None
        else round(result.time_to_mitigation_s, 3),
        "duration_s": round(result.duration_s, 3),
        "world_duration_s": round(result.duration_s * scale, 1),
        "steps": steps,
        "skipped": [s["id"] for s in steps if s["status"] in ("skipped", "declined")],
        "failed": [s["id"] for s in steps if s["status"] == "failed"],
        "over_budget": [s["id"] for s in steps if s["over_budget"]],
        "error": result.error,
    }


def report_markdown(report: dict[str, Any]) -> str:
    from hybridops.durations import format_duration as fd

    ttm = report["time_to_mitigation_s"]
    lines = [
        f"# Drill report: {report['incident']} (scenario {report['scenario']})",
        "",
        f"- **Recovered:** {'yes' if report['recovered'] else 'NO'} (final health: {report['final_health']})",
        f"- **Run:** `{report['run_id']}`, {report['run_status']}",
        f"- **Time scale:** {report['time_scale']:g}",
        "- **Time to mitigation:** " + ("n/a" if ttm is None else
                                        f"{fd(ttm)} (≈{fd(report['time_to_mitigation_world_s'])} real-world)"),
        f"- **Duration:** {fd(report['duration_s'])} (≈{fd(report['world_duration_s'])} real-world)",
        "",
        "| step | status | duration | real-world | budget (real-world) | |",
        "|---|---|---|---|---|---|",
    ]
    for s in report["steps"]:
        flag = "**OVER BUDGET**" if s["over_budget"] else ""
        lines.append(f"| {s['id']} | {s['status']} | {fd(s['duration_s'])} | {fd(s['world_duration_s'])} | "
                     f"{fd(s['world_budget_s'])} | {flag} |")
    for label, key in (("Skipped", "skipped"), ("Failed", "failed")):
        if report[key]:
            lines += ["", f"{label}: " + ", ".join(report[key])]
    return "\n".join(lines) + "\n"
