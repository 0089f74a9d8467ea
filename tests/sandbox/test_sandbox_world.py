"""The simulated routing system on a fake clock: symptoms, right and wrong actions, recovery judgement."""

from __future__ import annotations

import pytest

from hybridops.sandbox import SCENARIO_FOR_INCIDENT, SCENARIOS
from hybridops.sandbox.scenarios import BEDROCK_OUTAGE_S, TASK_START_S
from hybridops.sandbox.world import MCP_SERVICE, ROUTING_SERVICE, World


def make(scenario: str, clock, time_scale: float = 1.0) -> World:
    return World(scenario, time_scale=time_scale, clock=clock)


def test_scenario_names_are_the_published_interface() -> None:
    assert SCENARIOS == ("healthy", "outage", "bedrock-down", "mcp-down", "error-spike", "efficiency-drop")
    assert SCENARIO_FOR_INCIDENT == {"outage": "outage", "bedrock-failure": "bedrock-down",
                                     "mcp-failure": "mcp-down", "high-error-rate": "error-spike",
                                     "routing-efficiency": "efficiency-drop"}
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        World("nope")


@pytest.mark.parametrize(("scenario", "overall", "bedrock", "mcp"), [
    ("healthy", "healthy", "healthy", "healthy"),
    ("outage", "critical", "critical", "critical"),
    ("bedrock-down", "degraded", "critical", "healthy"),
    ("mcp-down", "degraded", "healthy", "critical"),
    ("error-spike", "degraded", "degraded", "healthy"),
    ("efficiency-drop", "degraded", "healthy", "healthy"),
])
def test_each_scenario_starts_with_its_symptoms(clock, scenario, overall, bedrock, mcp) -> None:
    w = make(scenario, clock)
    health = w.health()
    assert health["status"] == overall
    assert health["components"]["direct-bedrock"]["status"] == bedrock
    assert health["components"]["mcp-router"]["status"] == mcp
    status = w.status()
    assert status["recovered"] is (scenario == "healthy")
    assert status["mitigated_at"] is None


def test_symptom_metrics_match_the_source_runbook(clock) -> None:
    assert make("error-spike", clock).metrics()["errorRate"] > 5
    assert make("efficiency-drop", clock).metrics()["routingEfficiency"] < 70
    assert make("outage", clock).metrics()["circuitBreaker"] == "open"
    healthy = make("healthy", clock).metrics()
    assert healthy["errorRate"] < 1.5 and healthy["routingEfficiency"] > 90


def test_bedrock_down_force_mcp_recovers_while_direct_bedrock_stays_critical(clock) -> None:
    w = make("bedrock-down", clock)
    clock.advance(30)
    w.force_mcp("Bedrock unavailable", 3600)
    s = w.status()
    assert s["health"]["status"] == "healthy"
    assert s["health"]["components"]["direct-bedrock"]["status"] == "critical"
    assert s["recovered"] is True
    assert s["mitigated_at"] == pytest.approx(30)
    assert s["metrics"]["bedrockPercentage"] == 0 and s["metrics"]["forceMcpUntil"]


def test_bedrock_down_percentage_zero_also_recovers(clock) -> None:
    w = make("bedrock-down", clock)
    w.set_bedrock_percentage(0)
    assert w.status()["recovered"] is True


def test_bedrock_down_jump_to_100_percent_is_critical_and_undoes_the_credit(clock) -> None:
    w = make("bedrock-down", clock)
    w.force_mcp("Bedrock unavailable", 3600)
    assert w.status()["recovered"] is True
    w.set_bedrock_percentage(100)  # ends the force-MCP period while Bedrock still fails
    s = w.status()
    assert s["health"]["status"] == "critical" and s["recovered"] is False and s["mitigated_at"] is None
    clock.advance(BEDROCK_OUTAGE_S)  # Bedrock comes back by itself: healthy, but nobody protected users
    s = w.status()
    assert s["healthy"] is True and s["recovered"] is False


def test_bedrock_down_recovering_by_itself_is_not_recovered(clock) -> None:
    w = make("bedrock-down", clock, time_scale=60)
    clock.advance(BEDROCK_OUTAGE_S / 60 - 0.1)
    assert w.bedrock_available() is False
    clock.advance(0.2)
    s = w.status()
    assert w.bedrock_available() is True
    assert s["healthy"] is True and s["recovered"] is False
    assert s["health"]["components"]["direct-bedrock"]["status"] == "healthy"


def test_bedrock_down_gradual_reenable_after_recovery_keeps_the_credit(clock) -> None:
    w = make("bedrock-down", clock)
    w.force_mcp("Bedrock unavailable", 3600)
    clock.advance(BEDROCK_OUTAGE_S + 1)
    for pct in (10, 50, 100):
        w.set_bedrock_percentage(pct)
        assert w.status()["recovered"] is True
    assert w.bedrock_test()[0] is True


def test_force_mcp_expiring_before_bedrock_returns_loses_the_credit(clock) -> None:
    w = make("bedrock-down", clock)
    w.force_mcp("short", 60)
    assert w.status()["recovered"] is True
    clock.advance(61)
    s = w.status()
    assert s["health"]["status"] == "degraded" and s["recovered"] is False


def test_mcp_down_forced_deployment_recovers_once_new_tasks_run(clock) -> None:
    w = make("mcp-down", clock, time_scale=10)
    w.force_new_deployment(MCP_SERVICE)
    clock.advance(TASK_START_S / 10 - 0.5)
    assert w.status()["health"]["components"]["mcp-router"]["status"] == "critical"
    clock.advance(1)
    s = w.status()
    assert s["recovered"] is True
    # the moment is when the tasks ran, not when someone looked
    assert s["mitigated_at"] == pytest.approx(TASK_START_S / 10)


def test_mcp_down_wrong_actions_change_nothing_or_make_it_worse(clock) -> None:
    w = make("mcp-down", clock)
    w.force_new_deployment(ROUTING_SERVICE)  # the wrong service
    clock.advance(TASK_START_S + 1)
    assert w.status()["recovered"] is False
    w.force_mcp("wrong", 600)  # every operation to the broken router
    assert w.health()["status"] == "critical"


def test_mcp_down_queue_grows_then_drains(clock) -> None:
    w = make("mcp-down", clock)
    start = w.status()["queue_depth"]
    clock.advance(300)
    grown = w.status()["queue_depth"]
    assert grown == start + 5 * 120
    w.force_new_deployment(MCP_SERVICE)
    clock.advance(TASK_START_S + 120)
    assert w.status()["queue_depth"] < grown - 600


def test_outage_needs_breaker_reset_and_deployment(clock) -> None:
    w = make("outage", clock)
    w.circuit_breaker_reset()
    assert w.metrics()["circuitBreaker"] == "half-open"
    assert w.health()["status"] == "critical"
    w.force_new_deployment(ROUTING_SERVICE)
    clock.advance(TASK_START_S)
    s = w.status()
    assert s["recovered"] is True and s["metrics"]["circuitBreaker"] == "closed"


def test_outage_deployment_alone_leaves_breakers_open(clock) -> None:
    w = make("outage", clock)
    w.force_new_deployment(ROUTING_SERVICE)
    clock.advance(TASK_START_S + 1)
    assert w.status()["health"]["status"] == "critical"
    w.circuit_breaker_enable()  # arming is not resetting
    assert w.status()["recovered"] is False
    w.circuit_breaker_reset()
    assert w.status()["recovered"] is True


@pytest.mark.parametrize(("timeout", "recovered"), [(15000, True), (20000, True), (14999, False),
                                                    (12000, False)])
def test_error_spike_needs_a_timeout_of_15000(clock, timeout, recovered) -> None:
    w = make("error-spike", clock)
    before = w.metrics()["errorRate"]
    w.update_config(timeout)
    assert w.metrics()["errorRate"] < before
    assert w.status()["recovered"] is recovered


def test_error_spike_circuit_breaker_enable_changes_nothing(clock) -> None:
    w = make("error-spike", clock)
    before = w.metrics()["errorRate"]
    w.circuit_breaker_enable()
    assert w.metrics()["errorRate"] == before and w.status()["recovered"] is False


@pytest.mark.parametrize(("thresholds", "recovered"), [
    ({"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}, True),
    ({"directBedrockLatencyThreshold": 8500, "mcpLatencyThreshold": 24000, "fallbackAggressiveness": 0.75}, True),
    ({"directBedrockLatencyThreshold": 8000}, False),  # one of three is not enough
    ({"directBedrockLatencyThreshold": 4000, "mcpLatencyThreshold": 40000, "fallbackAggressiveness": 0.9}, False),
])
def test_efficiency_drop_needs_thresholds_near_the_runbooks(clock, thresholds, recovered) -> None:
    w = make("efficiency-drop", clock)
    before = w.metrics()["routingEfficiency"]
    w.update_routing(thresholds)
    assert w.metrics()["routingEfficiency"] > before
    assert w.status()["recovered"] is recovered


def test_efficiency_drop_wrong_action(clock) -> None:
    w = make("efficiency-drop", clock)
    w.update_config(20000)
    assert w.status()["recovered"] is False


def test_healthy_is_recovered_and_a_component_fault_breaks_it(clock) -> None:
    w = make("healthy", clock)
    assert w.status()["recovered"] is True
    w.component_down("mcp-router")
    assert w.status()["recovered"] is False
    w.force_new_deployment(MCP_SERVICE)  # the runbook's fix works on an injected fault too
    clock.advance(TASK_START_S)
    assert w.status()["recovered"] is True
    w.component_down("direct-bedrock")
    assert w.health()["components"]["direct-bedrock"]["status"] == "critical"
    w.component_up("direct-bedrock")
    assert w.health()["status"] == "healthy"
    with pytest.raises(KeyError):
        w.component_down("database")


def test_time_scale_divides_simulated_delays(clock) -> None:
    w = make("mcp-down", clock, time_scale=120)
    w.force_new_deployment(MCP_SERVICE)
    clock.advance(0.49)
    assert w.status()["recovered"] is False
    clock.advance(0.02)
    assert w.status()["recovered"] is True
    assert w.status()["simulated_seconds"] == pytest.approx(61.2, abs=0.1)


def test_reset_starts_over(clock) -> None:
    w = make("bedrock-down", clock)
    w.force_mcp("x", 100)
    w.reset("outage")
    s = w.status()
    assert s["scenario"] == "outage" and s["mitigated_at"] is None and s["metrics"]["forceMcpUntil"] is None
    assert s["history"] == []
