"""The sandbox's scenario names and the simulated timings they share.

Pure constants: imported by `hybridops --help` paths (scenario lists, rehearse) without moto.
"""

from __future__ import annotations

SCENARIOS: tuple[str, ...] = (
    "healthy",
    "outage",
    "bedrock-down",
    "mcp-down",
    "error-spike",
    "efficiency-drop",
)

# Incident id of a shipped runbook -> the scenario that shows its symptoms.
SCENARIO_FOR_INCIDENT: dict[str, str] = {
    "outage": "outage",
    "bedrock-failure": "bedrock-down",
    "mcp-failure": "mcp-down",
    "high-error-rate": "error-spike",
    "routing-efficiency": "efficiency-drop",
}

# The IAM role the sandbox's caller has assumed (sts GetCallerIdentity): allowed every action of the
# five runbooks. An `iam-deny` fault (faults.py) takes one away from it, or from another role.
OPERATOR_ROLE = "hybridops-oncall"

# Simulated seconds; `time_scale` divides each of them into real seconds.
TASK_START_S = 60.0  # a forced ECS deployment's new tasks are RUNNING this long after UpdateService
BEDROCK_OUTAGE_S = 20 * 60.0  # bedrock-down: Bedrock answers again this long after scenario start
QUEUE_GROWTH_PER_MIN = 120  # mcp-down: messages added to mcp-router-queue per minute while the router is down
QUEUE_DRAIN_PER_MIN = 600  # after recovery the router drains the backlog this fast
QUEUE_BASELINE = 12  # messages waiting in a healthy system
QUEUE_MCP_DOWN_START = 850  # backlog already there when the mcp-down scenario starts
QUEUE_CAP = 5000  # the simulation stops adding messages here, to bound memory at high time scales

# Optimal routing thresholds (source runbook, "Optimize Routing Configuration").
OPTIMAL_THRESHOLDS: dict[str, float] = {
    "directBedrockLatencyThreshold": 8000,
    "mcpLatencyThreshold": 25000,
    "fallbackAggressiveness": 0.7,
}
# What efficiency-drop starts from: a bad config push.
DRIFTED_THRESHOLDS: dict[str, float] = {
    "directBedrockLatencyThreshold": 2000,
    "mcpLatencyThreshold": 60000,
    "fallbackAggressiveness": 0.95,
}


def check_scenario(name: str) -> str:
    """`name` if it is a scenario; ValueError with the list of names otherwise."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r} (choose from: {', '.join(SCENARIOS)})")
    return name
